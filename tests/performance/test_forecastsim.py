"""Key figures of the forecast backtest (bench/forecast.py runs 300 machines) on a few machines
with a fixed seed: the forecast must beat both naive forecasters and find breaches early."""

import numpy as np
import pytest

from performance.forecastsim import backtest, fit_machine, outcomes, simulate_machine


@pytest.mark.slow
def test_backtest_key_figures():
    result = backtest(16, seed=7)
    assert result["forecasts"] >= 150 and 0 < result["breaches"] < result["forecasts"]
    assert result["precision"] >= 0.8
    assert result["recall"] >= 0.8
    assert result["brier"] < result["brier_persistence"]
    assert result["brier"] < result["brier_trend"]
    assert result["median_lead_days"] >= 10


def test_simulated_outcomes_match_the_definition():
    rng = np.random.default_rng(3)
    machine = simulate_machine(rng)
    fitted = fit_machine(machine)
    out = outcomes(machine, fitted)
    # Inside the training window the version passes its policy on (nearly) every day.
    assert out.fail[machine.train_start:machine.train_end].mean() < 0.05
    day = 500
    hours = machine.frame.iloc[day * 24:(day + 1) * 24]
    values = hours[fitted.drivers].to_numpy()
    direct = np.mean(np.any((values < fitted.lows) | (values > fitted.highs), axis=1))
    assert out.coverage[day] == direct

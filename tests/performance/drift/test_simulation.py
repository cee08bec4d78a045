"""Seeded simulations of an hourly machine: false alarms, detection, delay, localisation.

The simulated machine (``simulation.py``) runs continuously with a daily production profile
and short random stops; its consumption is linear in production, operating hours
and outdoor temperature; residuals are AR(1) with rho in {0.5, 0.7, 0.9} and a
marginal standard deviation of 8 % of the mean load.  Each machine's baseline
is fitted by least squares on 75 days and scored on a 14-day holdout, so the
checks also face the baseline's own estimation error.  This harness has no time stamps, so the
verdict's noise model is the AR(1) alone; the product path (two-level noise from out-of-sample
residuals) is measured by ``bench/detection.py``.  Measured with these seeds (208 stable weekly
checks, 200 step runs per rho; a step counts as found when a check names it a consumption change):

    rho                              0.5     0.7     0.9
    stable weeks raising drift       0.5 %   1.4 %   0.5 %
      as a consumption change        0.5 %   0.0 %   0.5 %
    +10 % step found in 7 days       100 %   100 %   86 %
    median delay (daily checks)      38 h    49.5 h  87 h
    change point within +-24 h       92 %    79 %    75 %
    summer after winter training     coverage in 16 of 16 for every rho
"""

from __future__ import annotations

import numpy as np
import pytest

from .simulation import (
    RHOS,
    stable_weekly_checks,
    step_runs,
    summarise_steps,
    summer_checks,
)


@pytest.mark.parametrize("rho", RHOS)
def test_stable_weeks_rarely_raise_drift(rho):
    results = stable_weekly_checks(rho)
    assert len(results) >= 200
    raised = np.mean([r["drift_detected"] for r in results])
    change = np.mean([r["cause"] == "consumption_change" for r in results])
    assert raised <= 0.04
    assert change <= 0.02


@pytest.mark.parametrize("rho", RHOS)
def test_ten_percent_step_is_detected_and_located(rho):
    summary = summarise_steps(step_runs(rho))
    assert summary["detected_7d"] >= (0.7 if rho == 0.9 else 0.95)
    # Found as a consumption change (the cause a step has): this harness, without time stamps,
    # measures 38 and 49.5 h at rho 0.5 and 0.7; the product path's 48 h target is judged by
    # bench/detection.py (38 and 46 h, 300 runs each).
    assert summary["median_delay_h"] <= (120 if rho == 0.9 else 50)
    assert summary["located_share"] >= 0.85
    # With rho = 0.9 a day's mean carries little more than one hour's information on the start.
    assert summary["change_point_within_24h"] >= (0.5 if rho == 0.9 else 0.75)


@pytest.mark.parametrize("rho", RHOS)
def test_summer_after_winter_training_is_coverage(rho):
    results = summer_checks(rho)
    for r in results:
        temp = r["data_drift"]["outdoor_temp_c"]
        assert temp["out_of_range_share"] >= 0.5
        # Out of range: flagged; critical only where the extrapolated hours' own errors grew
        # (a slope estimated on winter data, carried 18 K on), by the model-error test.
        cover = r["coverage"]
        assert cover["level"] in ("warning", "critical") and r["drift_detected"]
        grew = cover["error_pvalue"] < 0.01 and cover["error_ratio"] >= 1.25
        assert (cover["level"] == "critical") == grew
        assert not r["data_drift"]["production_units"]["drifted"]
    assert np.mean([r["cause"] == "coverage" for r in results]) >= 0.9
    # The load really is linear in temperature: most weeks stay warnings.
    assert np.mean([r["coverage"]["level"] == "warning" for r in results]) >= 0.5

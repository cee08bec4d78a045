"""Reference statistics stored at training, and the change-point calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from performance.drift.concept import _threshold
from performance.drift.reference import reference_statistics

from .simulation import (
    _ar1,
    _assert_json_clean,
)


def test_reference_residual_statistics_and_gaps():
    rng = np.random.default_rng(5)
    rho = 0.8
    e = _ar1(rng, 5000, rho, 2.0)
    ts = np.datetime64("2024-01-01T00:00") + np.arange(5000) * np.timedelta64(1, "h")
    ts[2500:] += np.timedelta64(10, "h")
    reference = reference_statistics({"t": rng.normal(size=5000)}, e, holdout_rmse=2.1, timestamps=ts,
                                     n_simulations=500)
    res = reference["residuals"]
    assert res["n"] == 5000
    assert res["rho"] == pytest.approx(rho, abs=0.03)
    assert res["std"] == pytest.approx(2.0, rel=0.1)
    assert res["innovation_std"] == pytest.approx(2.0 * math.sqrt(1 - rho * rho), rel=0.05)
    assert res["ess_factor"] == pytest.approx((1 - res["rho"]) / (1 + res["rho"]))
    assert res["interval_seconds"] == 3600.0
    assert res["holdout_rmse"] == 2.1
    # Intercept error of an AR(1) mean, widened a little by the slope.
    assert res["level_se"] >= 2.0 * math.sqrt((1 + rho) / (1 - rho) / 5000) * 0.9
    _assert_json_clean(reference)


def test_holdout_inflation_only_beyond_sampling_error():
    rng = np.random.default_rng(8)
    e = _ar1(rng, 2000, 0.5, 1.0)
    std = float(e.std())
    close = reference_statistics({}, e, holdout_rmse=std * 1.03, holdout_n=336, n_simulations=200)
    far = reference_statistics({}, e, holdout_rmse=std * 1.6, holdout_n=336, n_simulations=200)
    unknown_n = reference_statistics({}, e, holdout_rmse=std * 1.6, n_simulations=200)
    assert close["residuals"]["scale_inflation"] == 1.0
    assert 1.2 < far["residuals"]["scale_inflation"] < 1.6
    assert unknown_n["residuals"]["scale_inflation"] == 1.0


def test_calibration_is_deterministic_and_monotone():
    rng = np.random.default_rng(9)
    e = _ar1(rng, 1500, 0.7, 1.0)
    a = reference_statistics({}, e, holdout_rmse=None, n_simulations=1000)
    b = reference_statistics({}, e, holdout_rmse=None, n_simulations=1000)
    assert a == b
    h = np.asarray(a["residuals"]["cusum"]["h"])
    assert np.all(np.diff(h, axis=0) >= 0)  # longer windows, higher h
    assert np.all(np.diff(h, axis=1) <= 0)  # higher false-alarm level, lower h
    assert 3.0 < _threshold(a["residuals"]["cusum"], 168, 0.01) < 5.0
    longer = _threshold(a["residuals"]["cusum"], 5000, 0.01)
    assert longer > _threshold(a["residuals"]["cusum"], 336, 0.01)

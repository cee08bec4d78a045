"""Regression and classification metrics against scikit-learn and hand-worked examples; the ASHRAE check."""

import json
import math

import numpy as np
import pytest
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
)

from baselines.engine.metrics import ashrae_check, classification_metrics, lag1_autocorrelation, regression_metrics

# --------------------------------------------------------------------------
# regression_metrics
# --------------------------------------------------------------------------


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.uniform(0, 100, 500)
    y[::50] = 0.0  # idle readings: excluded from MAPE only
    y_hat = y + rng.normal(0, 5, 500)
    m = regression_metrics(y, y_hat, n_params=3)
    nz = y != 0
    assert m["n"] == 500
    assert m["r_squared"] == pytest.approx(r2_score(y, y_hat), abs=1e-9)
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, y_hat)), abs=1e-9)
    assert m["mae"] == pytest.approx(mean_absolute_error(y, y_hat), abs=1e-9)
    assert m["mape"] == pytest.approx(mean_absolute_percentage_error(y[nz], y_hat[nz]), abs=1e-9)
    assert m["wape"] == pytest.approx(np.abs(y - y_hat).sum() / np.abs(y).sum(), abs=1e-12)
    r2 = r2_score(y, y_hat)
    assert m["adj_r_squared"] == pytest.approx(1 - (1 - r2) * (500 - 1) / (500 - 3), abs=1e-9)


def test_regression_metrics_hand_worked():
    # y = [10, 12, 14, 16], y_hat = [9, 11, 15, 14]  ->  e = y - y_hat = [1, 1, -1, 2]
    # n = 4, p = 2, n - p = 2, mean(y) = 13
    # SSres = 1 + 1 + 1 + 4 = 7, SStot = 9 + 1 + 1 + 9 = 20, sum(e) = 3, sum|e| = 5
    # R2 = 1 - 7/20 = 0.65;  adj R2 = 1 - (7/2) / (20/3) = 1 - 0.525 = 0.475
    # RMSE = sqrt(7/4);  MAE = 5/4;  WAPE = 5 / 52
    # MAPE = (1/10 + 1/12 + 1/14 + 2/16) / 4
    # CV(RMSE) = sqrt(7/2) / 13 = 0.14391...;  NMBE = 3 / (2 * 13) = 0.11538...
    m = regression_metrics([10, 12, 14, 16], [9, 11, 15, 14], n_params=2)
    assert m["n"] == 4
    assert m["r_squared"] == pytest.approx(0.65, abs=1e-12)
    assert m["adj_r_squared"] == pytest.approx(0.475, abs=1e-12)
    assert m["rmse"] == pytest.approx(math.sqrt(1.75), abs=1e-12)
    assert m["mae"] == pytest.approx(1.25, abs=1e-12)
    assert m["wape"] == pytest.approx(5 / 52, abs=1e-12)
    assert m["mape"] == pytest.approx((1 / 10 + 1 / 12 + 1 / 14 + 2 / 16) / 4, abs=1e-12)
    assert m["cv_rmse"] == pytest.approx(math.sqrt(3.5) / 13, abs=1e-12)
    assert m["cv_rmse"] == pytest.approx(0.143910, abs=1e-6)
    assert m["nmbe"] == pytest.approx(3 / 26, abs=1e-12)


def test_regression_metrics_undefined_values_are_none():
    # n - p <= 0: no degrees of freedom left
    m = regression_metrics([1.0, 2.0, 3.0], [1.1, 1.9, 3.2], n_params=3)
    assert m["adj_r_squared"] is None and m["cv_rmse"] is None and m["nmbe"] is None
    assert m["r_squared"] is not None and m["rmse"] is not None
    # mean(y) = 0: CV(RMSE) and NMBE undefined, MAPE over the nonzero y still defined
    m = regression_metrics([-1.0, 1.0], [-0.5, 0.5], n_params=0)
    assert m["cv_rmse"] is None and m["nmbe"] is None
    assert m["mape"] == pytest.approx(0.5)
    # all-zero y: no MAPE, no WAPE, no R2 (SStot = 0)
    m = regression_metrics([0.0, 0.0, 0.0], [0.1, 0.0, 0.2], n_params=1)
    assert m["mape"] is None and m["wape"] is None and m["r_squared"] is None
    assert m["cv_rmse"] is None
    # constant nonzero y: SStot = 0 -> R2 None, CV(RMSE) fine
    m = regression_metrics([5.0] * 4, [4.0, 5.0, 6.0, 5.0], n_params=0)
    assert m["r_squared"] is None and m["adj_r_squared"] is None
    assert m["cv_rmse"] == pytest.approx(math.sqrt(2 / 4) / 5)
    # empty input and non-finite pairs
    assert regression_metrics([], [], 1) == {
        "n": 0,
        "r_squared": None,
        "adj_r_squared": None,
        "rmse": None,
        "mae": None,
        "mape": None,
        "wape": None,
        "cv_rmse": None,
        "nmbe": None,
    }
    m = regression_metrics([1.0, np.nan, 3.0], [1.0, 2.0, np.inf], 0)
    assert m["n"] == 1 and m["rmse"] == 0.0


def test_regression_metrics_are_plain_json_values():
    m = regression_metrics(np.arange(1, 11, dtype=np.float32), np.arange(1, 11) + 0.5, np.int64(2))
    assert all(v is None or type(v) in (int, float) for v in m.values())
    json.dumps(m)


def test_regression_metrics_rejects_bad_input():
    with pytest.raises(ValueError):
        regression_metrics([1, 2], [1, 2, 3], 1)
    with pytest.raises(ValueError):
        regression_metrics([1, 2], [1, 2], -1)


# --------------------------------------------------------------------------
# classification_metrics / ashrae_check / infer_interval / lag-1
# --------------------------------------------------------------------------


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    y_true = rng.random(1000) < 0.1
    y_pred = y_true ^ (rng.random(1000) < 0.05)
    m = classification_metrics(y_true, y_pred)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=np.nan)
    assert m["precision"] == pytest.approx(p, abs=1e-12)
    assert m["recall"] == pytest.approx(r, abs=1e-12)
    assert m["f1_score"] == pytest.approx(f, abs=1e-12)
    assert m["tp"] + m["fp"] + m["fn"] + m["tn"] == m["n"] == 1000
    assert m["tp"] == int(np.sum(y_true & y_pred))


def test_classification_metrics_zero_division():
    # no predicted positives: precision undefined, recall 0, F1 = 2*0 / (0 + 0 + 2) = 0
    m = classification_metrics([True, True, False], [False, False, False])
    p, r, f, _ = precision_recall_fscore_support(
        [True, True, False], [False, False, False], average="binary", zero_division=np.nan
    )
    assert m["precision"] is None and math.isnan(p)
    assert m["recall"] == r == 0.0
    assert m["f1_score"] == f == 0.0
    # nothing labelled, nothing predicted: all undefined
    m = classification_metrics([False, False], [False, False])
    assert m["precision"] is None and m["recall"] is None and m["f1_score"] is None
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (0, 0, 0, 2)


def test_ashrae_check():
    ok = ashrae_check({"cv_rmse": 0.29, "nmbe": -0.09}, "hourly")
    assert ok == {
        "interval": "hourly",
        "cv_rmse_limit": 0.30,
        "nmbe_limit": 0.10,
        "cv_rmse_ok": True,
        "nmbe_ok": True,
        "passes": True,
    }
    bad = ashrae_check({"cv_rmse": 0.16, "nmbe": 0.01}, "monthly")
    assert bad["cv_rmse_ok"] is False and bad["nmbe_ok"] is True and bad["passes"] is False
    assert ashrae_check({"cv_rmse": 0.2, "nmbe": 0.08}, "daily")["nmbe_ok"] is False
    assert ashrae_check({"cv_rmse": None, "nmbe": 0.0}, "daily")["passes"] is False
    custom = ashrae_check({"cv_rmse": 0.2, "nmbe": 0.0}, "hourly", limits={"hourly": (0.1, 0.05)})
    assert custom["cv_rmse_limit"] == 0.1 and custom["passes"] is False
    with pytest.raises(ValueError):
        ashrae_check({"cv_rmse": 0.1, "nmbe": 0.0}, "weekly")


def test_lag1_autocorrelation():
    # x = [1, 2, 3, 4], mean 2.5, d = [-1.5, -0.5, 0.5, 1.5]
    # numerator 0.75 - 0.25 + 0.75 = 1.25, denominator 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert lag1_autocorrelation([1, 2, 3, 4]) == pytest.approx(0.25)
    rng = np.random.default_rng(4)
    e = rng.normal(size=20000)
    x = np.empty_like(e)
    x[0] = e[0]
    for i in range(1, e.size):
        x[i] = 0.7 * x[i - 1] + e[i]
    assert lag1_autocorrelation(x) == pytest.approx(0.7, abs=0.02)
    assert abs(lag1_autocorrelation(rng.normal(size=20000))) < 0.03
    assert lag1_autocorrelation([3.0, 3.0, 3.0]) == 0.0
    assert lag1_autocorrelation([1.0]) == 0.0

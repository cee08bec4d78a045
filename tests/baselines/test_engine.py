import hashlib
import json
import math
import time

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
)
from sklearn.pipeline import Pipeline

from baselines import engine as E

# --------------------------------------------------------------------------
# Synthetic data with known answers
# --------------------------------------------------------------------------

TRUE_HEAT_BP, TRUE_COOL_BP, TRUE_PRODUCTION_COEF = 15.0, 22.0, 2.0


def hourly_frame(days: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=days * 24, freq="h", tz="UTC")
    n = len(ts)
    day = np.arange(n) / 24
    hour = ts.hour.to_numpy()
    dow = ts.day_of_week.to_numpy()
    temp = 17 + 8 * np.sin(2 * np.pi * day / 40) + 6 * np.sin(2 * np.pi * (hour - 9) / 24)
    temp = temp + rng.normal(0, 1.5, n)
    shift = (dow < 5) & (hour >= 6) & (hour < 22)
    production = np.where(shift, rng.uniform(20, 60, n), rng.uniform(0, 5, n))
    profile = 10 * shift + 3 * np.sin(2 * np.pi * hour / 24)
    energy = (
        50
        + TRUE_PRODUCTION_COEF * production
        + 3 * np.maximum(TRUE_HEAT_BP - temp, 0)
        + 1.5 * np.maximum(temp - TRUE_COOL_BP, 0)
        + profile
        + rng.normal(0, 3, n)
    )
    return pd.DataFrame(
        {
            "timestamp": ts,
            "energy_kwh": energy,
            "production_units": production,
            "outdoor_temp_c": temp,
            "operating_hours": np.nan,
        }
    )


def daily_frame(days: int = 200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=days, freq="D", tz="UTC")
    d = np.arange(days)
    temp = 15 + 10 * np.sin(2 * np.pi * d / 60) + rng.normal(0, 2, days)
    weekend = ts.day_of_week.to_numpy() >= 5
    production = np.where(weekend, rng.uniform(0, 50, days), rng.uniform(300, 600, days))
    energy = (
        1000
        + 2 * production
        + 40 * np.maximum(14 - temp, 0)
        + 25 * np.maximum(temp - 20, 0)
        - 200 * weekend
        + rng.normal(0, 30, days)
    )
    return pd.DataFrame(
        {
            "timestamp": ts,
            "energy_kwh": energy,
            "production_units": production,
            "outdoor_temp_c": temp,
        }
    )


@pytest.fixture(scope="module")
def hourly_df() -> pd.DataFrame:
    return hourly_frame()


@pytest.fixture(scope="module")
def hourly_fit(hourly_df):
    return E.fit_baseline(hourly_df)


# --------------------------------------------------------------------------
# regression_metrics
# --------------------------------------------------------------------------


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.uniform(0, 100, 500)
    y[::50] = 0.0  # idle readings: excluded from MAPE only
    y_hat = y + rng.normal(0, 5, 500)
    m = E.regression_metrics(y, y_hat, n_params=3)
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
    m = E.regression_metrics([10, 12, 14, 16], [9, 11, 15, 14], n_params=2)
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
    m = E.regression_metrics([1.0, 2.0, 3.0], [1.1, 1.9, 3.2], n_params=3)
    assert m["adj_r_squared"] is None and m["cv_rmse"] is None and m["nmbe"] is None
    assert m["r_squared"] is not None and m["rmse"] is not None
    # mean(y) = 0: CV(RMSE) and NMBE undefined, MAPE over the nonzero y still defined
    m = E.regression_metrics([-1.0, 1.0], [-0.5, 0.5], n_params=0)
    assert m["cv_rmse"] is None and m["nmbe"] is None
    assert m["mape"] == pytest.approx(0.5)
    # all-zero y: no MAPE, no WAPE, no R2 (SStot = 0)
    m = E.regression_metrics([0.0, 0.0, 0.0], [0.1, 0.0, 0.2], n_params=1)
    assert m["mape"] is None and m["wape"] is None and m["r_squared"] is None
    assert m["cv_rmse"] is None
    # constant nonzero y: SStot = 0 -> R2 None, CV(RMSE) fine
    m = E.regression_metrics([5.0] * 4, [4.0, 5.0, 6.0, 5.0], n_params=0)
    assert m["r_squared"] is None and m["adj_r_squared"] is None
    assert m["cv_rmse"] == pytest.approx(math.sqrt(2 / 4) / 5)
    # empty input and non-finite pairs
    assert E.regression_metrics([], [], 1) == {
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
    m = E.regression_metrics([1.0, np.nan, 3.0], [1.0, 2.0, np.inf], 0)
    assert m["n"] == 1 and m["rmse"] == 0.0


def test_regression_metrics_are_plain_json_values():
    m = E.regression_metrics(np.arange(1, 11, dtype=np.float32), np.arange(1, 11) + 0.5, np.int64(2))
    assert all(v is None or type(v) in (int, float) for v in m.values())
    json.dumps(m)


def test_regression_metrics_rejects_bad_input():
    with pytest.raises(ValueError):
        E.regression_metrics([1, 2], [1, 2, 3], 1)
    with pytest.raises(ValueError):
        E.regression_metrics([1, 2], [1, 2], -1)


# --------------------------------------------------------------------------
# classification_metrics / ashrae_check / infer_interval / lag-1
# --------------------------------------------------------------------------


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    y_true = rng.random(1000) < 0.1
    y_pred = y_true ^ (rng.random(1000) < 0.05)
    m = E.classification_metrics(y_true, y_pred)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=np.nan)
    assert m["precision"] == pytest.approx(p, abs=1e-12)
    assert m["recall"] == pytest.approx(r, abs=1e-12)
    assert m["f1_score"] == pytest.approx(f, abs=1e-12)
    assert m["tp"] + m["fp"] + m["fn"] + m["tn"] == m["n"] == 1000
    assert m["tp"] == int(np.sum(y_true & y_pred))


def test_classification_metrics_zero_division():
    # no predicted positives: precision undefined, recall 0, F1 = 2*0 / (0 + 0 + 2) = 0
    m = E.classification_metrics([True, True, False], [False, False, False])
    p, r, f, _ = precision_recall_fscore_support(
        [True, True, False], [False, False, False], average="binary", zero_division=np.nan
    )
    assert m["precision"] is None and math.isnan(p)
    assert m["recall"] == r == 0.0
    assert m["f1_score"] == f == 0.0
    # nothing labelled, nothing predicted: all undefined
    m = E.classification_metrics([False, False], [False, False])
    assert m["precision"] is None and m["recall"] is None and m["f1_score"] is None
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (0, 0, 0, 2)


def test_ashrae_check():
    ok = E.ashrae_check({"cv_rmse": 0.29, "nmbe": -0.09}, "hourly")
    assert ok == {
        "interval": "hourly",
        "cv_rmse_limit": 0.30,
        "nmbe_limit": 0.10,
        "cv_rmse_ok": True,
        "nmbe_ok": True,
        "passes": True,
    }
    bad = E.ashrae_check({"cv_rmse": 0.16, "nmbe": 0.01}, "monthly")
    assert bad["cv_rmse_ok"] is False and bad["nmbe_ok"] is True and bad["passes"] is False
    assert E.ashrae_check({"cv_rmse": 0.2, "nmbe": 0.08}, "daily")["nmbe_ok"] is False
    assert E.ashrae_check({"cv_rmse": None, "nmbe": 0.0}, "daily")["passes"] is False
    custom = E.ashrae_check({"cv_rmse": 0.2, "nmbe": 0.0}, "hourly", limits={"hourly": (0.1, 0.05)})
    assert custom["cv_rmse_limit"] == 0.1 and custom["passes"] is False
    with pytest.raises(ValueError):
        E.ashrae_check({"cv_rmse": 0.1, "nmbe": 0.0}, "weekly")


def test_infer_interval():
    assert E.infer_interval(pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC")) == "hourly"
    assert E.infer_interval(pd.date_range("2024-01-01", periods=50, freq="15min", tz="UTC")) == "hourly"
    assert E.infer_interval(pd.date_range("2024-01-01", periods=50, freq="D", tz="UTC")) == "daily"
    assert E.infer_interval(pd.date_range("2024-01-01", periods=24, freq="MS", tz="UTC")) == "monthly"
    # a gap in the data does not change the median spacing
    ts = pd.date_range("2024-01-01", periods=100, freq="h", tz="UTC").delete(range(10, 60))
    assert E.infer_interval(ts) == "hourly"
    with pytest.raises(ValueError):
        E.infer_interval(pd.DatetimeIndex(["2024-01-01"], tz="UTC"))


def test_lag1_autocorrelation():
    # x = [1, 2, 3, 4], mean 2.5, d = [-1.5, -0.5, 0.5, 1.5]
    # numerator 0.75 - 0.25 + 0.75 = 1.25, denominator 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert E.lag1_autocorrelation([1, 2, 3, 4]) == pytest.approx(0.25)
    rng = np.random.default_rng(4)
    e = rng.normal(size=20000)
    x = np.empty_like(e)
    x[0] = e[0]
    for i in range(1, e.size):
        x[i] = 0.7 * x[i - 1] + e[i]
    assert E.lag1_autocorrelation(x) == pytest.approx(0.7, abs=0.02)
    assert abs(E.lag1_autocorrelation(rng.normal(size=20000))) < 0.03
    assert E.lag1_autocorrelation([3.0, 3.0, 3.0]) == 0.0
    assert E.lag1_autocorrelation([1.0]) == 0.0


# --------------------------------------------------------------------------
# EnergyFeatures
# --------------------------------------------------------------------------


def test_energy_features_columns_are_fixed(hourly_df):
    ef = E.EnergyFeatures(
        drivers=["production_units", "outdoor_temp_c"],
        heat_balance_c=15.0,
        cool_balance_c=22.0,
        time_of_week=True,
        interval="hourly",
    ).fit(hourly_df.iloc[:48])
    names = list(ef.get_feature_names_out())
    assert names[:3] == ["production_units", "hdh", "cdh"] and len(names) == 3 + 168
    one = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-07 23:00", "2024-01-08 00:00"], utc=True),
            "production_units": [10.0, 20.0],
            "outdoor_temp_c": [5.0, 30.0],
        }
    )
    X = ef.transform(one)
    assert X.shape == (2, 171)
    assert X[0, :3].tolist() == [10.0, 10.0, 0.0]  # hdh = 15 - 5
    assert X[1, :3].tolist() == [20.0, 0.0, 8.0]  # cdh = 30 - 22
    assert X[0, 3 + 167] == 1.0 and X[0, 3:].sum() == 1.0  # Sunday 23:00 UTC
    assert X[1, 3 + 0] == 1.0 and X[1, 3:].sum() == 1.0  # Monday 00:00 UTC


def test_energy_features_daily_uses_day_of_week():
    df = daily_frame(30)
    ef = E.EnergyFeatures(drivers=["production_units"], time_of_week=True).fit(df)
    assert ef.interval_ == "daily"
    X = ef.transform(df)
    assert X.shape == (30, 1 + 7)
    assert np.array_equal(X[:, 1:].argmax(axis=1), df["timestamp"].dt.day_of_week.to_numpy())


# --------------------------------------------------------------------------
# fit_baseline on hourly data
# --------------------------------------------------------------------------


def test_fit_recovers_balance_points_and_production(hourly_fit):
    r = hourly_fit
    assert r.interval == "hourly" and r.algorithm == "ridge"
    assert r.features == ["production_units", "outdoor_temp_c", "hdh", "cdh", "time_of_week"]
    assert abs(r.balance_points["heat_balance_c"] - TRUE_HEAT_BP) <= 1.5
    assert abs(r.balance_points["cool_balance_c"] - TRUE_COOL_BP) <= 1.5
    coef = E.coefficients(r.pipeline)
    assert coef["production_units"] == pytest.approx(TRUE_PRODUCTION_COEF, rel=0.05)
    assert coef["hdh"] == pytest.approx(3.0, rel=0.1)
    assert coef["cdh"] == pytest.approx(1.5, rel=0.15)
    # operating_hours is entirely missing: not used
    assert "operating_hours" not in r.driver_ranges and "operating_hours" not in r.train_X
    # p = 1 production + hdh + cdh + 168 time-of-week columns + intercept
    assert r.n_params == 1 + 2 + 168 + 1 == len(r.design_columns) + 1


def test_fit_holdout_accuracy_and_ashrae(hourly_fit):
    r = hourly_fit
    # noise sd 3 on a mean of about 100 kWh: CV(RMSE) near 3 %
    assert r.holdout_metrics["cv_rmse"] < 0.05
    assert abs(r.holdout_metrics["nmbe"]) < 0.01
    assert r.holdout_metrics["r_squared"] > 0.98
    assert r.ashrae["interval"] == "hourly" and r.ashrae["passes"] is True
    assert r.train_metrics["nmbe"] == pytest.approx(0.0, abs=1e-3)
    assert r.train_residuals.shape == (r.train_metrics["n"],)
    assert r.holdout_residuals.shape == (r.holdout_metrics["n"],)
    assert np.sqrt(np.mean(r.holdout_residuals**2)) == pytest.approx(r.holdout_metrics["rmse"])
    json.dumps(r.summary())


def test_holdout_is_the_last_fifth_in_time(hourly_df):
    shuffled = hourly_df.sample(frac=1.0, random_state=7)
    shuffled.index = np.arange(10_000, 10_000 + len(shuffled))
    r = E.fit_baseline(shuffled)
    n = len(hourly_df)
    assert r.holdout_index.size == round(0.2 * n) and r.train_index.size == n - round(0.2 * n)
    ts = shuffled["timestamp"]
    assert ts.loc[r.train_index].max() < ts.loc[r.holdout_index].min()
    expected = shuffled.sort_values("timestamp").index[-round(0.2 * n) :]
    assert set(r.holdout_index) == set(expected)
    assert r.holdout_start == ts.loc[r.holdout_index].min()
    assert r.training_start == ts.min() and r.training_end == ts.max()
    assert r.driver_ranges["production_units"] == [
        shuffled.loc[r.train_index, "production_units"].min(),
        shuffled.loc[r.train_index, "production_units"].max(),
    ]
    assert np.array_equal(
        np.sort(r.train_X["outdoor_temp_c"]), np.sort(shuffled.loc[r.train_index, "outdoor_temp_c"].to_numpy())
    )


def test_holdout_fraction_from_hyperparameters(hourly_df):
    r = E.fit_baseline(hourly_df.iloc[: 24 * 30], hyperparameters={"holdout_fraction": 0.25, "alpha": 0.1})
    assert r.holdout_index.size == 180 and r.hyperparameters["alpha"] == 0.1


def test_linear_algorithm_and_no_time_of_week(hourly_df):
    r = E.fit_baseline(hourly_df, hyperparameters={"algorithm": "linear", "time_of_week": False})
    assert r.algorithm == "linear" and "time_of_week" not in r.features
    assert r.n_params == 1 + 2 + 1
    assert r.holdout_metrics["cv_rmse"] < 0.15


def test_fit_is_fast():
    df = hourly_frame(days=90, seed=5)
    E.fit_baseline(df)
    start = time.perf_counter()
    for _ in range(3):
        E.fit_baseline(df)
    assert (time.perf_counter() - start) / 3 < 1.0


def test_temperature_without_effect_is_dropped(hourly_df):
    df = hourly_df.copy()
    df["energy_kwh"] = 50 + 2 * df["production_units"] + np.random.default_rng(8).normal(0, 3, len(df))
    r = E.fit_baseline(df)
    assert r.balance_points == {"heat_balance_c": None, "cool_balance_c": None}
    assert r.features == ["production_units", "time_of_week"]
    assert "outdoor_temp_c" not in r.driver_ranges


def test_driver_selection_coverage_and_constant(hourly_df):
    df = hourly_df.copy()
    df["operating_hours"] = 1.0  # constant: carries no information
    sparse = df["production_units"].copy()
    sparse.iloc[::5] = np.nan  # 80 % coverage < 90 %
    df["production_units"] = sparse
    r = E.fit_baseline(df)
    assert "production_units" not in r.features and "operating_hours" not in r.features
    # a few gaps (< 10 %) keep the driver; those rows are dropped
    df = hourly_df.copy()
    df.loc[df.index[::20], "production_units"] = np.nan
    r = E.fit_baseline(df)
    assert "production_units" in r.features
    assert r.n_dropped_rows == len(df.index[::20])
    assert r.train_index.size + r.holdout_index.size == len(df) - r.n_dropped_rows


def test_labelled_anomalies_are_excluded(hourly_df):
    df = hourly_df.iloc[: 24 * 60].copy()
    df["is_anomaly"] = False
    spikes = df.index[100:110]
    df.loc[spikes, "energy_kwh"] += 5000
    df.loc[spikes, "is_anomaly"] = True
    r = E.fit_baseline(df)
    assert r.n_excluded_anomalies == 10
    assert not set(spikes) & set(r.train_index)
    assert r.train_metrics["cv_rmse"] < 0.05


def test_fit_rejects_bad_input(hourly_df):
    with pytest.raises(ValueError, match="too little data"):
        E.fit_baseline(hourly_df.iloc[:40])
    with pytest.raises(ValueError, match="too little data"):
        E.fit_baseline(daily_frame(10))
    empty = hourly_df.assign(energy_kwh=np.nan)
    with pytest.raises(ValueError, match="no energy values"):
        E.fit_baseline(empty)
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        E.fit_baseline(hourly_df, hyperparameters={"alpah": 1.0})
    with pytest.raises(ValueError, match="algorithm"):
        E.fit_baseline(hourly_df, hyperparameters={"algorithm": "xgboost"})


def test_minimum_hourly_data_fits(hourly_df):
    r = E.fit_baseline(hourly_df.iloc[:48])
    assert "time_of_week" not in r.features  # two days cannot support 168 indicators
    assert r.holdout_index.size == 10 and r.holdout_metrics["n"] == 10


# --------------------------------------------------------------------------
# daily data
# --------------------------------------------------------------------------


def test_daily_fit():
    r = E.fit_baseline(daily_frame())
    assert r.interval == "daily"
    assert r.features == ["production_units", "outdoor_temp_c", "hdd", "cdd", "time_of_week"]
    assert r.n_params == 1 + 2 + 7 + 1
    assert abs(r.balance_points["heat_balance_c"] - 14) <= 2.0
    assert abs(r.balance_points["cool_balance_c"] - 20) <= 2.0
    assert r.ashrae["interval"] == "daily" and r.ashrae["cv_rmse_limit"] == 0.25
    assert r.ashrae["passes"] is True
    # production and weekday are strongly collinear on 160 training days, where even a
    # small ridge penalty shrinks a little; least squares recovers the coefficient closely
    assert E.coefficients(r.pipeline)["production_units"] == pytest.approx(2.0, rel=0.08)
    lin = E.fit_baseline(daily_frame(), hyperparameters={"algorithm": "linear"})
    assert E.coefficients(lin.pipeline)["production_units"] == pytest.approx(2.0, rel=0.05)
    assert lin.balance_points == r.balance_points


def test_coefficients_reproduce_predictions(hourly_fit, hourly_df):
    coef = E.coefficients(hourly_fit.pipeline)
    X = hourly_fit.pipeline.named_steps["features"].transform(hourly_df)
    manual = X @ np.array([coef[c] for c in hourly_fit.design_columns]) + coef["intercept"]
    assert np.allclose(manual, hourly_fit.pipeline.predict(hourly_df))


def test_ridge_is_insensitive_to_driver_units(hourly_df):
    # the same machine with production counted in thousands: coefficient scales by 1000
    df = hourly_df.assign(production_units=hourly_df["production_units"] / 1000)
    r = E.fit_baseline(df)
    assert E.coefficients(r.pipeline)["production_units"] == pytest.approx(2000.0, rel=0.05)


# --------------------------------------------------------------------------
# prediction and extrapolation
# --------------------------------------------------------------------------


def test_predict_and_missing_drivers(hourly_fit, hourly_df):
    new = hourly_df.iloc[-5:].copy()
    new.loc[new.index[1], "production_units"] = np.nan
    new.loc[new.index[3], "outdoor_temp_c"] = np.nan
    y = E.predict(hourly_fit.pipeline, new)
    assert y.shape == (5,)
    assert np.isnan(y[[1, 3]]).all() and np.isfinite(y[[0, 2, 4]]).all()
    ok = new.iloc[[0, 2, 4]]
    assert np.allclose(y[[0, 2, 4]], hourly_fit.pipeline.predict(ok))
    # the holdout residuals are exactly actual minus prediction
    hold = hourly_df.loc[hourly_fit.holdout_index]
    assert np.allclose(hold["energy_kwh"] - E.predict(hourly_fit.pipeline, hold), hourly_fit.holdout_residuals)


def test_extrapolation_flags(hourly_fit):
    ranges = hourly_fit.driver_ranges
    lo_p, hi_p = ranges["production_units"]
    lo_t, hi_t = ranges["outdoor_temp_c"]
    df = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-06-01", periods=6, freq="h", tz="UTC"),
            "production_units": [(lo_p + hi_p) / 2, hi_p + 1, lo_p - 1, (lo_p + hi_p) / 2, np.nan, hi_p],
            "outdoor_temp_c": [(lo_t + hi_t) / 2, (lo_t + hi_t) / 2, (lo_t + hi_t) / 2, hi_t + 5, 20.0, lo_t],
        }
    )
    assert E.extrapolation_flags(df, ranges).tolist() == [False, True, True, True, False, False]
    # 5 % tolerance of the production range covers +1 unit but not +5 degrees on temperature
    flags = E.extrapolation_flags(df, ranges, tolerance=0.05)
    assert flags.tolist() == [False, False, False, hi_t + 5 > hi_t + 0.05 * (hi_t - lo_t), False, False]
    with pytest.raises(ValueError):
        E.extrapolation_flags(df.drop(columns="outdoor_temp_c"), ranges)


# --------------------------------------------------------------------------
# artifacts
# --------------------------------------------------------------------------


def test_serialize_round_trip(hourly_fit, hourly_df):
    data, digest = E.serialize_pipeline(hourly_fit.pipeline)
    assert isinstance(data, bytes) and len(digest) == 64
    assert sio.get_untrusted_types(data=data) == ["baselines.engine.EnergyFeatures"]
    loaded = E.load_pipeline(data, digest)
    assert np.array_equal(E.predict(loaded, hourly_df), E.predict(hourly_fit.pipeline, hourly_df))


def test_serialize_round_trip_gbr(hourly_df):
    r = E.fit_baseline(hourly_df.iloc[: 24 * 30], hyperparameters={"algorithm": "gbr", "max_iter": 30})
    assert r.algorithm == "gbr" and E.coefficients(r.pipeline) is None
    data, digest = E.serialize_pipeline(r.pipeline)
    loaded = E.load_pipeline(data, digest)
    assert np.array_equal(E.predict(loaded, hourly_df), E.predict(r.pipeline, hourly_df))


def test_tampered_artifact_is_refused(hourly_fit):
    data, digest = E.serialize_pipeline(hourly_fit.pipeline)
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(E.ArtifactIntegrityError):
        E.load_pipeline(bytes(tampered), digest)
    with pytest.raises(E.ArtifactIntegrityError):
        E.load_pipeline(data, "0" * 64)
    assert issubclass(E.ArtifactIntegrityError, ValueError)


class Foreign(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_untrusted_types_are_refused(hourly_df):
    df = hourly_df.iloc[:100]
    pipe = Pipeline([("features", E.EnergyFeatures(time_of_week=False)), ("model", Foreign())])
    pipe.fit(df, df["energy_kwh"])
    data, digest = E.serialize_pipeline(pipe)  # checksum matches, content is foreign
    with pytest.raises(E.UntrustedArtifactError, match="untrusted"):
        E.load_pipeline(data, digest)
    not_a_pipeline = sio.dumps(E.EnergyFeatures())
    with pytest.raises(E.UntrustedArtifactError):
        E.load_pipeline(not_a_pipeline, hashlib.sha256(not_a_pipeline).hexdigest())


# --------------------------------------------------------------------------
# anomaly detector
# --------------------------------------------------------------------------


def test_anomaly_threshold_and_flags():
    rng = np.random.default_rng(9)
    r = rng.normal(1.0, 2.0, 5000)
    spikes = np.arange(100, 5000, 500)
    r_spiked = r.copy()
    r_spiked[spikes] += 25.0
    params = E.fit_anomaly_threshold(r_spiked, z=4.0)
    assert set(params) == {"center", "scale", "z"}
    # median and MAD are barely moved by the ten spikes
    assert params["center"] == pytest.approx(1.0, abs=0.1)
    assert params["scale"] == pytest.approx(2.0, rel=0.05)
    flags = E.flag_anomalies(r_spiked, params)
    assert flags[spikes].all()
    assert flags.sum() - flags[spikes].sum() <= 2
    m = E.classification_metrics(np.isin(np.arange(5000), spikes), flags)
    assert m["recall"] == 1.0 and m["precision"] >= 10 / 12
    assert E.flag_anomalies([np.nan, 1.0], params).tolist() == [False, False]


def test_anomaly_threshold_degenerate_scale():
    params = E.fit_anomaly_threshold(np.array([0.0] * 10 + [1.0, -1.0]))
    assert params["center"] == 0.0 and params["scale"] == pytest.approx(np.std([0.0] * 10 + [1.0, -1.0]))
    with pytest.raises(ValueError):
        E.fit_anomaly_threshold(np.array([np.nan]))


# --------------------------------------------------------------------------
# other shapes of data
# --------------------------------------------------------------------------


def test_monthly_fit():
    rng = np.random.default_rng(11)
    ts = pd.date_range("2021-01-01", periods=36, freq="MS", tz="UTC")
    temp = 10 + 10 * np.sin(2 * np.pi * np.arange(36) / 12) + rng.normal(0, 1, 36)
    energy = 5000 + 300 * np.maximum(12 - temp, 0) + rng.normal(0, 100, 36)
    r = E.fit_baseline(pd.DataFrame({"timestamp": ts, "energy_kwh": energy, "outdoor_temp_c": temp}))
    assert r.interval == "monthly" and r.features == ["outdoor_temp_c", "hdd"]
    assert r.n_params == 2 and r.holdout_n_params == 0
    assert abs(r.balance_points["heat_balance_c"] - 12) <= 1.5
    assert r.ashrae["cv_rmse_limit"] == 0.15 and r.ashrae["passes"] is True


def test_energy_only_falls_back_to_mean(hourly_df):
    df = hourly_df.iloc[: 24 * 14][["timestamp", "energy_kwh"]]
    r = E.fit_baseline(df)
    assert r.algorithm == "mean" and r.features == [] and r.n_params == 1
    split = len(df) - round(0.2 * len(df))
    assert np.allclose(E.predict(r.pipeline, df), df["energy_kwh"].iloc[:split].mean())


def test_engine_imports_no_django():
    import ast
    import pathlib

    tree = ast.parse(pathlib.Path(E.__file__).read_text())
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m.split(".")[0] in {"django", "rest_framework"} for m in modules)

"""Fitting, balance points, prediction and extrapolation flags."""

import json
import time

import numpy as np
import pandas as pd
import pytest

from baselines.engine.fit import coefficients, extrapolation_flags, fit_baseline, predict

from .synthetic import TRUE_COOL_BP, TRUE_HEAT_BP, TRUE_PRODUCTION_COEF, daily_frame, hourly_frame


def test_fit_recovers_balance_points_and_production(hourly_fit):
    r = hourly_fit
    assert r.interval == "hourly" and r.algorithm == "ridge"
    assert r.features == ["production_units", "outdoor_temp_c", "hdh", "cdh", "time_of_week"]
    assert abs(r.balance_points["heat_balance_c"] - TRUE_HEAT_BP) <= 1.5
    assert abs(r.balance_points["cool_balance_c"] - TRUE_COOL_BP) <= 1.5
    coef = coefficients(r.pipeline)
    assert coef["production_units"] == pytest.approx(TRUE_PRODUCTION_COEF, rel=0.05)
    assert coef["hdh"] == pytest.approx(3.0, rel=0.1)
    assert coef["cdh"] == pytest.approx(1.5, rel=0.15)
    # operating_hours is entirely missing: not used
    assert "operating_hours" not in r.driver_ranges and "operating_hours" not in r.train_X
    # p = 1 production + hdh + cdh + 168 time-of-week columns (they span the intercept)
    #     + 2 searched balance points
    assert len(r.design_columns) == 1 + 2 + 168
    assert r.n_params == 1 + 2 + 168 + 2


def test_fit_holdout_accuracy_and_ashrae(hourly_fit):
    r = hourly_fit
    # noise sd 3 on a mean of about 100 kWh: CV(RMSE) near 3 %
    assert r.holdout_metrics["cv_rmse"] < 0.05
    assert abs(r.holdout_metrics["nmbe"]) < 0.01
    assert r.holdout_metrics["r_squared"] > 0.98
    assert r.ashrae["interval"] == "hourly" and r.ashrae["passes"] is True
    assert r.train_metrics["nmbe"] == pytest.approx(0.0, abs=1e-3)
    assert r.train_residuals.shape == (r.train_metrics["n"],) == r.oos_residuals.shape
    assert r.holdout_residuals.shape == (r.holdout_metrics["n"],)
    # out-of-sample residuals over the whole window are a little larger than in-sample ones
    assert r.cv_metrics["n"] == r.train_metrics["n"]
    assert r.train_metrics["rmse"] < r.cv_metrics["rmse"] < 1.2 * r.train_metrics["rmse"]
    assert np.sqrt(np.mean(r.holdout_residuals**2)) == pytest.approx(r.holdout_metrics["rmse"])
    json.dumps(r.summary())


def test_holdout_is_the_last_fifth_in_time_and_the_stored_model_saw_every_row(hourly_df):
    shuffled = hourly_df.sample(frac=1.0, random_state=7)
    shuffled.index = np.arange(10_000, 10_000 + len(shuffled))
    r = fit_baseline(shuffled)
    n = len(hourly_df)
    assert r.holdout_index.size == round(0.2 * n) and r.train_index.size == n
    ts = shuffled["timestamp"]
    assert list(r.train_index) == list(shuffled.sort_values("timestamp").index)
    expected = shuffled.sort_values("timestamp").index[-round(0.2 * n) :]
    assert list(r.holdout_index) == list(expected)
    assert r.holdout_start == ts.loc[r.holdout_index].min()
    assert r.training_start == ts.min() and r.training_end == ts.max()
    assert r.driver_ranges["production_units"] == [shuffled["production_units"].min(),
                                                   shuffled["production_units"].max()]
    assert np.array_equal(r.train_X["outdoor_temp_c"], shuffled.loc[r.train_index, "outdoor_temp_c"].to_numpy())
    assert np.array_equal(r.timestamps, ts.loc[r.train_index].dt.tz_convert(None).to_numpy(dtype="datetime64[s]"))
    assert r.n_folds == 5 and sorted(set(r.oos_fold)) == [0, 1, 2, 3, 4]
    assert (r.oos_fold[-r.holdout_index.size:] == 4).all()


def test_holdout_fraction_from_hyperparameters(hourly_df):
    r = fit_baseline(hourly_df.iloc[: 24 * 30], hyperparameters={"holdout_fraction": 0.25, "alpha": 0.1})
    assert r.holdout_index.size == 180 and r.hyperparameters["alpha"] == 0.1
    assert r.n_folds == 4


def test_linear_algorithm_and_no_time_of_week(hourly_df):
    r = fit_baseline(hourly_df, hyperparameters={"algorithm": "linear", "time_of_week": False})
    assert r.algorithm == "linear" and "time_of_week" not in r.features
    # intercept, production, hdh, cdh, and the two searched balance points
    assert r.n_params == 1 + 1 + 2 + 2
    assert r.holdout_metrics["cv_rmse"] < 0.15


def test_fit_is_fast():
    df = hourly_frame(days=90, seed=5)
    fit_baseline(df)
    start = time.perf_counter()
    for _ in range(3):
        fit_baseline(df)
    assert (time.perf_counter() - start) / 3 < 1.0


def test_temperature_without_effect_is_dropped(hourly_df):
    df = hourly_df.copy()
    df["energy_kwh"] = 50 + 2 * df["production_units"] + np.random.default_rng(8).normal(0, 3, len(df))
    r = fit_baseline(df)
    assert r.balance_points == {"heat_balance_c": None, "cool_balance_c": None}
    assert r.features == ["production_units", "time_of_week"]
    assert "outdoor_temp_c" not in r.driver_ranges


def test_driver_selection_coverage_and_constant(hourly_df):
    df = hourly_df.copy()
    df["operating_hours"] = 1.0  # constant: carries no information
    sparse = df["production_units"].copy()
    sparse.iloc[::5] = np.nan  # 80 % coverage < 90 %
    df["production_units"] = sparse
    r = fit_baseline(df)
    assert "production_units" not in r.features and "operating_hours" not in r.features
    # a few gaps (< 10 %) keep the driver; those rows are dropped
    df = hourly_df.copy()
    df.loc[df.index[::20], "production_units"] = np.nan
    r = fit_baseline(df)
    assert "production_units" in r.features
    assert r.n_dropped_rows == len(df.index[::20])
    assert r.train_index.size == len(df) - r.n_dropped_rows


def test_labelled_anomalies_are_excluded(hourly_df):
    df = hourly_df.iloc[: 24 * 60].copy()
    df["is_anomaly"] = False
    spikes = df.index[100:110]
    df.loc[spikes, "energy_kwh"] += 5000
    df.loc[spikes, "is_anomaly"] = True
    r = fit_baseline(df)
    assert r.n_excluded_anomalies == 10
    assert not set(spikes) & set(r.train_index)
    assert r.train_metrics["cv_rmse"] < 0.05


def test_fit_rejects_bad_input(hourly_df):
    with pytest.raises(ValueError, match="too little data"):
        fit_baseline(hourly_df.iloc[:40])
    with pytest.raises(ValueError, match="too little data"):
        fit_baseline(daily_frame(10))
    empty = hourly_df.assign(energy_kwh=np.nan)
    with pytest.raises(ValueError, match="no energy values"):
        fit_baseline(empty)
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        fit_baseline(hourly_df, hyperparameters={"alpah": 1.0})
    with pytest.raises(ValueError, match="algorithm"):
        fit_baseline(hourly_df, hyperparameters={"algorithm": "xgboost"})


def test_minimum_hourly_data_fits(hourly_df):
    r = fit_baseline(hourly_df.iloc[:48])
    assert "time_of_week" not in r.features  # two days cannot support 168 indicators
    assert r.holdout_index.size == 10 and r.holdout_metrics["n"] == 10


# --------------------------------------------------------------------------
# daily data
# --------------------------------------------------------------------------


def test_daily_fit():
    r = fit_baseline(daily_frame())
    assert r.interval == "daily"
    assert r.features == ["production_units", "outdoor_temp_c", "hdd", "cdd", "time_of_week"]
    # production, hdd, cdd, 7 weekday indicators (spanning the intercept), 2 searched balance points
    assert r.n_params == 1 + 2 + 7 + 2
    assert abs(r.balance_points["heat_balance_c"] - 14) <= 2.0
    assert abs(r.balance_points["cool_balance_c"] - 20) <= 2.0
    assert r.ashrae["interval"] == "daily" and r.ashrae["cv_rmse_limit"] == 0.25
    assert r.ashrae["passes"] is True
    # production and weekday are strongly collinear on 160 training days, where even a
    # small ridge penalty shrinks a little; least squares recovers the coefficient closely
    assert coefficients(r.pipeline)["production_units"] == pytest.approx(2.0, rel=0.08)
    lin = fit_baseline(daily_frame(), hyperparameters={"algorithm": "linear"})
    assert coefficients(lin.pipeline)["production_units"] == pytest.approx(2.0, rel=0.05)
    assert lin.balance_points == r.balance_points


def test_coefficients_reproduce_predictions(hourly_fit, hourly_df):
    coef = coefficients(hourly_fit.pipeline)
    X = hourly_fit.pipeline.named_steps["features"].transform(hourly_df)
    manual = X @ np.array([coef[c] for c in hourly_fit.design_columns]) + coef["intercept"]
    assert np.allclose(manual, hourly_fit.pipeline.predict(hourly_df))


def test_ridge_is_insensitive_to_driver_units(hourly_df):
    # the same machine with production counted in thousands: coefficient scales by 1000
    df = hourly_df.assign(production_units=hourly_df["production_units"] / 1000)
    r = fit_baseline(df)
    assert coefficients(r.pipeline)["production_units"] == pytest.approx(2000.0, rel=0.05)


# --------------------------------------------------------------------------
# prediction and extrapolation
# --------------------------------------------------------------------------


def test_predict_and_missing_drivers(hourly_fit, hourly_df):
    new = hourly_df.iloc[-5:].copy()
    new.loc[new.index[1], "production_units"] = np.nan
    new.loc[new.index[3], "outdoor_temp_c"] = np.nan
    y = predict(hourly_fit.pipeline, new)
    assert y.shape == (5,)
    assert np.isnan(y[[1, 3]]).all() and np.isfinite(y[[0, 2, 4]]).all()
    ok = new.iloc[[0, 2, 4]]
    assert np.allclose(y[[0, 2, 4]], hourly_fit.pipeline.predict(ok))
    # the in-sample residuals are exactly actual minus the stored model's prediction
    rows = hourly_df.loc[hourly_fit.train_index]
    assert np.allclose(rows["energy_kwh"] - predict(hourly_fit.pipeline, rows), hourly_fit.train_residuals)


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
    assert extrapolation_flags(df, ranges).tolist() == [False, True, True, True, False, False]
    # 5 % tolerance of the production range covers +1 unit but not +5 degrees on temperature
    flags = extrapolation_flags(df, ranges, tolerance=0.05)
    assert flags.tolist() == [False, False, False, hi_t + 5 > hi_t + 0.05 * (hi_t - lo_t), False, False]
    with pytest.raises(ValueError):
        extrapolation_flags(df.drop(columns="outdoor_temp_c"), ranges)


# --------------------------------------------------------------------------
# artifacts
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# other shapes of data
# --------------------------------------------------------------------------


def test_monthly_fit():
    rng = np.random.default_rng(11)
    ts = pd.date_range("2021-01-01", periods=36, freq="MS", tz="UTC")
    temp = 10 + 10 * np.sin(2 * np.pi * np.arange(36) / 12) + rng.normal(0, 1, 36)
    energy = 5000 + 300 * np.maximum(12 - temp, 0) + rng.normal(0, 100, 36)
    r = fit_baseline(pd.DataFrame({"timestamp": ts, "energy_kwh": energy, "outdoor_temp_c": temp}))
    assert r.interval == "monthly" and r.features == ["outdoor_temp_c", "hdd"]
    # intercept, hdd and its searched balance point
    assert r.n_params == 3 and r.holdout_n_params == 0
    assert abs(r.balance_points["heat_balance_c"] - 12) <= 1.5
    assert r.ashrae["cv_rmse_limit"] == 0.15 and r.ashrae["passes"] is True


def test_energy_only_falls_back_to_mean(hourly_df):
    df = hourly_df.iloc[: 24 * 14][["timestamp", "energy_kwh"]]
    r = fit_baseline(df)
    assert r.algorithm == "mean" and r.features == [] and r.n_params == 1
    # the stored mean is that of every row; the holdout's is that of the rows before it
    assert np.allclose(predict(r.pipeline, df), df["energy_kwh"].mean())
    split = len(df) - round(0.2 * len(df))
    assert np.allclose(r.holdout_residuals, df["energy_kwh"].iloc[split:] - df["energy_kwh"].iloc[:split].mean())


def test_local_time_of_week_beats_utc_across_daylight_saving():
    from .synthetic import building_frame

    # February to June in Berlin: the occupants' 07:00 is 06:00 UTC before 31 March, 05:00 after.
    df = building_frame(days=130, seed=21, start="2024-02-10", rho=0.5, day_share=0.2)
    local = fit_baseline(df, time_zone="Europe/Berlin")
    utc = fit_baseline(df)
    assert local.time_zone == "Europe/Berlin" and utc.time_zone is None
    assert local.pipeline.named_steps["features"].time_zone == "Europe/Berlin"
    assert local.cv_metrics["cv_rmse"] < 0.8 * utc.cv_metrics["cv_rmse"]
    assert local.holdout_metrics["cv_rmse"] < utc.holdout_metrics["cv_rmse"]
    with pytest.raises(ValueError, match="time zone"):
        fit_baseline(df, time_zone="Berlin")

"""The design-matrix transformer and the interval inference."""


import numpy as np
import pandas as pd
import pytest

from baselines.engine.features import EnergyFeatures, infer_interval

from .synthetic import daily_frame


def test_infer_interval():
    assert infer_interval(pd.date_range("2024-01-01", periods=50, freq="h", tz="UTC")) == "hourly"
    assert infer_interval(pd.date_range("2024-01-01", periods=50, freq="15min", tz="UTC")) == "hourly"
    assert infer_interval(pd.date_range("2024-01-01", periods=50, freq="D", tz="UTC")) == "daily"
    assert infer_interval(pd.date_range("2024-01-01", periods=24, freq="MS", tz="UTC")) == "monthly"
    # a gap in the data does not change the median spacing
    ts = pd.date_range("2024-01-01", periods=100, freq="h", tz="UTC").delete(range(10, 60))
    assert infer_interval(ts) == "hourly"
    with pytest.raises(ValueError):
        infer_interval(pd.DatetimeIndex(["2024-01-01"], tz="UTC"))


# --------------------------------------------------------------------------
# EnergyFeatures
# --------------------------------------------------------------------------


def test_energy_features_columns_are_fixed(hourly_df):
    ef = EnergyFeatures(
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
    ef = EnergyFeatures(drivers=["production_units"], time_of_week=True).fit(df)
    assert ef.interval_ == "daily"
    X = ef.transform(df)
    assert X.shape == (30, 1 + 7)
    assert np.array_equal(X[:, 1:].argmax(axis=1), df["timestamp"].dt.day_of_week.to_numpy())


# --------------------------------------------------------------------------
# fit_baseline on hourly data
# --------------------------------------------------------------------------

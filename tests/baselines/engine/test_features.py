"""The design-matrix transformer and the interval inference."""


import numpy as np
import pandas as pd
import pytest

from baselines.engine.features import EnergyFeatures, check_time_zone, infer_interval

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


# --------------------------------------------------------------------------
# local time
# --------------------------------------------------------------------------


def _week_columns(ef, timestamps):
    frame = pd.DataFrame({"timestamp": timestamps, "production_units": 1.0})
    X = ef.transform(frame)
    return X[:, 1:].argmax(axis=1), X[:, 1:].sum(axis=1)


@pytest.mark.parametrize("change", ["2024-03-31", "2024-10-27"])  # Europe/Berlin: spring and autumn
def test_daylight_saving_weeks_keep_the_wall_clock_columns(change):
    ef = EnergyFeatures(drivers=["production_units"], interval="hourly", time_zone="Europe/Berlin").fit(
        pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=400, freq="h", tz="UTC"),
                      "production_units": np.arange(400.0)}))
    # Every hour of the week around the change, in UTC
    ts = pd.date_range(pd.Timestamp(change, tz="UTC") - pd.Timedelta(days=7), periods=24 * 14, freq="h", tz="UTC")
    columns, ones = _week_columns(ef, ts)
    assert (ones == 1).all()
    local = ts.tz_convert("Europe/Berlin")
    assert np.array_equal(columns, local.day_of_week * 24 + local.hour)
    # 08:00 local on the Friday before and the Tuesday after the change: the same hour of day,
    # although 08:00 is 07:00 UTC in winter and 06:00 UTC in summer.
    friday = ts[(local.day_of_week == 4) & (local.hour == 8)][0]
    tuesday = ts[(local.day_of_week == 1) & (local.hour == 8)][-1]
    assert friday.hour != tuesday.hour
    assert columns[ts.get_loc(friday)] == 4 * 24 + 8 and columns[ts.get_loc(tuesday)] == 1 * 24 + 8
    day = local.normalize() == pd.Timestamp(change, tz="Europe/Berlin")
    hours = local[day].hour
    if change == "2024-03-31":  # 02:00 does not exist: 23 hours, no reading in column Sunday 02:00
        assert day.sum() == 23 and 2 not in set(hours) and 6 * 24 + 2 not in set(columns[day])
    else:  # 02:00 happens twice: both readings in column Sunday 02:00
        assert day.sum() == 25 and (columns[day] == 6 * 24 + 2).sum() == 2


def test_utc_machines_keep_utc_columns(hourly_df):
    ef = EnergyFeatures(drivers=["production_units"], interval="hourly").fit(hourly_df.iloc[:48])
    ts = pd.date_range("2024-03-25", periods=24 * 14, freq="h", tz="UTC")
    columns, _ = _week_columns(ef, ts)
    assert np.array_equal(columns, ts.day_of_week * 24 + ts.hour)


def test_time_zone_is_checked():
    assert check_time_zone("Europe/Berlin") == "Europe/Berlin" and check_time_zone(None) is None
    for bad in ("Mars/Olympus", "", " Europe/Berlin", "../etc/passwd", 5):
        with pytest.raises(ValueError):
            check_time_zone(bad)
    with pytest.raises(ValueError, match="time zone"):
        EnergyFeatures(time_zone="Nowhere/Land").fit(daily_frame(30))


def test_occupancy_split_and_tree_columns(hourly_df):
    schedule = [1 if 8 <= k % 24 < 18 else 0 for k in range(168)]
    ef = EnergyFeatures(drivers=["production_units", "outdoor_temp_c"], heat_balance_c=15.0, interval="hourly",
                        occupancy=schedule, occupancy_split=["heat"]).fit(hourly_df)
    names = list(ef.get_feature_names_out())
    assert names[:3] == ["production_units", "hdh_occupied", "hdh_unoccupied"] and len(names) == 3 + 168
    X = ef.transform(hourly_df)
    hdh = np.maximum(15.0 - hourly_df["outdoor_temp_c"].to_numpy(), 0.0)
    assert np.allclose(X[:, 1] + X[:, 2], hdh)
    occupied = np.asarray(schedule, dtype=bool)[hourly_df["timestamp"].dt.day_of_week * 24
                                                + hourly_df["timestamp"].dt.hour]
    assert np.array_equal(X[:, 1] > 0, occupied & (hdh > 0))
    tree = EnergyFeatures(drivers=["production_units", "outdoor_temp_c"], interval="hourly", occupancy=schedule,
                          encoding="tree").fit(hourly_df)
    assert list(tree.get_feature_names_out()) == ["production_units", "outdoor_temp_c", "hour_of_day", "day_of_week",
                                                  "occupied"]
    with pytest.raises(ValueError, match="occupancy"):
        EnergyFeatures(occupancy=[1] * 100).fit(hourly_df)
    with pytest.raises(ValueError, match="occupancy"):
        EnergyFeatures(occupancy_split=["heat"]).fit(hourly_df)

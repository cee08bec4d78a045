import numpy as np

from performance.cusum import cusum_daily, percent_above


def test_cusum_sums_per_day_and_accumulates():
    days = np.array(["2026-01-01"] * 24 + ["2026-01-02"] * 24)
    predicted = np.full(48, 10.0)
    actual = predicted.copy()
    actual[24:] += 2.0  # consumption rises by 2 kWh an hour on day two
    actual[3] = np.nan
    points = cusum_daily(days, actual, predicted)
    assert [p["t"] for p in points] == ["2026-01-01", "2026-01-02"]
    assert points[0]["kwh"] == 0 and points[0]["n"] == 23
    assert points[1]["kwh"] == 48 and points[1]["cumulative_kwh"] == 48


def test_cusum_empty_and_percent_above_baseline():
    assert cusum_daily(np.array([]), np.array([]), np.array([])) == []
    assert percent_above(np.array([12.0, 12.0]), np.array([10.0, 10.0])) == 20.0
    assert percent_above(np.array([1.0]), np.array([np.nan])) is None

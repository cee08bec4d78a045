"""The numeric forecast of degradation (performance/forecast.py): known answers."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from performance.forecast import (
    Policy,
    driver_days,
    driver_excursions,
    error_growth_fit,
    first_breach,
    forecast_days,
    growth_stats,
    merge_stats,
    metric_trend,
    oos_distances,
    outside_mask,
)

DRIVERS = ["outdoor_temp_c", "production_units"]
LOWS = np.array([5.0, 10.0])
HIGHS = np.array([25.0, 50.0])
SCALES = np.array([5.0, 10.0])
START = date(2026, 1, 1)


def horizon(n: int) -> list[date]:
    return [START + timedelta(days=i) for i in range(n)]


def hourly(start: str, n_hours: int, **columns) -> pd.DataFrame:
    frame = pd.DataFrame({"timestamp": pd.date_range(start, periods=n_hours, freq="h", tz="UTC")})
    for name, values in columns.items():
        frame[name] = values
    return frame


def no_history() -> pd.DataFrame:
    return pd.DataFrame(columns=["timestamp", *DRIVERS])


def growth(base_cv: float = 0.08):
    return error_growth_fit(merge_stats(), base_cv=base_cv)


HOURLY = Policy(0.30, 0.10, 0.25)


def run(days, fc, hist=None, policy=HOURLY, **kwargs):
    dd = driver_days(days=days, drivers=DRIVERS, forecast=fc, history=no_history() if hist is None else hist)
    return dd, forecast_days(driver_days=dd, lows=LOWS, highs=HIGHS, scales=SCALES, growth=growth(), policy=policy,
                             **kwargs)


def test_out_of_range_share_is_exactly_the_share_of_hours_outside():
    rng = np.random.default_rng(3)
    n = 30 * 24
    temp = rng.uniform(-5, 30, n)
    prod = rng.uniform(0, 60, n)
    prod[::7] = np.nan  # unknown values are not outside
    fc = hourly("2026-01-01", n, outdoor_temp_c=temp, production_units=prod)
    _, result = run(horizon(30), fc)
    direct = ((temp < 5) | (temp > 25) | (prod < 10) | (prod > 50)).reshape(30, 24).mean(axis=1)
    np.testing.assert_array_equal(result["out_of_range_share"], direct)
    # boundaries are inside
    mask = outside_mask(np.array([[5.0, 10.0], [25.0, 50.0], [4.999, 20.0]]), LOWS, HIGHS)
    assert mask.tolist() == [False, False, True]


def test_a_step_of_a_driver_out_of_range_gives_the_breach_date():
    n_days = 40
    temp = np.full(n_days * 24, 15.0)
    temp[17 * 24:] = 0.0  # from day 17 on, every hour below the range
    fc = hourly("2026-01-01", n_days * 24, outdoor_temp_c=temp, production_units=30.0)
    _, result = run(horizon(n_days), fc)
    assert first_breach(result["p_breach"]) == 17
    assert result["p_breach"][:17].max() < 0.05
    assert result["out_of_range_share"][17] == 1.0

    # With the coverage rule out of play the ASHRAE limit decides: a step far below the range
    # raises the expected CV(RMSE) above 30 % from the same day.
    temp[17 * 24:] = -15.0
    fc = hourly("2026-01-01", n_days * 24, outdoor_temp_c=temp, production_units=30.0)
    _, result = run(horizon(n_days), fc, policy=Policy(0.30, 0.10, 1.01))
    assert first_breach(result["p_breach"]) == 17
    assert result["expected_cv_rmse"][17] > 0.30 > result["expected_cv_rmse"][16]
    assert np.all(result["expected_cv_rmse_high"] >= result["expected_cv_rmse"])


def test_a_partial_step_breaches_only_at_the_coverage_threshold():
    temp = np.full(10 * 24, 15.0)
    day = np.arange(10 * 24) // 24
    hour = np.arange(10 * 24) % 24
    temp[(day == 3) & (hour < 5)] = 0.0  # 5 of 24 hours: 21 %
    temp[(day == 6) & (hour < 6)] = 0.0  # 6 of 24 hours: 25 %
    fc = hourly("2026-01-01", 10 * 24, outdoor_temp_c=temp, production_units=30.0)
    _, result = run(horizon(10), fc)
    assert result["out_of_range_share"][3] == pytest.approx(5 / 24)
    assert first_breach(result["p_breach"]) == 6


def test_climatology_uses_the_same_calendar_days_of_earlier_years():
    # Two earlier years: the first January week of both was cold; the forecast covers 2 days only.
    hist = pd.concat([
        hourly("2024-01-01", 14 * 24, outdoor_temp_c=np.r_[np.full(7 * 24, -2.0), np.full(7 * 24, 15.0)],
               production_units=30.0),
        hourly("2025-01-01", 14 * 24, outdoor_temp_c=np.r_[np.full(7 * 24, 1.0), np.full(7 * 24, 12.0)],
               production_units=30.0),
    ])
    fc = hourly("2026-01-01", 48, outdoor_temp_c=15.0, production_units=30.0)
    dd, result = run(horizon(14), fc, hist)
    assert dd.source[:2] == ["forecast", "forecast"]
    assert dd.source[2:] == ["history"] * 12
    assert result["out_of_range_share"][:2].tolist() == [0.0, 0.0]
    assert result["out_of_range_share"][2:7].tolist() == [1.0] * 5
    assert result["out_of_range_share"][7:].tolist() == [0.0] * 7
    assert first_breach(result["p_breach"]) == 2
    # A forecast of one driver only: history supplies the other, hour by hour ("mixed").
    fc = hourly("2026-01-01", 14 * 24, production_units=80.0)
    dd, result = run(horizon(14), fc, hist)
    assert set(dd.source) == {"mixed"}
    assert result["out_of_range_share"].tolist() == [1.0] * 14


def test_no_forecast_and_no_history_gives_no_share_and_the_base_error():
    dd, result = run(horizon(5), no_history())
    assert dd.source == [None] * 5
    assert np.isnan(result["out_of_range_share"]).all()
    assert result["expected_cv_rmse"] == pytest.approx([0.08] * 5)
    assert first_breach(result["p_breach"]) is None


def test_error_growth_is_learned_from_residuals_outside_the_range():
    rng = np.random.default_rng(0)
    d = np.r_[np.zeros(2000), rng.uniform(0.2, 3.0, 2000)]
    e = rng.normal(0, 1, 4000) * np.sqrt(0.05 ** 2 + (0.2 * d) ** 2)
    fitted = error_growth_fit(growth_stats(d, e), base_cv=0.05)
    assert fitted.k == pytest.approx(0.2, rel=0.1)
    assert fitted.k_high > fitted.k
    prior_only = error_growth_fit(merge_stats(), base_cv=0.05)
    assert prior_only.learned_from == "prior" and prior_only.k == pytest.approx(0.10)
    # More residuals outside narrow the band.
    small = error_growth_fit(growth_stats(d[:2100], e[:2100]), base_cv=0.05)
    assert small.k_high / small.k > fitted.k_high / fitted.k


def test_oos_distances_use_the_range_each_fold_was_fitted_on():
    values = np.array([[10.0], [12.0], [14.0], [16.0], [30.0], [0.0]])
    fold = np.array([0, 0, 1, 1, 2, 2])  # the last block is the holdout: fitted on rows 0..3
    d = oos_distances(values, fold, np.array([2.0]))
    assert d.tolist() == [0.0, 0.0, 0.0, 0.0, 7.0, 5.0]


def test_metric_trend_projects_a_rising_error():
    t = -np.arange(12.0)[::-1] * 7  # weekly checks up to today
    y = 0.10 + 0.01 * (t / 7 + 11) + np.r_[0.002, -0.001] .repeat(6)
    trend = metric_trend(t, y)
    assert trend.slope == pytest.approx(0.01 / 7, rel=0.2)
    assert trend.at(np.array([70.0]))[0] > 0.30
    assert metric_trend(t[:9], y[:9]) is None
    # Scatter without a trend: the level holds.
    noise = np.random.default_rng(1).normal(0.10, 0.02, 12)
    flat = metric_trend(t, noise)
    assert flat.slope == 0 and flat.at(np.array([60.0]))[0] == pytest.approx(np.median(noise), abs=0.01)
    n_days = 120
    fc = hourly("2026-01-01", n_days * 24, outdoor_temp_c=15.0, production_units=30.0)
    _, result = run(horizon(n_days), fc, cv_trend=trend, policy=Policy(0.30, 0.10, 0.25))
    breach = first_breach(result["p_breach"])
    crossing = int(np.flatnonzero(trend.at(np.arange(n_days) + 0.5) >= 0.30)[0])
    assert breach is not None and abs(breach - crossing) <= 7


def test_excursions_name_the_driver_direction_and_first_day():
    temp = np.full(10 * 24, 15.0)
    temp[4 * 24:] = -3.0
    fc = hourly("2026-01-01", 10 * 24, outdoor_temp_c=temp, production_units=30.0)
    dd, _ = run(horizon(10), fc)
    [reason] = driver_excursions(dd, LOWS, HIGHS)
    assert (reason["driver"], reason["direction"], reason["day"], reason["value"], reason["days"]) == (
        "outdoor_temp_c", "below", 4, -3.0, 6)

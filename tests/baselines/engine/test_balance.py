"""Temperature terms: balance points over a fixed physical range, data sufficiency, the robust
keep-or-drop test on autocorrelated data, occupancy segmentation."""

import numpy as np
import pytest

from baselines.engine.balance import (
    BALANCE_RANGE_C,
    estimate_occupancy,
    search_temperature_terms,
)
from baselines.engine.features import local_day_numbers, tow_codes
from baselines.engine.fit import fit_baseline

from .synthetic import building_frame


def _search(df, time_zone="Europe/Berlin", occupancy=False, **kwargs):
    t = df["outdoor_temp_c"].to_numpy()
    y = df["energy_kwh"].to_numpy()
    codes = tow_codes(df["timestamp"], "hourly", time_zone)
    occupied = None
    if occupancy:
        schedule = estimate_occupancy(t, y, codes)
        occupied = None if schedule is None else schedule[codes].astype(bool)
    return search_temperature_terms(t, y, np.empty((len(y), 0)), codes, local_day_numbers(df["timestamp"], time_zone),
                                    interval="hourly", occupied=occupied, **kwargs)


def test_heating_balance_point_of_winter_data_is_found_above_the_95th_percentile():
    # January to mid-April: a 15 °C heating balance point lies above the 95th percentile of the
    # temperatures, where a quantile-bounded search could never put it; a few warm days (at
    # least two days' worth of hours above 15 °C) locate it.
    found = []
    for seed in range(12):
        df = building_frame(days=105, seed=seed, cool_bp=None)
        t = df["outdoor_temp_c"]
        if np.quantile(t, 0.95) >= 15.0 or (t > 15.0).sum() < 48:
            continue
        selection = _search(df)
        assert selection.cool is None
        found.append(selection.heat)
    assert len(found) >= 6
    assert all(abs(h - 15.0) <= 1.5 for h in found), found


def test_balance_points_recovered_within_1_5_degrees():
    for seed in range(3):
        r = fit_baseline(building_frame(days=270, seed=seed, heat_bp=13.0, cool_bp=24.0), time_zone="Europe/Berlin")
        assert abs(r.balance_points["heat_balance_c"] - 13.0) <= 1.5, r.balance_points
        assert abs(r.balance_points["cool_balance_c"] - 24.0) <= 1.5, r.balance_points
        cooling = building_frame(days=120, seed=seed, start="2024-05-01", heat_bp=None, cool_bp=20.0)
        assert abs(_search(cooling).cool - 20.0) <= 1.5


def test_a_degree_term_without_effect_is_dropped_in_autocorrelated_null_fits():
    # Hourly AR(1) rho = 0.9 plus day-to-day persistence, temperature seasonal and persistent:
    # an ordinary t test keeps a spurious term in most of these fits.
    kept = 0
    for seed in range(40):
        df = building_frame(days=120, seed=100 + seed, heat_bp=None, cool_bp=None, rho=0.9, day_phi=0.7)
        selection = _search(df)
        kept += selection.heat is not None or selection.cool is not None
    assert kept <= 4  # dropped in >= 90 %


@pytest.mark.slow
def test_null_terms_dropped_in_90_percent_of_nine_month_fits():
    kept = 0
    runs = 100
    for seed in range(runs):
        df = building_frame(days=270, seed=1000 + seed, heat_bp=None, cool_bp=None, rho=0.9, day_phi=0.7)
        r = fit_baseline(df, time_zone="Europe/Berlin", hyperparameters={"holdout_fraction": 0.5})
        kept += r.balance_points != {"heat_balance_c": None, "cool_balance_c": None}
    assert kept <= 0.1 * runs


def test_search_range_is_physical_and_counts_searched_parameters():
    df = building_frame(days=270, seed=4)
    selection = _search(df)
    assert BALANCE_RANGE_C == (-1.0, 32.0)
    assert selection.evidence["range_c"] == [-1.0, 32.0]
    assert selection.evidence["form"] == "both" and selection.n_searched == 2
    forms = selection.evidence["forms"]
    assert forms["both"]["passed"] and forms["both"]["adj_r2"] > forms["heat"]["adj_r2"]
    assert forms["both"]["heat"]["p"] < 0.01 and forms["both"]["heat"]["slope"] > 0


def test_data_sufficiency_refuses_terms_without_enough_days():
    # Cooling on data that reaches above 22 °C on fewer than 10 days: no cooling term, however
    # well a hinge at the few hot hours would fit.
    df = building_frame(days=120, seed=2, cool_bp=22.0, cool_slope=30.0)
    hot_days = df.loc[df["outdoor_temp_c"] > 22.0, "timestamp"].dt.tz_convert("Europe/Berlin").dt.date.nunique()
    assert hot_days < 10
    selection = _search(df)
    assert selection.cool is None or selection.cool < 22.0 - 1.5 or hot_days >= 10
    assert selection.heat is not None
    # A heating balance point must leave at least a day's worth of readings above it: with the
    # temperatures capped at 10 °C no candidate above the cap qualifies.
    cold = df.assign(outdoor_temp_c=np.minimum(df["outdoor_temp_c"], 10.0))
    assert (_search(cold).heat or 0.0) <= 10.0


def test_occupancy_schedule_and_split():
    df = building_frame(days=270, seed=6, occupied_cool_only=True)
    t, y = df["outdoor_temp_c"].to_numpy(), df["energy_kwh"].to_numpy()
    codes = tow_codes(df["timestamp"], "hourly", "Europe/Berlin")
    schedule = estimate_occupancy(t, y, codes)
    expected = np.array([1 if k // 24 < 5 and 7 <= k % 24 < 19 else 0 for k in range(168)])
    assert np.mean(schedule == expected) >= 0.95
    selection = _search(df, occupancy=True)
    assert "cool" in selection.split and selection.n_searched == 3
    # In UTC the schedule moves by an hour for half the year and is found less cleanly.
    utc = estimate_occupancy(t, y, tow_codes(df["timestamp"], "hourly"))
    assert np.mean(utc == expected) < np.mean(schedule == expected)

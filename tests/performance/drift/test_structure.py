"""The residual structure stored with a version: day-to-day persistence, within-day
autocorrelation, occupied vs unoccupied scale, bounded blocks for a bootstrap."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import lfilter

from performance.drift.reference import reference_statistics
from performance.drift.structure import MAX_BLOCKS, MAX_DAILY_MEANS, residual_structure


def _two_level(days: int, seed: int, *, day_sd=3.0, day_phi=0.7, hour_sd=2.0, hour_rho=0.8, occupied_factor=2.0):
    rng = np.random.default_rng(seed)
    n = days * 24
    hour = np.arange(n) % 24
    occupied = (hour >= 8) & (hour < 18)
    scale = np.where(occupied, occupied_factor, 1.0)
    daily = lfilter([1.0], [1.0, -day_phi], rng.normal(0, day_sd * np.sqrt(1 - day_phi**2), days))
    within = lfilter([1.0], [1.0, -hour_rho], rng.normal(0, hour_sd * np.sqrt(1 - hour_rho**2), n)) * scale
    seconds = 1_699_920_000.0 + 3600.0 * np.arange(n)  # a UTC midnight
    return np.repeat(daily, 24) + within, seconds, occupied


def test_two_level_structure_is_recovered():
    e, seconds, occupied = _two_level(2000, 1)
    s = residual_structure(e, seconds, interval_seconds=3600.0, occupied=occupied)
    assert s["daily"]["n_days"] == 2000
    # Daily means carry the day-level part plus the mean of the within-day errors.
    assert 0.3 < s["daily"]["mean_lag1"] < 0.7
    sim = s["simulation"]
    assert sim["day_sd"] == pytest.approx(3.0, rel=0.1)
    assert sim["day_phi"] == pytest.approx(0.7, abs=0.08)
    assert sim["hour_rho"] == pytest.approx(0.8, abs=0.06)
    assert sim["hour_sd"] == pytest.approx(2.0 * np.sqrt((10 * 4 + 14) / 24), rel=0.1)
    assert 0.4 < s["daily"]["variance_share"] < 0.9
    # The same hour one day later shares the day-level part: lag-24 is far above what AR(1)
    # at lag 1 would give (lag1 ** 24).
    ac = s["autocorrelation"]
    assert ac["lag24"] > 0.3 and ac["lag24"] > ac["lag1"] ** 24 + 0.2
    assert s["occupancy"]["occupied_std"] > 1.4 * s["occupancy"]["unoccupied_std"]
    assert sim["occupied_factor"] / sim["unoccupied_factor"] == pytest.approx(2.0, rel=0.1)
    share = 10 / 24
    assert share * sim["occupied_factor"] ** 2 + (1 - share) * sim["unoccupied_factor"] ** 2 == pytest.approx(1.0)


def test_structure_is_bounded_and_skips_gaps():
    e, seconds, _ = _two_level(400, 2)
    e[1000:1100] = np.nan
    s = residual_structure(e, seconds, interval_seconds=3600.0)
    blocks = s["blocks"]
    assert blocks["length"] == 168 and len(blocks["values"]) == MAX_BLOCKS
    assert all(len(b) == 168 and None not in b for b in blocks["values"])
    assert len(blocks["daily_means"]) == min(MAX_DAILY_MEANS, s["daily"]["n_days"])
    assert len(json.dumps(s)) < 40_000
    # A block is a run of consecutive readings taken from the series itself.
    first = np.asarray(blocks["values"][0])
    start = int(np.flatnonzero(np.isclose(e, first[0], rtol=1e-3))[0])
    assert np.allclose(e[start:start + 168], first, rtol=1e-3)


def test_reference_keeps_basis_and_structure():
    e, seconds, occupied = _two_level(120, 3)
    ts = (seconds * 1e9).astype("datetime64[ns]")
    reference = reference_statistics({}, e, holdout_rmse=4.0, timestamps=ts, out_of_sample=True,
                                     occupied=occupied, n_simulations=200)
    res = reference["residuals"]
    assert res["basis"] == "out_of_sample" and reference["version"] == 2
    assert res["structure"]["daily"]["n_days"] == 120
    assert res["structure"]["occupancy"]["occupied_share"] == pytest.approx(10 / 24)
    json.dumps(reference)
    plain = reference_statistics({}, e, holdout_rmse=4.0, n_simulations=200)
    assert plain["residuals"]["basis"] == "in_sample" and "structure" not in plain["residuals"]


def _with_amplitude(days: int, seed: int, amplitude_sd: float):
    # Hourly AR(1) noise plus a shift of each day's occupied hours alone (a profile amplitude).
    e, seconds, occupied = _two_level(days, seed, day_sd=0.0, day_phi=0.0, hour_sd=2.0, hour_rho=0.7,
                                      occupied_factor=1.0)
    rng = np.random.default_rng(seed + 1000)
    return e + np.repeat(rng.normal(0, amplitude_sd, days), 24) * occupied, seconds, occupied


def test_a_day_to_day_amplitude_of_the_occupied_hours_is_its_own_part():
    e, seconds, occupied = _with_amplitude(400, 4, 2.5)
    structure = residual_structure(e, seconds, interval_seconds=3600.0, occupied=occupied)
    sim = structure["occupancy_model"]
    assert sim["amplitude_sd"] == pytest.approx(2.5, rel=0.15)
    # Taken out of the other parts: the hourly noise is the AR(1) alone, no day-level bias.
    assert sim["hour_sd"] == pytest.approx(2.0, rel=0.1)
    # (Left in, it would read as a day-level sd of about 1.0: 2.5 x the occupied share 10 / 24.)
    assert sim["day_sd"] < 0.7
    assert sim["hour_rho"] == pytest.approx(0.7, abs=0.08)
    # The plain two-level fit (the change test's model where it suffices) folds it into its parts.
    plain = structure["simulation"]
    assert plain["hour_sd"] ** 2 + plain["day_sd"] ** 2 > 1.2 * (sim["hour_sd"] ** 2 + sim["day_sd"] ** 2)
    # Without one, none is invented, whatever the chance excess of the contrasts.
    for seed in range(4):
        e, seconds, occupied = _with_amplitude(60, 10 + seed, 0.0)
        assert residual_structure(e, seconds, interval_seconds=3600.0, occupied=occupied)["occupancy_model"][
            "amplitude_sd"] == 0.0
    # Heteroscedastic hourly noise (day-time errors twice as large) is no amplitude either.
    e, seconds, occupied = _two_level(2000, 1)
    assert residual_structure(e, seconds, interval_seconds=3600.0, occupied=occupied)["occupancy_model"][
        "amplitude_sd"] == 0.0
    # No schedule, no occupancy-aware fit.
    assert residual_structure(e, seconds, interval_seconds=3600.0)["occupancy_model"] is None


def test_day_level_scale_is_stored_at_the_upper_end_of_its_interval():
    # 75 days of a persistent day level (phi 0.8, 30 % of the variance): the point estimate falls
    # short of the truth in most windows, the stored scale in few; the persistence is read
    # without bias (in the median).
    covered = short = 0
    phis = []
    seeds = range(120)
    for seed in seeds:
        e, seconds, _ = _two_level(75, 500 + seed, day_sd=1.0, day_phi=0.8, hour_sd=1.5, hour_rho=0.7,
                                   occupied_factor=1.0)
        sim = residual_structure(e, seconds, interval_seconds=3600.0)["simulation"]
        assert sim["day_sd"] >= sim["day_sd_estimate"]
        covered += sim["day_sd"] >= 1.0
        short += sim["day_sd_estimate"] < 1.0
        phis.append(sim["day_phi"])
    assert covered >= 0.75 * len(seeds)
    assert short >= 0.55 * len(seeds)
    assert np.median(phis) == pytest.approx(0.8, abs=0.05)
    # Over years of days the interval closes on the estimate.
    e, seconds, _ = _two_level(2000, 3, day_sd=1.0, day_phi=0.8, hour_sd=1.5, hour_rho=0.7, occupied_factor=1.0)
    sim = residual_structure(e, seconds, interval_seconds=3600.0)["simulation"]
    assert sim["day_sd"] == pytest.approx(sim["day_sd_estimate"], rel=0.08)
    assert sim["day_sd_estimate"] == pytest.approx(1.0, rel=0.1)

"""The version's occupied hours travel with its drift reference, in local time, so that every
check knows which of its readings are occupied (the consumption-change test's noise model)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from baselines.engine.fit import fit_baseline
from enms.policy import policy_for
from performance.drift.thresholds import DriftThresholds
from performance.services.drift import drift_judge, drift_reference_build, window_occupied

ZONE = "Europe/Berlin"


def _plant(start: str, days: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    local = ts.tz_convert(ZONE)
    occupied = (local.day_of_week < 5) & (local.hour >= 6) & (local.hour < 18)
    temp = 6.0 + 4.0 * np.sin(2 * np.pi * (local.hour.to_numpy() - 9) / 24) + rng.normal(0, 2, ts.size)
    production = np.where(occupied, 50.0 + 10.0 * rng.standard_normal(ts.size), 0.0).clip(0)
    load = 40.0 + 1.2 * production + 3.0 * np.maximum(16.0 - temp, 0.0)
    # The occupied hours run higher one day than the next (a production profile's amplitude).
    amplitude = np.repeat(rng.normal(0, 6.0, days), 24) * occupied
    return pd.DataFrame({"timestamp": ts, "energy_kwh": load + amplitude + rng.normal(0, 4.0, ts.size),
                         "outdoor_temp_c": temp, "production_units": production})


def test_the_schedule_is_stored_in_local_time_and_read_back_across_daylight_saving():
    train = _plant("2025-01-20", 60)
    fit = fit_baseline(train, time_zone=ZONE)
    reference = drift_reference_build(fit=fit, frame=train)
    schedule = reference["occupancy"]
    assert schedule["time_zone"] == ZONE and len(schedule["hours"]) == 168
    hours = np.asarray(schedule["hours"], dtype=bool).reshape(7, 24)
    # Weekdays 06:00-18:00 local, give or take an hour at the shift's edges; weekends never.
    assert not hours[5:].any()
    assert hours[:5, 8:16].all() and not hours[:5, :5].any() and not hours[:5, 19:].any()
    # A week across the spring change (30 March 2025): local time is UTC+1 before it, UTC+2 after.
    week = _plant("2025-03-27", 7, seed=4)
    flags = window_occupied(reference, week["timestamp"])
    local = week["timestamp"].dt.tz_convert(ZONE)
    expected = hours[local.dt.day_of_week.to_numpy(), local.dt.hour.to_numpy()]
    assert (flags == expected).all()
    at = week["timestamp"].dt.strftime("%Y-%m-%d %H").to_numpy()
    assert not flags[at == "2025-03-31 03"].any()  # Monday 05:00 CEST
    assert flags[at == "2025-03-31 06"].all()  # Monday 08:00 CEST
    assert flags[at == "2025-03-28 07"].all() and not flags[at == "2025-03-28 18"].any()  # Friday 08:00, 19:00 CET
    # The check uses them: its change test runs at the hour with the occupancy-aware noise model.
    verdict = drift_judge(pipeline=fit.pipeline, reference=reference, frame=week, thresholds=DriftThresholds(),
                          training_window=(fit.training_start, fit.training_end), policy=policy_for(None),
                          time_zone=ZONE)
    change = verdict["consumption_change"]
    assert change["scan"] == "hourly" and change["noise"]["amplitude_sd"] > 2.0


def test_without_a_schedule_nothing_is_stored_and_no_row_is_occupied():
    train = _plant("2025-01-20", 60)
    fit = fit_baseline(train, time_zone=ZONE, hyperparameters={"time_of_week": False})
    reference = drift_reference_build(fit=fit, frame=train)
    assert "occupancy" not in reference
    assert window_occupied(reference, train["timestamp"]) is None


def _shifted_week(shift: float) -> pd.DataFrame:
    # The plant's own heating law (3 kWh per K below 16 °C) in a week `shift` K warmer or colder.
    week = _plant("2025-03-27", 7, seed=4)
    before = 3.0 * np.maximum(16.0 - week["outdoor_temp_c"], 0.0)
    week["outdoor_temp_c"] += shift
    week["energy_kwh"] += 3.0 * np.maximum(16.0 - week["outdoor_temp_c"], 0.0) - before
    return week


def test_coverage_counts_the_hours_where_extrapolating_moves_the_prediction():
    train = _plant("2025-01-20", 60)
    fit = fit_baseline(train, time_zone=ZONE)
    reference = drift_reference_build(fit=fit, frame=train)

    def judge(week):
        return drift_judge(pipeline=fit.pipeline, reference=reference, frame=week, thresholds=DriftThresholds(),
                           training_window=(fit.training_start, fit.training_end), policy=policy_for(None),
                           time_zone=ZONE)

    # Far colder than any training hour: the heating slope carries the prediction well past the
    # edge of the range, and those hours are uncovered.
    cold = judge(_shifted_week(-12.0))
    assert cold["cause"] == "coverage" and cold["severity"] == "warning"
    assert cold["coverage"]["uncovered_share"] > 0.4
    assert cold["coverage"]["uncovered_share"] > 2 * cold["coverage"]["immaterial_share"]
    # A warm spell beyond the training range: the baseline is flat above its balance point, so
    # holding the temperature at the range's edge changes nothing that matters. Counted, reported,
    # never alerted.
    warm = judge(_shifted_week(12.0))
    cover = warm["coverage"]
    assert cover["outside_share"] > 0.6 and cover["immaterial_share"] > 0.6
    assert cover["uncovered_share"] < 0.05 and cover["level"] == "none"
    assert warm["severity"] == "none" and warm["cause"] == "none"

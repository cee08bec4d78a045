"""Causes: the consumption-change test, coverage, model error and the decision between them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from performance.drift.data import _effective_size
from performance.drift.decision import consumption_change, coverage, decide, model_error
from performance.drift.reference import reference_statistics
from performance.drift.thresholds import DriftThresholds
from performance.drift.verdict import check_drift

HOUR = 3600.0


def _ar1(rng, n, rho, sd):
    e = np.zeros(n)
    e[0] = rng.standard_normal() * sd
    u = rng.standard_normal(n) * sd * math.sqrt(1 - rho * rho)
    for t in range(1, n):
        e[t] = rho * e[t - 1] + u[t]
    return e


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(7)
    n = 60 * 24
    seconds = np.arange(n) * HOUR
    temp = 8 + 4 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 2, n)
    e = _ar1(rng, n, 0.7, 8.0)
    return reference_statistics({"outdoor_temp_c": temp}, e, holdout_rmse=8.0,
                                timestamps=seconds.astype("datetime64[s]"), out_of_sample=True, n_simulations=500)


def _week(seed, step=0.0, at=80, temp_shift=0.0):
    rng = np.random.default_rng(seed)
    n = 168
    predicted = np.full(n, 100.0)
    e = _ar1(rng, n, 0.7, 8.0) + step * 100.0 * (np.arange(n) >= at)
    temp = 8 + 4 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 2, n) + temp_shift
    return e, predicted + e, {"outdoor_temp_c": temp}, (1_000 * 86400 + np.arange(n) * HOUR)


def test_a_fifteen_percent_step_is_a_located_consumption_change(reference):
    e, actual, drivers, seconds = _week(1, step=0.15, at=80)
    change = consumption_change(reference, e, actual, seconds=seconds, drivers=drivers)
    assert change["detected"] and change["direction"] == "up"
    assert abs(change["change_point"] - 80) <= 24
    assert 0.08 <= change["shift_relative"] <= 0.22
    lo, hi = change["ci_relative"]
    assert lo > 0 and lo < change["shift_relative"] < hi
    assert change["kwh_since_change"] == pytest.approx(float(e[change["change_point"]:].sum()))


def test_critical_asks_the_scan_wide_interval_to_clear_the_minimum(reference):
    # A 15 % step three days before the window's end: critical, since even the estimate minus the
    # scan-wide 95 % margin (band times its standard error) clears the 5 % minimum.
    for seed in range(5):
        e, actual, drivers, seconds = _week(seed, step=0.15, at=80)
        change = consumption_change(reference, e, actual, seconds=seconds, drivers=drivers)
        assert change["level"] == "critical" and change["ci_scan_relative"][0] >= 0.05
        assert change["scan_clears_minimum"] is True
    # A 10 % estimate whose pointwise interval clears the minimum but whose scan-wide one does not
    # (the change point is the best of every start): a warning.
    e, actual, drivers, seconds = _week(6, step=0.10, at=110)
    change = consumption_change(reference, e, actual, seconds=seconds, drivers=drivers)
    assert change["detected"] and change["shift_relative"] >= 0.10 and change["hours_after"] >= 48
    assert change["ci_relative"][0] >= 0.05 > change["ci_scan_relative"][0]
    assert change["level"] == "warning" and change["scan_clears_minimum"] is False
    # The band is the 95 % quantile of the scan's maximum statistic: wider than 1.96, narrower than
    # the detection threshold (at the per-check false-alarm rate).
    assert 1.96 < change["band"] < change["threshold"]
    half = change["band"] * (change["ci_relative"][1] - change["ci_relative"][0]) / (2 * 1.96)
    assert change["ci_scan_relative"][0] == pytest.approx(change["shift_relative"] - half)


def test_a_small_significant_shift_is_reported_not_alerted(reference):
    e, actual, drivers, seconds = _week(2, step=0.15, at=0)
    th = DriftThresholds(min_shift=0.5)
    change = consumption_change(reference, e, actual, th, seconds=seconds, drivers=drivers)
    assert change["significant"] and not change["detected"] and change["level"] == "none"


def test_stable_weeks_are_quiet(reference):
    verdicts = [check_drift(reference, d, e, y, 0, seconds=s) for e, y, d, s in (_week(seed) for seed in range(20))]
    assert sum(v["severity"] != "none" for v in verdicts) <= 1
    assert all(v["severity"] != "critical" for v in verdicts)


def test_in_range_weather_is_not_coverage_but_out_of_range_is(reference):
    e, actual, drivers, seconds = _week(3)
    assert coverage(reference, drivers, 168)["level"] == "none"
    hot = {"outdoor_temp_c": drivers["outdoor_temp_c"] + 30}
    cover = coverage(reference, hot, 168)
    assert cover["level"] == "critical" and cover["outside_share"] > 0.9
    v = check_drift(reference, hot, e, actual, 0, seconds=seconds)
    # The residuals there are as small as in training: the model carries on past its range, so
    # the hours are flagged (warning) but nothing is critical.
    assert v["cause"] == "coverage" and v["severity"] == "warning"
    assert v["coverage"]["error_ratio"] < 1.5
    # Where the model is seen to fail on the hours it extrapolates to, coverage is critical.
    worse = e * 2.5
    v = check_drift(reference, hot, worse, actual - e + worse, 0, seconds=seconds)
    assert v["cause"] == "coverage" and v["severity"] == "critical"
    assert v["coverage"]["error_pvalue"] < 0.01
    assert any("the model fails on those hours" in r for r in v["details"]["reasons"])


def test_model_error_is_the_spread_around_the_window_level_except_where_the_model_extrapolates(reference):
    e, _, _, _ = _week(5)
    usable = np.ones(168, dtype=bool)
    quiet = model_error(reference, e, usable, {})
    assert quiet["level"] == "none"
    # A level the whole week shares (a run of biased days, or a consumption change below the
    # change test's reach) is the consumption-change test's to judge, not model error: the same
    # errors 12 kWh higher (1.5 times the reference RMSE) keep the same error ratio.
    level = model_error(reference, e + 12.0, usable, {})
    assert level["level"] == "none"
    assert level["error_ratio"] == pytest.approx(quiet["error_ratio"])
    # Errors that spread wider are model error, whatever their level.
    wider = model_error(reference, 2.0 * e + 12.0, usable, {})
    assert wider["level"] == "critical" and wider["error_ratio"] >= 1.5
    # Where the model extrapolates, a bias is how it fails: counted.
    biased = model_error(reference, e + 12.0, usable, {}, around_level=False)
    assert biased["level"] != "none" and biased["error_ratio"] > level["error_ratio"] + 0.5


def test_in_sample_rows_are_counted_and_never_judged(reference):
    e, actual, drivers, seconds = _week(4, step=0.3, at=0)
    v = check_drift(reference, drivers, e, actual, 0, seconds=seconds, in_sample=np.ones(168, dtype=bool))
    assert v["severity"] == "none" and v["details"]["in_sample_rows"] == 168


def test_decide_prefers_consumption_change_and_keeps_the_others():
    d = decide({"detected": True, "level": "warning"}, {"level": "critical"}, {"level": "warning"})
    assert d["cause"] == "consumption_change" and d["severity"] == "critical"
    assert d["causes"] == {"consumption_change": "warning", "coverage": "critical", "model_error": "warning"}
    assert decide({"detected": False, "level": "none"}, {"level": "none"}, {"level": "none"})["cause"] == "none"


def test_effective_size_of_hourly_temperature_counts_days_not_one_value():
    rng = np.random.default_rng(5)
    t = np.arange(168)
    temp = 10 + 5 * np.sin(2 * np.pi * t / 24) + np.repeat(np.cumsum(rng.normal(0, 1.0, 7)), 24)
    assert _effective_size(temp) >= 7


@pytest.mark.django_db
def test_a_consumption_change_alert_never_retrains():
    from performance.services.actions import alert_auto_actions
    from performance.services.alerts import alert_raise
    from tests.factories import EnergyBaselineFactory

    model = EnergyBaselineFactory(status="active")
    alert, _ = alert_raise(machine=model.machine, model=model, model_type=model.model_type, alert_type="drift",
                           severity="critical", message="consumption change")
    policy = {"auto_retrain_on_critical": True, "notify_critical": False}
    outcome = alert_auto_actions(alert=alert, policy=policy, trigger_type="drift", retrain=False)
    assert outcome.actions == [] and outcome.recorded == ""


def _persistent_reference(rho=0.95, sd=8.0, days=60, occupied=None, seed=17):
    rng = np.random.default_rng(seed)
    n = days * 24
    seconds = np.arange(n) * HOUR
    temp = 8 + 4 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 2, n)
    e = _ar1(rng, n, rho, sd)
    if occupied is not None:
        e = e + occupied(rng, n)
    occ = (np.arange(n) % 24 >= 6) & (np.arange(n) % 24 < 18)
    return reference_statistics({"outdoor_temp_c": temp}, e, holdout_rmse=sd,
                                timestamps=seconds.astype("datetime64[s]"), out_of_sample=True, n_simulations=500,
                                occupied=occ)


def _profile_week(seed, rho=0.95, sd=8.0, step=0.0, at=80):
    rng = np.random.default_rng(seed)
    n = 168
    hour = np.arange(n) % 24
    predicted = np.where((hour >= 6) & (hour < 18), 130.0, 60.0)
    e = _ar1(rng, n, rho, sd) + step * predicted * (np.arange(n) >= at)
    temp = 8 + 4 * np.sin(2 * np.pi * np.arange(n) / 24) + rng.normal(0, 2, n)
    return e, predicted + e, {"outdoor_temp_c": temp}, (1_000 * 86400 + np.arange(n) * HOUR)


def test_the_hourly_scan_judges_where_the_hourly_model_holds():
    from performance.drift.decision import noise_model, onset_scan_applies

    persistent = _persistent_reference(rho=0.95)
    assert onset_scan_applies(persistent, noise_model(persistent))
    steady = _persistent_reference(rho=0.6)
    assert 0.5 < steady["residuals"]["structure"]["occupancy_contrast"] < 1.6
    assert onset_scan_applies(steady, noise_model(steady))

    def amplitude(rng, n):
        # The occupied hours' level varies from day to day, as a production profile's amplitude.
        occ = (np.arange(n) % 24 >= 6) & (np.arange(n) % 24 < 18)
        return np.repeat(rng.normal(0, 8.0, n // 24), 24) * occ

    varying = _persistent_reference(rho=0.6, occupied=amplitude)
    assert varying["residuals"]["structure"]["occupancy_contrast"] > 2.0
    assert not onset_scan_applies(varying, noise_model(varying))

    # An amplitude the occupancy-aware fit found rules the plain model out, even where the
    # contrast alone (first read with the amplitude folded into the plain fit) would let it
    # judge: it would read one low day as a change at its first hour. Strongly persistent hourly
    # errors keep the plain scan, calibrated for them (ARMA(2,1) errors read a spurious
    # amplitude and false-alarm on the occupancy-aware one).
    for ref, plain in ((steady, False), (persistent, True)):
        structure = ref["residuals"]["structure"]
        found = {**ref, "residuals": {**ref["residuals"], "structure": {
            **structure, "occupancy_model": {**(structure["occupancy_model"] or structure["simulation"]),
                                             "amplitude_sd": 3.0}}}}
        assert onset_scan_applies(found, noise_model(found)) is plain


def test_with_persistent_errors_a_load_proportional_step_is_found_at_its_hour():
    reference = _persistent_reference(rho=0.95)
    e, actual, drivers, seconds = _profile_week(3, step=0.10, at=80)
    change = consumption_change(reference, e, actual, seconds=seconds, drivers=drivers)
    assert change["scan"] == "hourly"
    assert change["detected"] and change["direction"] == "up"
    assert abs(change["change_point"] - 80) <= 3
    lo, hi = change["ci_relative"]
    assert lo < 0.10 < hi and lo > 0
    stable = [consumption_change(reference, *_profile_week(100 + s)[:2], seconds=seconds, drivers=drivers)
              for s in range(5)]
    assert not any(c["significant"] for c in stable)


@pytest.mark.slow
def test_the_hourly_scan_false_alarm_rate_is_its_level():
    # At a per-check rate of 25 % the scan runs at a fifth of it, 5 %: stable weeks of the very
    # process the reference describes must alarm at about that rate.
    reference = _persistent_reference(rho=0.95)
    th = DriftThresholds(change_false_alarm=0.25)
    hits = 0
    runs = 200
    for s in range(runs):
        e, actual, drivers, seconds = _profile_week(1000 + s)
        hits += consumption_change(reference, e, actual, th, seconds=seconds, drivers=drivers)["significant"]
    assert 0.015 <= hits / runs <= 0.095


def test_a_lone_meter_spike_is_neither_a_change_nor_model_error_but_a_step_still_is():
    reference = _persistent_reference(rho=0.95)
    for seed in range(6):
        e, actual, drivers, seconds = _profile_week(500 + seed)
        for size in (0.5, 2.0):
            spiked = e.copy()
            spiked[100] += size * 130.0
            result = check_drift(reference, drivers, spiked, actual - e + spiked, 0, DriftThresholds(),
                                 seconds=seconds)
            assert result["consumption_change"]["spike_hours"] == 1
            assert not result["consumption_change"]["significant"]
            assert result["model_error"]["level"] == "none"
    e, actual, drivers, seconds = _profile_week(3, step=0.10, at=80)
    result = check_drift(reference, drivers, e, actual, 0, DriftThresholds(), seconds=seconds)
    assert result["consumption_change"]["spike_hours"] == 0
    assert result["consumption_change"]["detected"] and abs(result["consumption_change"]["change_point"] - 80) <= 3


def _amplitude(rng, n, sd=8.0):
    # The occupied hours' level varies from day to day, as a production profile's amplitude.
    occ = (np.arange(n) % 24 >= 6) & (np.arange(n) % 24 < 18)
    return np.repeat(rng.normal(0, sd, n // 24 + 1), 24)[:n] * occ


def _amplitude_week(seed, step=0.0, at=80):
    e, actual, drivers, seconds = _profile_week(seed, rho=0.6, step=step, at=at)
    rng = np.random.default_rng(seed + 5000)
    noise = _amplitude(rng, e.size)
    occ = (np.arange(e.size) % 24 >= 6) & (np.arange(e.size) % 24 < 18)
    return e + noise, actual + noise, drivers, seconds, occ


def test_with_the_occupied_hours_known_the_scan_models_a_profile_amplitude():
    from performance.drift.decision import has_occupancy_model, noise_model, onset_scan_applies

    reference = _persistent_reference(rho=0.6, occupied=_amplitude)
    assert noise_model(reference, occupancy=True)["amplitude_sd"] == pytest.approx(8.0, rel=0.3)
    # The plain model does not describe it, the occupancy-aware one does.
    assert not onset_scan_applies(reference, noise_model(reference)) and has_occupancy_model(reference)
    e, actual, drivers, seconds, occ = _amplitude_week(200)
    assert consumption_change(reference, e, actual, seconds=seconds, drivers=drivers)["scan"] == "daily"
    # Stable weeks of that process: the day-to-day amplitude is noise, not a change.
    significant = []
    for s in range(12):
        e, actual, drivers, seconds, occ = _amplitude_week(200 + s)
        change = consumption_change(reference, e, actual, seconds=seconds, drivers=drivers, occupied=occ)
        assert change["scan"] == "hourly"
        significant.append(change["significant"])
    assert sum(significant) == 0
    # Modelled without the amplitude, the same weeks read as changes.
    plain = {**reference, "residuals": {**reference["residuals"], "structure": {
        **reference["residuals"]["structure"],
        "occupancy_model": {**reference["residuals"]["structure"]["occupancy_model"], "amplitude_sd": 0.0}}}}
    blind = [consumption_change(plain, *_amplitude_week(200 + s)[:2], seconds=seconds, drivers=drivers,
                                occupied=occ)["significant"] for s in range(12)]
    assert sum(blind) >= 1
    # A 15 % step is found near its hour.
    e, actual, drivers, seconds, occ = _amplitude_week(3, step=0.15, at=80)
    change = consumption_change(reference, e, actual, seconds=seconds, drivers=drivers, occupied=occ)
    assert change["detected"] and change["direction"] == "up"
    assert abs(change["change_point"] - 80) <= 6


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.8])
def test_effective_dof_of_a_mean_square_counts_the_day_level_within_a_day(phi):
    from performance.drift.decision import _effective_dof

    # Exact degrees of freedom of the mean square of a week of hourly two-level noise (days
    # aligned with midnight): n^2 var^2 / sum_ij C_ij^2.
    n, hour_sd, rho, day_sd = 168, 6.0, 0.85, 3.5
    t = np.arange(n)
    day = t // 24
    cov = hour_sd**2 * rho ** np.abs(t[:, None] - t[None, :]) + day_sd**2 * phi ** np.abs(day[:, None] - day[None, :])
    exact = n * n * cov[0, 0] ** 2 / float((cov * cov).sum())
    noise = {"hour_sd": hour_sd, "hour_rho": rho, "day_sd": day_sd, "day_phi": phi}
    assert _effective_dof(noise, n, 3600.0) == pytest.approx(exact, rel=0.1)
    # The day level lowers them even when days are independent of each other.
    assert _effective_dof(noise, n, 3600.0) < 0.85 * _effective_dof({**noise, "day_sd": 0.0}, n, 3600.0)

"""Key rates of ``bench/detection.py`` on the product path (default fit, stored reference from the
training hook, the service's verdict), with fixed seeds and few runs; the bench gives the table."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests import __file__ as _tests_init

pytestmark = pytest.mark.slow

ROOT = __import__("pathlib").Path(_tests_init).resolve().parent.parent


def _bench():
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("detection_bench", ROOT / "bench" / "detection.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("process", ["ar1_0.7", "ar1_0.9", "day_bias", "amplitude", "daytime_x2", "arma21"])
def test_stable_machines_quiet_and_steps_found_on_the_product_path(process):
    bench = _bench()
    runs = [bench.run(process, seed) for seed in (11, 12, 13, 14)]
    # Stable: no critical in 30 daily checks, no alarm in the weekly check, no false
    # consumption change in a warm spell.
    assert not any(r["weekly_critical"] or r["daily_critical"] for r in runs)
    # A warm week read as a consumption change: none here on AR(1) 0.7 and day-level bias; on
    # the persistent processes the bench measures a few percent (bench/results.md), so at most
    # one of four.
    assert sum(r["warm_false_change"] for r in runs) <= (0 if process in ("ar1_0.7", "day_bias") else 1)
    assert not any(r["weekly_alarm"] for r in runs)
    # A warm spell beyond the training range where the baseline is flat (above its balance
    # point) is no coverage alert either: the bench measures 0-3.7 % of warm weeks with any alarm.
    assert sum(r["warm_any"] for r in runs) <= 1
    # Thirty daily checks of a stable machine: at most one of four runs with any alarm (the
    # bench measures 1.7-7 % of runs; on ARMA(2,1) seed 11 holds one consumption-change warning,
    # never a critical).
    assert sum(r["daily_any"] for r in runs) <= 1
    # A 10 % step upwards is found as a consumption change within 7 days and dated within a
    # day, also on persistent errors (AR(1) 0.9, day-level bias, ARMA(2,1)), where the hourly
    # scan reads the jump at the change and at every rise of the daily profile after it; and
    # with a profile amplitude or day-time errors, where it models the occupied hours.
    found = [r["step10"] for r in runs if r["step10"]["found"]]
    assert len(found) >= 3
    assert sum(abs(s["cp_err_h"]) <= 24 for s in found) >= 3


@pytest.mark.parametrize(("process", "seed", "day"), [("amplitude", 20255217, 2), ("day_bias", 20254226, 20)])
def test_a_stable_window_that_only_just_crosses_the_scan_threshold_is_never_critical(process, seed, day):
    # Two stable machines of the bench's 300 (seed, daily check) that were called critical: the
    # scan's best start only just crossed its threshold, and the estimate there, the best of every
    # start, was a 10-13 % shift whose pointwise 95 % interval cleared the 5 % minimum. The
    # scan-wide 95 % interval (simultaneous over the scanned starts) does not: a warning.
    bench = _bench()
    _, train_end, judge = bench.product(process, seed)
    verdict = judge(train_end + 7 * 24 + 24 * day)
    change = verdict["consumption_change"]
    assert change["detected"] and abs(change["shift_relative"]) >= 0.10 and change["hours_after"] >= 48
    assert min(abs(v) for v in change["ci_relative"]) >= 0.05
    low, high = change["ci_scan_relative"]
    assert low * high <= 0 or min(abs(low), abs(high)) < 0.05
    assert verdict["severity"] == "warning" and verdict["cause"] == "consumption_change"
    assert any("does not clear the 5.0 % minimum" in r for r in verdict["details"]["reasons"])


def test_a_warm_week_hides_a_step_by_the_hours_it_sets_aside_not_by_the_baseline():
    # bench/detection.py --decompose on one AR(1) 0.7 machine of the bench's 300: a 10 % step is
    # found within 7 days in a cold week, but not while a +6 K spell covers the same days. With
    # the true load in place of the fitted baseline it is still missed on the hours the product
    # judges (densely covered training ground), and found once every hour is judged: the warm
    # hours the coverage rule sets aside, not the baseline's error, hide it here.
    bench = _bench()
    r = bench.decompose("ar1_0.7", 20252206)
    assert r["fitted: 10 % ≤7 d"] and not r["fitted: 10 %+warm ≤7 d"]
    assert not r["true: 10 %+warm ≤7 d"]
    assert r["true, every hour: 10 %+warm ≤7 d"]
    assert not any(r[f"{label}: warm false change"] for label, _, _ in bench.DECOMPOSITION)


def test_the_true_baseline_of_the_decomposition_predicts_the_simulated_load_exactly():
    bench = _bench()
    m = bench.machine("ar1_0.7", 20252206)
    frame = bench._frame(m, 100, 268, warm=(150, 200))
    residuals = frame["energy_kwh"].to_numpy() - bench.TrueBaseline().predict(frame)
    assert abs(residuals - m["noise"][100:268]).max() < 1e-9


def test_a_longer_training_keeps_the_monitoring_of_the_same_machine():
    # --train-days pairs its runs with the default ones: the last 75 training days and the
    # monitoring (drivers, load, noise, the step's hour) are the default machine's, a longer
    # training only reaches further back.
    bench = _bench()
    default, at = bench.machine("day_bias", 20253210), bench._step_start(20253210)
    bench.set_train_days(365)
    longer, at_longer = bench.machine("day_bias", 20253210), bench._step_start(20253210)
    tail = (75 + bench.MONITOR_DAYS) * 24
    assert len(longer["ts"]) == (365 + bench.MONITOR_DAYS) * 24
    for key in ("ts", "temp", "production", "load", "noise", "occupied"):
        assert (longer[key][-tail:] == default[key]).all(), key
    assert longer["ts"][at_longer] == default["ts"][at]
    assert longer["ts"][365 * 24] == default["ts"][75 * 24] == bench.MONITOR_START
    assert longer["noise_scale"] == default["noise_scale"]
    bench.set_train_days(40)
    shorter = bench.machine("day_bias", 20253210)
    assert (shorter["noise"] == default["noise"][35 * 24:]).all()
    with pytest.raises(ValueError):
        bench.set_train_days(20)


def test_a_year_of_training_pins_the_day_level_scale_down():
    # The day-level scale is stored at the upper end of its interval (structure.DAY_SD_CONFIDENCE):
    # a few dozen days of a bias carried from day to day (AR 0.8) say little about its size or its
    # persistence. On the same eight day-level-bias machines (their monitoring unchanged), a year
    # of training stores every scale at or a little above the simulated 0.548 (sqrt(0.3) of the
    # noise scale); 75 days scatter it (0.46-1.76 here: one machine's persistence read as 0.99).
    bench = _bench()
    bench._setup()
    from performance.drift.decision import noise_model

    def stored(days):
        bench.set_train_days(days)
        ratios = []
        for seed in range(20254000, 20254008):
            m, _, _, reference = bench._fitted("day_bias", seed)
            ratios.append(noise_model(reference)["day_sd"] / m["noise_scale"])
        return sorted(ratios)

    short, year = stored(75), stored(365)
    assert all(0.548 <= r <= 0.548 * 1.45 for r in year)
    assert max(short) > 2 * max(year)
    assert min(short) < 0.548
    assert year[4] < short[4]

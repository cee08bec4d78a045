"""Tests of performance.drift: statistics against scipy and hand-worked values,
and seeded simulations of an hourly machine whose residuals are AR(1).

The simulated machine runs continuously with a daily production profile and
short random stops; its consumption is linear in production, operating hours
and outdoor temperature; residuals are AR(1) with rho in {0.5, 0.7, 0.9} and a
marginal standard deviation of 8 % of the mean load.  Each machine's baseline
is fitted by least squares on 75 days and scored on a 14-day holdout, so the
checks also face the baseline's own estimation error.  Measured with these
seeds (208 stable weekly checks, 200 step runs per rho):

    rho                          0.5     0.7     0.9
    stable weeks raising drift   1.0 %   1.9 %   1.9 %
      of which change detector   0.5 %   1.0 %   1.0 %
    +10 % step found in 7 days   100 %   100 %   100 %
    median delay (daily checks)  31 h    41 h    37 h
    change point within +-24 h   96 %    87 %    82 %
    median |change-point error|  3 h     5 h     0 h
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from performance import drift
from performance.drift import (
    DriftThresholds,
    check_drift,
    concept_drift,
    data_drift,
    drift_verdict,
    reference_statistics,
)

DRIVERS = ("production_units", "outdoor_temp_c", "operating_hours")
RHOS = (0.5, 0.7, 0.9)
TRAIN_HOURS = 75 * 24
HOLDOUT_HOURS = 14 * 24
WEEK = 168
DAY = 24


# ---------------------------------------------------------------------------
# synthetic machine


def _ar1(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    """Stationary AR(1) series with marginal standard deviation ``sd``."""
    u = rng.standard_normal(n) * sd * math.sqrt(1.0 - rho * rho)
    u[0] = rng.standard_normal() * sd
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -rho], u)


def simulate_drivers(rng: np.random.Generator, n: int, *, start_hour: int = 0,
                     temp_mean: float = 4.0) -> dict[str, np.ndarray]:
    """Continuously running machine with a daily production profile and short
    random stops; outdoor temperature with a daily cycle and persistent
    weather anomalies (hourly AR(1), rho 0.97, sd 3 K)."""
    hour_of_day = (start_hour + np.arange(n)) % 24
    stopped = rng.random(n) < 0.04
    operating = np.where(stopped, rng.uniform(0.0, 0.5, n), 1.0)
    profile = 1.0 + 0.3 * np.sin(2 * np.pi * (hour_of_day - 10) / 24)
    production = operating * 100.0 * profile * np.clip(rng.normal(1.0, 0.08, n), 0.0, None)
    temp = temp_mean + 4.0 * np.sin(2 * np.pi * (hour_of_day - 9) / 24) + _ar1(rng, n, 0.97, 3.0)
    return {"production_units": production, "outdoor_temp_c": temp, "operating_hours": operating}


def true_load(d: dict[str, np.ndarray]) -> np.ndarray:
    return 60.0 + 0.9 * d["production_units"] + 40.0 * d["operating_hours"] - 1.5 * d["outdoor_temp_c"]


def design(d: dict[str, np.ndarray]) -> np.ndarray:
    return np.column_stack([np.ones_like(d[DRIVERS[0]])] + [d[k] for k in DRIVERS])


@dataclass
class Machine:
    rho: float
    sigma: float
    coef: np.ndarray
    reference: dict
    n_params: int
    temp_mean: float


@functools.cache
def train_machine(seed: int, rho: float, *, temp_mean: float = 4.0, noise: float = 0.08) -> Machine:
    """Fit the baseline on 75 days, score a 14-day holdout, build the reference."""
    rng = np.random.default_rng(seed)
    n = TRAIN_HOURS + HOLDOUT_HOURS
    d = simulate_drivers(rng, n, temp_mean=temp_mean)
    load = true_load(d)
    sigma = noise * float(load.mean())
    actual = load + _ar1(rng, n, rho, sigma)
    x = design(d)
    train = slice(0, TRAIN_HOURS)
    hold = slice(TRAIN_HOURS, n)
    coef, *_ = np.linalg.lstsq(x[train], actual[train], rcond=None)
    resid = actual - x @ coef
    holdout_rmse = float(np.sqrt(np.mean(resid[hold] ** 2)))
    reference = reference_statistics({k: v[train] for k, v in d.items()}, resid[train],
                                     holdout_rmse=holdout_rmse, holdout_n=HOLDOUT_HOURS)
    return Machine(rho, sigma, coef, reference, x.shape[1], temp_mean)


def monitor_stream(machine: Machine, rng: np.random.Generator, n: int, *, start_hour: int,
                   temp_mean: float | None = None) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Drivers, actual consumption and model prediction after the holdout."""
    d = simulate_drivers(rng, n, start_hour=start_hour,
                         temp_mean=machine.temp_mean if temp_mean is None else temp_mean)
    actual = true_load(d) + _ar1(rng, n, machine.rho, machine.sigma)
    return d, actual, design(d) @ machine.coef


def run_check(machine: Machine, d: dict[str, np.ndarray], actual: np.ndarray, predicted: np.ndarray,
              lo: int, hi: int, thresholds: DriftThresholds | None = None) -> dict:
    return check_drift(machine.reference, {k: v[lo:hi] for k, v in d.items()},
                       actual[lo:hi] - predicted[lo:hi], actual[lo:hi], machine.n_params, thresholds)


def make_benchmark_case(n_current: int = 10_000, n_reference: int = 100_000, n_drivers: int = 4,
                        seed: int = 0) -> tuple[dict, dict[str, np.ndarray], np.ndarray, np.ndarray, int]:
    """Inputs of one check of ``n_current`` rows and ``n_drivers`` drivers.

    Returns ``(reference, current_drivers, residuals, actual, n_params)`` for
    ``check_drift``; a benchmark times that call against numpy-only KS + PSI.
    """
    rng = np.random.default_rng(seed)
    names = [f"driver_{i}" for i in range(n_drivers)]
    ref_drivers = {k: rng.normal(i, 1.0 + i, n_reference) for i, k in enumerate(names)}
    reference = reference_statistics(ref_drivers, _ar1(rng, 2000, 0.7, 5.0), holdout_rmse=5.2)
    current = {k: rng.normal(i + 0.1, 1.0 + i, n_current) for i, k in enumerate(names)}
    residuals = _ar1(rng, n_current, 0.7, 5.0)
    actual = 100.0 + residuals
    return reference, current, residuals, actual, n_drivers + 1


def _assert_json_clean(obj) -> None:
    json.dumps(obj, allow_nan=False)
    if isinstance(obj, dict):
        for v in obj.values():
            _assert_json_clean(v)
    elif isinstance(obj, list):
        for v in obj:
            _assert_json_clean(v)
    else:
        assert obj is None or type(obj) in (bool, int, float, str)


# ---------------------------------------------------------------------------
# simulation experiments


def machine_seeds(rho: float, n_machines: int) -> list[int]:
    return [1000 + 17 * m + int(round(rho * 100)) for m in range(n_machines)]


def stable_weekly_checks(rho: float, n_machines: int = 8, weeks_per_machine: int = 26,
                         thresholds: DriftThresholds | None = None) -> list[dict]:
    """Non-overlapping weekly checks of stable machines."""
    results = []
    for m, seed in enumerate(machine_seeds(rho, n_machines)):
        machine = train_machine(seed, rho)
        rng = np.random.default_rng(5000 + 31 * m + int(round(rho * 100)))
        n = weeks_per_machine * WEEK
        d, actual, predicted = monitor_stream(machine, rng, n, start_hour=TRAIN_HOURS + HOLDOUT_HOURS)
        for w in range(weeks_per_machine):
            results.append(run_check(machine, d, actual, predicted, w * WEEK, (w + 1) * WEEK, thresholds))
    return results


@dataclass
class StepRun:
    step: int
    delay: float | None
    change_point_error: float | None


def step_runs(rho: float, n_machines: int = 8, runs_per_machine: int = 25, step: float = 0.10,
              thresholds: DriftThresholds | None = None) -> list[StepRun]:
    """A consumption step of ``step`` (x 1.1) at a random hour, checked daily.

    Each stream starts with one stable week; the step falls at a random hour
    of the following day (and a random time of week).  The check at the end
    of every following day looks at the latest 168 hours, as the product
    does.  The delay is the time from the step to the end of the first check
    that reports drift; the change-point error is the reported start minus
    the true one.
    """
    runs = []
    for m, seed in enumerate(machine_seeds(rho, n_machines)):
        machine = train_machine(seed, rho)
        rng = np.random.default_rng(7000 + 29 * m + int(round(rho * 100)))
        for _ in range(runs_per_machine):
            n = WEEK + 9 * DAY
            start = TRAIN_HOURS + HOLDOUT_HOURS + int(rng.integers(0, WEEK))
            d, actual, predicted = monitor_stream(machine, rng, n, start_hour=start)
            at = WEEK + int(rng.integers(0, DAY))
            actual = actual.copy()
            actual[at:] *= 1.0 + step
            delay = error = None
            for end in range(WEEK + DAY, n + 1, DAY):
                result = run_check(machine, d, actual, predicted, end - WEEK, end, thresholds)
                if result["drift_detected"]:
                    delay = end - at
                    cp = result["concept_drift"]["change_point"]
                    error = None if cp is None else end - WEEK + cp - at
                    break
            runs.append(StepRun(at, delay, error))
    return runs


def summarise_steps(runs: list[StepRun]) -> dict[str, float]:
    delays = np.array([np.inf if r.delay is None else r.delay for r in runs], dtype=float)
    errors = np.array([np.nan if r.change_point_error is None else r.change_point_error for r in runs])
    detected = delays <= 7 * DAY
    located = detected & np.isfinite(errors)
    return {
        "detected_7d": float(detected.mean()),
        "median_delay_h": float(np.median(delays)),
        "located_share": float(located.sum() / max(detected.sum(), 1)),
        "change_point_within_24h": float(np.mean(np.abs(errors[located]) <= 24)) if located.any() else 0.0,
        "median_abs_change_point_error_h": float(np.median(np.abs(errors[located]))) if located.any() else math.nan,
    }


def summer_checks(rho: float, n_machines: int = 4, weeks: int = 4) -> list[dict]:
    """Baseline trained in winter (mean 2 C), checked in summer (mean 20 C).

    The consumption really is linear in temperature, so the extrapolating
    model stays correct: only the drivers move.
    """
    results = []
    for m in range(n_machines):
        machine = train_machine(3000 + m, rho, temp_mean=2.0)
        rng = np.random.default_rng(9000 + m)
        d, actual, predicted = monitor_stream(machine, rng, weeks * WEEK, start_hour=0, temp_mean=20.0)
        for w in range(weeks):
            results.append(run_check(machine, d, actual, predicted, w * WEEK, (w + 1) * WEEK))
    return results


# ---------------------------------------------------------------------------
# data drift: statistics against hand-worked values and scipy


def _one_driver_reference(x: np.ndarray, **kwargs) -> dict:
    return reference_statistics({"x": x}, np.random.default_rng(0).normal(size=500),
                                holdout_rmse=None, n_simulations=200, **kwargs)


def test_psi_hand_worked_example():
    # Reference 0..999: decile edges 99.9, 199.8, ..., 899.1 (linear
    # interpolation at 999 * k / 10) and 10 % per bin.
    reference = _one_driver_reference(np.arange(1000.0))
    ref = reference["drivers"]["x"]
    assert ref["psi_edges"] == pytest.approx([99.9 * k for k in range(1, 10)])
    assert ref["psi_reference"] == pytest.approx([0.1] * 10)
    # Current: 20 % in each of the first two bins, 10 % in bins 3-8, none in
    # the last two (floored at 1e-4):
    #   PSI = 2 * (0.2 - 0.1) ln(0.2 / 0.1) + 2 * (1e-4 - 0.1) ln(1e-4 / 0.1)
    #       = 0.2 ln 2 + 0.1998 ln 1000 = 0.1386294 + 1.3801695 = 1.5187989
    current = np.concatenate([np.full(20, 5.0), np.full(20, 150.0), np.repeat(np.arange(250.0, 800.0, 100.0), 10)])
    # Order does not change PSI, KS or Wasserstein, but blocks of equal values would look like a
    # strongly autocorrelated series and shrink the effective sample size.
    current = np.random.default_rng(1).permutation(current)
    assert current.size == 100
    result = data_drift(reference, {"x": current})["x"]
    assert result["psi"] == pytest.approx(0.2 * math.log(2) + 0.1998 * math.log(1000), abs=1e-9)
    assert result["psi"] == pytest.approx(1.5187989, abs=1e-6)
    assert result["drifted"] and result["level"] == "critical"
    # The reference against itself: every bin matches.
    same = data_drift(reference, {"x": np.arange(1000.0)})["x"]
    assert same["psi"] == pytest.approx(0.0, abs=1e-12)
    assert same["ks_statistic"] <= 1e-3 + 1e-12  # the sketch's resolution, 1 / (1001 - 1)
    assert same["out_of_range_share"] == 0.0


CASES = {
    "normal shift": (lambda r: r.normal(0, 1, 2000), lambda r: r.normal(0.3, 1, 500)),
    "lognormal": (lambda r: r.lognormal(0, 0.5, 3000), lambda r: r.lognormal(0.1, 0.7, 800)),
    "discrete": (lambda r: r.integers(0, 5, 3000).astype(float), lambda r: r.integers(0, 6, 1000).astype(float)),
    "reference smaller than sketch": (lambda r: r.normal(0, 1, 300), lambda r: r.normal(0.2, 1.2, 10_000)),
    "large reference": (lambda r: r.normal(0, 1, 100_000), lambda r: r.normal(0.2, 1.2, 10_000)),
    "bimodal": (lambda r: np.concatenate([r.normal(-2, 0.5, 1500), r.normal(2, 0.5, 1500)]),
                lambda r: np.concatenate([r.normal(-2, 0.5, 300), r.normal(2, 0.5, 700)])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ks_and_wasserstein_match_scipy(name):
    rng = np.random.default_rng(42)
    make_ref, make_cur = CASES[name]
    ref, cur = make_ref(rng), make_cur(rng)
    result = data_drift(_one_driver_reference(ref), {"x": cur})["x"]
    ks = stats.ks_2samp(ref, cur)
    assert abs(result["ks_statistic"] - ks.statistic) <= 0.01
    w_scipy = stats.wasserstein_distance(ref, cur) / ref.std()
    assert result["wasserstein"] == pytest.approx(w_scipy, rel=0.02)
    en = ref.size * cur.size / (ref.size + cur.size)
    assert result["ks_pvalue"] == pytest.approx(
        stats.kstwobign.sf(result["ks_statistic"] * math.sqrt(en)), rel=1e-9, abs=1e-300)


def test_same_distribution_is_not_drift():
    rng = np.random.default_rng(7)
    ref, cur = rng.normal(size=5000), rng.normal(size=5000)
    result = data_drift(_one_driver_reference(ref), {"x": cur})["x"]
    assert abs(result["ks_statistic"] - stats.ks_2samp(ref, cur).statistic) <= 0.01
    assert abs(result["wasserstein"] - stats.wasserstein_distance(ref, cur) / ref.std()) <= 0.005
    assert result["psi"] < 0.01 and not result["drifted"] and result["level"] == "none"
    assert result["ks_pvalue"] > 0.05


def test_autocorrelated_driver_needs_more_evidence_than_iid_rows():
    # A warm spell: a smooth excursion within the training range. As i.i.d. rows it would look
    # like strong evidence; as the 2-3 independent values it really is, it is not drift.
    rng = np.random.default_rng(3)
    reference = _one_driver_reference(rng.normal(13, 4, 5000))
    hours = np.arange(168)
    warm = 17 + 3 * np.sin(2 * np.pi * hours / 168)
    result = data_drift(reference, {"x": warm})["x"]
    assert result["ks_pvalue"] < 0.01 < result["ks_pvalue_effective"]
    assert result["n_effective"] < 20 and not result["drifted"]
    # The same values in random order are independent evidence: drift.
    shuffled = data_drift(reference, {"x": rng.permutation(warm)})["x"]
    assert shuffled["drifted"]


def test_constant_driver():
    reference = _one_driver_reference(np.ones(1000))
    ref = reference["drivers"]["x"]
    assert ref["std"] == 0.0 and ref["min"] == ref["max"] == 1.0
    steady = data_drift(reference, {"x": np.ones(200)})["x"]
    assert steady["psi"] == pytest.approx(0.0, abs=1e-12)
    assert steady["wasserstein"] == 0.0 and steady["ks_statistic"] == 0.0
    assert not steady["drifted"]
    # 30 % of the hours idle: PSI sees the new bin below, W/max(|1|, 1) = 0.3.
    idle = data_drift(reference, {"x": np.random.default_rng(2).permutation(np.r_[np.zeros(60), np.ones(140)])})["x"]
    assert idle["wasserstein"] == pytest.approx(0.3)
    assert idle["out_of_range_share"] == pytest.approx(0.3)
    assert idle["psi"] > 0.25 and idle["drifted"] and idle["level"] == "critical"
    _assert_json_clean(idle)


def test_nan_and_empty_drivers():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=1000)
    ref[::10] = np.nan
    reference = reference_statistics({"x": ref, "empty": np.full(1000, np.nan)}, rng.normal(size=1000),
                                     holdout_rmse=1.0, n_simulations=200)
    assert reference["drivers"]["x"]["n"] == 900
    assert reference["drivers"]["empty"]["n"] == 0
    cur = rng.normal(size=300)
    cur[:50] = np.nan
    result = data_drift(reference, {"x": cur, "empty": rng.normal(size=300)})
    assert result["x"]["n"] == 250
    assert result["empty"]["psi"] is None and not result["empty"]["drifted"]
    all_nan = data_drift(reference, {"x": np.full(10, np.nan), "empty": np.full(10, np.nan)})
    assert all_nan["x"]["psi"] is None and all_nan["x"]["level"] == "none"
    _assert_json_clean(result)
    _assert_json_clean(all_nan)
    with pytest.raises(KeyError):
        data_drift(reference, {"x": cur})


def test_small_window_needs_evidence():
    # 30 rows shifted by 0.3 sd: W/sd ~ 0.3 but the KS p-value cannot rule out
    # chance, so the driver is not called drifted.
    rng = np.random.default_rng(11)
    reference = _one_driver_reference(rng.normal(size=3000))
    result = data_drift(reference, {"x": rng.normal(0.3, 1.0, 30)})["x"]
    assert result["wasserstein"] >= 0.1
    assert result["ks_pvalue"] >= 0.01 and not result["drifted"]
    big = data_drift(reference, {"x": rng.normal(0.3, 1.0, 3000)})["x"]
    assert big["drifted"] and big["wasserstein"] > 0.2


# ---------------------------------------------------------------------------
# reference statistics


def test_reference_residual_statistics_and_gaps():
    rng = np.random.default_rng(5)
    rho = 0.8
    e = _ar1(rng, 5000, rho, 2.0)
    ts = np.datetime64("2024-01-01T00:00") + np.arange(5000) * np.timedelta64(1, "h")
    ts[2500:] += np.timedelta64(10, "h")
    reference = reference_statistics({"t": rng.normal(size=5000)}, e, holdout_rmse=2.1, timestamps=ts,
                                     n_simulations=500)
    res = reference["residuals"]
    assert res["n"] == 5000
    assert res["rho"] == pytest.approx(rho, abs=0.03)
    assert res["std"] == pytest.approx(2.0, rel=0.1)
    assert res["innovation_std"] == pytest.approx(2.0 * math.sqrt(1 - rho * rho), rel=0.05)
    assert res["ess_factor"] == pytest.approx((1 - res["rho"]) / (1 + res["rho"]))
    assert res["interval_seconds"] == 3600.0
    assert res["holdout_rmse"] == 2.1
    # Intercept error of an AR(1) mean, widened a little by the slope.
    assert res["level_se"] >= 2.0 * math.sqrt((1 + rho) / (1 - rho) / 5000) * 0.9
    _assert_json_clean(reference)


def test_holdout_inflation_only_beyond_sampling_error():
    rng = np.random.default_rng(8)
    e = _ar1(rng, 2000, 0.5, 1.0)
    std = float(e.std())
    close = reference_statistics({}, e, holdout_rmse=std * 1.03, holdout_n=336, n_simulations=200)
    far = reference_statistics({}, e, holdout_rmse=std * 1.6, holdout_n=336, n_simulations=200)
    unknown_n = reference_statistics({}, e, holdout_rmse=std * 1.6, n_simulations=200)
    assert close["residuals"]["scale_inflation"] == 1.0
    assert 1.2 < far["residuals"]["scale_inflation"] < 1.6
    assert unknown_n["residuals"]["scale_inflation"] == 1.0


def test_calibration_is_deterministic_and_monotone():
    rng = np.random.default_rng(9)
    e = _ar1(rng, 1500, 0.7, 1.0)
    a = reference_statistics({}, e, holdout_rmse=None, n_simulations=1000)
    b = reference_statistics({}, e, holdout_rmse=None, n_simulations=1000)
    assert a == b
    h = np.asarray(a["residuals"]["cusum"]["h"])
    assert np.all(np.diff(h, axis=0) >= 0)  # longer windows, higher h
    assert np.all(np.diff(h, axis=1) <= 0)  # higher false-alarm level, lower h
    assert 3.0 < drift._threshold(a["residuals"]["cusum"], 168, 0.01) < 5.0
    longer = drift._threshold(a["residuals"]["cusum"], 5000, 0.01)
    assert longer > drift._threshold(a["residuals"]["cusum"], 336, 0.01)


# ---------------------------------------------------------------------------
# concept drift on synthetic residuals


def _reference_for_residuals(rho: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return reference_statistics({}, _ar1(rng, 2000, rho, 1.0), holdout_rmse=1.0, n_simulations=2000)


def test_concept_drift_locates_a_step():
    reference = _reference_for_residuals(0.7)
    rng = np.random.default_rng(21)
    e = _ar1(rng, 168, 0.7, 1.0)
    e[100:] += 2.0
    y = 100.0 + e
    result = concept_drift(reference, e, y, n_params=4)
    assert result["drifted"] and result["level"] in ("warning", "critical")
    # Over 100 seeds the error is <= 10 h in 95 % of windows; this one is 9 h.
    assert abs(result["change_point"] - 100) <= 12
    assert result["change_point"] <= result["cusum_alarm_index"] < 168
    assert result["direction"] == "increase"
    assert result["shift_estimate"] == pytest.approx(2.0, rel=0.5)
    assert result["cusum_statistic"] >= result["cusum_threshold"]
    _assert_json_clean(result)

    down = concept_drift(reference, -e, 100.0 - e, n_params=4)
    assert down["drifted"] and down["direction"] == "decrease"


def test_concept_drift_stable_and_metrics():
    reference = _reference_for_residuals(0.7)
    rng = np.random.default_rng(22)
    e = _ar1(rng, 168, 0.7, 1.0)
    y = 50.0 + rng.normal(0, 5, 168)
    result = concept_drift(reference, e, y, n_params=4)
    n, p = 168, 4
    assert result["nmbe"] == pytest.approx(e.sum() / ((n - p) * y.mean()))
    assert result["cv_rmse"] == pytest.approx(math.sqrt(np.sum(e * e) / (n - p)) / y.mean())
    assert result["error_ratio"] == pytest.approx(math.sqrt(np.mean(e * e)) / 1.0)
    assert result["change_point"] is None and result["cusum_alarm_index"] is None


def test_concept_drift_with_gaps_and_short_windows():
    reference = _reference_for_residuals(0.5)
    rng = np.random.default_rng(23)
    e = _ar1(rng, 168, 0.5, 1.0)
    e[60:] += 2.5
    e[[10, 11, 12, 80, 81]] = np.nan
    y = 100.0 + np.nan_to_num(e)
    result = concept_drift(reference, e, y, n_params=4)
    assert result["n"] == 163 and result["drifted"]
    assert abs(result["change_point"] - 60) <= 6
    _assert_json_clean(result)
    short = concept_drift(reference, e[:10], y[:10], n_params=4)
    assert not short["drifted"] and short["level"] == "none"
    empty = concept_drift(reference, np.full(5, np.nan), np.full(5, 100.0), n_params=4)
    assert empty["n"] == 0 and empty["nmbe"] is None
    _assert_json_clean(empty)


def test_step_statistic_equals_brute_force_gls():
    # The O(n) scan must equal the textbook marginal GLS test: z ~ N(S_tau theta,
    # I + N P^-1 N'), LR = u' F^+ u with F = S' V^-1 S and u = S' V^-1 z, here
    # with a gap (a Prais-Winsten restart) in the middle of the window.
    rng = np.random.default_rng(12)
    n, rho = 60, 0.7
    prev_ok = np.ones(n, dtype=bool)
    prev_ok[[0, 30]] = False
    restart = ~prev_ok
    level = drift._signature(np.ones(n), rho, prev_ok, restart)
    g = np.exp(0.3 * rng.standard_normal(n))
    sigs = [level, drift._variation(drift._signature(g, rho, prev_ok, restart), level)]
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    nuisance_cols = np.column_stack([drift._signature(x[:, j], rho, prev_ok, restart)[1] for j in range(3)])
    precision = np.diag([2.0, 5.0, 0.5])
    z = rng.standard_normal(n)
    stat, theta = drift._step_scan(z, sigs, (nuisance_cols, precision))
    v_inv = np.linalg.inv(np.eye(n) + nuisance_cols @ np.linalg.inv(precision) @ nuisance_cols.T)
    for tau in (0, 5, 29, 30, 45, 58):
        s_tau = np.zeros((n, 2))
        for i, (c, b) in enumerate(sigs):
            s_tau[tau, i] = c[tau]
            s_tau[tau + 1:, i] = b[tau + 1:]
        f = s_tau.T @ v_inv @ s_tau
        u = s_tau.T @ v_inv @ z
        assert stat[tau] ** 2 == pytest.approx(u @ np.linalg.pinv(f) @ u, rel=1e-9)
        assert theta[tau] == pytest.approx(np.linalg.solve(f, u), rel=1e-7)
        # The sequential path ends where the scan is, and at each t it is the
        # scan of the data up to t.
        path = drift._step_path(z, sigs, (nuisance_cols, precision), tau)
        assert path[-1] == pytest.approx(stat[tau], rel=1e-9)
        t = min(tau + 5, n - 1)
        truncated, _ = drift._step_scan(z[:t + 1], [(c[:t + 1], b[:t + 1]) for c, b in sigs],
                                        (nuisance_cols[:t + 1], precision))
        assert path[t - tau] == pytest.approx(truncated[tau], rel=1e-9)
    # Without a nuisance the stacked (calibration) form agrees with the single-window form.
    plain, _ = drift._step_scan(np.vstack([z, z]), sigs)
    zero = (np.zeros((n, 1)), np.eye(1))
    assert plain[1] == pytest.approx(drift._step_scan(z, sigs, zero)[0], rel=1e-12)


def test_autocorrelation_is_what_keeps_stable_weeks_quiet():
    # A textbook CUSUM (k = 0.5, h = 5) on residuals standardised by their
    # marginal sd alarms on most stable weeks with rho = 0.9; the calibrated
    # detector alarms on about cusum_false_alarm of them.
    rho = 0.9
    reference = _reference_for_residuals(rho, seed=1)
    rng = np.random.default_rng(24)
    textbook = detector = 0
    weeks = 200
    for _ in range(weeks):
        e = _ar1(rng, 168, rho, 1.0)
        hi = lo = 0.0
        alarmed = False
        for x in e:
            hi, lo = max(0.0, hi + x - 0.5), max(0.0, lo - x - 0.5)
            alarmed |= hi > 5 or lo > 5
        textbook += alarmed
        c = concept_drift(reference, e, 100.0 + e, n_params=1)
        detector += c["cusum_statistic"] >= c["cusum_threshold"]
    assert textbook / weeks > 0.5
    assert detector / weeks <= 0.03


# ---------------------------------------------------------------------------
# thresholds, verdict and score


def test_thresholds_from_dict():
    default = DriftThresholds()
    assert DriftThresholds.from_dict(None) == default
    assert DriftThresholds.from_dict({}) == default
    custom = DriftThresholds.from_dict({"psi_warning": "0.2", "psi_critical": 0.3, "min_rows": 48.0,
                                        "cusum_false_alarm": None})
    assert custom.psi_warning == 0.2 and custom.psi_critical == 0.3 and custom.min_rows == 48
    assert custom.cusum_false_alarm == default.cusum_false_alarm
    assert DriftThresholds.from_dict(custom.to_dict()) == custom
    with pytest.raises(ValueError, match="unknown"):
        DriftThresholds.from_dict({"psi_warn": 0.2})
    with pytest.raises(ValueError):
        DriftThresholds.from_dict({"psi_warning": 0.3, "psi_critical": 0.2})
    with pytest.raises(ValueError):
        DriftThresholds.from_dict({"drift_share": 0.0})
    with pytest.raises(ValueError):
        DriftThresholds.from_dict({"wasserstein": "abc"})


def _driver(psi: float, w: float, out: float = 0.0, n: int = 168) -> dict:
    th = DriftThresholds()
    drifted = psi >= th.psi_warning or w >= th.wasserstein
    return {"psi": psi, "ks_statistic": 0.1, "ks_pvalue": 1e-6 if drifted else 0.5, "wasserstein": w,
            "out_of_range_share": out, "drifted": drifted,
            "level": ("critical" if psi > th.psi_critical else "warning") if drifted else "none", "n": n}


QUIET = {"nmbe": 0.001, "cv_rmse": 0.08, "error_ratio": 1.0, "change_point": None, "cusum_alarm_index": None,
         "mean_shift_z": 0.3, "drifted": False, "level": "none", "n": 168, "error_ratio_pvalue": 0.5,
         "cusum_statistic": 2.0, "cusum_threshold": 4.0, "shift_relative": None, "direction": None}


def test_verdict_levels_and_score():
    quiet_data = {"a": _driver(0.02, 0.03), "b": _driver(0.01, 0.02), "c": _driver(0.03, 0.05)}
    v = drift_verdict(quiet_data, QUIET)
    assert v["severity"] == "none" and not v["drift_detected"] and v["reasons"] == []
    assert 0.0 <= v["drift_score"] < 1 / 3

    one = {**quiet_data, "a": _driver(0.5, 0.6)}
    v = drift_verdict(one, QUIET)
    assert v["data_drift_level"] == "none" and v["drift_share"] == pytest.approx(1 / 3)

    two = {**one, "b": _driver(0.15, 0.2)}
    v = drift_verdict(two, QUIET)
    assert v["data_drift_level"] == "warning" and v["severity"] == "warning" and v["drift_detected"]
    assert 1 / 3 <= v["drift_score"] < 2 / 3 and v["reasons"]

    both_critical = {**two, "b": _driver(0.4, 0.5)}
    assert drift_verdict(both_critical, QUIET)["severity"] == "critical"

    v = drift_verdict(quiet_data, QUIET, extrapolation_share=0.3)
    assert v["data_drift_level"] == "critical" and v["drift_score"] >= 2 / 3

    alarm = {**QUIET, "cusum_statistic": 4.4, "change_point": 100, "cusum_alarm_index": 130,
             "shift_relative": 0.04, "direction": "increase"}
    v = drift_verdict(quiet_data, alarm)
    assert v["concept_drift_level"] == "warning" and v["severity"] == "warning"
    big = {**alarm, "shift_relative": 0.12}
    v = drift_verdict(quiet_data, big)
    assert v["concept_drift_level"] == "critical" and v["drift_score"] >= 2 / 3
    assert any("level shift" in r for r in v["reasons"])

    # A large error ratio that a week of autocorrelated residuals could show
    # by chance is not drift; the same ratio with evidence is.
    noisy = {**QUIET, "error_ratio": 1.4, "error_ratio_pvalue": 0.08}
    assert drift_verdict(quiet_data, noisy)["severity"] == "none"
    clear = {**QUIET, "error_ratio": 1.4, "error_ratio_pvalue": 0.001}
    assert drift_verdict(quiet_data, clear)["severity"] == "warning"
    worse = {**QUIET, "error_ratio": 1.8, "error_ratio_pvalue": 1e-5}
    assert drift_verdict(quiet_data, worse)["severity"] == "critical"

    # Score is monotone in the evidence and bounded.
    scores = [drift_verdict(quiet_data, {**QUIET, "cusum_statistic": g})["drift_score"]
              for g in (1.0, 3.0, 4.0, 6.0, 50.0, 1e6)]
    assert scores == sorted(scores) and 0 <= scores[0] and scores[-1] < 2 / 3


def test_check_drift_output_is_plain_json():
    machine = train_machine(machine_seeds(0.7, 1)[0], 0.7)
    rng = np.random.default_rng(31)
    d, actual, predicted = monitor_stream(machine, rng, WEEK, start_hour=0)
    d["outdoor_temp_c"][:5] = np.nan
    result = run_check(machine, d, actual, predicted, 0, WEEK)
    assert set(result) == {"data_drift", "concept_drift", "drift_detected", "drift_score", "severity", "details"}
    assert set(result["data_drift"]) == set(DRIVERS)
    for v in result["data_drift"].values():
        assert {"psi", "ks_statistic", "ks_pvalue", "wasserstein", "out_of_range_share", "drifted",
                "level"} <= set(v)
    assert {"nmbe", "cv_rmse", "error_ratio", "change_point", "cusum_alarm_index", "mean_shift_z",
            "drifted", "level"} <= set(result["concept_drift"])
    assert {"data_drift_level", "concept_drift_level", "reasons", "thresholds"} <= set(result["details"])
    assert 0.0 <= result["drift_score"] <= 1.0
    assert result["drift_detected"] == (result["severity"] != "none")
    _assert_json_clean(result)
    _assert_json_clean(machine.reference)
    json.loads(json.dumps(machine.reference))


def test_benchmark_case_runs():
    reference, current, residuals, actual, n_params = make_benchmark_case(n_reference=20_000)
    result = check_drift(reference, current, residuals, actual, n_params)
    assert len(result["data_drift"]) == 4 and result["concept_drift"]["n"] == 10_000
    _assert_json_clean(result)


# ---------------------------------------------------------------------------
# seeded simulations of an hourly machine


@pytest.mark.parametrize("rho", RHOS)
def test_stable_weeks_rarely_raise_drift(rho):
    results = stable_weekly_checks(rho)
    assert len(results) >= 200
    raised = np.mean([r["drift_detected"] for r in results])
    change = np.mean([r["concept_drift"]["cusum_statistic"] >= r["concept_drift"]["cusum_threshold"]
                      for r in results])
    assert raised <= 0.05
    assert change <= 0.03


@pytest.mark.parametrize("rho", RHOS)
def test_ten_percent_step_is_detected_and_located(rho):
    summary = summarise_steps(step_runs(rho))
    assert summary["detected_7d"] >= 0.95
    assert summary["median_delay_h"] <= 48
    assert summary["located_share"] >= 0.9
    assert summary["median_abs_change_point_error_h"] <= 12
    # With rho = 0.9 most of the information on the start is the first hour's
    # jump (z ~ 2.9), so a noise spike elsewhere sometimes wins (82 % measured).
    assert summary["change_point_within_24h"] >= 0.75


@pytest.mark.parametrize("rho", RHOS)
def test_summer_after_winter_training_is_data_drift_only(rho):
    results = summer_checks(rho)
    for r in results:
        temp = r["data_drift"]["outdoor_temp_c"]
        assert temp["drifted"] and temp["level"] == "critical"
        assert temp["out_of_range_share"] >= 0.5
        assert r["details"]["data_drift_level"] == "critical" and r["drift_detected"]
        assert not r["data_drift"]["production_units"]["drifted"]
    concept = [r["details"]["concept_drift_level"] != "none" for r in results]
    assert np.mean(concept) <= 0.1

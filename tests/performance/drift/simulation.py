"""A seeded simulated hourly machine whose residuals are AR(1), for the drift tests.

The simulated machine runs continuously with a daily production profile and
short random stops; its consumption is linear in production, operating hours
and outdoor temperature; residuals are AR(1) with rho in {0.5, 0.7, 0.9} and a
marginal standard deviation of 8 % of the mean load.  Each machine's baseline
is fitted by least squares on 75 days and scored on a 14-day holdout, so the
checks also face the baseline's own estimation error.  The rates it gives are
tabulated in ``test_simulation.py``.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

import numpy as np

from performance.drift.reference import reference_statistics
from performance.drift.thresholds import DriftThresholds
from performance.drift.verdict import check_drift

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
    that reports the step as a consumption change (the cause a step has, and
    the one that never retrains by itself); the change-point error is the
    reported start minus the true one.
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
                if result["cause"] == "consumption_change":
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

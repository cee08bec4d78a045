"""Detection bench on the product path: false alarms, detection, delay, localisation and kWh.

    python bench/detection.py [--runs 40] [--processes all] [--workers 2] [--json out.json]
                              [--warm-bias | --decompose | --oracle]

Every run simulates one hourly machine (a heating load in outdoor temperature, a production
load on a weekday day-shift profile, a base load) for 75 training days and 45 monitoring days,
with one of the residual processes below, and then runs exactly what the product runs:

* the default fit (``baselines.engine.fit.fit_baseline``, the engine's defaults),
* the stored drift reference from the training hook (``settings.ENMS_TRAINING_REFERENCE_HOOK``),
* the verdict of ``performance.services.drift.drift_judge``, the entry point of every drift check
  of the service (the same thresholds, the same stored reference, windows of the latest 7 days).

Residual processes (marginal sd 8 % of the mean load): ``ar1_0.5``/``ar1_0.7``/``ar1_0.9``;
``day_bias`` (AR(1) 0.7 hourly plus a day-level bias carrying 30 % of the variance, day to day
AR 0.8); ``amplitude`` (the occupied-hours profile's amplitude varies day to day, 30 % of the
variance); ``daytime_x2`` (AR(1) 0.7 with errors twice as large in occupied hours); ``arma21``
(AR roots 0.92 and 0.38, MA 0.4).

Scenarios per run, each on the same fit: one stable weekly check; 30 daily checks of a stable
machine; a +6 K warm spell over the checked week (no change in the machine); a +10 % step
(daily checks for 7 days after it), with and without a warm spell over the same days; a +7.5 %
step (1.5 x the policy minimum; daily checks for 14 days).  Rates come with a 95 % Wilson upper
bound or error bar; ``--runs`` sets the runs per process. "of which change" counts the stable
machines whose 30-day alarms include a consumption change (the rest are coverage, when the
weather leaves the training ground, or model error).

``--warm-bias`` prints the default fit's own error in the week after the step, without noise,
cold and in the warm spell: how far the baseline itself is off where the warm week takes it.

``--decompose`` judges the warm scenarios of each run four ways, the fitted baseline or the true
load (:class:`TrueBaseline`), on the hours the product judges (densely covered training ground) or
on every hour: how much of a step hidden by a warm week is the baseline's own error and how much
the hours the coverage rule sets aside.

``--train-days`` fits each machine on that many days (75 by default) before the same
monitoring: its last 75 training days and its monitoring are the default run's, a longer training
reaches further back into the same process, so the two tables are paired machine by machine and
differ only in how much data the version and its noise model were fitted on.

``--oracle`` prints a bound instead: the power of one check by the best test that knows the
step's start and size and the noise process exactly (Neyman-Pearson at the per-check rate). A
target above it is out of reach for any detector at that false-alarm rate.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine_info, print_table, write_json  # noqa: E402

# Days of training before the monitoring (``--train-days`` changes it); the monitoring calendar
# stays put (it starts on a Saturday, the steps fall on the Tuesday after), so a longer training
# reaches further back and changes nothing but the amount of data the version is fitted on.
DEFAULT_TRAIN_DAYS = 75
TRAIN_DAYS = DEFAULT_TRAIN_DAYS
MIN_TRAIN_DAYS = 28
MONITOR_DAYS = 45
MONITOR_START = pd.Timestamp("2025-03-22", tz="UTC")
PROCESSES = ("ar1_0.5", "ar1_0.7", "ar1_0.9", "day_bias", "amplitude", "daytime_x2", "arma21")
NOISE_SHARE = 0.08
SEED = 20251202


def _setup() -> None:
    if "django.apps" in sys.modules:
        from django.apps import apps

        if apps.ready:  # called from the test suite: its settings (and environment) stay as they are
            return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enms.settings.test")
    os.environ.pop("REDIS_URL", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _ar(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    from scipy.signal import lfilter

    u = rng.standard_normal(n + 500)
    return lfilter([1.0], [1.0, -phi], u)[500:] * math.sqrt(1 - phi * phi)


def noise(process: str, rng: np.random.Generator, n: int, occupied: np.ndarray) -> np.ndarray:
    """Residual process with unit marginal variance (before scaling)."""
    from scipy.signal import lfilter

    days = n // 24
    if process.startswith("ar1_"):
        return _ar(rng, n, float(process.split("_")[1]))
    if process == "day_bias":
        day = np.repeat(_ar(rng, days, 0.8), 24)[:n]
        return math.sqrt(0.7) * _ar(rng, n, 0.7) + math.sqrt(0.3) * day
    if process == "amplitude":
        amp = np.repeat(rng.standard_normal(days), 24)[:n]
        share = max(float(occupied.mean()), 1e-3)
        return math.sqrt(0.7) * _ar(rng, n, 0.7) + math.sqrt(0.3 / share) * amp * occupied
    if process == "daytime_x2":
        u = rng.standard_normal(n) * np.where(occupied, 2.0, 1.0)
        e = lfilter([1.0], [1.0, -0.7], u)
        return e / e.std()
    if process == "arma21":
        u = rng.standard_normal(n + 500)
        e = lfilter([1.0, 0.4], np.poly([0.92, 0.38]), u)[500:]
        return e / e.std()
    raise ValueError(process)


def _draw(process: str, rng: np.random.Generator, ts: pd.DatetimeIndex, scale: float | None = None) -> dict:
    """Drivers, load and noise over the hours ``ts`` (starting at midnight); the noise in kWh is
    the process times ``NOISE_SHARE`` of ``scale``, by default the mean load of these hours."""
    n = ts.size
    hour = ts.hour.to_numpy()
    weekday = ts.day_of_week.to_numpy() < 5
    occupied = weekday & (hour >= 6) & (hour < 18)
    day = np.arange(n) / 24.0
    weather = np.repeat(_ar(rng, n // 24, 0.7), 24)[:n] * 3.0 + _ar(rng, n, 0.95) * 1.0
    temp = 6.0 + 0.0 * day + 4.0 * np.sin(2 * np.pi * (hour - 9) / 24) + weather
    production = np.where(occupied, 50.0 + 10.0 * rng.standard_normal(n), 0.0).clip(0)
    load = true_load(production, temp)
    scale = float(load.mean()) if scale is None else scale
    e = noise(process, rng, n, occupied) * NOISE_SHARE * scale
    return {"ts": ts, "temp": temp, "production": production, "operating_hours": occupied.astype(float),
            "load": load, "noise": e, "occupied": occupied, "rng": rng, "noise_scale": NOISE_SHARE * scale}


def machine(process: str, seed: int) -> dict:
    """One simulated machine: drivers, the load without noise, and the noise.

    Its last ``DEFAULT_TRAIN_DAYS`` of training and its monitoring are the same whatever
    ``TRAIN_DAYS`` is, so runs with different training lengths are paired: a shorter training
    drops the earliest days, a longer one has more days drawn before them from the same process
    (their own random stream, the same noise scale; the processes restart at the junction)."""
    hours = lambda start, days: start + pd.to_timedelta(np.arange(days * 24), unit="h")  # noqa: E731
    start = MONITOR_START - pd.Timedelta(days=DEFAULT_TRAIN_DAYS)
    m = _draw(process, np.random.default_rng(seed), hours(start, DEFAULT_TRAIN_DAYS + MONITOR_DAYS))
    extra = TRAIN_DAYS - DEFAULT_TRAIN_DAYS
    if extra < 0:
        return {k: v if k in ("rng", "noise_scale") else v[-24 * extra:] for k, v in m.items()}
    if extra > 0:
        before = _draw(process, np.random.default_rng([seed, extra]), hours(start - pd.Timedelta(days=extra), extra),
                       scale=m["noise_scale"] / NOISE_SHARE)
        m = {k: v if k in ("rng", "noise_scale") else
             (before[k].append(v) if k == "ts" else np.concatenate([before[k], v])) for k, v in m.items()}
    return m


def true_load(production: np.ndarray, temp: np.ndarray) -> np.ndarray:
    """The simulated machine's load without noise or step: what a perfect baseline predicts."""
    return 40.0 + 1.2 * production + 3.0 * np.maximum(16.0 - temp, 0.0)


class TrueBaseline:
    """A baseline that predicts the simulated load exactly (for ``--decompose``): it stands in for
    the fitted pipeline in ``drift_judge``, so that what is left of a miss is the detector's
    information, not the baseline's error."""

    named_steps = {"features": SimpleNamespace(drivers_=["production_units", "outdoor_temp_c"])}

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return true_load(df["production_units"].to_numpy(dtype=float), df["outdoor_temp_c"].to_numpy(dtype=float))


def _frame(m: dict, lo: int, hi: int, *, step: float = 0.0, step_at: int | None = None,
           warm: tuple[int, int] | None = None) -> pd.DataFrame:
    temp = m["temp"][lo:hi].copy()
    idx = np.arange(lo, hi)
    if warm is not None:
        temp = temp + 6.0 * ((idx >= warm[0]) & (idx < warm[1]))
    load = true_load(m["production"][lo:hi], temp)
    energy = load + m["noise"][lo:hi]
    if step_at is not None:
        energy = energy + step * load * (idx >= step_at)
    return pd.DataFrame({"timestamp": m["ts"][lo:hi], "energy_kwh": energy, "outdoor_temp_c": temp,
                         "production_units": m["production"][lo:hi], "operating_hours": m["operating_hours"][lo:hi]})


def _step_start(seed: int) -> int:
    """Hour index of the step scenarios' step: a random hour of the fourth monitoring day."""
    return TRAIN_DAYS * 24 + 24 * 3 + int(np.random.default_rng(seed + 7).integers(0, 24))


@functools.lru_cache(maxsize=2)
def _fitted(process: str, seed: int) -> tuple[dict, int, object, dict]:
    """The machine, its training end, the default fit and the training hook's stored reference."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    from baselines.engine.fit import fit_baseline

    m = machine(process, seed)
    train_end = TRAIN_DAYS * 24
    train = _frame(m, 0, train_end)
    fit = fit_baseline(train)
    return m, train_end, fit, import_string(settings.ENMS_TRAINING_REFERENCE_HOOK)(fit=fit, frame=train)


def product(process: str, seed: int, *, baseline: str = "fit",
            drift_policy: dict | None = None) -> tuple[dict, int, object]:
    """One machine on the product path: the machine, the end of its training and ``check(end,
    **scenario)``, the service's verdict on the 7 days before hour ``end`` (default fit, the
    training hook's stored reference, ``drift_judge`` with the default policy).

    ``baseline="true"`` judges with :class:`TrueBaseline` in place of the fitted pipeline (the
    stored reference, its noise model included, stays the fit's); ``drift_policy`` overrides
    drift thresholds as a machine's policy would (e.g. ``{"judge_density": 0}``: every hour
    judged)."""
    _setup()
    from enms.policy import policy_for
    from performance.drift.thresholds import DriftThresholds
    from performance.services.drift import drift_judge

    m, train_end, fit, reference = _fitted(process, seed)
    policy = policy_for(None)
    th = DriftThresholds.from_dict({**(policy.get("drift") or {}), **(drift_policy or {})})
    window = (fit.training_start, fit.training_end)
    pipeline = {"fit": fit.pipeline, "true": TrueBaseline()}[baseline]

    def check(end: int, **kw) -> dict:
        frame = _frame(m, end - 168, end, **kw)
        return drift_judge(pipeline=pipeline, reference=reference, frame=frame, thresholds=th,
                           training_window=window, policy=policy)

    return m, train_end, check


def _warm_week(judge, train_end: int) -> dict:
    """The verdict on the first monitoring week with a +6 K spell over it and no change."""
    first = train_end + 7 * 24
    return judge(first, warm=(train_end, first))


def _first_rise(judge, train_end: int, at: int, size: float, days: int, with_warm: bool) -> tuple[int, dict] | None:
    """Daily checks of the latest 7 days after a step of ``size`` at hour ``at`` (with a +6 K
    spell from a day before it when ``with_warm``): the first that names a consumption change
    upwards, as (its end hour, its verdict), or ``None`` within ``days`` checks. The first checks
    still hold training hours, which are counted and never judged."""
    span = (at - 24, at + 24 * days) if with_warm else None
    for k in range(1, days + 1):
        end = train_end + 24 * 3 + 24 * k
        v = judge(end, step=size, step_at=at, warm=span)
        if v["cause"] == "consumption_change" and (v["impact"] or {}).get("direction") == "up":
            return end, v
    return None


def run(process: str, seed: int) -> dict:
    """Every scenario of one run; returns plain figures."""
    m, train_end, judge = product(process, seed)

    def check_of(v: dict) -> dict:
        cp = v["consumption_change"]["change_point"]
        return {"severity": v["severity"], "cause": v["cause"],
                "change_point": None if cp is None else pd.Timestamp(cp)}

    def check(end: int, **kw) -> dict:
        return check_of(judge(end, **kw))

    out: dict = {"process": process, "seed": seed}
    first = train_end + 7 * 24
    weekly = check(first)
    out["weekly_alarm"] = weekly["severity"] != "none"
    out["weekly_critical"] = weekly["severity"] == "critical"
    daily = [check(first + 24 * k) for k in range(30)]
    out["daily_any"] = any(d["severity"] != "none" for d in daily)
    out["daily_causes"] = sorted({f"{d['cause']}:{d['severity']}" for d in daily if d["severity"] != "none"})
    out["daily_critical"] = any(d["severity"] == "critical" for d in daily)
    warm = check_of(_warm_week(judge, train_end))
    out["warm_false_change"] = warm["cause"] == "consumption_change"
    out["warm_any"] = warm["severity"] != "none"
    out["warm_cause"] = warm["cause"]

    def step_case(size: float, days: int, with_warm: bool) -> dict:
        at = _step_start(seed)
        hit = _first_rise(judge, train_end, at, size, days, with_warm)
        if hit is None:
            return {"found": False}
        lo_end, r = hit
        truth_idx = np.arange(at, lo_end)
        truth = float((size * true_load(m["production"][truth_idx],
                                        m["temp"][truth_idx] + (6.0 if with_warm else 0.0))).sum())
        cp_err = (check_of(r)["change_point"] - m["ts"][at]).total_seconds() / 3600.0
        kwh = (r["impact"] or {}).get("kwh_since_change")
        return {"found": True, "delay_h": (lo_end - at), "cp_err_h": cp_err,
                "kwh_err": None if kwh is None else kwh / truth - 1.0}

    out["step10"] = step_case(0.10, 7, False)
    out["step10_warm"] = step_case(0.10, 7, True)
    out["step75"] = step_case(0.075, 14, False)
    return out


DECOMPOSITION = (("fitted", "fit", None), ("fitted, every hour", "fit", {"judge_density": 0.0}),
                 ("true", "true", None), ("true, every hour", "true", {"judge_density": 0.0}))


def decompose(process: str, seed: int) -> dict:
    """Why a warm week hides a step: the warm scenarios of one run judged four ways, with the
    fitted baseline or :class:`TrueBaseline`, on the hours the product judges (densely covered
    training ground) or on every hour (``judge_density`` 0). The fitted baseline on its covered
    hours is the product; the gap to the true baseline on the same hours is the baseline's own
    error, and the gap from there to every hour is the information the coverage rule sets aside."""
    out: dict = {"process": process, "seed": seed}
    at = _step_start(seed)
    for label, baseline, drift_policy in DECOMPOSITION:
        _, train_end, judge = product(process, seed, baseline=baseline, drift_policy=drift_policy)
        out[f"{label}: warm false change"] = _warm_week(judge, train_end)["cause"] == "consumption_change"
        for key, with_warm in (("10 %+warm ≤7 d", True), ("10 % ≤7 d", False)):
            out[f"{label}: {key}"] = _first_rise(judge, train_end, at, 0.10, 7, with_warm) is not None
    return out


def process_covariance(process: str, occupied: np.ndarray) -> np.ndarray:
    """Exact covariance (unit marginal variance on average) of ``noise(process)`` over the hours
    of ``occupied``, for the oracle bound."""
    from scipy.linalg import toeplitz
    from scipy.signal import lfilter

    n = occupied.size
    lags = np.arange(n)
    day = lags // 24
    same_day = day[:, None] == day[None, :]
    if process.startswith("ar1_"):
        return toeplitz(float(process.split("_")[1]) ** lags)
    if process == "day_bias":
        return 0.7 * toeplitz(0.7 ** lags) + 0.3 * 0.8 ** np.abs(day[:, None] - day[None, :])
    if process == "amplitude":
        share = max(float(occupied.mean()), 1e-3)
        return 0.7 * toeplitz(0.7 ** lags) + 0.3 / share * (same_day & occupied[:, None] & occupied[None, :])
    if process == "daytime_x2":
        scale = np.where(occupied, 2.0, 1.0)
        gain = np.tril(0.7 ** np.abs(lags[:, None] - lags[None, :])) * scale[None, :]
        cov = gain @ gain.T
        return cov / float(np.mean(np.diag(cov)))
    if process == "arma21":
        impulse = lfilter([1.0, 0.4], np.poly([0.92, 0.38]), np.r_[1.0, np.zeros(4000)])
        acf = np.array([impulse[: impulse.size - k] @ impulse[k:] for k in range(n)])
        return toeplitz(acf / acf[0])
    raise ValueError(process)


def oracle(process: str, seed: int = SEED, alpha: float = 0.005) -> dict:
    """Power of the best possible test of one check: the step's start and size known, the noise
    process known exactly (Neyman-Pearson, one-sided at the per-check false-alarm rate ``alpha``).
    No detector that must find the start, estimate the noise and test two-sided can do better, so
    a target above this bound is out of reach at that false-alarm rate."""
    from scipy.stats import norm

    m = machine(process, seed)
    start = TRAIN_DAYS * 24 + 72
    out = {}
    for label, size, pre in (("10 % step, 7th daily check", 0.10, 12), ("7.5 % step, 7th daily check", 0.075, 12),
                             ("7.5 % step, 14th daily check", 0.075, 0)):
        lo = start + 12 - pre
        idx = np.arange(lo, lo + 168)
        cov = process_covariance(process, m["occupied"][idx]) * m["noise_scale"] ** 2
        signal = size * m["load"][idx] * (idx >= start + 12)
        d = math.sqrt(float(signal @ np.linalg.solve(cov, signal)))
        out[label] = float(norm.cdf(d - norm.ppf(1.0 - alpha)))
        if label.startswith("10 %"):
            # kWh since the change is Σ(actual - predicted) by definition: even with the start
            # known its noise is the sum of the residual noise after it.
            after = idx >= start + 12
            sd = math.sqrt(float(cov[np.ix_(after, after)].sum())) / float(signal[after].sum())
            out["kWh ±15 % (start known, 7th check)"] = float(2.0 * norm.cdf(0.15 / sd) - 1.0)
    return out


def _wilson_upper(k: int, n: int) -> float:
    if n == 0:
        return float("nan")
    z = 1.96
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + half) / (1 + z * z / n)


def _rate(values: list[bool]) -> str:
    k, n = sum(values), len(values)
    return f"{100 * k / n:.1f} % (≤{100 * _wilson_upper(k, n):.0f})" if n else "—"


def summarise(results: list[dict]) -> list[dict]:
    rows = []
    for process in PROCESSES:
        rs = [r for r in results if r["process"] == process]
        if not rs:
            continue
        s10 = [r["step10"] for r in rs]
        s10w = [r["step10_warm"] for r in rs]
        found10 = [s for s in s10 if s["found"]]
        found10w = [s for s in s10w if s["found"]]
        kwh = [s["kwh_err"] for s in found10 + found10w if s.get("kwh_err") is not None]
        rows.append({
            "process": process,
            "runs": len(rs),
            "weekly alarm": _rate([r["weekly_alarm"] for r in rs]),
            "critical": sum(r["weekly_critical"] or r["daily_critical"] for r in rs),
            "≥1 alarm / 30 d": _rate([r["daily_any"] for r in rs]),
            "of which change": _rate([any(c.startswith("consumption_change") for c in r["daily_causes"]) for r in rs]),
            "warm: false change": _rate([r["warm_false_change"] for r in rs]),
            "warm: any": _rate([r["warm_any"] for r in rs]),
            "10 % ≤7 d": f"{100 * len(found10) / len(rs):.0f} %",
            "median delay h": f"{statistics.median([s['delay_h'] for s in found10]):.0f}" if found10 else "—",
            "cp ±24 h": f"{100 * np.mean([abs(s['cp_err_h']) <= 24 for s in found10]):.0f} %" if found10 else "—",
            "10 %+warm ≤7 d": f"{100 * len(found10w) / len(rs):.0f} %",
            "cp ±24 h (warm)": f"{100 * np.mean([abs(s['cp_err_h']) <= 24 for s in found10w]):.0f} %"
            if found10w else "—",
            "7.5 % ≤14 d": f"{100 * np.mean([r['step75']['found'] for r in rs]):.0f} %",
            "kWh ±15 %": f"{100 * np.mean([abs(k) <= 0.15 for k in kwh]):.0f} %" if kwh else "—",
        })
    return rows


def warm_bias(process: str, runs: int = 40, threshold: float = 0.03) -> dict:
    """How far the default fit itself is off in the week after the step of the warm-spell
    scenario, with no noise in the measured week: the mean of (predicted - true load) over that
    week as a share of the true load, for ``runs`` machines of the process (the first machines of
    the detection runs). Where the warm spell takes the temperature into ground the training
    season barely reached, the baseline's own error there is of the order of the step, and no
    detector that trusts the baseline can tell them apart."""
    _setup()
    from baselines.engine.fit import predict

    cold, warm = [], []
    for r in range(runs):
        seed = SEED + 1000 * PROCESSES.index(process) + r
        m, _, fit, _ = _fitted(process, seed)
        at = _step_start(seed)
        for span, out in ((None, cold), ((at - 24, at + 168), warm)):
            frame = _frame(m, at, at + 168, warm=span)
            truth = true_load(frame["production_units"].to_numpy(), frame["outdoor_temp_c"].to_numpy())
            out.append(float((predict(fit.pipeline, frame) - truth).mean() / truth.mean()))
    cold_a, warm_a = np.array(cold), np.array(warm)
    return {"runs": runs, "sd cold": float(cold_a.std()), "sd warm": float(warm_a.std()),
            f"|bias| > {threshold:.0%} cold": float(np.mean(np.abs(cold_a) > threshold)),
            f"|bias| > {threshold:.0%} warm": float(np.mean(np.abs(warm_a) > threshold)),
            f"over by > {threshold:.0%} warm": float(np.mean(warm_a > threshold))}


def set_train_days(days: int) -> None:
    """Fit every machine on ``days`` days of training before the same monitoring calendar."""
    global TRAIN_DAYS
    if days < MIN_TRAIN_DAYS:
        raise ValueError(f"at least {MIN_TRAIN_DAYS} training days")
    TRAIN_DAYS = days
    _fitted.cache_clear()


def _run_all(task, jobs: list[tuple[str, int]], workers: int, started: float) -> list[dict]:
    """``task(process, seed)`` for every job on ``workers`` processes, with progress on stderr."""
    results = []
    with ProcessPoolExecutor(max_workers=workers, initializer=set_train_days, initargs=(TRAIN_DAYS,)) as pool:
        for i, result in enumerate(pool.map(task, *zip(*jobs, strict=True), chunksize=1), 1):
            results.append(result)
            if i % 10 == 0 or i == len(jobs):
                print(f"  {i}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per process (the issue's figures: 300)")
    parser.add_argument("--processes", default="all", help="comma-separated subset of " + ", ".join(PROCESSES))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", default=None)
    parser.add_argument("--train-days", type=int, default=TRAIN_DAYS,
                        help=f"days each machine is trained on before the same monitoring (default {TRAIN_DAYS})")
    parser.add_argument("--oracle", action="store_true",
                        help="print only the bound: the power of a test that knows the step and the noise")
    parser.add_argument("--warm-bias", action="store_true",
                        help="print only the default fit's own error in the warm-spell step week (noise-free)")
    parser.add_argument("--decompose", action="store_true",
                        help="print only the warm-step decomposition: fitted or true baseline, covered or every hour")
    args = parser.parse_args()
    try:
        set_train_days(args.train_days)
    except ValueError as exc:
        parser.error(f"--train-days: {exc}")
    processes = PROCESSES if args.processes == "all" else tuple(args.processes.split(","))
    unknown = sorted(set(processes) - set(PROCESSES))
    if unknown:
        parser.error(f"unknown process(es): {', '.join(unknown)}; choose from {', '.join(PROCESSES)}")
    # A process's machines depend on the process alone, not on which others are run with it.
    jobs = [(p, SEED + 1000 * PROCESSES.index(p) + r) for p in processes for r in range(args.runs)]
    if args.decompose:
        started = time.perf_counter()
        results = _run_all(decompose, jobs, args.workers, started)
        rows = []
        for p in processes:
            rs = [r for r in results if r["process"] == p]
            for label, _, _ in DECOMPOSITION:
                rows.append({"process": p, "baseline, hours judged": label, "runs": len(rs),
                             **{key: _rate([r[f"{label}: {key}"] for r in rs])
                                for key in ("warm false change", "10 %+warm ≤7 d", "10 % ≤7 d")}})
        print_table(f"Warm-step decomposition ({args.runs} runs per process, {TRAIN_DAYS} training days, "
                    f"{time.perf_counter() - started:.0f} s)", rows, list(rows[0]))
        write_json(args.json, {"runs": args.runs, "train_days": TRAIN_DAYS, "rows": rows, "results": results,
                               "machine": machine_info()})
        return
    if args.warm_bias:
        rows = []
        for p in PROCESSES:
            b = warm_bias(p, runs=min(args.runs, 60))
            rows.append({"process": p, "runs": b.pop("runs"), **{k: f"{100 * v:.1f} %" for k, v in b.items()}})
        print_table("The default fit's own error in the week after the step, noise-free (predicted - true, "
                    "share of the true load): cold, and in the warm spell", rows, list(rows[0]))
        return
    if args.oracle:
        rows = [{"process": p, **{k: f"{100 * v:.1f} %" for k, v in oracle(p).items()}} for p in PROCESSES]
        print_table("Oracle bound per check (step start and size known, noise known, one-sided 0.5 %); "
                    "kWh since the change as defined",
                    rows, list(rows[0]))
        return
    started = time.perf_counter()
    results = _run_all(run, jobs, args.workers, started)
    rows = summarise(results)
    columns = list(rows[0])
    print_table(f"Drift detection on the product path ({args.runs} runs per process, {TRAIN_DAYS} training days, "
                f"{time.perf_counter() - started:.0f} s)", rows, columns)
    write_json(args.json, {"runs": args.runs, "train_days": TRAIN_DAYS, "rows": rows, "results": results,
                           "machine": machine_info()})


if __name__ == "__main__":
    main()

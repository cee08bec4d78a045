"""Backtest of the degradation forecast on simulated machines (numpy/pandas, no Django).

Each simulated machine has two years of hourly readings: a seasonal outdoor temperature with
day-to-day weather, heating below and cooling above balance points, a production plan whose
level changes, time-of-week occupancy and AR(1) noise; some drift slowly (a leak). A baseline
is fitted with the product's engine on part of a year; from its training end a forecast is
issued every week and compared with what then happened, beside two naive forecasters
(persistence of the latest week's checks; the trend of the recent checks alone).

`bench/forecast.py` runs it on hundreds of machines; a slow test runs a few with a fixed seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from baselines.engine.fit import fit_baseline, predict

from . import forecast as fc

DAY0 = pd.Timestamp("2024-01-01", tz="UTC")
N_DAYS = 720
DRIVERS = ["production_units", "outdoor_temp_c", "operating_hours"]
HORIZON = 30
WEATHER_DAYS = 10  # how far a weather forecast reaches; beyond it, climatology
POLICY = fc.Policy(cv_limit=0.30, nmbe_limit=0.10, coverage_threshold=0.25)


@dataclass
class Machine:
    frame: pd.DataFrame
    train_start: int  # day index
    train_end: int
    drifting: bool


def simulate_machine(rng: np.random.Generator) -> Machine:
    """Two years of hourly readings of one machine (times in UTC; the site's clock)."""
    hours = N_DAYS * 24
    ts = DAY0 + pd.to_timedelta(np.arange(hours), unit="h")
    doy = ts.day_of_year.to_numpy()
    hour = ts.hour.to_numpy()
    day = np.arange(hours) // 24
    mean_t, amp = rng.uniform(6, 16), rng.uniform(6, 12)
    weather = np.zeros(N_DAYS)
    for d in range(1, N_DAYS):
        weather[d] = 0.8 * weather[d - 1] + rng.normal(0, 1.8)
    temp = (mean_t - amp * np.cos(2 * np.pi * (doy - 15) / 365.25) + weather[day]
            + 3.5 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 0.6, hours))

    weekday = ts.day_of_week.to_numpy() < 5
    working = weekday & (hour >= 6) & (hour < 20)
    operating = np.where(working, 1.0, 0.0)
    train_len = int(rng.integers(60, 331))
    train_end = int(rng.integers(380, 601))
    train_start = train_end - train_len
    level = np.full(N_DAYS, rng.uniform(20, 60))
    # The plan changes at one to three points after training (a new product, a second shift ...),
    # some within the training range, some beyond it.
    for change in np.sort(rng.integers(train_end + 5, N_DAYS - 20, size=int(rng.integers(1, 4)))):
        level[change:] = level[change - 1] * rng.choice([rng.uniform(0.85, 1.15), rng.uniform(1.4, 2.0),
                                                        rng.uniform(0.4, 0.6)])
    production = np.where(working, level[day] * rng.uniform(0.8, 1.2, hours), 0.0)

    base = rng.uniform(30, 80)
    heat_b, cool_b = rng.uniform(11, 16), rng.uniform(18, 23)
    heat, cool = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0)
    load = (base * (0.6 + 0.4 * working) + rng.uniform(0.2, 1.0) * production
            + heat * np.maximum(heat_b - temp, 0) + cool * np.maximum(temp - cool_b, 0))
    noise = np.zeros(hours)
    shocks = rng.normal(0, 0.04 * base, hours)
    for t in range(1, hours):
        noise[t] = 0.5 * noise[t - 1] + shocks[t]
    drifting = bool(rng.random() < 0.2)
    if drifting:  # a slow leak from the training end: +2..6 % of the base load a month
        grow = np.maximum(day - train_end, 0) / 30 * rng.uniform(0.02, 0.06)
        load = load + grow * load
    frame = pd.DataFrame({"timestamp": ts, "energy_kwh": np.maximum(load + noise, 0.0),
                          "production_units": production, "outdoor_temp_c": temp, "operating_hours": operating})
    return Machine(frame=frame, train_start=train_start, train_end=train_end, drifting=drifting)


def _daily(values: np.ndarray, day: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(day, weights=values, minlength=n)


@dataclass
class Fitted:
    lows: np.ndarray
    highs: np.ndarray
    scales: np.ndarray
    stored: dict
    base_cv: float
    base_nmbe: float
    daily_sd: float
    mean_energy: float
    predicted: np.ndarray
    drivers: list[str]


def fit_machine(m: Machine) -> Fitted:
    """The product's baseline fit on the training window, and what the version stores for the
    forecast (ranges, out-of-sample error growth)."""
    train = m.frame.iloc[m.train_start * 24:m.train_end * 24].reset_index(drop=True)
    fit = fit_baseline(train)
    names = [d for d in DRIVERS if d in fit.driver_ranges]
    values = np.column_stack([np.asarray(fit.train_X[d], dtype=float) for d in names])
    sd = np.nanstd(values, axis=0)
    scales = np.where(sd > 0, sd, 1.0)
    mean_energy = float(train["energy_kwh"].to_numpy()[fit.train_index].mean())
    dist = fc.oos_distances(values, np.asarray(fit.oos_fold), scales)
    stored = fc.growth_stats(dist, np.asarray(fit.oos_residuals) / mean_energy)
    oos = np.asarray(fit.oos_residuals, dtype=float)
    days = np.asarray(fit.local_days)
    ok = np.isfinite(oos)
    daily_means = pd.Series(oos[ok]).groupby(days[ok]).mean()
    return Fitted(lows=np.array([fit.driver_ranges[d][0] for d in names]),
                  highs=np.array([fit.driver_ranges[d][1] for d in names]), scales=scales, stored=stored,
                  base_cv=float(fit.holdout_metrics["cv_rmse"]), base_nmbe=float(fit.holdout_metrics["nmbe"]),
                  daily_sd=float(daily_means.std()) / mean_energy, mean_energy=mean_energy,
                  predicted=predict(fit.pipeline, m.frame), drivers=names)


@dataclass
class Outcome:
    fail: np.ndarray  # per day: the policy failed
    coverage: np.ndarray  # per day: out-of-range share
    cv: np.ndarray
    nmbe: np.ndarray


def outcomes(m: Machine, f: Fitted) -> Outcome:
    """What happened each day: CV(RMSE), NMBE and out-of-range share of its hours, and the verdict."""
    y = m.frame["energy_kwh"].to_numpy()
    e = y - f.predicted
    day = np.arange(len(y)) // 24
    n = np.bincount(day).astype(float)
    mean_y = _daily(y, day, N_DAYS) / n
    cv = np.sqrt(_daily(e * e, day, N_DAYS) / n) / mean_y
    nmbe = _daily(e, day, N_DAYS) / n / mean_y
    values = m.frame[f.drivers].to_numpy(dtype=float)
    share = _daily(fc.outside_mask(values, f.lows, f.highs).astype(float), day, N_DAYS) / n
    fail = (cv > POLICY.cv_limit) | (np.abs(nmbe) > POLICY.nmbe_limit) | (share >= POLICY.coverage_threshold)
    return Outcome(fail=fail, coverage=share, cv=cv, nmbe=nmbe)


def issue_forecast(m: Machine, f: Fitted, out: Outcome, issue: int, rng: np.random.Generator,
                   drivers: bool = True) -> np.ndarray:
    """p_breach for the `HORIZON` days from day `issue`, as the product computes it: production
    plans known, a weather forecast for `WEATHER_DAYS` days, climatology beyond; error growth
    from the stored statistics and the reporting period; the trend of the daily checks."""
    frame = m.frame
    days = [(DAY0 + pd.Timedelta(days=issue + i)).date() for i in range(HORIZON)]
    lo, hi = issue * 24, (issue + HORIZON) * 24
    future = frame.iloc[lo:hi][["timestamp", *f.drivers]].copy()
    if "outdoor_temp_c" in future:
        lead = (np.arange(len(future)) / 24.0)
        noisy = future["outdoor_temp_c"].to_numpy() + rng.normal(0, 1, len(future)) * (0.5 + 0.3 * lead)
        future["outdoor_temp_c"] = np.where(lead < WEATHER_DAYS, noisy, np.nan)
    if not drivers:
        future = future.iloc[0:0]
    history = frame.iloc[max(0, (issue - 365) * 24):max(0, (issue - 365 + HORIZON) * 24)][["timestamp", *f.drivers]]
    if not drivers:
        history = history.iloc[0:0]
    dd = fc.driver_days(days=days, drivers=f.drivers, forecast=future, history=history)

    begin = max(m.train_end, issue - 90) * 24
    seen = frame.iloc[begin:issue * 24]
    values = seen[f.drivers].to_numpy(dtype=float)
    resid = (seen["energy_kwh"].to_numpy() - f.predicted[begin:issue * 24]) / f.mean_energy
    reporting = fc.growth_stats(fc.distances(values, f.lows, f.highs, f.scales), resid)
    growth = fc.error_growth_fit(fc.merge_stats(f.stored, reporting), base_cv=f.base_cv, base_nmbe=f.base_nmbe)
    first = max(m.train_end, issue - 56)
    t = np.arange(first, issue) - issue + 0.5
    cv_trend = fc.metric_trend(t, out.cv[first:issue])
    nmbe_trend = fc.metric_trend(t, out.nmbe[first:issue])
    result = fc.forecast_days(driver_days=dd, lows=f.lows, highs=f.highs, scales=f.scales, growth=growth,
                              policy=POLICY, cv_trend=cv_trend, nmbe_trend=nmbe_trend, daily_nmbe_sd=f.daily_sd)
    return result["p_breach"]


def persistence(out: Outcome, issue: int) -> float:
    """Naive: the share of the latest week's daily checks that failed."""
    return float(out.fail[max(0, issue - 7):issue].mean()) if issue > 0 else 0.0


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def demo_windows(frames: list[pd.DataFrame], *, per_machine: int, seed: int = 0) -> list[Machine]:
    """Machines from given readings (`N_DAYS` hourly days from `DAY0`, e.g. the demo plant's), each
    with `per_machine` training windows of 60–330 days ending at a random point of the second year."""
    rng = np.random.default_rng(seed)
    out = []
    for frame in frames:
        for _ in range(per_machine):
            end = int(rng.integers(380, 601))
            out.append(Machine(frame=frame.reset_index(drop=True), train_start=end - int(rng.integers(60, 331)),
                               train_end=end, drifting=False))
    return out


def backtest(n_machines: int, *, seed: int = 0, weeks: int = 13, machines: list[Machine] | None = None) -> dict:
    """Simulate (or take `machines`), fit, issue weekly forecasts from each training end and score them."""
    rng = np.random.default_rng(seed)
    rows = []
    leads = []
    missed_onsets = 0
    timings = {"fit_s": 0.0, "forecast_s": 0.0, "forecasts": 0}
    if machines is not None:
        n_machines = len(machines)
    for index in range(n_machines):
        m = simulate_machine(rng) if machines is None else machines[index]
        started = time.perf_counter()
        try:
            f = fit_machine(m)
        except ValueError:
            continue
        timings["fit_s"] += time.perf_counter() - started
        out = outcomes(m, f)
        issues = [m.train_end + 7 * k for k in range(weeks) if m.train_end + 7 * k + HORIZON <= N_DAYS]
        predicted_dates = {}
        for issue in issues:
            started = time.perf_counter()
            p = issue_forecast(m, f, out, issue, rng)
            timings["forecast_s"] += time.perf_counter() - started
            timings["forecasts"] += 1
            p_trend = issue_forecast(m, f, out, issue, rng, drivers=False)
            actual = out.fail[issue:issue + HORIZON]
            breach = fc.first_breach(p)
            predicted_dates[issue] = None if breach is None else issue + breach
            coverage_cause = bool(actual.any()) and out.coverage[issue + int(np.argmax(actual))] > 0
            rows.append({"p": float(p.max()), "trend": float(p_trend.max()), "persist": persistence(out, issue),
                         "actual": bool(actual.any()), "coverage": coverage_cause, "drifting": m.drifting})
        # Lead time of breaches caused by drivers leaving the range: for each onset (a failing day
        # after a clean week) with out-of-range hours, the earliest weekly forecast that expected
        # a breach within two weeks of it.
        for onset in range(m.train_end + 1, N_DAYS):
            if not (out.fail[onset] and not out.fail[onset - 7:onset].any() and out.coverage[onset] > 0):
                continue
            if not any(i <= onset < i + HORIZON for i in issues):
                continue
            found = [onset - i for i in issues if i <= onset < i + HORIZON and predicted_dates[i] is not None
                     and abs(predicted_dates[i] - onset) <= 14]
            if found:
                leads.append(max(found))
            else:
                missed_onsets += 1
    frame = pd.DataFrame(rows)
    y = frame["actual"].to_numpy()
    pred = frame["p"].to_numpy() >= 0.5
    tp = int(np.sum(pred & y))
    precision = tp / max(int(pred.sum()), 1)
    recall = tp / max(int(y.sum()), 1)
    return {
        "machines": n_machines, "seed": seed, "forecasts": len(frame), "breaches": int(y.sum()),
        "precision": precision, "recall": recall,
        "precision_trend": _precision(frame["trend"].to_numpy() >= 0.5, y),
        "recall_trend": float(np.sum((frame["trend"].to_numpy() >= 0.5) & y) / max(int(y.sum()), 1)),
        "precision_persistence": _precision(frame["persist"].to_numpy() >= 0.5, y),
        "recall_persistence": float(np.sum((frame["persist"].to_numpy() >= 0.5) & y) / max(int(y.sum()), 1)),
        "brier": brier(frame["p"], y), "brier_persistence": brier(frame["persist"], y),
        "brier_trend": brier(frame["trend"], y),
        "median_lead_days": float(np.median(leads)) if leads else math.nan,
        "coverage_onsets": len(leads) + missed_onsets, "coverage_onsets_found": len(leads),
        "fit_s_per_machine": timings["fit_s"] / max(n_machines, 1),
        "forecast_ms": 1000 * timings["forecast_s"] / max(timings["forecasts"], 1),
    }


def _precision(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(pred & y) / max(int(pred.sum()), 1))


def one_year_inputs(seed: int = 0) -> tuple:
    """A version and 365 days of inputs (a fortnight of forecast rows, three years of history)
    for timing one forecast over a year."""
    rng = np.random.default_rng(seed)
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    hours = 3 * 8760
    history = pd.DataFrame({"timestamp": pd.date_range("2023-01-01", periods=hours, freq="h", tz="UTC"),
                            "outdoor_temp_c": rng.normal(10, 8, hours), "production_units": rng.uniform(0, 60, hours),
                            "operating_hours": rng.integers(0, 2, hours).astype(float)})
    forecast = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=14 * 24, freq="h", tz="UTC"),
                             "outdoor_temp_c": rng.normal(0, 5, 14 * 24)})
    growth = fc.error_growth_fit(fc.merge_stats(), base_cv=0.08)
    trend = fc.metric_trend(np.arange(-56, 0, 1.0) + 0.5, 0.1 + rng.normal(0, 0.01, 56))
    return days, history, forecast, growth, trend


def one_year_forecast(days, history, forecast, growth, trend) -> dict:
    drivers = ["production_units", "outdoor_temp_c", "operating_hours"]
    lows, highs = np.array([5.0, 0.0, 0.0]), np.array([50.0, 25.0, 1.0])
    dd = fc.driver_days(days=days, drivers=drivers, forecast=forecast, history=history, time_zone="Europe/Berlin")
    result = fc.forecast_days(driver_days=dd, lows=lows, highs=highs, scales=np.array([10.0, 5.0, 0.5]),
                              growth=growth, policy=POLICY, cv_trend=trend, nmbe_trend=trend)
    fc.driver_excursions(dd, lows, highs)
    return result

"""Simulated buildings and machines for bench/accuracy.py: a year of hourly readings each, with
known truth.

Every case has a site in a real time zone (daylight saving in both hemispheres, and one without),
an occupancy or shift schedule on the local clock, heating and cooling at known balance points
(hinge functions, with a different slope in occupied hours where the family says so), production
drivers for the industrial families, and residuals made of an hourly AR(1) plus a day-level AR(1)
(a day's bias persists into the next) whose size varies from day to day and is larger in occupied
hours. Temperature: the site's season (southern sites six months apart), a daily cycle on sun
time and persistent weather (hourly AR(1) 0.97).

Plain numpy/pandas; deterministic for a given case number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import lfilter

#: (time zone, annual mean °C, seasonal amplitude °C, southern hemisphere)
CLIMATES = (
    ("Europe/Berlin", 10.0, 10.0, False),
    ("America/New_York", 12.5, 13.0, False),
    ("America/Chicago", 11.0, 15.0, False),
    ("Europe/London", 11.0, 7.0, False),
    ("Australia/Sydney", 18.0, 5.5, True),
    ("Asia/Tokyo", 16.0, 10.5, False),
)
STARTS = ("2023-01-01", "2023-04-01", "2023-07-01", "2023-10-01")
FAMILIES = ("office", "retail", "school", "two_shift_plant", "continuous_process", "chiller_plant")


@dataclass
class Case:
    """One simulated site: its readings and the truth behind them."""

    name: str
    family: str
    time_zone: str
    frame: pd.DataFrame
    heat_bp: float | None
    cool_bp: float | None
    drivers: list[str] = field(default_factory=list)


def _schedule(local: pd.DatetimeIndex, family: str) -> np.ndarray:
    hour = local.hour.to_numpy()
    dow = local.day_of_week.to_numpy()
    if family == "office":
        return (dow < 5) & (hour >= 7) & (hour < 19)
    if family == "retail":
        return (hour >= 9) & (hour < 21) & ~((dow == 6) & (hour >= 18))
    if family == "school":
        return (dow < 5) & (hour >= 7) & (hour < 16)
    if family == "two_shift_plant":
        return (dow < 5) & (hour >= 6) & (hour < 22) | ((dow == 5) & (hour >= 6) & (hour < 14))
    return np.ones(len(local), dtype=bool)


def simulate_case(number: int, *, days: int = 365) -> Case:
    """Case ``number`` (0, 1, ...): family, climate and start date cycle; everything else is drawn."""
    family = FAMILIES[number % len(FAMILIES)]
    zone, t_mean, t_amp, south = CLIMATES[(number // len(FAMILIES) + number) % len(CLIMATES)]
    start = STARTS[(number // 2) % len(STARTS)]
    rng = np.random.default_rng(20_240_000 + number)
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    local = ts.tz_convert(zone)
    n = len(ts)
    doy = local.day_of_year.to_numpy() + local.hour.to_numpy() / 24.0
    phase = 20 + (182 if south else 0)
    weather = lfilter([1.0], [1.0, -0.97], rng.normal(0.0, 0.75, n))
    temp = (t_mean - t_amp * np.cos(2 * np.pi * (doy - phase) / 365.25)
            + 4.0 * np.sin(2 * np.pi * (local.hour.to_numpy() - 9) / 24) + weather)

    occupied = _schedule(local, family)
    heat_bp = cool_bp = None
    heat_slope = cool_slope = 0.0
    heat_unocc = cool_unocc = 1.0
    base = rng.uniform(20, 60)
    load = base * (1.0 + 0.8 * occupied)
    drivers: list[str] = []
    production = np.full(n, np.nan)
    if family in ("office", "retail", "school"):
        heat_bp, cool_bp = rng.uniform(12, 17), rng.uniform(20, 25)
        heat_slope, cool_slope = rng.uniform(1.0, 3.0), rng.uniform(2.0, 5.0)
        heat_unocc = rng.uniform(0.4, 0.9)  # setback: less heating out of hours
        cool_unocc = rng.uniform(0.1, 0.5)  # little cooling out of hours
        if family == "school":
            cool_bp = None
    elif family == "chiller_plant":
        cool_bp, cool_slope = rng.uniform(14, 22), rng.uniform(5.0, 10.0)
        load = base * (1.0 + 0.3 * occupied)
    else:
        drivers = ["production_units"]
        day_level = np.repeat(rng.uniform(0.6, 1.2, days + 1), 24)[:n]
        if family == "two_shift_plant":
            production = occupied * rng.uniform(40, 80) * day_level * np.clip(rng.normal(1, 0.1, n), 0, None)
            cool_bp, cool_slope = rng.uniform(18, 24), rng.uniform(0.5, 2.0)
        else:
            production = rng.uniform(50, 90) * day_level * np.clip(rng.normal(1, 0.1, n), 0, None)
            heat_bp, heat_slope = rng.uniform(8, 15), rng.uniform(0.5, 2.0)
        load = base * (1.0 + 0.3 * occupied) + rng.uniform(0.5, 1.5) * production
    if heat_bp is not None:
        load = load + heat_slope * np.maximum(heat_bp - temp, 0.0) * np.where(occupied, 1.0, heat_unocc)
    if cool_bp is not None:
        load = load + cool_slope * np.maximum(temp - cool_bp, 0.0) * np.where(occupied, 1.0, cool_unocc)

    sd = rng.uniform(0.05, 0.10) * float(load.mean())
    rho = rng.choice([0.6, 0.8, 0.9])
    day_phi, day_share = rng.uniform(0.5, 0.8), rng.uniform(0.25, 0.5)
    hourly = lfilter([1.0], [1.0, -rho], rng.normal(0.0, sd * np.sqrt((1 - rho**2) * (1 - day_share)), n))
    day_index = (local.tz_localize(None).normalize() - local.tz_localize(None).normalize()[0]).days.to_numpy()
    n_days = int(day_index[-1]) + 1
    day_bias = lfilter([1.0], [1.0, -day_phi], rng.normal(0.0, sd * np.sqrt((1 - day_phi**2) * day_share), n_days))
    day_scale = np.exp(rng.normal(0.0, 0.25, n_days))  # some days noisier than others
    hour_scale = np.where(occupied, 1.25, 0.75)
    energy = np.maximum(load + day_bias[day_index] + hourly * day_scale[day_index] * hour_scale, 0.0)
    frame = pd.DataFrame({"timestamp": ts, "energy_kwh": energy, "outdoor_temp_c": temp})
    if drivers:
        frame["production_units"] = production
    return Case(name=f"{family} {number:02d} ({zone}, from {start})", family=family, time_zone=zone, frame=frame,
                heat_bp=None if heat_bp is None else float(heat_bp),
                cool_bp=None if cool_bp is None else float(cool_bp), drivers=drivers)

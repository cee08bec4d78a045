"""A deterministic synthetic plant: machine specs and hourly readings with labelled events.

Plain numpy/pandas, no Django: the `seed_demo` command stores what this returns. Every machine
follows physics-like rules (base load, production, heating/cooling degree-hours, shift schedule
on the local clock of its site, daylight saving included) with autocorrelated noise, and some
carry injected events so drift detection, alerts and retraining have something real to find:

- `step`: energy use rises by a fraction from a day on (a compressed-air leak, a worn bearing);
- `temp_shift`: the machine's temperature driver moves beyond its earlier range while the model
  stays right (data drift without concept drift);
- `anomalies`: isolated spikes, labelled `is_anomaly`, for judging anomaly detectors.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class MachineSpec:
    name: str
    machine_type: str
    site: str
    rated_power_kw: float
    base_kw: float
    kwh_per_unit: float = 0.0
    heat_balance_c: float | None = None
    heat_kw_per_c: float = 0.0
    cool_balance_c: float | None = None
    cool_kw_per_c: float = 0.0
    schedule: str = "two_shift"  # two_shift | office | continuous
    noise_share: float = 0.05
    noise_rho: float = 0.6
    events: dict = field(default_factory=dict)
    time_zone: str = "Europe/Berlin"


PLANT: tuple[MachineSpec, ...] = (
    MachineSpec("Compressor C1", "compressor", "North plant", 160, 40, kwh_per_unit=0.9, cool_balance_c=24,
                cool_kw_per_c=0.8, events={"step": {"day": 150, "fraction": 0.12}}),
    MachineSpec("Compressor C2", "compressor", "North plant", 160, 38, kwh_per_unit=0.85, cool_balance_c=24,
                cool_kw_per_c=0.7),
    MachineSpec("Compressor C3", "compressor", "South plant", 110, 30, kwh_per_unit=0.6, cool_balance_c=25,
                cool_kw_per_c=0.5, events={"anomalies": {"rate": 0.006, "size": (0.4, 0.9)}}),
    MachineSpec("HVAC AHU-1", "hvac", "North plant", 90, 8, heat_balance_c=14, heat_kw_per_c=2.2, cool_balance_c=21,
                cool_kw_per_c=2.8, schedule="office"),
    MachineSpec("HVAC AHU-2", "hvac", "South plant", 75, 7, heat_balance_c=15, heat_kw_per_c=1.8, cool_balance_c=22,
                cool_kw_per_c=2.4, schedule="office", events={"temp_shift": {"day": 150, "offset_c": 12.0}}),
    MachineSpec("HVAC RTU-3", "hvac", "South plant", 60, 5, heat_balance_c=13, heat_kw_per_c=1.5, cool_balance_c=22,
                cool_kw_per_c=2.0, schedule="office"),
    MachineSpec("Furnace F1", "furnace", "North plant", 400, 60, kwh_per_unit=3.2, schedule="continuous"),
    MachineSpec("Furnace F2", "furnace", "South plant", 350, 55, kwh_per_unit=2.9, schedule="continuous",
                events={"step": {"day": 155, "fraction": 0.15}}),
    MachineSpec("Pump P1", "pump", "North plant", 45, 6, kwh_per_unit=0.15, cool_balance_c=20, cool_kw_per_c=0.6),
    MachineSpec("Pump P2", "pump", "South plant", 55, 7, kwh_per_unit=0.2, schedule="continuous",
                events={"anomalies": {"rate": 0.008, "size": (0.5, 1.0)}}),
    MachineSpec("Chiller CH1", "chiller", "North plant", 250, 15, cool_balance_c=18, cool_kw_per_c=9.0,
                schedule="continuous"),
    MachineSpec("Boiler B1", "boiler", "South plant", 300, 12, heat_balance_c=16, heat_kw_per_c=8.5,
                schedule="continuous"),
    MachineSpec("Conveyor K1", "conveyor", "North plant", 30, 3, kwh_per_unit=0.12),
    MachineSpec("Conveyor K2", "conveyor", "South plant", 30, 3.5, kwh_per_unit=0.1),
)


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, parts)).encode()))


def _ar1(n: int, rho: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    shocks = rng.normal(0.0, sd * np.sqrt(1 - rho**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = rho * out[i - 1] + shocks[i]
    return out


def site_temperature(timestamps: pd.DatetimeIndex, site: str, time_zone: str = "UTC") -> np.ndarray:
    """Outdoor temperature (°C): a daily cycle (sun time, so on the local clock) and multi-day
    weather swings around a fixed mean.

    The demo has no seasons on purpose: its readings end on the day it is loaded, so a seasonal
    term would make every machine drift out of its training range depending on the calendar,
    and only the injected events should make drift.
    """
    hour = timestamps.tz_convert(time_zone).hour.to_numpy()
    daily = -4.0 * np.cos(2 * np.pi * (hour - 3) / 24.0)
    weather = _ar1(len(timestamps), 0.9, 3.0, _rng("weather", site))
    return 13.0 + daily + weather


def _schedule(timestamps: pd.DatetimeIndex, kind: str, time_zone: str = "UTC") -> np.ndarray:
    """Share of each hour the machine runs (the operating-hours driver), on the local clock."""
    timestamps = timestamps.tz_convert(time_zone)
    hour = timestamps.hour.to_numpy()
    weekday = timestamps.day_of_week.to_numpy() < 5
    if kind == "continuous":
        return np.full(len(timestamps), 1.0)
    if kind == "office":
        on = weekday & (hour >= 6) & (hour < 19)
        return np.where(on, 1.0, 0.15)
    on = weekday & (hour >= 6) & (hour < 22)
    saturday = (timestamps.day_of_week.to_numpy() == 5) & (hour >= 6) & (hour < 14)
    return np.where(on, 1.0, np.where(saturday, 0.8, 0.1))


def machine_readings(spec: MachineSpec, start: pd.Timestamp, days: int) -> pd.DataFrame:
    """Hourly readings of one machine over `days` days from `start` (UTC), deterministic."""
    timestamps = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    n = len(timestamps)
    rng = _rng("machine", spec.name)
    hours_on = _schedule(timestamps, spec.schedule, spec.time_zone)
    hours_on = np.clip(hours_on + rng.normal(0, 0.03, n) * (hours_on > 0.5), 0.0, 1.0)
    temp = site_temperature(timestamps, spec.site, spec.time_zone)

    production = np.zeros(n)
    if spec.kwh_per_unit:
        nominal = spec.rated_power_kw * 0.5 / spec.kwh_per_unit / 3
        daily_level = np.repeat(rng.uniform(0.7, 1.15, days), 24)
        production = np.maximum(0.0, hours_on * nominal * daily_level * (1 + rng.normal(0, 0.08, n)))

    load = spec.base_kw * (0.35 + 0.65 * hours_on) + spec.kwh_per_unit * production
    if spec.heat_balance_c is not None:
        load += spec.heat_kw_per_c * np.maximum(spec.heat_balance_c - temp, 0.0)
    if spec.cool_balance_c is not None:
        load += spec.cool_kw_per_c * np.maximum(temp - spec.cool_balance_c, 0.0)

    mean_load = float(load.mean())
    energy = load + _ar1(n, spec.noise_rho, spec.noise_share * mean_load, rng)
    is_anomaly = np.zeros(n, dtype=bool)
    measured_temp = temp.copy()

    events = spec.events
    if "step" in events:
        from_hour = events["step"]["day"] * 24
        energy[from_hour:] *= 1.0 + events["step"]["fraction"]
    if "temp_shift" in events:
        # The machine moved to a hotter zone: its air really is warmer, so the model stays right.
        from_hour = events["temp_shift"]["day"] * 24
        offset = events["temp_shift"]["offset_c"]
        measured_temp[from_hour:] += offset
        shifted = spec.cool_kw_per_c * (
            np.maximum(temp[from_hour:] + offset - spec.cool_balance_c, 0.0)
            - np.maximum(temp[from_hour:] - spec.cool_balance_c, 0.0)
        )
        heat_change = 0.0
        if spec.heat_balance_c is not None:
            heat_change = spec.heat_kw_per_c * (
                np.maximum(spec.heat_balance_c - temp[from_hour:] - offset, 0.0)
                - np.maximum(spec.heat_balance_c - temp[from_hour:], 0.0)
            )
        energy[from_hour:] += shifted + heat_change
    if "anomalies" in events:
        low, high = events["anomalies"]["size"]
        hit = rng.random(n) < events["anomalies"]["rate"]
        energy[hit] *= 1.0 + rng.uniform(low, high, hit.sum())
        is_anomaly |= hit

    frame = pd.DataFrame(
        {
            "timestamp": timestamps,
            "energy_kwh": np.round(np.maximum(energy, 0.0), 3),
            "production_units": np.round(production, 2) if spec.kwh_per_unit else np.nan,
            "outdoor_temp_c": np.round(measured_temp, 2),
            "operating_hours": np.round(hours_on, 3),
            "is_anomaly": is_anomaly,
        }
    )
    return frame

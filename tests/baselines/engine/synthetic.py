"""Synthetic readings with known answers (balance points, production coefficient)."""

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------
# Synthetic data with known answers
# --------------------------------------------------------------------------

TRUE_HEAT_BP, TRUE_COOL_BP, TRUE_PRODUCTION_COEF = 15.0, 22.0, 2.0


def hourly_frame(days: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=days * 24, freq="h", tz="UTC")
    n = len(ts)
    day = np.arange(n) / 24
    hour = ts.hour.to_numpy()
    dow = ts.day_of_week.to_numpy()
    temp = 17 + 8 * np.sin(2 * np.pi * day / 40) + 6 * np.sin(2 * np.pi * (hour - 9) / 24)
    temp = temp + rng.normal(0, 1.5, n)
    shift = (dow < 5) & (hour >= 6) & (hour < 22)
    production = np.where(shift, rng.uniform(20, 60, n), rng.uniform(0, 5, n))
    profile = 10 * shift + 3 * np.sin(2 * np.pi * hour / 24)
    energy = (
        50
        + TRUE_PRODUCTION_COEF * production
        + 3 * np.maximum(TRUE_HEAT_BP - temp, 0)
        + 1.5 * np.maximum(temp - TRUE_COOL_BP, 0)
        + profile
        + rng.normal(0, 3, n)
    )
    return pd.DataFrame(
        {
            "timestamp": ts,
            "energy_kwh": energy,
            "production_units": production,
            "outdoor_temp_c": temp,
            "operating_hours": np.nan,
        }
    )


def daily_frame(days: int = 200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=days, freq="D", tz="UTC")
    d = np.arange(days)
    temp = 15 + 10 * np.sin(2 * np.pi * d / 60) + rng.normal(0, 2, days)
    weekend = ts.day_of_week.to_numpy() >= 5
    production = np.where(weekend, rng.uniform(0, 50, days), rng.uniform(300, 600, days))
    energy = (
        1000
        + 2 * production
        + 40 * np.maximum(14 - temp, 0)
        + 25 * np.maximum(temp - 20, 0)
        - 200 * weekend
        + rng.normal(0, 30, days)
    )
    return pd.DataFrame(
        {
            "timestamp": ts,
            "energy_kwh": energy,
            "production_units": production,
            "outdoor_temp_c": temp,
        }
    )


def building_frame(
    days: int = 270,
    seed: int = 0,
    *,
    start: str = "2024-01-01",
    time_zone: str = "Europe/Berlin",
    heat_bp: float | None = 15.0,
    heat_slope: float = 3.0,
    cool_bp: float | None = 22.0,
    cool_slope: float = 4.0,
    occupied_cool_only: bool = False,
    noise_sd: float = 6.0,
    rho: float = 0.9,
    day_phi: float = 0.7,
    day_share: float = 0.5,
) -> pd.DataFrame:
    """An office building in local time: base load, an occupied 07:00-19:00 weekday schedule on
    the local clock, hinge heating/cooling at known balance points, and residuals made of an
    hourly AR(1) (``rho``) plus a day-level AR(1) (``day_phi``) carrying ``day_share`` of the
    variance. Temperature: a season, a daily cycle and persistent weather."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    local = ts.tz_convert(time_zone)
    n = len(ts)
    doy = local.day_of_year.to_numpy() + local.hour.to_numpy() / 24
    weather = lfilter([1.0], [1.0, -0.97], rng.normal(0, 0.9, n))
    temp = 11 - 10 * np.cos(2 * np.pi * (doy - 20) / 365) + 4 * np.sin(2 * np.pi * (local.hour.to_numpy() - 9) / 24)
    temp = temp + weather
    occupied = (local.day_of_week.to_numpy() < 5) & (local.hour.to_numpy() >= 7) & (local.hour.to_numpy() < 19)
    energy = 40 + 35 * occupied
    if heat_bp is not None:
        energy = energy + heat_slope * np.maximum(heat_bp - temp, 0)
    if cool_bp is not None:
        cooling = cool_slope * np.maximum(temp - cool_bp, 0)
        energy = energy + (cooling * occupied if occupied_cool_only else cooling)
    hourly = lfilter([1.0], [1.0, -rho], rng.normal(0, noise_sd * np.sqrt((1 - rho**2) * (1 - day_share)), n))
    n_days = int(np.ceil(n / 24)) + 1
    daily = lfilter([1.0], [1.0, -day_phi], rng.normal(0, noise_sd * np.sqrt((1 - day_phi**2) * day_share), n_days))
    day_number = (local.tz_localize(None).normalize() - local.tz_localize(None).normalize()[0]).days.to_numpy()
    energy = energy + hourly + daily[day_number]
    return pd.DataFrame({"timestamp": ts, "energy_kwh": energy, "outdoor_temp_c": temp})

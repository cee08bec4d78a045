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

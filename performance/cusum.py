"""CUSUM of energy against a baseline: cumulative kWh above (+) or below (−) what the baseline
predicts, per day (no Django). The chart energy engineers read for savings and waste: a straight
line means a steady offset, a change of slope marks when consumption changed."""

from __future__ import annotations

import numpy as np


def cusum_daily(days: np.ndarray, actual: np.ndarray, predicted: np.ndarray) -> list[dict]:
    """`days`: the local date (any sortable label, e.g. 'YYYY-MM-DD') of each hourly reading.

    Returns one point per day in order, `{"t", "kwh", "cumulative_kwh", "n"}`: that day's
    Σ(actual − predicted) over the hours with a finite prediction, and the running total. Days
    without a usable hour are left out.
    """
    days = np.asarray(days)
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    ok = np.isfinite(actual) & np.isfinite(predicted)
    if not ok.any():
        return []
    labels, index = np.unique(days[ok], return_inverse=True)
    diff = np.bincount(index, weights=actual[ok] - predicted[ok], minlength=len(labels))
    count = np.bincount(index, minlength=len(labels))
    cumulative = np.cumsum(diff)
    return [{"t": str(t), "kwh": float(d), "cumulative_kwh": float(c), "n": int(n)}
            for t, d, c, n in zip(labels, diff, cumulative, count, strict=True)]


def percent_above(actual: np.ndarray, predicted: np.ndarray) -> float | None:
    """Σ(actual − predicted) / Σ predicted × 100 over the finite hours: the same sum NMBE uses
    (NMBE divides by Σ actual, so the two differ when the gap is large)."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    ok = np.isfinite(actual) & np.isfinite(predicted)
    total = predicted[ok].sum()
    if not ok.any() or total == 0:
        return None
    return float((actual[ok] - predicted[ok]).sum() / total * 100.0)

"""Autocorrelation-robust tests of regression coefficients (kept or dropped model terms).

Hourly residuals of energy models are autocorrelated within the hour (lag-1 of 0.5-0.9) and from
one day to the next (weather, occupancy and batch schedules); an ordinary least-squares t-test
treats 6,000 hours as 6,000 independent observations and keeps terms that have no effect.

:func:`coefficient_tests` sums each reading's influence on a coefficient by day (which absorbs
any correlation within a day exactly) and estimates the long-run variance of the daily series
with AR(1) prewhitening and the equal-weighted cosine (EWC) estimator of Lazarus, Lewis, Stock
& Watson (2018) with ``nu = floor(0.4 D^(2/3))`` cosine terms over ``D`` days; the t statistic
is referred to a Student-t law with ``nu`` degrees of freedom, reduced for the estimated AR
coefficient as in ``performance/abstats.py``. Numpy/scipy only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

PHI_BOUND = 0.97
EWC_COEFFICIENT = 0.4
#: Fewest groups (days) a test is run on; with fewer every term fails it.
MIN_GROUPS = 6


def ewc_terms(n: int) -> int:
    """Number of cosine terms of the EWC estimator: ``floor(0.4 n^(2/3))``, at least 1."""
    return max(1, int(math.floor(EWC_COEFFICIENT * n ** (2.0 / 3.0))))


def ewc_variance(u: np.ndarray, nu: int) -> np.ndarray:
    """Equal-weighted cosine long-run variance of ``u`` along the last axis (``nu`` terms)."""
    m = u.shape[-1]
    t = np.arange(m) + 0.5
    j = np.arange(1, nu + 1)
    # Cosine regressors sum to zero over the sample, so the mean of u needs no removal.
    basis = math.sqrt(2.0 / m) * np.cos(np.pi * np.outer(j, t) / m)
    projections = u @ basis.T
    return np.mean(projections * projections, axis=-1)


def _ewc_long_run_variance(x: np.ndarray) -> tuple[float, float]:
    """Prewhitened EWC long-run variance of a mean-zero series, and its degrees of freedom."""
    m = x.size
    ss = float(x @ x)
    phi = float(np.clip(x[1:] @ x[:-1] / ss, -PHI_BOUND, PHI_BOUND)) if ss > 0 else 0.0
    v = x[1:] - phi * x[:-1]
    omega = float(ewc_variance(v, ewc_terms(v.size))) / (1.0 - phi) ** 2
    nu = ewc_terms(v.size)
    inv_df = 1.0 / nu + 2.0 * (1.0 - phi * phi) / (m * (1.0 - phi) ** 2)
    return omega, 1.0 / inv_df


def group_starts(groups: np.ndarray) -> np.ndarray:
    """First row of each run of equal values in time-ordered ``groups``."""
    groups = np.asarray(groups)
    return np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]) if groups.size else np.empty(0, dtype=np.intp)


def coefficient_tests(Z: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray | int]:
    """Least-squares coefficients of ``y`` on the columns of ``Z`` with robust t tests.

    ``Z`` and ``y`` are already residualised on the rest of the model (Frisch-Waugh-Lovell), so
    the coefficients are those of the full model. ``groups`` labels the rows' days in time order.
    Returns ``beta``, ``se``, ``t``, ``df`` and two-sided ``p`` per column, and ``groups`` (the
    number of days). A column that cannot be tested gets ``p = 1``.
    """
    Z = np.asarray(Z, dtype=float)
    if Z.ndim == 1:
        Z = Z[:, None]
    y = np.asarray(y, dtype=float)
    k = Z.shape[1]
    gram = Z.T @ Z
    out: dict[str, np.ndarray | int] = {
        "beta": np.zeros(k), "se": np.full(k, np.inf), "t": np.zeros(k), "df": np.zeros(k), "p": np.ones(k),
    }
    starts = group_starts(groups)
    out["groups"] = int(starts.size)
    try:
        inv = np.linalg.inv(gram)
    except np.linalg.LinAlgError:
        return out
    if not np.all(np.isfinite(inv)):
        return out
    beta = inv @ (Z.T @ y)
    out["beta"] = beta
    if starts.size < MIN_GROUPS:
        return out
    u = y - Z @ beta
    influence = np.add.reduceat((Z * u[:, None]) @ inv, starts, axis=0)
    for j in range(k):
        x = influence[:, j] - influence[:, j].mean()
        omega, df = _ewc_long_run_variance(x)
        se = math.sqrt(max(omega * starts.size, 0.0))
        if not se > 0:
            continue
        t = float(beta[j] / se)
        out["se"][j] = se
        out["t"][j] = t
        out["df"][j] = df
        out["p"][j] = float(2.0 * stats.t.sf(abs(t), df))
    return out

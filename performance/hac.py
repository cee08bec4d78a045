"""Variance of the mean of an autocorrelated series (HAR/HAC estimators) for the A/B tests.

Used by :mod:`performance.abstats`, whose docstring says which estimator the
product uses and why (with the simulation evidence).  Functions work along
the last axis, so many simulated series are handled in one call.  This module
must stay free of Django imports.
"""

from __future__ import annotations

import math

import numpy as np

from baselines.engine.hac import ewc_variance

__all__ = [
    "PHI_BOUND",
    "ar_order_cap",
    "ar_prewhitened_variance",
    "autocovariances",
    "dm_statistic",
    "newey_west_bandwidth",
    "newey_west_variance",
    "yule_walker",
]

# Andrews & Monahan (1992) bound: keeps 1/(1 - phi)^2 finite on near-unit-root samples.
PHI_BOUND = 0.97
_MAX_AR_ORDER = 4


def newey_west_bandwidth(n: int) -> int:
    """Newey-West (1994) rule-of-thumb bandwidth ``floor(4 (n/100)^(2/9))``."""
    return int(math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))


def newey_west_variance(d: np.ndarray, bandwidth: int) -> np.ndarray | float:
    """Newey-West (Bartlett kernel) long-run variance of ``d`` along the last axis.

    ``gamma_0 + 2 * sum_{k=1..bandwidth} (1 - k/(bandwidth+1)) gamma_k`` with
    autocovariances ``gamma_k = sum_t x_t x_{t-k} / n`` of the demeaned
    series.  ``bandwidth = 0`` gives the (divisor n) sample variance.
    """
    bandwidth = int(bandwidth)
    if bandwidth < 0:
        raise ValueError("bandwidth must be non-negative")
    x = np.asarray(d, dtype=np.float64)
    n = x.shape[-1]
    x = x - x.mean(axis=-1, keepdims=True)
    lrv = np.einsum("...t,...t->...", x, x) / n
    for k in range(1, min(bandwidth, n - 1) + 1):
        weight = 1.0 - k / (bandwidth + 1.0)
        lrv = lrv + 2.0 * weight * np.einsum("...t,...t->...", x[..., k:], x[..., :-k]) / n
    return float(lrv) if np.ndim(lrv) == 0 else lrv


def dm_statistic(d: np.ndarray, bandwidth: int) -> float:
    """Diebold-Mariano statistic of a loss differential with a Newey-West variance.

    Includes the Harvey-Leybourne-Newbold (1997) small-sample factor for
    one-step forecasts, ``sqrt((n - 1) / n)``, so that with ``bandwidth = 0``
    the statistic equals the paired t statistic.
    """
    x = np.asarray(d, dtype=np.float64)
    n = x.size
    lrv = newey_west_variance(x, bandwidth)
    if n < 2 or not lrv > 0:
        raise ValueError("the statistic needs at least two points and a positive variance")
    return float(x.mean() / math.sqrt(lrv / (n - 1)))




def autocovariances(d: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocovariances ``gamma_0..gamma_max_lag`` (divisor n) of the demeaned series along the last axis."""
    x = np.asarray(d, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    n = x.shape[-1]
    lags = [np.einsum("...t,...t->...", x[..., k:], x[..., : n - k]) / n for k in range(int(max_lag) + 1)]
    return np.stack(lags, axis=-1)


def yule_walker(gamma: np.ndarray, max_order: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Yule-Walker AR fits of every order up to ``max_order`` (Levinson-Durbin recursion).

    ``gamma`` holds autocovariances ``gamma_0..`` along its last axis.  Returns
    the coefficient arrays ``a`` of orders 0..max_order (shape ``(..., p)``,
    ``x_t = sum_j a_j x_{t-j} + u_t``) and the innovation variances, shape
    ``(..., max_order + 1)``.  Fits from biased autocovariances are always
    stationary.
    """
    g = np.asarray(gamma, dtype=np.float64)
    a = np.zeros((*g.shape[:-1], 0))
    err = g[..., 0].copy()
    coefficients, variances = [a], [err]
    for k in range(1, int(max_order) + 1):
        num = g[..., k] - np.einsum("...j,...j->...", a, g[..., k - 1 : 0 : -1])
        with np.errstate(invalid="ignore", divide="ignore"):
            reflection = np.nan_to_num(num / err)
        a = np.concatenate([a - reflection[..., None] * a[..., ::-1], reflection[..., None]], axis=-1)
        err = err * (1.0 - reflection * reflection)
        coefficients.append(a)
        variances.append(err)
    return coefficients, np.stack(variances, axis=-1)


def ar_order_cap(n: int) -> int:
    """Highest AR order tried for ``n`` readings: 4, and at least ten readings per coefficient."""
    return min(_MAX_AR_ORDER, int(n) // 10)


def ar_prewhitened_variance(x: np.ndarray, nu: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long-run variance, 1/df and AR order of demeaned rows ``x`` (2-D), AR(p) prewhitened with EWC.

    The order minimises BIC over 0..ar_order_cap(n); the AR polynomial is
    scaled so that the sum of its coefficients ``S`` stays in [-0.97, 0.97];
    the residual's EWC variance is recoloured by ``1/(1 - S)^2`` divided by
    its second-order bias ``1 + 3 var(S)/(1 - S)^2``, and ``2 var(S)/(1 - S)^2``
    is added to ``1/df`` (``var(S) = sigma_u^2 1' Gamma_p^-1 1 / n``).
    """
    rows, n = x.shape
    cap = ar_order_cap(n)
    gamma = autocovariances(x, cap)
    coefficients, variances = yule_walker(gamma, cap)
    bic = np.log(np.maximum(variances, np.finfo(float).tiny)) + np.arange(cap + 1) * math.log(n) / n
    order = np.argmin(bic, axis=-1)
    lrv, inv_df = np.empty(rows), np.empty(rows)
    for p in range(cap + 1):
        sel = order == p
        if not sel.any():
            continue
        xs = x[sel]
        if p == 0:
            lrv[sel], inv_df[sel] = ewc_variance(xs, nu), 1.0 / nu
            continue
        a = coefficients[p][sel]
        total = a.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            a = a * np.nan_to_num(np.minimum(1.0, PHI_BOUND / np.abs(total)), nan=1.0)[:, None]
        total = a.sum(axis=-1)
        u = xs[:, p:].copy()
        for j in range(p):
            u -= a[:, j : j + 1] * xs[:, p - 1 - j : n - 1 - j]
        lags = np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
        ones = np.linalg.solve(gamma[sel][:, lags], np.ones((int(sel.sum()), p, 1)))[..., 0].sum(axis=-1)
        relative = variances[sel, p] * ones / n / (1.0 - total) ** 2
        lrv[sel] = ewc_variance(u, nu) / (1.0 - total) ** 2 / (1.0 + 3.0 * relative)
        inv_df[sel] = 1.0 / nu + 2.0 * relative
    return lrv, inv_df, order

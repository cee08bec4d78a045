"""What is stored at training: the reference statistics every later drift check compares with."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.signal import lfilter

from ._json import _as_float_array, _clean, _num
from .concept import RHO_MAX, _calibrate, _consecutive, _f_quantile, _lag1
from .data import _bin_shares, _psi_edges
from .structure import residual_structure

LEVEL_WINDOW = 168


def _driver_reference(x: np.ndarray, n_quantiles: int) -> dict[str, Any]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None,
                "psi_edges": [], "psi_reference": [], "quantiles": []}
    edges = _psi_edges(x)
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "min": float(x.min()),
        "max": float(x.max()),
        "psi_edges": edges.tolist(),
        "psi_reference": _bin_shares(x, edges).tolist(),
        "quantiles": np.quantile(x, np.linspace(0.0, 1.0, n_quantiles)).tolist(),
    }


def _baseline_uncertainty(drivers: dict[str, np.ndarray], e: np.ndarray, rho: float, std: float,
                          window: int = LEVEL_WINDOW) -> dict[str, Any]:
    """Parameter covariance of a linear baseline in the drivers, and its level error.

    A later window's residuals are off by the baseline's estimation error:
    the intercept error plus the slope errors times the drivers.  The
    covariance is the sandwich ``(X'X)^-1 X' Sigma X (X'X)^-1`` of a linear
    model in ``[1, drivers]`` with AR(1) errors, so persistent drivers such as
    outdoor temperature, whose slopes are poorly determined under
    autocorrelated errors, count fully.  ``level_se`` is the resulting error of
    a window mean, averaged over the training's own windows of ``window``
    rows.  For a model with more structure than the drivers this is a lower
    bound.
    """
    n = e.size
    names = [name for name, values in drivers.items() if np.asarray(values).shape == (n,)]
    x = np.column_stack([np.ones(n)] + [np.asarray(drivers[name], dtype=float) for name in names])
    rows = np.isfinite(e) & np.all(np.isfinite(x), axis=1)
    x = x[rows]
    m = x.shape[0]
    if m < x.shape[1] + 2:
        names = []
        x = np.ones((int(np.isfinite(e).sum()), 1))
        m = x.shape[0]
    # Sigma X for Sigma_ts = std^2 rho^|t-s|: forward plus backward
    # exponential smoothing, minus the doubly counted diagonal.
    forward = lfilter([1.0], [1.0, -rho], x, axis=0)
    backward = lfilter([1.0], [1.0, -rho], x[::-1], axis=0)[::-1]
    sigma_x = (forward + backward - x) * std * std
    xtx_inv = np.linalg.pinv(x.T @ x)
    cov = xtx_inv @ (x.T @ sigma_x) @ xtx_inv
    cov = 0.5 * (cov + cov.T)
    width = max(1, min(window, m))
    csum = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    starts = np.arange(0, m - width + 1, max(1, width // 7))
    means = (csum[starts + width] - csum[starts]) / width
    variances = np.einsum("wi,ij,wj->w", means, cov, means)
    return {
        "columns": ["intercept", *names],
        "means": [float(v) for v in x.mean(axis=0)],
        "cov": cov.tolist(),
        "level_se": float(math.sqrt(max(float(np.mean(variances)), 0.0))),
    }


def reference_statistics(
    drivers: dict[str, np.ndarray],
    residuals: np.ndarray,
    *,
    holdout_rmse: float | None,
    timestamps: np.ndarray | None = None,
    n_quantiles: int = 1001,
    holdout_n: int | None = None,
    n_simulations: int = 4000,
    out_of_sample: bool = False,
    days: np.ndarray | None = None,
    occupied: np.ndarray | None = None,
) -> dict[str, Any]:
    """Condense a training window into the JSON reference for later checks.

    The residuals should be out-of-sample (``out_of_sample=True``): each
    reading predicted by a fit that did not see it, as the blocked folds of
    training give them. In-sample residuals of a model with ~170 parameters
    understate the noise that a later window will show, and every scale,
    threshold and calibration below inherits that.

    Args:
        drivers: driver name -> training values (NaN ignored).
        residuals: training residuals ``y - y_hat`` in time order (NaN marks
            a missing reading): out-of-sample, or in-sample with
            ``out_of_sample=False``.
        holdout_rmse: RMSE on the holdout window, the denominator of the
            error ratio.
        holdout_n: number of holdout rows behind ``holdout_rmse``.  With it, a
            holdout RMSE above the in-sample RMSE by more than its sampling
            error (one-sided 95 %, autocorrelation-corrected) inflates the
            residual scale by the excess, so that the ordinary out-of-sample
            error of a flexible model is not reported as drift.  Without it the
            in-sample scale is used as is; flexible models should then pass
            out-of-fold residuals.
        timestamps: optional reading times (datetime64 or seconds); pairs that
            are not one sampling interval apart do not count as consecutive.
        n_quantiles: size of each driver's quantile sketch.
        n_simulations: simulated windows per length for the change-point
            threshold calibration.
        out_of_sample: whether ``residuals`` are out-of-sample (stored as
            ``residuals.basis``).
        days: local calendar day of each reading (for the day-level
            structure; UTC days from ``timestamps`` when ``None``).
        occupied: occupied-hour flag of each reading, or ``None``.

    Returns:
        ``{"version", "drivers": {name: {...}}, "residuals": {...}}``.
        ``residuals`` holds ``n, mean, std, rmse, rho`` (lag-1, clipped to
        [0, 0.99]), ``rho_raw``, ``holdout_rmse``, ``ess_factor``,
        ``innovation_std``, ``scale_inflation``, ``level_se``, ``baseline``
        (parameter covariance), ``interval_seconds``, ``cusum`` (the
        change-point calibration), ``basis`` (``"out_of_sample"`` or
        ``"in_sample"``) and ``structure``: the residuals' structure for a
        detector's calibration (scale; lag-1, same-hour-next-day and
        next-week autocorrelation; daily means and their day-to-day
        persistence; within-day scale and its day-to-day variation;
        occupied vs unoccupied scale; a two-level simulation model; at most
        8 weekly blocks and 400 daily means for a block bootstrap), described
        key by key in :mod:`.structure`.
    """
    if n_quantiles < 2:
        raise ValueError("n_quantiles must be at least 2")
    e = _as_float_array(residuals, "residuals")
    consecutive, interval = _consecutive(e.size, timestamps)

    driver_stats = {str(name): _driver_reference(_as_float_array(values, name), n_quantiles)
                    for name, values in drivers.items()}

    ok = np.isfinite(e)
    n = int(ok.sum())
    if n < 2:
        raise ValueError("at least two finite residuals are needed")
    ev = e[ok]
    std = float(ev.std())
    rmse = float(math.sqrt(np.mean(ev * ev)))
    rho = float(np.clip(_lag1(e, consecutive), 0.0, RHO_MAX))

    innovations = np.full(e.size, np.nan)
    pair = consecutive.copy()
    pair[1:] &= ok[1:] & ok[:-1]
    innovations[1:] = np.where(pair[1:], e[1:] - rho * e[:-1], np.nan)
    innov = innovations[np.isfinite(innovations)]
    sigma_u = float(innov.std()) if innov.size >= 2 else std * math.sqrt(1.0 - rho * rho)

    holdout = _num(holdout_rmse)
    if holdout is not None and holdout < 0:
        raise ValueError("holdout_rmse must be non-negative")
    inflation = 1.0
    if holdout and rmse > 0 and holdout_n:
        # Scale up (never down) by the part of the holdout excess that its own
        # sampling error cannot explain.
        df = (1 - rho * rho) / (1 + rho * rho)
        band = math.sqrt(_f_quantile(0.95, max(holdout_n * df, 1.0), max(n * df, 1.0)))
        inflation = max(1.0, holdout / rmse / band)

    baseline = _baseline_uncertainty(drivers, e, rho, std)

    residual_stats = {
        "n": n,
        "mean": float(ev.mean()),
        "std": std,
        "rmse": rmse,
        "rho": rho,
        "rho_raw": _num(_lag1(e, consecutive)),
        "holdout_rmse": holdout,
        "ess_factor": (1.0 - rho) / (1.0 + rho),
        "innovation_std": sigma_u,
        "scale_inflation": inflation,
        "level_se": baseline["level_se"],
        "baseline": {k: v for k, v in baseline.items() if k != "level_se"},
        "interval_seconds": interval,
        "cusum": _calibrate(rho, innovations, int(n_simulations)),
        "basis": "out_of_sample" if out_of_sample else "in_sample",
    }
    if timestamps is not None:
        ts = np.asarray(timestamps)
        seconds = (ts.astype("datetime64[s]").astype(np.int64).astype(float) if np.issubdtype(ts.dtype, np.datetime64)
                   else ts.astype(float))
        residual_stats["structure"] = residual_structure(e, seconds, interval_seconds=interval, days=days,
                                                         occupied=occupied)
    return _clean({"version": 2, "drivers": driver_stats, "residuals": residual_stats})

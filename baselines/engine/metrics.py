"""Accuracy metrics of baseline predictions and the ASHRAE Guideline 14 acceptance check."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: (CV(RMSE) limit, abs(NMBE) limit) per data interval. Monthly and hourly are
#: the ASHRAE Guideline 14 calibration limits; daily has no published limit.
ASHRAE_LIMITS: dict[str, tuple[float, float]] = {
    "monthly": (0.15, 0.05),
    "daily": (0.25, 0.075),
    "hourly": (0.30, 0.10),
}



def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def regression_metrics(y: Any, y_hat: Any, n_params: int) -> dict[str, float | int | None]:
    """Accuracy of predictions ``y_hat`` against actuals ``y``.

    Returns ``n, r_squared, adj_r_squared, rmse, mae, mape, wape, cv_rmse, nmbe``.
    CV(RMSE) and NMBE use the ``n - p`` degrees-of-freedom correction of
    ASHRAE Guideline 14 with ``p = n_params``; pass 0 for points the model was
    not fitted on. MAPE is taken over ``y != 0`` only. Ratios are fractions
    (0.05 = 5 %). Pairs with a non-finite value are ignored. Anything
    undefined (``n - p <= 0``, mean of ``y`` zero, constant ``y``, ...) is
    ``None``, never NaN or inf, so the result is JSON-serialisable.
    """
    p = operator.index(n_params)
    if p < 0:
        raise ValueError("n_params must be >= 0")
    y = np.asarray(y, dtype=float).ravel()
    y_hat = np.asarray(y_hat, dtype=float).ravel()
    if y.shape != y_hat.shape:
        raise ValueError(f"y and y_hat differ in length ({y.size} != {y_hat.size})")
    ok = np.isfinite(y) & np.isfinite(y_hat)
    y, y_hat = y[ok], y_hat[ok]
    n = int(y.size)
    out: dict[str, float | int | None] = {
        "n": n,
        "r_squared": None,
        "adj_r_squared": None,
        "rmse": None,
        "mae": None,
        "mape": None,
        "wape": None,
        "cv_rmse": None,
        "nmbe": None,
    }
    if n == 0:
        return out
    e = y - y_hat
    abs_e = np.abs(e)
    sse = float(e @ e)
    y_bar = float(y.mean())
    out["rmse"] = _finite_or_none(math.sqrt(sse / n))
    out["mae"] = _finite_or_none(abs_e.mean())
    nonzero = y != 0
    if nonzero.any():
        out["mape"] = _finite_or_none(np.mean(abs_e[nonzero] / np.abs(y[nonzero])))
    sum_abs_y = float(np.abs(y).sum())
    if sum_abs_y > 0:
        out["wape"] = _finite_or_none(abs_e.sum() / sum_abs_y)
    # ptp == 0 is the exact "constant y" test; a computed SStot can be a rounding crumb.
    if n > 1 and np.ptp(y) > 0:
        ss_tot = float(np.sum((y - y_bar) ** 2))
        r2 = 1.0 - sse / ss_tot
        out["r_squared"] = _finite_or_none(r2)
        if n - p > 0:
            out["adj_r_squared"] = _finite_or_none(1.0 - (sse / (n - p)) / (ss_tot / (n - 1)))
    mean_abs_y = sum_abs_y / n
    if n - p > 0 and abs(y_bar) > 1e-12 * mean_abs_y:
        out["cv_rmse"] = _finite_or_none(math.sqrt(sse / (n - p)) / y_bar)
        out["nmbe"] = _finite_or_none(float(e.sum()) / ((n - p) * y_bar))
    return out


def classification_metrics(y_true: Any, y_pred: Any) -> dict[str, float | int | None]:
    """Precision, recall and F1 of boolean anomaly flags against labels.

    Values equal scikit-learn's ``precision_recall_fscore_support`` for the
    positive class wherever they are defined; where scikit-learn would fall
    back to ``zero_division`` (no predicted positives for precision, no actual
    positives for recall, neither for F1) the value is ``None``. F1 is
    ``2tp / (2tp + fp + fn)``, so it is 0.0, not ``None``, when only one of
    precision and recall is undefined and there is at least one error.
    """
    t = np.asarray(y_true, dtype=bool).ravel()
    p = np.asarray(y_pred, dtype=bool).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length ({t.size} != {p.size})")
    tp = int(np.sum(t & p))
    fp = int(np.sum(~t & p))
    fn = int(np.sum(t & ~p))
    tn = int(np.sum(~t & ~p))
    return {
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1_score": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else None,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "n": int(t.size),
    }


def ashrae_check(
    metrics: Mapping[str, Any], interval: str, limits: Mapping[str, Sequence[float]] | None = None
) -> dict[str, Any]:
    """Compare CV(RMSE) and NMBE of ``metrics`` with the limits for ``interval``.

    ``limits`` maps interval to ``(cv_rmse_limit, nmbe_limit)`` and defaults to
    :data:`ASHRAE_LIMITS`. Absolute values are compared; an undefined metric
    (``None``) fails its check.
    """
    table = ASHRAE_LIMITS if limits is None else limits
    if interval not in table:
        raise ValueError(f"no limits for interval {interval!r}; known: {sorted(table)}")
    cv_limit, nmbe_limit = (float(v) for v in table[interval])
    cv, nmbe = metrics.get("cv_rmse"), metrics.get("nmbe")
    cv_ok = cv is not None and abs(cv) <= cv_limit
    nmbe_ok = nmbe is not None and abs(nmbe) <= nmbe_limit
    return {
        "interval": interval,
        "cv_rmse_limit": cv_limit,
        "nmbe_limit": nmbe_limit,
        "cv_rmse_ok": bool(cv_ok),
        "nmbe_ok": bool(nmbe_ok),
        "passes": bool(cv_ok and nmbe_ok),
    }


def lag1_autocorrelation(x: Any) -> float:
    """Lag-1 autocorrelation ``sum((x_t - m)(x_{t+1} - m)) / sum((x_t - m)^2)``.

    Non-finite values are dropped. Returns 0.0 (no correction) when fewer than
    three values remain or they are constant, since callers use it to shrink
    an effective sample size.
    """
    x = np.asarray(x, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size < 3:
        return 0.0
    d = x - x.mean()
    denom = float(d @ d)
    if denom <= 0:
        return 0.0
    return float(np.dot(d[:-1], d[1:]) / denom)

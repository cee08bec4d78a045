"""Driver (covariate) drift of a current window against the stored reference.

Data drift (per driver)
-----------------------
* PSI over 10 reference-decile bins (interior edges stored, outer bins
  open-ended, empty bins floored at 1e-4); bins are closed on the left, and
  when more than 80 % of the reference sits on one value the value gets a bin
  of its own so that moves to either side are still visible.
* Kolmogorov-Smirnov statistic between the reference ECDF (approximated by the
  stored quantile sketch, error <= 1 / (n_quantiles - 1)) and the current ECDF;
  the p-value is the asymptotic Kolmogorov distribution (``kstwobign``) at
  ``D * sqrt(n * m / (n + m))`` with the true reference and current sizes.
  It is reported only: with thousands of rows it flags trivial differences.
* Wasserstein-1 distance computed exactly between the piecewise-linear
  reference quantile function (the sketch) and the current empirical quantile
  function, divided by the reference standard deviation (population ``std``,
  as Evidently does).  For a constant reference the divisor is
  ``max(|reference value|, 1)``.
* A driver *drifts* on effect size: ``PSI >= psi_warning`` or normalised
  Wasserstein ``>= wasserstein``; its level is ``critical`` when
  ``PSI > psi_critical``.  Shape changes move PSI, location shifts move the
  Wasserstein distance first (a 0.3 sd shift of a normal driver gives
  PSI ~ 0.09 but W/sd = 0.3), so either one suffices.  The KS p-value never
  makes a driver drift; it only vetoes an effect size that the current sample
  is too small to tell from noise (``ks_pvalue >= ks_alpha``): a stable week of
  168 rows shows W/sd ~ 0.1 by sampling alone.
* Extrapolation: share of current rows outside the training ``[min, max]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from ._json import _as_float_array, _clean
from .thresholds import DriftThresholds

PSI_BINS = 10
PSI_FLOOR = 1e-4


def _psi_edges(x: np.ndarray) -> np.ndarray:
    """Interior edges of the reference-decile bins (left-closed bins)."""
    edges = np.unique(np.quantile(x, np.arange(1, PSI_BINS) / PSI_BINS))
    if edges.size == 1:
        # One value carries most of the mass: give it its own bin.
        edges = np.array([edges[0], np.nextafter(edges[0], np.inf)])
    return edges


def _bin_shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(edges, x, side="right")
    return np.bincount(idx, minlength=edges.size + 1) / x.size


def _psi(ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    r = np.where(ref_shares > 0, ref_shares, PSI_FLOOR)
    c = np.where(cur_shares > 0, cur_shares, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def _ks_sketch(quantiles: np.ndarray, cur_sorted: np.ndarray) -> float:
    """sup |G - F| with G the sketch ECDF and F the current ECDF.

    Both are right-continuous step functions, so the supremum is attained at
    one of their jump points; every lookup below searches sorted values.
    """
    m = quantiles.size
    n = cur_sorted.size
    probs = np.arange(m) / (m - 1)
    # At the sketch points G is the probability of the last equal sketch value.
    g_at_q = probs[np.searchsorted(quantiles, quantiles, side="right") - 1]
    f_at_q = np.searchsorted(cur_sorted, quantiles, side="right") / n
    k = np.searchsorted(quantiles, cur_sorted, side="right") - 1
    g_at_x = np.where(k >= 0, probs[np.maximum(k, 0)], 0.0)
    f_at_x = np.searchsorted(cur_sorted, cur_sorted, side="right") / n
    return float(max(np.max(np.abs(g_at_q - f_at_q)), np.max(np.abs(g_at_x - f_at_x))))


def _wasserstein_sketch(quantiles: np.ndarray, cur_sorted: np.ndarray) -> float:
    """Exact integral of |Q_ref(u) - Q_cur(u)| over u in [0, 1].

    ``Q_ref`` is linear between the sketch quantiles, ``Q_cur`` the step
    quantile function of the current sample.
    """
    m = quantiles.size
    n = cur_sorted.size
    probs = np.arange(m) / (m - 1)
    grid = np.unique(np.concatenate([probs, np.arange(n + 1) / n]))
    lo, hi = grid[:-1], grid[1:]
    width = hi - lo
    mid = 0.5 * (lo + hi)
    level = cur_sorted[np.minimum((mid * n).astype(np.int64), n - 1)]
    d0 = np.interp(lo, probs, quantiles) - level
    d1 = np.interp(hi, probs, quantiles) - level
    a0, a1 = np.abs(d0), np.abs(d1)
    same_sign = d0 * d1 >= 0
    total = a0 + a1
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(total > 0, (d0 * d0 + d1 * d1) / (2.0 * total), 0.0)
    area = np.where(same_sign, 0.5 * total, crossing) * width
    return float(area.sum())


def _driver_drift(ref: dict[str, Any], x: np.ndarray, th: DriftThresholds) -> dict[str, Any]:
    x = x[np.isfinite(x)]
    n_cur = int(x.size)
    n_eff = _effective_size(x)
    empty = {"psi": None, "ks_statistic": None, "ks_pvalue": None, "wasserstein": None,
             "out_of_range_share": None, "drifted": False, "level": "none", "n": n_cur}
    if n_cur == 0 or not ref.get("n"):
        return empty
    cur = np.sort(x)
    edges = np.asarray(ref["psi_edges"], dtype=float)
    psi = _psi(np.asarray(ref["psi_reference"], dtype=float), _bin_shares(cur, edges))

    quantiles = np.asarray(ref["quantiles"], dtype=float)
    ks = _ks_sketch(quantiles, cur)
    n_ref = int(ref["n"])
    # Drivers such as outdoor temperature are strongly autocorrelated hour to hour: a week holds
    # far fewer independent values than rows, and an i.i.d. p-value would call every warm week
    # drift. The veto therefore uses the current window's effective sample size; the reported
    # `ks_pvalue` stays the textbook i.i.d. one.
    ks_p = float(special.kolmogorov(ks * math.sqrt(n_ref * n_cur / (n_ref + n_cur))))
    en = n_ref * n_eff / (n_ref + n_eff)
    ks_p_eff = float(special.kolmogorov(ks * math.sqrt(en)))

    w1 = _wasserstein_sketch(quantiles, cur)
    scale = ref["std"] if ref["std"] > 0 else max(abs(ref["mean"]), 1.0)
    w_norm = w1 / scale

    out = float(np.searchsorted(cur, ref["min"], side="left")
                + n_cur - np.searchsorted(cur, ref["max"], side="right")) / n_cur

    enough = n_cur >= th.min_rows
    # Rows beyond the training range are drift whatever the p-value says: the model extrapolates.
    drifted = enough and (
        ((psi >= th.psi_warning or w_norm >= th.wasserstein) and ks_p_eff < th.ks_alpha)
        or out >= th.extrapolation_warning
    )
    level = ("critical" if psi > th.psi_critical else "warning") if drifted else "none"
    return {"psi": psi, "ks_statistic": ks, "ks_pvalue": ks_p, "wasserstein": w_norm,
            "out_of_range_share": out, "drifted": bool(drifted), "level": level, "n": n_cur,
            "n_effective": n_eff, "ks_pvalue_effective": ks_p_eff}


def _effective_size(x: np.ndarray, per_day: int = 24) -> float:
    """Effective number of independent values of an hourly series, for the KS veto.

    The lag-1 AR(1) shortcut ``n (1 - r) / (1 + r)`` is wrong for hourly outdoor temperature:
    its lag-1 correlation (~0.98) comes from the smooth daily cycle, which samples the day's
    range evenly, so a week would count as ~3 values and no shift could reach the veto's
    significance.  The series is split into days (``per_day`` rows): the within-day part counts
    every row, the between-day part (the weather's persistence) counts the days, corrected for
    their own lag-1 correlation::

        n_eff = 1 / (s_b / d_eff + (1 - s_b) / n),   d_eff = D (1 - r_d) / (1 + r_d)

    with ``s_b`` the share of the variance in the daily means.  Fewer than three days fall back
    to the lag-1 form.  At least 2, at most n.
    """
    n = x.size
    if n < 3:
        return float(n)
    centred = x - x.mean()
    denom = float(np.dot(centred, centred))
    if denom <= 0:
        return float(n)
    days = n // per_day
    if days < 3:
        r = float(np.dot(centred[1:], centred[:-1]) / denom)
        r = min(max(r, 0.0), 0.99)
        return max(2.0, n * (1 - r) / (1 + r))
    means = centred[-days * per_day:].reshape(days, per_day).mean(axis=1)
    share = min(float(np.mean(means ** 2)) / (denom / n), 1.0)
    d = means - means.mean()
    dd = float(np.dot(d, d))
    r_d = float(np.dot(d[1:], d[:-1]) / dd) if dd > 0 else 0.0
    r_d = min(max(r_d, 0.0), 0.99)
    d_eff = max(1.0, days * (1 - r_d) / (1 + r_d))
    return float(min(max(2.0, 1.0 / (share / d_eff + (1.0 - share) / n)), n))


def data_drift(
    reference: dict[str, Any],
    current: dict[str, np.ndarray],
    thresholds: DriftThresholds | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-driver drift of the current window against the stored reference.

    Returns ``{driver: {"psi", "ks_statistic", "ks_pvalue", "wasserstein",
    "out_of_range_share", "drifted", "level", "n"}}`` where ``wasserstein`` is
    normalised by the reference std and ``n`` counts valid current rows.
    Drivers of the reference missing from ``current`` raise ``KeyError``;
    extra current columns are ignored.
    """
    th = thresholds or DriftThresholds()
    ref_drivers = reference["drivers"]
    missing = [name for name in ref_drivers if name not in current]
    if missing:
        raise KeyError(f"current data lacks driver(s): {', '.join(missing)}")
    return _clean({name: _driver_drift(ref, _as_float_array(current[name], name), th)
                   for name, ref in ref_drivers.items()})


def _extrapolation_rows(reference: dict[str, Any], current: dict[str, np.ndarray]) -> float | None:
    """Share of rows with at least one driver outside its training range."""
    outside = None
    valid = None
    for name, ref in reference["drivers"].items():
        if not ref.get("n"):
            continue
        x = _as_float_array(current[name], name)
        if outside is None:
            outside = np.zeros(x.size, dtype=bool)
            valid = np.zeros(x.size, dtype=bool)
        if x.size != outside.size:
            raise ValueError("all current driver arrays must have the same length")
        ok = np.isfinite(x)
        valid |= ok
        outside |= ok & ((x < ref["min"]) | (x > ref["max"]))
    if outside is None or not valid.any():
        return None
    return float(outside[valid].mean())

"""Causes: what a check's evidence means for an energy engineer.

A check can see three things, and each has its own test:

``consumption_change``
    Energy use moved and the drivers do not explain it (a leak, a worn bearing, a saving).
    Detection runs on *daily aggregates* of the residuals, where the noise model is simple and
    covers what hourly AR(1) whitening misses: a day's bias that persists into the next, and a
    day-to-day amplitude of the occupied-hours profile.  The window is cut into 24-hour blocks
    that end at the window's last reading; block means ``m_d`` have the covariance

        cov(m_d, m_d') = day_sd^2 phi^|d - d'| + [d = d'] hour_sd^2 f(rho_h, c_d) / c_d + level_var

    (``day_sd``, ``phi``, ``hour_sd``, ``rho_h`` from the version's out-of-sample residual
    structure; ``f`` the AR(1) variance factor of a mean of ``c_d`` readings; ``level_var`` the
    baseline's own error at the window's mean drivers, which widens when drivers extrapolate).
    For every block boundary ``k`` the shift since ``k`` is the mean residual of the readings
    after it, ``T_k`` its estimate over its exact standard error, and ``max_k |T_k|`` is compared
    with its own null quantile, simulated from the same covariance (seeded, so a check is
    reproducible).  The change point is then located to the hour near the best boundary.  A
    significant shift is a *consumption change* only when it is practically significant: its
    estimate at or above ``min_shift`` of the baseline's consumption with the 95 % interval
    excluding zero; smaller ones are reported, never alerted.

    Where the hourly noise model can be trusted at the hour (:func:`onset_scan_applies`), the
    same question is asked at the hour instead (:func:`_hourly_scan`): a generalised-likelihood
    scan over every start reading of a change proportional to the load, whitened by the full
    two-level covariance, at a fifth of the false-alarm rate; with the window's occupied hours
    known (the version's stored schedule) the covariance also scales the hourly part in occupied
    and unoccupied hours and lets the occupied hours of one day share a day-to-day amplitude, so
    that a production profile running higher one day than the next is noise, not a change. It
    sees what daily means blur: the
    jump at the change and at every rise of the daily profile after it, which is most of the
    evidence when hourly errors are persistent (daily means of AR(1) 0.9 errors vary as much as
    a week's 10 % step). Its change point is the scan's best start and its estimate and interval
    the generalised least-squares ones. ``scan`` says which test judged the window.

    Critical: at least ``nmbe_critical``, its scan-wide 95 % interval (the estimate +- ``band``,
    the 95 % quantile of the scan's maximum statistic under no change, times its standard error:
    ``ci_scan_relative``) above ``min_shift`` and two days (``CRITICAL_HOURS``) of evidence.
``coverage``
    Hours where a driver lies outside the training range or in a sparsely covered part of it
    (fewer than ``coverage_density`` of training rows within ``coverage_bandwidth`` reference
    standard deviations of the value, read off the stored quantile sketch): the version is asked
    to extrapolate.  A week of weather inside well-covered ground is not a coverage problem,
    whatever its PSI.  :func:`coverage` sets the level by the share of such hours; the check
    (``verdict.check_drift``) keeps it critical only when the model-error test sees the model fail
    on those hours themselves (``error_ratio``, ``error_pvalue``), a warning otherwise.
``model_error``
    The model got worse without a level shift: the error ratio (window RMSE once a located shift
    is taken out, over the reference RMSE) with an F test whose degrees of freedom come from the
    same two-level noise model.

:func:`decide` combines them: ``cause`` is the one that explains the verdict
(consumption change before coverage before model error), the others stay in the details.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from ._json import _clean
from .structure import _MAD_TO_SD
from .thresholds import DriftThresholds

BLOCK_SECONDS = 86400.0
NULL_SIMULATIONS = 4000
NULL_SEED = 20251202
MIN_HOURS_AFTER = 6
CRITICAL_HOURS = 48
SPIKE_Z = 6.0
# The hourly scan: when it applies (see onset_scan_applies), its share of the per-check false-alarm
# rate (it leans on the hourly noise model, whose small misfits a fifth of the rate absorbs in
# simulation), its null simulations and the most starts it scans.
ONSET_RHO = 0.85
ONSET_CONTRAST = 2.0
ONSET_SCALE_RATIO = 1.5
ONSET_ALPHA_SHARE = 0.2
ONSET_SIMULATIONS = 10000
ONSET_CANDIDATES = 400
# A critical change's interval is simultaneous over the scanned starts at this level (two-sided).
SIMULTANEOUS_LEVEL = 0.05


def noise_model(reference: dict[str, Any], occupancy: bool = False) -> dict[str, float]:
    """Two-level residual noise of a version: ``day_sd``, ``day_phi``, ``hour_sd``, ``hour_rho``;
    with ``occupancy`` the occupancy-aware fit (see :func:`has_occupancy_model`), which adds
    ``occupied_factor``, ``unoccupied_factor`` (multipliers of ``hour_sd``) and ``amplitude_sd``
    (a day's shift of its occupied hours alone).

    From the stored residual structure when there is one, else an AR(1) with the reference's
    lag-1 autocorrelation and no day-level part.
    """
    res = reference["residuals"]
    inflation = float(res.get("scale_inflation") or 1.0)
    structure = res.get("structure") or {}
    sim = (structure.get("occupancy_model") if occupancy else structure.get("simulation")) or {}
    if sim.get("day_sd") is not None and sim.get("hour_sd") is not None:
        out = {"day_sd": float(sim["day_sd"]) * inflation, "day_phi": float(sim.get("day_phi") or 0.0),
               "hour_sd": float(sim["hour_sd"]) * inflation, "hour_rho": float(sim.get("hour_rho") or 0.0)}
        if occupancy:
            out.update({"occupied_factor": float(sim.get("occupied_factor") or 1.0),
                        "unoccupied_factor": float(sim.get("unoccupied_factor") or 1.0),
                        "amplitude_sd": float(sim.get("amplitude_sd") or 0.0) * inflation})
        return out
    return {"day_sd": 0.0, "day_phi": 0.0, "hour_sd": float(res["std"]) * inflation,
            "hour_rho": float(res["rho"])}


def isolated_spikes(residuals: np.ndarray, usable: np.ndarray | None = None, k: float = SPIKE_Z) -> np.ndarray:
    """Readings that stand alone far off both neighbours: an additive outlier (a meter glitch),
    which a change test would otherwise read as the start of a change.

    With ``d_t = e_t - (e_{t-1} + e_{t+1}) / 2``, a lone spike of size ``s`` gives ``d_t = s`` and
    ``d_{t±1} = -s/2``, a step of size ``s`` gives ``s/2`` and ``-s/2`` side by side. A reading is
    a spike when ``|d_t|`` is at least ``k`` robust standard deviations of ``d`` (1.4826 MAD) and at
    least 1.6 times both neighbours' ``|d|``, so that a change is never taken for one."""
    e = np.asarray(residuals, dtype=float)
    n = e.size
    out = np.zeros(n, dtype=bool)
    if n < 5:
        return out
    ok = np.isfinite(e) if usable is None else np.isfinite(e) & np.asarray(usable, dtype=bool)
    d = np.full(n, np.nan)
    d[1:-1] = e[1:-1] - 0.5 * (e[:-2] + e[2:])
    fine = np.isfinite(d) & ok
    if fine.sum() < 5:
        return out
    scale = _MAD_TO_SD * float(np.median(np.abs(d[fine] - np.median(d[fine]))))
    if scale <= 0:
        return out
    a = np.abs(d)
    left = np.r_[np.inf, a[:-1]]
    right = np.r_[a[1:], np.inf]
    neighbour = np.fmax(np.where(np.isfinite(left), left, 0.0), np.where(np.isfinite(right), right, 0.0))
    out[1:-1] = (fine & (a >= k * scale) & (a >= 1.6 * neighbour))[1:-1]
    return out


def has_occupancy_model(reference: dict[str, Any]) -> bool:
    """Whether the version's residual structure holds the occupancy-aware noise fit."""
    return bool((reference["residuals"].get("structure") or {}).get("occupancy_model"))


def onset_scan_applies(reference: dict[str, Any], noise: dict[str, float]) -> bool:
    """Whether the hourly scan (see :func:`_hourly_scan`) may judge this version's windows with
    the plain two-level noise model.

    It leans on the hourly noise model, so it is used where that model holds or where the daily
    means carry too little: strongly persistent hourly errors (``hour_rho`` >= ``ONSET_RHO``, whose
    daily means vary as much as a week's step), or errors without an occupancy pattern: occupied
    and unoccupied hours equally noisy (factor ratio <= ``ONSET_SCALE_RATIO``) and an occupied-hours
    level no less steady from day to day than the hourly noise says (``occupancy_contrast`` <=
    ``ONSET_CONTRAST``). Elsewhere a day-to-day profile amplitude or day-time errors of their own
    would read as a change starting at the shift's first hour: the scan then needs the window's
    occupied hours and the occupancy-aware noise fit (:func:`consumption_change`), else the daily
    test judges. Below that persistence, an amplitude the occupancy-aware fit found rules the
    plain model out whatever the contrast: the plain scan would read one high or low day as a
    change starting at its first occupied hour."""
    if noise["hour_rho"] >= ONSET_RHO:
        return True
    structure = reference["residuals"].get("structure") or {}
    if float((structure.get("occupancy_model") or {}).get("amplitude_sd") or 0.0) > 0.0:
        return False
    contrast = structure.get("occupancy_contrast")
    sim = structure.get("simulation") or {}
    occ, unocc = float(sim.get("occupied_factor") or 1.0), float(sim.get("unoccupied_factor") or 1.0)
    ratio = max(occ, unocc) / max(min(occ, unocc), 1e-9)
    return contrast is not None and contrast <= ONSET_CONTRAST and ratio <= ONSET_SCALE_RATIO


def baseline_level_var(reference: dict[str, Any], drivers: dict[str, np.ndarray] | None, n: int) -> float:
    """Variance of the baseline's own error at the window's mean drivers (linear approximation)."""
    res = reference["residuals"]
    inflation = float(res.get("scale_inflation") or 1.0)
    baseline = res.get("baseline") or {}
    columns = baseline.get("columns") or ["intercept"]
    if drivers is not None and len(columns) > 1 and baseline.get("cov"):
        x = [1.0]
        for name, mean in zip(columns[1:], baseline["means"][1:], strict=True):
            v = np.asarray(drivers.get(name, []), dtype=float)
            v = v[np.isfinite(v)]
            x.append(float(v.mean()) if v.size else float(mean))
        x = np.asarray(x)
        var = float(x @ np.asarray(baseline["cov"], dtype=float) @ x)
    else:
        var = float(res.get("level_se") or 0.0) ** 2
    return max(var, 0.0) * inflation * inflation


def _hourly_block_cov(sd: float, rho: float, steps: np.ndarray, block: np.ndarray, idx: np.ndarray
                      ) -> np.ndarray:
    """Covariance of block means from the hourly AR(1) part, exact for the rows at hand:
    ``sd^2 rho^|t_i - t_j|`` (``t`` in sampling intervals) averaged over each pair of blocks.
    Between time-ordered blocks it factorises, so no rows x rows matrix is formed."""
    rho = min(max(rho, 0.0), 0.99)
    k = idx.size
    out = np.zeros((k, k))
    members = [np.flatnonzero(block == b) for b in idx]
    first = np.array([steps[m[0]] for m in members])
    last = np.array([steps[m[-1]] for m in members])
    # E_a: sum over block a of rho^(end_a - t); F_b: sum over block b of rho^(t - start_b).
    tail = np.array([np.sum(rho ** (last[i] - steps[m])) for i, m in enumerate(members)])
    head = np.array([np.sum(rho ** (steps[m] - first[i])) for i, m in enumerate(members)])
    sizes = np.array([m.size for m in members], dtype=float)
    for i, m in enumerate(members):
        t = steps[m]
        out[i, i] = np.sum(rho ** np.abs(t[:, None] - t[None, :])) / (sizes[i] ** 2)
        for j in range(i + 1, k):
            v = tail[i] * head[j] * rho ** (first[j] - last[i]) / (sizes[i] * sizes[j])
            out[i, j] = out[j, i] = v
    return sd * sd * out


def _blocks(n: int, seconds: np.ndarray | None, interval: float, days: np.ndarray | None = None) -> np.ndarray:
    """Block index of every row (0 = oldest): its local calendar day when ``days`` are given,
    else 24-hour blocks ending at the window's last row."""
    if days is not None:
        codes = np.asarray(days, dtype=np.int64)
        return codes - codes.min()
    if seconds is None:
        per_block = max(1, int(round(BLOCK_SECONDS / interval)))
        back = (n - 1 - np.arange(n)) // per_block
    else:
        back = np.floor((seconds[-1] - seconds) / BLOCK_SECONDS).astype(np.int64)
    return back.max() - back


def consumption_change(
    reference: dict[str, Any],
    residuals: np.ndarray,
    actual: np.ndarray,
    thresholds: DriftThresholds | None = None,
    *,
    seconds: np.ndarray | None = None,
    drivers: dict[str, np.ndarray] | None = None,
    usable: np.ndarray | None = None,
    days: np.ndarray | None = None,
    occupied: np.ndarray | None = None,
) -> dict[str, Any]:
    """The consumption-change test of one window (see the module docstring).

    Args:
        residuals: ``actual - predicted`` in time order (NaN = missing).
        actual: consumption, same length.
        seconds: reading times in seconds (epoch), for the 24-hour blocks.
        drivers: the window's drivers, for the baseline's level error.
        days: local calendar day number of every row (the day-level bias is a calendar day's);
            without them, 24-hour blocks ending at the last reading.
        usable: rows that may be judged (e.g. out-of-sample and well covered); others are
            ignored by the test but still count in ``kwh_since_change``.
        occupied: the version's occupied hours among the rows (its schedule), for the hourly
            scan's occupancy-aware noise model.

    Returns ``{"significant", "detected", "level", "statistic", "threshold", "band", "change_point"
    (row index or None), "shift_kwh" (per reading), "shift_relative", "ci_relative" (pointwise
    95 %), "ci_scan_relative" (scan-wide 95 %), "scan_clears_minimum" (that interval above ``min_shift``;
    judged for detected changes), "direction", "kwh_since_change", "hours_after", "noise",
    "scan" ("daily" or "hourly")}``.
    """
    th = thresholds or DriftThresholds()
    e = np.asarray(residuals, dtype=float)
    y = np.asarray(actual, dtype=float)
    n = e.size
    ok = np.isfinite(e) & np.isfinite(y)
    if usable is not None:
        ok &= np.asarray(usable, dtype=bool)
    out: dict[str, Any] = {"significant": False, "detected": False, "level": "none", "statistic": None,
                           "threshold": None, "band": None, "change_point": None, "shift_kwh": None,
                           "shift_relative": None, "ci_relative": None, "ci_scan_relative": None,
                           "scan_clears_minimum": None, "direction": None,
                           "kwh_since_change": None, "hours_after": None, "noise": None, "scan": None}
    if ok.sum() < th.min_rows:
        return _clean(out)
    interval = float(reference["residuals"].get("interval_seconds") or 3600.0)
    noise = noise_model(reference)
    level_var = baseline_level_var(reference, drivers, n)
    noise["level_sd"] = math.sqrt(level_var)
    out["noise"] = noise
    block = _blocks(n, None if seconds is None else np.asarray(seconds, dtype=float), interval, days)
    n_blocks = int(block.max()) + 1
    counts = np.bincount(block[ok], minlength=n_blocks).astype(float)
    sums = np.bincount(block[ok], weights=e[ok], minlength=n_blocks)
    filled = counts > 0
    idx = np.flatnonzero(filled)
    c = counts[idx]
    means = sums[idx] / c
    d = np.abs(idx[:, None] - idx[None, :]).astype(float)
    cov = noise["day_sd"] ** 2 * noise["day_phi"] ** d + level_var
    steps = (np.arange(n, dtype=float) if seconds is None
             else (np.asarray(seconds, dtype=float) - float(seconds[0])) / interval)
    block_ok = np.where(ok, block, -1)
    cov += _hourly_block_cov(noise["hour_sd"], noise["hour_rho"], steps, block_ok, idx)
    plain = onset_scan_applies(reference, noise)
    occ = None
    if not plain and occupied is not None and has_occupancy_model(reference):
        occ = np.asarray(occupied, dtype=bool)
        noise = {**noise_model(reference, occupancy=True), "level_sd": noise["level_sd"]}
        out["noise"] = noise
    if plain or occ is not None:
        scan = _hourly_scan(e, ok, steps, block, noise, level_var, th.change_false_alarm * ONSET_ALPHA_SHARE, y - e,
                            occupied=occ)
        out["scan"] = "hourly"
        if scan is None:
            return _clean(out)
        out["statistic"], out["threshold"], out["band"] = scan["statistic"], scan["threshold"], scan["band"]
        if scan["statistic"] < scan["threshold"]:
            return _clean(out)
        return _finish(out, e, y, ok, scan["change_point"], block, n_blocks, idx, cov, interval, n, th, gls=scan)
    out["scan"] = "daily"
    # Shift since block boundary k: the mean residual of the readings from k on, against a
    # baseline that is unbiased on a stable machine; its standard error from the covariance.
    tail_c = np.cumsum(c[::-1])[::-1]
    allowed = tail_c >= MIN_HOURS_AFTER
    weights = np.where(np.arange(idx.size)[None, :] >= np.arange(idx.size)[:, None], c[None, :], 0.0)
    weights /= tail_c[:, None]
    est = weights @ means
    se = np.sqrt(np.maximum(np.einsum("ki,ij,kj->k", weights, cov, weights), 1e-300))
    t = np.where(allowed, est / se, 0.0)
    k = int(np.argmax(np.abs(t)))
    # Null quantile of max_k |T_k| under the same covariance.
    rng = np.random.default_rng(NULL_SEED)
    chol = np.linalg.cholesky(cov + 1e-12 * np.trace(cov) / idx.size * np.eye(idx.size))
    sims = rng.standard_normal((NULL_SIMULATIONS, idx.size)) @ chol.T
    null_t = np.abs((sims @ weights.T) / se)[:, allowed].max(axis=1)
    h = float(np.quantile(null_t, 1.0 - th.change_false_alarm))
    out["statistic"] = float(abs(t[k]))
    out["threshold"] = h
    out["band"] = float(np.quantile(null_t, 1.0 - SIMULTANEOUS_LEVEL))
    if abs(t[k]) < h:
        return _clean(out)
    # Locate the change to the reading within a block either side of the best boundary: the
    # start that best splits the readings into "as the baseline" and "shifted".
    first_block = idx[k]
    lo = int(np.searchsorted(block, max(first_block - 1, 0), side="left"))
    hi = int(np.searchsorted(block, min(first_block + 1, n_blocks - 1), side="right"))
    # Least-squares split of that stretch into two levels, so that a bias common to it (the
    # day-level part) does not pull the change point.
    seg = np.arange(lo, max(hi, lo + 1))
    seg = seg[ok[seg]]
    tau = int(np.flatnonzero(block == first_block)[0])
    if seg.size >= 2 * MIN_HOURS_AFTER:
        x = e[seg]
        m = seg.size
        before = np.cumsum(x)[:-1]
        j = np.arange(1, m)
        contrast = (before - j / m * x.sum()) ** 2 / (j * (m - j) / m)
        valid = (j >= MIN_HOURS_AFTER // 2) & (m - j >= MIN_HOURS_AFTER // 2)
        if valid.any():
            best = np.flatnonzero(valid)[np.argmax(contrast[valid])]
            tau = int(seg[best + 1])
            # In the oldest block, a split no clearer than the hourly noise's long-run variance
            # (3 sd) means a change older than the window: it is dated at the window's start.
            rho_h = min(noise["hour_rho"], 0.99)
            long_run = noise["hour_sd"] ** 2 * (1 + rho_h) / (1 - rho_h)
            if first_block == idx[0] and contrast[best] < 9.0 * long_run:
                tau = int(seg[0])
    elif seg.size:
        tau = int(seg[0])
    return _finish(out, e, y, ok, tau, block, n_blocks, idx, cov, interval, n, th)


def _finish(out, e, y, ok, tau, block, n_blocks, idx, cov, interval, n, th, gls=None):
    """Size, interval, impact and level of a significant change starting at row ``tau``."""
    after = ok & (np.arange(n) >= tau)
    predicted_after = float((y - e)[after].mean())
    shift = float(e[after].mean())
    c_tau = np.bincount(block[after], minlength=n_blocks)[idx].astype(float)
    w = c_tau / c_tau.sum()
    se_tau = math.sqrt(max(float(w @ cov @ w), 1e-300))
    if gls is not None:
        # The scan's own estimate: generalised least squares under the noise model, which uses
        # the jump at the change as well as the level after it.
        shift, se_tau = gls["delta"], gls["se"]
    rel = shift / predicted_after if predicted_after > 0 else None
    ci = (shift - 1.96 * se_tau, shift + 1.96 * se_tau)
    margin = float(out["band"]) * se_tau
    out.update({
        "significant": True,
        "change_point": tau,
        "shift_kwh": shift,
        "shift_relative": rel,
        "ci_relative": [ci[0] / predicted_after, ci[1] / predicted_after] if predicted_after > 0 else None,
        "ci_scan_relative": ([(shift - margin) / predicted_after, (shift + margin) / predicted_after]
                             if predicted_after > 0 else None),
        "direction": "up" if shift > 0 else "down",
        "hours_after": float(after.sum() * interval / 3600.0),
    })
    since = np.isfinite(e) & np.isfinite(y) & (np.arange(n) >= tau)
    out["kwh_since_change"] = float(e[since].sum())
    excludes_zero = ci[0] > 0 or ci[1] < 0
    if rel is not None and excludes_zero and abs(rel) >= th.min_shift:
        out["detected"] = True
        # Critical: at least the critical size, and surely above the practical minimum. "Surely"
        # is judged on the scan-wide 95 % interval, the estimate +- the 95 % quantile of the
        # scan's maximum statistic (``band``) times its standard error: the change point is the
        # best of every candidate start, so the estimate there is pulled away from zero and a
        # pointwise 95 % interval around it is too narrow (a stable window that only just crosses
        # the threshold can show a 10 % shift whose pointwise interval clears 5 %).
        out["scan_clears_minimum"] = bool((abs(shift) - margin) / predicted_after >= th.min_shift)
        # Two days of evidence at least before a change is called critical: one odd day (a cold
        # snap at the edge of the training ground, a holiday) can look like a large shift.
        sure = out["scan_clears_minimum"] and out["hours_after"] >= CRITICAL_HOURS
        out["level"] = "critical" if abs(rel) >= th.nmbe_critical and sure else "warning"
    return _clean(out)


def _hourly_scan(e: np.ndarray, ok: np.ndarray, steps: np.ndarray, block: np.ndarray, noise: dict[str, float],
                 level_var: float, alpha: float, predicted: np.ndarray,
                 occupied: np.ndarray | None = None) -> dict[str, Any] | None:
    """Generalised-likelihood scan for a change starting at any reading of the window.

    The residuals ``e`` of the usable rows have the two-level covariance of :func:`noise_model`
    at the hour (``hour_sd^2 rho^|t_i - t_j| + day_sd^2 phi^|d_i - d_j| + level_var``); with the
    occupied hours known and modelled, the hourly part is scaled by the occupied / unoccupied
    factors (``s_i s_j hour_sd^2 rho^|t_i - t_j|``) and two occupied hours of the same day share
    the day's amplitude (``+ amplitude_sd^2``). A change
    of ``delta`` (a share of consumption) from reading ``j`` adds ``delta * predicted_t`` to every
    later residual: a consumption change scales with the load, so it shows at every rise and fall
    of the daily profile, not only in the daily means. With ``L`` the Cholesky factor of the
    covariance, ``Z_j = s_j' L^-T L^-1 e / |L^-1 s_j|`` for every start ``j`` with at least
    ``MIN_HOURS_AFTER`` readings after it; ``max_j |Z_j|`` is compared with its null quantile,
    simulated from independent normals in the whitened space (seeded). Long windows scan every
    ``ceil(m / ONSET_CANDIDATES)``-th reading.

    Returns ``{"statistic", "threshold", "band" (the null's 95 % quantile), "change_point" (row
    index), "delta" (kWh per reading after the change, averaged), "se"}``, or ``None`` when the load is zero throughout.
    """
    from scipy.linalg import solve_triangular

    rows = np.flatnonzero(ok)
    m = rows.size
    t = steps[rows]
    b = block[rows].astype(float)
    rho = min(max(noise["hour_rho"], 0.0), 0.99)
    phi = min(max(noise["day_phi"], 0.0), 0.99)
    hourly = noise["hour_sd"] ** 2 * rho ** np.abs(t[:, None] - t[None, :])
    cov = hourly + noise["day_sd"] ** 2 * phi ** np.abs(b[:, None] - b[None, :]) + level_var
    if occupied is not None and noise.get("amplitude_sd") is not None:
        o = occupied[rows]
        s = np.where(o, noise["occupied_factor"], noise["unoccupied_factor"])
        cov += (s[:, None] * s[None, :] - 1.0) * hourly
        cov += noise["amplitude_sd"] ** 2 * ((o[:, None] & o[None, :]) & (b[:, None] == b[None, :]))
    low = np.linalg.cholesky(cov + 1e-10 * np.trace(cov) / m * np.eye(m))
    stride = max(1, math.ceil(m / ONSET_CANDIDATES))
    cand = np.arange(0, m - MIN_HOURS_AFTER + 1, stride)
    load = np.maximum(np.nan_to_num(predicted[rows]), 0.0)
    signature = (np.arange(m)[:, None] >= cand[None, :]) * load[:, None]
    sw = solve_triangular(low, signature, lower=True)
    xw = solve_triangular(low, e[rows], lower=True)
    norm = np.sqrt((sw * sw).sum(axis=0))
    live = norm > 0
    if not live.any():
        return None
    cand, sw, norm = cand[live], sw[:, live], norm[live]
    z = (sw.T @ xw) / norm
    k = int(np.argmax(np.abs(z)))
    rng = np.random.default_rng(NULL_SEED)
    sims = ONSET_SIMULATIONS if m <= ONSET_CANDIDATES else NULL_SIMULATIONS
    null = np.abs(rng.standard_normal((sims, m)) @ (sw / norm)).max(axis=1)
    # delta (relative) and its standard error, in kWh per reading at the mean load after the change.
    load_after = float(load[cand[k]:].mean())
    return {"statistic": float(abs(z[k])), "threshold": float(np.quantile(null, 1.0 - alpha)),
            "band": float(np.quantile(null, 1.0 - SIMULTANEOUS_LEVEL)),
            "change_point": int(rows[cand[k]]), "delta": float(z[k] / norm[k]) * load_after,
            "se": load_after / float(norm[k])}


def extrapolation_immaterial(predicted: np.ndarray, held: np.ndarray,
                             thresholds: DriftThresholds | None = None) -> np.ndarray:
    """Rows whose prediction moves by less than the policy minimum (``min_shift``, 5 %) of
    itself when every driver is held at the edge of its training range (``held``: the
    predictions on the clipped drivers): the model extrapolates there, but what it extrapolates
    does not matter (a heating baseline in a warm spell, flat above its balance point)."""
    th = thresholds or DriftThresholds()
    p = np.asarray(predicted, dtype=float)
    h = np.asarray(held, dtype=float)
    ok = np.isfinite(p) & np.isfinite(h)
    gap = np.abs(np.where(ok, p - h, np.inf))
    return ok & (gap < th.min_shift * np.abs(np.where(ok, p, 0.0)))


def coverage(reference: dict[str, Any], drivers: dict[str, np.ndarray], n: int,
             thresholds: DriftThresholds | None = None, *, immaterial: np.ndarray | None = None) -> dict[str, Any]:
    """Rows the version must extrapolate to: a driver value with too few training rows near it
    (outside the training range beyond the neighbourhood, or in sparse ground inside it).

    ``immaterial`` flags rows where extrapolating does not move the prediction by a material
    amount (:func:`extrapolation_immaterial`): outside the range they are not counted as
    uncovered (``immaterial_share``); sparse ground inside the range always counts.

    Returns ``{"covered" (row mask), "dense" (rows whose every driver sits in dense training
    ground, where a consumption change is judged), "uncovered_share", "outside_share", "sparse_share",
    "immaterial_share", "level", "drivers": {name: {"outside_share", "sparse_share"}}}``."""
    th = thresholds or DriftThresholds()
    covered = np.ones(n, dtype=bool)
    dense = np.ones(n, dtype=bool)
    valid = np.zeros(n, dtype=bool)
    outside_any = np.zeros(n, dtype=bool)
    sparse_inside = np.zeros(n, dtype=bool)
    per_driver: dict[str, Any] = {}
    for name, ref in reference["drivers"].items():
        if not ref.get("n") or name not in drivers:
            continue
        x = np.asarray(drivers[name], dtype=float)
        if x.size != n:
            raise ValueError("all current driver arrays must have the same length as the residuals")
        ok = np.isfinite(x)
        valid |= ok
        outside = ok & ((x < ref["min"]) | (x > ref["max"]))
        q = np.asarray(ref["quantiles"], dtype=float)
        probs = np.linspace(0.0, 1.0, q.size)
        width = th.coverage_bandwidth * (ref["std"] if ref["std"] and ref["std"] > 0 else 1.0)
        xs = np.where(ok, x, ref["mean"])
        near = np.interp(xs + width, q, probs) - np.interp(xs - width, q, probs, left=0.0)
        # A driver with a few distinct values (a stop, a shift pattern) is dense at those values.
        at_value = (np.searchsorted(q, xs, side="right") - np.searchsorted(q, xs, side="left")) / q.size
        # Uncovered: too few training rows near the value. A value just outside the range with
        # dense training ground next to it is covered; far outside, the density is zero.
        uncovered = ok & (np.maximum(near, at_value) < th.coverage_density)
        sparse = uncovered & ~outside
        sparse_inside |= sparse
        covered &= ~uncovered
        dense &= ~ok | (np.maximum(near, at_value) >= th.judge_density)
        outside_any |= outside
        m = max(int(ok.sum()), 1)
        per_driver[name] = {"outside_share": float(outside.sum() / m), "sparse_share": float(sparse.sum() / m)}
    m = max(int(valid.sum()), 1)
    uncovered = valid & ~covered
    dropped = np.zeros(n, dtype=bool)
    if immaterial is not None:
        dropped = uncovered & ~sparse_inside & np.asarray(immaterial, dtype=bool)
        uncovered &= ~dropped
        covered |= dropped
    share = float(uncovered.sum() / m) if valid.any() else 0.0
    sparse_any = uncovered & ~outside_any
    level = ("critical" if share >= th.extrapolation_critical else "warning" if share >= th.extrapolation_warning
             else "none") if int(valid.sum()) >= th.min_rows else "none"
    return {"covered": covered | ~valid, "dense": dense, "uncovered_share": share,
            "outside_share": float((valid & outside_any).sum() / m),
            "sparse_share": float(sparse_any.sum() / m), "immaterial_share": float(dropped.sum() / m),
            "level": level, "drivers": per_driver}


def _effective_dof(noise: dict[str, float], n: int, interval: float) -> float:
    """Degrees of freedom of a window's mean square under the two-level noise (n / (1 + 2 sum r_k^2))."""
    per_day = max(1.0, BLOCK_SECONDS / interval)
    var = noise["day_sd"] ** 2 + noise["hour_sd"] ** 2
    if var <= 0:
        return float(n)
    k = np.arange(1, n)
    # Two readings k apart share their day in a share 1 - f of the pairs (f = (k mod day) / day)
    # and lie q or q + 1 days apart otherwise: the day level's correlation at lag k is
    # (1 - f) phi^q + f phi^(q + 1), fully within a day even when days are independent (phi 0).
    q = np.floor(k / per_day)
    f = k / per_day - q
    phi = float(np.clip(noise["day_phi"], 0.0, 0.99))
    day_r = (1.0 - f) * phi**q + f * phi ** (q + 1.0)
    r = (noise["hour_sd"] ** 2 * noise["hour_rho"] ** k + noise["day_sd"] ** 2 * day_r) / var
    return float(max(n / (1.0 + 2.0 * np.sum(r * r * (1 - k / n))), 2.0))


def model_error(reference: dict[str, Any], residuals: np.ndarray, usable: np.ndarray,
                change: dict[str, Any], thresholds: DriftThresholds | None = None, *,
                around_level: bool = True) -> dict[str, Any]:
    """Whether the model got worse without a level shift (error ratio with its F test).

    With ``around_level`` the error is the spread of the usable residuals around their mean: a
    level the whole window shares (a run of biased days on a stable machine with day-level
    persistence, or a real change of consumption) is the consumption-change test's to judge,
    against its policy minimum. Without it the mean counts too: on hours where the model
    extrapolates, a bias is exactly how it fails."""
    th = thresholds or DriftThresholds()
    e = np.asarray(residuals, dtype=float).copy()
    ok = np.isfinite(e) & usable
    out = {"error_ratio": None, "pvalue": None, "dof": None, "level": "none"}
    if ok.sum() < th.min_rows:
        return out
    if change.get("significant") and change.get("change_point") is not None:
        e[change["change_point"]:] -= change["shift_kwh"]
    res = reference["residuals"]
    inflation = float(res.get("scale_inflation") or 1.0)
    ref_rmse = max(float(res.get("holdout_rmse") or 0.0), float(res["rmse"])) * inflation
    if ref_rmse <= 0:
        return out
    centre = float(np.mean(e[ok])) if around_level else 0.0
    rmse = math.sqrt(float(np.mean((e[ok] - centre) ** 2)))
    ratio = rmse / ref_rmse
    interval = float(res.get("interval_seconds") or 3600.0)
    dof = _effective_dof(noise_model(reference), int(ok.sum()), interval)
    dof_ref = _effective_dof(noise_model(reference), int(res["n"]), interval)
    # The size of a day's errors varies from day to day (occupied-hours amplitude, weather):
    # a mean square over D days varies by a further 4 cv^2 / D in relative variance.
    cv = float((((res.get("structure") or {}).get("daily") or {}).get("scale_cv")) or 0.0)
    days = max(float(ok.sum()) * interval / BLOCK_SECONDS, 1.0)
    days_ref = max(float(res["n"]) * interval / BLOCK_SECONDS, 1.0)
    dof = 2.0 / (2.0 / dof + 4.0 * cv * cv / days)
    dof_ref = 2.0 / (2.0 / dof_ref + 4.0 * cv * cv / days_ref)
    p = float(special.fdtrc(dof, dof_ref, ratio * ratio))
    level = "none"
    if p < th.error_ratio_alpha:
        # Critical only beyond doubt (p ten times smaller): a run of biased days on a stable
        # machine with day-level persistence reaches p ~ 0.005 on its own.
        critical = ratio >= th.error_ratio_critical and p < th.error_ratio_alpha / 10.0
        level = "critical" if critical else "warning" if ratio >= th.error_ratio_warning else "none"
    return {"error_ratio": ratio, "pvalue": p, "dof": dof, "level": level}


_RANK = {"none": 0, "warning": 1, "critical": 2}


def decide(change: dict[str, Any], cover: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    """Cause, severity and every cause seen: ``{"cause", "severity", "causes": {cause: level}}``."""
    causes = {
        "consumption_change": change["level"] if change.get("detected") else "none",
        "coverage": cover["level"],
        "model_error": error["level"],
    }
    seen = {k: v for k, v in causes.items() if v != "none"}
    if not seen:
        return {"cause": "none", "severity": "none", "causes": causes}
    cause = next(k for k in ("consumption_change", "coverage", "model_error") if k in seen)
    severity = max(seen.values(), key=_RANK.__getitem__)
    return {"cause": cause, "severity": severity, "causes": causes}

"""The structure of a version's out-of-sample residuals, condensed once at training.

Hourly residuals of real plants carry more than a lag-1 autocorrelation: a day's bias persists
into the next (weather, occupancy, batch schedules), the size of the daily error varies from day
to day, and errors are larger in occupied hours. A change detector calibrated on AR(1) alone
false-alarms on such data; :func:`residual_structure` keeps what a calibration needs, bounded in
size whatever the length of the window:

``scale``
    ``std``, ``rmse``, ``mad_sd`` (1.4826 MAD, robust to outliers).
``autocorrelation``
    ``lag1`` (consecutive readings), ``lag24`` and ``lag168`` (the same hour a day and a week
    later, matched by time, so gaps never pair the wrong readings); ``null`` when too few pairs.
``daily``
    the two-level view ``e_t = d_day + a_t``: ``n_days`` (days with at least 75 % of their
    readings), ``mean_std`` (sd of daily means), ``mean_lag1`` (day-to-day persistence of the
    daily means, consecutive calendar days only), ``variance_share`` (share of the residual
    variance that is day-level), ``within_std`` and ``within_lag1`` (the hourly part ``a_t``),
    ``scale_cv`` (how much the size of the within-day errors varies from day to day).
``occupancy``
    ``occupied_share``, ``occupied_std``, ``unoccupied_std`` (hourly versions with a schedule;
    residual scale in those hours once the day's mean is removed).
``occupancy_contrast``
    the variance of each day's occupied-minus-unoccupied mean residual over what the hourly
    noise alone gives it: near 1 when the occupied hours' level is as steady as the rest,
    well above 1 when it varies from day to day (a profile amplitude); ``null`` without a
    schedule.
``simulation``
    parameters of the two-level model above, ready to simulate stable windows: ``day_sd`` and
    ``day_phi`` (AR(1) of the day-level part ``d``: the daily means' variance and lag-1
    covariance with the share that the within-day errors add to a daily mean taken out;
    ``day_sd`` the upper end of its 90 % interval, ``day_sd_estimate`` the point estimate),
    ``hour_sd``, ``hour_rho`` (AR(1) of ``a`` within a day), ``occupied_factor`` /
    ``unoccupied_factor`` (multipliers of ``hour_sd``).
``occupancy_model``
    the same parameters fitted with the occupied hours as a part of their own (``null`` without
    a schedule): the hourly noise scaled by ``occupied_factor`` / ``unoccupied_factor``, and
    ``amplitude_sd``, a day's shift of its occupied hours alone, independent from day to day (a
    profile amplitude; 0 unless the occupancy contrast shows one clearly), whose part of every
    moment is taken out before the two-level fit; ``amplitude_sd`` is the upper end of its 90 %
    interval, ``amplitude_sd_estimate`` the point estimate; with an amplitude, ``day_sd`` is
    the day level's point estimate (the two trade variance; one upper end is enough).
``blocks``
    for a block bootstrap: ``length`` (readings per block: one week of hourly readings, 28 daily
    readings), ``values`` (at most :data:`MAX_BLOCKS` runs of consecutive complete readings,
    spread evenly over the window, in kWh, 4 significant digits) and ``daily_means`` (the last
    :data:`MAX_DAILY_MEANS` complete days' means).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from ._json import _clean

MAX_BLOCKS = 8
MAX_DAILY_MEANS = 400
MIN_PAIRS = 24
DAY_COVERAGE = 0.75
_MAD_TO_SD = 1.482602218505602
AMPLITUDE_RATIO = 1.5
AMPLITUDE_CONFIDENCE = 0.9
DAY_SD_CONFIDENCE = 0.9


def _round(values: np.ndarray, digits: int = 4) -> list[float | None]:
    out: list[float | None] = []
    for v in np.asarray(values, dtype=float):
        if not math.isfinite(v):
            out.append(None)
        elif v == 0:
            out.append(0.0)
        else:
            out.append(float(f"{v:.{digits}g}"))
    return out


def _corr_pairs(d: np.ndarray, i: np.ndarray, j: np.ndarray, denom: float) -> float | None:
    ok = np.isfinite(d[i]) & np.isfinite(d[j])
    if ok.sum() < MIN_PAIRS or denom <= 0:
        return None
    return float(np.sum(d[i][ok] * d[j][ok]) / ok.sum() / denom)


def _lag_by_time(d: np.ndarray, seconds: np.ndarray, lag_s: float, denom: float) -> float | None:
    target = seconds + lag_s
    j = np.searchsorted(seconds, target)
    inside = j < seconds.size
    i = np.flatnonzero(inside)
    j = j[inside]
    hit = np.isclose(seconds[j], target[i], atol=1e-6)
    return _corr_pairs(d, i[hit], j[hit], denom)


def _ar1(x: np.ndarray) -> float | None:
    """Lag-1 autocorrelation of a series whose NaNs break the pairs."""
    ok = np.isfinite(x[1:]) & np.isfinite(x[:-1])
    if ok.sum() < MIN_PAIRS // 2:
        return None
    m = np.nanmean(x)
    d = x - m
    denom = float(np.nanmean(d * d))
    return _corr_pairs(d, np.flatnonzero(ok), np.flatnonzero(ok) + 1, denom)


def _mean_factor(rho: float, n: int) -> float:
    """Variance of the mean of ``n`` AR(1) values over the variance of one, times ``n``."""
    k = np.arange(1, n)
    return 1.0 + 2.0 * float(np.sum((1.0 - k / n) * rho**k))


def _two_level_moments(var: float, lag1: float, within_var: float, per_day: int,
                       rho: float) -> tuple[float, float, float]:
    """Day-level variance, hourly variance and hourly AR(1) of ``e = d_day + a_t`` by moments.

    ``var`` and ``lag1`` are those of ``e``; ``within_var`` that of ``e`` minus its daily means,
    which removes a share ``f / per_day`` of ``a``'s variance (``f``: the AR(1) mean factor).
    Consecutive readings mostly share their day: ``lag1 var ~ var_d + rho var_a``.
    """
    rho = float(np.clip(rho, 0.0, 0.99))
    hour_var = within_var
    for _ in range(50):
        hour_var = within_var / max(1.0 - _mean_factor(rho, per_day) / per_day, 1e-6)
        hour_var = min(hour_var, var)
        day_var = var - hour_var
        new = float(np.clip((lag1 * var - day_var) / hour_var, 0.0, 0.99)) if hour_var > 0 else 0.0
        if abs(new - rho) < 1e-6:
            rho = new
            break
        rho = new
    return max(var - hour_var, 0.0), hour_var, rho


def _day_sd_upper(day_sd: float | None, phi: float | None, n_days: int) -> float | None:
    """Upper end of the :data:`DAY_SD_CONFIDENCE` interval of the day-level scale.

    The change test plugs the day-level scale in as known, but a few dozen persistent days
    estimate it loosely and mostly too low: the sample variance of ``n`` AR(1) values with
    coefficient ``phi`` is short of the truth by a share ``(1 + phi) / ((1 - phi) n)`` and
    behaves like a chi-square with ``n (1 - phi^2) / (1 + phi^2)`` degrees of freedom. An
    underestimate turns the next run of high days into a consumption change."""
    if not day_sd or n_days < 3:
        return day_sd
    p = float(np.clip(phi or 0.0, 0.0, 0.95))
    dof = max(n_days * (1.0 - p * p) / (1.0 + p * p), 2.0)
    bias = max(1.0 - (1.0 + p) / ((1.0 - p) * n_days), 0.5)
    low = float(stats.chi2.ppf(1.0 - DAY_SD_CONFIDENCE, dof))
    return float(day_sd * math.sqrt(dof / (low * bias)))


def _occupancy_contrast(e: np.ndarray, ok: np.ndarray, days: np.ndarray, starts: np.ndarray,
                        occupied: np.ndarray, hour_sd: float, hour_rho: float | None,
                        factors: tuple[float, float] = (1.0, 1.0)) -> tuple[float, float, int] | None:
    """Variance of each day's occupied-minus-unoccupied mean residual over what the hourly noise
    alone gives it (about 1 when the occupied hours' level does not vary from day to day; well
    above 1 when, say, a production profile's amplitude does), and the excess as a variance of its
    own (the day-to-day amplitude of the occupied hours' level, ``amplitude_sd ** 2``), with the
    number of days it rests on. The hourly
    noise is AR(1) with ``hour_sd`` times the occupied / unoccupied ``factors``. A day-level bias
    cancels in the contrast. ``None`` with fewer than 14 days that hold both kinds of hours."""
    occ = np.asarray(occupied, dtype=bool)
    rho = float(np.clip(hour_rho or 0.0, 0.0, 0.99))
    contrasts, expected = [], []
    bounds = np.r_[starts, e.size]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        o = ok[a:b] & occ[a:b]
        u = ok[a:b] & ~occ[a:b]
        n_o, n_u = int(o.sum()), int(u.sum())
        if n_o < 3 or n_u < 3:
            continue
        contrasts.append(float(e[a:b][o].mean() - e[a:b][u].mean()))
        # Exact variance of the contrast under hourly AR(1) noise: weights +1/n_o, -1/n_u.
        pos = np.flatnonzero(o | u).astype(float)
        w = np.where(o[o | u], factors[0] / n_o, -factors[1] / n_u)
        expected.append(hour_sd * hour_sd * float(w @ (rho ** np.abs(pos[:, None] - pos[None, :])) @ w))
    if len(contrasts) < 14:
        return None
    c = np.asarray(contrasts)
    var_c, var_h = float(np.mean((c - c.mean()) ** 2)), float(np.mean(expected))
    return var_c / max(var_h, 1e-300), max(var_c - var_h, 0.0), c.size


def residual_structure(
    residuals: np.ndarray,
    seconds: np.ndarray,
    *,
    interval_seconds: float | None,
    days: np.ndarray | None = None,
    occupied: np.ndarray | None = None,
) -> dict[str, Any]:
    """Condense time-ordered residuals (NaN = missing) at ``seconds`` (epoch seconds) as in the
    module docstring. ``days`` labels each reading's local calendar day (UTC days when
    ``None``); ``occupied`` flags occupied hours (``None`` without a schedule)."""
    e = np.asarray(residuals, dtype=float)
    seconds = np.asarray(seconds, dtype=float)
    ok = np.isfinite(e)
    ev = e[ok]
    mean = float(ev.mean())
    d = e - mean
    var = float(np.mean(d[ok] ** 2))
    step = float(interval_seconds or 3600.0)
    hourly = step < 12 * 3600
    consecutive = np.flatnonzero(np.isclose(np.diff(seconds), step, rtol=1e-6))
    out: dict[str, Any] = {
        "scale": {
            "std": float(ev.std()),
            "rmse": float(math.sqrt(np.mean(ev * ev))),
            "mad_sd": float(_MAD_TO_SD * np.median(np.abs(ev - np.median(ev)))),
        },
        "autocorrelation": {
            "lag1": _corr_pairs(d, consecutive, consecutive + 1, var),
            "lag24": _lag_by_time(d, seconds, 86400.0, var) if hourly else None,
            "lag168": _lag_by_time(d, seconds, 7 * 86400.0, var) if hourly else None,
        },
    }

    if days is None:
        days = np.floor(seconds / 86400.0).astype(np.int64)
    days = np.asarray(days, dtype=np.int64)
    per_day = max(1, int(round(86400.0 / step))) if hourly else 1
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    counts = np.add.reduceat(ok.astype(int), starts)
    sums = np.add.reduceat(np.where(ok, e, 0.0), starts)
    complete = counts >= DAY_COVERAGE * per_day
    day_mean = np.where(complete & (counts > 0), sums / np.maximum(counts, 1), np.nan)
    day_label = days[starts]
    # Daily means on a calendar grid, so missing days break the day-to-day pairs.
    grid = np.full(int(day_label[-1] - day_label[0]) + 1, np.nan)
    grid[day_label - day_label[0]] = day_mean
    within = e - np.repeat(day_mean, np.diff(np.r_[starts, e.size]))
    within_ok = np.isfinite(within)
    within_sd = float(np.std(within[within_ok])) if hourly and within_ok.sum() > 1 else None
    within_lag1 = None
    if hourly and within_sd:
        same_day = consecutive[days[consecutive] == days[consecutive + 1]]
        within_lag1 = _corr_pairs(within, same_day, same_day + 1, within_sd**2)
    scale_cv = None
    if hourly and within_ok.any():
        sq = np.add.reduceat(np.where(within_ok, within * within, 0.0), starts)
        n_w = np.add.reduceat(within_ok.astype(int), starts)
        day_sd = np.sqrt(sq[complete] / np.maximum(n_w[complete], 1))
        if day_sd.size >= 2 and day_sd.mean() > 0:
            scale_cv = float(day_sd.std() / day_sd.mean())
    means = day_mean[np.isfinite(day_mean)]
    mean_sd = float(means.std()) if means.size > 1 else None
    out["daily"] = {
        "n_days": int(np.isfinite(day_mean).sum()),
        "mean_std": mean_sd,
        "mean_lag1": _ar1(grid),
        "variance_share": (float(np.mean((means - mean) ** 2)) / var) if means.size > 1 and var > 0 else None,
        "within_std": within_sd,
        "within_lag1": within_lag1,
        "scale_cv": scale_cv,
    }

    occupancy = None
    occ_factor = unocc_factor = 1.0
    if occupied is not None and hourly:
        occ = np.asarray(occupied, dtype=bool)
        a = within if within_sd else d
        occ_sd = float(np.sqrt(np.nanmean(a[occ & within_ok] ** 2))) if (occ & within_ok).any() else None
        unocc_sd = float(np.sqrt(np.nanmean(a[~occ & within_ok] ** 2))) if (~occ & within_ok).any() else None
        occupancy = {"occupied_share": float(occ[ok].mean()), "occupied_std": occ_sd, "unoccupied_std": unocc_sd}
        # Hour-to-hour changes within a day carry no day-level part: their scale in occupied and
        # unoccupied hours gives the ratio of the two hourly scales.
        same_day = consecutive[days[consecutive] == days[consecutive + 1]]
        step_sq = (e[same_day + 1] - e[same_day]) ** 2
        both_occ = occ[same_day] & occ[same_day + 1]
        both_unocc = ~occ[same_day] & ~occ[same_day + 1]
        fine = np.isfinite(step_sq)
        if (both_occ & fine).sum() >= MIN_PAIRS and (both_unocc & fine).sum() >= MIN_PAIRS:
            ratio = math.sqrt(float(step_sq[both_occ & fine].mean()) / max(float(step_sq[both_unocc & fine].mean()),
                                                                           1e-300))
            share = occupancy["occupied_share"]
            unocc_factor = 1.0 / math.sqrt(share * ratio * ratio + 1.0 - share)
            occ_factor = ratio * unocc_factor
    out["occupancy"] = occupancy
    day_sd = day_phi = None
    hour_sd = within_sd if hourly else float(ev.std())
    lag1 = out["autocorrelation"]["lag1"]
    hour_rho = None if lag1 is None else float(np.clip(lag1, 0.0, 0.99))
    two_level = hourly and mean_sd is not None and within_sd and lag1 is not None
    schedule = hourly and occupied is not None
    occ_rows = np.asarray(occupied, dtype=bool) & ok if schedule else None
    # A day-to-day amplitude of the occupied hours (variance A) adds A q to the variance (q: the
    # share of occupied readings), A q_d (1 - q_d) to the within-day variance of a day with
    # occupied share q_d, and A times the share of consecutive pairs both occupied on one day to
    # the lag-1 covariance. It is taken out of the moments before the two-level fit, and A
    # re-estimated from the contrast with the fitted hourly noise, until both settle.
    q_day = (np.add.reduceat(occ_rows.astype(int), starts) / np.maximum(counts, 1))[complete] if schedule else None
    q_row = float(occ_rows.sum() / max(int(ok.sum()), 1)) if schedule else 0.0
    q_pair = 0.0
    if schedule and consecutive.size:
        # Consecutive readings that share the amplitude: both occupied, on the same day.
        q_pair = float(np.mean(occ_rows[consecutive] & occ_rows[consecutive + 1]
                               & (days[consecutive] == days[consecutive + 1])))
    amp_var = 0.0
    contrast = None
    base = None
    for _ in range(4):
        if two_level:
            v = max(var - q_row * amp_var, 1e-300)
            within_v = max(within_sd**2 - float(np.mean(q_day * (1.0 - q_day))) * amp_var
                           if q_day is not None and q_day.size else within_sd**2, 1e-300)
            lag_v = (lag1 * var - q_pair * amp_var) / v
            day_var, hour_var, hour_rho = _two_level_moments(v, lag_v, within_v, per_day, within_lag1 or 0.0)
            day_sd, hour_sd = math.sqrt(day_var), math.sqrt(hour_var)
            lag = out["daily"]["mean_lag1"]
            # Day-to-day persistence only when the daily means' lag-1 correlation is clear of its
            # sampling error (2 / sqrt(days)): a chance correlation over a small day-level share
            # would otherwise read as a near-permanent level (phi -> 0.99) and blunt every test.
            if lag is not None and day_var > 0 and lag > 2.0 / math.sqrt(max(out["daily"]["n_days"], 1)):
                day_phi = float(np.clip(lag * mean_sd**2 / day_var, 0.0, 0.99))
            elif day_var > 0:
                day_phi = 0.0
        if base is None:
            base = {"day_sd": day_sd, "day_phi": day_phi, "hour_sd": hour_sd, "hour_rho": hour_rho}
        if not (schedule and hour_sd):
            break
        contrast = _occupancy_contrast(e, ok, days, starts, occupied, hour_sd, hour_rho, (occ_factor, unocc_factor))
        if contrast is None:
            break
        if base.get("contrast") is None:
            base["contrast"] = contrast[0]
        ratio, excess, n_contrasts = contrast
        # An amplitude only when the contrasts vary clearly more than the hourly noise explains,
        # judged once, before any of it is taken out: by half as much again (the hourly model's
        # own misfit, a few hundredths of its AR(1) coefficient, moves the ratio by up to a
        # fifth) and by two sampling standard deviations of a variance ratio. A chance excess
        # would blunt the change test on every machine without one.
        if amp_var == 0.0 and ratio <= max(AMPLITUDE_RATIO, 1.0 + 2.0 * math.sqrt(2.0 / max(n_contrasts - 1, 1))):
            break
        new = excess
        if not two_level or abs(new - amp_var) <= 1e-3 * max(amp_var, 1e-300):
            amp_var = new
            break
        amp_var = new
    amplitude_sd = math.sqrt(amp_var)
    if amp_var > 0 and contrast is not None and contrast[0] > 1.0:
        # The change test plugs this in as known, but a few dozen days estimate it loosely (a
        # variance ratio over n days is good to about sqrt(2 / n)): it takes the upper end of its
        # 90 % interval, so that an underestimate does not turn the next big amplitude day into a
        # consumption change.
        ratio, excess, n_contrasts = contrast
        var_h = excess / (ratio - 1.0)
        low_quantile = float(stats.chi2.ppf(1.0 - AMPLITUDE_CONFIDENCE, n_contrasts - 1))
        upper = (excess + var_h) * (n_contrasts - 1) / low_quantile
        amplitude_sd = math.sqrt(max(upper - var_h, amp_var))
    out["occupancy_contrast"] = base.get("contrast")
    n_days = int(out["daily"]["n_days"])
    out["simulation"] = {
        "day_sd": _day_sd_upper(base["day_sd"], base["day_phi"], n_days),
        "day_sd_estimate": base["day_sd"],
        "day_phi": base["day_phi"],
        "hour_sd": base["hour_sd"],
        "hour_rho": base["hour_rho"],
        "occupied_factor": occ_factor,
        "unoccupied_factor": unocc_factor,
    }
    # In the occupancy-aware fit the day level is what is left once the amplitude is taken out;
    # the two trade variance, and the amplitude already stands at the upper end of its interval:
    # the day level stays at its estimate (its persistence, read from a small remainder, can
    # come near 1 and would multiply an upper bound by up to 3).
    out["occupancy_model"] = None if contrast is None else {
        "day_sd": day_sd if amp_var > 0 else _day_sd_upper(day_sd, day_phi, n_days),
        "day_sd_estimate": day_sd,
        "day_phi": day_phi,
        "hour_sd": hour_sd,
        "hour_rho": hour_rho,
        "occupied_factor": occ_factor,
        "unoccupied_factor": unocc_factor,
        "amplitude_sd": amplitude_sd,
        "amplitude_sd_estimate": math.sqrt(amp_var),
    }

    length = 7 * per_day if hourly else 28
    values: list[list[float | None]] = []
    run_ok = ok.copy()
    run_ok[1:] &= np.isclose(np.diff(seconds), step, rtol=1e-6)
    # Start of every run of `length` consecutive finite readings.
    breaks = np.flatnonzero(~run_ok)
    candidates = []
    bounds = np.unique(np.r_[0, breaks, e.size])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        first = a if ok[a] else a + 1
        for s in range(first, b - length + 1, length):
            candidates.append(s)
    if candidates:
        pick = np.unique(np.linspace(0, len(candidates) - 1, min(MAX_BLOCKS, len(candidates))).round().astype(int))
        values = [_round(e[candidates[i]: candidates[i] + length]) for i in pick]
    out["blocks"] = {
        "length": length,
        "values": values,
        "daily_means": _round(means[-MAX_DAILY_MEANS:]) if hourly else [],
    }
    return _clean(out)

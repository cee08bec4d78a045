"""Forecast degradation: will a baseline version fail its policy in the coming days, and when?

Plain numpy/pandas/scipy, no Django. A version fails its policy on a day when the day's hours
give a CV(RMSE) or |NMBE| above the ASHRAE limits of its interval, or when the share of the
day's hours with a driver outside the training range reaches the coverage threshold. Per day of
the horizon this module gives:

- ``out_of_range_share``: exactly the share of the day's hours with any driver outside the
  version's stored range (values compared as stored; a missing value is not outside);
- the expected CV(RMSE) and NMBE, and an upper band, from two sources:
  (a) *error growth*: how the version's relative error grows with the distance of its drivers
      outside their training range (in training standard deviations), learned from its own
      out-of-sample residuals (each blocked fold's readings against the range of the readings
      that fold was fitted on) and, once seen, its reporting-period residuals; a prior holds the
      estimate while few readings outside the range were ever seen;
  (b) *trend*: the Theil–Sen slope of the version's recent CV(RMSE) and NMBE checks, projected
      with a prediction interval (a slope whose 95 % interval holds 0 is taken as flat);
- ``p_breach``: the probability of failing the policy that day.

Driver values of a day come from forecast rows where they exist, else from the same calendar
days of earlier years (climatology), see :func:`driver_days`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

#: Relative error (CV units) added per training standard deviation outside the range, before
#: any reading outside the range was seen; `PRIOR_WEIGHT` is its weight in pseudo-hours at one
#: standard deviation.
PRIOR_GROWTH = 0.10
PRIOR_WEIGHT = 48.0
#: A one-sided 95 % band.
Z95 = 1.6448536269514722
MIN_TREND_POINTS = 10


# --- distances outside the range -----------------------------------------------------------------

def outside_mask(values: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """Rows (hours) with any driver strictly outside [low, high]; NaN is never outside."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.any((values < lows) | (values > highs), axis=1)


def distances(values: np.ndarray, lows: np.ndarray, highs: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Per row, the largest distance of a driver outside its range, in units of `scales`
    (training standard deviations); 0 inside the range or when unknown."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        excess = np.maximum(np.maximum(lows - values, values - highs), 0.0) / scales
    excess = np.where(np.isfinite(excess), excess, 0.0)
    return excess.max(axis=1) if excess.shape[1] else np.zeros(len(values))


def oos_distances(values: np.ndarray, fold: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Distance of each reading outside the range of the readings its blocked fold was fitted on
    (every other block; for the last block, the holdout, the readings before it)."""
    values = np.asarray(values, dtype=float)
    fold = np.asarray(fold)
    out = np.zeros(len(values))
    blocks = [b for b in np.unique(fold) if b >= 0]
    if not blocks:
        return out
    last = max(blocks)
    for b in blocks:
        rows = fold == b
        if b == last:
            train = np.zeros(len(values), dtype=bool)
            train[: int(np.flatnonzero(rows)[0])] = True
        else:
            train = (fold != b) & (fold >= 0)
        if not train.any():
            continue
        seen = values[train]
        lows, highs = np.nanmin(seen, axis=0), np.nanmax(seen, axis=0)
        out[rows] = distances(values[rows], lows, highs, scales)
    return out


# --- (a) error growth outside the range ----------------------------------------------------------

def growth_stats(distance: np.ndarray, relative_residual: np.ndarray) -> dict[str, float]:
    """Sufficient statistics (JSON, additive across samples) of relative residuals e/ȳ against
    their distance outside the range: enough to fit e² ≈ s0² + k²·d² and e ≈ b·d later."""
    d = np.asarray(distance, dtype=float)
    e = np.asarray(relative_residual, dtype=float)
    ok = np.isfinite(d) & np.isfinite(e)
    d, e = d[ok], e[ok]
    inside = d <= 0
    out = ~inside
    return {
        "n_in": int(inside.sum()), "sum_e2_in": float(np.sum(e[inside] ** 2)),
        "sum_e_in": float(np.sum(e[inside])),
        "n_out": int(out.sum()), "sum_d2": float(np.sum(d[out] ** 2)), "sum_d4": float(np.sum(d[out] ** 4)),
        "sum_d2e2": float(np.sum(d[out] ** 2 * e[out] ** 2)), "sum_de": float(np.sum(d[out] * e[out])),
        "sum_d": float(np.sum(d[out])),
    }


def merge_stats(*samples: dict[str, float] | None) -> dict[str, float]:
    keys = ("n_in", "sum_e2_in", "sum_e_in", "n_out", "sum_d2", "sum_d4", "sum_d2e2", "sum_de", "sum_d")
    return {k: float(sum((s or {}).get(k, 0.0) for s in samples)) for k in keys}


@dataclass(frozen=True)
class ErrorGrowth:
    """Relative error of a version inside its range (`base_cv`, `base_nmbe`) and its growth
    outside: CV² = base_cv² + k²·rms(d)², NMBE = base_nmbe + bias·mean(d)."""

    base_cv: float
    base_nmbe: float
    k: float
    k_high: float
    bias: float
    n_out: int
    learned_from: str


def error_growth_fit(stats: dict[str, float], *, base_cv: float, base_nmbe: float = 0.0,
                     prior_growth: float = PRIOR_GROWTH, prior_weight: float = PRIOR_WEIGHT) -> ErrorGrowth:
    """Fit the growth of the relative error with the distance outside the range, shrunk toward
    `prior_growth` with the weight of `prior_weight` hours at one standard deviation."""
    n_in = stats.get("n_in", 0.0)
    s0 = math.sqrt(stats["sum_e2_in"] / n_in) if n_in >= 24 else base_cv
    s0 = max(s0, base_cv)
    num = stats.get("sum_d2e2", 0.0) - s0 * s0 * stats.get("sum_d2", 0.0) + prior_weight * prior_growth ** 2
    k2 = max(num / (stats.get("sum_d4", 0.0) + prior_weight), 0.0)
    k = math.sqrt(k2)
    n_out = int(stats.get("n_out", 0))
    # The band narrows as outside hours are seen (about one independent error per day of them).
    k_high = max(k, prior_growth) * (1.0 + 1.0 / math.sqrt(1.0 + n_out / 24.0))
    bias = stats.get("sum_de", 0.0) / (stats.get("sum_d2", 0.0) + prior_weight)
    source = "prior" if n_out == 0 else "residuals outside the range"
    return ErrorGrowth(base_cv=float(s0), base_nmbe=float(base_nmbe), k=float(k), k_high=float(k_high),
                       bias=float(bias), n_out=n_out, learned_from=source)


# --- (b) trend of recent checks -------------------------------------------------------------------

@dataclass(frozen=True)
class Trend:
    """A robust straight line through recent checks (Theil–Sen) with the upper end of its 95 %
    slope interval and the residual spread; times in days relative to the forecast start. The
    slope is 0 when its interval holds 0."""

    slope: float
    slope_high: float
    center_t: float
    center_y: float
    spread: float
    n: int

    def at(self, t: np.ndarray) -> np.ndarray:
        return self.center_y + self.slope * (t - self.center_t)

    def high(self, t: np.ndarray) -> np.ndarray:
        # Slope uncertainty pivots about the data's centre; the spread is a single check's scatter.
        return self.center_y + np.maximum(self.slope_high, self.slope) * (t - self.center_t) + Z95 * self.spread


def metric_trend(t_days: np.ndarray, values: np.ndarray) -> Trend | None:
    """Theil–Sen trend of a metric's recent checks (None with fewer than `MIN_TREND_POINTS`)."""
    t = np.asarray(t_days, dtype=float)
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    if t.size < MIN_TREND_POINTS or np.ptp(t) <= 0:
        return None
    slope, _, low, high = stats.theilslopes(y, t, alpha=0.95)
    if low <= 0 <= high:
        # No trend distinguishable from the checks' scatter: projecting a noisy slope over weeks
        # would raise false alarms, so the level holds (the scatter still widens the band).
        slope, high = 0.0, 0.0
    center_t = float(np.median(t))
    center_y = float(np.median(y - slope * (t - center_t)))
    resid = y - (center_y + slope * (t - center_t))
    spread = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    return Trend(slope=float(slope), slope_high=float(high), center_t=center_t, center_y=center_y,
                 spread=spread, n=int(t.size))


# --- driver values of the coming days -------------------------------------------------------------

@dataclass
class DriverDays:
    """The hours behind each day of the horizon: `values` (rows × drivers), `day` (index of the
    horizon day), `group` (0 for forecast rows, else how many years back the history row lies)
    and `source` per day ("forecast", "history", "mixed" or None when nothing is known)."""

    values: np.ndarray
    day: np.ndarray
    group: np.ndarray
    source: list[str | None]
    drivers: list[str] = field(default_factory=list)


def _local(frame: pd.DataFrame, time_zone: str | None) -> dict[str, np.ndarray]:
    """Local calendar day (days since 1970), month*100+day, year and hour of each row."""
    ts = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
    local = ts.tz_convert(time_zone) if time_zone and time_zone != "UTC" else ts
    wall = local.tz_localize(None).to_numpy().astype("datetime64[s]")
    # Calendar fields with numpy's datetime units (faster than pandas' field accessors).
    days = wall.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    month = months.astype(np.int64) % 12 + 1
    return {"day": days.astype(np.int64),
            "md": month * 100 + (days - months).astype(np.int64) + 1,
            "year": days.astype("datetime64[Y]").astype(np.int64) + 1970,
            "hour": (wall - days).astype(np.int64) // 3600}


def _columns(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    return np.column_stack([pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) if c in frame
                            else np.full(len(frame), np.nan) for c in cols]) if cols else np.zeros((len(frame), 0))


def driver_days(*, days: list[date], drivers: list[str], forecast: pd.DataFrame, history: pd.DataFrame,
                time_zone: str | None = None) -> DriverDays:
    """Assemble the drivers of each horizon day (local calendar days of `time_zone`).

    A day whose forecast rows give every driver uses them alone. Otherwise, when earlier years
    hold readings of the same calendar day, those hours are used (every earlier year, pooled),
    with the drivers the forecast does give put in their place hour by hour ("mixed"). Without
    history the forecast rows are used as they are (a driver they lack is unknown).
    """
    n_days = len(days)
    cols = list(drivers)
    n_cols = len(cols)
    source: list[str | None] = [None] * n_days
    empty = DriverDays(np.zeros((0, n_cols)), np.zeros(0, dtype=int), np.zeros(0, dtype=int), source, cols)
    if not n_days:
        return empty
    day0 = int(np.datetime64(days[0], "D").astype(np.int64))
    covered = np.zeros((n_days, n_cols), dtype=bool)
    fc_values = np.zeros((0, n_cols))
    fc_day = fc_hour = np.zeros(0, dtype=int)
    if len(forecast):
        when = _local(forecast, time_zone)
        fc_day = when["day"] - day0
        keep = (fc_day >= 0) & (fc_day < n_days)
        fc_day, fc_hour = fc_day[keep], when["hour"][keep]
        fc_values = _columns(forecast, cols)[keep]
        for j in range(n_cols):
            np.logical_or.at(covered[:, j], fc_day, np.isfinite(fc_values[:, j]))
    full = covered.all(axis=1) if n_cols else np.zeros(n_days, dtype=bool)

    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    has_history = np.zeros(n_days, dtype=bool)
    if len(history):
        when = _local(history, time_zone)
        md_of_day = np.array([d.month * 100 + d.day for d in days])
        year_of_day = np.array([d.year for d in days])
        lookup = np.full(1300, -1)
        lookup[md_of_day] = np.arange(n_days)  # a horizon of at most a year: each calendar day once
        h_day = lookup[when["md"]]
        ok = h_day >= 0
        back = np.where(ok, year_of_day[np.maximum(h_day, 0)] - when["year"], 0)
        ok &= back > 0
        ok &= ~full[np.maximum(h_day, 0)]
        if ok.any():
            values = _columns(history, cols)[ok]
            day, hour, back = h_day[ok], when["hour"][ok], back[ok]
            if covered.any():
                # The forecast's drivers replace history's, hour of day by hour of day.
                slot = np.full((n_days * 24, n_cols), np.nan)
                for j in range(n_cols):
                    got = np.isfinite(fc_values[:, j])
                    slot[fc_day[got] * 24 + fc_hour[got], j] = fc_values[got, j]
                replacement = slot[day * 24 + hour]
                use = covered[day] & np.isfinite(replacement)
                values = np.where(use, replacement, values)
            parts.append((values, day, back))
            has_history[day] = True
    for i in range(n_days):
        if full[i]:
            source[i] = "forecast"
        elif has_history[i]:
            source[i] = "mixed" if covered[i].any() else "history"
        elif covered[i].any():
            source[i] = "forecast"
    take = ~has_history[fc_day] if fc_day.size else np.zeros(0, dtype=bool)
    if take.any():
        parts.append((fc_values[take], fc_day[take], np.zeros(int(take.sum()), dtype=int)))
    if not parts:
        return empty
    return DriverDays(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                      np.concatenate([p[2] for p in parts]), source, cols)


# --- the forecast ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    cv_limit: float
    nmbe_limit: float
    coverage_threshold: float = 0.25


def _day_means(day: np.ndarray, weights: np.ndarray, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    count = np.bincount(day, minlength=n_days).astype(float)
    total = np.bincount(day, weights=weights, minlength=n_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), count


def forecast_days(*, driver_days: DriverDays, lows: np.ndarray, highs: np.ndarray, scales: np.ndarray,
                  growth: ErrorGrowth, policy: Policy, cv_trend: Trend | None = None,
                  nmbe_trend: Trend | None = None, daily_nmbe_sd: float | None = None) -> dict[str, np.ndarray]:
    """Per horizon day: out-of-range share, expected CV(RMSE) and NMBE with upper bands, p_breach."""
    n_days = len(driver_days.source)
    dd = driver_days
    outside = outside_mask(dd.values, lows, highs).astype(float)
    dist = distances(dd.values, lows, highs, scales)
    share, count = _day_means(dd.day, outside, n_days)
    mean_d2, _ = _day_means(dd.day, dist ** 2, n_days)
    mean_d, _ = _day_means(dd.day, dist, n_days)
    mean_d2 = np.nan_to_num(mean_d2)
    mean_d = np.nan_to_num(mean_d)

    # Probability that the coverage rule fails: the share of the day's sources (the forecast, or
    # each earlier year) whose hours reach the threshold.
    p_cov = np.zeros(n_days)
    if len(dd.day):
        width = int(dd.group.max()) + 1
        key = dd.day * width + dd.group
        count_g = np.bincount(key, minlength=n_days * width)
        used = count_g > 0
        g_share = np.bincount(key, weights=outside, minlength=n_days * width)[used] / count_g[used]
        g_day = np.flatnonzero(used) // width
        hit = (g_share >= policy.coverage_threshold).astype(float)
        n_groups = np.bincount(g_day, minlength=n_days)
        p_cov = np.bincount(g_day, weights=hit, minlength=n_days) / np.maximum(n_groups, 1)

    t = np.arange(n_days) + 0.5
    level = np.full(n_days, growth.base_cv)
    level_high = np.full(n_days, growth.base_cv * 1.25)
    if cv_trend is not None:
        level = np.maximum(cv_trend.at(t), 0.2 * growth.base_cv)
        level_high = np.maximum(cv_trend.high(t), level)
    cv = np.sqrt(level ** 2 + growth.k ** 2 * mean_d2)
    cv_high = np.sqrt(level_high ** 2 + growth.k_high ** 2 * mean_d2)

    nmbe_level = np.full(n_days, growth.base_nmbe)
    nmbe_sd = np.full(n_days, daily_nmbe_sd if daily_nmbe_sd is not None else 0.4 * growth.base_cv)
    if nmbe_trend is not None:
        nmbe_level = nmbe_trend.at(t)
        nmbe_sd = np.sqrt(nmbe_sd ** 2 + ((nmbe_trend.high(t) - nmbe_level) / Z95) ** 2)
    nmbe = nmbe_level + growth.bias * mean_d
    nmbe_sd = np.sqrt(nmbe_sd ** 2 + ((growth.k_high - growth.k) * mean_d / Z95) ** 2)
    nmbe_high = nmbe + Z95 * nmbe_sd * np.sign(np.where(nmbe == 0, 1.0, nmbe))

    sigma = np.maximum(np.log(np.maximum(cv_high, 1e-12) / np.maximum(cv, 1e-12)) / Z95, 0.05)
    p_cv = stats.norm.sf((math.log(policy.cv_limit) - np.log(np.maximum(cv, 1e-12))) / sigma)
    nmbe_sd = np.maximum(nmbe_sd, 1e-6)
    p_nmbe = (stats.norm.sf((policy.nmbe_limit - nmbe) / nmbe_sd)
              + stats.norm.cdf((-policy.nmbe_limit - nmbe) / nmbe_sd))
    p_fit = 1.0 - (1.0 - p_cv) * (1.0 - np.minimum(p_nmbe, 1.0))
    p = np.maximum(p_cov, p_fit)
    return {"out_of_range_share": share, "hours": count, "expected_cv_rmse": cv, "expected_cv_rmse_high": cv_high,
            "expected_nmbe": nmbe, "expected_nmbe_high": nmbe_high, "p_coverage": p_cov, "p_fit": p_fit,
            "p_breach": p, "mean_distance": mean_d}


def first_breach(p_breach: np.ndarray, threshold: float = 0.5) -> int | None:
    hits = np.flatnonzero(np.asarray(p_breach) >= threshold)
    return int(hits[0]) if hits.size else None


def driver_excursions(driver_days: DriverDays, lows: np.ndarray, highs: np.ndarray,
                      min_share: float = 0.1) -> list[dict[str, Any]]:
    """Per driver and direction, the first day on which at least `min_share` of the hours lie
    beyond the range, with the day's share and the extreme value: the plain-word reasons."""
    n_days = len(driver_days.source)
    found = []
    values = driver_days.values
    for j, name in enumerate(driver_days.drivers):
        for direction, beyond in (("below", values[:, j] < lows[j]), ("above", values[:, j] > highs[j])):
            with np.errstate(invalid="ignore"):
                share, _ = _day_means(driver_days.day, beyond.astype(float), n_days)
            days = np.flatnonzero(np.nan_to_num(share) >= min_share)
            if not days.size:
                continue
            first = int(days[0])
            rows = (driver_days.day == first) & beyond
            extreme = float(values[rows, j].min() if direction == "below" else values[rows, j].max())
            found.append({"driver": name, "direction": direction, "day": first, "share": float(share[first]),
                          "value": extreme, "low": float(lows[j]), "high": float(highs[j]),
                          "days": int(days.size)})
    return sorted(found, key=lambda r: r["day"])


POLICY_KEYS = {"horizon_days": (1, 365), "coverage_threshold": (0.0, 1.0), "auto_retrain": None,
               "min_outside_hours": (1, 24 * 366)}


def validate_policy(value: Any) -> None:
    """A per-machine override of the `forecast` policy section (ValueError/TypeError when bad)."""
    if not isinstance(value, dict):
        raise TypeError("must be a JSON object")
    for key, item in value.items():
        if key not in POLICY_KEYS:
            raise ValueError(f"unknown key {key!r}; known: {', '.join(POLICY_KEYS)}")
        bounds = POLICY_KEYS[key]
        if bounds is None:
            if not isinstance(item, bool):
                raise TypeError(f"{key} must be true or false")
        elif (isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item)
              or not bounds[0] <= item <= bounds[1]):
            raise ValueError(f"{key} must be a number from {bounds[0]} to {bounds[1]}")

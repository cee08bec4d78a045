"""Temperature terms as CalTRACK does them: balance points searched over a fixed physical range,
data-sufficiency rules, an occupancy schedule from the residual pattern of a first fit, and an
autocorrelation-robust test for keeping each term.

The search (:func:`search_temperature_terms`):

1. Candidates: heating and cooling balance points on a 1 °C grid over -1..32 °C (CalTRACK's
   30-90 °F), refined to 0.25 °C around the best. The range is physical, not a quantile of the
   training temperatures, so a 15 °C heating balance point trained on winter data is found at
   15 °C, not at the 95th percentile of winter temperatures.
2. Data sufficiency (CalTRACK daily, in °C): a degree term must be non-zero on at least 10 days
   and sum to at least 20 °F-days (11.1 °C-days); and, so that the hinge is located by the
   data rather than by extrapolation, it must be zero for at least one day's worth of readings.
3. For each form (heating, cooling, both) the candidate with the least squared error whose
   average slope is positive is kept; with an occupancy schedule (hourly data, step 5) each term
   has its own slope in occupied and unoccupied hours while its balance point is searched, since
   setbacks and out-of-hours plant make the two responses differ. By Frisch-Waugh-Lovell every
   candidate costs a solve of 1 to 4 columns projected on the rest of the model (time of week,
   other drivers), whose Gram blocks come from sorted prefix sums (:mod:`.hinge`).
4. A form qualifies only if each of its terms, as one column at the chosen balance point, has a
   positive slope that passes a two-sided test with standard errors that hold on
   autocorrelated hourly data (:mod:`.hac`: daily sums, AR(1) prewhitening, equal-weighted
   cosines) at :data:`SEARCHED_TERM_P_VALUE`; the qualifying form (or none) with the best
   adjusted R² wins, its slopes and searched balance points counted among the parameters.
5. Hourly data: the occupancy schedule is CalTRACK's (hours of the week whose residuals of a
   first fit ``energy ~ CDD(18.3 °C) + HDD(10 °C)`` are positive more than 65 % of the time);
   a chosen degree term gets separate occupied and unoccupied slopes when the difference of the
   two passes the same robust test at p < 0.10.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .hac import coefficient_tests, group_starts
from .hinge import HingeGram

#: CalTRACK's balance-point range, 30-90 °F, in °C.
BALANCE_RANGE_C = (-1.0, 32.0)
COARSE_STEP_C = 1.0
FINE_STEP_C = 0.25
MIN_NONZERO_DAYS = 10.0
MIN_DEGREE_DAYS_C = 20.0 * 5.0 / 9.0
MIN_ZERO_DAYS = 1.0
#: CalTRACK keeps a term at p < 0.10, a level meant for one candidate tested once. A searched
#: balance point is the best of a grid of correlated candidates, tried in three forms, so its term
#: must pass a stricter level: at 0.01 a term with no effect is dropped in more than 90 % of
#: simulated null fits with hourly AR(1) rho 0.9 and day-to-day persistence (at 0.10: 70-75 %).
SEARCHED_TERM_P_VALUE = 0.01
#: Level of the occupancy-split test (one pre-specified comparison per kept term).
SPLIT_P_VALUE = 0.10
OCCUPANCY_THRESHOLD = 0.65
#: CalTRACK's first-fit degree terms for the occupancy schedule: CDD 65 °F, HDD 50 °F.
OCCUPANCY_COOL_C, OCCUPANCY_HEAT_C = 18.333, 10.0
MIN_OCCUPANCY_SHARE = 0.05
PERIOD_DAYS = {"hourly": 1.0 / 24.0, "daily": 1.0, "monthly": 365.25 / 12.0}
FORMS = {"heat": ("heat",), "cool": ("cool",), "both": ("heat", "cool")}


def estimate_occupancy(t: np.ndarray, y: np.ndarray, codes: np.ndarray, *,
                       threshold: float = OCCUPANCY_THRESHOLD) -> np.ndarray | None:
    """CalTRACK hour-of-week occupancy: 168 flags, or ``None`` when every hour falls on one side.

    ``codes`` are local hours of the week. ``t`` may be ``None`` (no temperature): the first fit
    is then the mean.
    """
    cols = [np.ones(y.size)]
    if t is not None:
        cols += [np.maximum(t - OCCUPANCY_COOL_C, 0.0), np.maximum(OCCUPANCY_HEAT_C - t, 0.0)]
    A = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    positive = (y - A @ coef) > 0
    count = np.bincount(codes, minlength=168)[:168]
    share = np.bincount(codes, weights=positive.astype(float), minlength=168)[:168] / np.maximum(count, 1)
    occupied = (share > threshold) & (count > 0)
    rows = occupied[codes]
    if min(rows.mean(), 1.0 - rows.mean()) < MIN_OCCUPANCY_SHARE:
        return None
    return occupied.astype(np.int8)


def degree_columns(t: np.ndarray, grid: np.ndarray, term: str) -> np.ndarray:
    """Degree values of every candidate balance point (rows: readings, columns: candidates)."""
    if term == "heat":
        return np.maximum(grid[None, :] - t[:, None], 0.0)
    return np.maximum(t[:, None] - grid[None, :], 0.0)


@dataclass
class TermSelection:
    """What :func:`search_temperature_terms` chose, with its evidence.

    ``n_searched`` counts the searched parameters (each balance point, and the occupancy
    schedule when a term is split by it); they are model parameters like the slopes.
    """

    heat: float | None = None
    cool: float | None = None
    split: tuple[str, ...] = ()
    n_searched: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)


class _Search:
    """Candidates and tests on one fit's readings (in time order).

    Candidates are scored from sorted prefix sums (:mod:`.hinge`), never as a matrix of
    readings x candidates; the few columns that are tested are built and residualised explicitly.
    """

    def __init__(self, t, y, X, codes, groups, interval, nonneg, occupied=None):
        self.n = t.size
        self.t = t
        self.period = PERIOD_DAYS[interval]
        self.nonneg = nonneg
        self.occupied = None if occupied is None else np.asarray(occupied, dtype=bool)
        _, self.levels = np.unique(codes, return_inverse=True)
        self.n_levels = int(self.levels.max()) + 1
        self.level_counts = np.bincount(self.levels, minlength=self.n_levels).astype(float)
        self.basis = np.empty((self.n, 0))
        if X.shape[1]:
            u, sv, _ = np.linalg.svd(self._demean(X), full_matrices=False)
            if sv[0] > 0:
                self.basis = u[:, sv > sv[0] * max(X.shape) * np.finfo(float).eps]
        self.rank = int(self.n_levels + self.basis.shape[1])
        self.y_r = self.residualize(y[:, None])[:, 0]
        self.yy = float(self.y_r @ self.y_r)
        self.ss_tot = float(np.sum((y - y.mean()) ** 2))
        segments = [np.ones(self.n, dtype=bool)] if self.occupied is None else [self.occupied, ~self.occupied]
        self.hinge = HingeGram(t, y, self.basis, self.levels, segments)
        # Tests sum influence by day; daily and monthly readings are their own groups.
        self.groups = groups if interval == "hourly" else np.arange(self.n)
        day_starts = group_starts(self.groups)
        self.group_min = np.sort(np.minimum.reduceat(t, day_starts))
        self.group_max = np.sort(np.maximum.reduceat(t, day_starts))
        self.group_days = 1.0 if interval == "hourly" else self.period
        self.t_sorted = np.sort(t)
        self.t_cumsum = np.r_[0.0, np.cumsum(self.t_sorted)]
        self._cache: dict[tuple[str, bytes], tuple[dict[str, np.ndarray], np.ndarray]] = {}

    def _demean(self, M: np.ndarray) -> np.ndarray:
        means = np.column_stack([np.bincount(self.levels, weights=M[:, j], minlength=self.n_levels)
                                 for j in range(M.shape[1])]) / self.level_counts[:, None]
        return M - means[self.levels]

    def residualize(self, M: np.ndarray) -> np.ndarray:
        """Residuals of columns (readings in time order) on the rest of the model."""
        M = self._demean(M)
        return M - self.basis @ (self.basis.T @ M) if self.basis.shape[1] else M

    def sufficient(self, grid: np.ndarray, term: str) -> np.ndarray:
        """CalTRACK's data-sufficiency rules for every candidate (module docstring)."""
        n, ts, cs = self.n, self.t_sorted, self.t_cumsum
        if term == "heat":
            nonzero_days = self.group_days * np.searchsorted(self.group_min, grid, "left")
            k = np.searchsorted(ts, grid, "left")
            zero_days = self.period * (n - k)
            degree_days = self.period * (k * grid - cs[k])
        else:
            nonzero_days = self.group_days * (self.group_max.size - np.searchsorted(self.group_max, grid, "right"))
            k = np.searchsorted(ts, grid, "right")
            zero_days = self.period * k
            degree_days = self.period * ((cs[-1] - cs[k]) - (n - k) * grid)
        return (nonzero_days >= MIN_NONZERO_DAYS) & (degree_days >= MIN_DEGREE_DAYS_C) & (zero_days >= MIN_ZERO_DAYS)

    def candidates(self, grid: np.ndarray, term: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Projected Gram blocks of every candidate (with an occupancy schedule, an occupied and
        an unoccupied column each) and the sufficiency mask; kept, as the pair search reuses the
        single-term search's grids."""
        key = (term, grid.tobytes())
        if key not in self._cache:
            self._cache[key] = (self.hinge.blocks(grid, term), self.sufficient(grid, term))
        return self._cache[key]

    def _solve(self, gram: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batched least squares on Gram matrices: coefficients, squared error and solvability.

        A column that is zero (a segment the candidate never reaches, such as night hours above a
        high cooling balance point) gets a zero coefficient instead of making the system singular.
        """
        k = gram.shape[-1]
        diagonal = np.diagonal(gram, axis1=-2, axis2=-1)
        empty = diagonal <= 1e-9 * self.n
        gram = gram + np.where(empty[..., None], np.eye(k), 0.0)
        diagonal = np.diagonal(gram, axis1=-2, axis2=-1)
        with np.errstate(invalid="ignore", over="ignore"):
            det = np.linalg.det(gram)
        ok = (det > 1e-9 * np.prod(diagonal, axis=-1)) & ~np.all(empty, axis=-1)
        safe = np.where(ok[..., None, None], gram, np.eye(k))
        beta = np.linalg.solve(safe, np.where(empty, 0.0, rhs)[..., None])[..., 0]
        return beta, self.yy - np.sum(beta * rhs, axis=-1), ok

    def _positive(self, beta: np.ndarray, sums: np.ndarray) -> np.ndarray:
        # The term's average effect must be positive (each segment's slope alone may be ~0).
        return np.sum(beta * sums, axis=-1) > 0 if self.nonneg else np.ones(beta.shape[:-1], dtype=bool)

    def best_single(self, grid: np.ndarray, term: str) -> tuple[float, float] | None:
        blocks, ok = self.candidates(grid, term)
        beta, sse, solvable = self._solve(blocks["gram"], blocks["rhs"])
        valid = ok & solvable & np.isfinite(sse) & self._positive(beta, blocks["sums"])
        if not valid.any():
            return None
        i = int(np.argmin(np.where(valid, sse, np.inf)))
        return float(grid[i]), float(sse[i])

    def best_pair(self, hs: np.ndarray, cs: np.ndarray) -> tuple[float, float, float] | None:
        heat, ok_h = self.candidates(hs, "heat")
        cool, ok_c = self.candidates(cs, "cool")
        k = self.hinge.k
        gh, gc = hs.size, cs.size
        cross = HingeGram.cross(heat, cool)
        gram = np.empty((gh, gc, 2 * k, 2 * k))
        gram[:, :, :k, :k] = heat["gram"][:, None]
        gram[:, :, k:, k:] = cool["gram"][None, :]
        gram[:, :, :k, k:] = cross
        gram[:, :, k:, :k] = cross.transpose(0, 1, 3, 2)
        rhs = np.concatenate([np.broadcast_to(heat["rhs"][:, None], (gh, gc, k)),
                              np.broadcast_to(cool["rhs"][None, :], (gh, gc, k))], axis=-1)
        beta, sse, solvable = self._solve(gram, rhs)
        valid = (ok_h[:, None] & ok_c[None, :] & solvable & (hs[:, None] <= cs[None, :]) & np.isfinite(sse)
                 & self._positive(beta[..., :k], heat["sums"][:, None])
                 & self._positive(beta[..., k:], cool["sums"][None, :]))
        if not valid.any():
            return None
        i, j = np.unravel_index(int(np.argmin(np.where(valid, sse, np.inf))), sse.shape)
        return float(hs[i]), float(cs[j]), float(sse[i, j])

    def adj_r2(self, sse: float, k: int) -> float:
        dof = self.n - (self.rank + k)
        if dof <= 0 or self.ss_tot <= 0:
            return -np.inf
        return 1.0 - (sse / dof) / (self.ss_tot / (self.n - 1))

    def column(self, term: str, bp: float) -> np.ndarray:
        """One degree column."""
        return degree_columns(self.t, np.array([bp]), term)[:, 0]

    def test(self, columns: list[np.ndarray]) -> dict[str, np.ndarray | int]:
        """Robust tests of the columns added to the rest of the model."""
        return coefficient_tests(self.residualize(np.column_stack(columns)), self.y_r, self.groups)


def _fine(bp: float) -> np.ndarray:
    lo, hi = BALANCE_RANGE_C
    return np.unique(np.clip(np.arange(bp - COARSE_STEP_C, bp + COARSE_STEP_C + 1e-9, FINE_STEP_C), lo, hi))


def search_temperature_terms(
    t: np.ndarray,
    y: np.ndarray,
    X: np.ndarray,
    codes: np.ndarray,
    groups: np.ndarray,
    *,
    interval: str,
    nonneg: bool = True,
    occupied: np.ndarray | None = None,
    p_value: float = SEARCHED_TERM_P_VALUE,
    split_p_value: float = SPLIT_P_VALUE,
) -> TermSelection:
    """Choose the degree terms (module docstring) for temperatures ``t`` and energy ``y``.

    ``X`` holds the other drivers' columns, ``codes`` the time-of-week level of each row (all
    zero without time of week), ``groups`` the local day of each row in time order, and
    ``occupied`` (hourly only) each row's occupancy flag, or ``None``.
    """
    s = _Search(t, y, X, codes, groups, interval, nonneg, occupied if interval == "hourly" else None)
    lo, hi = BALANCE_RANGE_C
    coarse = np.arange(lo, hi + 1e-9, COARSE_STEP_C)
    found: dict[str, tuple[float | None, float | None, float]] = {}
    for term in ("heat", "cool"):
        best = s.best_single(coarse, term)
        if best is not None:
            best = s.best_single(_fine(best[0]), term) or best
            found[term] = (best[0], None, best[1]) if term == "heat" else (None, best[0], best[1])
    pair = s.best_pair(coarse, coarse)
    if pair is not None:
        found["both"] = (pair[0], pair[1], pair[2])
        refined = s.best_pair(_fine(pair[0]), _fine(pair[1]))
        if refined is not None and refined[2] <= pair[2]:
            found["both"] = refined

    evidence: dict[str, Any] = {"range_c": list(BALANCE_RANGE_C), "forms": {"none": {"adj_r2": s.adj_r2(s.yy, 0)}}}
    best_form, best_score = "none", s.adj_r2(s.yy, 0)
    for form, (h, c, sse) in found.items():
        terms = FORMS[form]
        bps = {"heat": h, "cool": c}
        result = s.test([s.column(term, bps[term]) for term in terms])
        passed = all(
            result["p"][i] < p_value and (result["beta"][i] > 0 or not nonneg) for i in range(len(terms))
        )
        # Each term has a slope per segment (occupied and unoccupied with a schedule) and its
        # searched balance point.
        segments = 1 if s.occupied is None else 2
        score = s.adj_r2(sse, (segments + 1) * len(terms))
        evidence["forms"][form] = {
            "adj_r2": score, "passed": bool(passed),
            **{term: {"balance_c": bps[term], "slope": float(result["beta"][i]), "t": float(result["t"][i]),
                      "p": float(result["p"][i]), "df": float(result["df"][i])} for i, term in enumerate(terms)},
        }
        if passed and score > best_score:
            best_form, best_score = form, score
    evidence["form"] = best_form
    evidence["days"] = int(group_starts(s.groups).size)
    if best_form == "none":
        return TermSelection(evidence=_clean(evidence))
    h, c, _ = found[best_form]
    bps = {"heat": h, "cool": c}
    terms = FORMS[best_form]
    split: list[str] = []
    if occupied is not None and interval == "hourly":
        base = [s.column(term, bps[term]) for term in terms]
        tests = {}
        for term in terms:
            result = s.test([*base, s.column(term, bps[term]) * s.occupied])
            tests[term] = {"difference": float(result["beta"][-1]), "t": float(result["t"][-1]),
                           "p": float(result["p"][-1])}
            if result["p"][-1] < split_p_value:
                split.append(term)
        evidence["occupancy"] = {"occupied_share": float(np.mean(occupied)), "tests": tests, "split": split}
    n_searched = len(terms) + (1 if split else 0)
    return TermSelection(
        heat=None if h is None else round(h, 2),
        cool=None if c is None else round(c, 2),
        split=tuple(split),
        n_searched=n_searched,
        evidence=_clean(evidence),
    )


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become ``None``."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value

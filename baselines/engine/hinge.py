"""Gram matrices of degree (hinge) columns from sorted prefix sums, for the balance-point search.

Every candidate balance point ``b`` of a term is a column ``max(b - t, 0)`` (heating) or
``max(t - b, 0)`` (cooling). The search needs, for every candidate, its inner products with itself,
with the energy and with the other term's candidates after the rest of the model (time-of-week
levels and the other drivers) is projected out (Frisch-Waugh-Lovell):

    u'Pv = u'v - sum_g n_g mean_g(u) mean_g(v) - (u'B)(B'v)

with ``g`` the time-of-week levels and ``B`` an orthonormal basis of the other drivers once the
levels are removed. Each raw sum over the readings below (or above) ``b`` follows from prefix
sums of ``1, t, t^2, y, t y, B, t B`` over the readings sorted by temperature, and the per-level
sums from prefix sums over the readings sorted by (level, temperature); so a whole grid of
candidates costs a few searches in sorted arrays instead of a matrix of readings x candidates.
Numpy only.
"""

from __future__ import annotations

import numpy as np


class HingeStatistics:
    """Sums of hinge columns over one segment of the readings (all of them, or the occupied or
    unoccupied hours), for any grid of balance points.

    ``t``, ``y``: the segment's temperatures and energy; ``B``: its rows of the drivers' basis;
    ``levels``: its rows' time-of-week level numbers (0..n_levels-1).
    """

    def __init__(self, t: np.ndarray, y: np.ndarray, B: np.ndarray, levels: np.ndarray, n_levels: int) -> None:
        self.r = B.shape[1]
        self.n_levels = n_levels
        order = np.argsort(t, kind="stable")
        self.t = t[order]
        tb = t[:, None] * B
        columns = np.column_stack([np.ones_like(t), t, t * t, y, t * y, B, tb])[order]
        self.prefix = np.vstack([np.zeros(columns.shape[1]), np.cumsum(columns, axis=0)])
        self.t_min = float(t.min()) if t.size else 0.0
        self.span = (float(t.max()) - self.t_min + 1.0) if t.size else 1.0
        key = levels * self.span + (t - self.t_min)
        by_level = np.argsort(key, kind="stable")
        self.key = key[by_level]
        self.level_prefix = np.vstack([np.zeros(2), np.cumsum(np.column_stack([np.ones_like(t), t])[by_level],
                                                              axis=0)])
        bounds = np.searchsorted(self.key, np.arange(n_levels + 1) * self.span, "left")
        self.level_start, self.level_end = bounds[:-1], bounds[1:]

    def _unpack(self, sums: np.ndarray) -> tuple[np.ndarray, ...]:
        r = self.r
        return (sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3], sums[:, 4], sums[:, 5:5 + r], sums[:, 5 + r:5 + 2 * r])

    def raw(self, grid: np.ndarray, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per candidate: the column's sum of squares, its product with the energy and with ``B``."""
        if term == "heat":
            k, s1, s2, sy, sty, sb, stb = self._unpack(self.prefix[np.searchsorted(self.t, grid, "left")])
            square = k * grid * grid - 2.0 * grid * s1 + s2
            with_y = grid * sy - sty
            with_b = grid[:, None] * sb - stb
        else:
            above = self.prefix[-1] - self.prefix[np.searchsorted(self.t, grid, "right")]
            k, s1, s2, sy, sty, sb, stb = self._unpack(above)
            square = s2 - 2.0 * grid * s1 + k * grid * grid
            with_y = sty - grid * sy
            with_b = stb - grid[:, None] * sb
        return square, with_y, with_b

    def level_sums(self, grid: np.ndarray, term: str) -> np.ndarray:
        """Sum of each candidate's column within each time-of-week level (levels x candidates)."""
        offset = np.clip(grid - self.t_min, 0.0, self.span - 0.5)
        keys = np.arange(self.n_levels)[:, None] * self.span + offset[None, :]
        if term == "heat":
            pos = np.searchsorted(self.key, keys, "left")
            start = self.level_start[:, None]
            count = self.level_prefix[pos, 0] - self.level_prefix[start, 0]
            total = self.level_prefix[pos, 1] - self.level_prefix[start, 1]
            return count * grid[None, :] - total
        if term == "cool":
            below_key = np.arange(self.n_levels)[:, None] * self.span + np.clip(grid - self.t_min, -0.5,
                                                                               self.span - 0.5)[None, :]
            pos = np.searchsorted(self.key, below_key, "right")
            end = self.level_end[:, None]
            count = self.level_prefix[end, 0] - self.level_prefix[pos, 0]
            total = self.level_prefix[end, 1] - self.level_prefix[pos, 1]
            return total - count * grid[None, :]
        raise ValueError(f"unknown term {term!r}")


class HingeGram:
    """Projected Gram blocks of the candidates of both terms over one fit's readings.

    ``segments`` are boolean masks (one for all readings, or occupied and unoccupied hours);
    ``levels`` are the readings' time-of-week level numbers; ``B`` an orthonormal basis of the
    other drivers after the levels are removed (readings x r).
    """

    def __init__(self, t: np.ndarray, y: np.ndarray, B: np.ndarray, levels: np.ndarray,
                 segments: list[np.ndarray]) -> None:
        self.n_levels = int(levels.max()) + 1 if levels.size else 1
        counts = np.bincount(levels, minlength=self.n_levels).astype(float)
        self.inv_counts = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0)
        self.level_mean_y = np.bincount(levels, weights=y, minlength=self.n_levels) * self.inv_counts
        self.by = B.T @ y
        self.segments = [HingeStatistics(t[m], y[m], B[m], levels[m], self.n_levels) for m in segments]
        self.k = len(segments)

    def blocks(self, grid: np.ndarray, term: str) -> dict[str, np.ndarray]:
        """Per candidate: ``gram`` (candidates x k x k), ``rhs`` (candidates x k), ``sums`` (the
        raw degree sums per segment) and, for the cross blocks, ``level`` and ``b`` factors."""
        g, k = grid.size, self.k
        level = np.empty((k, self.n_levels, g))
        with_b = np.empty((k, g, self.by.size))
        square = np.empty((k, g))
        with_y = np.empty((k, g))
        for s, stats in enumerate(self.segments):
            square[s], with_y[s], with_b[s] = stats.raw(grid, term)
            level[s] = stats.level_sums(grid, term)
        sums = level.sum(axis=1).T  # candidates x segments
        weighted = level * self.inv_counts[None, :, None]
        # u'M_G v for segments s, t: raw product (zero across segments: disjoint readings) minus the
        # level-mean correction; then minus the drivers' projection.
        gram = -np.einsum("sgc,tgc->cst", weighted, level)
        gram[:, np.arange(k), np.arange(k)] += square.T
        gram -= np.einsum("scr,tcr->cst", with_b, with_b)
        rhs = with_y.T - np.einsum("sgc,g->cs", level, self.level_mean_y) - np.einsum("scr,r->cs", with_b, self.by)
        return {"gram": gram, "rhs": rhs, "sums": sums, "level": level, "weighted": weighted, "b": with_b}

    @staticmethod
    def cross(heat: dict[str, np.ndarray], cool: dict[str, np.ndarray]) -> np.ndarray:
        """Projected products of every heating with every cooling candidate (heat x cool x k x k).

        Their raw product is zero whenever the heating balance point is at or below the cooling
        one (no temperature is both below the first and above the second), the only pairs the
        search admits; what remains are the corrections.
        """
        return -(np.einsum("sgh,tgc->hcst", heat["weighted"], cool["level"])
                 + np.einsum("shr,tcr->hcst", heat["b"], cool["b"]))

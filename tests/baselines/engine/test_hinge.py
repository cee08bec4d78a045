"""Gram blocks of degree columns from prefix sums equal those of the explicit projected columns."""

import numpy as np
import pytest

from baselines.engine.balance import degree_columns
from baselines.engine.hinge import HingeGram


@pytest.mark.parametrize("split", [False, True])
def test_prefix_sum_grams_match_explicit_projected_columns(split):
    rng = np.random.default_rng(0)
    n, n_levels = 3000, 20
    t = rng.normal(12, 8, n).round(1)  # repeated temperatures, as real sensors give
    levels = rng.integers(0, n_levels, n)
    X = rng.normal(size=(n, 2)) + levels[:, None] * 0.1
    y = rng.normal(size=n) + 0.3 * np.maximum(15 - t, 0)
    segments = [levels % 3 == 0, levels % 3 != 0] if split else [np.ones(n, dtype=bool)]

    def level_means(M):
        counts = np.bincount(levels, minlength=n_levels)
        return np.column_stack([np.bincount(levels, weights=M[:, j], minlength=n_levels) / counts
                                for j in range(M.shape[1])])

    def demean(M):
        return M - level_means(M)[levels]

    B = np.linalg.svd(demean(X), full_matrices=False)[0]

    def project(M):
        M = demean(M)
        return M - B @ (B.T @ M)

    y_r = project(y[:, None])[:, 0]
    grid = np.arange(-1.0, 33.0, 1.0)
    gram = HingeGram(t, y, B, levels, segments)
    explicit = {}
    for term in ("heat", "cool"):
        blocks = gram.blocks(grid, term)
        D = np.stack([degree_columns(t, grid, term) * m[:, None] for m in segments], axis=2)
        R = project(D.reshape(n, -1)).reshape(D.shape)
        explicit[term] = R
        G = np.einsum("ngk,ngl->gkl", R, R)
        assert np.allclose(blocks["gram"], G, rtol=1e-10, atol=1e-8 * np.abs(G).max())
        assert np.allclose(blocks["rhs"], np.einsum("ngk,n->gk", R, y_r), rtol=1e-10, atol=1e-6)
        assert np.allclose(blocks["sums"], D.sum(axis=0))
    cross = HingeGram.cross(gram.blocks(grid, "heat"), gram.blocks(grid, "cool"))
    full = np.einsum("nik,njl->ijkl", explicit["heat"], explicit["cool"])
    admitted = grid[:, None] <= grid[None, :]  # heating balance point at or below the cooling one
    assert np.allclose(cross[admitted], full[admitted], atol=1e-9 * np.abs(full).max())

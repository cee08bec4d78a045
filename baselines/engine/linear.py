"""The linear baselines' estimators solved on the structure of their design, for validation folds.

The design of an hourly baseline is a few dense columns (drivers, degree terms) and 168
time-of-week indicators with exactly one 1 per row. Its Gram matrix is therefore the small dense
block, the per-level sums of the dense columns and the level counts, all computed in one pass;
the standardised ridge problem (``StandardScaler`` then ``Ridge``) and least squares
(``LinearRegression``) follow from it exactly, without building the n x 171 matrix. The stored
model is still the scikit-learn pipeline; :func:`fit_linear` gives the same predictions
(to rounding) for the folds that are fitted only to be scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


@dataclass
class LinearFit:
    """Coefficients in raw units: ``y ~ intercept + dense @ coef + level_coef[code]``."""

    intercept: float
    coef: np.ndarray
    level_coef: np.ndarray | None

    def predict(self, dense: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
        out = self.intercept + dense @ self.coef
        if self.level_coef is not None and codes is not None:
            out = out + self.level_coef[codes]
        return out


def fit_linear(dense: np.ndarray, codes: np.ndarray | None, levels: int, y: np.ndarray, *,
               alpha: float | None) -> LinearFit:
    """Ridge on standardised columns (``alpha``) or least squares (``alpha=None``), with intercept.

    Matches ``StandardScaler() + Ridge(alpha)`` and ``LinearRegression()`` on the full design
    (indicators of ``levels`` levels after the dense columns): columns are standardised by their
    population standard deviation (1 where it is 0), the intercept is not penalised, and least
    squares takes the minimum-norm solution of the rank-deficient indicator block.
    """
    n, m = dense.shape
    y = np.asarray(y, dtype=float)
    if codes is not None:
        counts = np.bincount(codes, minlength=levels).astype(float)
        level_sums = np.column_stack([np.bincount(codes, weights=dense[:, j], minlength=levels) for j in range(m)]
                                     ) if m else np.zeros((levels, 0))
        k = m + levels
        gram = np.empty((k, k))
        gram[:m, :m] = dense.T @ dense
        gram[:m, m:] = level_sums.T
        gram[m:, :m] = level_sums
        gram[m:, m:] = np.diag(counts)
        xy = np.concatenate([dense.T @ y, np.bincount(codes, weights=y, minlength=levels)])
        mean = np.concatenate([dense.mean(axis=0), counts / n])
    else:
        gram = dense.T @ dense
        xy = dense.T @ y
        mean = dense.mean(axis=0)
    y_mean = float(y.mean())
    centred = gram - n * np.outer(mean, mean)
    centred_xy = xy - n * mean * y_mean
    if alpha is None:
        w = scipy.linalg.lstsq(centred, centred_xy, lapack_driver="gelsy")[0]
    else:
        var = np.maximum(np.diag(centred) / n, 0.0)
        scale = np.sqrt(var)
        scale[scale < 10 * np.finfo(float).eps * np.maximum(np.abs(mean), 1.0)] = 1.0
        a = centred / np.outer(scale, scale)
        a[np.diag_indices_from(a)] += alpha
        w = scipy.linalg.solve(a, centred_xy / scale, assume_a="pos") / scale
    intercept = y_mean - float(mean @ w)
    return LinearFit(intercept=intercept, coef=w[:m], level_coef=w[m:] if codes is not None else None)

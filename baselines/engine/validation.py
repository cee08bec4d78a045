"""Time-ordered validation: blocked folds over a training window and their out-of-sample residuals.

The window, in time order, is cut into contiguous blocks. The last block is the holdout (the
last ``holdout_fraction`` of readings); the readings before it are cut into ``k - 1`` blocks of
equal size, ``k = round(1 / holdout_fraction)``. Each block is predicted by a fit on every other
block, so each reading is predicted by a fit that never saw it; the holdout block's fit sees
only the readings before the holdout, as a model in service sees only the past. Nothing is ever
shuffled: hourly energy residuals are autocorrelated, and a shuffled fold would leak each
hour's neighbours into its fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


def _aligned(times: pd.Series, cut: int) -> int:
    # A timestamp shared across a boundary would put one instant in two blocks.
    while 0 < cut < len(times) and times.iloc[cut - 1] == times.iloc[cut]:
        cut -= 1
    return cut


def blocked_folds(times: pd.Series, holdout_fraction: float) -> list[np.ndarray]:
    """Positions (into time-ordered ``times``) of each block; the last block is the holdout.

    ``holdout_fraction = 0`` gives no blocks (nothing is held out).
    """
    n = len(times)
    if holdout_fraction <= 0 or n < 2:
        return []
    n_hold = max(1, int(round(n * holdout_fraction)))
    split = _aligned(times, n - n_hold)
    k = max(2, int(round(1.0 / holdout_fraction)))
    cuts = [0]
    for i in range(1, k - 1):
        cut = _aligned(times, int(round(split * i / (k - 1))))
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(split)
    blocks = [np.arange(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]
    blocks.append(np.arange(split, n))
    return blocks


@dataclass
class OutOfSample:
    """Predictions of every block by a fit that did not see it.

    ``predicted`` is NaN where a block's fit failed (too little data without it); ``fold`` is
    each row's block number (the last one is the holdout); ``holdout_model`` is the fit on the
    readings before the holdout, ``errors`` the reasons of failed blocks.
    """

    predicted: np.ndarray
    fold: np.ndarray
    holdout_model: Any = None
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def n_folds(self) -> int:
        return int(self.fold.max()) + 1 if self.fold.size and self.fold.max() >= 0 else 0


def out_of_sample(
    n: int,
    blocks: list[np.ndarray],
    fit: Callable[[np.ndarray], Any],
    predict: Callable[[Any, np.ndarray], np.ndarray],
) -> OutOfSample:
    """Fit on all blocks but one (``fit(train_positions)``) and predict it, for every block.

    The holdout block (the last) is fitted on the readings before it only; a failure there is
    raised, since holdout metrics are required; a failure of another block leaves its rows NaN.
    """
    predicted = np.full(n, np.nan)
    fold = np.full(n, -1, dtype=np.intp)
    result = OutOfSample(predicted=predicted, fold=fold)
    last = len(blocks) - 1
    for b, block in enumerate(blocks):
        fold[block] = b
        if b == last:
            train = np.arange(block[0])
        else:
            train = np.concatenate([blocks[j] for j in range(len(blocks)) if j != b])
        try:
            model = fit(train)
        except ValueError as exc:
            if b == last:
                raise
            result.errors[b] = str(exc)
            continue
        predicted[block] = predict(model, block)
        if b == last:
            result.holdout_model = model
    return result

"""Residual anomaly detector: readings whose baseline residual is far outside the usual spread."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

_MAD_TO_SIGMA = 1.482602218505602  # 1 / Phi^-1(3/4): MAD of a normal sample estimates sigma


def fit_anomaly_threshold(train_residuals: np.ndarray, *, z: float = 4.0) -> dict[str, float]:
    """Robust centre (median) and scale (1.4826 * MAD) of residuals.

    Median and MAD ignore the very outliers the detector should catch. When
    more than half the residuals are identical (MAD = 0) the scale falls back
    to the standard deviation, and finally to a tiny positive number.
    Holdout residuals give a more honest, out-of-sample scale if available.
    """
    r = np.asarray(train_residuals, dtype=float).ravel()
    r = r[np.isfinite(r)]
    if r.size == 0:
        raise ValueError("no finite residuals to fit an anomaly threshold on")
    if not z > 0:
        raise ValueError("z must be > 0")
    center = float(np.median(r))
    scale = _MAD_TO_SIGMA * float(np.median(np.abs(r - center)))
    if not scale > 0:
        scale = float(np.std(r))
    if not scale > 0:
        scale = 1e-9 * max(1.0, abs(center))
    return {"center": center, "scale": scale, "z": float(z)}


def flag_anomalies(residuals: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
    """True where ``|r - center| / scale > z``; NaN residuals are not flagged."""
    r = np.asarray(residuals, dtype=float).ravel()
    with np.errstate(invalid="ignore"):
        score = np.abs(r - float(params["center"])) / float(params["scale"])
        return np.nan_to_num(score, nan=0.0) > float(params["z"])

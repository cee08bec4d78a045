"""The verdict: data and concept drift combined into one decision, and the check that runs them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._json import _clean
from .concept import concept_drift
from .data import _extrapolation_rows, data_drift
from .thresholds import DriftThresholds, _component_scores, _concept_ratios, _data_ratios, _level_from_score


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f} %"


def drift_verdict(
    data: dict[str, dict[str, Any]],
    concept: dict[str, Any],
    thresholds: DriftThresholds | None = None,
    *,
    extrapolation_share: float | None = None,
) -> dict[str, Any]:
    """Combine data and concept drift into one decision.

    Args:
        data: output of :func:`data_drift`.
        concept: output of :func:`concept_drift`.
        thresholds: decision thresholds.
        extrapolation_share: share of current rows with any driver outside the
            training range; without it the largest per-driver share is used,
            which is a lower bound of the row share.

    Returns:
        ``{"drift_detected", "drift_score", "severity", "data_drift_level",
        "concept_drift_level", "reasons", "components", "drift_share",
        "extrapolation_share", "n_drivers", "n_drifted"}``; the score formula
        is in the module docstring.
    """
    th = thresholds or DriftThresholds()
    d_ratios, summary = _data_ratios(data, extrapolation_share, th)
    c_ratios = _concept_ratios(concept, th)
    d_scores = _component_scores(d_ratios)
    c_scores = _component_scores(c_ratios)
    d_score = max(d_scores.values(), default=0.0)
    c_score = max(c_scores.values(), default=0.0)
    score = min(max(d_score, c_score), 1.0)
    severity = _level_from_score(score)

    reasons: list[str] = []
    drifted = [k for k, v in data.items() if v.get("drifted")]
    if d_scores.get("drift_share", 0.0) >= 1 / 3 or d_scores.get("critical_share", 0.0) >= 2 / 3:
        reasons.append(
            f"{summary['n_drifted']} of {summary['n_drivers']} drivers drifted "
            f"({', '.join(drifted)}); share {summary['drift_share']:.2f} >= {th.drift_share:.2f}")
    if d_scores.get("extrapolation", 0.0) >= 1 / 3:
        reasons.append(
            f"{_pct(summary['extrapolation_share'])} of rows have a driver outside the training range "
            f"(warning at {_pct(th.extrapolation_warning)}, critical at {_pct(th.extrapolation_critical)})")
        for name, v in data.items():
            if v.get("out_of_range_share"):
                reasons.append(f"{name}: {_pct(v['out_of_range_share'])} of rows outside the training range")
    if c_scores.get("change_point", 0.0) >= 1 / 3:
        rel = concept.get("shift_relative")
        size = f" of {_pct(rel)}" if rel is not None else ""
        reasons.append(
            f"residual level shift{size} ({concept.get('direction')}) starting at index "
            f"{concept.get('change_point')}, alarm at index {concept.get('cusum_alarm_index')} "
            f"(statistic {concept['cusum_statistic']:.2f} >= {concept['cusum_threshold']:.2f})")
    if c_scores.get("mean_shift", 0.0) >= 1 / 3:
        reasons.append(
            f"window mean residual shifted: NMBE {_pct(concept['nmbe'])}, z = {concept['mean_shift_z']:.2f} "
            f"(autocorrelation-corrected; limit {th.mean_shift_z:.2f})")
    if c_scores.get("error_ratio", 0.0) >= 1 / 3:
        reasons.append(
            f"error ratio {concept['error_ratio']:.2f} >= {th.error_ratio_warning:.2f} "
            f"(p = {concept['error_ratio_pvalue']:.2g})")
    if c_scores.get("effect_size", 0.0) >= 2 / 3:
        reasons.append(f"shift size at or above {_pct(th.nmbe_critical)} of consumption")
    if c_scores.get("error_ratio_critical", 0.0) >= 2 / 3:
        reasons.append(f"error ratio {concept['error_ratio']:.2f} >= {th.error_ratio_critical:.2f}")

    return _clean({
        "drift_detected": severity != "none",
        "drift_score": score,
        "severity": severity,
        "data_drift_level": _level_from_score(d_score),
        "concept_drift_level": _level_from_score(c_score),
        "reasons": reasons,
        "components": {**{f"data.{k}": v for k, v in d_scores.items()},
                       **{f"concept.{k}": v for k, v in c_scores.items()}},
        **summary,
    })


def check_drift(
    reference: dict[str, Any],
    current_drivers: dict[str, np.ndarray],
    residuals: np.ndarray,
    actual: np.ndarray,
    n_params: int,
    thresholds: DriftThresholds | None = None,
) -> dict[str, Any]:
    """One drift check of a current window against a stored reference.

    Returns ``{"data_drift", "concept_drift", "drift_detected", "drift_score",
    "severity", "details"}`` where ``details`` holds the levels, reasons,
    component scores, dataset-level shares and the thresholds applied.
    """
    th = thresholds or DriftThresholds()
    data = data_drift(reference, current_drivers, th)
    concept = concept_drift(reference, residuals, actual, n_params, th, drivers=current_drivers)
    extrapolation = _extrapolation_rows(reference, current_drivers)
    verdict = drift_verdict(data, concept, th, extrapolation_share=extrapolation)
    details = {k: v for k, v in verdict.items()
               if k not in ("drift_detected", "drift_score", "severity")}
    details["thresholds"] = th.to_dict()
    details["rho"] = reference["residuals"]["rho"]
    return _clean({
        "data_drift": data,
        "concept_drift": concept,
        "drift_detected": verdict["drift_detected"],
        "drift_score": verdict["drift_score"],
        "severity": verdict["severity"],
        "details": details,
    })

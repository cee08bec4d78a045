"""The verdict: data and concept drift combined into one decision, and the check that runs them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._json import _clean
from .concept import concept_drift
from .data import _extrapolation_rows, data_drift
from .decision import (
    CRITICAL_HOURS,
    consumption_change,
    coverage,
    decide,
    extrapolation_immaterial,
    isolated_spikes,
    model_error,
)
from .thresholds import (
    DriftThresholds,
    _component_scores,
    _concept_ratios,
    _data_ratios,
    _level_from_score,
    _significance_ratio,
)


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


def _pct_signed(x: float) -> str:
    return f"{100.0 * x:+.1f} %"


def _cause_components(change: dict[str, Any], cover: dict[str, Any], error: dict[str, Any],
                      th: DriftThresholds) -> dict[str, float]:
    """Score of every cause's rule on the module's scale (1/3 warning, 2/3 critical)."""
    ratios: dict[str, tuple[str, float]] = {}
    if change.get("statistic") is not None and change.get("threshold"):
        r = change["statistic"] / change["threshold"]
        if change.get("shift_relative") is not None:
            r = min(r, abs(change["shift_relative"]) / th.min_shift)
        ratios["consumption_change"] = ("warning", r if change.get("detected") else min(r, 0.99))
        if change.get("level") == "critical":
            ratios["consumption_change_critical"] = ("critical", abs(change["shift_relative"]) / th.nmbe_critical)
    ratios["coverage"] = ("warning", cover["uncovered_share"] / th.extrapolation_warning)
    if cover["level"] == "critical":
        ratios["coverage_critical"] = ("critical", cover["uncovered_share"] / th.extrapolation_critical)
    if error.get("error_ratio") is not None:
        sig = _significance_ratio(error["pvalue"], th.error_ratio_alpha)
        r = min(error["error_ratio"] / th.error_ratio_warning, sig)
        ratios["model_error"] = ("warning", r if error["level"] != "none" else min(r, 0.99))
        if error["level"] == "critical":
            ratios["model_error_critical"] = ("critical", min(error["error_ratio"] / th.error_ratio_critical, sig))
    return _component_scores(ratios)


def check_drift(
    reference: dict[str, Any],
    current_drivers: dict[str, np.ndarray],
    residuals: np.ndarray,
    actual: np.ndarray,
    n_params: int,
    thresholds: DriftThresholds | None = None,
    *,
    seconds: np.ndarray | None = None,
    in_sample: np.ndarray | None = None,
    days: np.ndarray | None = None,
    occupied: np.ndarray | None = None,
    held: np.ndarray | None = None,
) -> dict[str, Any]:
    """One drift check of a current window against a stored reference: the numeric verdict.

    Args:
        seconds: reading times (epoch seconds), for the daily blocks of the consumption-change
            test; without them rows are taken as consecutive.
        days: local calendar day number of every row, for the consumption-change test's blocks.
        in_sample: rows inside the version's training window; they are counted
            (``in_sample_rows``) and never judged.
        occupied: rows in the version's occupied hours (its schedule), for the consumption-change
            test's occupancy-aware noise model.
        held: the version's predictions with every driver clipped to its training range; rows
            beyond the range where they differ from the predictions (``actual - residuals``) by
            less than ``min_shift`` are not counted as uncovered (``coverage.immaterial_share``).

    Returns ``{"data_drift", "concept_drift", "drift_detected", "drift_score", "severity",
    "cause", "consumption_change", "coverage", "model_error", "details"}``.  ``cause`` is
    ``none``, ``consumption_change``, ``coverage`` or ``model_error`` (see :mod:`.decision`);
    the per-driver statistics (PSI, KS on an effective sample size, Wasserstein) and the hourly
    change statistics of ``concept_drift`` are information kept in the details: they no longer
    raise a verdict by themselves.  Row indexes (``change_point``) refer to ``residuals``.
    """
    th = thresholds or DriftThresholds()
    e = np.asarray(residuals, dtype=float)
    n = e.size
    judged = np.ones(n, dtype=bool) if in_sample is None else ~np.asarray(in_sample, dtype=bool)
    e_judged = np.where(judged, e, np.nan)
    data = data_drift(reference, current_drivers, th)
    concept = concept_drift(reference, e_judged, actual, n_params, th, drivers=current_drivers)
    extrapolation = _extrapolation_rows(reference, current_drivers)
    immaterial = None if held is None else extrapolation_immaterial(np.asarray(actual, dtype=float) - e, held, th)
    cover = coverage(reference, current_drivers, n, th, immaterial=immaterial)
    uncovered = judged & ~cover.pop("covered")
    # Consumption is judged on densely covered hours only: elsewhere the baseline extrapolates
    # or has seen little, and its residuals say more about coverage than about the machine.
    usable = judged & cover.pop("dense")
    # A lone reading far off both neighbours (a meter glitch) is neither a change nor model error.
    spikes = isolated_spikes(e, usable)
    usable &= ~spikes
    if judged.sum() < th.min_rows:
        cover["level"] = "none"
    change = consumption_change(reference, e, actual, th, seconds=seconds, drivers=current_drivers,
                                usable=usable, days=days, occupied=occupied)
    change["spike_hours"] = int(spikes.sum())
    error = model_error(reference, e, usable, change, th)
    # Coverage is critical only when the model is seen to fail where it extrapolates: the error
    # ratio of the uncovered hours themselves, by the model-error test. A degree-day slope that
    # carries on past the training range is a warning (its hours are unvouched for), not a
    # critical fault.
    beyond = model_error(reference, e, uncovered & ~spikes, {}, th, around_level=False)
    cover["error_ratio"], cover["error_pvalue"] = beyond["error_ratio"], beyond["pvalue"]
    if cover["level"] == "critical" and beyond["level"] == "none":
        cover["level"] = "warning"
    decision = decide(change, cover, error)
    scores = _cause_components(change, cover, error, th)
    severity = decision["severity"]
    score = max(scores.values(), default=0.0)
    band = {"none": (0.0, 1 / 3 - 1e-9), "warning": (1 / 3, 2 / 3 - 1e-9), "critical": (2 / 3, 1.0)}[severity]
    score = min(max(score, band[0]), band[1])

    reasons: list[str] = []
    if change.get("detected"):
        lo, hi = change["ci_relative"]
        reasons.append(f"consumption {change['direction']} {_pct_signed(change['shift_relative'])} against the "
                       f"baseline (95 % interval {_pct_signed(lo)} to {_pct_signed(hi)})")
        if abs(change["shift_relative"]) >= th.nmbe_critical and change.get("ci_scan_relative"):
            # Why a change of the critical size is critical or not, in the evidence's own terms.
            slo, shi = change["ci_scan_relative"]
            scan_wide = f"scan-wide interval {_pct_signed(slo)} to {_pct_signed(shi)}"
            if change["level"] == "critical":
                reasons.append(f"{scan_wide} clears the {_pct(th.min_shift)} minimum: critical")
            elif change.get("scan_clears_minimum"):
                reasons.append(f"{change['hours_after']:.0f} hours since the change: a warning until "
                               f"{CRITICAL_HOURS} hours confirm it")
            else:
                reasons.append(f"{scan_wide} does not clear the {_pct(th.min_shift)} minimum: a warning "
                               f"until more hours confirm it")
    elif change.get("significant"):
        reasons.append(f"small consumption change {_pct_signed(change['shift_relative'])}, below the "
                       f"{_pct(th.min_shift)} minimum: not alerted")
    if cover["level"] != "none":
        reasons.append(f"{_pct(cover['uncovered_share'])} of hours have a driver outside the training range "
                       f"({_pct(cover['outside_share'])}) or where training data is sparse "
                       f"({_pct(cover['sparse_share'])})")
        if cover.get("immaterial_share"):
            reasons.append(f"{_pct(cover['immaterial_share'])} more lie beyond the range where the model's "
                           f"prediction moves by less than {_pct(th.min_shift)}: not counted")
        if cover["level"] == "critical":
            reasons.append(f"the model fails on those hours: error ratio {cover['error_ratio']:.2f} "
                           f"(p = {cover['error_pvalue']:.2g})")
    if error["level"] != "none":
        reasons.append(f"model error grew: error ratio {error['error_ratio']:.2f} (p = {error['pvalue']:.2g})")

    concept["drifted"] = decision["causes"]["consumption_change"] != "none" or error["level"] != "none"
    concept["level"] = max(decision["causes"]["consumption_change"], error["level"],
                           key=("none", "warning", "critical").index)
    concept["hourly_change_point"] = concept.get("change_point")
    concept["change_point"] = change["change_point"] if change.get("significant") else None
    concept["shift_estimate"] = change.get("shift_kwh")
    concept["shift_relative"] = change.get("shift_relative")
    concept["direction"] = (None if not change.get("significant") else
                            "increase" if change["direction"] == "up" else "decrease")
    data_summary = drift_verdict(data, {}, th, extrapolation_share=extrapolation)
    details = {
        "reasons": reasons,
        "cause": decision["cause"],
        "causes": decision["causes"],
        "data_drift_level": cover["level"],
        "concept_drift_level": concept["level"],
        "components": scores,
        **{k: data_summary[k] for k in ("n_drivers", "n_drifted", "n_critical", "drift_share", "critical_share",
                                         "extrapolation_share")},
        "coverage": cover,
        "consumption_change": change,
        "model_error": error,
        "in_sample_rows": int(n - judged.sum()),
        "thresholds": th.to_dict(),
        "rho": reference["residuals"]["rho"],
    }
    return _clean({
        "data_drift": data,
        "concept_drift": concept,
        "drift_detected": severity != "none",
        "drift_score": score,
        "severity": severity,
        "cause": decision["cause"],
        "consumption_change": change,
        "coverage": cover,
        "model_error": error,
        "details": details,
    })

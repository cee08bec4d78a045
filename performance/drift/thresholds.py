"""Decision thresholds and the mapping from a rule's ratio to a score and a level.

Verdict and score
-----------------
Each rule is a ratio ``r`` that reaches 1 exactly at its threshold:

=====================  ==================================================  ========
component              ratio                                               type
=====================  ==================================================  ========
data: drift share      share of drifted drivers / drift_share              warning
data: critical share   share of critical drivers / drift_share             critical
data: extrapolation    row share outside training range / extrap_warning   warning
data: extrapolation    row share outside training range / extrap_critical  critical
concept: change point  G / h                                               warning
concept: mean shift    min(|z| / mean_shift_z, |NMBE| / mean_shift_nmbe)   warning
concept: error ratio   min(ER / error_ratio_warning, significance)         warning
concept: effect size   max(|NMBE|, |shift|) / nmbe_critical                critical
concept: error ratio   min(ER / error_ratio_critical, significance)        critical
=====================  ==================================================  ========

where ``significance = Phi^-1(1 - p) / Phi^-1(1 - error_ratio_alpha)`` and the
concept critical components only count once concept drift is detected.  A
warning ratio maps to ``r / 3`` below 1 and ``1/3 + 0.8 (1 - exp(1 - r)) / 3``
(at most 0.6) from 1 on; a critical ratio ``q >= 1`` maps to
``2/3 + (1 - exp(1 - q)) / 3``.

    drift_score = max(component scores)  in [0, 1]

so ``severity`` is ``none`` below 1/3, ``warning`` in [1/3, 2/3) and
``critical`` from 2/3, and ``drift_detected`` is ``severity != "none"``.  The
data and concept levels are the same mapping restricted to their components.

False-alarm, detection, delay and localisation figures of this scheme on a
seeded simulated machine are tabulated in ``tests/performance/drift/``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from scipy import special


@dataclass(frozen=True)
class DriftThresholds:
    """Decision thresholds; every field can be overridden per machine.

    Attributes:
        psi_warning: PSI at or above which a driver drifts (industry band 0.1).
        psi_critical: PSI above which a drifted driver is critical (0.25).
        wasserstein: Wasserstein-1 / reference std at or above which a driver
            drifts (Evidently's default for references over 1,000 rows).
        ks_alpha: a driver only drifts when the KS p-value is below this; it
            vetoes effect sizes that a window of this size shows by chance
            (a stable week of 168 rows has W/sd ~ 0.1 by sampling alone).
        drift_share: share of drifted drivers that makes the dataset drift
            (Evidently's default 0.5).
        extrapolation_warning: share of current rows with any driver outside
            the training ``[min, max]`` that raises a warning; in simulation a
            stable week after a 75-day winter training window reaches 5 % by
            weather alone in about one week in twenty.
        extrapolation_critical: same share that is critical.
        error_ratio_warning: current RMSE / holdout RMSE for a warning.
        error_ratio_critical: current RMSE / holdout RMSE that is critical.
        error_ratio_alpha: significance level the error ratio must also reach,
            since on autocorrelated residuals a week's RMSE varies by +-20 %.
        cusum_false_alarm: probability that one check of a stable window raises
            a change-point alarm; ``h`` is read from the stored calibration
            (0.1-10 %), so it can be changed without retraining.
        mean_shift_z: |z| of the window mean residual (autocorrelation- and
            baseline-error-corrected standard error) for a mean-shift alarm;
            3.0 (two-sided 0.3 %) because the change detector already covers
            shifts that start inside the window and this test is the backstop
            for older ones.
        mean_shift_nmbe: minimum |NMBE| for a mean-shift alarm, so that a
            statistically clear but negligible bias on long windows is ignored.
        nmbe_critical: |NMBE| (or the relative size of a located shift) that
            makes detected concept drift critical; ASHRAE Guideline 14's hourly
            calibration limit.
        min_rows: fewer valid current rows than this give no drift decision.
        min_shift: smallest consumption change, as a share of the baseline's consumption, that
            is alerted (its estimate at or above it, its 95 % interval excluding zero); smaller
            significant shifts are reported in the details only.
        change_false_alarm: probability that one check of a stable window finds a significant
            consumption shift (before the practical minimum is applied).
        coverage_density: a driver value is sparsely covered when fewer than this share of the
            training rows lie within ``coverage_bandwidth`` of it.
        coverage_bandwidth: half-width of that neighbourhood in reference standard deviations.
        judge_density: a consumption change is judged only on hours whose drivers all have at
            least this share of training rows in that neighbourhood: where the baseline has
            seen little, a residual shift may be its own error rather than the machine's.
    """

    psi_warning: float = 0.1
    psi_critical: float = 0.25
    wasserstein: float = 0.1
    ks_alpha: float = 0.01
    drift_share: float = 0.5
    extrapolation_warning: float = 0.10
    extrapolation_critical: float = 0.25
    error_ratio_warning: float = 1.25
    error_ratio_critical: float = 1.5
    error_ratio_alpha: float = 0.01
    cusum_false_alarm: float = 0.01
    mean_shift_z: float = 3.0
    mean_shift_nmbe: float = 0.02
    nmbe_critical: float = 0.10
    min_rows: int = 24
    min_shift: float = 0.05
    change_false_alarm: float = 0.005
    coverage_density: float = 0.002
    coverage_bandwidth: float = 0.25
    judge_density: float = 0.02

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"{f.name} must be non-negative, got {value!r}")
        pairs = (
            ("psi_warning", "psi_critical"),
            ("extrapolation_warning", "extrapolation_critical"),
            ("error_ratio_warning", "error_ratio_critical"),
        )
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not exceed {high}")
        for name in ("drift_share", "ks_alpha", "error_ratio_alpha", "cusum_false_alarm", "change_false_alarm"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in (0, 1]")
        for name in ("psi_warning", "wasserstein", "extrapolation_warning", "error_ratio_warning",
                     "mean_shift_z", "nmbe_critical", "coverage_bandwidth"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DriftThresholds:
        """Defaults overridden by the keys of ``d``; unknown keys are an error.

        ``None`` values keep the default, so a partially filled override form
        can be passed through unchanged.
        """
        if not d:
            return cls()
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown drift threshold(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in d.items():
            if value is None:
                continue
            try:
                values[key] = int(value) if key == "min_rows" else float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a number, got {value!r}") from None
        return cls(**values)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _warning_score(r: float) -> float:
    if r < 1.0:
        return max(r, 0.0) / 3.0
    # Saturates at 0.6 so that no amount of warning-type evidence reads as critical.
    return 1.0 / 3.0 + 0.8 * (1.0 - math.exp(1.0 - r)) / 3.0


def _critical_score(q: float) -> float:
    if q < 1.0:
        return 0.0
    return 2.0 / 3.0 + (1.0 - math.exp(1.0 - q)) / 3.0


def _significance_ratio(p: float | None, alpha: float) -> float:
    if p is None:
        return 0.0
    p = min(max(p, 1e-300), 1.0)
    if p >= 0.5:
        return 0.0
    return float(special.ndtri(1.0 - p) / special.ndtri(1.0 - alpha))


def _concept_ratios(c: dict[str, Any], th: DriftThresholds, *, alarm_possible: bool = True
                    ) -> dict[str, tuple[str, float]]:
    """Rule name -> (kind, ratio) for the concept-drift rules."""
    if not alarm_possible or c.get("n", 0) < th.min_rows:
        return {}
    ratios: dict[str, tuple[str, float]] = {}
    if c.get("cusum_statistic") is not None and c.get("cusum_threshold"):
        ratios["change_point"] = ("warning", c["cusum_statistic"] / c["cusum_threshold"])
    if c.get("mean_shift_z") is not None and c.get("nmbe") is not None:
        nmbe_ratio = abs(c["nmbe"]) / th.mean_shift_nmbe if th.mean_shift_nmbe > 0 else math.inf
        ratios["mean_shift"] = ("warning", min(abs(c["mean_shift_z"]) / th.mean_shift_z, nmbe_ratio))
    sig = _significance_ratio(c.get("error_ratio_pvalue"), th.error_ratio_alpha)
    if c.get("error_ratio") is not None:
        ratios["error_ratio"] = ("warning", min(c["error_ratio"] / th.error_ratio_warning, sig))
    detected = any(r >= 1.0 for _, r in ratios.values())
    if detected:
        effect = max(abs(c.get("nmbe") or 0.0), abs(c.get("shift_relative") or 0.0))
        ratios["effect_size"] = ("critical", effect / th.nmbe_critical)
        if c.get("error_ratio") is not None:
            ratios["error_ratio_critical"] = (
                "critical", min(c["error_ratio"] / th.error_ratio_critical, sig))
    return ratios


def _data_ratios(data: dict[str, dict[str, Any]], extrapolation: float | None,
                 th: DriftThresholds) -> tuple[dict[str, tuple[str, float]], dict[str, Any]]:
    usable = {k: v for k, v in data.items() if v.get("psi") is not None and v.get("n", th.min_rows) >= th.min_rows}
    n_drivers = len(usable)
    n_drifted = sum(1 for v in usable.values() if v["drifted"])
    n_critical = sum(1 for v in usable.values() if v["level"] == "critical")
    share = n_drifted / n_drivers if n_drivers else 0.0
    critical_share = n_critical / n_drivers if n_drivers else 0.0
    if extrapolation is None:
        shares = [v["out_of_range_share"] for v in usable.values()]
        extrapolation = max(shares) if shares else 0.0
    ratios = {
        "drift_share": ("warning", share / th.drift_share),
        "critical_share": ("critical", critical_share / th.drift_share),
        "extrapolation": ("warning", extrapolation / th.extrapolation_warning),
        "extrapolation_critical": (
            "critical",
            extrapolation / th.extrapolation_critical if th.extrapolation_critical > 0 else math.inf),
    }
    summary = {"n_drivers": n_drivers, "n_drifted": n_drifted, "n_critical": n_critical,
               "drift_share": share, "critical_share": critical_share,
               "extrapolation_share": extrapolation}
    return ratios, summary


def _component_scores(ratios: dict[str, tuple[str, float]]) -> dict[str, float]:
    return {name: (_warning_score(r) if kind == "warning" else _critical_score(r))
            for name, (kind, r) in ratios.items()}


def _level_from_score(score: float) -> str:
    if score >= 2.0 / 3.0:
        return "critical"
    if score >= 1.0 / 3.0:
        return "warning"
    return "none"


def _level(ratios: dict[str, tuple[str, float]]) -> str:
    scores = _component_scores(ratios)
    return _level_from_score(max(scores.values(), default=0.0))


def validate_overrides(value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a valid set of threshold overrides
    (a mapping of :class:`DriftThresholds` field names to numbers)."""
    if not isinstance(value, dict):
        raise ValueError("drift overrides must be an object of threshold names to numbers")
    DriftThresholds.from_dict(value)

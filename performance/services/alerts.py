"""Raising, escalating and resolving model alerts."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from baselines.models import BaselineStatus, EnergyBaseline, Machine
from enms.errors import Conflict
from enms.policy import ashrae_limits, policy_for
from enms.users import acting_user

from .. import alert_text
from ..models import AlertResolution, AlertType, ModelAlert, ModelPerformanceMetric, Severity, TriggerType

logger = logging.getLogger(__name__)

_SEVERITY_ORDER = {Severity.WARNING: 0, Severity.CRITICAL: 1}


def evidence_from_metric(row: ModelPerformanceMetric) -> dict[str, Any]:
    """What an alert keeps of the check (a drift check or an evaluation) that set its severity:
    the window, the figures, and the verdict's cause, impact and actions when the check has them."""
    dd = row.drift_details or {}
    concept = dd.get("concept_drift") or {}
    data = dd.get("data_drift") or {}
    impact = dd.get("impact") or None
    change_point = (impact or {}).get("change_point") or concept.get("change_point")

    def iso(value):
        return value.isoformat() if value is not None else None

    return {
        "metric_id": str(row.pk),
        "source": row.source,
        "evaluated_at": iso(row.evaluated_at),
        "window_start": iso(row.evaluation_start),
        "window_end": iso(row.evaluation_end),
        "drift_score": row.drift_score,
        "cause": dd.get("cause"),
        "impact": impact,
        "in_sample_hours": dd.get("in_sample_hours"),
        "actions": dd.get("actions") or [],
        "change_point": change_point,
        "concept_drift": {k: concept.get(k) for k in ("nmbe", "cv_rmse", "error_ratio", "change_point",
                                                       "shift_relative", "direction", "drifted")
                          if k in concept},
        "drifted_drivers": sorted(k for k, v in data.items() if isinstance(v, dict) and v.get("drifted")),
        "out_of_range": {k: v.get("out_of_range_share") for k, v in data.items()
                         if isinstance(v, dict) and v.get("out_of_range_share")},
        "reasons": list(dd.get("reasons") or []),
        **{k: getattr(row, k) for k in ("r_squared", "cv_rmse", "nmbe", "rmse_degradation", "ashrae_pass")},
    }


def alert_message(*, alert_type: str, severity: str, machine: Machine, model: EnergyBaseline | None,
                  evidence: dict[str, Any]) -> str | None:
    """The plain-words message of a drift or degradation alert, from its evidence (None for the
    other kinds, whose message is written where they are raised)."""
    subject = f"{machine}" + (f" v{model.version}" if model is not None else "")
    tz = getattr(machine, "time_zone", None) or None
    if alert_type == AlertType.DRIFT:
        return alert_text.describe_drift(evidence, subject=subject, severity=severity, tz=tz)
    if alert_type == AlertType.DEGRADATION:
        limits = ashrae_limits(policy_for(machine), model.data_interval) if model is not None else None
        return alert_text.describe_degradation(evidence, subject=subject, severity=severity, tz=tz, limits=limits)
    return None


def _peak(severity: str, evidence: dict[str, Any], message: str) -> dict[str, Any]:
    return {"severity": severity, "metric_id": evidence.get("metric_id"), "evaluated_at": evidence.get("evaluated_at"),
            "change_point": evidence.get("change_point"), "message": message}


def alert_raise(
    *,
    machine: Machine,
    model: EnergyBaseline | None,
    model_type: str,
    alert_type: str,
    severity: str,
    message: str = "",
    details: dict[str, Any] | None = None,
    metric: ModelPerformanceMetric | None = None,
) -> tuple[ModelAlert, bool]:
    """Open an alert, or count a repeat on the open one for (model, alert_type).

    With `metric` (the check that called for the alert) the alert keeps that check's evidence and
    its message is written from it. `severity` is what the latest check found (it goes down as
    well as up); `peak_severity` and `peak_metric` keep the worst and the check that found it
    first. A repeat raises `occurrences` and `last_seen` and restarts the count of clean checks.
    Returns the alert and whether it was newly created. Safe under concurrent calls: the partial
    unique constraint decides the race and the loser updates.
    """
    now = timezone.now()
    evidence = {**(evidence_from_metric(metric) if metric is not None else {}), **(details or {})}
    text = alert_message(alert_type=alert_type, severity=severity, machine=machine, model=model,
                         evidence=evidence) if metric is not None else None
    message = text or message
    for _ in range(3):
        with transaction.atomic():
            existing = None
            if model is not None:
                existing = (
                    ModelAlert.objects.select_for_update()
                    .filter(model=model, alert_type=alert_type, is_resolved=False)
                    .first()
                )
            if existing is not None:
                peak = existing.peak_severity or existing.severity
                existing.occurrences += 1
                existing.last_seen = now
                existing.message = message
                existing.severity = severity
                existing.metric = metric
                previous_peak = (existing.details or {}).get("peak")
                if _SEVERITY_ORDER[Severity(severity)] > _SEVERITY_ORDER[Severity(peak)] or not previous_peak:
                    existing.peak_severity = severity
                    existing.peak_metric = metric
                    previous_peak = _peak(severity, evidence, message)
                else:
                    existing.peak_severity = peak
                existing.details = {**evidence, "peak": previous_peak, "clean_checks": 0}
                existing.save(update_fields=["occurrences", "last_seen", "message", "details", "severity",
                                             "peak_severity", "metric", "peak_metric"])
                return existing, False
            try:
                with transaction.atomic():
                    alert = ModelAlert.objects.create(
                        machine=machine,
                        model=model,
                        model_type=model_type,
                        alert_type=alert_type,
                        severity=severity,
                        peak_severity=severity,
                        metric=metric,
                        peak_metric=metric,
                        message=message,
                        details={**evidence, "peak": _peak(severity, evidence, message), "clean_checks": 0},
                        first_seen=now,
                        last_seen=now,
                    )
                return alert, True
            except IntegrityError:
                continue  # another request opened it first: go round and count a repeat
    raise RuntimeError("could not raise alert after concurrent retries")


def _close(alert: ModelAlert, *, resolution: str, notes: str, user=None, extra: dict | None = None) -> ModelAlert:
    alert.is_resolved = True
    alert.resolved_at = timezone.now()
    alert.resolved_by = acting_user(user)
    alert.resolution = resolution
    alert.resolution_notes = notes
    fields = ["is_resolved", "resolved_at", "resolved_by", "resolution", "resolution_notes"]
    if extra:
        alert.details = {**(alert.details or {}), **extra}
        fields.append("details")
    alert.save(update_fields=fields)
    return alert


def alert_note_clean(*, model: EnergyBaseline, alert_type: str, metric: ModelPerformanceMetric | None = None,
                     policy: dict | None = None) -> ModelAlert | None:
    """A check of `model` found nothing wrong: count it on the open alert of `alert_type`, and
    resolve the alert as `recovered` once the policy's number of consecutive clean checks
    (`recovery_clean_checks`) is reached. Returns the open (or just recovered) alert, if any."""
    with transaction.atomic():
        alert = (ModelAlert.objects.select_for_update()
                 .filter(model=model, alert_type=alert_type, is_resolved=False).first())
        if alert is None:
            return None
        policy = policy or policy_for(model.machine)
        needed = max(1, int(policy.get("recovery_clean_checks", 3)))
        clean = int((alert.details or {}).get("clean_checks", 0)) + 1
        alert.details = {**(alert.details or {}), "clean_checks": clean,
                         "last_clean_metric_id": str(metric.pk) if metric is not None else None}
        if clean < needed:
            alert.save(update_fields=["details"])
            return alert
        when = f" (the last on {metric.evaluated_at:%Y-%m-%d %H:%M} UTC)" if metric is not None else ""
        return _close(alert, resolution=AlertResolution.RECOVERED,
                      notes=f"Recovered: {clean} consecutive clean checks{when}.")


def alerts_supersede(*, versions=None) -> int:
    """Resolve as `superseded` the open alerts of retired versions: of `versions` (ids; called by
    `baseline_activate` through `ENMS_VERSIONS_RETIRED_HOOK`), or of every retired version."""
    qs = ModelAlert.objects.select_for_update(of=("self",)).filter(is_resolved=False,
                                                                  model__status=BaselineStatus.RETIRED)
    if versions is not None:
        qs = qs.filter(model_id__in=list(versions))
    count = 0
    with transaction.atomic():
        for alert in qs.select_related("model"):
            active = (EnergyBaseline.objects.filter(machine_id=alert.machine_id, model_type=alert.model_type,
                                                    status=BaselineStatus.ACTIVE)
                      .values_list("version", flat=True).first())
            note = f"Superseded: v{alert.model.version} was retired" + (
                f" when v{active} became active." if active is not None else ".")
            _close(alert, resolution=AlertResolution.SUPERSEDED, notes=note,
                   extra={"superseded_by_version": active})
            count += 1
    return count


def alert_resolve(*, alert: ModelAlert, user, notes: str = "") -> ModelAlert:
    """Resolve an alert, recording who, when and notes. Resolving twice changes nothing."""
    with transaction.atomic():
        locked = ModelAlert.objects.select_for_update().get(pk=alert.pk)
        if locked.is_resolved:
            return locked
        return _close(locked, resolution=AlertResolution.MANUAL, notes=notes, user=user)


REBASELINE_PERMISSION = "baselines.change_energybaseline"


def alert_change_point(alert: ModelAlert) -> datetime | None:
    """Where the alert's evidence says consumption changed: the impact's change point, else the
    concept-drift change point, of the check behind the alert (stored details first)."""
    candidates = [alert.details or {}]
    if alert.metric_id is not None and alert.metric is not None:
        candidates.append(alert.metric.drift_details or {})
    for source in candidates:
        for value in ((source.get("impact") or {}).get("change_point"),
                      (source.get("concept_drift") or {}).get("change_point"), source.get("change_point")):
            if value:
                try:
                    moment = datetime.fromisoformat(str(value))
                except ValueError:
                    continue
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def alert_rebaseline(*, alert: ModelAlert, user, reason: str, training_start: datetime | None = None):
    """Staff decide that a consumption change is the new normal: train a new version from the
    change point (or `training_start`) with trigger `rebaseline` and the reason kept, and resolve
    the alert as `rebaselined`. Returns the training job.

    400 (`ValidationError`) without a reason, for an alert without a version, or without a change
    point in its evidence and no `training_start`; 409 (`Conflict`) when the alert is resolved or
    a training job is already open for the machine.
    """
    from .training import training_trigger

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the baseline changes (kept with the training job)."]})
    with transaction.atomic():
        locked = (ModelAlert.objects.select_for_update(of=("self",)).select_related("model", "machine", "metric")
                  .get(pk=alert.pk))
        if locked.is_resolved:
            raise Conflict(f"This alert is already resolved ({locked.resolution or 'manual'}).")
        if locked.model is None:
            raise ValidationError({"detail": ["This alert belongs to no model version."]})
        start = training_start or alert_change_point(locked)
        if start is None:
            raise ValidationError({"training_start": ["The alert's evidence holds no change point: give "
                                                      "training_start."]})
        if start >= timezone.now():
            raise ValidationError({"training_start": ["The training start must lie in the past."]})
        job = training_trigger(machine=locked.machine, model_type=locked.model_type, model=locked.model,
                               trigger_type=TriggerType.REBASELINE, user=user, training_start=start,
                               reason=reason)
        _close(locked, resolution=AlertResolution.REBASELINED, notes=reason, user=user,
               extra={"rebaseline": {"training_id": str(job.pk), "training_start": start.isoformat()}})
        recorded = (f"{locked.auto_action_taken}, " if locked.auto_action_taken else "") + f"rebaseline {job.pk}"
        ModelAlert.objects.filter(pk=locked.pk).update(auto_action_taken=recorded[-200:])
    return job


def alerts_resolve(*, alerts, user, notes: str = "") -> int:
    """Resolve several alerts (admin action); returns how many were open before."""
    count = 0
    for alert in alerts:
        was_open = not alert.is_resolved
        alert_resolve(alert=alert, user=user, notes=notes)
        count += int(was_open)
    return count


def alert_artifact_refused(*, model: EnergyBaseline, reason: str, cycle: str) -> ModelAlert:
    """A cycle met a version whose stored model failed its signature or type check: nothing was
    loaded. Logged, and raised as a critical `training_failed` alert (the remedy is a new
    version, or re-signing after a key rotation), counted once per open alert."""
    logger.warning("%s cycle: refused the artifact of %s v%s (%s): %s", cycle, model.machine, model.version,
                   model.pk, reason)
    alert, _ = alert_raise(
        machine=model.machine, model=model, model_type=model.model_type, alert_type=AlertType.TRAINING_FAILED,
        severity=Severity.CRITICAL,
        message=f"The stored model of {model.machine} v{model.version} was refused and not loaded ({reason}). "
                "Train a new version, or re-sign the artifacts if the signing key was rotated "
                "(manage.py resign_artifacts).",
        details={"artifact_refused": reason, "cycle": cycle},
    )
    return alert

"""Raising, escalating and resolving model alerts."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from baselines.models import EnergyBaseline, Machine
from enms.users import acting_user

from ..models import AlertResolution, AlertType, ModelAlert, Severity

logger = logging.getLogger(__name__)

_SEVERITY_ORDER = {Severity.WARNING: 0, Severity.CRITICAL: 1}


def alert_raise(
    *,
    machine: Machine,
    model: EnergyBaseline | None,
    model_type: str,
    alert_type: str,
    severity: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> tuple[ModelAlert, bool]:
    """Open an alert, or count a repeat on the open one for (model, alert_type).

    A repeat raises `occurrences` and `last_seen`, replaces message and details, and escalates
    severity (never lowers it). Returns the alert and whether it was newly created. Safe under
    concurrent calls: the partial unique constraint decides the race and the loser updates.
    """
    now = timezone.now()
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
                existing.occurrences += 1
                existing.last_seen = now
                existing.message = message
                existing.details = details or {}
                if _SEVERITY_ORDER[Severity(severity)] > _SEVERITY_ORDER[Severity(existing.severity)]:
                    existing.severity = severity
                existing.save(update_fields=["occurrences", "last_seen", "message", "details", "severity"])
                return existing, False
            try:
                with transaction.atomic():
                    alert = ModelAlert.objects.create(
                        machine=machine,
                        model=model,
                        model_type=model_type,
                        alert_type=alert_type,
                        severity=severity,
                        message=message,
                        details=details or {},
                        first_seen=now,
                        last_seen=now,
                    )
                return alert, True
            except IntegrityError:
                continue  # another request opened it first: go round and count a repeat
    raise RuntimeError("could not raise alert after concurrent retries")


def alert_resolve(*, alert: ModelAlert, user, notes: str = "") -> ModelAlert:
    """Resolve an alert, recording who, when and notes. Resolving twice changes nothing."""
    with transaction.atomic():
        locked = ModelAlert.objects.select_for_update().get(pk=alert.pk)
        if locked.is_resolved:
            return locked
        locked.is_resolved = True
        locked.resolved_at = timezone.now()
        locked.resolved_by = acting_user(user)
        locked.resolution = AlertResolution.MANUAL
        locked.resolution_notes = notes
        locked.save(update_fields=["is_resolved", "resolved_at", "resolved_by", "resolution", "resolution_notes"])
        return locked


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

"""What happens automatically when an alert is raised: retraining and notifications."""

from __future__ import annotations

import logging

from django.db import transaction

from enms.errors import Conflict

from ..models import ModelAlert, Severity

logger = logging.getLogger(__name__)


def alert_auto_actions(*, alert: ModelAlert, policy: dict, trigger_type: str) -> str:
    """Apply the policy's auto-actions to a critical alert: trigger a retraining (once per open
    alert) and queue notifications. The actions taken are recorded on the alert."""
    if alert.severity != Severity.CRITICAL:
        return alert.auto_action_taken
    actions = [a for a in alert.auto_action_taken.split(", ") if a]
    if policy.get("auto_retrain_on_critical") and alert.model_id and not any(
            a.startswith("retrain") for a in actions):
        from .training import training_trigger

        try:
            job = training_trigger(machine=alert.machine, model_type=alert.model_type, model=alert.model,
                                   trigger_type=trigger_type, reason=f"auto: critical {alert.alert_type} alert")
            actions.append(f"retrain {job.pk}")
        except Conflict as exc:
            actions.append(f"retrain already open {exc.fields.get('training_id', '')}".strip())
    if policy.get("notify_critical") and alert.notified_at is None and "notify" not in actions:
        actions.append("notify")
        transaction.on_commit(lambda: _queue_notification(alert.pk))
    alert.auto_action_taken = ", ".join(actions)[:200]
    ModelAlert.objects.filter(pk=alert.pk).update(auto_action_taken=alert.auto_action_taken)
    return alert.auto_action_taken


def _queue_notification(alert_id) -> None:
    from ..tasks import alert_notify

    try:
        alert_notify.apply_async(args=[str(alert_id)], retry=True,
                                 retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
    except Exception as exc:  # the alert row stays; the notification sweep sends it later
        logger.warning("notification for alert %s not queued: %s", alert_id, exc)

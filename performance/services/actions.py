"""What happens automatically when an alert is raised: retraining and notifications."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from enms.errors import Conflict

from ..models import ModelAlert, Severity

logger = logging.getLogger(__name__)

# The permission each auto-action needs when a person sets off the check that raised the alert
# (the API's drift check); the beat cycles act for the policy and need none.
AUTO_ACTION_PERMISSIONS = {
    "retrain": "performance.add_modeltraininghistory",
    "notify": "performance.change_modelalert",
}


@dataclass
class AutoActions:
    """What one call did (`actions`), what the policy called for but the caller may not do
    (`suggested`), and the alert's record of every action taken so far (`recorded`)."""

    recorded: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    suggested: list[dict[str, Any]] = field(default_factory=list)


def alert_auto_actions(*, alert: ModelAlert, policy: dict, trigger_type: str, user=None,
                       retrain: bool = True) -> AutoActions:
    """Apply the policy's auto-actions to a critical alert: trigger a retraining (once per open
    alert) and queue notifications. The actions taken are recorded on the alert.

    With `user` (a person, not a beat job) an action runs only when the user holds its permission
    (`AUTO_ACTION_PERMISSIONS`); otherwise it is returned as suggested and not done, so a check
    over a chosen window cannot set off what its caller may not do directly.

    `retrain=False` (a drift alert whose cause is a consumption change) never retrains: a new
    baseline would absorb the change, so a person decides (re-baseline or fix the fault).
    """
    outcome = AutoActions(recorded=alert.auto_action_taken)
    if alert.severity != Severity.CRITICAL:
        return outcome
    recorded = [a for a in alert.auto_action_taken.split(", ") if a]

    def allowed(action: str) -> bool:
        if user is None or user.has_perm(AUTO_ACTION_PERMISSIONS[action]):
            return True
        outcome.suggested.append({"action": action, "permission": AUTO_ACTION_PERMISSIONS[action]})
        return False

    if retrain and policy.get("auto_retrain_on_critical") and alert.model_id and not any(
            a.startswith("retrain") for a in recorded) and allowed("retrain"):
        from .training import training_trigger

        try:
            job = training_trigger(machine=alert.machine, model_type=alert.model_type, model=alert.model,
                                   trigger_type=trigger_type, user=user,
                                   reason=f"auto: critical {alert.alert_type} alert")
            recorded.append(f"retrain {job.pk}")
            outcome.actions.append({"action": "retrain", "training_id": str(job.pk)})
        except Conflict as exc:
            recorded.append(f"retrain already open {exc.fields.get('training_id', '')}".strip())
            outcome.actions.append({"action": "retrain", "training_id": exc.fields.get("training_id")})
    if (policy.get("notify_critical") and alert.notified_at is None and "notify" not in recorded
            and allowed("notify")):
        recorded.append("notify")
        outcome.actions.append({"action": "notify"})
        transaction.on_commit(lambda: _queue_notification(alert.pk))
    alert.auto_action_taken = ", ".join(recorded)[:200]
    ModelAlert.objects.filter(pk=alert.pk).update(auto_action_taken=alert.auto_action_taken)
    outcome.recorded = alert.auto_action_taken
    return outcome


def _queue_notification(alert_id) -> None:
    from ..tasks import alert_notify

    try:
        alert_notify.apply_async(args=[str(alert_id)], retry=True,
                                 retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
    except Exception as exc:  # the alert row stays; the notification sweep sends it later
        logger.warning("notification for alert %s not queued: %s", alert_id, exc)

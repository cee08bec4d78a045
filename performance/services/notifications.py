"""Notifying people of critical alerts by e-mail and incoming webhooks (Slack, Teams)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from enms.text import CONTROL

from ..models import ModelAlert


class NotificationError(Exception):
    """At least one channel failed; the task retries, the alert itself is never lost."""


def alert_text(alert: ModelAlert) -> str:
    return (f"[EnMS] {alert.severity.upper()} {alert.get_alert_type_display()} · {alert.machine.name} "
            f"({alert.model_type}) · {alert.message} · seen {alert.occurrences}× since "
            f"{alert.first_seen:%Y-%m-%d %H:%M} UTC")


def alert_notify(*, alert_id) -> bool:
    """Send one alert to every configured channel; mark it notified when all succeeded.

    The body `{"text": ...}` is what Slack and Microsoft Teams incoming webhooks accept.
    Raises `NotificationError` when a channel fails, so the task retries with backoff.
    """
    alert = ModelAlert.objects.select_related("machine").get(pk=alert_id)
    if alert.notified_at is not None or alert.is_resolved:
        return False
    text = alert_text(alert)
    errors = []
    if settings.ALERT_EMAIL_RECIPIENTS:
        try:
            # One line: a line break in a header is refused by the mail library, which made the
            # task retry (and re-post every webhook) forever.
            subject = " ".join(CONTROL.sub(" ", text).split())[:120]
            send_mail(subject=subject, message=text + "\n\n" + json.dumps(alert.details, indent=2, default=str),
                      from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=settings.ALERT_EMAIL_RECIPIENTS)
        except Exception as exc:
            errors.append(f"email: {exc}")
    body = json.dumps({"text": text}).encode()
    for url in settings.ALERT_WEBHOOK_URLS:
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT_S) as response:
                if not 200 <= response.status < 300:
                    errors.append(f"webhook {url}: HTTP {response.status}")
        except (urllib.error.URLError, OSError) as exc:
            errors.append(f"webhook {url}: {exc}")
    if errors:
        ModelAlert.objects.filter(pk=alert.pk).update(notification_error="; ".join(errors)[:2000])
        raise NotificationError("; ".join(errors))
    ModelAlert.objects.filter(pk=alert.pk).update(notified_at=timezone.now(), notification_error="")
    return True


def notifications_sweep() -> int:
    """Beat job: re-queue critical alerts whose notification has not gone out (broker or
    channel down when they were raised)."""
    from ..tasks import alert_notify as task

    pending = ModelAlert.objects.filter(is_resolved=False, notified_at__isnull=True,
                                        auto_action_taken__contains="notify").values_list("pk", flat=True)
    count = 0
    for alert_id in pending:
        try:
            task.apply_async(args=[str(alert_id)], retry=False)
            count += 1
        except Exception:
            break  # broker still down: try again on the next sweep
    return count

"""Alerts: one open row per (model, type), escalation, resolution, auto-actions, notifications
(sent to a local SMTP server and a local webhook the test starts)."""

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from performance.models import ModelAlert, ModelTrainingHistory
from performance.services.actions import alert_auto_actions
from performance.services.alerts import alert_raise, alert_resolve
from performance.services.notifications import NotificationError, alert_notify
from tests.factories import EnergyBaselineFactory, UserFactory

pytestmark = pytest.mark.django_db


def _raise(model, severity="warning", alert_type="drift"):
    return alert_raise(machine=model.machine, model=model, model_type=model.model_type, alert_type=alert_type,
                       severity=severity, message=f"{severity} {alert_type}", details={"k": 1})


def test_repeat_counts_follows_the_latest_severity_and_keeps_the_peak():
    model = EnergyBaselineFactory()
    first, created = _raise(model)
    assert created and first.occurrences == 1 and first.peak_severity == "warning"
    again, created = _raise(model, "critical")
    assert not created and again.pk == first.pk and again.occurrences == 2 and again.severity == "critical"
    third, _ = _raise(model, "warning")
    assert third.occurrences == 3 and third.severity == "warning" and third.peak_severity == "critical"
    assert third.details["peak"]["severity"] == "critical" and third.details["peak"]["message"] == "critical drift"
    assert third.last_seen >= third.first_seen
    other, created = _raise(model, alert_type="degradation")
    assert created and ModelAlert.objects.count() == 2


def test_resolve_records_who_when_and_reopens_as_new_row():
    model = EnergyBaselineFactory()
    alert, _ = _raise(model)
    user = UserFactory()
    resolved = alert_resolve(alert=alert, user=user, notes="fixed")
    assert resolved.is_resolved and resolved.resolved_by == user and resolved.resolution_notes == "fixed"
    at = resolved.resolved_at
    assert alert_resolve(alert=alert, user=UserFactory(), notes="again").resolved_at == at
    new, created = _raise(model)
    assert created and new.pk != alert.pk


class _SMTPHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 test\r\n")
        data_mode, lines = False, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if data_mode:
                if line == b".\r\n":
                    self.server.messages.append(b"".join(lines).decode())
                    data_mode, lines = False, []
                    self.wfile.write(b"250 ok\r\n")
                else:
                    lines.append(line)
                continue
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 test\r\n")
            elif verb == b"DATA":
                data_mode = True
                self.wfile.write(b"354 go\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture
def webhook_server():
    received, status = [], {"code": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.received, server.status = received, status
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_critical_alert_notifies_by_email_and_webhook(settings, smtp_server, webhook_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_server.server_address
    settings.ALERT_EMAIL_RECIPIENTS = ["ops@example.test"]
    settings.ALERT_WEBHOOK_URLS = [f"http://127.0.0.1:{webhook_server.server_address[1]}/hook"]
    model = EnergyBaselineFactory()
    alert, _ = _raise(model, "critical")
    assert alert_notify(alert_id=alert.pk) is True
    alert.refresh_from_db()
    assert alert.notified_at is not None
    assert len(smtp_server.messages) == 1 and "CRITICAL" in smtp_server.messages[0]
    content_type, body = webhook_server.received[0]
    assert content_type == "application/json" and "CRITICAL" in body["text"] and model.machine.name in body["text"]
    assert alert_notify(alert_id=alert.pk) is False  # sent once only
    assert len(webhook_server.received) == 1


def test_failed_webhook_keeps_alert_and_records_error(settings, webhook_server):
    settings.ALERT_EMAIL_RECIPIENTS = []
    settings.ALERT_WEBHOOK_URLS = [f"http://127.0.0.1:{webhook_server.server_address[1]}/hook"]
    webhook_server.status["code"] = 500
    model = EnergyBaselineFactory()
    alert, _ = _raise(model, "critical")
    with pytest.raises(NotificationError):
        alert_notify(alert_id=alert.pk)
    alert.refresh_from_db()
    assert alert.notified_at is None and "500" in alert.notification_error and not alert.is_resolved
    webhook_server.status["code"] = 200
    assert alert_notify(alert_id=alert.pk) is True


def test_auto_actions_retrain_once_and_record_it(settings):
    from enms.policy import policy_for

    settings.ALERT_WEBHOOK_URLS = []
    model = EnergyBaselineFactory(status="active")
    alert, _ = _raise(model, "critical")
    policy = {**policy_for(model.machine), "notify_critical": False}
    outcome = alert_auto_actions(alert=alert, policy=policy, trigger_type="drift")
    actions = outcome.recorded
    assert actions.startswith("retrain ")
    job = ModelTrainingHistory.objects.get()
    assert job.trigger_type == "drift" and str(job.pk) in actions
    assert outcome.actions == [{"action": "retrain", "training_id": str(job.pk)}] and outcome.suggested == []
    again = alert_auto_actions(alert=alert, policy=policy, trigger_type="drift")
    assert again.recorded == actions and again.actions == []
    assert ModelTrainingHistory.objects.count() == 1
    warning, _ = _raise(EnergyBaselineFactory(), "warning")
    assert alert_auto_actions(alert=warning, policy=policy, trigger_type="drift").recorded == ""


def test_a_line_break_in_the_alert_text_does_not_break_the_mail_subject(settings, smtp_server, webhook_server):
    """A message with a line break (a machine named before names were checked, a reason text)
    goes out on one subject line, once, instead of failing the header check and retrying forever."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = smtp_server.server_address
    settings.ALERT_EMAIL_RECIPIENTS = ["ops@example.test"]
    settings.ALERT_WEBHOOK_URLS = [f"http://127.0.0.1:{webhook_server.server_address[1]}/hook"]
    model = EnergyBaselineFactory()
    alert, _ = _raise(model, "critical")
    ModelAlert.objects.filter(pk=alert.pk).update(message="drift\r\nBcc: someone@example.test")
    assert alert_notify(alert_id=alert.pk) is True
    import email
    from email.header import decode_header, make_header

    sent = email.message_from_string(smtp_server.messages[0])
    subject = str(make_header(decode_header(sent["Subject"])))
    assert "drift Bcc: someone@example.test" in subject and "\n" not in subject
    assert sent["Bcc"] is None
    assert len(webhook_server.received) == 1

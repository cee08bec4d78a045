import pytest


@pytest.mark.django_db
def test_healthz_reports_database_and_broker(client):
    from enms.health import beat_tick_record

    beat_tick_record()  # a beat that ticks (with a broker, a missing beat is reported as degraded)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["status"] == "ok"


@pytest.mark.django_db
def test_healthz_reports_beat_liveness(client, settings):
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    from enms.health import BEAT_TICK_KEY, beat_tick_record

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # beat is judged only with a broker; the broker check is stubbed
    from enms import health

    original = health._check_broker
    health._check_broker = lambda: {"ok": True, "mode": "redis"}
    try:
        cache.delete(BEAT_TICK_KEY)
        body = client.get("/healthz").json()
        assert body["status"] == "degraded" and body["beat"]["ok"] is False
        beat_tick_record()
        response = client.get("/healthz")
        assert response.status_code == 200 and response.json()["status"] == "ok"
        assert response.json()["beat"]["interval_s"] == 60.0
        beat_tick_record(timezone.now() - timedelta(seconds=121))
        response = client.get("/healthz")
        assert response.status_code == 200 and response.json()["status"] == "degraded"
        assert response.json()["beat"]["age_s"] > 120
    finally:
        health._check_broker = original
        cache.delete(BEAT_TICK_KEY)

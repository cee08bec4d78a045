"""`GET /healthz`: is the database reachable, is the broker reachable, is the beat ticking."""

import time
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

BEAT_TICK_KEY = "enms:beat:last_tick"
BEAT_TICK_TASK = "enms.beat_tick"


def beat_tick_record(now: datetime | None = None) -> None:
    """Called by the `enms.beat_tick` task the beat sends every interval."""
    cache.set(BEAT_TICK_KEY, (now or timezone.now()).isoformat(), timeout=None)


def _beat_interval_s() -> float:
    """The tick's interval as scheduled in the admin (django-celery-beat), default 60 s."""
    try:
        from django_celery_beat.models import PeriodicTask

        task = PeriodicTask.objects.select_related("interval").filter(task=BEAT_TICK_TASK, enabled=True).first()
    except Exception:
        return 60.0
    if task is None or task.interval is None:
        return 60.0
    return float(task.interval.schedule.run_every.total_seconds())


def _check_beat() -> dict:
    """Degraded when the last tick is older than twice its interval (or never came)."""
    if not settings.REDIS_URL:
        return {"ok": True, "mode": "eager"}
    interval = _beat_interval_s()
    try:
        last = cache.get(BEAT_TICK_KEY)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__, "interval_s": interval}
    if not last:
        return {"ok": False, "last_tick": None, "interval_s": interval, "error": "no beat tick recorded"}
    age = (timezone.now() - datetime.fromisoformat(last)).total_seconds()
    return {"ok": age <= 2 * interval, "last_tick": last, "age_s": round(age, 1), "interval_s": interval}


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not reachable" for a health probe
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_broker() -> dict:
    if not settings.REDIS_URL:
        return {"ok": True, "mode": "eager"}
    import redis

    started = time.perf_counter()
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
    except Exception as exc:
        return {"ok": False, "mode": "redis", "error": type(exc).__name__}
    return {"ok": True, "mode": "redis", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def healthz(request):
    """503 when the database or the broker is unreachable (this process cannot serve); a stale
    beat makes the status `degraded` but answers 200, since restarting the web would not help."""
    database = _check_database()
    broker = _check_broker()
    beat = _check_beat() if database["ok"] else {"ok": False, "error": "database unreachable"}
    ok = database["ok"] and broker["ok"]
    return JsonResponse(
        {"status": "ok" if ok and beat["ok"] else "degraded", "database": database, "broker": broker, "beat": beat},
        status=200 if ok else 503,
    )

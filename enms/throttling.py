"""The write throttle, counted where every worker sees it, so they all draw on one budget."""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

logger = logging.getLogger(__name__)


class WriteRateThrottle(BaseThrottle):
    """Throttle writes per user (per address for anonymous requests); reads are not throttled.

    DRF's own throttle keeps the time of every request of the window in one cache entry and
    rewrites it on each request (at 6,000/min a 50 kB value per write), read-modify-write, so
    concurrent workers overwrite each other's counts. Here each window is one integer counter,
    incremented atomically where every worker sees it: Redis `INCR` through the cache when
    REDIS_URL is set, else an upsert into the `throttle_counters` table. The rate is judged on a
    sliding window: the current window's count plus the previous window's, weighted by how much
    of it still overlaps the last `duration` seconds. Refused requests count too.
    When the cache cannot be reached (Redis down), writes are let through and a warning logged:
    the broker outage must not turn every write into an error.
    """

    scope = "writes"
    cache_alias = "default"

    def __init__(self):
        self._wait: float | None = None

    def rate(self) -> tuple[int, int] | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return SimpleRateThrottle.parse_rate(None, rate) if rate else None

    def allow_request(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        parsed = self.rate()
        if parsed is None:
            return True
        limit, duration = parsed
        user = getattr(request, "user", None)
        ident = f"u{user.pk}" if user is not None and user.is_authenticated else f"a{self.get_ident(request)}"
        now = time.time()
        window, into = divmod(now, duration)
        key = f"throttle:{self.scope}:{ident}:{duration}:{int(window)}"
        try:
            count, previous = self._count(key, f"throttle:{self.scope}:{ident}:{duration}:{int(window) - 1}",
                                          2 * duration)
        except Exception as exc:  # the cache is down: writes go on unthrottled rather than failing
            logger.warning("write throttle skipped, its cache is unreachable: %s", exc)
            return True
        estimated = previous * (1 - into / duration) + count
        if estimated <= limit:
            return True
        # Until enough of the previous window has slid out, or the current one ends.
        self._wait = duration - into if previous == 0 else min(duration - into, duration * (estimated - limit)
                                                                / max(previous, 1))
        return False

    def wait(self):
        return self._wait

    def _count(self, key: str, previous_key: str, timeout: int) -> tuple[int, int]:
        """This window's count after counting this request, and the previous window's count."""
        if not settings.REDIS_URL:
            return _database_count(key, previous_key, timeout)
        cache = caches[self.cache_alias]
        cache.add(key, 0, timeout=timeout)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=timeout)
            count = 1
        return count, cache.get(previous_key, 0)


# One in this many counted requests also deletes the expired counters.
SWEEP_EVERY = 500


def _database_count(key: str, previous_key: str, timeout: int) -> tuple[int, int]:
    """The counters in the database (no Redis): one atomic upsert per request, so concurrent
    workers never lose a count (Django's database cache would read, add and write back), and one
    read of the previous window."""
    from .models import ThrottleCounter

    table = connection.ops.quote_name(ThrottleCounter._meta.db_table)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (counter_key, count, expires_at) VALUES (%s, 1, %s) "
            f"ON CONFLICT (counter_key) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [key, now + timedelta(seconds=timeout)],
        )
        count = cursor.fetchone()[0]
        cursor.execute(f"SELECT count FROM {table} WHERE counter_key = %s", [previous_key])
        row = cursor.fetchone()
    if random.randrange(SWEEP_EVERY) == 0:
        ThrottleCounter.objects.filter(expires_at__lt=now).delete()
    return count, row[0] if row else 0

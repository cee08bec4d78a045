"""Monthly partitions of `energy_readings` (PostgreSQL) and the readings retention policy.

On PostgreSQL `energy_readings` is range-partitioned by month on `timestamp` (UTC month bounds,
partitions named `energy_readings_yYYYYmMM`) with a default partition that catches rows of a month
without one. `readings_partitions_ensure` creates the partitions of a span of months (moving rows
of those months out of the default partition first); the daily beat job
`readings_maintain` creates `ENMS_READINGS_PARTITIONS_AHEAD` months ahead, empties the default
partition into proper ones and applies the retention: months older than
`ENMS_READINGS_RETENTION_MONTHS` are rolled up into `energy_reading_daily` (kept forever), then
their partitions are dropped (or detached, `ENMS_READINGS_RETENTION_ACTION=detach`, for an
archive). On SQLite there is one table: the retention rolls up, then deletes the old rows.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

PARENT = "energy_readings"
DEFAULT = "energy_readings_default"
_NAME = re.compile(r"^energy_readings_y(\d{4})m(\d{2})$")
_LOCK = 0x656E6D73  # advisory lock key serialising partition DDL ("enms")
_known: set[str] = set()  # partitions this process has seen (they are never renamed)


def month_start(value: date | datetime) -> date:
    return date(value.year, value.month, 1)


def month_add(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def _bound(month: date) -> str:
    return f"{month.isoformat()} 00:00:00+00"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                       "WHERE c.relname = %s AND c.relnamespace = 'public'::regnamespace", [PARENT])
        return cursor.fetchone() is not None


def readings_partitions() -> list[date]:
    """The months that have a partition, oldest first (PostgreSQL; empty elsewhere)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = %s::regclass", [PARENT])
        names = [r[0] for r in cursor.fetchall()]
    if not connection.in_atomic_block:
        _known.update(names)
    return sorted(date(int(m[1]), int(m[2]), 1) for m in map(_NAME.match, names) if m)


def readings_partitions_ensure(*, start: date | datetime, end: date | datetime) -> list[date]:
    """Create the missing monthly partitions from `start`'s month to `end`'s (inclusive); returns
    the months created. Rows of those months waiting in the default partition move into them."""
    if connection.vendor != "postgresql":
        return []
    months, month = [], month_start(start)
    while month <= month_start(end):
        months.append(month)
        month = month_add(month, 1)
    if all(partition_name(m) in _known for m in months):
        return []
    if not is_partitioned():
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        existing = set(readings_partitions())
        for month in months:
            if month in existing:
                continue
            name, lower, upper = partition_name(month), _bound(month), _bound(month_add(month, 1))
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE timestamp >= %s AND timestamp < %s)",
                           [lower, upper])
            if cursor.fetchone()[0]:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                # Attaching over rows of the range in the default partition is refused: move them first.
                cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
                cursor.execute(f"WITH moved AS (DELETE FROM {DEFAULT} WHERE timestamp >= %s AND timestamp < %s "
                               f"RETURNING *) INSERT INTO {name} SELECT * FROM moved", [lower, upper])
                cursor.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
                               f"FOR VALUES FROM ('{lower}') TO ('{upper}')")
            else:
                cursor.execute(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM ('{lower}') TO ('{upper}')")
            created.append(month)
        names = {partition_name(m) for m in months}
        # Remembered once committed (a rolled-back transaction takes its partitions with it).
        transaction.on_commit(lambda: _known.update(names))
    return created


def readings_default_sweep() -> list[date]:
    """Give the months waiting in the default partition partitions of their own."""
    if not is_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT date_trunc('month', timestamp AT TIME ZONE 'UTC')::date FROM {DEFAULT}")
        months = sorted(r[0] for r in cursor.fetchall())
    created = []
    for month in months:
        created += readings_partitions_ensure(start=month, end=month)
    return created


_ROLLUP_COLUMNS = ("machine_id", "day", "readings", "energy_kwh", "production_units", "operating_hours",
                   "outdoor_temp_c_mean", "anomalies")


def _rollup_sql(source: str, day_expr: str, where: str) -> str:
    columns = ", ".join(_ROLLUP_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _ROLLUP_COLUMNS[2:])
    return (
        f"INSERT INTO energy_reading_daily ({columns}) "
        f"SELECT machine_id, {day_expr}, count(*), sum(energy_kwh), sum(production_units), sum(operating_hours), "
        f"avg(outdoor_temp_c), sum(CASE WHEN is_anomaly THEN 1 ELSE 0 END) FROM {source} WHERE {where} "
        f"GROUP BY machine_id, {day_expr} "
        f"ON CONFLICT (machine_id, day) DO UPDATE SET {updates}"
    )


def readings_rollup(*, start: datetime, end: datetime) -> int:
    """Roll the readings of whole UTC days in [start, end) up into `energy_reading_daily`."""
    day = "(timestamp AT TIME ZONE 'UTC')::date" if connection.vendor == "postgresql" else "date(timestamp)"
    bounds = [connection.ops.adapt_datetimefield_value(v) for v in (start, end)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_rollup_sql(PARENT, day, "timestamp >= %s AND timestamp < %s"), bounds)
        return cursor.rowcount


def readings_retention_apply(*, now: datetime | None = None, months: int | None = None,
                             action: str | None = None) -> dict:
    """Roll up, then drop (or detach) the readings of months older than the retention.

    `months` (default `ENMS_READINGS_RETENTION_MONTHS`; 0 keeps everything) whole months before
    the current one are kept. Each old month is rolled up into daily aggregates and its partition
    detached and dropped (or kept detached as `<name>`, for an archive) in one transaction.
    """
    months = settings.ENMS_READINGS_RETENTION_MONTHS if months is None else months
    action = action or settings.ENMS_READINGS_RETENTION_ACTION
    if action not in ("drop", "detach"):
        raise ValueError("ENMS_READINGS_RETENTION_ACTION is 'drop' or 'detach'.")
    if months <= 0:
        return {"cutoff": None, "rolled_up": 0, "partitions": [], "rows_deleted": 0}
    cutoff_month = month_add(month_start(now or timezone.now()), -months)
    cutoff = datetime(cutoff_month.year, cutoff_month.month, 1, tzinfo=UTC)
    rolled = deleted = 0
    handled = []
    if is_partitioned():
        for month in [m for m in readings_partitions() if m < cutoff_month]:
            name = partition_name(month)
            lower = datetime(month.year, month.month, 1, tzinfo=UTC)
            upper_month = month_add(month, 1)
            upper = datetime(upper_month.year, upper_month.month, 1, tzinfo=UTC)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
                # Deferred foreign-key checks pending on the partition would refuse the DDL.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                rolled += readings_rollup(start=lower, end=upper)
                cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
                if action == "drop":
                    cursor.execute(f"DROP TABLE {name}")
            _known.discard(name)
            handled.append(name)
    # Old rows outside any dropped partition (the default partition, or SQLite's one table).
    from .models import EnergyReading

    with transaction.atomic():
        old = EnergyReading.objects.filter(timestamp__lt=cutoff)
        if old.exists():
            first = old.order_by("timestamp").values_list("timestamp", flat=True).first()
            rolled += readings_rollup(start=datetime(first.year, first.month, first.day, tzinfo=UTC), end=cutoff)
            deleted = old._raw_delete(old.db)
    return {"cutoff": cutoff.isoformat(), "rolled_up": rolled, "partitions": handled, "rows_deleted": deleted}


def readings_maintain(*, now: datetime | None = None) -> dict:
    """Daily beat job: partitions ahead, the default partition emptied, the retention applied."""
    now = now or timezone.now()
    ahead = readings_partitions_ensure(start=now, end=month_add(month_start(now),
                                                                 settings.ENMS_READINGS_PARTITIONS_AHEAD))
    swept = readings_default_sweep()
    retention = readings_retention_apply(now=now)
    return {"created": [m.isoformat() for m in ahead + swept], **retention}

"""Monthly partitions of energy_readings (PostgreSQL) and the retention policy (both databases)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import override_settings

from baselines.models import EnergyReading, EnergyReadingDaily, Machine
from baselines.partitions import (
    partition_name,
    readings_maintain,
    readings_partitions,
    readings_partitions_ensure,
    readings_retention_apply,
)
from baselines.services import readings_ingest

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 8, tzinfo=UTC)


def _hours(start: datetime, n: int, kwh: float = 2.0) -> list[dict]:
    return [{"timestamp": start + timedelta(hours=i), "energy_kwh": kwh, "outdoor_temp_c": 10.0 + i % 3,
             "operating_hours": 1.0, "production_units": 5.0, "is_anomaly": i == 0} for i in range(n)]


def _partition_of(machine, timestamp) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM energy_readings WHERE machine_id = %s AND timestamp = %s",
                       [machine.pk, timestamp])
        return cursor.fetchone()[0]


@pytest.mark.postgres
def test_readings_land_in_their_month_and_partitions_are_made_ahead():
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'energy_readings'")
        assert cursor.fetchone()[0] == "p"
    machine = Machine.objects.create(name="Press 1")
    # Ingest makes the partitions of the months it writes: both sides of a month boundary.
    rows = _hours(datetime(2025, 3, 31, 22, tzinfo=UTC), 4)
    assert readings_ingest(machine=machine, rows=rows) == {"received": 4, "created": 4, "updated": 0}
    assert {date(2025, 3, 1), date(2025, 4, 1)} <= set(readings_partitions())
    assert _partition_of(machine, rows[1]["timestamp"]) == "energy_readings_y2025m03"
    assert _partition_of(machine, rows[2]["timestamp"]) == "energy_readings_y2025m04"
    # Exact counts without RETURNING (xmax = 0): two rows again (updated), one new.
    again = [{**rows[2], "energy_kwh": 9.0}, {**rows[3], "energy_kwh": 9.0}, *_hours(rows[3]["timestamp"]
                                                                                      + timedelta(hours=1), 1)]
    assert readings_ingest(machine=machine, rows=again) == {"received": 3, "created": 1, "updated": 2}
    assert EnergyReading.objects.get(machine=machine, timestamp=rows[3]["timestamp"]).energy_kwh == 9.0
    with override_settings(ENMS_READINGS_PARTITIONS_AHEAD=2):
        readings_maintain(now=NOW)
    assert {date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)} <= set(readings_partitions())


@pytest.mark.postgres
def test_a_row_of_a_month_without_partition_waits_in_the_default_one_until_the_sweep():
    machine = Machine.objects.create(name="Press 2")
    when = datetime(2019, 6, 15, tzinfo=UTC)
    EnergyReading.objects.create(machine=machine, timestamp=when, energy_kwh=1.0)  # the ORM, no ensure
    assert _partition_of(machine, when) == "energy_readings_default"
    assert date(2019, 6, 1) in [date.fromisoformat(m) for m in readings_maintain(now=NOW)["created"]]
    assert _partition_of(machine, when) == "energy_readings_y2019m06"
    assert EnergyReading.objects.filter(machine=machine).count() == 1


@pytest.mark.postgres
def test_retention_rolls_up_then_drops_old_partitions_and_keeps_the_daily_aggregates():
    machine = Machine.objects.create(name="Press 3")
    old = _hours(datetime(2026, 1, 1, tzinfo=UTC), 24 * 31)      # January: past retention
    recent = _hours(datetime(2026, 11, 1, tzinfo=UTC), 48)       # November: kept
    readings_ingest(machine=machine, rows=old + recent)
    assert date(2026, 1, 1) in readings_partitions()
    result = readings_retention_apply(now=NOW, months=6, action="drop")
    assert partition_name(date(2026, 1, 1)) in result["partitions"]
    assert date(2026, 1, 1) not in readings_partitions()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('energy_readings_y2026m01')")
        assert cursor.fetchone()[0] is None
    assert EnergyReading.objects.filter(machine=machine).count() == 48
    days = EnergyReadingDaily.objects.filter(machine=machine).order_by("day")
    assert days.count() == 31 and days[0].day == date(2026, 1, 1) and days[30].day == date(2026, 1, 31)
    assert days[0].readings == 24 and days[0].energy_kwh == pytest.approx(48.0) and days[0].anomalies == 1
    assert days[0].outdoor_temp_c_mean == pytest.approx(11.0)
    assert days.aggregate(s=Sum("energy_kwh"))["s"] == pytest.approx(2.0 * 24 * 31)
    # Applied again: nothing more to drop, the aggregates stay.
    assert readings_retention_apply(now=NOW, months=6)["partitions"] == []
    assert EnergyReadingDaily.objects.filter(machine=machine).count() == 31


@pytest.mark.postgres
def test_retention_can_detach_for_an_archive_instead():
    machine = Machine.objects.create(name="Press 4")
    readings_ingest(machine=machine, rows=_hours(datetime(2025, 2, 1, tzinfo=UTC), 24))
    readings_retention_apply(now=NOW, months=6, action="detach")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM energy_readings_y2025m02")
        assert cursor.fetchone()[0] == 24  # kept, outside the readings table
    assert not EnergyReading.objects.filter(machine=machine).exists()
    assert EnergyReadingDaily.objects.get(machine=machine).readings == 24


def test_retention_on_one_table_rolls_up_then_deletes(settings):
    machine = Machine.objects.create(name="Press 5")
    EnergyReading.objects.bulk_create([
        EnergyReading(machine=machine, timestamp=r["timestamp"], energy_kwh=r["energy_kwh"],
                      outdoor_temp_c=r["outdoor_temp_c"], is_anomaly=r["is_anomaly"])
        for r in _hours(datetime(2026, 4, 30, tzinfo=UTC), 48)
    ])
    settings.ENMS_READINGS_RETENTION_MONTHS = 7  # keeps May onwards
    result = readings_retention_apply(now=NOW)
    assert result["cutoff"].startswith("2026-05-01")
    assert EnergyReading.objects.filter(machine=machine).count() == 24
    assert list(EnergyReadingDaily.objects.filter(machine=machine).values_list("day", "readings")) == [
        (date(2026, 4, 30), 24)]
    settings.ENMS_READINGS_RETENTION_MONTHS = 0
    assert readings_retention_apply(now=NOW)["rows_deleted"] == 0
    readings_partitions_ensure(start=NOW, end=NOW)  # nothing to do on one table
    with pytest.raises(ValueError):
        readings_retention_apply(now=NOW, months=3, action="archive")

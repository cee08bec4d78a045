"""The three database views return the right rows, in the right order, on both databases."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from performance.models import ActiveABTest, LatestModelPerformance, UnresolvedModelAlert
from tests.factories import (
    T0,
    EnergyBaselineFactory,
    ModelABTestFactory,
    ModelAlertFactory,
    ModelPerformanceMetricFactory,
)

pytestmark = pytest.mark.django_db


def test_latest_model_performance_is_newest_row_per_model():
    m1 = EnergyBaselineFactory(version=1)
    m2 = EnergyBaselineFactory(version=2, machine=m1.machine)
    m3 = EnergyBaselineFactory()  # no metrics: not in the view
    ModelPerformanceMetricFactory(model=m1, evaluated_at=T0, rmse=9.0)
    newest = ModelPerformanceMetricFactory(model=m1, evaluated_at=T0 + timedelta(days=2), rmse=1.0)
    ModelPerformanceMetricFactory(model=m1, evaluated_at=T0 + timedelta(days=1), rmse=5.0)
    only = ModelPerformanceMetricFactory(model=m2, evaluated_at=T0 - timedelta(days=10), rmse=3.0)

    rows = {row.model_id: row for row in LatestModelPerformance.objects.all()}
    assert set(rows) == {m1.pk, m2.pk}
    assert m3.pk not in rows
    assert rows[m1.pk].id == newest.pk and rows[m1.pk].rmse == 1.0
    assert rows[m2.pk].id == only.pk
    assert rows[m1.pk].machine_name == m1.machine.name
    assert rows[m1.pk].model_version == 1 and rows[m2.pk].model_version == 2


def test_latest_breaks_ties_deterministically():
    model = EnergyBaselineFactory()
    a = ModelPerformanceMetricFactory(model=model, evaluated_at=T0)
    b = ModelPerformanceMetricFactory(model=model, evaluated_at=T0)
    row = LatestModelPerformance.objects.get(model=model)
    assert row.id == max(a.pk, b.pk, key=lambda u: str(u) if connection.vendor == "postgresql" else u.hex)


def test_active_ab_tests_lists_running_with_versions():
    running = ModelABTestFactory(model_a__version=3, model_b__version=4)
    ModelABTestFactory(status="completed")
    ModelABTestFactory(status="cancelled")
    rows = list(ActiveABTest.objects.all())
    assert [r.id for r in rows] == [running.pk]
    assert (rows[0].model_a_version, rows[0].model_b_version) == (3, 4)


def test_unresolved_alerts_critical_first_then_newest():
    old_warning = ModelAlertFactory(severity="warning", last_seen=T0 + timedelta(hours=1))
    new_warning = ModelAlertFactory(severity="warning", last_seen=T0 + timedelta(hours=5))
    old_critical = ModelAlertFactory(severity="critical", last_seen=T0 + timedelta(hours=2))
    new_critical = ModelAlertFactory(severity="critical", last_seen=T0 + timedelta(hours=3))
    ModelAlertFactory(severity="critical", is_resolved=True, resolved_at=T0, last_seen=T0 + timedelta(hours=9))
    assert [a.id for a in UnresolvedModelAlert.objects.all()] == [
        new_critical.pk, old_critical.pk, new_warning.pk, old_warning.pk,
    ]
    # The view's own ORDER BY gives the same order to plain SQL clients.
    with connection.cursor() as cursor:
        cursor.execute("SELECT severity FROM v_unresolved_model_alerts")
        assert [r[0] for r in cursor.fetchall()] == ["critical", "critical", "warning", "warning"]


@pytest.mark.django_db(transaction=True)
def test_migrations_reverse_and_reapply():
    def views():
        tables = connection.introspection.table_names(include_views=True)
        return {t for t in tables if t.startswith("v_")}

    assert views() == {"v_latest_model_performance", "v_active_ab_tests", "v_unresolved_model_alerts"}
    call_command("migrate", "performance", "zero", verbosity=0)
    assert views() == set()
    assert "model_alerts" not in connection.introspection.table_names()
    call_command("migrate", verbosity=0)
    assert len(views()) == 3
    assert "model_alerts" in connection.introspection.table_names()

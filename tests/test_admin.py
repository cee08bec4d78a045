"""The admin: every page renders; alerts are resolved and A/B tests set up through it."""

import pytest
from django.contrib import admin
from django.urls import reverse

from performance.models import ModelABTest, ModelAlert
from tests.factories import (
    EnergyBaselineFactory,
    EnergyReadingFactory,
    ModelABTestFactory,
    ModelAlertFactory,
    ModelPerformanceMetricFactory,
    ModelTrainingHistoryFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged(client, superuser):
    client.force_login(superuser)
    return client


def test_every_changelist_and_change_page_renders(admin_client_logged):
    EnergyReadingFactory()
    ModelPerformanceMetricFactory()
    ModelTrainingHistoryFactory()
    ModelABTestFactory()
    ModelAlertFactory()
    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = admin_client_logged.get(url)
        assert response.status_code == 200, url
        obj = model._default_manager.first()
        if obj is not None and opts.app_label in ("baselines", "performance"):
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            assert admin_client_logged.get(change).status_code == 200, change


def test_resolve_action_records_who_when_and_notes(admin_client_logged, superuser):
    alerts = [ModelAlertFactory(), ModelAlertFactory()]
    url = reverse("admin:performance_modelalert_changelist")
    ids = [str(a.pk) for a in alerts]
    confirm = admin_client_logged.post(url, {"action": "resolve_selected", "_selected_action": ids})
    assert confirm.status_code == 200 and b"Resolve these alerts" in confirm.content
    assert ModelAlert.objects.filter(is_resolved=False).count() == 2

    done = admin_client_logged.post(
        url, {"action": "resolve_selected", "_selected_action": ids, "apply": "1", "resolution_notes": "leak fixed"}
    )
    assert done.status_code == 302
    for alert in ModelAlert.objects.all():
        assert alert.is_resolved and alert.resolved_at is not None
        assert alert.resolved_by == superuser and alert.resolution_notes == "leak fixed"


def test_resolve_from_change_form(admin_client_logged, superuser):
    alert = ModelAlertFactory()
    url = reverse("admin:performance_modelalert_change", args=[alert.pk])
    response = admin_client_logged.post(url, {"resolution_notes": "bearing replaced", "resolve": "on"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.is_resolved and alert.resolved_by == superuser and alert.resolution_notes == "bearing replaced"


def test_ab_test_form_rejects_versions_of_different_machines(admin_client_logged):
    a = EnergyBaselineFactory()
    b = EnergyBaselineFactory()  # another machine
    url = reverse("admin:performance_modelabtest_add")
    data = {"name": "x", "model_a": a.pk, "model_b": b.pk, "traffic_split": 0.5, "duration_days": 14,
            "min_samples": 168}
    response = admin_client_logged.post(url, data)
    assert response.status_code == 200
    assert b"same machine and model type" in response.content
    assert ModelABTest.objects.count() == 0

    same = EnergyBaselineFactory(machine=a.machine)
    response = admin_client_logged.post(url, {**data, "model_b": same.pk, "traffic_split": 1.0})
    assert response.status_code == 200 and ModelABTest.objects.count() == 0

    response = admin_client_logged.post(url, {**data, "model_b": same.pk})
    assert response.status_code == 302
    test = ModelABTest.objects.get()
    assert test.machine == a.machine and test.status == "running"
    assert (test.ends_at - test.started_at).days == 14


def test_machine_policy_overrides_are_validated_in_the_admin(admin_client_logged):
    from baselines.models import Machine
    from tests.factories import MachineFactory

    machine = MachineFactory()
    url = reverse("admin:baselines_machine_change", args=[machine.pk])
    base = {"name": machine.name, "machine_type": machine.machine_type, "site": machine.site,
            "rated_power_kw": machine.rated_power_kw, "is_active": "on", "time_zone": machine.time_zone}
    for bad in ('{"drift": {"psi_critcal": 0.3}}', '{"promotion_mode": "yolo"}', '{"degradation_margin": -1}',
                '{"unknown": 1}', "[1, 2]"):
        response = admin_client_logged.post(url, {**base, "policy_overrides": bad})
        assert response.status_code == 200 and b"errorlist" in response.content, bad
        assert Machine.objects.get(pk=machine.pk).policy_overrides == {}
    good = '{"drift": {"psi_critical": 0.3}, "promotion_mode": "ab_test", "degradation_margin": 0.3}'
    assert admin_client_logged.post(url, {**base, "policy_overrides": good}).status_code == 302
    assert Machine.objects.get(pk=machine.pk).policy_overrides["drift"] == {"psi_critical": 0.3}


def test_machine_time_zone_is_validated_in_the_admin(admin_client_logged):
    from baselines.models import Machine
    from tests.factories import MachineFactory

    machine = MachineFactory()
    url = reverse("admin:baselines_machine_change", args=[machine.pk])
    base = {"name": machine.name, "machine_type": machine.machine_type, "site": machine.site,
            "rated_power_kw": machine.rated_power_kw, "is_active": "on", "policy_overrides": "{}"}
    response = admin_client_logged.post(url, {**base, "time_zone": "Atlantis/Capital"})
    assert response.status_code == 200 and b"unknown time zone" in response.content
    assert Machine.objects.get(pk=machine.pk).time_zone == "UTC"
    assert admin_client_logged.post(url, {**base, "time_zone": "Europe/Berlin"}).status_code == 302
    assert Machine.objects.get(pk=machine.pk).time_zone == "Europe/Berlin"


def test_ab_test_auto_promote_in_the_admin_needs_the_activate_permission(client):
    """Staff who may add A/B tests but not activate versions cannot have a winner activated."""
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=("add_modelabtest", "view_modelabtest")))
    client.force_login(staff)
    a = EnergyBaselineFactory()
    b = EnergyBaselineFactory(machine=a.machine)
    url = reverse("admin:performance_modelabtest_add")
    data = {"name": "x", "model_a": a.pk, "model_b": b.pk, "traffic_split": 0.5, "duration_days": 14,
            "min_samples": 168, "auto_promote": "on"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert b"needs the permission to change energy baselines" in response.content
    assert ModelABTest.objects.count() == 0
    data.pop("auto_promote")
    assert client.post(url, data).status_code == 302
    assert ModelABTest.objects.get().auto_promote is False
    staff.user_permissions.add(Permission.objects.get(codename="change_energybaseline"))
    ModelABTest.objects.all().delete()
    assert client.post(url, {**data, "auto_promote": "on"}).status_code == 302
    assert ModelABTest.objects.get().auto_promote is True


def test_an_admin_machine_name_is_stripped_and_unique_ignoring_case(admin_client_logged):
    from baselines.models import Machine
    from tests.factories import MachineFactory

    MachineFactory(name="Compressor C1")
    url = reverse("admin:baselines_machine_add")
    data = {"name": "compressor c1", "machine_type": "other", "site": "", "is_active": "on", "policy_overrides": "{}",
            "time_zone": "UTC"}
    response = admin_client_logged.post(url, data)
    assert response.status_code == 200 and b"already exists" in response.content
    response = admin_client_logged.post(url, {**data, "name": "  Compressor C2  "})
    assert response.status_code == 302
    assert Machine.objects.filter(name="Compressor C2").exists()


def test_ab_test_conflict_shows_one_error_and_no_success(admin_client_logged):
    from tests.factories import ModelABTestFactory

    running = ModelABTestFactory(status="running")
    c = EnergyBaselineFactory(machine=running.machine)
    url = reverse("admin:performance_modelabtest_add")
    response = admin_client_logged.post(url, {"name": "again", "machine": running.machine.pk,
                                              "model_a": running.model_a.pk, "model_b": c.pk, "traffic_split": 0.5,
                                              "duration_days": 14, "min_samples": 168}, follow=True)
    html = response.content.decode()
    assert "already has a running A/B test" in html and html.count("already has a running A/B test") == 1
    assert "successfully" not in html
    assert ModelABTest.objects.count() == 1


def test_ab_test_stop_action_and_alert_list_defaults_to_open(admin_client_logged):
    from tests.factories import ModelABTestFactory

    running = ModelABTestFactory(status="running")
    url = reverse("admin:performance_modelabtest_changelist")
    response = admin_client_logged.post(url, {"action": "stop_selected", "_selected_action": [running.pk]},
                                        follow=True)
    assert "Stopped 1 A/B test" in response.content.decode()
    running.refresh_from_db()
    assert running.status == "stopped" and running.decision == "inconclusive"

    open_alert = ModelAlertFactory(message="still open")
    ModelAlertFactory(message="long gone", is_resolved=True, resolved_at=open_alert.first_seen)
    html = admin_client_logged.get(reverse("admin:performance_modelalert_changelist")).content.decode()
    assert "still open" in html and "long gone" not in html and "/ui/model-performance?machine=" in html
    change = reverse("admin:performance_modelalert_change", args=[open_alert.pk])
    html = admin_client_logged.get(change).content.decode()
    assert "<strong>Cause</strong>" in html

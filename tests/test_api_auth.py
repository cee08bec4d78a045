"""Who may do what, endpoint by endpoint (API.md, Conventions).

Anonymous requests get 401 everywhere under /api/. Any authenticated user may read (and ask for
predictions, which write nothing). Every write needs the matching Django model permission, which
staff grant in the admin: staff status alone grants nothing; a superuser may do everything. A
refused write changes nothing.
"""

from datetime import datetime

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Count
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from baselines.models import EnergyBaseline, EnergyReading, Machine
from performance.models import ModelABTest, ModelAlert, ModelPerformanceMetric, ModelTrainingHistory
from tests.factories import (
    ModelABTestFactory,
    ModelAlertFactory,
    ModelPerformanceMetricFactory,
    ModelTrainingHistoryFactory,
    UserFactory,
)
from tests.test_api_baselines import DEMO_START, demo_rows, store_rows, train_baseline

pytestmark = pytest.mark.django_db

API = "/api/v1/"
PERF = "/api/v1/model-performance/"

# (name, method, path, body, permission a write needs or None for a read, status on success)
ENDPOINTS = [
    ("machines list", "GET", "{api}machines/", None, None, 200),
    ("machine create", "POST", "{api}machines/", {"name": "New press", "machine_type": "other"},
     "baselines.add_machine", 201),
    ("machine retrieve", "GET", "{api}machines/{machine}/", None, None, 200),
    ("machine patch", "PATCH", "{api}machines/{machine}/", {"site": "East"}, "baselines.change_machine", 200),
    ("readings list", "GET", "{api}machines/{machine}/readings/", None, None, 200),
    ("readings ingest", "POST", "{api}machines/{machine}/readings/",
     [{"timestamp": "2025-01-19T23:00:00Z", "energy_kwh": 1.5}], "baselines.add_energyreading", 200),
    ("baselines list", "GET", "{api}baselines/", None, None, 200),
    ("baseline retrieve", "GET", "{api}baselines/{model}/", None, None, 200),
    ("predict", "POST", "{api}baselines/{model}/predict/",
     {"rows": [{"timestamp": "2025-01-10T08:00:00Z", "production_units": 20.0, "outdoor_temp_c": 8.0,
                "operating_hours": 1.0}]}, None, 200),
    ("activate", "POST", "{api}baselines/{candidate}/activate/", None, "baselines.change_energybaseline", 200),
    ("metrics record", "POST", "{perf}metrics/record", {"model_id": "{model}", "sample_count": 24, "rmse": 2.0},
     "performance.add_modelperformancemetric", 201),
    ("metrics list", "GET", "{perf}metrics/", None, None, 200),
    ("metric retrieve", "GET", "{perf}metrics/{metric}/", None, None, 200),
    ("metrics trend", "GET", "{perf}metrics/trend?model_id={model}", None, None, 200),
    ("drift check", "POST", "{perf}drift/check", {"model_id": "{model}"}, "performance.add_modelperformancemetric",
     200),
    ("retrain trigger", "POST", "{perf}retrain/trigger", {"model_id": "{model}"},
     "performance.add_modeltraininghistory", 202),
    ("training history list", "GET", "{perf}training-history/", None, None, 200),
    ("training history retrieve", "GET", "{perf}training-history/{job}/", None, None, 200),
    ("ab test start", "POST", "{perf}ab-test/start",
     {"name": "v1 vs v2", "model_a_id": "{model}", "model_b_id": "{candidate}"}, "performance.add_modelabtest", 201),
    ("ab test results", "GET", "{perf}ab-test/{abtest}/results", None, None, 200),
    ("ab tests list", "GET", "{perf}ab-tests/", None, None, 200),
    ("ab test retrieve", "GET", "{perf}ab-tests/{abtest}/", None, None, 200),
    ("alerts list", "GET", "{perf}alerts/", None, None, 200),
    ("alert retrieve", "GET", "{perf}alerts/{alert}/", None, None, 200),
    ("alerts active", "GET", "{perf}alerts/active", None, None, 200),
    ("alert resolve", "POST", "{perf}alerts/{alert}/resolve", {"resolution_notes": "fixed"},
     "performance.change_modelalert", 200),
]
WRITE_PERMISSIONS = sorted({perm for *_, perm, _ in ENDPOINTS if perm})
IDS = [e[0] for e in ENDPOINTS]

_trained: dict[str, dict] = {}


def _version(machine: Machine, key: str, days: int) -> EnergyBaseline:
    """A fitted version of `machine`: trained once per test session, copied into each test's DB."""
    if key not in _trained:
        baseline = train_baseline(machine, days=days, store=False)
        skip = {"id", "machine_id", "parent_id", "created_by_id", "created_at"}
        _trained[key] = {f.attname: getattr(baseline, f.attname) for f in EnergyBaseline._meta.concrete_fields
                         if f.attname not in skip}
        return baseline
    return EnergyBaseline.objects.create(machine=machine, **_trained[key])


@pytest.fixture
def scenario():
    # The drift check below must not queue a retraining of its own (its verdict depends on the
    # demo data), or the retrain trigger that follows would meet an open job.
    machine = Machine.objects.create(name="Compressor A", machine_type="compressor", time_zone="Europe/Berlin",
                                     policy_overrides={"auto_retrain_on_critical": False})
    store_rows(machine, demo_rows(14))
    model = _version(machine, "v1", days=10)
    EnergyBaseline.objects.filter(pk=model.pk).update(status="active")
    candidate = _version(machine, "v2", days=14)
    assert (model.version, candidate.version) == (1, 2)
    return {
        "api": API, "perf": PERF, "machine": machine.pk, "model": model.pk, "candidate": candidate.pk,
        "metric": ModelPerformanceMetricFactory(model=model).pk,
        "job": ModelTrainingHistoryFactory(machine=machine, model=model).pk,
        "abtest": ModelABTestFactory(model_a=model, model_b=candidate, status="completed", decision="inconclusive",
                                     started_at=datetime.fromisoformat("2025-01-13T00:00:00+00:00"),
                                     ends_at=datetime.fromisoformat("2025-01-20T00:00:00+00:00")).pk,
        "alert": ModelAlertFactory(model=model, severity="critical").pk,
    }


def _fill(value, scenario):
    if isinstance(value, str):
        return value.format(**scenario)
    if isinstance(value, list):
        return [_fill(v, scenario) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, scenario) for k, v in value.items()}
    return value


def _call(client, method, path, body, scenario):
    url = _fill(path, scenario)
    if body is None:
        return getattr(client, method.lower())(url)
    return getattr(client, method.lower())(url, _fill(body, scenario), format="json")


def _client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _user(*perms: str, **flags):
    user = UserFactory(**flags)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def _state():
    """Row counts and the mutable columns a write could change, to show a refused write changed nothing."""
    return {
        "machines": list(Machine.objects.order_by("pk").values_list("name", "site", "is_active")),
        "readings": list(EnergyReading.objects.order_by("machine_id", "timestamp").values_list("energy_kwh",
                                                                                              flat=True)),
        "baselines": list(EnergyBaseline.objects.order_by("pk").values_list("status", "activated_at")),
        "metrics": ModelPerformanceMetric.objects.count(),
        "jobs": ModelTrainingHistory.objects.count(),
        "abtests": ModelABTest.objects.count(),
        "alerts": list(ModelAlert.objects.order_by("pk").values_list("is_resolved", "resolution_notes")),
        "alert_rows": ModelAlert.objects.aggregate(n=Count("pk"))["n"],
    }


@pytest.mark.parametrize(("name", "method", "path", "body", "perm", "ok"), ENDPOINTS, ids=IDS)
def test_anonymous_gets_401(scenario, name, method, path, body, perm, ok):
    before = _state()
    response = _call(_client_for(None), method, path, body, scenario)
    assert response.status_code == 401, response.content
    assert "detail" in response.json()
    assert response.has_header("WWW-Authenticate")
    assert _state() == before


@pytest.mark.parametrize(("name", "method", "path", "body", "perm", "ok"), ENDPOINTS, ids=IDS)
def test_user_without_rights_reads_but_cannot_write(scenario, name, method, path, body, perm, ok):
    before = _state()
    response = _call(_client_for(_user()), method, path, body, scenario)
    if perm is None:
        assert response.status_code == ok, response.content
    else:
        assert response.status_code == 403, response.content
        assert "detail" in response.json()
        assert _state() == before


@pytest.mark.parametrize(("name", "method", "path", "body", "perm", "ok"), ENDPOINTS, ids=IDS)
def test_staff_status_alone_grants_no_write(scenario, name, method, path, body, perm, ok):
    before = _state()
    response = _call(_client_for(_user(is_staff=True)), method, path, body, scenario)
    if perm is None:
        assert response.status_code == ok, response.content
    else:
        assert response.status_code == 403, response.content
        assert _state() == before


@pytest.mark.parametrize(("name", "method", "path", "body", "perm", "ok"),
                         [e for e in ENDPOINTS if e[4]], ids=[e[0] for e in ENDPOINTS if e[4]])
def test_the_matching_model_permission_allows_the_write(scenario, name, method, path, body, perm, ok):
    before = _state()
    response = _call(_client_for(_user(perm)), method, path, body, scenario)
    assert response.status_code == ok, response.content
    assert _state() != before


@pytest.mark.parametrize(("name", "method", "path", "body", "perm", "ok"),
                         [e for e in ENDPOINTS if e[4]], ids=[e[0] for e in ENDPOINTS if e[4]])
def test_every_other_permission_does_not_allow_the_write(scenario, name, method, path, body, perm, ok):
    others = [p for p in WRITE_PERMISSIONS if p != perm]
    before = _state()
    response = _call(_client_for(_user(*others, is_staff=True)), method, path, body, scenario)
    assert response.status_code == 403, response.content
    assert _state() == before


@pytest.mark.parametrize(("name", "method", "path", "body", "perm", "ok"), ENDPOINTS, ids=IDS)
def test_superuser_may_do_everything(scenario, name, method, path, body, perm, ok):
    response = _call(_client_for(_user(is_superuser=True)), method, path, body, scenario)
    assert response.status_code == ok, response.content


def test_writes_take_effect_for_the_granted_user(scenario):
    """Spot-check that the permitted writes above really wrote."""
    user = _user(*WRITE_PERMISSIONS)
    client = _client_for(user)
    for name, method, path, body, perm, ok in ENDPOINTS:
        if perm:
            assert _call(client, method, path, body, scenario).status_code == ok, name
    assert Machine.objects.filter(name="New press").exists()
    assert Machine.objects.get(pk=scenario["machine"]).site == "East"
    assert EnergyReading.objects.filter(machine_id=scenario["machine"], energy_kwh=1.5).exists()
    assert EnergyBaseline.objects.get(pk=scenario["candidate"]).status == "active"
    assert EnergyBaseline.objects.get(pk=scenario["model"]).status == "retired"
    assert ModelTrainingHistory.objects.filter(triggered_by=user).exists()
    assert ModelABTest.objects.filter(status="running").count() == 1
    alert = ModelAlert.objects.get(pk=scenario["alert"])
    assert alert.is_resolved and alert.resolved_by == user


def test_healthz_needs_no_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_bad_token_is_401(scenario):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get(f"{API}machines/").status_code == 401


def test_session_writes_need_the_csrf_token(scenario):
    user = _user(is_superuser=True)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(f"{API}machines/").status_code == 200
    refused = client.patch(f"{API}machines/{scenario['machine']}/", {"site": "West"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.patch(f"{API}machines/{scenario['machine']}/", {"site": "West"}, format="json",
                            HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200
    assert Machine.objects.get(pk=scenario["machine"]).site == "West"


def test_first_training_by_machine_needs_the_add_permission(scenario):
    machine = Machine.objects.create(name="Pump B")
    store_rows(machine, demo_rows(3, DEMO_START))
    body = {"machine_id": str(machine.pk), "model_type": "energy_baseline"}
    assert _client_for(_user()).post(f"{PERF}retrain/trigger", body, format="json").status_code == 403
    granted = _client_for(_user("performance.add_modeltraininghistory"))
    assert granted.post(f"{PERF}retrain/trigger", body, format="json").status_code == 202

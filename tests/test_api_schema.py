"""The published OpenAPI schema: valid, served as JSON, and exactly what the server does.

`test_schema_conformance` runs schemathesis over every operation of the schema against the WSGI
application, as a superuser with a DRF token, with schemathesis' default checks (no server error,
documented status codes and content types, response bodies valid against the schema, schema-valid
requests accepted and schema-violating ones rejected). The database holds one object of every kind
under one fixed id, and every `{id}` in a path and every `model_id` in a body is pinned to it, so
the success paths (real objects, real model versions) are exercised, not only 404s.
"""

import json
import re
import uuid
from datetime import timedelta
from io import StringIO

import pandas as pd
import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.config import SchemathesisConfig

from baselines.models import EnergyBaseline, Machine
from enms.tokens import api_token_create
from enms.wsgi import application
from performance.models import ModelABTest, ModelAlert, ModelPerformanceMetric, ModelTrainingHistory
from performance.services.abtests import abtest_start_from_api
from tests.factories import ModelAlertFactory, ModelPerformanceMetricFactory, ModelTrainingHistoryFactory
from tests.test_api_baselines import DEMO_START, demo_rows, store_rows, train_baseline

SEED_ID = uuid.UUID("5eed0000-0000-4000-8000-000000000001")
SEED_ID_B = uuid.UUID("5eed0000-0000-4000-8000-00000000000b")
EXAMPLES_PER_OPERATION = 40

# Schema-valid requests these operations still refuse with 400, for rules OpenAPI 3.0 cannot state:
# references that must exist, one field ordered after another, a choice between fields, state.
SEMANTIC_400 = {
    "POST /api/v1/machines/": "machine names are unique",
    "PATCH /api/v1/machines/{id}/": "machine names are unique",
    "GET /api/v1/machines/{id}/readings/": "end must be after start",
    "POST /api/v1/machines/{id}/readings/": "one timestamp once per batch; CSV must have a header row",
    "POST /api/v1/machines/{id}/driver-forecasts/": "one timestamp once per batch; up to the forecast horizon",
    "GET /api/v1/model-performance/forecast": "a trained energy baseline",
    "POST /api/v1/baselines/{id}/predict/": "the version's own drivers are required; energy baselines only",
    "POST /api/v1/baselines/{id}/activate/": "a version without a fitted model cannot be activated",
    "POST /api/v1/model-performance/metrics/record": "model_id must exist; evaluation_end after evaluation_start",
    "GET /api/v1/model-performance/metrics/trend": "model_id or machine_id; end after start",
    "GET /api/v1/model-performance/metrics/trends": "model_id or machine_id; end after start",
    "POST /api/v1/model-performance/drift/check": "a trained energy baseline; windows ordered, with readings",
    "POST /api/v1/model-performance/retrain/trigger": "model_id, or machine_id and model_type; window ordered",
    "POST /api/v1/model-performance/ab-test/start": "two existing versions of one machine; past, ordered window",
    "POST /api/v1/model-performance/alerts/{id}/rebaseline": "a reason in words; a change point or a past start",
}


def _config() -> SchemathesisConfig:
    positive = ["2xx", "3xx", "401", "403", "404", "409", "429"]
    return SchemathesisConfig.from_dict({
        "seed": 20260105,
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
        "parameters": {
            "path.id": str(SEED_ID),
            "body.model_id": str(SEED_ID),
            "body.model_a_id": str(SEED_ID),
            "body.model_b_id": str(SEED_ID_B),
        },
        "operations": [
            *({"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": [*positive, "400"]}}}
              for name in SEMANTIC_400),
            {"include-name": "GET /api/v1/model-performance/metrics/trend",
             "parameters": {"query.model_id": str(SEED_ID)}},
            {"include-name": "GET /api/v1/model-performance/metrics/trends",
             "parameters": {"query.model_id": str(SEED_ID)}},
        ],
    })


schema = schemathesis.openapi.from_wsgi("/openapi.json", application, config=_config(),
                                        headers={"Accept": "application/json"})


def _move(model, obj, new_id):
    model.objects.filter(pk=obj.pk).update(id=new_id)
    return model.objects.get(pk=new_id)


@pytest.fixture
def seeded(db):
    """One object of every kind, all under SEED_ID: a machine with 28 days of readings, two trained
    versions (SEED_ID active, SEED_ID_B a candidate), a metrics row, a training job, a decided
    A/B backtest and an open alert."""
    machine = Machine.objects.create(id=SEED_ID, name="Seed compressor", machine_type="compressor")
    store_rows(machine, demo_rows(28))
    active = _move(EnergyBaseline, train_baseline(machine, days=14, store=False), SEED_ID)
    EnergyBaseline.objects.filter(pk=SEED_ID).update(status="active", activated_at=timezone.now())
    candidate = _move(EnergyBaseline, train_baseline(machine, days=21, store=False), SEED_ID_B)
    _move(ModelPerformanceMetric, ModelPerformanceMetricFactory(model=active), SEED_ID)
    _move(ModelTrainingHistory, ModelTrainingHistoryFactory(machine=machine, model=active, new_model=candidate),
          SEED_ID)
    test = abtest_start_from_api(
        name="seed backtest", model_a=active, model_b=candidate, traffic_split=0.5, duration_days=7,
        min_samples=48, auto_promote=False, window_start=(DEMO_START + pd.Timedelta(days=21)).to_pydatetime(),
        window_end=(DEMO_START + pd.Timedelta(days=28)).to_pydatetime(),
    )
    _move(ModelABTest, test, SEED_ID)
    ModelAlert.objects.all().delete()  # the backtest's completion alert
    _move(ModelAlert, ModelAlertFactory(model=active, severity="critical",
                                        last_seen=timezone.now() - timedelta(hours=1)), SEED_ID)
    return machine


@pytest.fixture
def token(seeded, superuser):
    return api_token_create(user=superuser)[1]


@pytest.fixture
def wsgi_in_test_transaction():
    """Requests to the WSGI application run inside the test's transaction, so its connection must
    not be closed between requests (Django's own test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.slow
@schema.parametrize()
@hypothesis_settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_schema_conformance(case, token, wsgi_in_test_transaction):
    case.call_and_validate(headers={"Authorization": f"Token {token}"})


# --- the schema itself --------------------------------------------------------------------------


def test_spectacular_validates_without_warnings():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    document = json.loads(out.getvalue())
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert "/api/v1/machines/{id}/readings/" in paths
    assert "/api/v1/model-performance/metrics/record" in paths


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_every_operation_documents_its_errors():
    document = schema.raw_schema
    for method, path, operation in _operations(document):
        codes = set(operation["responses"])
        assert "401" in codes, (method, path)
        if any(p.get("name") == "page" for p in operation.get("parameters", [])):
            assert {"400", "404"} <= codes, (method, path)  # bad filter or page size; page past the end
        if method in ("POST", "PATCH"):
            assert {"400", "413", "429"} <= codes, (method, path)
            if "requestBody" in operation:
                assert "415" in codes, (method, path)
                assert set(operation["requestBody"]["content"]) <= {"application/json", "text/csv"}
        for code, response in operation["responses"].items():
            if code != "204":
                assert "application/json" in response.get("content", {}), (method, path, code)


def test_contract_shapes_in_the_schema():
    components = schema.raw_schema["components"]["schemas"]
    assert set(components["Baseline"]["properties"]) >= {
        "id", "machine_id", "model_type", "version", "status", "algorithm", "features", "training_start",
        "training_end", "training_metrics", "created_at"}
    assert set(components["IngestResult"]["properties"]) == {"received", "created", "updated"}
    assert set(components["Trend"]["properties"]) >= {"model_id", "metric", "bucket", "points", "reference_value"}
    assert set(components["ABResults"]["properties"]) >= {
        "id", "status", "decision", "winner_model_id", "confidence", "arms", "paired", "ends_at"}
    for name in ("ABResults", "ABTest"):
        assert "1 − p of the paired test" in components[name]["properties"]["confidence"]["description"]
    assert components["ReadingBatchRequest"]["maxItems"] == 200_000
    assert components["MetricRecordBatchRequest"]["maxItems"] == 10_000
    assert components["ReadingRowRequest"]["additionalProperties"] is False
    assert components["DriftSeverityEnum"]["enum"] == ["none", "warning", "critical"]


# --- serving: /openapi.json, /docs, /healthz ----------------------------------------------------


@pytest.mark.django_db
def test_openapi_json_is_served_as_json(client):
    response = client.get("/openapi.json", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["info"]["title"]


@pytest.mark.django_db
@pytest.mark.django_db
def test_every_operation_has_a_tag_and_a_summary(client):
    schema = json.loads(client.get("/openapi.json").content)
    tags = {t["name"] for t in schema["tags"]}
    assert {"machines", "readings", "baselines", "metrics", "drift", "training", "A/B tests", "alerts"} <= tags
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            assert len(operation["tags"]) == 1 and operation["tags"][0] in tags, (method, path)
            assert operation["summary"] and len(operation["summary"]) <= 120, (method, path)


def test_openapi_json_is_json_without_an_accept_header(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] in ("application/json", "application/vnd.oai.openapi+json")
    assert json.loads(response.content)["openapi"].startswith("3.")


@pytest.mark.django_db
def test_docs_use_local_static_files_only(client):
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert not re.search(r"https?://", html)
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    static = [a for a in assets if a.startswith("/static/")]
    # Swagger UI's start-up script is served by the page itself, so no script is inline (CSP).
    # ... and the link back to the dashboard.
    assert set(assets) - set(static) == {"/docs?script=", "/ui/fleet"}, assets
    assert static
    for asset in static:  # shipped with the app (drf-spectacular-sidecar), not fetched from anywhere
        assert finders.find(asset.removeprefix("/static/")), asset
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", html), "inline script in /docs"
    script = client.get("/docs?script=")
    assert script.status_code == 200 and "javascript" in script["Content-Type"]
    assert "SwaggerUIBundle" in script.content.decode() and not re.search(r"https?://", script.content.decode())


@pytest.mark.django_db
def test_healthz_is_public(client):
    from enms.health import beat_tick_record

    beat_tick_record()  # a beat that ticks (with a broker, a missing beat is reported as degraded)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"] is True
    assert client.get("/api/v1/machines/").status_code == 401

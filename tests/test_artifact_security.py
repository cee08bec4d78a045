"""Stored models that were not written by this product are never loaded, wherever they are used.

Someone who can write the database (a leaked credential, an SQL console, a restored backup) can
replace a version's artifact, and its SHA-256 beside it. Four such rows: the crafted pipeline of
`FunctionTransformer`s that runs code (unsigned, and signed as if the key had leaked), a genuine
pipeline under a signature made with another key, and a genuine artifact with one byte flipped.
Each is refused on `predict` (409 JSON, nothing written), in the evaluation cycle (logged and
raised as a `training_failed` alert while the other machines are evaluated), on a drift check
(409) and in the drift cycle; the marker file the crafted pipeline would write never appears.
"""

from __future__ import annotations

import hashlib
import logging

import pandas as pd
import pytest

from baselines.artifacts import artifact_sign
from baselines.engine.artifacts import sign_artifact
from baselines.models import EnergyBaseline, EnergyReading, Machine
from performance.models import ModelAlert, ModelPerformanceMetric, ModelTrainingHistory
from performance.services.evaluation import drift_cycle, evaluation_cycle
from tests.baselines.engine.crafted import crafted_artifact
from tests.test_api_baselines import DEMO_START, demo_rows, store_rows, train_baseline

pytestmark = pytest.mark.django_db

API = "/api/v1/"
PERF = "/api/v1/model-performance/"
TAMPERINGS = ("crafted-unsigned", "crafted-signed", "wrong-signature", "flipped-bytes")

_trained: dict[str, dict] = {}


def _active_version(machine: Machine) -> EnergyBaseline:
    """A fitted, active energy baseline of `machine` (trained once per session, copied after)."""
    if "v1" not in _trained:
        baseline = train_baseline(machine, days=21, store=False)
        skip = {"id", "machine_id", "parent_id", "created_by_id", "created_at"}
        _trained["v1"] = {f.attname: getattr(baseline, f.attname) for f in EnergyBaseline._meta.concrete_fields
                          if f.attname not in skip}
        baseline.delete()
    version = EnergyBaseline.objects.create(machine=machine, **{**_trained["v1"], "version": 1})
    EnergyBaseline.objects.filter(pk=version.pk).update(status="active")
    version.refresh_from_db()
    return version


@pytest.fixture
def plant():
    """Two machines with 28 days of readings and an active baseline each, trained on the first 21."""
    machines = []
    for name in ("Compressor A", "Compressor B"):
        machine = Machine.objects.create(name=name, machine_type="compressor")
        store_rows(machine, demo_rows(28))
        machines.append((machine, _active_version(machine)))
    return machines


def tamper(version: EnergyBaseline, how: str, marker) -> None:
    """Rewrite the row as an attacker with database access (but not the signing key) would."""
    data = bytes(version.artifact)
    if how.startswith("crafted"):
        data = crafted_artifact(marker)
        signature = artifact_sign(data) if how == "crafted-signed" else ""
    elif how == "wrong-signature":
        signature = sign_artifact(data, b"a key that is not the configured one")
    else:
        flipped = bytearray(data)
        flipped[len(flipped) // 2] ^= 0x01
        data, signature = bytes(flipped), version.artifact_signature
    EnergyBaseline.objects.filter(pk=version.pk).update(
        artifact=data, artifact_sha256=hashlib.sha256(data).hexdigest(), artifact_signature=signature)


def state() -> dict:
    return {model.__name__: model.objects.count()
            for model in (EnergyReading, EnergyBaseline, ModelPerformanceMetric, ModelTrainingHistory, ModelAlert)}


PREDICT_BODY = {"rows": [{"timestamp": "2025-01-10T08:00:00Z", "production_units": 20.0, "outdoor_temp_c": 8.0,
                          "operating_hours": 1.0}]}


def test_the_untampered_plant_predicts_and_evaluates(admin_api, plant):
    (_, version), _ = plant
    response = admin_api.post(f"{API}baselines/{version.pk}/predict/", PREDICT_BODY, format="json")
    assert response.status_code == 200, response.content
    assert evaluation_cycle(now=(DEMO_START + pd.Timedelta(days=28)).to_pydatetime())["stored"] == 2


@pytest.mark.parametrize("how", TAMPERINGS)
def test_predict_refuses_a_tampered_artifact_with_409(admin_api, plant, tmp_path, how):
    (_, version), _ = plant
    marker = tmp_path / "marker"
    tamper(version, how, marker)
    before = state()
    response = admin_api.post(f"{API}baselines/{version.pk}/predict/", PREDICT_BODY, format="json")
    assert response.status_code == 409, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["model_id"] == str(version.pk) and "refused" in body["detail"]
    assert state() == before
    assert not marker.exists()


@pytest.mark.parametrize("how", TAMPERINGS)
def test_the_evaluation_cycle_refuses_a_tampered_artifact_and_goes_on(plant, tmp_path, caplog, how):
    (machine, version), (_, healthy) = plant
    marker = tmp_path / "marker"
    tamper(version, how, marker)
    with caplog.at_level(logging.WARNING):
        result = evaluation_cycle(now=(DEMO_START + pd.Timedelta(days=28)).to_pydatetime())
    assert not marker.exists()
    assert result["stored"] == 1
    assert ModelPerformanceMetric.objects.filter(model=healthy).count() == 1
    assert not ModelPerformanceMetric.objects.filter(model=version).exists()
    alert = ModelAlert.objects.get(model=version)
    assert alert.alert_type == "training_failed" and alert.severity == "critical"
    assert "refused" in alert.message and alert.details["cycle"] == "evaluation"
    assert any("refused the artifact" in r.getMessage() and str(version.pk) in r.getMessage()
               for r in caplog.records)
    # Refused again on the next cycle: the open alert counts it, nothing is loaded.
    evaluation_cycle(now=(DEMO_START + pd.Timedelta(days=28, hours=1)).to_pydatetime())
    assert ModelAlert.objects.get(pk=alert.pk).occurrences == 2
    assert not marker.exists()


@pytest.mark.parametrize("how", TAMPERINGS)
def test_drift_checks_refuse_a_tampered_artifact(admin_api, plant, tmp_path, caplog, how):
    (_, version), (_, healthy) = plant
    marker = tmp_path / "marker"
    tamper(version, how, marker)
    before = state()
    response = admin_api.post(f"{PERF}drift/check", {"model_id": str(version.pk)}, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["model_id"] == str(version.pk)
    assert state() == before
    with caplog.at_level(logging.WARNING):
        result = drift_cycle()
    assert result["refused"] == 1 and result["checked"] == 1
    assert ModelPerformanceMetric.objects.filter(model=healthy, source="drift_check").count() == 1
    assert ModelAlert.objects.get(model=version, alert_type="training_failed").details["cycle"] == "drift"
    assert any("drift cycle: refused the artifact" in r.getMessage() for r in caplog.records)
    assert not marker.exists()


@pytest.mark.parametrize("how", ["crafted-unsigned", "flipped-bytes"])
def test_an_ab_backtest_on_a_tampered_artifact_is_409_and_writes_nothing(admin_api, plant, tmp_path, how):
    (machine, version), _ = plant
    other = EnergyBaseline.objects.create(machine=machine, **{**_trained["v1"], "version": 2})
    marker = tmp_path / "marker"
    tamper(other, how, marker)
    before = state()
    response = admin_api.post(f"{PERF}ab-test/start", {
        "name": "tampered", "model_a_id": str(version.pk), "model_b_id": str(other.pk), "min_samples": 24,
        "window_start": "2025-01-27T00:00:00Z", "window_end": "2025-02-03T00:00:00Z"}, format="json")
    assert response.status_code == 409, response.content
    assert state() == before
    assert not marker.exists()

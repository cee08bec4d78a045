"""The model registry sync and import against a real MLflow tracking server on loopback (SQLite
backend, local artifacts), started once for the module from the peer virtualenv."""

from __future__ import annotations

import io
import pathlib
import pickle
import tempfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from baselines.artifacts import pipeline_for
from baselines.models import EnergyBaseline
from baselines.services import baseline_activate, baseline_train
from performance.models import ModelABTest, RegistryLink, RegistryOutbox
from performance.services.abtests import abtest_complete, abtest_start
from performance.services.registry import registry_drain, registry_request_sync, registry_sweep
from performance.services.training import training_trigger
from tests.factories import ModelPerformanceMetricFactory
from tests.mlflow_peer import MlflowServer, free_port, peer_missing

from .conftest import START, load_machine

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def mlflow_server():
    reason = peer_missing()
    if reason:
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="enms-mlflow-") as tmp:
        server = MlflowServer(pathlib.Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def mlflow(mlflow_server, settings):
    from mlflow import MlflowClient

    settings.MLFLOW_TRACKING_URI = mlflow_server.uri
    settings.MLFLOW_EXPERIMENT_NAME = "enms-tests"
    return MlflowClient(tracking_uri=mlflow_server.uri, registry_uri=mlflow_server.uri)


@pytest.fixture
def machine(db):
    return load_machine("Compressor C2", days=35)


def _name(machine) -> str:
    return f"enms-{machine.pk}-energy_baseline"


def _runs(client, baseline):
    experiment = client.get_experiment_by_name("enms-tests")
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`enms.version_id` = '{baseline.pk}'")


def _versions(client, baseline):
    return client.search_model_versions(f"name = '{_name(baseline.machine)}' and tags.`enms.version_id` = "
                                        f"'{baseline.pk}'")


def _aliases(client, machine) -> dict:
    return dict(client.get_registered_model(_name(machine)).aliases)


def test_a_trained_version_is_logged_registered_and_champion(mlflow, machine):
    job = training_trigger(machine=machine, model_type="energy_baseline")
    job.refresh_from_db()
    version = job.new_model
    assert job.status == "completed" and version.status == "active"
    assert not RegistryOutbox.objects.filter(sent_at__isnull=True).exists()

    [run] = _runs(mlflow, version)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["algorithm"] == version.algorithm == "ridge"
    assert params["training_start"] == version.training_start.isoformat()
    assert params["drivers"] == ",".join(sorted(version.driver_ranges))
    assert params["hp.alpha"] == "1.0" and params["hp.time_zone"] == machine.time_zone
    balance = version.hyperparameters["balance_points"]
    assert {k: params[f"balance.{k}"] for k in balance} == {k: "" if v is None else str(v) for k, v in balance.items()}
    assert metrics["train_rmse"] == pytest.approx(version.training_metrics["rmse"])
    assert metrics["holdout_cv_rmse"] == pytest.approx(version.holdout_metrics["cv_rmse"])
    assert tags["enms.version"] == "1" and tags["enms.logged"] == "true"
    artifacts = {a.path for a in mlflow.list_artifacts(run.info.run_id, "model")}
    assert artifacts == {"model/model.skops", "model/model.skops.sig", "model/model_card.md"}
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.download_artifacts(run.info.run_id, "model", tmp)
        assert pathlib.Path(local, "model.skops").read_bytes() == bytes(version.artifact)
        assert pathlib.Path(local, "model.skops.sig").read_text().strip() == version.artifact_signature
        assert "holdout (out-of-sample)" in pathlib.Path(local, "model_card.md").read_text()

    [registered] = _versions(mlflow, version)
    assert registered.tags["enms.version_id"] == str(version.pk) and registered.tags["enms.version"] == "1"
    assert registered.tags["enms.status"] == "active" and registered.run_id == run.info.run_id
    assert _aliases(mlflow, machine) == {"champion": registered.version}
    link = RegistryLink.objects.get(model=version)
    assert (link.run_id, link.model_version) == (run.info.run_id, registered.version)


def test_aliases_follow_activation_and_ab_tests(mlflow, machine):
    first = baseline_train(machine=machine)
    baseline_activate(baseline=first)
    second = baseline_train(machine=machine, training_start=START.to_pydatetime() + timedelta(days=7))
    v1, v2 = (_versions(mlflow, b)[0].version for b in (first, second))
    assert _aliases(mlflow, machine) == {"champion": v1}
    assert _versions(mlflow, second)[0].tags["enms.status"] == "candidate"

    test = abtest_start(name="live", model_a=first, model_b=second)
    assert _aliases(mlflow, machine) == {"champion": v1, "challenger": v2}
    # A test stopped by staff: the challenger alias is cleared (by the service's outbox row, or
    # by the sweep for any caller that changes the status without one).
    ModelABTest.objects.filter(pk=test.pk).update(status="stopped", completed_at=timezone.now())
    registry_sweep()
    assert _aliases(mlflow, machine) == {"champion": v1}

    test = abtest_start(name="live again", model_a=first, model_b=second)
    assert _aliases(mlflow, machine)["challenger"] == v2
    ModelABTest.objects.filter(pk=test.pk).update(ends_at=test.started_at + timedelta(seconds=1))
    abtest_complete(test_id=test.pk)
    assert _aliases(mlflow, machine) == {"champion": v1}

    baseline_activate(baseline=second)
    assert _aliases(mlflow, machine) == {"champion": v2}
    assert _versions(mlflow, first)[0].tags["enms.status"] == "retired"
    assert _versions(mlflow, second)[0].tags["enms.status"] == "active"


def test_mlflow_down_during_training_then_synced_once_without_duplicates(mlflow, machine, settings, mlflow_server):
    settings.MLFLOW_TRACKING_URI = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    job = training_trigger(machine=machine, model_type="energy_baseline")
    job.refresh_from_db()
    assert job.status == "completed" and job.new_model.status == "active"
    rows = list(RegistryOutbox.objects.filter(sent_at__isnull=True))
    assert len(rows) >= 2 and all(r.attempts == 1 and r.last_error for r in rows)
    assert all(r.next_attempt_at > timezone.now() for r in rows)
    pending = RegistryOutbox.objects.filter(sent_at__isnull=True)

    settings.MLFLOW_TRACKING_URI = mlflow_server.uri
    assert registry_sweep()["sent"] == 0  # still backing off
    result = registry_sweep(now=timezone.now() + timedelta(minutes=2))
    assert result["failed"] == 0 and not pending.exists()
    version = job.new_model
    assert len(_runs(mlflow, version)) == 1 and len(_versions(mlflow, version)) == 1
    assert _aliases(mlflow, machine) == {"champion": _versions(mlflow, version)[0].version}

    # Sent again, and even with our record of the run lost: found by its tag, nothing created twice.
    RegistryLink.objects.filter(model=version).delete()
    assert registry_request_sync(baselines=[version]) == 1
    assert not pending.exists()
    assert len(_runs(mlflow, version)) == 1 and len(_versions(mlflow, version)) == 1
    assert registry_drain()["sent"] == 0


def test_later_evaluations_are_added_to_the_run_at_their_time(mlflow, machine):
    version = baseline_activate(baseline=baseline_train(machine=machine))
    evaluated = [timezone.now() - timedelta(hours=h) for h in (2, 1)]
    for at, rmse in zip(evaluated, (3.0, 4.0), strict=True):
        ModelPerformanceMetricFactory(model=version, evaluated_at=at, rmse=rmse)
    assert registry_sweep()["queued"] == 1
    run_id = RegistryLink.objects.get(model=version).run_id
    history = sorted(mlflow.get_metric_history(run_id, "eval_rmse"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == [(int(at.timestamp()), v) for at, v in zip(evaluated, (3.0, 4.0),
                                                                                              strict=True)]
    assert registry_sweep()["queued"] == 0  # nothing new


def _log_folder(client, files: dict[str, bytes], name: str) -> str:
    """Upload a model folder as run artifacts and register it; returns its models:/ URI."""
    experiment = client.get_experiment_by_name("enms-tests") or client.get_experiment(
        client.create_experiment("enms-tests"))
    run = client.create_run(experiment.experiment_id)
    with tempfile.TemporaryDirectory() as tmp:
        for relative, data in files.items():
            path = pathlib.Path(tmp, relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        client.log_artifacts(run.info.run_id, tmp, "model")
    try:
        client.create_registered_model(name)
    except Exception:
        pass
    registered = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return f"models:/{name}/{registered.version}"


def _skops_of_a_fit(machine) -> bytes:
    from baselines.engine.artifacts import serialize_pipeline
    from baselines.engine.fit import fit_baseline
    from baselines.selectors import readings_frame

    frame = readings_frame(machine_ids=[machine.pk]).drop(columns=["machine_id"])
    return serialize_pipeline(fit_baseline(frame, time_zone=machine.time_zone).pipeline)[0]


MLMODEL_SKOPS = b"""flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.skops
  sklearn:
    pickled_model: model.skops
    serialization_format: skops
"""


def test_import_of_a_safe_skops_model_makes_a_signed_candidate(mlflow, machine):
    uri = _log_folder(mlflow, {"model.skops": _skops_of_a_fit(machine), "MLmodel": MLMODEL_SKOPS,
                               "requirements.txt": b"scikit-learn\n"}, "external-baseline")
    out = io.StringIO()
    call_command("mlflow_import", uri, "--machine", machine.name, stdout=out)
    imported = EnergyBaseline.objects.get(machine=machine)
    assert imported.status == "candidate" and imported.version == 1 and imported.algorithm == "ridge"
    assert imported.hyperparameters["source_uri"] == uri and "v1" in out.getvalue()
    assert imported.holdout_metrics["n"] > 500 and imported.holdout_metrics["cv_rmse"] < 0.3
    assert pipeline_for(imported) is not None  # the signature we gave it holds
    link = RegistryLink.objects.get(model=imported)
    assert link.source_uri == uri and link.model_version  # and it is registered under our name too
    assert _runs(mlflow, imported)[0].data.tags["enms.source_uri"] == uri


@pytest.mark.parametrize("files, reason", [
    ({"model.pkl": pickle.dumps({"a": 1}), "MLmodel": b"flavors:\n  python_function:\n    loader_module: "
      b"mlflow.sklearn\n    model_path: model.pkl\n"}, "pickle"),
    ({"python_model.pkl": pickle.dumps([1]), "code/model.py": b"print(1)\n",
      "MLmodel": b"flavors:\n  python_function:\n    python_model: python_model.pkl\n    loader_module: "
                 b"mlflow.pyfunc.model\n"}, "code"),
    ({"MLmodel": b"flavors:\n  python_function:\n    python_model: python_model.bin\n    loader_module: "
                 b"mlflow.pyfunc.model\n", "model.skops": b"x"}, "pyfunc"),
])
def test_import_refuses_pickles_and_pyfunc_code_and_creates_nothing(mlflow, machine, files, reason):
    uri = _log_folder(mlflow, files, f"unsafe-{reason}")
    with pytest.raises(CommandError, match=reason):
        call_command("mlflow_import", uri, "--machine", str(machine.pk))
    assert not EnergyBaseline.objects.exists() and not RegistryLink.objects.exists()
    assert not RegistryOutbox.objects.exists()

"""The model registry outbox without a server: rows written only with MLFLOW_TRACKING_URI and only
with the change's transaction, no network call without it, the content logged for a version, and
what an import accepts (checked on local folders, nothing loaded)."""

from __future__ import annotations

import os
import pickle
import socket
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from baselines.engine.artifacts import serialize_pipeline
from baselines.services import baseline_activate, baseline_train
from performance.models import RegistryOutbox
from performance.registry.content import evaluation_points, model_card, version_metrics, version_params
from performance.services.abtests import abtest_start
from performance.services.registry import backoff_seconds, registry_drain, registry_sweep
from performance.services.registry_import import ImportRefused, inspect_model_folder
from performance.services.training import training_trigger
from tests.factories import EnergyBaselineFactory, ModelPerformanceMetricFactory

from .conftest import START, load_machine


@pytest.fixture
def machine(db):
    return load_machine("Compressor C2", days=35)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test (and is counted)."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network call attempted: {args[1:] if len(args) > 1 else args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.mark.django_db(transaction=True)
def test_without_a_tracking_uri_nothing_is_written_or_sent(machine, settings, no_network):
    settings.MLFLOW_TRACKING_URI = ""
    job = training_trigger(machine=machine, model_type="energy_baseline")
    job.refresh_from_db()
    assert job.status == "completed"
    second = baseline_train(machine=machine, training_start=START.to_pydatetime() + timedelta(days=7))
    abtest_start(name="live", model_a=job.new_model, model_b=second)
    baseline_activate(baseline=second)
    assert registry_sweep() == {"queued": 0, "sent": 0, "failed": 0, "groups": 0}
    assert registry_drain()["sent"] == 0
    assert not RegistryOutbox.objects.exists() and no_network == []


@pytest.mark.django_db(transaction=True)
def test_rows_are_written_with_the_change_and_only_if_it_commits(machine, settings, monkeypatch):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    monkeypatch.setattr("performance.services.registry.registry_dispatch", lambda: False)  # no drain
    first = baseline_train(machine=machine)
    assert list(RegistryOutbox.objects.values_list("event", "model_id")) == [("trained", first.pk)]
    with pytest.raises(RuntimeError), transaction.atomic():
        baseline_activate(baseline=first)
        raise RuntimeError("the activation is rolled back")
    assert RegistryOutbox.objects.count() == 1
    baseline_activate(baseline=first)
    second = baseline_train(machine=machine, training_start=START.to_pydatetime() + timedelta(days=7))
    abtest_start(name="live", model_a=first, model_b=second)
    events = list(RegistryOutbox.objects.order_by("id").values_list("event", "model_id"))
    assert events == [("trained", first.pk), ("activated", first.pk), ("trained", second.pk),
                      ("ab_started", second.pk)]


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_registry_leaves_rows_pending_with_backoff(machine, settings):
    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"  # discard port: connection refused
    baseline_train(machine=machine)
    [row] = RegistryOutbox.objects.all()
    assert row.sent_at is None and row.attempts == 1 and "MLflow" in row.last_error
    assert row.claimed_until is None and row.next_attempt_at > timezone.now()
    assert registry_drain()["sent"] == 0  # not due yet: nothing is tried
    later = row.next_attempt_at + timedelta(seconds=1)
    assert registry_drain(now=later)["failed"] == 1
    row.refresh_from_db()
    assert row.attempts == 2 and row.next_attempt_at == later + timedelta(seconds=backoff_seconds(2))
    assert [backoff_seconds(n) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_params_metrics_and_card_describe_the_version():
    version = EnergyBaselineFactory.build(
        hyperparameters={"alpha": 1.0, "balance_points": {"heat_balance_c": 14.5, "cool_balance_c": None},
                         "time_zone": "Europe/Berlin", "selection": {"long": "x" * 5000}},
        driver_ranges={"outdoor_temp_c": [-5, 30], "production_units": [0, 100]},
        holdout_metrics={"rmse": 2.5, "cv_rmse": 0.06, "nmbe": float("nan"), "ashrae": {"passes": True},
                         "blocked_folds": {"k": 5, "rmse": 2.4}, "basis": "out-of-sample"},
    )
    params = version_params(version)
    assert params["algorithm"] == "ridge" and params["hp.alpha"] == "1.0"
    assert params["balance.heat_balance_c"] == "14.5" and params["balance.cool_balance_c"] == ""
    assert params["drivers"] == "outdoor_temp_c,production_units" and "hp.selection" not in params
    assert params["training_start"] == version.training_start.isoformat()
    assert all(len(v) <= 500 for v in params.values())
    metrics = version_metrics(version)
    assert metrics == {"train_rmse": 2.0, "train_cv_rmse": 0.05, "train_nmbe": 0.0, "train_r_squared": 0.9,
                       "holdout_rmse": 2.5, "holdout_cv_rmse": 0.06, "cv_k": 5.0, "cv_rmse": 2.4}
    card = model_card(version, machine_name="Compressor 9")
    assert card.startswith("# Compressor 9: energy_baseline v") and "| rmse | 2 | 2.5 |" in card
    assert "ASHRAE Guideline 14 on the holdout: passes" in card
    row = ModelPerformanceMetricFactory.build(model=version, rmse=3.0, mape=None, nmbe=float("inf"))
    points = dict((k, (v, ms, step)) for k, v, ms, step in evaluation_points([row]))
    assert points["eval_rmse"] == (3.0, int(row.evaluated_at.timestamp() * 1000), int(row.evaluated_at.timestamp()))
    assert "eval_mape" not in points and "eval_nmbe" not in points


def _folder(tmp_path, files: dict[str, bytes]):
    for relative, data in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return tmp_path


@pytest.fixture(scope="module")
def engine_skops() -> bytes:
    from baselines.demo import PLANT, machine_readings
    from baselines.engine.fit import fit_baseline

    spec = next(s for s in PLANT if s.name == "Compressor C2")
    frame = machine_readings(spec, START, 21).reset_index(drop=True)
    return serialize_pipeline(fit_baseline(frame, time_zone=spec.time_zone).pipeline)[0]


def test_import_accepts_one_engine_skops_with_text_metadata(tmp_path, engine_skops):
    folder = _folder(tmp_path, {"model.skops": engine_skops, "MLmodel": b"flavors:\n  sklearn:\n    "
                                b"serialization_format: skops\n", "conda.yaml": b"name: x\n", "README.md": b"#"})
    assert inspect_model_folder(folder) == engine_skops


def test_import_refuses_skops_types_outside_the_allow_list(tmp_path):
    import skops.io as sio
    from sklearn.linear_model import Lasso
    from sklearn.tree import DecisionTreeRegressor

    x, y = [[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0]
    folder = _folder(tmp_path / "lasso", {"model.skops": sio.dumps(Lasso().fit(x, y))})
    with pytest.raises(ImportRefused, match=r"outside the allow-list: .*_coordinate_descent.Lasso"):
        inspect_model_folder(folder)
    folder = _folder(tmp_path / "tree", {"model.skops": sio.dumps(DecisionTreeRegressor().fit(x, y))})
    with pytest.raises(ImportRefused, match="TreeNode"):
        inspect_model_folder(folder)


@pytest.mark.parametrize("files, reason", [
    ({"model.pkl": pickle.dumps({"a": 1})}, "pickle"),
    ({"model.bin": pickle.dumps({"a": 1}), "model.skops": b"x"}, "pickle"),
    ({"model.skops": b"x", "code/helpers.py": b"import os\n"}, "Python code"),
    ({"model.skops": b"x", "MLmodel": b"flavors:\n  python_function:\n    python_model: m.bin\n"}, "pyfunc"),
    ({"model.skops": b"x", "MLmodel": b"flavors:\n  python_function:\n    loader_module: evil\n"}, "evil"),
    ({"model.skops": b"x", "MLmodel": b"flavors:\n  sklearn:\n    serialization_format: cloudpickle\n"},
     "cloudpickle"),
    ({"model.skops": b"x", "weights.onnx": b"\x08\x01"}, "neither the skops file"),
    ({"MLmodel": b"flavors: {}\n"}, "no .skops file"),
    ({"a.skops": b"x", "b.skops": b"x"}, "2 .skops files"),
    ({"model.skops": b"not a zip"}, "not readable"),
])
def test_import_refuses_everything_else_with_the_reason(tmp_path, files, reason):
    with pytest.raises(ImportRefused, match=reason):
        inspect_model_folder(_folder(tmp_path, files))


@pytest.mark.django_db
def test_admin_shows_the_mlflow_links_and_queues_a_sync(client, superuser, settings, monkeypatch):
    from django.urls import reverse

    from performance.models import RegistryLink

    settings.MLFLOW_TRACKING_URI = "http://mlflow.example:5000"
    monkeypatch.setattr("performance.services.registry.registry_dispatch", lambda: False)
    version = EnergyBaselineFactory()
    RegistryLink.objects.create(model=version, experiment_id="3", run_id="abc123", registered_model="enms-m-e",
                                model_version="7")
    client.force_login(superuser)
    page = client.get(reverse("admin:baselines_energybaseline_change", args=[version.pk])).content.decode()
    assert 'href="http://mlflow.example:5000/#/experiments/3/runs/abc123"' in page
    assert 'href="http://mlflow.example:5000/#/models/enms-m-e/versions/7"' in page
    listing = client.get(reverse("admin:baselines_energybaseline_changelist")).content.decode()
    assert "enms-m-e v7" in listing
    response = client.post(reverse("admin:baselines_energybaseline_changelist"),
                           {"action": "registry_sync_now", "_selected_action": [str(version.pk)]})
    assert response.status_code == 302
    assert list(RegistryOutbox.objects.values_list("event", "model_id")) == [("sync_requested", version.pk)]
    assert client.get(reverse("admin:performance_registryoutbox_changelist")).status_code == 200


def test_the_product_loads_without_importing_mlflow():
    import subprocess
    import sys

    code = ("import sys, django; django.setup(); import enms.urls, performance.admin, performance.tasks, "
            "performance.services.registry, performance.services.registry_import; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DJANGO_SETTINGS_MODULE": "enms.settings.test"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


@pytest.mark.django_db
def test_without_the_client_package_rows_stay_pending_with_the_reason(settings, monkeypatch):
    import sys

    settings.MLFLOW_TRACKING_URI = "http://127.0.0.1:9"
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    monkeypatch.setattr("performance.registry.client.Registry._shared", {})
    version = EnergyBaselineFactory()
    RegistryOutbox.objects.create(machine=version.machine, model_type=version.model_type, model=version,
                                  event="trained")
    assert registry_drain()["failed"] == 1
    row = RegistryOutbox.objects.get()
    assert row.sent_at is None and "mlflow-skinny is not installed" in row.last_error

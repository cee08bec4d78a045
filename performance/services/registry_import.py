"""Importing a model version from MLflow as a candidate: only a skops pipeline whose every type is on
the engine's allow-list, signed here on import. Nothing from MLflow is ever executed or unpickled:
the downloaded folder is read as files, its `MLmodel` as plain YAML, the skops schema audited
before anything is constructed."""

from __future__ import annotations

import hashlib
import pathlib
import tempfile
from datetime import timedelta

import yaml
from django.db import transaction

from baselines.models import BaselineStatus, EnergyBaseline, Machine, ModelType
from enms.policy import policy_for
from enms.users import acting_user

from ..models import RegistryEvent, RegistryLink
from ..registry.client import VERSION_ID_TAG, Registry, RegistryError, registry_configured
from .registry import registry_record

#: Largest skops file accepted (the engine's pipelines are well under a megabyte).
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
#: Besides the one `.skops` file, a model folder may hold only these (text metadata).
METADATA_SUFFIXES = frozenset({".md", ".txt", ".json", ".yaml", ".yml", ".sig"})
METADATA_NAMES = frozenset({"MLmodel"})
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".cloudpickle", ".dill", ".pt", ".pth", ".sav"})
#: The only pyfunc loader accepted in an MLmodel file (the sklearn flavor; we never call it).
ACCEPTED_LOADERS = frozenset({"mlflow.sklearn"})
ALGORITHM_NAMES = {"Ridge": "ridge", "LinearRegression": "linear", "HistGradientBoostingRegressor": "gbr",
                   "DummyRegressor": "mean"}


class ImportRefused(Exception):
    """The model cannot be imported; the message says why. Nothing was created."""


def _looks_pickled(path: pathlib.Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _check_mlmodel(path: pathlib.Path) -> None:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise ImportRefused(f"its MLmodel file is not readable YAML ({exc})") from None
    flavors = (spec or {}).get("flavors") or {}
    if not isinstance(flavors, dict):
        raise ImportRefused("its MLmodel file has no flavors mapping")
    pyfunc = flavors.get("python_function") or {}
    if pyfunc.get("python_model") or pyfunc.get("cloudpickle_version"):
        raise ImportRefused("it is a pyfunc model with Python code (python_model); only skops pipelines are accepted")
    loader = pyfunc.get("loader_module")
    if loader and loader not in ACCEPTED_LOADERS:
        raise ImportRefused(f"its pyfunc flavor loads through {loader!r}; only skops pipelines are accepted")
    for name, flavor in flavors.items():
        if isinstance(flavor, dict) and (flavor.get("code") or flavor.get("code_paths")):
            raise ImportRefused(f"its {name} flavor ships Python code; only skops pipelines are accepted")
    sklearn = flavors.get("sklearn") or {}
    if sklearn and sklearn.get("serialization_format") not in (None, "skops"):
        raise ImportRefused(f"its sklearn flavor is serialised as {sklearn.get('serialization_format')!r}, "
                            "not skops")


def inspect_model_folder(folder: pathlib.Path) -> bytes:
    """The bytes of the one skops file of a downloaded model folder, after checking that nothing
    else in it is code or a pickle and that the skops schema names only allowed types.
    Raises `ImportRefused` with the reason."""
    from baselines.engine.artifacts import UntrustedArtifactError, audit_artifact

    folder = pathlib.Path(folder)
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    skops_files = []
    for path in files:
        relative = path.name if path == folder else str(path.relative_to(folder))
        parts = pathlib.PurePath(relative).parts
        if "code" in parts[:-1] or path.suffix == ".py":
            raise ImportRefused(f"it ships Python code ({relative}); only skops pipelines are accepted")
        if path.suffix.lower() in PICKLE_SUFFIXES or (path.suffix != ".skops" and _looks_pickled(path)):
            raise ImportRefused(f"it holds a pickle ({relative}); pickles are never loaded")
        if path.suffix == ".skops":
            skops_files.append(path)
        elif path.name in METADATA_NAMES:
            _check_mlmodel(path)
        elif path.suffix.lower() not in METADATA_SUFFIXES:
            raise ImportRefused(f"it holds {relative}, which is neither the skops file nor text metadata")
    if not skops_files:
        raise ImportRefused("it holds no .skops file; only skops pipelines are accepted")
    if len(skops_files) > 1:
        raise ImportRefused(f"it holds {len(skops_files)} .skops files; exactly one is expected")
    path = skops_files[0]
    if path.stat().st_size > MAX_ARTIFACT_BYTES:
        raise ImportRefused(f"its skops file is larger than {MAX_ARTIFACT_BYTES // 2**20} MiB")
    data = path.read_bytes()
    try:
        audit_artifact(data)
    except UntrustedArtifactError as exc:
        raise ImportRefused(str(exc)) from None
    return data


def _scored_on_readings(machine: Machine, pipeline) -> tuple[dict, dict]:
    """Metrics of the imported pipeline on the machine's latest readings (the retraining window),
    and the ranges of the drivers it uses there."""
    import numpy as np

    from baselines.engine.fit import predict
    from baselines.engine.metrics import ashrae_check, regression_metrics
    from baselines.selectors import readings_frame

    last = machine.readings.order_by("-timestamp").values_list("timestamp", flat=True).first()
    if last is None:
        return {}, {}
    days = int(policy_for(machine).get("retrain_window_days", 60))
    start = last - timedelta(days=days) + timedelta(hours=1)
    frame = readings_frame(machine_ids=[machine.pk], start=start, end=last + timedelta(hours=1))
    drivers = list(pipeline.named_steps["features"].drivers_)
    frame = frame[~frame["is_anomaly"]]
    try:
        predicted = np.asarray(predict(pipeline, frame), dtype=float)
    except ValueError as exc:
        raise ImportRefused(f"it cannot score this machine's readings: {exc}") from None
    ok = np.isfinite(predicted)
    if ok.sum() < 2:
        raise ImportRefused("it predicts none of this machine's recent readings")
    y = frame["energy_kwh"].to_numpy(dtype=float)
    metrics = regression_metrics(y[ok], predicted[ok], 0)
    interval = pipeline.named_steps["features"].interval_
    ranges = {d: [float(frame[d][ok].min()), float(frame[d][ok].max())] for d in drivers}
    return {**metrics, "ashrae": ashrae_check(metrics, interval),
            "basis": f"imported: the machine's readings from {frame['timestamp'].iloc[0].isoformat()} to "
                     f"{frame['timestamp'].iloc[-1].isoformat()}, scored on import (the imported model may "
                     "have seen them)"}, ranges


def registry_import(*, uri: str, machine: Machine, model_type: str = ModelType.ENERGY_BASELINE, user=None,
                    registry: Registry | None = None) -> EnergyBaseline:
    """Register the model behind an MLflow URI (`models:/name/3`, `models:/name@champion`,
    `runs:/<run>/model`) as a new candidate version of `machine`, signed with our key.

    Refused (`ImportRefused`, nothing created) unless the artifacts are one skops pipeline of the
    engine's types with only text metadata beside it: no pickle, no pyfunc code, no other type.
    """
    from baselines.artifacts import artifact_sign, artifact_signing_key
    from baselines.engine.artifacts import ArtifactRefusedError, load_pipeline

    if model_type != ModelType.ENERGY_BASELINE:
        raise ImportRefused("only energy baselines can be imported (an anomaly detector is built on one)")
    if not registry_configured():
        raise ImportRefused("MLFLOW_TRACKING_URI is not set")
    registry = registry or Registry()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder, source_tags = registry.download(uri=uri, destination=pathlib.Path(tmp) / "model")
        except RegistryError as exc:
            raise ImportRefused(str(exc)) from None
        data = inspect_model_folder(folder)
    signature = artifact_sign(data)
    try:
        pipeline = load_pipeline(data, signature, artifact_signing_key())
    except ArtifactRefusedError as exc:
        raise ImportRefused(str(exc)) from None
    features = pipeline.named_steps["features"]
    if not hasattr(features, "drivers_"):
        raise ImportRefused("its pipeline is not fitted")
    holdout, ranges = _scored_on_readings(machine, pipeline)
    estimator = type(pipeline.steps[-1][1]).__name__
    with transaction.atomic():
        Machine.objects.select_for_update().filter(pk=machine.pk).first()
        last = (EnergyBaseline.objects.filter(machine=machine, model_type=model_type)
                .order_by("-version").values_list("version", flat=True).first())
        baseline = EnergyBaseline.objects.create(
            machine=machine, model_type=model_type, version=(last or 0) + 1, status=BaselineStatus.CANDIDATE,
            algorithm=ALGORITHM_NAMES.get(estimator, estimator.lower()),
            features=[str(n) for n in features.feature_names_out_],
            hyperparameters={"source_uri": uri, "balance_points": {"heating": features.heat_balance_c,
                                                                   "cooling": features.cool_balance_c},
                             "time_zone": features.time_zone, "source_version_id": source_tags.get(VERSION_ID_TAG)},
            data_interval=features.interval_, holdout_metrics=holdout, driver_ranges=ranges,
            artifact=data, artifact_sha256=hashlib.sha256(data).hexdigest(), artifact_signature=signature,
            notes=f"imported from MLflow: {uri}", created_by=acting_user(user),
        )
        RegistryLink.objects.create(model=baseline, source_uri=uri[:1000])
        registry_record(machine_id=machine.pk, model_type=model_type, model=baseline, event=RegistryEvent.IMPORTED)
    baseline.refresh_from_db()
    return baseline

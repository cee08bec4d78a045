"""Serialised pipelines: round trips, signatures, the exact type allow-list and hostile artifacts."""

import hashlib
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Lasso
from sklearn.pipeline import Pipeline

from baselines.engine import artifacts
from baselines.engine.artifacts import (
    ArtifactIntegrityError,
    UntrustedArtifactError,
    allowed_type_names,
    artifact_type_names,
    audit_artifact,
    load_pipeline,
    serialize_pipeline,
    sign_artifact,
)
from baselines.engine.features import EnergyFeatures
from baselines.engine.fit import ALGORITHMS, coefficients, fit_baseline, predict

from .crafted import crafted_artifact
from .synthetic import daily_frame, hourly_frame

KEY = b"k" * 32


def _signed(pipeline, key=KEY):
    data, digest = serialize_pipeline(pipeline)
    return data, sign_artifact(data, key), digest


def test_serialize_round_trip(hourly_fit, hourly_df):
    data, signature, digest = _signed(hourly_fit.pipeline)
    assert isinstance(data, bytes) and digest == hashlib.sha256(data).hexdigest()
    assert signature.startswith("v1:") and len(signature) == 3 + 64
    assert sio.get_untrusted_types(data=data) == ["baselines.engine.features.EnergyFeatures"]
    loaded = load_pipeline(data, signature, KEY)
    assert np.array_equal(predict(loaded, hourly_df), predict(hourly_fit.pipeline, hourly_df))


def test_artifacts_written_before_the_package_split_still_load(hourly_fit, hourly_df, monkeypatch):
    # Versions stored earlier name the transformer by its old module path.
    monkeypatch.setattr(EnergyFeatures, "__module__", "baselines.engine")
    data, signature, _ = _signed(hourly_fit.pipeline)
    monkeypatch.undo()
    assert sio.get_untrusted_types(data=data) == ["baselines.engine.EnergyFeatures"]
    loaded = load_pipeline(data, signature, KEY)
    assert isinstance(loaded.named_steps["features"], EnergyFeatures)
    assert np.array_equal(predict(loaded, hourly_df), predict(hourly_fit.pipeline, hourly_df))


def test_serialize_round_trip_gbr(hourly_df):
    r = fit_baseline(hourly_df.iloc[: 24 * 30], hyperparameters={"algorithm": "gbr", "max_iter": 30})
    assert r.algorithm == "gbr" and coefficients(r.pipeline) is None
    data, signature, _ = _signed(r.pipeline)
    loaded = load_pipeline(data, signature, KEY)
    assert np.array_equal(predict(loaded, hourly_df), predict(r.pipeline, hourly_df))


def _fits():
    """Every kind of pipeline the engine fits: each of its algorithms (`fit.ALGORITHMS`, so a new
    one is covered as soon as it exists) on hourly and daily data, without time of week, and with
    no driver at all (the mean model)."""
    hourly = hourly_frame(days=40)
    daily = daily_frame()
    for algorithm in ALGORITHMS:
        quick = {"algorithm": algorithm, "max_iter": 10}
        yield algorithm, fit_baseline(hourly, hyperparameters=quick)
        yield f"{algorithm}-daily", fit_baseline(daily, hyperparameters=quick)
    yield "no-time-of-week", fit_baseline(hourly, hyperparameters={"time_of_week": False})
    yield "mean", fit_baseline(hourly[["timestamp", "energy_kwh"]], hyperparameters={"time_of_week": False})


def test_every_type_the_engine_writes_is_on_the_allow_list():
    """A new estimator or transformer in the engine must be added to ENGINE_CLASSES (or its
    state types to STATE_CLASSES): this fails on any type a fitted pipeline holds that the
    allow-list does not name."""
    seen = set()
    algorithms = set()
    for name, fit in _fits():
        data, signature, _ = _signed(fit.pipeline)
        declared = artifact_type_names(data)
        assert declared <= allowed_type_names(), (name, sorted(declared - allowed_type_names()))
        audit_artifact(data)
        load_pipeline(data, signature, KEY)
        seen |= declared
        algorithms.add(fit.algorithm)
    assert algorithms == {*ALGORITHMS, "mean"}
    # Every engine class really occurs in some fitted pipeline: the list holds nothing unused.
    assert {artifacts.type_name(c) for c in artifacts.ENGINE_CLASSES} <= seen


def test_the_allow_list_names_full_types_not_module_prefixes():
    names = allowed_type_names()
    assert "baselines.engine.features.EnergyFeatures" in names
    assert "baselines.engine.EnergyFeatures" in names  # the alias kept for earlier artifacts
    assert all(not n.endswith(".") for n in names)
    for name in ("sklearn.preprocessing._function_transformer.FunctionTransformer",
                 "numpy.testing._private.utils.runstring", "sklearn.linear_model._coordinate_descent.Lasso",
                 "builtins.eval", "baselines.engine.fit.predict"):
        assert name not in names


def test_a_scikit_learn_estimator_the_engine_does_not_write_is_refused(hourly_df):
    """skops itself trusts every scikit-learn estimator; the engine's list does not."""
    df = hourly_df.iloc[:200]
    pipe = Pipeline([("features", EnergyFeatures(drivers=["production_units", "outdoor_temp_c"], time_of_week=False)),
                     ("model", Lasso())])
    pipe.fit(df, df["energy_kwh"])
    data, signature, _ = _signed(pipe)
    assert sio.get_untrusted_types(data=data) == ["baselines.engine.features.EnergyFeatures"]
    with pytest.raises(UntrustedArtifactError, match="Lasso"):
        load_pipeline(data, signature, KEY)


def test_flipped_bytes_wrong_signature_and_wrong_key_are_refused(hourly_fit):
    data, signature, _ = _signed(hourly_fit.pipeline)
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(ArtifactIntegrityError, match="signature"):
        load_pipeline(bytes(tampered), signature, KEY)
    with pytest.raises(ArtifactIntegrityError):
        load_pipeline(data, "v1:" + "0" * 64, KEY)
    with pytest.raises(ArtifactIntegrityError):
        load_pipeline(data, hashlib.sha256(data).hexdigest(), KEY)  # the old checksum is no signature
    with pytest.raises(ArtifactIntegrityError, match="not signed"):
        load_pipeline(data, "", KEY)
    with pytest.raises(ArtifactIntegrityError):
        load_pipeline(data, signature, b"another key of thirty-two bytes!")
    assert issubclass(ArtifactIntegrityError, ValueError)


def test_the_signature_is_checked_before_anything_is_parsed(hourly_fit, monkeypatch):
    data, signature, _ = _signed(hourly_fit.pipeline)

    def must_not_parse(*args, **kwargs):
        raise AssertionError("parsed an artifact whose signature failed")

    monkeypatch.setattr(artifacts, "artifact_type_names", must_not_parse)
    monkeypatch.setattr(artifacts.sio, "loads", must_not_parse)
    monkeypatch.setattr(artifacts.sio, "get_untrusted_types", must_not_parse)
    with pytest.raises(ArtifactIntegrityError):
        load_pipeline(data + b"\0", signature, KEY)


class Foreign(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_untrusted_types_are_refused_even_when_signed(hourly_df):
    df = hourly_df.iloc[:100]
    pipe = Pipeline([("features", EnergyFeatures(time_of_week=False)), ("model", Foreign())])
    pipe.fit(df, df["energy_kwh"])
    data, signature, _ = _signed(pipe)  # signed (a leaked key), content is foreign
    with pytest.raises(UntrustedArtifactError, match="allow-list"):
        load_pipeline(data, signature, KEY)
    not_a_pipeline = sio.dumps(EnergyFeatures())
    with pytest.raises(UntrustedArtifactError, match="not a baseline pipeline"):
        load_pipeline(not_a_pipeline, sign_artifact(not_a_pipeline, KEY), KEY)
    garbage = b"not a zip file"
    with pytest.raises(UntrustedArtifactError, match="not readable"):
        load_pipeline(garbage, sign_artifact(garbage, KEY), KEY)


def test_a_bit_generator_name_hidden_in_state_is_refused():
    """skops rebuilds a random generator from a class name kept as a plain string in its state;
    a name other than the engine's bit generator is refused before anything is built."""
    fit = fit_baseline(hourly_frame(days=40), hyperparameters={"algorithm": "gbr", "max_iter": 5})
    data, _, _ = _signed(fit.pipeline)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    schema = files["schema.json"].decode()
    assert '\\"PCG64\\"' in schema
    files["schema.json"] = schema.replace('\\"PCG64\\"', '\\"seed\\"').encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    forged = buffer.getvalue()
    with pytest.raises(UntrustedArtifactError, match="numpy.random.seed"):
        load_pipeline(forged, sign_artifact(forged, KEY), KEY)


ROWS = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-05T08:00:00Z", "2026-01-05T09:00:00Z"]),
                     "production_units": [10.0, 12.0], "outdoor_temp_c": [5.0, 6.0]})


def test_the_crafted_function_transformer_artifact_is_live(tmp_path):
    """The hostile artifact really runs code when loaded the way skops allows (its types are all
    `numpy.*` names, which a prefix allow-list passed): so its refusal below means something."""
    marker = tmp_path / "marker"
    data = crafted_artifact(marker)
    untrusted = sio.get_untrusted_types(data=data)
    assert untrusted and all(name.startswith("numpy.") for name in untrusted)
    with pytest.raises(Exception):  # noqa: B017 - whatever breaks after the code ran
        predict(sio.loads(data, trusted=untrusted), ROWS)
    assert marker.read_text() == "code ran"


@pytest.mark.parametrize("signed", [True, False], ids=["validly-signed", "unsigned"])
def test_the_crafted_function_transformer_artifact_is_refused_and_runs_nothing(tmp_path, signed):
    marker = tmp_path / "marker"
    data = crafted_artifact(marker)
    signature = sign_artifact(data, KEY) if signed else "v1:" + hashlib.sha256(data).hexdigest()
    error = UntrustedArtifactError if signed else ArtifactIntegrityError
    with pytest.raises(error):
        load_pipeline(data, signature, KEY)
    with pytest.raises(UntrustedArtifactError, match="FunctionNode"):
        audit_artifact(data)
    assert not marker.exists()


def test_the_schema_walk_reads_every_node(hourly_fit):
    data, _, _ = _signed(hourly_fit.pipeline)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    assert schema["__loader__"] == "ObjectNode" and schema["__class__"] == "Pipeline"
    assert "sklearn.linear_model._ridge.Ridge" in artifact_type_names(data)


# --------------------------------------------------------------------------
# anomaly detector
# --------------------------------------------------------------------------


def test_pipelines_stored_before_local_time_load_as_utc(hourly_fit, hourly_df, monkeypatch):
    # Versions stored earlier have no time zone, occupancy or encoding in their state.
    original = EnergyFeatures.__getstate__

    def old_state(self):
        state = dict(original(self))
        for key in ("time_zone", "occupancy", "occupancy_split", "encoding"):
            state.pop(key)
        return state

    monkeypatch.setattr(EnergyFeatures, "__getstate__", old_state)
    data, signature, _ = _signed(hourly_fit.pipeline)
    monkeypatch.undo()
    loaded = load_pipeline(data, signature, KEY)
    features = loaded.named_steps["features"]
    assert features.time_zone is None and features.encoding == "linear" and features.occupancy is None
    assert np.array_equal(predict(loaded, hourly_df), predict(hourly_fit.pipeline, hourly_df))

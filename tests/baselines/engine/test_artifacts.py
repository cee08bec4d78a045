"""Serialised pipelines: round trips, tampering and untrusted types."""

import hashlib

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import Pipeline

from baselines.engine.artifacts import ArtifactIntegrityError, UntrustedArtifactError, load_pipeline, serialize_pipeline
from baselines.engine.features import EnergyFeatures
from baselines.engine.fit import coefficients, fit_baseline, predict


def test_serialize_round_trip(hourly_fit, hourly_df):
    data, digest = serialize_pipeline(hourly_fit.pipeline)
    assert isinstance(data, bytes) and len(digest) == 64
    assert sio.get_untrusted_types(data=data) == ["baselines.engine.features.EnergyFeatures"]
    loaded = load_pipeline(data, digest)
    assert np.array_equal(predict(loaded, hourly_df), predict(hourly_fit.pipeline, hourly_df))


def test_artifacts_written_before_the_package_split_still_load(hourly_fit, hourly_df, monkeypatch):
    # Versions stored earlier name the transformer by its old module path.
    monkeypatch.setattr(EnergyFeatures, "__module__", "baselines.engine")
    data, digest = serialize_pipeline(hourly_fit.pipeline)
    monkeypatch.undo()
    assert sio.get_untrusted_types(data=data) == ["baselines.engine.EnergyFeatures"]
    loaded = load_pipeline(data, digest)
    assert isinstance(loaded.named_steps["features"], EnergyFeatures)
    assert np.array_equal(predict(loaded, hourly_df), predict(hourly_fit.pipeline, hourly_df))


def test_serialize_round_trip_gbr(hourly_df):
    r = fit_baseline(hourly_df.iloc[: 24 * 30], hyperparameters={"algorithm": "gbr", "max_iter": 30})
    assert r.algorithm == "gbr" and coefficients(r.pipeline) is None
    data, digest = serialize_pipeline(r.pipeline)
    loaded = load_pipeline(data, digest)
    assert np.array_equal(predict(loaded, hourly_df), predict(r.pipeline, hourly_df))


def test_tampered_artifact_is_refused(hourly_fit):
    data, digest = serialize_pipeline(hourly_fit.pipeline)
    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(ArtifactIntegrityError):
        load_pipeline(bytes(tampered), digest)
    with pytest.raises(ArtifactIntegrityError):
        load_pipeline(data, "0" * 64)
    assert issubclass(ArtifactIntegrityError, ValueError)


class Foreign(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def test_untrusted_types_are_refused(hourly_df):
    df = hourly_df.iloc[:100]
    pipe = Pipeline([("features", EnergyFeatures(time_of_week=False)), ("model", Foreign())])
    pipe.fit(df, df["energy_kwh"])
    data, digest = serialize_pipeline(pipe)  # checksum matches, content is foreign
    with pytest.raises(UntrustedArtifactError, match="untrusted"):
        load_pipeline(data, digest)
    not_a_pipeline = sio.dumps(EnergyFeatures())
    with pytest.raises(UntrustedArtifactError):
        load_pipeline(not_a_pipeline, hashlib.sha256(not_a_pipeline).hexdigest())


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
    data, digest = serialize_pipeline(hourly_fit.pipeline)
    monkeypatch.undo()
    loaded = load_pipeline(data, digest)
    features = loaded.named_steps["features"]
    assert features.time_zone is None and features.encoding == "linear" and features.occupancy is None
    assert np.array_equal(predict(loaded, hourly_df), predict(hourly_fit.pipeline, hourly_df))

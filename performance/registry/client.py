"""The only code that talks to MLflow. `mlflow-skinny` is optional (requirements-mlflow.txt): it is
imported here, lazily, and only when `MLFLOW_TRACKING_URI` is set and something is to be sent.

MLflow's HTTP client retries a failed request seven times with exponential backoff by default
(minutes of waiting); the outbox already retries, so unless the MLflow variables say otherwise a
request is retried once and times out after ten seconds.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable
from typing import Any

from django.conf import settings

#: Tags on runs and registered versions that name our version (see shared API docs).
VERSION_ID_TAG = "enms.version_id"
VERSION_TAG = "enms.version"
STATUS_TAG = "enms.status"
LOGGED_TAG = "enms.logged"
SOURCE_TAG = "enms.source_uri"

HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


class RegistryError(Exception):
    """MLflow refused a request or could not be reached; the outbox row stays pending."""


class RegistryNotInstalled(RegistryError):
    """`MLFLOW_TRACKING_URI` is set but the optional `mlflow-skinny` package is not installed."""


def registry_configured() -> bool:
    """Whether anything is to be sent to MLflow at all."""
    return bool(getattr(settings, "MLFLOW_TRACKING_URI", ""))


def registered_model_name(*, machine_id: Any, model_type: str) -> str:
    """`enms-<machine_id>-<model_type>`: one registered model per machine and model type."""
    return f"enms-{machine_id}-{model_type}"


def _quote(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class Registry:
    """A thin wrapper over `MlflowClient` for what the sync needs; every failure is a `RegistryError`."""

    def __init__(self, *, tracking_uri: str | None = None, experiment_name: str | None = None):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        try:
            from mlflow import MlflowClient
        except ImportError as exc:
            raise RegistryNotInstalled(
                "MLFLOW_TRACKING_URI is set but mlflow-skinny is not installed (pip install -r "
                "requirements-mlflow.txt)") from exc
        self.tracking_uri = tracking_uri or settings.MLFLOW_TRACKING_URI
        self.experiment_name = experiment_name or settings.MLFLOW_EXPERIMENT_NAME
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        self._experiment_id: str | None = None

    _shared: dict[tuple[str, str], Registry] = {}

    @classmethod
    def shared(cls) -> Registry:
        """One client per process and configuration (the client and the experiment id are reused)."""
        key = (settings.MLFLOW_TRACKING_URI, settings.MLFLOW_EXPERIMENT_NAME)
        if key not in cls._shared:
            cls._shared[key] = cls(tracking_uri=key[0], experiment_name=key[1])
        return cls._shared[key]

    def _call(self, method: str, *args, **kwargs):
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:  # MlflowException, requests' connection errors, timeouts
            raise RegistryError(f"MLflow {method} failed: {exc}"[:2000]) from exc

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            experiment = self._call("get_experiment_by_name", self.experiment_name)
            if experiment is None:
                try:
                    self._experiment_id = self._call("create_experiment", self.experiment_name)
                except RegistryError:  # created meanwhile by another worker
                    experiment = self._call("get_experiment_by_name", self.experiment_name)
                    if experiment is None:
                        raise
                    self._experiment_id = experiment.experiment_id
            else:
                self._experiment_id = experiment.experiment_id
        return self._experiment_id

    # --- runs -------------------------------------------------------------------------------
    def find_run(self, *, version_id: str):
        """The run tagged with our version id (the oldest, should there ever be two)."""
        runs = self._call("search_runs", [self.experiment_id()],
                          filter_string=f"tags.`{VERSION_ID_TAG}` = {_quote(version_id)}",
                          order_by=["attributes.start_time ASC"], max_results=5)
        return runs[0] if runs else None

    def create_run(self, *, version_id: str, run_name: str, tags: dict[str, str], start_time_ms: int):
        return self._call("create_run", self.experiment_id(), start_time=start_time_ms, run_name=run_name,
                          tags={VERSION_ID_TAG: version_id, **tags})

    def log_version(self, *, run_id: str, params: dict[str, str], metrics: dict[str, float], timestamp_ms: int,
                    artifact_dir: pathlib.Path, artifact_path: str = "model") -> None:
        """Parameters, metrics and artifacts of a freshly trained version, then the `enms.logged` tag
        that says the run is complete (a retry after a failure halfway logs the same values again,
        which MLflow accepts)."""
        from mlflow.entities import Metric, Param

        items = [Param(k, v) for k, v in params.items()]
        points = [Metric(k, float(v), timestamp_ms, 0) for k, v in metrics.items()]
        if len(items) <= 100 and len(points) <= 900:  # MLflow's limits for one batch
            self._call("log_batch", run_id, params=items, metrics=points)
        else:
            for start in range(0, len(items), 100):
                self._call("log_batch", run_id, params=items[start:start + 100])
            self.log_metrics(run_id=run_id, points=[(m.key, m.value, m.timestamp, m.step) for m in points])
        self._call("log_artifacts", run_id, str(artifact_dir), artifact_path)
        self._call("set_tag", run_id, LOGGED_TAG, "true")
        self._call("set_terminated", run_id, "FINISHED")

    def log_metrics(self, *, run_id: str, points: Iterable[tuple[str, float, int, int]]) -> int:
        """Log (key, value, timestamp ms, step) points in batches of 1,000; returns how many."""
        from mlflow.entities import Metric

        metrics = [Metric(k, float(v), int(t), int(s)) for k, v, t, s in points]
        for start in range(0, len(metrics), 1000):
            self._call("log_batch", run_id, metrics=metrics[start:start + 1000])
        return len(metrics)

    def run_artifact_uri(self, *, run_id: str) -> str:
        return self._call("get_run", run_id).info.artifact_uri

    def run_is_logged(self, run) -> bool:
        return run.data.tags.get(LOGGED_TAG) == "true"

    # --- registered models ------------------------------------------------------------------
    def ensure_registered_model(self, *, name: str, description: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name, description=description)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise RegistryError(f"MLflow create_registered_model failed: {exc}"[:2000]) from exc
        except Exception as exc:
            raise RegistryError(f"MLflow create_registered_model failed: {exc}"[:2000]) from exc

    def find_model_version(self, *, name: str, version_id: str):
        found = self._call("search_model_versions",
                           f"name = {_quote(name)} and tags.`{VERSION_ID_TAG}` = {_quote(version_id)}")
        return min(found, key=lambda mv: int(mv.version)) if found else None

    def create_model_version(self, *, name: str, source: str, run_id: str, tags: dict[str, str],
                             description: str = ""):
        return self._call("create_model_version", name, source, run_id=run_id, tags=tags, description=description,
                          await_creation_for=30)

    def set_version_tag(self, *, name: str, version: str, key: str, value: str) -> None:
        self._call("set_model_version_tag", name, version, key, value)

    def set_alias(self, *, name: str, alias: str, version: str | None) -> None:
        """Point `alias` at `version`, or remove it (`None`; removing a missing alias is no error)."""
        if version is None:
            self._call("delete_registered_model_alias", name, alias)
        else:
            self._call("set_registered_model_alias", name, alias, version)

    def aliases(self, *, name: str) -> dict[str, str]:
        return dict(self._call("get_registered_model", name).aliases or {})

    # --- import -----------------------------------------------------------------------------
    def download(self, *, uri: str, destination: pathlib.Path) -> tuple[pathlib.Path, dict[str, str]]:
        """Download the artifacts behind `models:/<name>/<version>`, `models:/<name>@<alias>` or
        `runs:/<run id>/<path>`; also the registered version's tags (empty for a run). Nothing in
        them is loaded."""
        tags: dict[str, str] = {}
        if uri.startswith("models:/"):
            rest = uri[len("models:/"):]
            if "@" in rest:
                name, alias = rest.rsplit("@", 1)
                found = self._call("get_model_version_by_alias", name, alias)
            else:
                name, _, version = rest.rpartition("/")
                if not name or not version.isdigit():
                    raise RegistryError(f"{uri!r} is not models:/<name>/<version> or models:/<name>@<alias>")
                found = self._call("get_model_version", name, version)
            tags = dict(found.tags or {})
            source = self._call("get_model_version_download_uri", name, found.version)
        elif uri.startswith("runs:/"):
            source = uri
        else:
            raise RegistryError(f"{uri!r} is neither a models:/ nor a runs:/ URI")
        destination.mkdir(parents=True, exist_ok=True)
        if source.startswith("runs:/"):
            run_id, _, path = source[len("runs:/"):].partition("/")
            local = self._call("download_artifacts", run_id, path, str(destination))
        else:
            try:
                from mlflow.artifacts import download_artifacts

                local = download_artifacts(artifact_uri=source, dst_path=str(destination),
                                           tracking_uri=self.tracking_uri)
            except Exception as exc:
                raise RegistryError(f"MLflow download of {uri} failed: {exc}"[:2000]) from exc
        return pathlib.Path(local), tags

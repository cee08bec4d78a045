"""Loading fitted pipelines from baseline versions, verified and cached per process."""

from __future__ import annotations

from functools import lru_cache

from .engine.artifacts import load_pipeline
from .models import EnergyBaseline


@lru_cache(maxsize=2048)
def _load(sha256: str, data: bytes):
    return load_pipeline(data, sha256)


def pipeline_for(baseline: EnergyBaseline):
    """The fitted pipeline of a version. The artifact is immutable and keyed by its SHA-256, so
    caching by hash is safe; the hash is verified on first load."""
    data = baseline.artifact
    if data is None:
        data = EnergyBaseline.objects.values_list("artifact", flat=True).get(pk=baseline.pk)
    if data is None:
        raise ValueError(f"Baseline {baseline.pk} has no fitted artifact.")
    return _load(baseline.artifact_sha256, bytes(data))

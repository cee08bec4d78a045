"""Fitted pipelines as bytes and back: skops serialisation with integrity and type checks."""

from __future__ import annotations

import hashlib
import hmac
import zipfile

import skops.io as sio
from sklearn.pipeline import Pipeline

_TRUSTED_PREFIXES = ("baselines.engine.", "sklearn.", "numpy.")


class ArtifactIntegrityError(ValueError):
    """A stored model artifact does not match its recorded checksum."""


class UntrustedArtifactError(ArtifactIntegrityError):
    """A model artifact holds types outside the allowed modules."""


def serialize_pipeline(pipeline: Pipeline) -> tuple[bytes, str]:
    """skops bytes of ``pipeline`` and their SHA-256 hex digest."""
    data = sio.dumps(pipeline, compression=zipfile.ZIP_DEFLATED)
    return data, hashlib.sha256(data).hexdigest()


def load_pipeline(data: bytes, sha256: str) -> Pipeline:
    """Load a pipeline written by :func:`serialize_pipeline`.

    The SHA-256 is verified before anything is parsed; then only types from
    this module, scikit-learn and numpy are trusted. Raises
    :class:`ArtifactIntegrityError` on a checksum mismatch and
    :class:`UntrustedArtifactError` on any other type or a non-pipeline.
    """
    data = bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(digest, str(sha256).strip().lower()):
        raise ArtifactIntegrityError("model artifact checksum mismatch; refusing to load")
    try:
        needed = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise UntrustedArtifactError(f"model artifact is not readable: {exc}") from exc
    refused = [name for name in needed if not name.startswith(_TRUSTED_PREFIXES)]
    if refused:
        raise UntrustedArtifactError(f"model artifact holds untrusted types: {refused}")
    obj = sio.loads(data, trusted=list(needed))
    if not isinstance(obj, Pipeline) or "features" not in obj.named_steps:
        raise UntrustedArtifactError("model artifact is not a baseline pipeline")
    return obj

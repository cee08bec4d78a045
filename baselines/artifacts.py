"""Signing and loading the fitted pipelines of baseline versions, verified and cached per process.

The signing key comes from the configuration (`ENMS_ARTIFACT_KEY`), never from the database: a
row whose artifact was written by anyone but this product fails its signature and is not loaded.
Without the variable (local and test profiles only; production refuses to start without it) the
key is derived from `SECRET_KEY` as HMAC-SHA256(SECRET_KEY, "enms.artifact-signing-key.v1"), so
the two keys never coincide.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from functools import lru_cache

from django.conf import settings

from enms.errors import Conflict

from .engine.artifacts import ArtifactRefusedError, load_pipeline, sign_artifact
from .models import EnergyBaseline

logger = logging.getLogger(__name__)

_DERIVATION_CONTEXT = b"enms.artifact-signing-key.v1"


class ArtifactRefused(Conflict):
    """A version's stored model failed its signature or type checks and was not loaded (409)."""

    def __init__(self, baseline: EnergyBaseline, reason: str):
        super().__init__(
            f"The stored model of this version was refused and not loaded ({reason}). Train a new version, "
            "or re-sign the artifacts after a key rotation (manage.py resign_artifacts).",
            model_id=str(baseline.pk),
        )
        self.baseline = baseline
        self.reason = reason


def key_from_text(text: str) -> bytes:
    """The signing key given as text (an environment variable or a key file)."""
    return text.strip().encode("utf-8")


def artifact_signing_key() -> bytes:
    """The key that signs and verifies artifacts: `ENMS_ARTIFACT_KEY`, or one derived from
    `SECRET_KEY` where the profile allows it."""
    configured = getattr(settings, "ENMS_ARTIFACT_KEY", "") or ""
    if configured.strip():
        return key_from_text(configured)
    return hmac.new(settings.SECRET_KEY.encode("utf-8"), _DERIVATION_CONTEXT, hashlib.sha256).digest()


def artifact_sign(data: bytes) -> str:
    """The signature to store with a new artifact."""
    return sign_artifact(bytes(data), artifact_signing_key())


@lru_cache(maxsize=2048)
def _load(signature: str, data: bytes, key: bytes):
    return load_pipeline(data, signature, key)


def pipeline_for(baseline: EnergyBaseline):
    """The fitted pipeline of a version, loaded only if its signature and types check out.

    A version's artifact never changes, so a verified pipeline is cached by (signature, bytes,
    key). Raises `ArtifactRefused` (a 409 in the API) when the checks fail; the reason is logged.
    """
    data = baseline.artifact
    signature = baseline.artifact_signature
    if data is None:
        data, signature = EnergyBaseline.objects.values_list("artifact", "artifact_signature").get(pk=baseline.pk)
    if data is None:
        raise ValueError(f"Baseline {baseline.pk} has no fitted artifact.")
    try:
        return _load(signature or "", bytes(data), artifact_signing_key())
    except ArtifactRefusedError as exc:
        logger.warning("refused to load the artifact of baseline %s (machine %s): %s", baseline.pk,
                       baseline.machine_id, exc)
        raise ArtifactRefused(baseline, str(exc)) from None

"""Fitted pipelines as bytes and back: skops serialisation, signed with an HMAC and loaded only
when the signature holds and every type inside is one the engine writes.

Order of the checks on load (nothing is parsed before the first one passes):

1. the HMAC-SHA256 signature over the bytes, with a key the caller takes from its configuration
   (never from where the bytes are stored, so write access to the database is not enough to
   forge an artifact);
2. the skops schema: every node must use a loader from :data:`ALLOWED_LOADERS` and name a type on
   the exact allow-list built from :data:`ENGINE_CLASSES` and :data:`STATE_CLASSES` (full dotted
   names, no prefixes, no functions);
3. skops' own audit of what it would materialise (it also sees names hidden in state, such as a
   random generator's bit generator), against the same allow-list;
4. the object must be a pipeline with a ``features`` step.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import skops.io as sio
from sklearn._loss._loss import CyHalfSquaredError
from sklearn._loss.link import IdentityLink, Interval
from sklearn._loss.loss import HalfSquaredError
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .features import EnergyFeatures

# The estimators and transformers the engine puts into a pipeline. A new one (in fit.py or
# features.py) is added here as well: `tests/baselines/engine/test_artifacts.py` fits every option
# of the engine and fails on a type that this list (with STATE_CLASSES) does not name.
ENGINE_CLASSES: tuple[type, ...] = (
    Pipeline,
    EnergyFeatures,
    StandardScaler,
    Ridge,
    LinearRegression,
    DummyRegressor,
    HistGradientBoostingRegressor,
)
# Types found inside those estimators' fitted state.
STATE_CLASSES: tuple[type, ...] = (
    dict, list, tuple, str, int, float, bool, type(None),
    np.ndarray, np.float64, np.uint64, np.random.Generator,
    _BinMapper, TreePredictor, HalfSquaredError, CyHalfSquaredError, IdentityLink, Interval,
)
# Artifacts written before the engine became a package name the transformer by this path.
LEGACY_TYPE_NAMES: tuple[str, ...] = ("baselines.engine.EnergyFeatures",)
# The bit generators a random generator in the state may be rebuilt with.
ALLOWED_BIT_GENERATORS: tuple[type, ...] = (np.random.PCG64,)
# skops node kinds that rebuild data and allowed objects; function, method, partial, operator
# and reduce nodes (which call or import arbitrary names) are not among them.
ALLOWED_LOADERS: frozenset[str] = frozenset({
    "ObjectNode", "DictNode", "ListNode", "TupleNode", "JsonNode", "TypeNode", "NdArrayNode",
    "RandomGeneratorNode", "LossNode", "CachedNode",
})

SIGNATURE_VERSION = "v1"
_SIGNING_CONTEXT = b"enms.baseline-artifact." + SIGNATURE_VERSION.encode() + b"\x00"


def type_name(cls: type) -> str:
    """The dotted name skops records for ``cls`` (module and class name)."""
    return f"{cls.__module__}.{cls.__name__}"


def allowed_type_names() -> frozenset[str]:
    """Every full type name an artifact may hold."""
    return frozenset(
        {type_name(cls) for cls in ENGINE_CLASSES + STATE_CLASSES}
        | {f"numpy.random.{cls.__name__}" for cls in ALLOWED_BIT_GENERATORS}
        | set(LEGACY_TYPE_NAMES)
    )


class ArtifactRefusedError(ValueError):
    """A stored model artifact was not loaded (its reason is the message)."""


class ArtifactIntegrityError(ArtifactRefusedError):
    """The artifact's signature is missing or does not match its bytes under the configured key."""


class UntrustedArtifactError(ArtifactRefusedError):
    """The artifact holds a type, loader or structure the engine never writes."""


def sign_artifact(data: bytes, key: bytes) -> str:
    """The signature of ``data`` under ``key``: ``"v1:"`` and a hex HMAC-SHA256."""
    if not key:
        raise ValueError("an artifact signing key is required")
    digest = hmac.new(key, _SIGNING_CONTEXT + bytes(data), hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}:{digest}"


def verify_signature(data: bytes, signature: str, key: bytes) -> None:
    """Raise :class:`ArtifactIntegrityError` unless ``signature`` signs ``data`` under ``key``."""
    if not signature:
        raise ArtifactIntegrityError("model artifact is not signed; refusing to load")
    if not hmac.compare_digest(sign_artifact(data, key), str(signature).strip()):
        raise ArtifactIntegrityError("model artifact signature does not match; refusing to load")


def serialize_pipeline(pipeline: Pipeline) -> tuple[bytes, str]:
    """skops bytes of ``pipeline`` and their SHA-256 hex digest (a content id, not a protection:
    see :func:`sign_artifact`)."""
    data = sio.dumps(pipeline, compression=zipfile.ZIP_DEFLATED)
    return data, hashlib.sha256(data).hexdigest()


def _nodes(schema: Any) -> Iterator[dict]:
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item or "__class__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _bit_generator_name(node: dict) -> str | None:
    try:
        name = json.loads(node["content"]["bit_generator"]["content"]["bit_generator"]["content"])
    except (KeyError, TypeError, ValueError):
        return None
    return name if isinstance(name, str) else None


def artifact_type_names(data: bytes) -> set[str]:
    """Every type name the skops schema of ``data`` declares, after checking its structure.

    Raises :class:`UntrustedArtifactError` for a node kind outside :data:`ALLOWED_LOADERS` or a
    node that does not name its type. Nothing is imported or constructed.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UntrustedArtifactError(f"model artifact is not readable: {exc}") from None
    names: set[str] = set()
    for node in _nodes(schema):
        loader, module, cls = node.get("__loader__"), node.get("__module__"), node.get("__class__")
        if loader not in ALLOWED_LOADERS:
            raise UntrustedArtifactError(f"model artifact holds a {loader!r} node; refusing to load")
        if not isinstance(module, str) or not isinstance(cls, str):
            raise UntrustedArtifactError("model artifact holds a node without a type; refusing to load")
        names.add(f"{module}.{cls}")
        if loader == "RandomGeneratorNode":
            names.add(f"numpy.random.{_bit_generator_name(node)}")
    return names


def audit_artifact(data: bytes) -> list[str]:
    """The type names ``data`` holds, all on the allow-list; else :class:`UntrustedArtifactError`.
    Reads the schema only: nothing is imported or constructed."""
    data = bytes(data)
    allowed = allowed_type_names()
    declared = artifact_type_names(data)
    refused = sorted(declared - allowed)
    if refused:
        raise UntrustedArtifactError(f"model artifact holds types outside the allow-list: {refused}")
    try:
        audited = set(sio.get_untrusted_types(data=data))
    except Exception as exc:
        raise UntrustedArtifactError(f"model artifact is not readable: {exc}") from None
    refused = sorted(audited - allowed)
    if refused:
        raise UntrustedArtifactError(f"model artifact holds types outside the allow-list: {refused}")
    return sorted(declared | audited)


def load_pipeline(data: bytes, signature: str, key: bytes) -> Pipeline:
    """Load a pipeline written by :func:`serialize_pipeline` and signed by :func:`sign_artifact`.

    Raises :class:`ArtifactIntegrityError` when the signature does not hold (checked before
    anything is parsed) and :class:`UntrustedArtifactError` when the artifact holds anything but
    the types on the allow-list, or is not a baseline pipeline.
    """
    data = bytes(data)
    verify_signature(data, signature, key)
    obj = sio.loads(data, trusted=audit_artifact(data))
    if not isinstance(obj, Pipeline) or "features" not in obj.named_steps:
        raise UntrustedArtifactError("model artifact is not a baseline pipeline")
    return obj

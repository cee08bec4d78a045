"""Evidently side of bench/drift.py; runs inside the peer virtualenv, never in the product's.

    bench/.peers/evidently/bin/python bench/evidently_peer.py DIR [--repeat 5] [--warmup 1]

DIR holds ``frames.npz`` written by bench/drift.py: ``columns`` (driver names) and, per driver,
``ref__<name>`` and ``cur__<name>``.  The frames are built once; each timed run starts from the
pandas frames, so building Evidently's datasets is part of the measured work, while interpreter
start-up, imports and reading the file are not.  Two forms of the same KS, PSI and Wasserstein
tests are timed (median of ``--repeat`` runs after ``--warmup`` runs):

* ``presets``: one Report with ``DataDriftPreset(method=m)`` for m in ks, psi, wasserstein;
* ``value_drift``: one Report with ``ValueDrift(column=c, method=m)`` per driver and method,
  the least work Evidently does for these tests (no dataset-level summary or table).

Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

METHODS = ("ks", "psi", "wasserstein")


def _timed(fn, repeat: int, warmup: int) -> tuple[float, list[float], object]:
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), samples, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()

    with np.load(Path(args.directory) / "frames.npz") as npz:
        columns = [str(c) for c in npz["columns"]]
        reference = pd.DataFrame({c: npz[f"ref__{c}"] for c in columns})
        current = pd.DataFrame({c: npz[f"cur__{c}"] for c in columns})

    started = time.perf_counter()
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    import_s = time.perf_counter() - started
    definition = DataDefinition(numerical_columns=columns)

    def datasets():
        return (Dataset.from_pandas(current, data_definition=definition),
                Dataset.from_pandas(reference, data_definition=definition))

    def presets():
        report = Report([DataDriftPreset(columns=columns, method=m) for m in METHODS])
        return report.run(*datasets())

    def value_drift():
        report = Report([ValueDrift(column=c, method=m) for m in METHODS for c in columns])
        return report.run(*datasets())

    presets_s, presets_samples, _ = _timed(presets, args.repeat, args.warmup)
    value_s, value_samples, snapshot = _timed(value_drift, args.repeat, args.warmup)

    values: dict[str, dict[str, float]] = {c: {} for c in columns}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("column") in values and config.get("method") in METHODS:
            values[config["column"]][config["method"]] = float(metric["value"])

    json.dump({
        "evidently_version": evidently.__version__,
        "pandas_version": pd.__version__,
        "numpy_version": np.__version__,
        "python": sys.version.split()[0],
        "import_s": import_s,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "rows": {"reference": len(reference), "current": len(current)},
        "columns": columns,
        "modes": {
            "presets": {"median_s": presets_s, "samples_s": presets_samples},
            "value_drift": {"median_s": value_s, "samples_s": value_samples},
        },
        "values": values,
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""Drift-check benchmark: one model's check (4 drivers + residuals, 100k reference rows, 10k
current rows) beside numpy-only KS + PSI on the raw arrays and Evidently 0.7.23 forced to KS,
PSI and Wasserstein on the same frames, all measured in the same run on the same seeded data.

    python bench/drift.py [--ref-rows 100000] [--cur-rows 10000] [--json out.json]

Rows of the table:

* ``check_drift``: ``performance.drift.verdict.check_drift`` on the stored (JSON round-tripped)
  reference: data drift of the 4 drivers (PSI, KS, Wasserstein, extrapolation), concept drift
  of the residuals and the verdict; the per-check cost.  ``data_drift`` and ``concept_drift``
  are also timed alone.
* ``reference_statistics``: paid once at training (quantile sketches and the change-point
  threshold calibration), not per check.
* numpy limit: two-sample KS statistic (sorted arrays + searchsorted) and PSI over
  reference-decile bins for the 4 drivers on the raw 100k / 10k arrays; also its per-check
  part alone, with the reference sorted and binned once beforehand (for information).
* Evidently: run by bench/evidently_peer.py in its own virtualenv (bench/.peers/evidently,
  created by ``make bench-drift``), which times it internally without interpreter start-up
  and imports.

The check and the numpy figures are timed round-robin (one run of each per round, medians over
``--repeat`` rounds after warm-up) so that load changes on a shared machine hit them alike.

Synthetic hourly data (seeded): production, outdoor temperature (the current window is warmer
by ``--shift-sd`` reference standard deviations), operating hours and relative humidity;
energy = load + AR(1) noise, and the residuals are that noise.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _common import ROOT, machine_info, median_time, print_table, write_json
from scipy import signal

from performance.drift.concept import concept_drift
from performance.drift.data import data_drift
from performance.drift.reference import reference_statistics
from performance.drift.verdict import check_drift

PEER_DIR = ROOT / "bench" / ".peers" / "evidently"
PEER_PYTHON = PEER_DIR / "bin" / "python"
PEER_SCRIPT = ROOT / "bench" / "evidently_peer.py"
PEER_SETUP = ('make bench-drift   (or: python3 -m venv bench/.peers/evidently && '
              'bench/.peers/evidently/bin/pip install -q "evidently==0.7.23" "pandas<3")')
DRIVERS = ("production_units", "outdoor_temp_c", "operating_hours", "relative_humidity_pct")
SHIFTED = "outdoor_temp_c"
PSI_BINS = 10
PSI_FLOOR = 1e-4
TARGET_LIMIT_RATIO = 2.5
TARGET_PEER_RATIO = 20.0


# ---------------------------------------------------------------------------
# data


def _ar1(n: int, rho: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    shocks = rng.normal(0.0, sd * math.sqrt(1.0 - rho * rho), n)
    shocks[0] = rng.normal(0.0, sd)
    return signal.lfilter([1.0], [1.0, -rho], shocks)


def _window(start_hour: int, n: int, rng: np.random.Generator, temp_offset: float = 0.0
            ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Drivers, residuals, actual energy and timestamps of ``n`` hourly rows."""
    t = np.arange(start_hour, start_hour + n)
    hour, day = t % 24, t // 24
    weekday = day % 7 < 5
    on = weekday & (hour >= 6) & (hour < 22)
    saturday = (day % 7 == 5) & (hour >= 6) & (hour < 14)
    hours_on = np.where(on, 1.0, np.where(saturday, 0.8, 0.1))
    hours_on = np.clip(hours_on + rng.normal(0.0, 0.03, n) * (hours_on > 0.5), 0.0, 1.0)
    temp = 13.0 - 4.0 * np.cos(2 * np.pi * (hour - 3) / 24.0) + _ar1(n, 0.95, 3.0, rng) + temp_offset
    humidity = np.clip(65.0 + _ar1(n, 0.9, 12.0, rng) + 5.0 * np.cos(2 * np.pi * (hour - 5) / 24.0), 10.0, 100.0)
    daily_level = rng.uniform(0.7, 1.15, day[-1] - day[0] + 1)[day - day[0]]
    production = np.maximum(0.0, hours_on * 120.0 * daily_level * (1.0 + rng.normal(0.0, 0.08, n)))
    load = 40.0 * (0.35 + 0.65 * hours_on) + 0.8 * production + 2.5 * np.maximum(temp - 18.0, 0.0)
    residuals = _ar1(n, 0.7, 0.04 * float(load.mean()), rng)
    actual = load + residuals
    timestamps = np.datetime64("2020-01-06T00:00:00", "s") + t.astype("timedelta64[h]")
    drivers = {"production_units": np.round(production, 2), "outdoor_temp_c": np.round(temp, 2),
               "operating_hours": np.round(hours_on, 3), "relative_humidity_pct": np.round(humidity, 1)}
    return drivers, residuals, actual, timestamps.astype("datetime64[s]")


def make_data(ref_rows: int, cur_rows: int, shift_sd: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    ref, ref_res, ref_actual, ref_ts = _window(0, ref_rows, rng)
    offset = shift_sd * float(ref[SHIFTED].std())
    cur, cur_res, cur_actual, _ = _window(ref_rows, cur_rows, rng, temp_offset=offset)
    # Holdout RMSE from a fresh stretch of the same noise process.
    _, hold_res, _, _ = _window(ref_rows + cur_rows, min(ref_rows // 4, 2160), rng)
    return {"ref": ref, "ref_residuals": ref_res, "ref_timestamps": ref_ts,
            "cur": cur, "cur_residuals": cur_res, "cur_actual": cur_actual,
            "holdout_rmse": float(np.sqrt(np.mean(hold_res ** 2))), "temp_offset": offset}


# ---------------------------------------------------------------------------
# numpy-only limit


def numpy_ks_psi(ref: dict[str, np.ndarray], cur: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Two-sample KS statistic and reference-decile PSI per driver, numpy only."""
    out = {}
    for name in DRIVERS:
        r = np.sort(ref[name])
        c = np.sort(cur[name])
        points = np.concatenate([r, c])
        f_ref = np.searchsorted(r, points, side="right") / r.size
        f_cur = np.searchsorted(c, points, side="right") / c.size
        ks = float(np.max(np.abs(f_ref - f_cur)))

        edges = np.unique(np.quantile(r, np.arange(1, PSI_BINS) / PSI_BINS))
        p_ref = np.bincount(np.searchsorted(edges, ref[name], side="right"), minlength=edges.size + 1) / r.size
        p_cur = np.bincount(np.searchsorted(edges, cur[name], side="right"), minlength=edges.size + 1) / c.size
        p_ref = np.where(p_ref > 0, p_ref, PSI_FLOOR)
        p_cur = np.where(p_cur > 0, p_cur, PSI_FLOOR)
        psi = float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))
        out[name] = {"ks": ks, "psi": psi}
    return out


def prepare_reference(ref: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Sorted reference, decile edges and reference bin shares, computed once."""
    out = {}
    for name in DRIVERS:
        r = np.sort(ref[name])
        edges = np.unique(np.quantile(r, np.arange(1, PSI_BINS) / PSI_BINS))
        p_ref = np.bincount(np.searchsorted(edges, r, side="right"), minlength=edges.size + 1) / r.size
        out[name] = (r, edges, np.where(p_ref > 0, p_ref, PSI_FLOOR))
    return out


def numpy_ks_psi_prepared(prepared: dict, cur: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """The per-check part of :func:`numpy_ks_psi` once the reference side is prepared."""
    out = {}
    for name in DRIVERS:
        r, edges, p_ref = prepared[name]
        c = np.sort(cur[name])
        points = np.concatenate([r, c])
        f_ref = np.searchsorted(r, points, side="right") / r.size
        f_cur = np.searchsorted(c, points, side="right") / c.size
        ks = float(np.max(np.abs(f_ref - f_cur)))
        p_cur = np.bincount(np.searchsorted(edges, c, side="right"), minlength=edges.size + 1) / c.size
        p_cur = np.where(p_cur > 0, p_cur, PSI_FLOOR)
        out[name] = {"ks": ks, "psi": float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))}
    return out


# ---------------------------------------------------------------------------
# peer


def run_peer(data: dict, repeat: int, warmup: int) -> dict | None:
    if not PEER_PYTHON.exists():
        print(f"\nEvidently not measured: its virtualenv {PEER_DIR.relative_to(ROOT)} is missing; "
              f"create it with\n    {PEER_SETUP}")
        return None
    with tempfile.TemporaryDirectory(prefix="bench_drift_") as tmp:
        arrays = {"columns": np.array(DRIVERS)}
        for name in DRIVERS:
            arrays[f"ref__{name}"] = data["ref"][name]
            arrays[f"cur__{name}"] = data["cur"][name]
        np.savez(Path(tmp) / "frames.npz", **arrays)
        cmd = [str(PEER_PYTHON), str(PEER_SCRIPT), tmp, "--repeat", str(repeat), "--warmup", str(warmup)]
        print(f"running Evidently in {PEER_DIR.relative_to(ROOT)} ({warmup} warm-up + {repeat} runs per form) ...",
              flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        print(f"\nEvidently not measured: the peer exited with status {proc.returncode}:\n{tail}\n"
              f"Recreate its virtualenv with\n    {PEER_SETUP}")
        return None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        print("\nEvidently not measured: the peer printed no JSON result.")
        return None
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------
# main


def interleaved_medians(fns: dict[str, Callable[[], object]], *, repeat: int, warmup: int) -> dict[str, float]:
    """Median seconds per function, timed round-robin so that load changes on a shared machine hit all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1000.0 * seconds:,.1f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref-rows", type=int, default=100_000)
    parser.add_argument("--cur-rows", type=int, default=10_000)
    parser.add_argument("--shift-sd", type=float, default=0.4,
                        help="shift of the current outdoor temperature, in reference standard deviations")
    parser.add_argument("--repeat", type=int, default=41, help="timed runs of the check and the numpy limit")
    parser.add_argument("--ref-repeat", type=int, default=3, help="timed runs of reference_statistics")
    parser.add_argument("--peer-repeat", type=int, default=5, help="timed Evidently runs per form")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--no-peer", action="store_true", help="skip Evidently")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    started = time.perf_counter()
    data = make_data(args.ref_rows, args.cur_rows, args.shift_sd, args.seed)
    ref, cur = data["ref"], data["cur"]
    print(f"{len(DRIVERS)} drivers + residuals: {args.ref_rows:,} reference rows, {args.cur_rows:,} current rows; "
          f"{SHIFTED} shifted by {args.shift_sd} sd (+{data['temp_offset']:.2f})  [{machine_info()}]", flush=True)

    def build_reference():
        return reference_statistics(ref, data["ref_residuals"], holdout_rmse=data["holdout_rmse"],
                                          timestamps=data["ref_timestamps"])

    ref_s = median_time(build_reference, repeat=args.ref_repeat, warmup=1)
    # What a check reads back from the model version: the stored JSON document.
    reference = json.loads(json.dumps(build_reference()))
    reference_bytes = len(json.dumps(reference))

    def check():
        return check_drift(reference, cur, data["cur_residuals"], data["cur_actual"], 0)

    result = check()
    limit = numpy_ks_psi(ref, cur)
    prepared = prepare_reference(ref)
    assert all(abs(numpy_ks_psi_prepared(prepared, cur)[n]["psi"] - limit[n]["psi"]) < 1e-9 for n in DRIVERS)
    # check_drift hands the window's drivers to concept_drift where that accepts them; time it the same way.
    concept_kwargs = {"drivers": cur} if "drivers" in inspect.signature(concept_drift).parameters else {}
    medians = interleaved_medians({
        "check": check,
        "data": lambda: data_drift(reference, cur),
        "concept": lambda: concept_drift(reference, data["cur_residuals"], data["cur_actual"], 0,
                                               **concept_kwargs),
        "limit": lambda: numpy_ks_psi(ref, cur),
        "prepared": lambda: numpy_ks_psi_prepared(prepared, cur),
    }, repeat=args.repeat, warmup=2)
    check_s, data_s, concept_s = medians["check"], medians["data"], medians["concept"]
    limit_s, prepared_s = medians["limit"], medians["prepared"]

    peer = None if args.no_peer else run_peer(data, args.peer_repeat, 1)
    presets_s = peer["modes"]["presets"]["median_s"] if peer else None
    value_s = peer["modes"]["value_drift"]["median_s"] if peer else None
    ev_label = f"Evidently {peer['evidently_version']}" if peer else "Evidently"
    not_measured = "not measured (peer venv missing or failed)"

    rows = [
        {"measurement": "check_drift (stored reference; per check)", "median ms": _ms(check_s),
         "note": "PSI+KS+Wasserstein+extrapolation x4 drivers, concept drift, verdict"},
        {"measurement": "  of which data_drift", "median ms": _ms(data_s), "note": "4 drivers"},
        {"measurement": "  of which concept_drift", "median ms": _ms(concept_s), "note": "residuals"},
        {"measurement": "reference_statistics (one-off at training)", "median ms": _ms(ref_s),
         "note": f"{args.ref_rows:,} rows; stored JSON {reference_bytes / 1024:.0f} KiB; not per check"},
        {"measurement": "numpy limit: KS + PSI, raw arrays", "median ms": _ms(limit_s),
         "note": f"4 drivers, {args.ref_rows:,} vs {args.cur_rows:,} rows"},
        {"measurement": "  same, reference sorted and binned once", "median ms": _ms(prepared_s),
         "note": "per-check part only: sort current, searchsorted, bincount"},
        {"measurement": f"{ev_label}: DataDriftPreset ks, psi, wasserstein", "median ms": _ms(presets_s),
         "note": "one Report, 3 presets" if peer else not_measured},
        {"measurement": f"{ev_label}: ValueDrift x(4 drivers x 3 methods)", "median ms": _ms(value_s),
         "note": "one Report, 12 metrics" if peer else not_measured},
    ]
    print_table(f"Drift check, one model, medians of {args.repeat} runs "
                f"(reference_statistics {args.ref_repeat}, Evidently {args.peer_repeat}) after warm-up",
                rows, ["measurement", "median ms", "note"])

    ours_limit = _ratio(check_s, limit_s)
    ours_prepared = _ratio(check_s, prepared_s)
    presets_ours = _ratio(presets_s, check_s)
    value_ours = _ratio(value_s, check_s)

    def verdict(value, target, higher):
        if value is None:
            return "not measured"
        return "meets" if (value >= target if higher else value <= target) else "MISSES"

    ratio_rows = [
        {"ratio": "check_drift / numpy limit", "value": f"{ours_limit:.2f}x",
         "target": f"<= {TARGET_LIMIT_RATIO}x", "status": verdict(ours_limit, TARGET_LIMIT_RATIO, False)},
        {"ratio": "check_drift / numpy limit, reference prepared", "value": f"{ours_prepared:.2f}x",
         "target": "(information)", "status": ""},
        {"ratio": "Evidently presets / check_drift",
         "value": f"{presets_ours:.0f}x" if presets_ours else "-",
         "target": f">= {TARGET_PEER_RATIO:.0f}x", "status": verdict(presets_ours, TARGET_PEER_RATIO, True)},
        {"ratio": "Evidently ValueDrift / check_drift",
         "value": f"{value_ours:.0f}x" if value_ours else "-",
         "target": f">= {TARGET_PEER_RATIO:.0f}x", "status": verdict(value_ours, TARGET_PEER_RATIO, True)},
    ]
    print_table("Ratios", ratio_rows, ["ratio", "value", "target", "status"])

    # Same data, same tests: the figures must agree where the definitions agree.
    agree_rows = []
    for name in DRIVERS:
        ours = result["data_drift"][name]
        ev = (peer or {}).get("values", {}).get(name, {})
        agree_rows.append({
            "driver": name,
            "PSI ours": f"{ours['psi']:.4f}", "PSI numpy": f"{limit[name]['psi']:.4f}",
            "PSI Evidently": f"{ev['psi']:.4f}" if "psi" in ev else "-",
            "KS ours": f"{ours['ks_statistic']:.4f}", "KS numpy": f"{limit[name]['ks']:.4f}",
            "W/sd ours": f"{ours['wasserstein']:.4f}",
            "W/sd Evidently": f"{ev['wasserstein']:.4f}" if "wasserstein" in ev else "-",
            "drifted": ours["level"] if ours["drifted"] else "no",
        })
    print_table("Agreement on the same data (Evidently PSI uses Sturges bins over both samples, not deciles; "
                "ours reads the KS from a 1001-point sketch)", agree_rows, list(agree_rows[0]))
    print(f"\nverdict: severity {result['severity']}, score {result['drift_score']:.3f}, "
          f"data {result['details']['data_drift_level']}, concept {result['details']['concept_drift_level']}")
    if peer:
        print(f"peer: Evidently {peer['evidently_version']}, pandas {peer['pandas_version']}, "
              f"numpy {peer['numpy_version']} (import {peer['import_s']:.1f} s, excluded)")
    print(f"total run {time.perf_counter() - started:.0f} s")

    write_json(args.json, {
        "benchmark": "drift",
        "params": {k: v for k, v in vars(args).items() if k != "json"},
        "seconds": {"check_drift": check_s, "data_drift": data_s, "concept_drift": concept_s,
                    "reference_statistics": ref_s, "numpy_ks_psi": limit_s,
                    "numpy_ks_psi_reference_prepared": prepared_s,
                    "evidently_presets": presets_s, "evidently_value_drift": value_s},
        "ratios": {"check_drift_over_numpy_limit": ours_limit,
                   "check_drift_over_numpy_limit_reference_prepared": ours_prepared,
                   "evidently_presets_over_check_drift": presets_ours,
                   "evidently_value_drift_over_check_drift": value_ours},
        "targets": {"check_drift_over_numpy_limit_max": TARGET_LIMIT_RATIO,
                    "evidently_over_check_drift_min": TARGET_PEER_RATIO},
        "reference_json_bytes": reference_bytes,
        "verdict": {k: result[k] for k in ("severity", "drift_score", "drift_detected")},
        "agreement": agree_rows,
        "peer": peer,
    })


if __name__ == "__main__":
    main()

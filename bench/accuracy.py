"""Accuracy bench: the engine's energy baseline against OpenEEmeter's CalTRACK hourly model on the
same data, train on 9 months, score the next 3.

    python bench/accuracy.py [--cases 36] [--no-peer] [--json bench/out/accuracy.json]

Cases: ``--cases`` simulated sites (bench/accuracy_cases.py: offices, shops, schools, plants with
production drivers, chiller plants; six time zones with and without daylight saving; known
balance points; hourly AR(1) plus day-level residual persistence) and the 14 machines of the demo
plant (baselines/demo.py) over a year. Every model is fitted on the first 273 days and predicts the
next 92; CV(RMSE) and NMBE are taken on those 92 days (labelled anomalies left out) with no
degrees of freedom lost (nothing is fitted there).

Models: the engine's default (``fit_baseline``, ridge), its gradient-boosting pipeline
(``algorithm="gbr"``), the default with time of week in UTC instead of local time (what the
engine did before machines had a time zone), and eemeter's CalTRACK hourly model, pinned in its own
virtualenv under bench/.peers/eemeter (``make bench-accuracy`` makes it) and run in a subprocess
(bench/eemeter_peer.py says which of its segmentations runs on 9 months and why). CalTRACK hourly
has no input for production, so the table also gives the medians over the cases whose energy
depends on time of week and temperature only.

Fitting time: ``fit_baseline`` on one machine-year of hourly readings (median of 3 after a
warm-up) beside the raw limit measured in the same run (one least-squares solve of the stored
model's own design matrix) and eemeter's fit time scaled to a year.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import ROOT, machine_info, median_time, print_table, write_json
from accuracy_cases import Case, simulate_case
from threadpoolctl import threadpool_limits

from baselines.demo import PLANT, machine_readings
from baselines.engine.fit import fit_baseline, predict
from baselines.engine.metrics import regression_metrics

PEER_PYTHON = ROOT / "bench" / ".peers" / "eemeter" / "bin" / "python"
TRAIN_DAYS, TEST_DAYS = 273, 92
# The stored model is refit on every training reading whatever the folds, so the variants that are
# only scored here skip the folds (holdout_fraction 0): the same predictions, a sixth of the time.
ENGINE_MODELS = {
    "engine": {"hyperparameters": None, "local_time": True},
    "engine gbr": {"hyperparameters": {"algorithm": "gbr", "holdout_fraction": 0.0}, "local_time": True},
    "engine, UTC time of week": {"hyperparameters": {"holdout_fraction": 0.0}, "local_time": False},
}
PEER = "CalTRACK hourly (eemeter)"
PEER_DEFAULT = "CalTRACK hourly, three-month-weighted (eemeter default)"
BP_TOLERANCE_C = 1.5


def demo_cases() -> list[Case]:
    start = pd.Timestamp("2023-01-02", tz="UTC")
    cases = []
    for spec in PLANT:
        frame = machine_readings(spec, start, TRAIN_DAYS + TEST_DAYS)
        drivers = [d for d in ("production_units", "operating_hours") if frame[d].notna().any()]
        cases.append(Case(name=f"demo: {spec.name}", family="demo", time_zone=spec.time_zone, frame=frame,
                          heat_bp=None, cool_bp=None, drivers=drivers))
    return cases


def _split(case: Case) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = case.frame["timestamp"].iloc[0] + pd.Timedelta(days=TRAIN_DAYS)
    train = case.frame[case.frame["timestamp"] < cut].reset_index(drop=True)
    test = case.frame[case.frame["timestamp"] >= cut].iloc[: TEST_DAYS * 24].reset_index(drop=True)
    return train, test


def _identifiable(train: pd.DataFrame, bp: float, time_zone: str) -> bool:
    """At least 10 days of the training window on each side of the balance point (daily means)."""
    day = train["timestamp"].dt.tz_convert(time_zone).dt.date
    means = train.groupby(day)["outdoor_temp_c"].mean()
    return int((means < bp).sum()) >= 10 and int((means > bp).sum()) >= 10


def run_engine(cases: list[Case]) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {name: [] for name in ENGINE_MODELS}
    for i, case in enumerate(cases, 1):
        train, test = _split(case)
        for name, model in ENGINE_MODELS.items():
            started = time.perf_counter()
            fit = fit_baseline(train, hyperparameters=model["hyperparameters"],
                               time_zone=case.time_zone if model["local_time"] else None)
            fit_s = time.perf_counter() - started
            results[name].append({"predicted": predict(fit.pipeline, test), "fit_s": fit_s,
                                  "balance_points": fit.balance_points, "holdout_cv_rmse": fit.holdout_metrics.get(
                                      "cv_rmse")})
        print(f"engine case {i}/{len(cases)}: {case.name}", flush=True)
    return results


def run_peer(cases: list[Case]) -> dict | None:
    if not PEER_PYTHON.exists():
        print(f"no eemeter peer at {PEER_PYTHON}: run `make bench-accuracy` to create it", flush=True)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        arrays: dict[str, np.ndarray] = {"count": np.array(len(cases))}
        for i, case in enumerate(cases):
            train, test = _split(case)
            frame = pd.concat([train, test], ignore_index=True)
            y = frame["energy_kwh"].to_numpy(dtype=float).copy()
            if "is_anomaly" in frame:
                y[frame["is_anomaly"].to_numpy(dtype=bool)] = np.nan  # left out of training, as the engine does
            arrays[f"ts_{i}"] = ((frame["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy()
            arrays[f"y_{i}"] = y
            arrays[f"t_{i}"] = frame["outdoor_temp_c"].to_numpy(dtype=float)
            arrays[f"zone_{i}"] = np.array(case.time_zone)
            arrays[f"train_{i}"] = np.array(len(train))
        np.savez(Path(tmp) / "cases.npz", **arrays)
        with open(Path(tmp) / "stderr.txt", "w") as stderr:
            done = subprocess.run([str(PEER_PYTHON), str(ROOT / "bench" / "eemeter_peer.py"), tmp],
                                  stderr=stderr, check=False)
        if done.returncode != 0:
            tail = (Path(tmp) / "stderr.txt").read_text()[-2000:]
            print(f"eemeter peer failed with exit code {done.returncode}:\n{tail}", flush=True)
            return None
        return json.loads((Path(tmp) / "result.json").read_text())


def _score(test: pd.DataFrame, predicted: np.ndarray, mask: np.ndarray) -> dict:
    m = regression_metrics(test["energy_kwh"].to_numpy()[mask], np.asarray(predicted, dtype=float)[mask], 0)
    return {"cv_rmse": m["cv_rmse"], "nmbe": m["nmbe"], "n": m["n"]}


def _cpu_time(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        fn()
        samples.append(time.process_time() - started)
    return statistics.median(samples)


def fit_time_per_machine_year(peer: dict | None) -> dict:
    """``fit_baseline`` on a year of hourly readings against one least-squares solve of its design.

    Wall-clock medians, plus the engine's CPU time (this process's, single-threaded), which the
    other jobs on a shared machine do not inflate.
    """
    year = simulate_case(0).frame
    fit = fit_baseline(year, time_zone="Europe/Berlin")
    engine_s = median_time(lambda: fit_baseline(year, time_zone="Europe/Berlin"), repeat=5, warmup=1)
    engine_cpu_s = _cpu_time(lambda: fit_baseline(year, time_zone="Europe/Berlin"), repeat=5)
    gbr_s = median_time(lambda: fit_baseline(year, time_zone="Europe/Berlin", hyperparameters={"algorithm": "gbr"}),
                        repeat=1, warmup=0)
    design = fit.pipeline.named_steps["features"].transform(year)
    y = year["energy_kwh"].to_numpy()
    # Single-threaded, as the engine fits a machine (several machines are fitted side by side).
    with threadpool_limits(limits=1):
        limit_s = median_time(lambda: np.linalg.lstsq(design, y, rcond=None), repeat=5, warmup=1)
    out = {"rows": len(year), "engine_s": engine_s, "engine_cpu_s": engine_cpu_s, "engine_gbr_s": gbr_s,
           "lstsq_limit_s": limit_s,
           "ratio_to_limit": engine_s / limit_s, "eemeter_s": None}
    if peer:
        fits = [c["fit_s"] for c in peer["cases"] if c.get("fit_s")]
        if fits:
            out["eemeter_s"] = statistics.median(fits) * 365 / TRAIN_DAYS
    return out


def summarise(cases: list[Case], engine: dict[str, list[dict]], peer: dict | None) -> dict:
    per_case = []
    models = list(ENGINE_MODELS) + ([PEER] if peer else [])
    recovered: list[dict] = []
    for i, case in enumerate(cases):
        train, test = _split(case)
        predictions = {name: engine[name][i]["predicted"] for name in ENGINE_MODELS}
        if peer:
            p = peer["cases"][i]["predicted"]
            predictions[PEER] = np.array([np.nan if v is None else v for v in p]) if p else np.full(len(test), np.nan)
        default = peer["cases"][i].get("default_predicted") if peer else None
        mask = np.ones(len(test), dtype=bool)
        if "is_anomaly" in test:
            mask &= ~test["is_anomaly"].to_numpy(dtype=bool)
        for values in predictions.values():
            mask &= np.isfinite(values)
        # CalTRACK hourly has no input for production or operating hours.
        row = {"case": case.name, "family": case.family, "other_drivers": bool(case.drivers)}
        for name in models:
            row[name] = _score(test, predictions[name], mask)
        if default is not None:
            values = np.array([np.nan if v is None else v for v in default])
            row[PEER_DEFAULT] = _score(test, values, mask & np.isfinite(values))
        per_case.append(row)
        bps = engine["engine"][i]["balance_points"]
        for term, truth in (("heat_balance_c", case.heat_bp), ("cool_balance_c", case.cool_bp)):
            if truth is None or not _identifiable(train, truth, case.time_zone):
                continue
            found = bps[term]
            recovered.append({"case": case.name, "term": term, "truth": round(truth, 2), "found": found,
                              "ok": found is not None and abs(found - truth) <= BP_TOLERANCE_C})

    def medians(rows: list[dict]) -> dict:
        out = {}
        for name in models:
            cv = [r[name]["cv_rmse"] for r in rows if r[name]["cv_rmse"] is not None]
            nmbe = [abs(r[name]["nmbe"]) for r in rows if r[name]["nmbe"] is not None]
            out[name] = {"cv_rmse": statistics.median(cv) if cv else None,
                         "abs_nmbe": statistics.median(nmbe) if nmbe else None, "cases": len(rows)}
        return out

    def wins(rows: list[dict], a: str, b: str, key: str) -> float | None:
        pairs = [(abs(r[a][key]), abs(r[b][key])) for r in rows if r[a][key] is not None and r[b][key] is not None]
        return sum(x < y for x, y in pairs) / len(pairs) if pairs else None

    groups = {
        "all": per_case,
        "simulated": [r for r in per_case if r["family"] != "demo"],
        "time of week and temperature only": [r for r in per_case if not r["other_drivers"]],
        "demo plant": [r for r in per_case if r["family"] == "demo"],
    }
    summary = {g: medians(rows) for g, rows in groups.items() if rows}
    with_default = [r for r in per_case if PEER_DEFAULT in r]
    if with_default:
        cv = [r[PEER_DEFAULT]["cv_rmse"] for r in with_default if r[PEER_DEFAULT]["cv_rmse"] is not None]
        nmbe = [abs(r[PEER_DEFAULT]["nmbe"]) for r in with_default if r[PEER_DEFAULT]["nmbe"] is not None]
        summary[f"first {len(with_default)}"] = {
            **{name: {**medians(with_default)[name]} for name in ("engine", PEER)},
            PEER_DEFAULT: {"cv_rmse": statistics.median(cv) if cv else None,
                           "abs_nmbe": statistics.median(nmbe) if nmbe else None, "cases": len(with_default)},
        }
    win_share = {}
    for g, rows in groups.items():
        if not rows:
            continue
        win_share[g] = {"engine vs engine gbr (CV(RMSE))": wins(rows, "engine", "engine gbr", "cv_rmse")}
        if peer:
            win_share[g]["engine vs CalTRACK hourly (CV(RMSE))"] = wins(rows, "engine", PEER, "cv_rmse")
            win_share[g]["engine vs CalTRACK hourly (|NMBE|)"] = wins(rows, "engine", PEER, "nmbe")
            win_share[g]["engine gbr vs CalTRACK hourly (CV(RMSE))"] = wins(rows, "engine gbr", PEER, "cv_rmse")
    return {"per_case": per_case, "medians": summary, "win_share": win_share, "balance_points": recovered,
            "balance_points_recovered": sum(r["ok"] for r in recovered), "balance_points_known": len(recovered)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=36, help="simulated cases (the demo plant's 14 come on top)")
    parser.add_argument("--no-peer", action="store_true", help="skip eemeter")
    parser.add_argument("--json")
    args = parser.parse_args()
    started = time.perf_counter()
    cases = [simulate_case(i) for i in range(args.cases)] + demo_cases()
    print(f"{len(cases)} cases: {args.cases} simulated + {len(cases) - args.cases} demo machines", flush=True)
    engine = run_engine(cases)
    peer = None if args.no_peer else run_peer(cases)
    result = summarise(cases, engine, peer)
    result["fit_time"] = fit_time_per_machine_year(peer)
    if peer:
        result["peer"] = {k: v for k, v in peer.items() if k != "cases"}
        result["peer"]["failed_cases"] = [cases[i].name for i, c in enumerate(peer["cases"]) if c["error"]]
    result["seconds"] = time.perf_counter() - started

    rows = []
    for group, models in result["medians"].items():
        for name, m in models.items():
            rows.append({"cases": f"{group} ({m['cases']})", "model": name,
                         "median CV(RMSE)": f"{m['cv_rmse']:.1%}" if m["cv_rmse"] is not None else "—",
                         "median |NMBE|": f"{m['abs_nmbe']:.1%}" if m["abs_nmbe"] is not None else "—"})
    print_table("Out-of-sample accuracy, 9 months fitted, next 3 months scored", rows,
                ["cases", "model", "median CV(RMSE)", "median |NMBE|"])
    wins = [{"cases": g, "comparison": k, "share won": f"{v:.0%}" if v is not None else "—"}
            for g, d in result["win_share"].items() for k, v in d.items()]
    print_table("Share of cases won", wins, ["cases", "comparison", "share won"])
    print(f"\nbalance points within ±{BP_TOLERANCE_C} °C: {result['balance_points_recovered']} of "
          f"{result['balance_points_known']} known and identifiable in the training window")
    ft = result["fit_time"]
    print(f"fit per machine-year ({ft['rows']} hourly rows): engine {ft['engine_s']:.3f} s "
          f"(CPU {ft['engine_cpu_s']:.3f} s), gbr "
          f"{ft['engine_gbr_s']:.2f} s, one lstsq of the design {ft['lstsq_limit_s']:.3f} s "
          f"({ft['ratio_to_limit']:.1f}x), eemeter "
          + (f"{ft['eemeter_s']:.2f} s" if ft["eemeter_s"] else "not run"))
    write_json(args.json, result)
    print(f"\n{machine_info()}; {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

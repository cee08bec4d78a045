"""`make bench`: run every benchmark, then write bench/results.md — one table, each figure beside
the limit or peer measured in the same run, the ratio, the target and whether it is met.

    python bench/run_all.py [--only fleet,drift,...] [--quick]

Each benchmark runs as its own process (it prints its own table and progress) and writes JSON
to bench/out/; this script only reads those files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import ADMIN_URL, ROOT, machine_info

OUT = ROOT / "bench" / "out"
PY = sys.executable

BENCHES = {
    "ingest": ["bench/ingest.py", "--json", "bench/out/ingest.json"],
    "fleet": ["bench/fleet.py", "--machines", "1000", "--json", "bench/out/fleet.json"],
    "accuracy": ["bench/accuracy.py", "--json", "bench/out/accuracy.json"],
    "drift": ["bench/drift.py", "--json", "bench/out/drift.json"],
    "quality": ["bench/quality.py", "--sims", "10000", "--json", "bench/out/quality.json"],
    "page": ["bench/page.py", "--json", "bench/out/page.json"],
    "queries": ["bench/queries.py", "--json", "bench/out/queries.json"],
    "http": ["bench/http_load.py", "--json", "bench/out/http.json"],
    "scale": ["bench/scale.py", "--json", "bench/out/scale.json"],
    "forecast": ["bench/forecast.py", "--machines", "300", "--job-versions", "1000",
                 "--json", "bench/out/forecast.json"],
    "registry": ["bench/registry.py", "--json", "bench/out/registry.json"],
}
QUICK = {"fleet": ["--machines", "200"], "forecast": ["--machines", "60", "--job-versions", "200"],
         "quality": ["--sims", "2000"], "accuracy": ["--cases", "30"],
         "scale": ["--sizes", "200,1000", "--ingest-machines", "100"]}


def _load(name: str) -> dict | None:
    path = OUT / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _row(figure, value, reference, ratio, target, met) -> dict:
    return {"figure": figure, "measured": value, "limit or peer (same run)": reference, "ratio": ratio,
            "target": target, "met": "yes" if met else ("no" if met is not None else "—")}


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def rows_ingest(d: dict) -> list[dict]:
    copy = {(r["endpoint"], r["rows"]): r for r in d.get("results", []) if "COPY" in r["path"]}
    out = []
    for r in d.get("results", []):
        ratio = r.get("ratio_to_copy")
        ref = copy.get((r["endpoint"], r["rows"]))
        if "COPY" in r["path"] or ratio is None or ref is None:
            continue
        out.append(_row(f"{r['endpoint']} batch of {r['rows']:,} rows, full Django stack",
                        f"{r['rows_per_s']:,.0f} rows/s", f"COPY {ref['rows_per_s']:,.0f} rows/s",
                        f"{ratio:.2f}× COPY", "≥ 0.3× COPY", ratio >= 0.3))
    return out


def rows_fleet(d: dict) -> list[dict]:
    io_limit = d["fetch_s"] + d["predict_s"] + d["limit_s"]
    return [
        _row(f"train {d['machines']} machines × {d['days']} days", f"{d['train_s']:.1f} s",
             f"{1000 * d['train_s'] / d['machines']:.0f} ms/machine", "—", "—", None),
        _row("evaluation cycle, DB in → rows out", f"{d['cycle_s']:.2f} s",
             f"numpy-only metrics {_fmt_ms(d['limit_s'])}",
             f"{d['ratio_cycle_limit']:,.0f}×", "≤ 2× limit", d["ratio_cycle_limit"] <= 2),
        _row("evaluation cycle vs raw fetch + predictions + numpy metrics", f"{d['cycle_s']:.2f} s",
             f"{io_limit:.2f} s", f"{d['ratio_cycle_io_limit']:.2f}×", "≤ 2×", d["ratio_cycle_io_limit"] <= 2),
    ]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def rows_accuracy(d: dict) -> list[dict]:
    peer = "CalTRACK hourly (eemeter)"
    out = []
    everything = d["medians"]["all"]
    engine, caltrack = everything["engine"], everything.get(peer)
    n = engine["cases"]
    if caltrack:
        version = d.get("peer", {}).get("eemeter", "")
        for key, label in (("cv_rmse", "CV(RMSE)"), ("abs_nmbe", "absolute NMBE")):
            ratio = engine[key] / caltrack[key] if caltrack[key] else None
            out.append(_row(f"median {label}, {n} cases, 9 months fitted, next 3 scored", _pct(engine[key]),
                            f"CalTRACK hourly (eemeter {version}) {_pct(caltrack[key])}",
                            f"{ratio:.2f}×" if ratio else "—", "≤ CalTRACK hourly",
                            ratio is not None and ratio <= 1))
        only = d["medians"].get("time of week and temperature only")
        if only and only.get(peer):
            out.append(_row(f"median CV(RMSE), {only['engine']['cases']} cases with time of week and temperature "
                            "only", _pct(only["engine"]["cv_rmse"]), f"CalTRACK hourly {_pct(only[peer]['cv_rmse'])}",
                            f"{only['engine']['cv_rmse'] / only[peer]['cv_rmse']:.2f}×", "—", None))
        share = d["win_share"]["all"]["engine vs CalTRACK hourly (CV(RMSE))"]
        out.append(_row(f"share of the {n} cases the engine wins (lower CV(RMSE))", _pct(share), "CalTRACK hourly",
                        "—", "≥ 60 %", share >= 0.6))
        only_share = d["win_share"].get("time of week and temperature only", {}).get(
            "engine vs CalTRACK hourly (CV(RMSE))")
        if only and only_share is not None:
            out.append(_row(f"share won of the {only['engine']['cases']} cases with time of week and temperature only",
                            _pct(only_share), "CalTRACK hourly", "—", "—", None))
    gbr = everything["engine gbr"]
    default_wins = engine["cv_rmse"] <= gbr["cv_rmse"]
    out.append(_row("default (ridge) vs gradient boosting, median CV(RMSE)", _pct(engine["cv_rmse"]),
                    f"gbr {_pct(gbr['cv_rmse'])}", f"{engine['cv_rmse'] / gbr['cv_rmse']:.2f}×",
                    "the default is the winner", default_wins))
    utc = everything["engine, UTC time of week"]
    out.append(_row("local time vs time of week in UTC, median CV(RMSE)", _pct(engine["cv_rmse"]),
                    f"UTC {_pct(utc['cv_rmse'])}", f"{engine['cv_rmse'] / utc['cv_rmse']:.2f}×", "—", None))
    known, ok = d["balance_points_known"], d["balance_points_recovered"]
    out.append(_row("balance points within ±1.5 °C (simulated, truth known)", f"{ok} of {known}", "—", "—",
                    "all", ok == known))
    ft = d["fit_time"]
    peer_s = f"; eemeter {ft['eemeter_s']:.2f} s" if ft.get("eemeter_s") else ""
    out.append(_row("fit one machine-year of hourly data (folds + refit)",
                    f"{ft['engine_s']:.3f} s (CPU {ft['engine_cpu_s']:.3f} s)",
                    f"one lstsq of its design {ft['lstsq_limit_s']:.3f} s{peer_s}", f"{ft['ratio_to_limit']:.2f}×",
                    "< 0.5 s", ft["engine_s"] < 0.5))
    return out


def rows_drift(d: dict) -> list[dict]:
    s, r = d["seconds"], d["ratios"]
    out = [_row("drift check, 100k reference / 10k current, 4 drivers", _fmt_ms(s["check_drift"]),
                f"numpy KS+PSI {_fmt_ms(s['numpy_ks_psi'])}", f"{r['check_drift_over_numpy_limit']:.2f}×",
                "≤ 2.5× numpy", r["check_drift_over_numpy_limit"] <= 2.5)]
    if r.get("evidently_value_drift_over_check_drift"):
        ratio = min(r["evidently_value_drift_over_check_drift"], r.get("evidently_presets_over_check_drift") or 1e9)
        out.append(_row("drift check vs Evidently 0.7.23 (same tests)", _fmt_ms(s["check_drift"]),
                        f"Evidently {_fmt_ms(s['evidently_value_drift'])}", f"{ratio:.0f}× faster",
                        "≥ 20× faster", ratio >= 20))
    return out


def rows_quality(d: dict) -> list[dict]:
    """Default A/B method per simulated cell, beside the AR(1)-prewhitened test it replaced."""
    chosen, previous = d["chosen_method"], "dm_ewc"
    out = []
    for r in d["rows"]:
        label = f"{r['label']}, {r['days']} days"
        now, before = r["methods"][chosen], r["methods"][previous]
        out.append(_row(f"false winners, A/A, {label}", f"{now['false_winners']:.1%}",
                        f"AR(1) prewhitening {before['false_winners']:.1%}, "
                        f"naive t {r['methods']['naive_t']['false_winners']:.1%}",
                        f"±{r['size_error_bar']:.1%}", "≤ 5 % (within error bar)", r["holds_alpha"]))
        bar = now["power_error_bar"]
        if r["process"] == "arma21" and r["days"] == 28:
            target, met = "≥ 10 %", now["power"] >= 0.10
        else:
            target, met = "≥ AR(1) prewhitening − error bar", now["power"] >= before["power"] - bar
        out.append(_row(f"power, B 10 % better, {label}",
                        f"{now['power']:.1%} (size-adj. {now['power_size_adjusted']:.1%})",
                        f"AR(1) prewhitening {before['power']:.1%} (size-adj. {before['power_size_adjusted']:.1%})",
                        f"±{bar:.1%}", target, met))
    return out


def rows_page(d: dict) -> list[dict]:
    return [_row(f"page: navigation → {len(d['charts'])} charts × {d['points_per_chart']:,} points painted",
                 f"{d['median_ms']:.0f} ms", "—", "—", f"< {d['target_ms']:.0f} ms", d["median_ms"] < d["target_ms"])]


def rows_queries(d: dict) -> list[dict]:
    return [_row(f"{r['query']} ({d['rows']:,} rows)", _fmt_ms(r["product_s"]), f"hand SQL {_fmt_ms(r['hand_s'])}",
                 f"{r['ratio']:.2f}×", "≤ 2× hand-written", r["ratio"] <= 2)
            for r in d["results"] if r["views"] == "as migrated"]


def rows_http(d: dict) -> list[dict]:
    pg = {r["users"]: r for r in d["results"] if r["endpoint"].startswith("pgbench")}
    out = []
    for r in d["results"]:
        if r["endpoint"].startswith("pgbench") or "healthz" in r["endpoint"]:
            continue
        ref = pg.get(r["users"])
        out.append(_row(f"HTTP {r['endpoint']}, {r['users']} users",
                        f"{r['rps']:,.0f} req/s, p50/p95/p99 {r['p50_ms']:.0f}/{r['p95_ms']:.0f}/{r['p99_ms']:.0f} ms, "
                        f"{r['errors']} errors",
                        f"pgbench INSERT {ref['tps']:,.0f} tps" if ref else "—",
                        f"{r['rps'] / ref['tps']:.3f}×" if ref else "—", "0 errors", r["errors"] == 0))
    return out


def rows_scale(d: dict) -> list[dict]:
    out = []
    ingest = d.get("ingest") or {}
    if ingest:
        out.append(_row(f"readings through the API, {ingest['machines']:,} machines × a year ({ingest['rows']:,} rows, "
                        "partitioned table)", f"{ingest['api_rows_s']:,.0f} rows/s",
                        f"COPY {ingest['copy_rows_s']:,.0f} rows/s", f"{ingest['ratio']:.2f}× COPY", "≥ 0.3× COPY",
                        ingest["ratio"] >= 0.3))
    cycles = d.get("cycles") or []
    if not cycles:
        return out
    workers = sorted({c["workers"] for c in cycles})
    smallest = min(c["machines"] for c in cycles)
    first = {c["workers"]: c for c in cycles if c["machines"] == smallest}
    for c in cycles:
        base = first[c["workers"]]
        ratio = c["per_machine_ms"] / base["per_machine_ms"]
        out.append(_row(f"evaluation cycle, {c['machines']:,} machines × 90 days, {c['workers']} worker process(es), "
                        f"peak RSS {c['peak_rss_mb']:.0f} MB/worker",
                        f"{c['seconds']:.1f} s ({c['per_machine_ms']:.2f} ms/machine)",
                        f"{base['per_machine_ms']:.2f} ms/machine at {smallest:,}", f"{ratio:.2f}×",
                        "≤ 1.3× per machine", ratio <= 1.3 if c["machines"] != smallest else None))
    if len(workers) > 1:
        for size in sorted({c["machines"] for c in cycles}):
            one = next((c for c in cycles if c["machines"] == size and c["workers"] == workers[0]), None)
            two = next((c for c in cycles if c["machines"] == size and c["workers"] == workers[-1]), None)
            if one and two:
                speedup = one["seconds"] / two["seconds"]
                out.append(_row(f"evaluation cycle, {size:,} machines, {workers[-1]} vs {workers[0]} worker(s)",
                                f"{two['seconds']:.1f} s", f"{one['seconds']:.1f} s", f"{speedup:.2f}× faster",
                                "≥ 1.7×", speedup >= 1.7))
    return out


def rows_forecast(d: dict) -> list[dict]:
    n = f"{d['machines']} simulated machines"
    out = [
        _row(f"precision of 30-day breach warnings, {n}", f"{d['precision']:.3f}",
             f"persistence {d['precision_persistence']:.3f}, trend only {d['precision_trend']:.3f}", "—", "≥ 0.8",
             d["precision"] >= 0.8),
        _row(f"recall of 30-day breaches, {n}", f"{d['recall']:.3f}",
             f"persistence {d['recall_persistence']:.3f}, trend only {d['recall_trend']:.3f}", "—", "≥ 0.8",
             d["recall"] >= 0.8),
        _row("Brier score, 30-day breach probability", f"{d['brier']:.4f}",
             f"persistence {d['brier_persistence']:.4f}, trend only {d['brier_trend']:.4f}",
             f"{d['brier'] / min(d['brier_persistence'], d['brier_trend']):.2f}× the better naive", "< both naive",
             d["brier"] < min(d["brier_persistence"], d["brier_trend"])),
        _row("median lead time, breaches caused by drivers leaving the range", f"{d['median_lead_days']:.0f} days",
             f"{d['coverage_onsets_found']} of {d['coverage_onsets']} onsets warned", "—", "≥ 10 days",
             d["median_lead_days"] >= 10),
        _row("one forecast, 1 version × 365 days", _fmt_ms(d["forecast_365_s"]),
             f"numpy mask + shares {_fmt_ms(d['share_limit_s'])}", f"{d['forecast_365_s'] / d['share_limit_s']:.0f}×",
             "< 50 ms", d["forecast_365_s"] < 0.05),
    ]
    demo = d.get("demo")
    if demo:
        n = f"demo plant ({demo['machines']} training windows)"
        out += [
            _row(f"precision / recall of 30-day breach warnings, {n}",
                 f"{demo['precision']:.3f} / {demo['recall']:.3f}",
                 f"persistence {demo['precision_persistence']:.3f} / {demo['recall_persistence']:.3f}, trend only "
                 f"{demo['precision_trend']:.3f} / {demo['recall_trend']:.3f}", "—", "≥ 0.8 / ≥ 0.8",
                 demo["precision"] >= 0.8 and demo["recall"] >= 0.8),
            _row(f"Brier score, {n}", f"{demo['brier']:.4f}",
                 f"persistence {demo['brier_persistence']:.4f}, trend only {demo['brier_trend']:.4f}",
                 f"{demo['brier'] / min(demo['brier_persistence'], demo['brier_trend']):.2f}× the better naive",
                 "< both naive", demo["brier"] < min(demo["brier_persistence"], demo["brier_trend"])),
        ]
    if d.get("job_s") is not None:
        out.append(_row(f"daily forecast job, {d['job_versions']} versions (one process)", f"{d['job_s']:.1f} s",
                        f"{1000 * d['job_s'] / d['job_versions']:.0f} ms/version", "—", "reported", None))
    return out


def rows_registry(d: dict) -> list[dict]:
    import statistics

    n = d["versions"]
    drain, hand = statistics.median(d["drain_s"]), statistics.median(d["by_hand_s"])
    again, move = statistics.median(d["redrain_s"]), statistics.median(d["alias_move_s"])
    return [
        _row(f"MLflow sync of {n} new versions (run, artifacts, registered version, aliases)",
             f"{n / drain:.1f} versions/s ({1000 * drain / n:.0f} ms each)",
             f"MLflow client by hand {n / hand:.1f} versions/s", f"{drain / hand:.2f}×", "≤ 2× by hand",
             drain / hand <= 2),
        _row(f"MLflow re-sync of {n} synced versions (found by tag, nothing created)",
             f"{n / again:.1f} versions/s", "—", "—", "—", None),
        _row("champion alias moved after an activation (commit → alias set)", f"{1000 * move:.0f} ms", "—", "—",
             "< 60 s", move < 60),
    ]


TABLES = {"ingest": rows_ingest, "fleet": rows_fleet, "accuracy": rows_accuracy, "drift": rows_drift,
          "quality": rows_quality, "page": rows_page, "queries": rows_queries, "http": rows_http,
          "scale": rows_scale, "forecast": rows_forecast, "registry": rows_registry}


def write_results(names: list[str], seconds: dict[str, float]) -> Path:
    columns = ["figure", "measured", "limit or peer (same run)", "ratio", "target", "met"]
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine_info()}. Written by `make bench` on {time.strftime('%Y-%m-%d %H:%M %Z')}.",
        "Each figure stands beside its limit or peer measured in the same run; ratios are the figures",
        "to compare across runs, absolute times drift with the machine's load.",
        "",
        "| bench | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name in names:
        data = _load(name)
        if data is None:
            lines.append(f"| {name} | not run | | | | | — |")
            continue
        for row in TABLES[name](data):
            lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in columns) + " |")
    lines += ["", "Run times: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()), ""]
    path = ROOT / "bench" / "results.md"
    path.write_text("\n".join(lines))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--quick", action="store_true", help="smaller fleet and fewer simulations")
    parser.add_argument("--report-only", action="store_true", help="rewrite results.md from existing JSON")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    OUT.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    failed = []
    if not args.report_only:
        for i, name in enumerate(names, 1):
            command = [PY, *BENCHES[name], *(QUICK.get(name, []) if args.quick else [])]
            print(f"\n[{i}/{len(names)}] {name}: {' '.join(command[1:])}", flush=True)
            started = time.perf_counter()
            env = dict(os.environ)
            # The ingest bench targets the PostgreSQL server given by DATABASE_URL (it makes its own
            # scratch database there); the others take the admin URL from _common.
            if name == "ingest":
                env.setdefault("DATABASE_URL", ADMIN_URL)
            result = subprocess.run(command, cwd=ROOT, env=env)
            seconds[name] = time.perf_counter() - started
            if result.returncode != 0:
                failed.append(name)
                print(f"{name} failed with exit code {result.returncode}", flush=True)
    path = write_results(names, seconds)
    print(f"\nwrote {path.relative_to(ROOT)}")
    print(path.read_text())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

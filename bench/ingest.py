"""Batch ingest through the API next to PostgreSQL COPY of the same rows into the same table.

Usage: DATABASE_URL=postgres://user@host:5432/db python bench/ingest.py
           [--sizes 1000,10000] [--repeats 5] [--json out.json] [--profile]

Measures, in one run and on the same rows:

- `POST /api/v1/model-performance/metrics/record` with a list of N metric records, and
  `POST /api/v1/machines/{id}/readings/` with N hourly readings, each through the whole Django stack
  in-process (django.test.Client: middleware, token authentication, permissions, throttling, JSON
  parsing, validation, the service, the bulk write, the JSON response);
- `COPY ... FROM STDIN` (psycopg 3 `cursor.copy`, one transaction) of the same N rows, as the rows
  the API stores, into the same table with the same indexes and constraints.

Each figure is the median of `--repeats` timed runs after one warm-up run, API and COPY runs
alternating; the table is emptied (untimed) before every run, so every run inserts N new rows.
The script creates a scratch database on the server DATABASE_URL names, migrates it, and drops it
at the end. `--profile` adds a cProfile of one request of each kind at the largest size.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import statistics
import sys
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/_common.py
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project

TARGET_RATIO = 0.3
SCRATCH_DATABASE = "enms_bench_ingest"


def _timed(run, prepare) -> float:
    prepare()
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _paired_runs(api, copy, prepare, repeats: int) -> tuple[list[float], list[float]]:
    """Time the API path and COPY alternately, `repeats` times each after one warm-up of each, so
    load from other processes on a shared machine falls on both alike; `prepare` (untimed) empties
    the table before every run."""
    _timed(api, prepare)
    _timed(copy, prepare)
    api_runs, copy_runs = [], []
    for _ in range(repeats):
        api_runs.append(_timed(api, prepare))
        copy_runs.append(_timed(copy, prepare))
    return api_runs, copy_runs


def _libpq(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (after one warm-up)")
    parser.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one request of each kind")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    url = os.environ.get("DATABASE_URL", "")
    if not url.split("://", 1)[0].startswith("postgres"):
        print("bench/ingest.py needs DATABASE_URL pointing at PostgreSQL (postgres://user@host:5432/db); "
              "it creates and drops its own scratch database on that server.", file=sys.stderr)
        return 2
    # the shared helpers create scratch databases through this server
    os.environ.setdefault("BENCH_ADMIN_DATABASE_URL", url)
    # whitenoise warns that collectstatic has not run; static files play no part here
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    from _common import ADMIN_URL, django_setup, scratch_database

    scratch_url = scratch_database(SCRATCH_DATABASE)
    try:
        django_setup(scratch_url)
        return _run(scratch_url, sizes, args)
    finally:
        import psycopg
        from django.db import connections

        connections.close_all()
        with psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)')


def _run(scratch_url: str, sizes: list[int], args) -> int:
    import psycopg
    from _common import write_json
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from baselines.models import EnergyBaseline, Machine
    from enms.tokens import api_token_create
    from performance.models import ModelPerformanceMetric

    assert not settings.DEBUG, "DEBUG records every query and would distort the figures"
    user = get_user_model().objects.create_superuser(username="bench", password=uuid.uuid4().hex, email="")
    token = api_token_create(user=user)[1]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="localhost")
    machine = Machine.objects.create(name="Bench compressor", machine_type="compressor")
    model = EnergyBaseline.objects.create(
        machine=machine, version=1, status="active", algorithm="ridge", data_interval="hourly",
        holdout_metrics={"rmse": 2.5, "cv_rmse": 0.06, "nmbe": 0.01}, training_metrics={"rmse": 2.0},
    )
    copy_conn = psycopg.connect(_libpq(scratch_url))

    results = []
    for n in sizes:
        results.extend(_bench_metrics(n, args.repeats, client, model, copy_conn, ModelPerformanceMetric))
        results.extend(_bench_readings(n, args.repeats, client, machine, copy_conn))
    copy_conn.close()

    _print_table(results)
    if args.profile:
        _profile(client, model, machine, max(sizes))
    if args.json_path:
        write_json(args.json_path, {
            "benchmark": "ingest", "measured_at": datetime.now(UTC).isoformat(), "repeats": args.repeats,
            "target_ratio_to_copy": TARGET_RATIO, "postgres": connection.pg_version, "results": results,
        })
        print(f"\nwrote {args.json_path}")
    return 0


# --- metrics/record ------------------------------------------------------------------------------


def _metric_rows(n: int, model_id) -> list[dict]:
    start = datetime(2025, 1, 6, tzinfo=UTC)
    rows = []
    for i in range(n):
        t = start + timedelta(hours=i)
        rows.append({
            "model_id": str(model_id), "sample_count": 168, "evaluated_at": t.isoformat(),
            "evaluation_start": (t - timedelta(days=7)).isoformat(), "evaluation_end": t.isoformat(),
            "r_squared": 0.9 - (i % 7) / 100, "rmse": 2.0 + (i % 13) / 10, "mae": 1.5 + (i % 11) / 10,
            "mape": 0.05, "cv_rmse": 0.05 + (i % 5) / 100, "nmbe": -0.01 + (i % 3) / 100,
            "drift_detected": i % 17 == 0, "drift_score": (i % 10) / 10,
        })
    return rows


METRIC_COPY_COLUMNS = (
    "id", "model_id", "machine_id", "model_type", "source", "evaluation_start", "evaluation_end", "evaluated_at",
    "sample_count", "r_squared", "rmse", "mae", "mape", "wape", "cv_rmse", "nmbe", "precision", "recall",
    "f1_score", "drift_detected", "drift_score", "drift_details", "rmse_degradation", "ashrae_pass",
)


def _metric_copy_rows(rows: list[dict], model) -> list[tuple]:
    """The rows the API stores for `rows` (derived columns included), ready for COPY."""
    from psycopg.types.json import Jsonb

    reference = model.holdout_metrics["rmse"]
    out = []
    for r in rows:
        out.append((
            uuid.uuid4(), model.pk, model.machine_id, model.model_type, "recorded",
            datetime.fromisoformat(r["evaluation_start"]), datetime.fromisoformat(r["evaluation_end"]),
            datetime.fromisoformat(r["evaluated_at"]), r["sample_count"], r["r_squared"], r["rmse"], r["mae"],
            r["mape"], None, r["cv_rmse"], r["nmbe"], None, None, None, r["drift_detected"], r["drift_score"],
            Jsonb({}), r["rmse"] / reference - 1.0, r["cv_rmse"] <= 0.30 and abs(r["nmbe"]) <= 0.10,
        ))
    return out


def _copy(conn, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _truncate(conn, table: str) -> None:
    with conn.transaction():
        conn.execute(f"TRUNCATE {table}")


def _bench_metrics(n, repeats, client, model, copy_conn, metric_model) -> list[dict]:
    rows = _metric_rows(n, model.pk)
    body = json.dumps(rows).encode()
    copy_rows = _metric_copy_rows(rows, model)
    table = metric_model._meta.db_table

    def api():
        response = client.post("/api/v1/model-performance/metrics/record", body, content_type="application/json")
        assert response.status_code == 201, response.content[:500]

    def copy():
        # fresh primary keys per run, as the API makes
        _copy(copy_conn, table, METRIC_COPY_COLUMNS, [(uuid.uuid4(), *r[1:]) for r in copy_rows])

    def prepare():
        _truncate(copy_conn, table)

    api_runs, copy_runs = _paired_runs(api, copy, prepare, repeats)
    assert metric_model.objects.count() == n
    return _rows("metrics/record", n, len(body), api_runs, copy_runs)


# --- readings ------------------------------------------------------------------------------------

READING_COLUMNS = ("machine_id", "timestamp", "energy_kwh", "production_units", "outdoor_temp_c", "operating_hours",
                   "is_anomaly")


def _reading_rows(n: int) -> list[dict]:
    import pandas as pd

    from baselines.demo import PLANT, machine_readings

    frame = machine_readings(PLANT[0], pd.Timestamp("2024-01-01", tz="UTC"), math.ceil(n / 24)).iloc[:n]
    return [
        {"timestamp": r.timestamp.isoformat(), "energy_kwh": float(r.energy_kwh),
         "production_units": float(r.production_units), "outdoor_temp_c": float(r.outdoor_temp_c),
         "operating_hours": float(r.operating_hours), "is_anomaly": bool(r.is_anomaly)}
        for r in frame.itertuples(index=False)
    ]


def _bench_readings(n, repeats, client, machine, copy_conn) -> list[dict]:
    rows = _reading_rows(n)
    body = json.dumps(rows).encode()
    copy_rows = [(machine.pk, datetime.fromisoformat(r["timestamp"]), r["energy_kwh"], r["production_units"],
                  r["outdoor_temp_c"], r["operating_hours"], r["is_anomaly"]) for r in rows]
    url = f"/api/v1/machines/{machine.pk}/readings/"

    def api():
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 200 and response.json()["created"] == n, response.content[:500]

    def copy():
        _copy(copy_conn, "energy_readings", READING_COLUMNS, copy_rows)

    def prepare():
        _truncate(copy_conn, "energy_readings")

    api_runs, copy_runs = _paired_runs(api, copy, prepare, repeats)
    return _rows("readings", n, len(body), api_runs, copy_runs)


# --- output --------------------------------------------------------------------------------------


def _rows(what, n, body_bytes, api_runs, copy_runs) -> list[dict]:
    api_s, copy_s = statistics.median(api_runs), statistics.median(copy_runs)
    copy_rate = n / copy_s
    return [
        {"endpoint": what, "path": "API (Django stack)", "rows": n, "body_bytes": body_bytes, "median_s": api_s,
         "runs_s": api_runs, "rows_per_s": n / api_s, "ratio_to_copy": (n / api_s) / copy_rate},
        {"endpoint": what, "path": "PostgreSQL COPY", "rows": n, "body_bytes": None, "median_s": copy_s,
         "runs_s": copy_runs, "rows_per_s": copy_rate, "ratio_to_copy": 1.0},
    ]


def _print_table(results: list[dict]) -> None:
    from _common import print_table

    rows = [
        {"endpoint": r["endpoint"], "path": r["path"], "rows": r["rows"], "median ms": f"{r['median_s'] * 1000:.1f}",
         "rows/s": f"{r['rows_per_s']:,.0f}", "x COPY": f"{r['ratio_to_copy']:.2f}",
         "target": "" if r["ratio_to_copy"] == 1.0 else ("met" if r["ratio_to_copy"] >= TARGET_RATIO else "below")}
        for r in results
    ]
    print_table(f"Batch ingest, API vs COPY (target: API >= {TARGET_RATIO} x COPY; median after a warm-up)", rows,
                ["endpoint", "path", "rows", "median ms", "rows/s", "x COPY", "target"])


def _profile(client, model, machine, n: int) -> None:
    from django.db import connection

    for what, url, rows in (
        ("metrics/record", "/api/v1/model-performance/metrics/record", _metric_rows(n, model.pk)),
        ("readings", f"/api/v1/machines/{machine.pk}/readings/", _reading_rows(n)),
    ):
        body = json.dumps(rows).encode()
        with connection.cursor() as cur:
            cur.execute("TRUNCATE model_performance_metrics, energy_readings")
        profiler = cProfile.Profile()
        profiler.enable()
        client.post(url, body, content_type="application/json")
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(f"\n=== cProfile: {what}, {n} rows (cumulative) ===")
        print(out.getvalue())


if __name__ == "__main__":
    sys.exit(main())

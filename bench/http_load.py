"""HTTP benchmark: requests/s and latency of three API endpoints under gunicorn with production
settings, beside pgbench's single-row autocommit INSERT at the same concurrency, measured in the
same run against the same PostgreSQL server.

    python bench/http_load.py [--users 2,8] [--duration 20] [--workers 2] [--threads 4] [--json out.json]

Set-up: a scratch PostgreSQL database `enms_bench_http` (dropped at the end unless --keep-db)
seeded with `manage.py seed_demo --days 60 --machines 4 --train-days 30 --no-progress` (trained,
active baselines with a month of evaluation history), plus a year of hourly metrics rows (8,760)
on one energy baseline so the trend endpoint answers 365 daily points as the model page asks,
open alerts topped up to 120 (so the first page of alerts/active is a full 50 rows), and a
superuser with a DRF token. gunicorn (gthread: by default one worker per core with 4 threads
each) serves `enms.wsgi:application` on a free loopback port with DJANGO_SETTINGS_MODULE=
enms.settings.production, DEBUG=false, SECURE_SSL_REDIRECT=false, ALLOWED_HOSTS=127.0.0.1 and
API_WRITE_THROTTLE=1000000/min (so the run measures throughput, not the throttle).

Load: for each concurrency level N in --users and each endpoint, N threads of a standard-library
client, each on one keep-alive connection, send requests back to back for --duration seconds
after a short warm-up, then stop.
Endpoints: POST metrics/record (one object per request, rotating over the active baselines),
GET metrics/trend (the busy model, rmse by day), GET alerts/active (first page), and GET /healthz
(one `SELECT 1`: the floor of the HTTP stack). Any answer other than the expected status is an
error; the run fails if there is one, or if the number of stored metrics rows differs from the
number of 201 answers.

Reference: pgbench -n -c N -j N -T --pgbench-seconds with a script inserting one row into a scratch
table in autocommit; its latency percentiles come from its per-transaction log (-l).

gunicorn, the load generator, pgbench and PostgreSQL share the machine's cores: every figure is
loopback throughput on this box, not a capacity figure for a deployment. gunicorn is stopped at
the end, on error and on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from _common import ADMIN_URL, ROOT, django_setup, print_table, scratch_database, write_json

DB_NAME = "enms_bench_http"
API = "/api/v1/model-performance"
TREND_ROWS = 8760
PGBENCH_TABLE = "bench_single_insert"
PGBENCH_SCRIPT = f"""\\set v random(1, 1000000)
INSERT INTO {PGBENCH_TABLE} (value, created_at) VALUES (:v, now());
"""


# --- set-up -------------------------------------------------------------------------------------------

def seed(args) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from baselines.models import EnergyBaseline
    from enms.tokens import api_token_create
    from performance.models import MetricSource, ModelAlert, ModelPerformanceMetric

    started = time.perf_counter()
    call_command("seed_demo", days=args.seed_days, machines=args.machines, train_days=args.train_days,
                 no_progress=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    active = list(EnergyBaseline.objects.filter(status="active", model_type="energy_baseline")
                  .order_by("machine__name").defer("artifact"))
    if not active:
        raise SystemExit("seed_demo left no active energy baseline")
    busy = active[0]
    rng = np.random.default_rng(11)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    holdout = float((busy.holdout_metrics or {}).get("rmse") or 1.0)
    ModelPerformanceMetric.objects.bulk_create([
        ModelPerformanceMetric(
            model=busy, machine_id=busy.machine_id, model_type=busy.model_type, source=MetricSource.EVALUATION,
            evaluated_at=now - timedelta(hours=TREND_ROWS - i), sample_count=24,
            rmse=holdout * float(rng.lognormal(0, 0.2)), r_squared=float(rng.uniform(0.6, 0.95)),
            cv_rmse=float(rng.uniform(0.05, 0.3)), nmbe=float(rng.normal(0, 0.03)),
        )
        for i in range(TREND_ROWS)
    ], batch_size=2000)
    # Open alerts up to --alerts, so that the first page of alerts/active is full: one per free (version,
    # alert type) slot, the rest model-less training failures (the partial unique index allows those).
    from baselines.models import Machine

    versions = list(EnergyBaseline.objects.defer("artifact").order_by("machine__name", "model_type", "version"))
    machines = list(Machine.objects.order_by("name"))
    taken = set(ModelAlert.objects.filter(is_resolved=False).values_list("model_id", "alert_type"))
    open_alerts = []
    for version in versions:
        for alert_type in ("drift", "degradation", "ab_test_completed"):
            if (version.pk, alert_type) not in taken:
                open_alerts.append((version, version.machine_id, version.model_type, alert_type))
    i = 0
    while len(open_alerts) < args.alerts:
        machine = machines[i % len(machines)]
        open_alerts.append((None, machine.pk, "energy_baseline", "training_failed"))
        i += 1
    missing = max(0, args.alerts - ModelAlert.objects.filter(is_resolved=False).count())
    ModelAlert.objects.bulk_create([
        ModelAlert(model=model, machine_id=machine_id, model_type=model_type, alert_type=alert_type,
                   severity="critical" if k % 3 == 0 else "warning", message=f"bench {alert_type} alert {k}",
                   details={"bench": True}, first_seen=now - timedelta(hours=k + 2), last_seen=now - timedelta(hours=k))
        for k, (model, machine_id, model_type, alert_type) in enumerate(open_alerts[:missing])
    ])
    user = get_user_model().objects.create_superuser(username="bench", email="", password=secrets.token_urlsafe(16))
    token = api_token_create(user=user)[1]
    return {
        "seed_s": time.perf_counter() - started, "token": token, "busy_id": str(busy.pk),
        "model_ids": [str(m.pk) for m in active],
        "metrics_rows": ModelPerformanceMetric.objects.count(),
        "open_alerts": ModelAlert.objects.filter(is_resolved=False).count(),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn in its own process group, stopped by that group's id."""

    def __init__(self, *, database_url: str, port: int, workers: int, threads: int, log_path: Path):
        self.port, self.log_path = port, log_path
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
        env.update({
            "DJANGO_SETTINGS_MODULE": "enms.settings.production", "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(50), "ENMS_ARTIFACT_KEY": secrets.token_urlsafe(48),
            "DEBUG": "false", "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1", "API_WRITE_THROTTLE": "1000000/min", "LOG_LEVEL": "WARNING",
        })
        gunicorn = Path(sys.executable).with_name("gunicorn")
        cmd = [str(gunicorn), "enms.wsgi:application", "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread",
               "--workers", str(workers), "--threads", str(threads), "--log-level", "warning",
               "--graceful-timeout", "10"]
        self.command = " ".join(cmd[1:])
        self._log = open(log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._log.close()


def drop_database(name: str) -> None:
    """Close this process's connections and drop the scratch database."""
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- load ---------------------------------------------------------------------------------------------

def run_load(*, port: int, method: str, path: str, headers: dict, bodies: list[bytes] | None, expect: int,
             users: int, duration: float) -> dict:
    """`users` threads, one keep-alive connection each, requests back to back for `duration` seconds."""
    barrier = threading.Barrier(users + 1)
    stop_at = [0.0]
    results: list[dict | None] = [None] * users

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies, statuses, samples = [], Counter(), []
        k = index
        barrier.wait()
        while True:
            started = time.perf_counter()
            if started >= stop_at[0]:
                break
            body = bodies[k % len(bodies)] if bodies else None
            k += users
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                status, payload = type(exc).__name__, b""
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
            if status != expect and len(samples) < 3:
                samples.append(payload[:300].decode(errors="replace"))
        conn.close()
        results[index] = {"latencies": latencies, "statuses": statuses, "samples": samples}

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(users)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + duration
    started = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(timeout=duration + 60)
    elapsed = time.perf_counter() - started
    if any(r is None for r in results):
        raise RuntimeError(f"{method} {path}: a client thread did not finish")
    latencies = np.array([x for r in results for x in r["latencies"]]) * 1000
    statuses = sum((r["statuses"] for r in results), Counter())
    errors = sum(n for s, n in statuses.items() if s != expect)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if len(latencies) else (np.nan,) * 3
    return {
        "requests": int(len(latencies)), "ok": int(statuses.get(expect, 0)), "errors": int(errors),
        "statuses": {str(k): v for k, v in statuses.items()}, "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed, "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
        "error_samples": [s for r in results for s in r["samples"]][:3],
    }


def run_pgbench(*, database_url: str, clients: int, seconds: int) -> dict:
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        raise SystemExit("pgbench not found: apt-get install -y postgresql-client (Debian) provides it")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PGBENCH_TABLE}")
        cursor.execute(f"CREATE TABLE {PGBENCH_TABLE} (id bigserial PRIMARY KEY, value double precision NOT NULL, "
                       "created_at timestamptz NOT NULL)")
    url = urlparse(database_url)
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = url.password
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as tmp:
        script = Path(tmp, "insert.sql")
        script.write_text(PGBENCH_SCRIPT)
        cmd = [pgbench, "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432),
               "-U", url.username or "postgres", "-n", "-c", str(clients), "-j", str(clients),
               "-T", str(seconds), "-f", str(script),
               "-l", "--log-prefix", str(Path(tmp, "log")), url.path.lstrip("/")]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"pgbench failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        latencies = []
        for log in Path(tmp).glob("log.*"):
            for line in log.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]) / 1000)
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    processed = int(re.search(r"number of transactions actually processed: (\d+)", out.stdout).group(1))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {PGBENCH_TABLE}")
        stored = cursor.fetchone()[0]
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {"tps": tps, "transactions": processed, "failed": int(failed.group(1)) if failed else 0,
            "stored": int(stored), "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "command": " ".join(cmd[1:])}


# --- main -------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", default="2,8", help="concurrent clients; a comma list runs each level (e.g. 2,8)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per endpoint and level")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of unmeasured load before each run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: cores)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--seed-days", type=int, default=60)
    parser.add_argument("--train-days", type=int, default=30)
    parser.add_argument("--alerts", type=int, default=120, help="open alerts (seed_demo's plus generated ones)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--keep-db", action="store_true", help=f"keep the scratch database {DB_NAME}")
    args = parser.parse_args()
    levels = [int(u) for u in args.users.split(",")]
    if any(u < 1 for u in levels):
        parser.error("--users must be positive")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    database_url = scratch_database(DB_NAME)
    django_setup(database_url)
    try:
        run(args, database_url, levels)
    finally:
        if not args.keep_db:
            drop_database(DB_NAME)


def run(args, database_url: str, levels: list[int]) -> None:
    data = seed(args)
    print(f"seeded in {data['seed_s']:.1f} s: {len(data['model_ids'])} active energy baselines, "
          f"{data['metrics_rows']:,} metrics rows ({TREND_ROWS:,} on the trend model), "
          f"{data['open_alerts']} open alerts")

    from performance.models import MetricSource, ModelPerformanceMetric

    auth = {"Authorization": f"Token {data['token']}", "Accept": "application/json"}
    record_bodies = [
        json.dumps({"model_id": model_id, "sample_count": 168, "evaluation_start": "2026-01-05T00:00:00Z",
                    "evaluation_end": "2026-01-12T00:00:00Z", "r_squared": 0.9, "rmse": 2.0 + i / 100,
                    "mae": 1.5, "cv_rmse": 0.08, "nmbe": -0.01}).encode()
        for i in range(16) for model_id in data["model_ids"]
    ]
    endpoints = [
        ("POST metrics/record (1 object)", "POST", f"{API}/metrics/record",
         {**auth, "Content-Type": "application/json"}, record_bodies, 201),
        ("GET metrics/trend (rmse, day)", "GET",
         f"{API}/metrics/trend?model_id={data['busy_id']}&metric=rmse&bucket=day", auth, None, 200),
        ("GET alerts/active", "GET", f"{API}/alerts/active", auth, None, 200),
        ("GET /healthz (stack floor)", "GET", "/healthz", {"Accept": "application/json"}, None, 200),
    ]

    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    server = Gunicorn(database_url=database_url, port=free_port(), workers=args.workers, threads=args.threads,
                      log_path=out_dir / "http-gunicorn.log")
    table, results = [], []
    try:
        server.wait_ready()
        print(f"gunicorn {server.command}")
        # One request each, to check the answers before timing them.
        for name, method, path, headers, bodies, expect in endpoints:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            conn.request(method, path, body=bodies[0] if bodies else None, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            if resp.status != expect:
                raise RuntimeError(f"{name}: {resp.status} {body[:500]!r}")
            if "trend" in path:
                print(f"  trend answers {len(json.loads(body)['points'])} points")
            if "alerts/active" in path:
                page = json.loads(body)
                print(f"  alerts/active answers count={page['count']}, {len(page['results'])} on page 1")

        for users in levels:
            recorded_before = ModelPerformanceMetric.objects.filter(source=MetricSource.RECORDED).count()
            created = 0
            for name, method, path, headers, bodies, expect in endpoints:
                if args.warmup > 0:
                    warm = run_load(port=server.port, method=method, path=path, headers=headers, bodies=bodies,
                                    expect=expect, users=users, duration=args.warmup)
                    created += warm["ok"] if expect == 201 else 0
                r = run_load(port=server.port, method=method, path=path, headers=headers, bodies=bodies,
                             expect=expect, users=users, duration=args.duration)
                created += r["ok"] if expect == 201 else 0
                results.append({"endpoint": name, "users": users, **r})
                table.append({"endpoint": name, "users": users, "requests": f"{r['requests']:,}",
                              "req/s": f"{r['rps']:,.0f}", "p50 ms": f"{r['p50_ms']:.1f}",
                              "p95 ms": f"{r['p95_ms']:.1f}", "p99 ms": f"{r['p99_ms']:.1f}", "errors": r["errors"]})
                if r["errors"]:
                    print(f"  {name}: {r['errors']} errors, statuses {r['statuses']}, e.g. {r['error_samples']}")
            stored = ModelPerformanceMetric.objects.filter(source=MetricSource.RECORDED).count() - recorded_before
            if stored != created:
                raise RuntimeError(f"{created} answers 201 but {stored} rows stored")
            pg = run_pgbench(database_url=database_url, clients=users, seconds=args.pgbench_seconds)
            if pg["stored"] != pg["transactions"]:
                raise RuntimeError(f"pgbench: {pg['transactions']} transactions but {pg['stored']} rows stored")
            results.append({"endpoint": "pgbench single-row INSERT", "users": users, **pg})
            table.append({"endpoint": "  reference: pgbench 1-row INSERT, autocommit", "users": users,
                          "requests": f"{pg['transactions']:,}", "req/s": f"{pg['tps']:,.0f}",
                          "p50 ms": f"{pg['p50_ms']:.2f}", "p95 ms": f"{pg['p95_ms']:.2f}",
                          "p99 ms": f"{pg['p99_ms']:.2f}", "errors": pg["failed"]})
            record = next(r for r in results if r["users"] == users and r["endpoint"].startswith("POST"))
            table.append({"endpoint": "  pgbench tps / POST metrics/record req/s", "users": users,
                          "req/s": f"{pg['tps'] / record['rps']:.1f}x"})
    finally:
        server.stop()

    print_table(f"HTTP under gunicorn (gthread {args.workers}x{args.threads}, production settings), "
                f"{args.duration:g} s per endpoint, loopback", table,
                ["endpoint", "users", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"])
    errors = sum(r.get("errors", 0) + r.get("failed", 0) for r in results)
    print(f"\nerrors in total: {errors}")
    write_json(args.json, {"workers": args.workers, "threads": args.threads, "duration_s": args.duration,
                           "seed": {k: v for k, v in data.items() if k != "token"}, "results": results})
    if errors:
        raise SystemExit(f"{errors} errors")


if __name__ == "__main__":
    main()

"""Fleet scale: ingest into the partitioned readings table, and an evaluation cycle fanned out to
real Celery worker processes at growing fleet sizes.

    python bench/scale.py [--sizes 1000,5000,10000] [--workers 1,2] [--ingest-machines 1000]
                          [--ingest-days 365] [--days 90] [--eval-days 7] [--batch-size 200] [--json out.json]

Measures, on a scratch PostgreSQL database (BENCH_ADMIN_DATABASE_URL) with Redis as the broker
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/0; the db is emptied):

- ingest: `--ingest-machines` × `--ingest-days` of hourly readings through the API's bulk path
  (`POST /api/v1/machines/{id}/readings/`, one request of a year per machine, the whole Django
  stack in-process), then the same rows by `COPY` into the same (emptied) partitioned table;
- an evaluation cycle over every machine at each size in `--sizes` (each machine with `--days` of
  readings and an active version trained on all but the last `--eval-days`), fanned out in
  batches of `--batch-size` to 1 and 2 worker processes (`celery -A enms worker --pool=solo`,
  the queue `cycles`): wall time from the beat task's fan-out to the last batch's summary, time
  per machine, the speed-up of 2 workers, and each worker's peak resident memory (VmHWM);
- the indexes: size of the per-partition B-tree (machine, timestamp) the unique constraint makes,
  of a BRIN on timestamp, and the time of a batch read and of a fleet-wide time-window read with
  and without the BRIN.

Versions are trained once per demo machine kind (14) and the other machines of the kind get a
copy (same artifact, their own row): the cycle's cost per version is the same as for a version
trained on that machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from _common import ROOT, django_setup, median_time, print_table, scratch_database, write_json

SCRATCH = "enms_bench_scale"
CELERY = Path(sys.executable).with_name("celery")


class Worker:
    def __init__(self, name: str, env: dict, log_dir: Path):
        self.name, self.log_path = name, log_dir / f"scale-worker-{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(CELERY), "-A", "enms", "worker", "--pool=solo", "-Q", "cycles", "-n", f"{name}@%h",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited:\n{self.log_path.read_text()[-3000:]}")
        return " ready." in self.log_path.read_text(errors="replace")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--ingest-machines", type=int, default=1000)
    parser.add_argument("--ingest-days", type=int, default=365)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--eval-days", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    worker_counts = sorted(int(w) for w in args.workers.split(","))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    database_url = scratch_database(SCRATCH)
    django_setup(database_url)

    from django.conf import settings

    assert not settings.DEBUG, "DEBUG records every query and would distort the figures"
    ingest = _bench_ingest(args) if args.ingest_machines else {}
    write_json(args.json, {"benchmark": "scale", "args": vars(args), "ingest": ingest, "cycles": [],
                           "indexes": {}})
    cycles, indexes = _bench_cycles(args, sizes, worker_counts, database_url, redis_url, ingest)

    table = []
    if ingest:
        table += [
            {"measure": f"ingest, API bulk path ({ingest['machines']} machines × {args.ingest_days} d)",
             "value": f"{ingest['api_rows_s']:,.0f} rows/s", "note": f"{ingest['rows']:,} rows, "
             f"{ingest['api_s']:.1f} s"},
            {"measure": "ingest, COPY of the same rows, same partitioned table",
             "value": f"{ingest['copy_rows_s']:,.0f} rows/s",
             "note": f"API / COPY = {ingest['ratio']:.2f}× (target ≥ 0.3×)"},
        ]
    base = {c["workers"]: c["per_machine_ms"] for c in cycles if c["machines"] == sizes[0]}
    for c in cycles:
        same = [o for o in cycles if o["machines"] == c["machines"] and o["workers"] == worker_counts[0]]
        note = f"{c['per_machine_ms'] / base[c['workers']]:.2f}× the per-machine time at {sizes[0]:,}"
        if c["workers"] != worker_counts[0] and same:
            note += f"; {same[0]['seconds'] / c['seconds']:.2f}× faster than {worker_counts[0]} worker(s)"
        table.append({"measure": f"evaluation cycle, {c['machines']:,} machines, {c['workers']} worker(s)",
                      "value": f"{c['seconds']:.2f} s ({c['per_machine_ms']:.2f} ms/machine)",
                      "note": f"{note}; peak RSS/worker {c['peak_rss_mb']:.0f} MB; {c['batches']} batches"})
    for name, value in indexes.items():
        table.append({"measure": f"index: {name}", "value": value, "note": ""})
    print_table("Fleet scale", table, ["measure", "value", "note"])
    write_json(args.json, {"benchmark": "scale", "args": vars(args), "ingest": ingest, "cycles": cycles,
                           "indexes": indexes})


def _reading_frames(days: int, start):
    from baselines.demo import PLANT, machine_readings

    return [machine_readings(spec, start, days) for spec in PLANT]


def _bench_ingest(args) -> dict:
    import pandas as pd
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from baselines.demo import PLANT
    from baselines.models import Machine
    from baselines.partitions import readings_partitions_ensure
    from enms.tokens import api_token_create

    start = pd.Timestamp("2025-01-01", tz="UTC")
    frames = _reading_frames(args.ingest_days, start)
    readings_partitions_ensure(start=start.to_pydatetime(),
                               end=(start + pd.Timedelta(days=args.ingest_days)).to_pydatetime())
    bodies = [json.dumps([
        {"timestamp": r.timestamp.isoformat(), "energy_kwh": float(r.energy_kwh),
         "production_units": None if pd.isna(r.production_units) else float(r.production_units),
         "outdoor_temp_c": float(r.outdoor_temp_c), "operating_hours": float(r.operating_hours),
         "is_anomaly": bool(r.is_anomaly)} for r in f.itertuples(index=False)]).encode() for f in frames]
    user = get_user_model().objects.create_superuser(username="bench", password=uuid.uuid4().hex, email="")
    client = Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}", HTTP_HOST="localhost")
    machines = Machine.objects.bulk_create([
        Machine(name=f"Ingest {i}", machine_type=PLANT[i % len(PLANT)].machine_type)
        for i in range(args.ingest_machines)])
    rows = 0
    started = time.perf_counter()
    for i, machine in enumerate(machines):
        response = client.post(f"/api/v1/machines/{machine.pk}/readings/", bodies[i % len(PLANT)],
                               content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        rows += response.json()["created"]
    api_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE energy_readings")
    s = connection.settings_dict
    conn = psycopg.connect(dbname=s["NAME"], user=s["USER"] or "postgres", host=s["HOST"] or "127.0.0.1",
                           port=s["PORT"] or 5432, password=s["PASSWORD"] or None)
    templates = _tsv_templates(frames)
    texts = [templates[i % len(PLANT)].replace(PLACEHOLDER, str(m.pk)) for i, m in enumerate(machines)]
    started = time.perf_counter()
    for text in texts:  # one transaction per machine-year, as the API commits one request
        with conn.transaction(), conn.cursor() as cur, cur.copy(
                "COPY energy_readings (machine_id, timestamp, energy_kwh, production_units, outdoor_temp_c, "
                "operating_hours, is_anomaly) FROM STDIN") as copy:
            copy.write(text)
    copy_s = time.perf_counter() - started
    conn.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM energy_readings")
        assert cursor.fetchone()[0] == rows
        cursor.execute("TRUNCATE energy_readings")
    Machine.objects.filter(pk__in=[m.pk for m in machines]).delete()
    return {"machines": len(machines), "rows": rows, "api_s": api_s, "copy_s": copy_s,
            "api_rows_s": rows / api_s, "copy_rows_s": rows / copy_s, "ratio": copy_s / api_s}


PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _tsv_templates(frames) -> list[str]:
    """Each kind's readings as COPY text once, with a placeholder machine id to substitute."""
    out = []
    for frame in frames:
        buffer = io.StringIO()
        frame.assign(machine_id=PLACEHOLDER)[
            ["machine_id", "timestamp", "energy_kwh", "production_units", "outdoor_temp_c", "operating_hours",
             "is_anomaly"]].to_csv(buffer, sep="\t", header=False, index=False, na_rep="\\N")
        out.append(buffer.getvalue())
    return out


def _bench_cycles(args, sizes, worker_counts, database_url, redis_url, ingest) -> tuple[list[dict], dict]:
    import pandas as pd
    import redis
    from django.db import connection

    from baselines.demo import PLANT
    from baselines.models import EnergyBaseline, Machine
    from baselines.partitions import readings_partitions_ensure
    from baselines.services import baseline_activate, baseline_train
    from enms.celery import app
    from performance.models import CycleRun, ModelPerformanceMetric
    from performance.services.cycles import cycle_fanout

    start = pd.Timestamp("2026-01-05", tz="UTC")
    end = start + pd.Timedelta(days=args.days)
    train_end = (end - pd.Timedelta(days=args.eval_days)).to_pydatetime()
    frames = _reading_frames(args.days, start)
    tsv = _tsv_templates(frames)
    readings_partitions_ensure(start=start.to_pydatetime(), end=end.to_pydatetime())
    app.conf.broker_url = redis_url
    app.conf.task_always_eager = False
    broker = redis.Redis.from_url(redis_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "ENMS_"))}
    env.update(DJANGO_SETTINGS_MODULE="enms.settings.test", DATABASE_URL=database_url, REDIS_URL=redis_url,
               CELERY_TASK_ALWAYS_EAGER="false", PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING", CONN_MAX_AGE="60")
    log_dir = ROOT / "bench" / "out"
    log_dir.mkdir(exist_ok=True)

    templates: dict[int, EnergyBaseline] = {}
    loaded = 0
    results = []
    for size in sizes:
        machines = Machine.objects.bulk_create([
            Machine(name=f"Scale {i}", machine_type=PLANT[i % len(PLANT)].machine_type,
                    site=PLANT[i % len(PLANT)].site, time_zone=PLANT[i % len(PLANT)].time_zone)
            for i in range(loaded, size)])
        with connection.cursor() as cursor, cursor.connection.cursor() as cur, cur.copy(
                "COPY energy_readings (machine_id, timestamp, energy_kwh, production_units, outdoor_temp_c, "
                "operating_hours, is_anomaly) FROM STDIN") as copy:
            for i, machine in zip(range(loaded, size), machines, strict=True):
                copy.write(tsv[i % len(PLANT)].replace(PLACEHOLDER, str(machine.pk)))
        versions = []
        for i, machine in zip(range(loaded, size), machines, strict=True):
            kind = i % len(PLANT)
            if kind not in templates:
                templates[kind] = baseline_activate(baseline=baseline_train(
                    machine=machine, training_start=start.to_pydatetime(), training_end=train_end))
                continue
            t = templates[kind]
            fields = {f.attname: getattr(t, f.attname) for f in EnergyBaseline._meta.concrete_fields
                      if f.attname not in ("id", "machine_id", "created_at")}
            versions.append(EnergyBaseline(**{**fields, "id": uuid.uuid4(), "machine_id": machine.pk}))
        EnergyBaseline.objects.bulk_create(versions, batch_size=1000)
        loaded = size
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE energy_readings")
        for count in worker_counts:
            ModelPerformanceMetric.objects.filter(source="evaluation").delete()
            broker.flushdb()
            workers = [Worker(f"w{n}-{size}", env, log_dir) for n in range(count)]
            try:
                for w in workers:
                    _wait(w.ready, 60, f"worker {w.name}")
                started = time.perf_counter()
                run_id = cycle_fanout(cycle="evaluation", now=end.to_pydatetime(), batch_size=args.batch_size)["run_id"]
                run = _wait(lambda rid=run_id: CycleRun.objects.filter(pk=rid, finished_at__isnull=False).first(),
                            3600, "the cycle")
                seconds = time.perf_counter() - started
                rss = max(w.peak_rss_mb() for w in workers)
            finally:
                for w in workers:
                    w.stop()
            assert run.batches_done == run.batches_total and run.failures == 0, run.__dict__
            assert run.totals.get("stored") == size, run.totals
            results.append({"machines": size, "workers": count, "seconds": seconds,
                            "per_machine_ms": 1000 * seconds / size, "batches": run.batches_total,
                            "peak_rss_mb": rss})
            print(json.dumps(results[-1]), flush=True)
            write_json(args.json, {"benchmark": "scale", "args": vars(args), "ingest": ingest, "cycles": results,
                                   "indexes": {}})
    return results, _bench_indexes(train_end, end.to_pydatetime(), args.batch_size)


def _bench_indexes(window_start, window_end, batch_size) -> dict:
    """The index the unique constraint makes beside a BRIN on timestamp, on the loaded fleet."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM machines ORDER BY id LIMIT %s", [batch_size])
        batch = [r[0] for r in cursor.fetchall()]

        def batch_read():
            cursor.execute("SELECT machine_id, timestamp, energy_kwh FROM energy_readings WHERE machine_id = ANY(%s) "
                           "AND timestamp >= %s AND timestamp < %s", [batch, window_start, window_end])
            cursor.fetchall()

        def window_read():
            cursor.execute("SELECT machine_id, sum(energy_kwh) FROM energy_readings WHERE timestamp >= %s "
                           "AND timestamp < %s GROUP BY machine_id", [window_end - timedelta(days=1), window_end])
            cursor.fetchall()

        def index_mb(kind: str) -> float:
            cursor.execute("SELECT coalesce(sum(pg_relation_size(i.indexrelid)), 0) FROM pg_index i "
                           "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                           "JOIN pg_inherits h ON h.inhrelid = i.indrelid "
                           "WHERE h.inhparent = 'energy_readings'::regclass AND a.amname = %s "
                           "AND pg_get_indexdef(i.indexrelid) LIKE %s", [kind, "%machine_id%" if kind == "btree"
                                                                            else "%timestamp%"])
            return cursor.fetchone()[0] / 2**20

        btree_batch, btree_window, btree_mb = median_time(batch_read), median_time(window_read), index_mb("btree")
        cursor.execute("CREATE INDEX reading_timestamp_brin ON energy_readings USING brin (timestamp)")
        cursor.execute("ANALYZE energy_readings")
        brin_batch, brin_window, brin_mb = median_time(batch_read), median_time(window_read), index_mb("brin")
        cursor.execute("DROP INDEX reading_timestamp_brin")
    return {
        "B-tree (machine, timestamp), all partitions": f"{btree_mb:,.1f} MB",
        "BRIN (timestamp), all partitions": f"{brin_mb:,.2f} MB",
        f"batch read ({batch_size} machines × window), B-tree only / with BRIN":
            f"{1000 * btree_batch:.1f} / {1000 * brin_batch:.1f} ms",
        "fleet-wide one-day read, B-tree only / with BRIN": f"{1000 * btree_window:.1f} / {1000 * brin_window:.1f} ms",
    }


if __name__ == "__main__":
    main()

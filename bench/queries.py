"""Read-path benchmark: the three queries behind the fleet page and the model page, on 1,000,000
metrics rows over 1,000 model versions, each beside a hand-written SQL for the same answer
measured in the same run on the same data.

    python bench/queries.py [--rows 1000000] [--models 1000] [--alerts 5000] [--repeat 15] [--json out.json]

Data (loaded with COPY, rows in arrival order, i.e. sorted by `evaluated_at`, so one model's rows
are spread over the whole heap as in production): 250 machines with four versions each (energy
baseline v1-v3, v3 active, and an anomaly detector); one busy energy baseline evaluated hourly
for a year (8,760 rows), the other versions share the rest, evaluated at random times over the
same year; about 5 % of energy-baseline rows are drift checks without an RMSE. 5,000 alerts,
30 % critical, 40 % resolved.

Pairs timed (median of --repeat runs after a warm-up, the two sides run alternately so that load
from other processes falls on both alike; the ratio is product / hand-written, target at most 2):

- latest metrics row per version: `SELECT * FROM v_latest_model_performance` (every version), the
  fleet page's `LatestModelPerformance.objects.filter(model_id__in=<active versions>)` and one
  version's row, each beside `energy_baselines CROSS JOIN LATERAL (... ORDER BY evaluated_at DESC,
  id DESC LIMIT 1)` with the same filter on `b.id` (through `Model.objects.raw` where the product
  side goes through the ORM, so both sides pay the same object construction);
- unresolved alerts: `list(alerts_active())` beside the same instances from a direct query on
  `model_alerts`; the raw SQL of both; and the endpoint's first page (COUNT + 50 rows) of each;
- one version's daily RMSE trend: `metrics_trend(model=..., metric="rmse", bucket="day")` beside
  `date_trunc('day', evaluated_at) ... GROUP BY` over the (model_id, evaluated_at) index range.

Where an installed view differs from the proposed definition in PROPOSED_LATEST_VIEW /
PROPOSED_ALERTS_VIEW, the pairs that read it run again with the proposal swapped in (in the
scratch database only; rows marked "proposed").

Every pair is checked for the same answer, and every query is run once under
EXPLAIN (ANALYZE, BUFFERS): the table says whether its plan reads `model_performance_metrics`
through indexes only (no Seq Scan; capitals flag one), and the relevant plan lines are printed below it.

Needs PostgreSQL (BENCH_ADMIN_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test); it
creates its own scratch database `enms_bench_queries` and drops it at the end (--keep-db keeps it).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import math
import re
import statistics
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
from _common import ADMIN_URL, django_setup, print_table, scratch_database, write_json

MACHINES_PER_MODEL_SET = 4  # versions per machine: energy baseline v1, v2, v3 (active) and one anomaly detector
BUSY_ROWS = 8760  # one year of hourly evaluations for the model whose trend is timed
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR_SECONDS = 365 * 24 * 3600
TARGET_RATIO = 2.0
PAGE_SIZE = 50
DB_NAME = "enms_bench_queries"

METRIC_COLUMNS = (
    "id", "model_id", "machine_id", "model_type", "source", "evaluation_start", "evaluation_end", "evaluated_at",
    "sample_count", "r_squared", "rmse", "mae", "mape", "wape", "cv_rmse", "nmbe", "precision", "recall",
    "f1_score", "drift_detected", "drift_score", "drift_details", "rmse_degradation", "ashrae_pass",
)

LATEST_VIEW_SQL = "SELECT * FROM v_latest_model_performance"
LATEST_HAND_SQL = """
SELECT m.id, m.model_id, m.machine_id, m.model_type,
       b.version AS model_version, b.status AS model_status, mc.name AS machine_name,
       m.evaluated_at, m.evaluation_start, m.evaluation_end, m.sample_count,
       m.r_squared, m.rmse, m.mae, m.mape, m.cv_rmse, m.nmbe,
       m.precision, m.recall, m.f1_score,
       m.drift_detected, m.drift_score, m.rmse_degradation, m.ashrae_pass
FROM energy_baselines b
CROSS JOIN LATERAL (
    SELECT * FROM model_performance_metrics x
    WHERE x.model_id = b.id
    ORDER BY x.evaluated_at DESC, x.id DESC
    LIMIT 1
) m
JOIN machines mc ON mc.id = b.machine_id
"""

ALERTS_VIEW_SQL = "SELECT * FROM v_unresolved_model_alerts"

# The installed definitions come from the migrations. The alternative alerts view without its
# ORDER BY (readers order anyway; inside the view it forces a full sort under COUNT(*) and LIMIT)
# runs as "proposed" beside the installed one, to show what that ordering costs.
_VIEWS = importlib.import_module("performance.migrations.0004_faster_views_and_leaner_metric_indexes")
PROPOSED_LATEST_VIEW = _VIEWS.LATEST_MODEL_PERFORMANCE
PROPOSED_ALERTS_VIEW = _VIEWS.UNRESOLVED_MODEL_ALERTS.split("ORDER BY")[0]
ALERTS_HAND_SELECT = """
SELECT al.id, al.model_id, al.machine_id, mc.name AS machine_name, al.model_type,
       al.alert_type, al.severity,
       CASE al.severity WHEN 'critical' THEN 0 ELSE 1 END AS severity_rank,
       al.message, al.details, al.occurrences, al.first_seen, al.last_seen, al.auto_action_taken
FROM model_alerts al
JOIN machines mc ON mc.id = al.machine_id
WHERE NOT al.is_resolved
ORDER BY severity_rank, al.last_seen DESC, al.first_seen DESC, al.id
"""
ALERTS_HAND_COUNT = "SELECT COUNT(*) FROM model_alerts WHERE NOT is_resolved"

TREND_HAND_SQL = """
SELECT date_trunc('day', evaluated_at) AS t, AVG(rmse) AS value, COUNT(*) AS n
FROM model_performance_metrics
WHERE model_id = %s AND rmse IS NOT NULL
GROUP BY 1
ORDER BY 1
"""

PLAN_LINE = re.compile(r"(->|Scan|Sort|Limit|SubPlan|InitPlan|Aggregate|Loop|Join|Index Cond|Filter|Hash Cond"
                       r"|Execution Time|Buffers: shared)")


# --- data -------------------------------------------------------------------------------------------

def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    h = raw.tobytes().hex()
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
            for i in range(0, 32 * n, 32)]


def seed(args, rng: np.random.Generator) -> dict:
    """Machines and versions through the ORM, metrics rows with COPY, alerts through the ORM."""
    import pandas as pd
    from django.db import connection

    from baselines.models import EnergyBaseline, Machine
    from performance.models import ModelAlert

    n_machines = args.models // MACHINES_PER_MODEL_SET
    types = ("compressor", "hvac", "furnace", "pump", "chiller", "boiler", "conveyor")
    machines = Machine.objects.bulk_create([
        Machine(name=f"Bench machine {i:04d}", machine_type=types[i % len(types)], site=f"Site {i % 5}",
                rated_power_kw=50 + i % 200)
        for i in range(n_machines)
    ])
    versions = []
    for machine in machines:
        for version, status in ((1, "retired"), (2, "retired"), (3, "active")):
            base = float(rng.uniform(1, 20))
            versions.append(EnergyBaseline(
                machine=machine, model_type="energy_baseline", version=version, status=status,
                algorithm="linear", features=["production_units", "outdoor_temp_c"], training_sample_count=2000,
                training_metrics={"rmse": base * 0.95, "r_squared": 0.9}, holdout_metrics={"rmse": base},
            ))
        versions.append(EnergyBaseline(
            machine=machine, model_type="anomaly_detector", version=1, status="active", algorithm="isolation_forest",
            training_sample_count=2000, training_metrics={"f1_score": 0.8}, holdout_metrics={"f1_score": 0.78},
        ))
    versions = EnergyBaseline.objects.bulk_create(versions)
    n_models = len(versions)
    busy = versions[2]  # machine 0's active energy baseline

    # Rows per version: the busy one hourly for a year, the rest split evenly over the others.
    counts = np.full(n_models, (args.rows - BUSY_ROWS) // (n_models - 1), dtype=np.int64)
    counts[2] = BUSY_ROWS
    others = np.flatnonzero(np.arange(n_models) != 2)
    counts[others[: args.rows - int(counts.sum())]] += 1
    assert counts.sum() == args.rows
    owner = np.repeat(np.arange(n_models), counts)
    seconds = rng.integers(0, YEAR_SECONDS, size=args.rows)
    busy_rows = owner == 2
    seconds[busy_rows] = np.arange(BUSY_ROWS) * 3600
    order = np.argsort(seconds, kind="stable")  # arrival order
    owner, seconds = owner[order], seconds[order]
    n = args.rows

    model_ids = np.array([str(v.pk) for v in versions], dtype=object)
    machine_ids = np.array([str(v.machine_id) for v in versions], dtype=object)
    is_anomaly = np.array([v.model_type == "anomaly_detector" for v in versions])
    base_rmse = np.array([float(v.holdout_metrics.get("rmse", 1.0)) for v in versions])
    anomaly = is_anomaly[owner]
    drift_check = ~anomaly & (rng.random(n) < 0.05)
    with_rmse = ~anomaly & ~drift_check

    # Timestamps as text up front (numpy formats them far faster than to_csv does).
    base = np.datetime64(YEAR_START.replace(tzinfo=None), "s") + seconds.astype("timedelta64[s]")
    evaluated = np.char.add(np.datetime_as_string(base, unit="s"), "+00")
    window_start = np.char.add(np.datetime_as_string(base - np.timedelta64(7, "D"), unit="s"), "+00")
    rmse = base_rmse[owner] * rng.lognormal(0.0, 0.2, n)
    degradation = rmse / base_rmse[owner] - 1.0
    cv = rng.uniform(0.03, 0.4, n)
    nmbe = rng.normal(0, 0.04, n)
    prec, rec = rng.uniform(0.5, 1, n), rng.uniform(0.5, 1, n)
    drift_score = rng.uniform(0, 1, n)
    frame = pd.DataFrame({
        "id": _uuids(rng, n),
        "model_id": model_ids[owner],
        "machine_id": machine_ids[owner],
        "model_type": np.where(anomaly, "anomaly_detector", "energy_baseline"),
        "source": np.where(drift_check, "drift_check", "evaluation"),
        "evaluation_start": window_start,
        "evaluation_end": evaluated,
        "evaluated_at": evaluated,
        "sample_count": rng.integers(24, 169, n),
        "r_squared": np.where(with_rmse, rng.uniform(0.5, 0.99, n), np.nan),
        "rmse": np.where(with_rmse, rmse, np.nan),
        "mae": np.where(with_rmse, rmse * 0.8, np.nan),
        "mape": np.where(with_rmse, cv * 0.9, np.nan),
        "wape": np.where(with_rmse, cv * 0.8, np.nan),
        "cv_rmse": np.where(with_rmse, cv, np.nan),
        "nmbe": np.where(with_rmse, nmbe, np.nan),
        "precision": np.where(anomaly, prec, np.nan),
        "recall": np.where(anomaly, rec, np.nan),
        "f1_score": np.where(anomaly, 2 * prec * rec / (prec + rec), np.nan),
        "drift_detected": np.where(drift_check & (drift_score > 0.7), "t", "f"),
        "drift_score": np.where(drift_check, drift_score, np.nan),
        "drift_details": "{}",
        "rmse_degradation": np.where(with_rmse, degradation, np.nan),
        "ashrae_pass": np.where(with_rmse, np.where((cv <= 0.3) & (np.abs(nmbe) <= 0.1), "t", "f"), None),
    }, columns=list(METRIC_COLUMNS))

    format_s = 0.0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.connection.cursor() as cur, cur.copy(
            f"COPY model_performance_metrics ({', '.join(METRIC_COLUMNS)}) FROM STDIN"
        ) as copy:
            for lo in range(0, n, 50_000):
                formatting = time.perf_counter()
                out = io.StringIO()
                frame.iloc[lo:lo + 50_000].to_csv(out, sep="\t", header=False, index=False, na_rep="\\N",
                                                  float_format="%.10g")
                text = out.getvalue()
                format_s += time.perf_counter() - formatting
                copy.write(text)
    copy_s = time.perf_counter() - started - format_s

    # Alerts: unresolved ones hold distinct (model, alert_type) pairs, as the partial unique index asks.
    alert_types = ("drift", "degradation", "training_failed", "ab_test_completed")
    n_open = int(args.alerts * 0.6)
    slots = rng.choice(n_models * len(alert_types), size=n_open, replace=False)
    alerts = []
    for i in range(args.alerts):
        if i < n_open:
            model_index, type_index = divmod(int(slots[i]), len(alert_types))
        else:
            model_index, type_index = int(rng.integers(n_models)), int(rng.integers(len(alert_types)))
        model = versions[model_index]
        first = YEAR_START + timedelta(seconds=int(rng.integers(0, YEAR_SECONDS - 30 * 86400)))
        last = first + timedelta(seconds=int(rng.integers(0, 30 * 86400)))
        resolved = i >= n_open
        alerts.append(ModelAlert(
            model=model, machine_id=model.machine_id, model_type=model.model_type,
            alert_type=alert_types[type_index], severity="critical" if rng.random() < 0.3 else "warning",
            message=f"{alert_types[type_index]} on {model.model_type} v{model.version}",
            details={"rmse_degradation": round(float(rng.uniform(0.25, 1.5)), 3)},
            occurrences=int(rng.integers(1, 20)), first_seen=first, last_seen=last, is_resolved=resolved,
            resolved_at=last + timedelta(hours=4) if resolved else None,
        ))
    ModelAlert.objects.bulk_create(alerts, batch_size=1000)

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    vacuum_s = time.perf_counter() - started
    return {"busy": busy, "copy_s": copy_s, "format_s": format_s, "vacuum_s": vacuum_s, "models": n_models,
            "machines": n_machines, "open_alerts": n_open}


def drop_database(name: str) -> None:
    """Close this process's connections and drop the scratch database."""
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- measurement helpers ---------------------------------------------------------------------------

def _fetch(sql: str, params=None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _execute(sql: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)


def _column(sql: str, params=None) -> list:
    return [r[0] for r in _fetch(sql, params)]


def _same_view(view: str, proposal: str) -> bool:
    """Whether the installed view already has the proposed definition (compared as PostgreSQL prints both)."""
    probe = f"{view}_probe"
    _execute(f"DROP VIEW IF EXISTS {probe}")
    _execute(re.sub(rf"CREATE VIEW {view}\b", f"CREATE VIEW {probe}", proposal))
    try:
        installed, wanted = _fetch("SELECT pg_get_viewdef(%s::regclass), pg_get_viewdef(%s::regclass)",
                                   [view, probe])[0]
        return installed == wanted
    finally:
        _execute(f"DROP VIEW {probe}")


@contextmanager
def _swapped_view(view: str, proposal: str):
    """The proposal in place of `view` for the duration, then the installed definition back."""
    _execute(f"ALTER VIEW {view} RENAME TO {view}_installed")
    _execute(proposal)
    try:
        yield
    finally:
        _execute(f"DROP VIEW {view}")
        _execute(f"ALTER VIEW {view}_installed RENAME TO {view}")


def _captured(fn) -> tuple[object, list[str]]:
    """Run `fn` once and return its result and the SQL it sent (parameters inlined)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return result, [q["sql"] for q in ctx.captured_queries]


def _explain(sql: str, params=None) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of one statement (parameters already inlined when params is None)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return [r[0] for r in cursor.fetchall()]


def _metrics_scans(plan: list[str]) -> list[str]:
    """How each plan node reads model_performance_metrics."""
    return [m.group(1) for line in plan
            if (m := re.search(r"((?:Parallel )?(?:Seq|Index Only|Index|Bitmap Heap) Scan(?: Backward)?)"
                               r"(?: using \S+)? on model_performance_metrics\b", line))]


def _plan_verdict(plans: list[list[str]]) -> str:
    """The scan types on model_performance_metrics, SEQ SCAN in capitals, '-' if the table is not read."""
    scans = sorted({s for plan in plans for s in _metrics_scans(plan)})
    return " + ".join(s.upper() if "Seq Scan" in s else s for s in scans) or "-"


def _relevant(plan: list[str]) -> list[str]:
    """Plan nodes, index conditions, sort keys and buffers, and the execution time (planning lines left out)."""
    out, planning = [], False
    for line in plan:
        if line.startswith("Planning"):
            planning = line == "Planning:"
            continue
        if PLAN_LINE.search(line) and not planning:
            out.append(line)
    return out


def interleaved_medians(a, b, *, repeat: int, warmup: int) -> tuple[float, float]:
    """Median times of `a` and `b`, run alternately (a, b, b, a, ...) so that load from other processes
    on a shared machine falls on both sides alike."""
    for _ in range(warmup):
        a()
        b()
    samples = {a: [], b: []}
    for i in range(repeat):
        for fn in ((a, b) if i % 2 == 0 else (b, a)):
            gc.collect()
            gc.disable()  # as timeit does: a collection triggered by one side's garbage would land on the other
            try:
                started = time.perf_counter()
                fn()
                samples[fn].append(time.perf_counter() - started)
            finally:
                gc.enable()
    return statistics.median(samples[a]), statistics.median(samples[b])


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


# --- main -------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=1000, help="model versions (4 per machine)")
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", default=None)
    parser.add_argument("--keep-db", action="store_true", help=f"keep the scratch database {DB_NAME}")
    args = parser.parse_args()
    if args.models % MACHINES_PER_MODEL_SET or args.models < 8:
        parser.error(f"--models must be a multiple of {MACHINES_PER_MODEL_SET} (at least 8)")
    if args.rows < BUSY_ROWS + args.models:
        parser.error(f"--rows must be at least {BUSY_ROWS + args.models}")
    if args.alerts * 0.6 > args.models * 4:
        parser.error("--alerts too large for the number of models (open alerts need distinct model/type pairs)")

    django_setup(scratch_database(DB_NAME))
    try:
        run(args)
    finally:
        if not args.keep_db:
            drop_database(DB_NAME)


def run(args) -> None:
    from performance.models import LatestModelPerformance, UnresolvedModelAlert
    from performance.selectors import alerts_active, metrics_trend

    started = time.perf_counter()
    data = seed(args, np.random.default_rng(args.seed))
    seed_s = time.perf_counter() - started
    busy = data["busy"]
    print(f"seeded {args.rows:,} metrics rows over {data['models']} versions ({data['machines']} machines) and "
          f"{args.alerts:,} alerts in {seed_s:.1f} s (COPY {data['copy_s']:.1f} s = "
          f"{args.rows / data['copy_s']:,.0f} rows/s into the table with its 5 indexes, plus {data['format_s']:.1f} s "
          f"formatting the text; VACUUM ANALYZE {data['vacuum_s']:.1f} s)")

    active_ids = [str(pk) for pk in _column("SELECT id FROM energy_baselines WHERE status = 'active' ORDER BY id")]
    one_model = str(busy.pk)

    # Each pair: (name, product label, product fn, hand label, hand fn, answer), where answer maps either
    # side's result to something comparable. Both sides go through Django's connection, so the SQL each
    # sends is captured and explained.
    def latest_answer(result):
        return sorted((str(r.pk), str(r.model_id), r.evaluated_at, r.rmse, r.model_version, r.machine_name)
                      if isinstance(r, LatestModelPerformance) else (str(r[0]), str(r[1]), r[7], r[12], r[4], r[6])
                      for r in result)

    def alerts_answer(result):
        count, page = result if isinstance(result, tuple) else (len(result), result)
        return count, [(str(a.pk), a.severity_rank, a.last_seen) for a in page]

    def trend_answer(result):
        points = result["points"] if isinstance(result, dict) else [{"t": t, "value": v, "n": n} for t, v, n in result]
        return [(p["t"], p["n"], float(f"{p['value']:.12g}")) for p in points]

    def alerts_page():
        qs = alerts_active()
        return qs.count(), list(qs[:PAGE_SIZE])

    def alerts_page_hand():
        return _fetch(ALERTS_HAND_COUNT)[0][0], list(UnresolvedModelAlert.objects.raw(
            f"{ALERTS_HAND_SELECT} LIMIT {PAGE_SIZE}"))

    in_active = ", ".join(["%s"] * len(active_ids))
    latest_pairs = [
        ("latest row, every version", "SELECT * FROM v_latest_model_performance",
         lambda: _fetch(LATEST_VIEW_SQL), "LATERAL ... LIMIT 1", lambda: _fetch(LATEST_HAND_SQL), latest_answer),
        ("latest row, active versions (fleet page)", "LatestModelPerformance.filter(model_id__in=...)",
         lambda: list(LatestModelPerformance.objects.filter(model_id__in=active_ids)), "LATERAL, b.id IN (...)",
         lambda: list(LatestModelPerformance.objects.raw(f"{LATEST_HAND_SQL} WHERE b.id IN ({in_active})",
                                                         active_ids)), latest_answer),
        ("latest row, one version", "LatestModelPerformance.filter(model_id=...)",
         lambda: list(LatestModelPerformance.objects.filter(model_id=one_model)), "LATERAL, b.id = ...",
         lambda: list(LatestModelPerformance.objects.raw(f"{LATEST_HAND_SQL} WHERE b.id = %s", [one_model])),
         latest_answer),
    ]
    alert_pairs = [
        ("alerts/active, all rows (ORM)", "list(alerts_active())", lambda: list(alerts_active()),
         "Model.objects.raw(direct SQL)", lambda: list(UnresolvedModelAlert.objects.raw(ALERTS_HAND_SELECT)),
         alerts_answer),
        ("alerts/active, page 1 (count + 50 rows)", "alerts_active(): count() + [:50]", alerts_page,
         "COUNT(*) + LIMIT 50 on model_alerts", alerts_page_hand, alerts_answer),
    ]
    pairs = [
        *latest_pairs,
        *alert_pairs[:1],
        ("alerts/active, all rows (SQL)", "v_unresolved_model_alerts ORDER BY ...",
         lambda: _fetch(f"{ALERTS_VIEW_SQL} ORDER BY severity_rank, last_seen DESC, first_seen DESC, id"),
         "model_alerts ORDER BY ...", lambda: _fetch(ALERTS_HAND_SELECT), lambda rows: [r[0] for r in rows]),
        *alert_pairs[1:],
        ("metrics/trend, 1 version, rmse by day", 'metrics_trend(model, "rmse", "day")',
         lambda: metrics_trend(model=busy, metric="rmse", bucket="day"), "date_trunc GROUP BY on index range",
         lambda: _fetch(TREND_HAND_SQL, [busy.pk]), trend_answer),
    ]

    timing = {"repeat": args.repeat, "warmup": args.warmup}
    rows, plans = [], {}

    def measure(name, product_label, product_fn, hand_label, hand_fn, answer, *, variant="as migrated"):
        product_result, product_sql = _captured(product_fn)
        hand_result, hand_sql = _captured(hand_fn)
        same = answer(product_result) == answer(hand_result)
        product_s, hand_s = interleaved_medians(product_fn, hand_fn, **timing)
        product_plans = [_explain(sql) for sql in product_sql]
        hand_plans = [_explain(sql) for sql in hand_sql]
        key = name if variant == "as migrated" else f"{name} [{variant}]"
        plans[key] = {"product": product_plans, "hand": hand_plans}
        ratio = _ratio(product_s, hand_s)
        rows.append({
            "query": name, "views": variant, "product": product_label, "product ms": f"{1000 * product_s:.2f}",
            "hand-written": hand_label, "hand ms": f"{1000 * hand_s:.2f}", "ratio": f"{ratio:.2f}",
            "target": "ok" if ratio <= TARGET_RATIO else f"> {TARGET_RATIO:g}x", "same answer": "yes" if same else "NO",
            "metrics-table scans": f"{_plan_verdict(product_plans)} | {_plan_verdict(hand_plans)}",
            "_key": key, "_product_s": product_s, "_hand_s": hand_s, "_ratio": ratio, "_same": same,
        })
        return product_result

    results = {spec[0]: measure(*spec) for spec in pairs}

    # The proposed view definitions, timed on the same data (in this scratch database only) wherever the
    # installed definition differs from the proposal; the hand-written side is unchanged.
    proposed = [(view, sql, group) for view, sql, group in (
        ("v_latest_model_performance", PROPOSED_LATEST_VIEW, latest_pairs),
        ("v_unresolved_model_alerts", PROPOSED_ALERTS_VIEW, alert_pairs),
    ) if not _same_view(view, sql)]
    for view, sql, group in proposed:
        with _swapped_view(view, sql):
            for spec in group:
                measure(*spec, variant="proposed")

    columns = ["query", "views", "product", "product ms", "hand-written", "hand ms", "ratio", "target",
               "same answer", "metrics-table scans"]
    print_table(f"Read paths on {args.rows:,} metrics rows, {data['models']} versions, {args.alerts:,} alerts "
                f"(median of {args.repeat}, sides alternated; ratio = product / hand-written, target <= "
                f"{TARGET_RATIO:g})", rows, columns)
    trend = results["metrics/trend, 1 version, rmse by day"]
    print(f"\nrows returned: every version {len(results['latest row, every version'])}, "
          f"active versions {len(results['latest row, active versions (fleet page)'])}, "
          f"alerts/active {len(results['alerts/active, all rows (ORM)'])}, trend points {len(trend['points'])} "
          f"(that version has {BUSY_ROWS:,} metrics rows)")
    if proposed:
        print("\nproposed view definitions (portable SQL, same columns and answers):")
        for _view, sql, _group in proposed:
            print("\n".join(f"  {line}" for line in sql.strip().splitlines()) + "\n")

    print("\nEXPLAIN (ANALYZE, BUFFERS), relevant lines:")
    for key, both in plans.items():
        for side in ("product", "hand"):
            for i, plan in enumerate(both[side]):
                scans = sorted(set(_metrics_scans(plan))) or ["model_performance_metrics not read"]
                print(f"\n  [{key}] {side}{f' query {i + 1}' if len(both[side]) > 1 else ''}: {', '.join(scans)}")
                for line in _relevant(plan):
                    print(f"    {line}")

    write_json(args.json, {
        "rows": args.rows, "models": data["models"], "alerts": args.alerts, "open_alerts": data["open_alerts"],
        "copy_s": data["copy_s"], "copy_rows_per_s": args.rows / data["copy_s"], "format_s": data["format_s"],
        "seed_s": seed_s, "repeat": args.repeat,
        "results": [{"query": r["query"], "views": r["views"], "product": r["product"],
                     "hand_written": r["hand-written"], "product_s": r["_product_s"], "hand_s": r["_hand_s"],
                     "ratio": r["_ratio"], "within_target": r["_ratio"] <= TARGET_RATIO, "same_answer": r["_same"],
                     "plan_metrics_scans": {side: sorted({s for p in plans[r["_key"]][side] for s in _metrics_scans(p)})
                                            for side in ("product", "hand")}}
                    for r in rows],
        "proposed_views": {view: sql.strip() for view, sql, _ in proposed},
        "plans": plans,
    })
    failed = [r["_key"] for r in rows if not r["_same"]]
    if failed:
        raise SystemExit(f"different answers: {', '.join(failed)}")


if __name__ == "__main__":
    main()

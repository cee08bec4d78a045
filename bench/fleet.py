"""Fleet benchmark: train N machines × 90 days of hourly readings, then time one evaluation cycle
end to end (database in, metrics rows out) beside a numpy-only computation of the same metrics
on the same arrays, measured in the same run.

    python bench/fleet.py --machines 200 [--days 90] [--json out.json]

Needs PostgreSQL (BENCH_ADMIN_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test); it
creates and drops its own scratch database.
"""

from __future__ import annotations

import argparse
import io
import time

from _common import django_setup, median_time, print_table, scratch_database, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--eval-days", type=int, default=7, help="days of new readings per evaluation cycle")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    django_setup(scratch_database("enms_bench_fleet"))

    import numpy as np
    import pandas as pd
    from django.db import connection
    from tqdm import tqdm

    from baselines.artifacts import pipeline_for
    from baselines.demo import PLANT, machine_readings
    from baselines.engine.fit import predict
    from baselines.models import EnergyBaseline, Machine
    from baselines.selectors import readings_frame
    from baselines.services import baseline_activate, baseline_train
    from performance.models import ModelPerformanceMetric
    from performance.services.evaluation import evaluation_cycle

    start = pd.Timestamp("2026-01-05", tz="UTC")
    end = start + pd.Timedelta(days=args.days)
    train_end = end - pd.Timedelta(days=args.eval_days)

    machines = Machine.objects.bulk_create(
        [Machine(name=f"{PLANT[i % len(PLANT)].name} #{i}", machine_type=PLANT[i % len(PLANT)].machine_type,
                 site=PLANT[i % len(PLANT)].site, time_zone=PLANT[i % len(PLANT)].time_zone)
         for i in range(args.machines)]
    )
    from baselines.partitions import readings_partitions_ensure

    readings_partitions_ensure(start=start.to_pydatetime(), end=end.to_pydatetime())  # the months' partitions
    started = time.perf_counter()
    buffer_rows = 0
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor() as cur, cur.copy(
            "COPY energy_readings (machine_id, timestamp, energy_kwh, production_units, outdoor_temp_c, "
            "operating_hours, is_anomaly) FROM STDIN"
        ) as copy:
            for i, machine in enumerate(tqdm(machines, desc="readings", unit="machine")):
                frame = machine_readings(PLANT[i % len(PLANT)], start, args.days)
                frame.insert(0, "machine_id", str(machine.pk))
                out = io.StringIO()
                frame.to_csv(out, sep="\t", header=False, index=False, na_rep="\\N")
                copy.write(out.getvalue())
                buffer_rows += len(frame)
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    for machine in tqdm(machines, desc="train", unit="machine"):
        version = baseline_train(machine=machine, training_start=start.to_pydatetime(),
                                 training_end=train_end.to_pydatetime())
        baseline_activate(baseline=version)
    train_s = time.perf_counter() - started

    now = end.to_pydatetime()

    def cycle():
        ModelPerformanceMetric.objects.filter(source="evaluation").delete()
        result = evaluation_cycle(now=now, auto_actions=False)
        assert result["stored"] == args.machines, result

    cycle_s = median_time(cycle, repeat=args.repeat)

    # The limit: the same metrics on the same arrays with numpy only (actuals and predictions in memory).
    versions = {v.machine_id: v for v in EnergyBaseline.objects.filter(status="active")}
    full = readings_frame(machine_ids=list(versions), start=train_end.to_pydatetime(), end=now)
    preds = np.concatenate([
        predict(pipeline_for(versions[mid]), group) for mid, group in full.groupby("machine_id", sort=True)
    ])
    y = full["energy_kwh"].to_numpy()
    codes = full["machine_id"].astype("category").cat.codes.to_numpy()
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    counts = np.diff(np.r_[starts, len(codes)])

    def numpy_metrics():
        e = y - preds
        sse = np.add.reduceat(e * e, starts)
        sae = np.add.reduceat(np.abs(e), starts)
        sy = np.add.reduceat(y, starts)
        sy2 = np.add.reduceat(y * y, starts)
        mean = sy / counts
        rmse = np.sqrt(sse / counts)
        r2 = 1 - sse / (sy2 - counts * mean * mean)
        return rmse, sae / counts, rmse / mean, np.add.reduceat(e, starts) / (counts * mean), r2

    limit_s = median_time(numpy_metrics, repeat=max(5, args.repeat))
    fetch_s = median_time(lambda: _fetch(connection, train_end.to_pydatetime(), now), repeat=args.repeat)
    predict_s = median_time(lambda: [predict(pipeline_for(versions[mid]), g)
                                     for mid, g in full.groupby("machine_id", sort=True)], repeat=args.repeat)

    table = [
        {"step": "load readings (COPY)", "seconds": f"{load_s:.2f}", "note": f"{buffer_rows:,} rows"},
        {"step": "train + activate all", "seconds": f"{train_s:.2f}",
         "note": f"{1000 * train_s / args.machines:.0f} ms/machine"},
        {"step": "evaluation cycle (DB in, rows out)", "seconds": f"{cycle_s:.3f}",
         "note": f"{len(y):,} readings, {args.machines} rows stored"},
        {"step": "  reference: raw SQL fetch of the same rows", "seconds": f"{fetch_s:.3f}", "note": ""},
        {"step": "  reference: predictions only (pipelines)", "seconds": f"{predict_s:.3f}", "note": ""},
        {"step": "limit: numpy-only metrics, same arrays", "seconds": f"{limit_s:.4f}",
         "note": f"cycle / limit = {cycle_s / limit_s:.0f}×; cycle / (fetch + predict + limit) = "
                 f"{cycle_s / (fetch_s + predict_s + limit_s):.2f}×"},
    ]
    print_table(f"Fleet: {args.machines} machines × {args.days} days hourly", table, ["step", "seconds", "note"])
    write_json(args.json, {"machines": args.machines, "days": args.days, "load_s": load_s, "train_s": train_s,
                           "cycle_s": cycle_s, "limit_s": limit_s, "fetch_s": fetch_s, "predict_s": predict_s,
                           "ratio_cycle_limit": cycle_s / limit_s,
                           "ratio_cycle_io_limit": cycle_s / (fetch_s + predict_s + limit_s)})


FETCH_SQL = (
    "SELECT machine_id, timestamp, energy_kwh, production_units, outdoor_temp_c, operating_hours, is_anomaly "
    "FROM energy_readings WHERE timestamp >= %s AND timestamp < %s ORDER BY machine_id, timestamp"
)


def _fetch(connection, start, end):
    """The raw-SQL reference: the cycle's readings, fetched with no ORM or DataFrame work."""
    with connection.cursor() as cursor:
        cursor.execute(FETCH_SQL, [start, end])
        return cursor.fetchall()


if __name__ == "__main__":
    main()

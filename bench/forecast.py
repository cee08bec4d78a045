"""Forecast degradation benchmark: a backtest on simulated machines, and timings.

    python bench/forecast.py [--machines 300] [--seed 0] [--job-versions 1000] [--json out.json]

1. Backtest (`performance/forecastsim.py`): each machine has two years of hourly readings
   (seasonal temperature with weather, heating and cooling, a production plan that changes, some
   slowly drifting); the product's engine fits a baseline on part of a year; from its training end
   a forecast is issued every week (production plans known, a ten-day weather forecast, the same
   days of last year beyond) and compared with what then happened, day by day, against the
   policy (ASHRAE hourly limits or ≥ 25 % of the day's hours outside the training range). Beside
   it, in the same run: persistence of the latest week's checks and the trend of the checks alone.
2. One forecast of one version over 365 days (numeric core), beside the raw limit: the
   out-of-range mask and per-day shares of the same rows with numpy only.
3. The daily job (`forecast_batch`) over `--job-versions` active versions on PostgreSQL (90 days
   of readings each, a month of driver forecasts), in one process (the cycle splits it into
   batches of ENMS_CYCLE_BATCH_SIZE that workers take in parallel).

Needs PostgreSQL for step 3 (BENCH_ADMIN_DATABASE_URL); `--job-versions 0` skips it.
"""

from __future__ import annotations

import argparse
import io
import time

from _common import median_time, print_table, write_json


def backtest_rows(r: dict) -> list[dict]:
    return [
        {"figure": "precision, breach within 30 days", "forecast": f"{r['precision']:.3f}",
         "persistence": f"{r['precision_persistence']:.3f}", "trend only": f"{r['precision_trend']:.3f}",
         "target": "≥ 0.8"},
        {"figure": "recall, breach within 30 days", "forecast": f"{r['recall']:.3f}",
         "persistence": f"{r['recall_persistence']:.3f}", "trend only": f"{r['recall_trend']:.3f}",
         "target": "≥ 0.8"},
        {"figure": "Brier score, 30-day breach probability", "forecast": f"{r['brier']:.4f}",
         "persistence": f"{r['brier_persistence']:.4f}", "trend only": f"{r['brier_trend']:.4f}",
         "target": "< both naive"},
        {"figure": "median lead time, driver-caused breaches (days)", "forecast": f"{r['median_lead_days']:.1f}",
         "persistence": "—", "trend only": "—", "target": "≥ 10"},
        {"figure": "driver-caused onsets found / all", "forecast":
            f"{r['coverage_onsets_found']} / {r['coverage_onsets']}", "persistence": "—", "trend only": "—",
         "target": ""},
        {"figure": "forecasts scored (breach within 30 days)", "forecast": f"{r['forecasts']} ({r['breaches']})",
         "persistence": "", "trend only": "", "target": ""},
    ]


def demo_backtest(seed: int) -> dict:
    """The same backtest on the demo plant's machines (their generator, two years of readings)."""
    import pandas as pd

    from baselines.demo import PLANT, machine_readings
    from performance.forecastsim import DAY0, N_DAYS, backtest, demo_windows

    frames = [machine_readings(spec, DAY0, N_DAYS).drop(columns=["is_anomaly"]) for spec in PLANT]
    assert all(len(f) == N_DAYS * 24 and f["timestamp"].iloc[0] == pd.Timestamp(DAY0) for f in frames)
    return backtest(0, seed=seed, machines=demo_windows(frames, per_machine=4, seed=seed))


def time_one_year() -> dict:
    import numpy as np

    from performance import forecast as fc
    from performance.forecastsim import one_year_forecast, one_year_inputs

    inputs = one_year_inputs()
    forecast_s = median_time(lambda: one_year_forecast(*inputs), repeat=21, warmup=2)
    days, history, forecast, _, _ = inputs
    drivers = ["production_units", "outdoor_temp_c", "operating_hours"]
    dd = fc.driver_days(days=days, drivers=drivers, forecast=forecast, history=history, time_zone="Europe/Berlin")
    lows, highs = np.array([5.0, 0.0, 0.0]), np.array([50.0, 25.0, 1.0])

    def limit():
        outside = np.any((dd.values < lows) | (dd.values > highs), axis=1)
        return np.bincount(dd.day, weights=outside, minlength=365) / np.bincount(dd.day, minlength=365)

    limit_s = median_time(limit, repeat=21, warmup=2)
    return {"forecast_365_s": forecast_s, "share_limit_s": limit_s, "rows": int(len(dd.day))}


def time_daily_job(n_versions: int) -> dict:
    from _common import django_setup, scratch_database

    django_setup(scratch_database("enms_bench_forecast"))
    import pandas as pd
    from django.db import connection

    from baselines.demo import PLANT, machine_readings
    from baselines.models import DriverForecast, EnergyBaseline, Machine
    from baselines.services import baseline_train
    from performance.services.forecast import forecast_batch

    days = 90
    start = pd.Timestamp("2026-01-05", tz="UTC")
    end = start + pd.Timedelta(days=days)
    machines = Machine.objects.bulk_create(
        [Machine(name=f"{PLANT[i % len(PLANT)].name} #{i}", machine_type=PLANT[i % len(PLANT)].machine_type,
                 site=PLANT[i % len(PLANT)].site, time_zone=PLANT[i % len(PLANT)].time_zone)
         for i in range(n_versions)])
    frames = {}
    with connection.cursor() as cursor, cursor.connection.cursor() as cur, cur.copy(
            "COPY energy_readings (machine_id, timestamp, energy_kwh, production_units, outdoor_temp_c, "
            "operating_hours, is_anomaly) FROM STDIN") as copy:
        for i, machine in enumerate(machines):
            spec = PLANT[i % len(PLANT)]
            frame = frames.setdefault(spec.name, machine_readings(spec, start, days))
            out = io.StringIO()
            frame.assign(machine_id=str(machine.pk))[["machine_id", *frame.columns]].to_csv(
                out, sep="\t", header=False, index=False, na_rep="\\N")
            copy.write(out.getvalue())
    # One trained version per demo profile, its row copied to every machine of that profile (the
    # job's cost per version does not depend on which machine it belongs to).
    trained = {}
    versions = []
    for i, machine in enumerate(machines):
        spec = PLANT[i % len(PLANT)]
        if spec.name not in trained:
            trained[spec.name] = baseline_train(machine=machine, training_start=start.to_pydatetime(),
                                                training_end=(end - pd.Timedelta(days=30)).to_pydatetime())
            EnergyBaseline.objects.filter(pk=trained[spec.name].pk).update(status="active")
            versions.append(trained[spec.name].pk)
            continue
        source = trained[spec.name]
        fields = {f.name: getattr(source, f.name) for f in EnergyBaseline._meta.fields
                  if f.name not in ("id", "machine", "created_at", "parent")}
        versions.append(EnergyBaseline.objects.create(**{**fields, "machine": machine, "status": "active",
                                                         "version": 1}).pk)
    future = pd.date_range(end, periods=30 * 24, freq="h")
    DriverForecast.objects.bulk_create(
        [DriverForecast(machine=m, timestamp=t.to_pydatetime(), outdoor_temp_c=-5.0) for m in machines
         for t in future], batch_size=5000)
    now = end.to_pydatetime()
    started = time.perf_counter()
    result = forecast_batch(version_ids=versions, now=now)
    job_s = time.perf_counter() - started
    return {"job_versions": n_versions, "job_s": job_s, "job_result": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--job-versions", type=int, default=1000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from _common import ROOT  # noqa: F401  (puts the project on sys.path)

    from performance.forecastsim import backtest

    started = time.perf_counter()
    result = backtest(args.machines, seed=args.seed)
    result["backtest_s"] = time.perf_counter() - started
    print_table(f"Forecast backtest: {args.machines} simulated machines, weekly forecasts from training end",
                backtest_rows(result), ["figure", "forecast", "persistence", "trend only", "target"])
    result["demo"] = demo_backtest(args.seed)
    print_table("Forecast backtest: the demo plant (14 machines × 4 training windows, two years of readings)",
                backtest_rows(result["demo"]), ["figure", "forecast", "persistence", "trend only", "target"])
    result.update(time_one_year())
    timing = [
        {"step": "one forecast, 1 version × 365 days (numeric core)", "ms": f"{1000 * result['forecast_365_s']:.1f}",
         "note": f"{result['rows']:,} driver hours; limit (numpy mask + shares) "
                 f"{1000 * result['share_limit_s']:.2f} ms"},
        {"step": "one forecast in the backtest (30 days)", "ms": f"{result['forecast_ms']:.1f}", "note": ""},
        {"step": "fit one machine (training window)", "ms": f"{1000 * result['fit_s_per_machine']:.0f}", "note": ""},
    ]
    if args.job_versions:
        result.update(time_daily_job(args.job_versions))
        timing.append({"step": f"daily job, {args.job_versions} versions, one process", "ms":
                       f"{1000 * result['job_s']:.0f}",
                       "note": f"{1000 * result['job_s'] / args.job_versions:.1f} ms/version; {result['job_result']}"})
    print_table("Forecast timings", timing, ["step", "ms", "note"])
    write_json(args.json, result)


if __name__ == "__main__":
    main()

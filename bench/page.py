"""Dashboard paint benchmark: time from navigation to every chart painted on the model page with
five charts of 2,000 points each (R², RMSE, CV(RMSE), NMBE and drift score, hourly buckets) plus the
CUSUM chart (cumulative kWh against the baseline, computed on the server from the machine's
readings and a real fitted version), in headless Chromium against a live server on a scratch
SQLite database.

    python bench/page.py [--points 2000] [--runs 7] [--warmup 2] [--json out.json]

A run opens the page in a new tab of one logged-in browser context (static files cached after the
warm-up, as for a user who comes back) and reads, for each chart, the `performance.now()` of the
first animation frame after it was drawn with its data; the figure is the latest of the five,
i.e. milliseconds from navigation start until the last chart is on screen. It also checks that
every chart holds all its points and has painted pixels, so a page that renders nothing cannot
look fast. Target: median below 1 s. The table also gives the medians of when the HTML arrived,
when the DOM was ready and when the trend data arrived (the `metrics/trends` answer, or the last
`metrics/trend` answer of a page that asks per chart), which shows whether the server or the
browser is the bottleneck. Static files are served as production serves them (cached for good),
so a run measures the page, not revalidations of recently edited scripts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import django_setup, print_table, write_json

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
CHARTS = ("r_squared", "rmse", "cv_rmse", "nmbe", "drift_score")
PAINTED = (*CHARTS, "cusum")
TRAINING_DAYS = 60
TARGET_MS = 1000.0

PHASES = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const trends = performance.getEntriesByType("resource").filter((r) => r.name.includes("/metrics/trend"));
  return {html: nav.responseEnd, dom_ready: nav.domContentLoadedEventEnd,
          trend_data: Math.max(...trends.map((r) => r.responseEnd))};
}"""

CHECK = """(names) => names.map((name) => {
  const chart = window.enmsCharts[name];
  const canvas = chart.canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return [name, chart.data.datasets[0].data.length, painted];
})"""


def seed(points: int):
    """One machine with hourly demo readings, one active version fitted on its first 60 days, and
    `points` hourly metrics rows carrying all five metrics after the training window."""
    import numpy as np
    import pandas as pd
    from django.contrib.auth import get_user_model

    from baselines.demo import PLANT, machine_readings
    from baselines.models import EnergyReading, Machine
    from baselines.services import baseline_activate, baseline_train
    from performance.models import MetricSource, ModelPerformanceMetric

    machine = Machine.objects.create(name="Bench compressor", machine_type="compressor", site="Bench",
                                     rated_power_kw=160)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    first = pd.Timestamp(start - timedelta(days=TRAINING_DAYS))
    frame = machine_readings(PLANT[0], first, TRAINING_DAYS + -(-points // 24))
    columns = ("energy_kwh", "production_units", "outdoor_temp_c", "operating_hours")
    EnergyReading.objects.bulk_create([
        EnergyReading(machine=machine, timestamp=row.timestamp.to_pydatetime(),
                      **{c: float(getattr(row, c)) for c in columns})
        for row in frame.itertuples()
    ], batch_size=2000)
    model = baseline_activate(baseline=baseline_train(machine=machine, training_start=first.to_pydatetime(),
                                                      training_end=start))
    rng = np.random.default_rng(7)
    hours = np.arange(points)
    drift = np.clip(0.15 + 0.6 * (hours / points) + rng.normal(0, 0.05, points), 0, 1)
    cv = np.abs(0.06 + 0.08 * (hours / points) + rng.normal(0, 0.01, points))
    nmbe = 0.002 + 0.06 * (hours / points) + rng.normal(0, 0.01, points)
    ModelPerformanceMetric.objects.bulk_create([
        ModelPerformanceMetric(
            model=model, machine=machine, model_type=model.model_type, source=MetricSource.EVALUATION,
            evaluated_at=start + timedelta(hours=int(h)), sample_count=24,
            r_squared=float(min(1.0, 0.95 - cv[h])), rmse=float(cv[h] * 40), mae=float(cv[h] * 30),
            cv_rmse=float(cv[h]), nmbe=float(nmbe[h]), drift_score=float(drift[h]),
            ashrae_pass=bool(cv[h] <= 0.3 and abs(nmbe[h]) <= 0.1),
        )
        for h in hours
    ], batch_size=1000)
    user = get_user_model().objects.create_superuser(username="bench", password="bench-pw-123", email="")
    return model, user


def start_server():
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    class CachedStaticFilesHandler(StaticFilesHandler):
        """Static files with the caching production gives them (whitenoise serves the hashed names of
        the manifest storage as immutable), so a returning user's browser does not ask for them again;
        without it Chromium's heuristic freshness (a share of the file's age) revalidates each recently
        edited script on every load, and the figure depends on when the files were last touched."""

        def serve(self, request):
            response = super().serve(request)
            response["Cache-Control"] = "max-age=31536000, immutable"
            return response

    server = LiveServerThread("127.0.0.1", CachedStaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=2000, help="points per chart (hourly metrics rows)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        raise SystemExit(f"Chromium not found at {args.chromium}")

    scratch = tempfile.TemporaryDirectory(prefix="enms-bench-page-")
    django_setup(f"sqlite:///{Path(scratch.name) / 'bench.sqlite3'}")

    from django.conf import settings
    from django.test import Client
    from playwright.sync_api import sync_playwright

    vendor = Path(settings.BASE_DIR) / "static" / "vendor" / "chart.umd.min.js"
    if not vendor.exists():
        raise SystemExit("static/vendor/chart.umd.min.js is missing: run `make static` first")

    model, user = seed(args.points)
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    server = start_server()
    base = f"http://127.0.0.1:{server.port}"
    url = f"{base}/ui/model-performance?machine={model.machine_id}&model={model.pk}&bucket=hour"

    samples: list[float] = []
    phases: list[dict] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=LAUNCH_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base}])
            for run in range(args.warmup + args.runs):
                page = context.new_page()
                page.goto(url, wait_until="commit")
                page.wait_for_function("(names) => names.every((n) => window.enmsPaint && window.enmsPaint[n])",
                                       arg=list(PAINTED), timeout=60_000)
                painted_ms = page.evaluate("(names) => Math.max(...names.map((n) => window.enmsPaint[n]))",
                                           list(PAINTED))
                for name, count, pixels in page.evaluate(CHECK, list(CHARTS)):
                    if count != args.points or pixels < 1000:
                        raise SystemExit(f"chart {name}: {count} points, {pixels} painted pixels; expected "
                                         f"{args.points} points drawn")
                cusum = page.evaluate(CHECK, ["cusum"])[0]
                if cusum[1] < 80 or cusum[2] < 1000:
                    raise SystemExit(f"CUSUM chart: {cusum[1]} daily points, {cusum[2]} painted pixels")
                timing = page.evaluate(PHASES)
                page.close()
                if run >= args.warmup:
                    samples.append(painted_ms)
                    phases.append(timing)
            browser.close()
    finally:
        server.terminate()
        scratch.cleanup()

    median = statistics.median(samples)
    phase = {key: statistics.median(p[key] for p in phases) for key in ("html", "dom_ready", "trend_data")}
    row = {
        "figure": f"navigation → {len(CHARTS)} charts × {args.points:,} points + CUSUM painted",
        "median_ms": f"{median:.0f}",
        "html_ms": f"{phase['html']:.0f}",
        "dom_ready_ms": f"{phase['dom_ready']:.0f}",
        "trend_data_ms": f"{phase['trend_data']:.0f}",
        "min_ms": f"{min(samples):.0f}",
        "max_ms": f"{max(samples):.0f}",
        "runs": len(samples),
        "target": f"< {TARGET_MS:.0f} ms",
        "verdict": "ok" if median < TARGET_MS else "over target",
    }
    print_table("Model performance page, headless Chromium", [row], list(row))
    write_json(args.json, {
        "benchmark": "page",
        "url": "/ui/model-performance?bucket=hour",
        "charts": list(PAINTED),
        "points_per_chart": args.points,
        "warmup": args.warmup,
        "samples_ms": [round(s, 1) for s in samples],
        "median_ms": round(median, 1),
        "phases_median_ms": {k: round(v, 1) for k, v in phase.items()},
        "target_ms": TARGET_MS,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })


if __name__ == "__main__":
    main()

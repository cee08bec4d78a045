"""OpenAPI post-processing: operations grouped by tag, each with a one-line summary."""

from __future__ import annotations

import re

# (path pattern, tag), first match wins; the tags' order and descriptions are in settings.
TAG_RULES = (
    (r"/machines/\{id\}/readings/", "readings"),
    (r"/machines/\{id\}/driver-forecasts/", "forecast"),
    (r"/machines/", "machines"),
    (r"/baselines/", "baselines"),
    (r"/model-performance/metrics/", "metrics"),
    (r"/model-performance/drift/", "drift"),
    (r"/model-performance/(retrain|training-history)", "training"),
    (r"/model-performance/ab-tests?/", "A/B tests"),
    (r"/model-performance/alerts/", "alerts"),
    (r"/model-performance/forecast", "forecast"),
)

TAGS = [
    {"name": "machines", "description": "The machines whose energy use is modelled."},
    {"name": "readings", "description": "Hourly readings: energy and drivers (JSON or CSV)."},
    {"name": "baselines", "description": "Trained versions of each machine's models; predict and activate."},
    {"name": "metrics", "description": "Stored evaluations and their trends."},
    {"name": "drift", "description": "Data and concept drift checks, their cause and impact."},
    {"name": "training", "description": "Training and retraining jobs."},
    {"name": "A/B tests", "description": "Champion/challenger tests between two versions: start, results, stop."},
    {"name": "alerts", "description": "Open and past alerts with their evidence; resolve and re-baseline."},
    {"name": "forecast", "description": "Driver forecasts and the expected date a version fails its policy."},
]


_P = "/api/v1/model-performance/"
SUMMARIES = {
    ("get", "/api/v1/machines/"): "List machines",
    ("post", "/api/v1/machines/"): "Register a machine",
    ("get", "/api/v1/machines/{id}/"): "Read a machine",
    ("patch", "/api/v1/machines/{id}/"): "Update a machine",
    ("put", "/api/v1/machines/{id}/"): "Replace a machine",
    ("get", "/api/v1/machines/{id}/readings/"): "List a machine's readings",
    ("post", "/api/v1/machines/{id}/readings/"): "Upload readings (JSON or CSV)",
    ("post", "/api/v1/machines/{id}/driver-forecasts/"): "Upload driver forecasts (JSON or CSV)",
    ("get", "/api/v1/baselines/"): "List model versions",
    ("get", "/api/v1/baselines/{id}/"): "Read a model version",
    ("post", "/api/v1/baselines/{id}/activate/"): "Make a version active",
    ("post", "/api/v1/baselines/{id}/predict/"): "Predict kWh with a version",
    ("get", _P + "metrics/"): "List stored metrics",
    ("get", _P + "metrics/{id}/"): "Read a metrics row",
    ("post", _P + "metrics/record"): "Record evaluations",
    ("get", _P + "metrics/trend"): "Trend of a metric per hour, day or week",
    ("get", _P + "metrics/trends"): "Trends of several metrics in one answer",
    ("post", _P + "drift/check"): "Check a version for drift now",
    ("post", _P + "retrain/trigger"): "Queue a (re)training job",
    ("get", _P + "training-history/"): "List training jobs",
    ("get", _P + "training-history/{id}/"): "Read a training job",
    ("post", _P + "ab-test/start"): "Start an A/B test or backtest",
    ("get", _P + "ab-test/{id}/results"): "Results of an A/B test",
    ("post", _P + "ab-test/{id}/stop"): "Stop a running A/B test",
    ("get", _P + "ab-tests/"): "List A/B tests",
    ("get", _P + "ab-tests/{id}/"): "Read an A/B test",
    ("get", _P + "alerts/"): "List alerts",
    ("get", _P + "alerts/{id}/"): "Read an alert with its evidence",
    ("get", _P + "alerts/active"): "Open alerts, critical first",
    ("post", _P + "alerts/{id}/resolve"): "Resolve an alert",
    ("post", _P + "alerts/{id}/rebaseline"): "Re-baseline from an alert's change point",
    ("get", _P + "forecast"): "Forecast when a version will fail its policy",
}


def _summary(operation: dict, method: str, path: str) -> str:
    if (method, path) in SUMMARIES:
        return SUMMARIES[(method, path)]
    text = (operation.get("description") or "").strip()
    if text:
        first = re.split(r"(?<=[.:;])\s|\n", text, maxsplit=1)[0].rstrip(".:;")
        if len(first) <= 120:
            return first
    verb = {"get": "Read", "post": "Create", "patch": "Update", "put": "Replace", "delete": "Delete"}[method]
    return f"{verb} {path.rstrip('/').rsplit('/', 1)[-1]}"


def tag_and_summarise(result, generator, request, public):
    """drf-spectacular postprocessing hook: a tag from `TAG_RULES` and a summary (the first
    sentence of the description) on every operation that lacks them."""
    for path, methods in (result.get("paths") or {}).items():
        for method, operation in methods.items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            for pattern, tag in TAG_RULES:
                if re.search(pattern, path):
                    operation["tags"] = [tag]
                    break
            if not operation.get("summary") or (method, path) in SUMMARIES:
                operation["summary"] = _summary(operation, method, path)
    result["tags"] = TAGS
    return result

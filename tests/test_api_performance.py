"""HTTP contract of the model-performance API (API.md, prefix /api/v1/model-performance/)."""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.conf import settings
from rest_framework import serializers

from baselines.models import EnergyBaseline
from performance.api.serializers import MetricSerializer
from performance.models import ModelABTest, ModelAlert, ModelPerformanceMetric, ModelTrainingHistory
from tests.factories import (
    T0,
    EnergyBaselineFactory,
    MachineFactory,
    ModelABTestFactory,
    ModelAlertFactory,
    ModelPerformanceMetricFactory,
    ModelTrainingHistoryFactory,
    UserFactory,
)
from tests.test_api_baselines import DEMO_START, PAGE_KEYS, demo_rows, store_rows, train_baseline

pytestmark = pytest.mark.django_db

PERF = "/api/v1/model-performance/"
MISSING = "00000000-0000-4000-8000-000000000000"
METRIC_KEYS = {
    "id", "model_id", "machine_id", "model_type", "source", "evaluated_at", "evaluation_start", "evaluation_end",
    "sample_count", "r_squared", "rmse", "mae", "mape", "cv_rmse", "nmbe", "precision", "recall", "f1_score",
    "drift_detected", "drift_score", "drift_details",
}
TRAINING_KEYS = {"id", "machine_id", "model_type", "trigger_type", "status", "new_model_id", "performance_improvement",
                 "error_message"}
ARM_KEYS = {"model_id", "n", "mae", "rmse", "cv_rmse", "nmbe"}
PAIRED_KEYS = {"n", "mean_loss_difference", "statistic", "p_value", "ci_low", "ci_high"}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == PAGE_KEYS
    return [row["id"] for row in body["results"]]


def iso(ts: datetime) -> str:
    return ts.isoformat()


# --- metrics/record -----------------------------------------------------------------------------


def test_record_one_object_returns_one_stored_row(admin_api):
    model = EnergyBaselineFactory()
    body = {"model_id": str(model.pk), "sample_count": 168, "evaluation_start": "2026-03-01T00:00:00Z",
            "evaluation_end": "2026-03-08T00:00:00Z", "r_squared": 0.91, "rmse": 3.0, "mae": 2.1, "mape": 0.04,
            "cv_rmse": 0.08, "nmbe": -0.01, "drift_detected": False, "drift_score": 0.1,
            "drift_details": {"note": "weekly check"}}
    response = admin_api.post(f"{PERF}metrics/record", body, format="json")
    assert response.status_code == 201, response.content
    row = response.json()
    assert isinstance(row, dict) and set(row) >= METRIC_KEYS
    assert row["model_id"] == str(model.pk)
    assert row["machine_id"] == str(model.machine_id) and row["model_type"] == "energy_baseline"
    assert row["source"] == "recorded"
    assert (row["rmse"], row["r_squared"], row["sample_count"]) == (3.0, 0.91, 168)
    assert row["rmse_degradation"] == pytest.approx(3.0 / 2.5 - 1)  # against the holdout RMSE
    assert row["ashrae_pass"] is True
    stored = ModelPerformanceMetric.objects.get()
    assert str(stored.pk) == row["id"] and stored.machine_id == model.machine_id
    assert stored.drift_details == {"note": "weekly check"}
    assert stored.evaluation_start == datetime(2026, 3, 1, tzinfo=UTC)


def test_record_a_list_returns_a_list_in_order(admin_api):
    m1 = EnergyBaselineFactory()
    m2 = EnergyBaselineFactory(model_type="anomaly_detector")
    rows = [
        {"model_id": str(m1.pk), "sample_count": 24, "rmse": 1.0, "evaluated_at": "2026-03-01T00:00:00Z"},
        {"model_id": str(m2.pk), "sample_count": 24, "precision": 0.5, "recall": 1, "f1_score": 0.66},
        {"model_id": str(m1.pk), "sample_count": 48, "rmse": 2.0},
    ]
    response = admin_api.post(f"{PERF}metrics/record", rows, format="json")
    assert response.status_code == 201
    body = response.json()
    assert isinstance(body, list) and len(body) == 3
    assert [r["model_id"] for r in body] == [str(m1.pk), str(m2.pk), str(m1.pk)]
    assert [r["sample_count"] for r in body] == [24, 24, 48]
    assert body[1]["model_type"] == "anomaly_detector" and body[1]["machine_id"] == str(m2.machine_id)
    assert body[1]["precision"] == 0.5 and body[1]["rmse"] is None
    assert body[0]["evaluated_at"].startswith("2026-03-01T00:00:00")
    assert ModelPerformanceMetric.objects.count() == 3


def test_record_one_element_list_returns_a_list(admin_api):
    model = EnergyBaselineFactory()
    response = admin_api.post(f"{PERF}metrics/record", [{"model_id": str(model.pk), "sample_count": 1}],
                              format="json")
    assert response.status_code == 201 and isinstance(response.json(), list)


def test_record_more_than_10000_rows_is_400(admin_api):
    model = EnergyBaselineFactory()
    rows = [{"model_id": str(model.pk), "sample_count": 1}] * 10_001
    response = admin_api.post(f"{PERF}metrics/record", rows, format="json")
    assert response.status_code == 400
    assert not ModelPerformanceMetric.objects.exists()


def test_record_10000_rows_is_accepted(admin_api):
    model = EnergyBaselineFactory()
    rows = [{"model_id": str(model.pk), "sample_count": i, "rmse": 1.0 + i / 10_000} for i in range(10_000)]
    response = admin_api.post(f"{PERF}metrics/record", rows, format="json")
    assert response.status_code == 201
    assert len(response.json()) == 10_000
    assert ModelPerformanceMetric.objects.count() == 10_000


def test_record_unknown_model_is_400_and_stores_nothing(admin_api):
    model = EnergyBaselineFactory()
    rows = [{"model_id": str(model.pk), "sample_count": 1}, {"model_id": MISSING, "sample_count": 1}]
    response = admin_api.post(f"{PERF}metrics/record", rows, format="json")
    assert response.status_code == 400
    assert response.json()["rows"] == [{"index": 1, "errors": {"model_id": ["No model with this id."]}}]
    single = admin_api.post(f"{PERF}metrics/record", {"model_id": MISSING, "sample_count": 1}, format="json")
    assert single.status_code == 400 and "model_id" in single.json()
    assert not ModelPerformanceMetric.objects.exists()


@pytest.mark.parametrize("bad", [
    {"r_squared": 1.01}, {"rmse": -0.1}, {"mae": -1}, {"mape": -0.5}, {"cv_rmse": -0.01}, {"precision": 1.5},
    {"recall": -0.1}, {"f1_score": 2}, {"drift_score": 1.2}, {"rmse": "NaN"}, {"nmbe": "Infinity"},
    {"r_squared": "-inf"}, {"mae": "1e999"}, {"sample_count": -1}, {"sample_count": 1.5}, {"sample_count": None},
    {"model_id": "not-a-uuid"}, {"evaluated_at": "2026-03-01T00:00:00"}, {"evaluation_start": "2026-03-02T00:00:00Z",
                                                                          "evaluation_end": "2026-03-01T00:00:00Z"},
    {"drift_detected": "maybe"}, {"drift_details": [1, 2]}, {"machine_id": MISSING},
])
def test_record_invalid_values_are_400_and_store_nothing(admin_api, bad):
    model = EnergyBaselineFactory()
    good = {"model_id": str(model.pk), "sample_count": 10, "rmse": 1.0}
    response = admin_api.post(f"{PERF}metrics/record", [good, {**good, **bad}], format="json")
    assert response.status_code == 400, response.content
    [error] = response.json()["rows"]
    assert error["index"] == 1
    single = admin_api.post(f"{PERF}metrics/record", {**good, **bad}, format="json")
    assert single.status_code == 400
    assert "rows" not in single.json()
    assert not ModelPerformanceMetric.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_record_non_finite_json_literal_is_400(admin_api, literal):
    model = EnergyBaselineFactory()
    body = f'{{"model_id": "{model.pk}", "sample_count": 1, "rmse": {literal}}}'
    response = admin_api.post(f"{PERF}metrics/record", body, content_type="application/json")
    assert response.status_code == 400
    nested = f'{{"model_id": "{model.pk}", "sample_count": 1, "drift_details": {{"psi": [{literal}]}}}}'
    assert admin_api.post(f"{PERF}metrics/record", nested, content_type="application/json").status_code == 400
    assert not ModelPerformanceMetric.objects.exists()


@pytest.mark.parametrize("body", ["[]", '"x"', "3", "[1]", "{", "null"])
def test_record_malformed_bodies_are_400(admin_api, body):
    response = admin_api.post(f"{PERF}metrics/record", body, content_type="application/json")
    assert response.status_code == 400
    assert not ModelPerformanceMetric.objects.exists()


def test_record_wrong_content_type_is_415(admin_api):
    model = EnergyBaselineFactory()
    response = admin_api.post(f"{PERF}metrics/record", f"model_id={model.pk}&sample_count=1",
                              content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert not ModelPerformanceMetric.objects.exists()


def test_record_body_over_the_limit_is_413(admin_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    model = EnergyBaselineFactory()
    rows = [{"model_id": str(model.pk), "sample_count": 1}] * 100
    response = admin_api.post(f"{PERF}metrics/record", json.dumps(rows), content_type="application/json")
    assert response.status_code == 413
    assert not ModelPerformanceMetric.objects.exists()


# --- metrics list -------------------------------------------------------------------------------


def test_metrics_list_filters_and_order(admin_api):
    m1 = EnergyBaselineFactory()
    m2 = EnergyBaselineFactory(model_type="anomaly_detector")
    old = ModelPerformanceMetricFactory(model=m1, evaluated_at=T0)
    new = ModelPerformanceMetricFactory(model=m1, evaluated_at=T0 + timedelta(days=2))
    other = ModelPerformanceMetricFactory(model=m2, evaluated_at=T0 + timedelta(days=1), source="drift_check")

    url = f"{PERF}metrics/"
    assert ids(admin_api.get(url)) == [str(new.pk), str(other.pk), str(old.pk)]  # newest first
    assert ids(admin_api.get(url, {"model_id": m1.pk})) == [str(new.pk), str(old.pk)]
    assert ids(admin_api.get(url, {"machine_id": m2.machine_id})) == [str(other.pk)]
    assert ids(admin_api.get(url, {"model_type": "anomaly_detector"})) == [str(other.pk)]
    assert ids(admin_api.get(url, {"source": "drift_check"})) == [str(other.pk)]
    window = {"start": iso(T0 + timedelta(days=1)), "end": iso(T0 + timedelta(days=2))}
    assert ids(admin_api.get(url, window)) == [str(other.pk)]
    assert admin_api.get(url, {"model_type": "oracle"}).status_code == 400
    for bad in ({"start": "2026-01-05T00:00:00"}, {"start": "soon"}, {"machine_id": ""}, {"machine_id": "  "},
                {"source": ""}, {"page_size": "0"}, {"page_size": "ten"}, {"page_size": ""}):
        assert admin_api.get(url, bad).status_code == 400, bad
    for missing_page in ({"page": "0"}, {"page": ""}, {"page": "last"}, {"page": "99"}):
        assert admin_api.get(url, missing_page).status_code == 404, missing_page
    edges = {"start": "0001-01-01T00:00:00+05:00", "end": "9999-12-31T23:00:00-05:00"}
    assert len(ids(admin_api.get(url, edges))) == 3
    detail = admin_api.get(f"{url}{new.pk}/")
    assert detail.status_code == 200 and set(detail.json()) >= METRIC_KEYS
    assert admin_api.get(f"{url}{MISSING}/").status_code == 404


# --- metrics/trend ------------------------------------------------------------------------------


def _trend_fixture():
    model = EnergyBaselineFactory(holdout_metrics={"rmse": 2.5, "r_squared": 0.88}, training_metrics={"rmse": 2.0})
    values = [  # (hours after T0, rmse); T0 is a Monday 00:00 UTC
        (0, 1.0), (0.5, 3.0), (1, 5.0),  # day 1, hours 0 and 1
        (25, 4.0),  # day 2
        (24 * 7 + 3, 10.0), (24 * 8, 20.0),  # week 2
    ]
    for hours, rmse in values:
        ModelPerformanceMetricFactory(model=model, evaluated_at=T0 + timedelta(hours=hours), rmse=rmse)
    ModelPerformanceMetricFactory(model=model, evaluated_at=T0 + timedelta(hours=2), rmse=None)  # not counted
    ModelPerformanceMetricFactory(evaluated_at=T0, rmse=100.0)  # another model
    return model


def _points(body):
    return [(datetime.fromisoformat(p["t"].replace("Z", "+00:00")), pytest.approx(p["value"]), p["n"])
            for p in body["points"]]


def test_trend_buckets_mean_and_count(admin_api):
    model = _trend_fixture()
    url = f"{PERF}metrics/trend"
    response = admin_api.get(url, {"model_id": model.pk, "bucket": "hour"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"model_id", "metric", "bucket", "points", "reference_value"}
    assert (body["model_id"], body["metric"], body["bucket"]) == (str(model.pk), "rmse", "hour")
    assert body["reference_value"] == 2.5
    h = timedelta(hours=1)
    assert _points(body) == [(T0, 2.0, 2), (T0 + h, 5.0, 1), (T0 + 25 * h, 4.0, 1), (T0 + 171 * h, 10.0, 1),
                             (T0 + 192 * h, 20.0, 1)]

    day = admin_api.get(url, {"model_id": model.pk}).json()  # default bucket: day
    assert day["bucket"] == "day"
    d = timedelta(days=1)
    assert _points(day) == [(T0, 3.0, 3), (T0 + d, 4.0, 1), (T0 + 7 * d, 10.0, 1), (T0 + 8 * d, 20.0, 1)]

    week = admin_api.get(url, {"model_id": model.pk, "bucket": "week"}).json()
    assert _points(week) == [(T0, 3.25, 4), (T0 + 7 * d, 15.0, 2)]

    window = admin_api.get(url, {"model_id": model.pk, "bucket": "day", "start": iso(T0 + h),
                                 "end": iso(T0 + 8 * d)}).json()
    assert _points(window) == [(T0, 5.0, 1), (T0 + d, 4.0, 1), (T0 + 7 * d, 10.0, 1)]


def test_trend_reference_value_is_the_models_training_time_metric(admin_api):
    model = _trend_fixture()
    body = admin_api.get(f"{PERF}metrics/trend", {"model_id": model.pk, "metric": "r_squared"}).json()
    assert body["metric"] == "r_squared" and body["reference_value"] == 0.88
    assert [p["value"] for p in body["points"]] == pytest.approx([0.9, 0.9, 0.9, 0.9])
    mae = admin_api.get(f"{PERF}metrics/trend", {"model_id": model.pk, "metric": "mae"}).json()
    assert mae["reference_value"] is None  # the model has no training-time MAE


def test_trend_by_machine_uses_the_active_model_as_reference(admin_api):
    model = _trend_fixture()
    model.status = "active"
    model.save()
    body = admin_api.get(f"{PERF}metrics/trend", {"machine_id": model.machine_id, "bucket": "week"}).json()
    assert body["model_id"] == str(model.pk) and body["reference_value"] == 2.5
    assert [p["n"] for p in body["points"]] == [4, 2]


@pytest.mark.parametrize("params", [
    {"metric": "accuracy"}, {"metric": "artifact"}, {"bucket": "month"}, {"bucket": ""},
    {"start": "2026-01-10T00:00:00Z", "end": "2026-01-05T00:00:00Z"},
    {"start": "2026-01-10T00:00:00Z", "end": "2026-01-10T00:00:00Z"}, {"start": "soon"},
    {"model_id": "not-a-uuid"}, {"model_id": None},
])
def test_trend_bad_query_is_400(admin_api, params):
    model = EnergyBaselineFactory()
    query = {"model_id": str(model.pk), **params}
    query = {k: v for k, v in query.items() if v is not None}
    response = admin_api.get(f"{PERF}metrics/trend", query)
    assert response.status_code == 400, response.content


def test_trend_unknown_model_or_machine_is_404(admin_api):
    assert admin_api.get(f"{PERF}metrics/trend", {"model_id": MISSING}).status_code == 404
    assert admin_api.get(f"{PERF}metrics/trend", {"machine_id": MISSING}).status_code == 404


# --- metrics/trends ---------------------------------------------------------------------------


def test_trends_answer_each_metric_as_metrics_trend_does(admin_api):
    model = _trend_fixture()
    ModelPerformanceMetricFactory(model=model, evaluated_at=T0 + timedelta(hours=3), rmse=None, nmbe=0.04)
    url = f"{PERF}metrics/trends"
    for query in ({"model_id": model.pk, "bucket": "hour"}, {"model_id": model.pk},
                  {"model_id": model.pk, "bucket": "week", "start": iso(T0 + timedelta(hours=1))},
                  {"machine_id": model.machine_id, "bucket": "day"}):
        response = admin_api.get(url, {**query, "metrics": "rmse,r_squared,nmbe,mae"})
        assert response.status_code == 200, response.content
        body = response.json()
        assert list(body["trends"]) == ["rmse", "r_squared", "nmbe", "mae"]
        assert body["bucket"] == query.get("bucket", "day")
        for metric, trend in body["trends"].items():
            alone = admin_api.get(f"{PERF}metrics/trend", {**query, "metric": metric}).json()
            assert set(trend) == set(alone)
            assert (trend["model_id"], trend["metric"], trend["bucket"], trend["reference_value"]) == (
                alone["model_id"], alone["metric"], alone["bucket"], alone["reference_value"])
            assert _points(trend) == _points(alone), (query, metric)
    hour = admin_api.get(url, {"model_id": model.pk, "bucket": "hour", "metrics": "rmse,nmbe"}).json()["trends"]
    h = timedelta(hours=1)
    # Each metric keeps only the buckets where it has values, with the count of rows carrying it.
    assert _points(hour["rmse"])[0] == (T0, 2.0, 2) and T0 + 3 * h not in [p[0] for p in _points(hour["rmse"])]
    assert (T0 + 3 * h, pytest.approx(0.04), 1) in _points(hour["nmbe"])


@pytest.mark.parametrize("bucket", ["hour", "day", "week"])
def test_trend_buckets_agree_with_djangos_truncation(bucket, monkeypatch):
    """SQLite buckets with its own string functions; the buckets, means and counts are Django's."""
    from performance import selectors

    model = EnergyBaselineFactory()
    # Around hour, day and week edges (T0 is a Monday), with fractions of a second.
    offsets = [0, 0.0001, 0.9999, 1, 23.9999, 24, 24 * 6 + 23.99999, 24 * 7, 24 * 7 + 0.5, 24 * 13 + 23.5, 24 * 30]
    for i, hours in enumerate(offsets):
        ModelPerformanceMetricFactory(model=model, evaluated_at=T0 + timedelta(hours=hours), rmse=float(i),
                                      nmbe=None if i % 3 else 0.01 * i)
    native = selectors.metrics_trends(model=model, metrics=["rmse", "nmbe"], bucket=bucket)
    original = selectors._bucket_start
    monkeypatch.setattr(selectors, "_bucket_start", lambda b, vendor: original(b, vendor, native=False))
    django = selectors.metrics_trends(model=model, metrics=["rmse", "nmbe"], bucket=bucket)
    assert native == django
    assert all(p["t"].utcoffset() == timedelta(0) for p in native["trends"]["rmse"]["points"])


def test_trends_metrics_repeated_or_named_twice(admin_api):
    model = _trend_fixture()
    url = f"{PERF}metrics/trends?model_id={model.pk}&metrics=rmse&metrics=r_squared,rmse"
    body = admin_api.get(url).json()
    assert list(body["trends"]) == ["rmse", "r_squared"]
    assert [p["n"] for p in body["trends"]["rmse"]["points"]] == [3, 1, 1, 1]


@pytest.mark.parametrize("params", [
    {}, {"metrics": ""}, {"metrics": ","}, {"metrics": "rmse,"}, {"metrics": "rmse,accuracy"},
    {"metrics": "artifact"}, {"metrics": "rmse", "bucket": "month"},
    {"metrics": "rmse", "start": "2026-01-10T00:00:00Z", "end": "2026-01-05T00:00:00Z"},
    {"metrics": "rmse", "start": "soon"}, {"metrics": "rmse", "model_id": "not-a-uuid"},
    {"metrics": "rmse", "model_id": None},
])
def test_trends_bad_query_is_400_and_writes_nothing(admin_api, params):
    model = EnergyBaselineFactory()
    before = ModelPerformanceMetric.objects.count()
    query = {"model_id": str(model.pk), **params}
    query = {k: v for k, v in query.items() if v is not None}
    response = admin_api.get(f"{PERF}metrics/trends", query)
    assert response.status_code == 400, response.content
    assert response.json()  # a DRF error body naming the field
    assert ModelPerformanceMetric.objects.count() == before


def test_trends_unknown_metric_is_named(admin_api):
    model = EnergyBaselineFactory()
    response = admin_api.get(f"{PERF}metrics/trends", {"model_id": model.pk, "metrics": "rmse,accuracy"})
    assert response.status_code == 400
    assert "accuracy" in response.json()["metrics"][0]


def test_trends_unknown_model_or_machine_is_404(admin_api):
    assert admin_api.get(f"{PERF}metrics/trends", {"model_id": MISSING, "metrics": "rmse"}).status_code == 404
    assert admin_api.get(f"{PERF}metrics/trends", {"machine_id": MISSING, "metrics": "rmse"}).status_code == 404


# --- training history and retrain/trigger -------------------------------------------------------


def test_training_history_list_retrieve_filters(admin_api):
    m1, m2 = MachineFactory(), MachineFactory()
    done = ModelTrainingHistoryFactory(machine=m1, status="completed", trigger_type="manual",
                                       performance_improvement=0.1)
    failed = ModelTrainingHistoryFactory(machine=m1, model_type="anomaly_detector", status="failed",
                                         trigger_type="drift", error_message="ValueError: too few readings")
    other = ModelTrainingHistoryFactory(machine=m2, status="pending", trigger_type="scheduled")
    url = f"{PERF}training-history/"
    assert set(ids(admin_api.get(url))) == {str(done.pk), str(failed.pk), str(other.pk)}
    assert set(ids(admin_api.get(url, {"machine_id": m1.pk}))) == {str(done.pk), str(failed.pk)}
    assert ids(admin_api.get(url, {"status": "failed"})) == [str(failed.pk)]
    assert ids(admin_api.get(url, {"trigger_type": "scheduled"})) == [str(other.pk)]
    assert ids(admin_api.get(url, {"machine_id": m1.pk, "trigger_type": "manual"})) == [str(done.pk)]
    assert admin_api.get(url, {"status": "exploded"}).status_code == 400

    detail = admin_api.get(f"{url}{failed.pk}/")
    assert detail.status_code == 200
    body = detail.json()
    assert set(body) >= TRAINING_KEYS
    assert body["status"] == "failed" and body["error_message"] == "ValueError: too few readings"
    assert body["new_model_id"] is None and body["machine_id"] == str(m1.pk)
    assert admin_api.get(f"{url}{MISSING}/").status_code == 404


def test_retrain_trigger_returns_202_pending(admin_api, superuser):
    model = EnergyBaselineFactory(status="active")
    response = admin_api.post(f"{PERF}retrain/trigger", {"model_id": str(model.pk)}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending" and set(body) == {"training_id", "status"}
    job = ModelTrainingHistory.objects.get(pk=body["training_id"])
    assert (job.machine_id, job.model_id, job.model_type) == (model.machine_id, model.pk, "energy_baseline")
    assert job.trigger_type == "manual" and job.triggered_by == superuser
    assert job.previous_metrics == model.holdout_metrics


def test_retrain_trigger_while_a_job_is_open_is_409(admin_api):
    model = EnergyBaselineFactory(status="active")
    open_job = ModelTrainingHistoryFactory(machine=model.machine, model_type=model.model_type, status="pending")
    response = admin_api.post(f"{PERF}retrain/trigger", {"model_id": str(model.pk), "trigger_type": "degradation"},
                              format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["training_id"] == str(open_job.pk) and body["detail"]
    assert ModelTrainingHistory.objects.count() == 1

    open_job.status = "running"
    open_job.save()
    again = admin_api.post(f"{PERF}retrain/trigger", {"machine_id": str(model.machine_id),
                                                      "model_type": "energy_baseline"}, format="json")
    assert again.status_code == 409 and again.json()["training_id"] == str(open_job.pk)
    # another model type of the same machine is not blocked
    other = admin_api.post(f"{PERF}retrain/trigger", {"machine_id": str(model.machine_id),
                                                      "model_type": "anomaly_detector"}, format="json")
    assert other.status_code == 202


@pytest.mark.parametrize("body", [
    {},
    {"machine_id": MISSING},  # a machine needs a model type
    {"model_id": "x"},
    {"model_id": "{model}", "trigger_type": "whim"},
    {"model_id": "{model}", "hyperparameters": {"alpha": "NaN"}},
    {"model_id": "{model}", "hyperparameters": {"alpha": -1}},
    {"model_id": "{model}", "hyperparameters": {"depth": 3}},
    {"model_id": "{model}", "hyperparameters": {"algorithm": "xgboost"}},
    {"model_id": "{model}", "training_start": "2026-02-01T00:00:00Z", "training_end": "2026-01-01T00:00:00Z"},
])
def test_retrain_trigger_validation_is_400(admin_api, body):
    model = EnergyBaselineFactory(status="active")
    payload = {k: (str(model.pk) if v == "{model}" else v) for k, v in body.items()}
    response = admin_api.post(f"{PERF}retrain/trigger", payload, format="json")
    assert response.status_code == 400, response.content
    assert not ModelTrainingHistory.objects.exists()


def test_retrain_trigger_unknown_model_or_machine_is_404(admin_api):
    assert admin_api.post(f"{PERF}retrain/trigger", {"model_id": MISSING}, format="json").status_code == 404
    response = admin_api.post(f"{PERF}retrain/trigger", {"machine_id": MISSING, "model_type": "energy_baseline"},
                              format="json")
    assert response.status_code == 404
    assert not ModelTrainingHistory.objects.exists()


@pytest.mark.skipif(not settings.CELERY_TASK_ALWAYS_EAGER, reason="with a broker the job waits for a worker")
def test_first_training_runs_on_commit_and_is_recorded(admin_api, django_capture_on_commit_callbacks):
    machine = MachineFactory()
    store_rows(machine, demo_rows(14))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(f"{PERF}retrain/trigger", {"machine_id": str(machine.pk),
                                                             "model_type": "energy_baseline"}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    body = admin_api.get(f"{PERF}training-history/{response.json()['training_id']}/").json()
    assert body["status"] == "completed", body["error_message"]
    assert body["outcome"] == "promoted_first_version"
    new = EnergyBaseline.objects.get(pk=body["new_model_id"])
    assert new.status == "active" and new.machine_id == machine.pk and new.version == 1


# --- A/B tests ----------------------------------------------------------------------------------


def test_ab_test_start_returns_201(admin_api, superuser):
    a = EnergyBaselineFactory(version=1)
    b = EnergyBaselineFactory(machine=a.machine, version=2)
    response = admin_api.post(f"{PERF}ab-test/start", {"name": "v1 vs v2", "model_a_id": str(a.pk),
                                                       "model_b_id": str(b.pk), "traffic_split": 0.3,
                                                       "duration_days": 7}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["model_a_id"], body["model_b_id"]) == ("v1 vs v2", str(a.pk), str(b.pk))
    assert body["machine_id"] == str(a.machine_id) and body["status"] == "running"
    assert body["decision"] == "running" and body["traffic_split"] == 0.3 and body["auto_promote"] is False
    test = ModelABTest.objects.get(pk=body["id"])
    assert test.ends_at - test.started_at == timedelta(days=7)
    assert test.created_by == superuser

    defaults = admin_api.post(f"{PERF}ab-test/start", {"name": "again", "model_a_id": str(a.pk),
                                                       "model_b_id": str(b.pk)}, format="json")
    assert defaults.status_code == 409
    assert defaults.json()["ab_test_id"] == str(test.pk) and defaults.json()["detail"]
    assert ModelABTest.objects.count() == 1


def test_ab_test_defaults(admin_api):
    a = EnergyBaselineFactory(version=1)
    b = EnergyBaselineFactory(machine=a.machine, version=2)
    body = admin_api.post(f"{PERF}ab-test/start", {"name": "t", "model_a_id": str(a.pk), "model_b_id": str(b.pk)},
                          format="json").json()
    assert (body["traffic_split"], body["duration_days"], body["auto_promote"]) == (0.5, 14, False)


def test_ab_test_start_with_a_running_test_on_the_machine_is_409(admin_api):
    running = ModelABTestFactory()
    c = EnergyBaselineFactory(machine=running.machine)
    response = admin_api.post(f"{PERF}ab-test/start", {"name": "x", "model_a_id": str(running.model_a_id),
                                                       "model_b_id": str(c.pk)}, format="json")
    assert response.status_code == 409
    assert response.json()["ab_test_id"] == str(running.pk)


@pytest.mark.parametrize("case", ["machines", "types", "same", "missing", "split0", "split1", "splitnan",
                                  "one_window_end", "window_order", "future_window"])
def test_ab_test_start_validation_is_400(admin_api, case):
    a = EnergyBaselineFactory()
    b = EnergyBaselineFactory(machine=a.machine)
    body = {"name": "t", "model_a_id": str(a.pk), "model_b_id": str(b.pk)}
    if case == "machines":
        body["model_b_id"] = str(EnergyBaselineFactory().pk)
    elif case == "types":
        body["model_b_id"] = str(EnergyBaselineFactory(machine=a.machine, model_type="anomaly_detector").pk)
    elif case == "same":
        body["model_b_id"] = str(a.pk)
    elif case == "missing":
        body["model_b_id"] = MISSING
    elif case.startswith("split"):
        body["traffic_split"] = {"split0": 0, "split1": 1, "splitnan": "NaN"}[case]
    elif case == "one_window_end":
        body["window_start"] = "2025-01-01T00:00:00Z"
    elif case == "window_order":
        body.update(window_start="2025-01-08T00:00:00Z", window_end="2025-01-01T00:00:00Z")
    elif case == "future_window":
        body.update(window_start="2025-01-08T00:00:00Z", window_end="2999-01-01T00:00:00Z")
    response = admin_api.post(f"{PERF}ab-test/start", body, format="json")
    assert response.status_code == 400, response.content
    assert not ModelABTest.objects.exists()


def test_ab_test_live_results_shape(admin_api):
    test = ModelABTestFactory(started_at=datetime.now(UTC) - timedelta(hours=1),
                              ends_at=datetime.now(UTC) + timedelta(days=13))
    response = admin_api.get(f"{PERF}ab-test/{test.pk}/results")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"id", "status", "decision", "winner_model_id", "confidence", "arms", "paired", "ends_at"}
    assert (body["id"], body["status"], body["decision"]) == (str(test.pk), "running", "running")
    assert body["winner_model_id"] is None
    assert set(body["arms"]) == {"a", "b"}
    assert set(body["arms"]["a"]) >= ARM_KEYS and body["arms"]["a"]["model_id"] == str(test.model_a_id)
    assert body["arms"]["b"]["model_id"] == str(test.model_b_id) and body["arms"]["b"]["n"] == 0
    assert set(body["paired"]) >= PAIRED_KEYS
    assert admin_api.get(f"{PERF}ab-test/{MISSING}/results").status_code == 404


def test_ab_backtest_is_decided_at_once(admin_api):
    machine = MachineFactory()
    store_rows(machine, demo_rows(28))
    a = train_baseline(machine, days=14, store=False, hyperparameters={"algorithm": "linear", "time_of_week": False})
    b = train_baseline(machine, days=21, store=False)
    window = {"window_start": iso(DEMO_START + pd.Timedelta(days=21)), "window_end": iso(DEMO_START +
                                                                                         pd.Timedelta(days=28))}
    response = admin_api.post(f"{PERF}ab-test/start", {"name": "backtest", "model_a_id": str(a.pk),
                                                       "model_b_id": str(b.pk), **window}, format="json")
    assert response.status_code == 201, response.content
    started = response.json()
    assert started["status"] == "completed" and started["is_backtest"] is True
    assert started["decision"] in ("a_wins", "b_wins", "inconclusive")

    results = admin_api.get(f"{PERF}ab-test/{started['id']}/results").json()
    assert results["status"] == "completed" and results["decision"] == started["decision"]
    assert results["arms"]["a"]["n"] + results["arms"]["b"]["n"] == 168
    assert results["paired"]["n"] == 168
    assert 0 <= results["confidence"] <= 1
    assert results["confidence"] == pytest.approx(1 - results["paired"]["p_value"])
    assert results["paired"]["method"] == "dm_ewc_arp"
    winner = {"a_wins": str(a.pk), "b_wins": str(b.pk)}.get(results["decision"])
    assert results["winner_model_id"] == winner
    # a backtest never blocks a live test
    assert ModelABTest.objects.filter(machine=machine, status="running").count() == 0


def test_ab_tests_list_filters(admin_api):
    t1 = ModelABTestFactory(started_at=T0, ends_at=T0 + timedelta(days=14))
    t2 = ModelABTestFactory(status="completed", decision="b_wins", started_at=T0 + timedelta(days=20),
                            ends_at=T0 + timedelta(days=30))
    url = f"{PERF}ab-tests/"
    assert ids(admin_api.get(url)) == [str(t2.pk), str(t1.pk)]
    assert ids(admin_api.get(url, {"machine_id": t1.machine_id})) == [str(t1.pk)]
    assert ids(admin_api.get(url, {"model_id": t2.model_b_id})) == [str(t2.pk)]
    assert ids(admin_api.get(url, {"status": "running"})) == [str(t1.pk)]
    assert ids(admin_api.get(url, {"start": iso(T0 + timedelta(days=10))})) == [str(t2.pk)]
    detail = admin_api.get(f"{url}{t2.pk}/").json()
    assert detail["decision"] == "b_wins" and detail["model_a_id"] == str(t2.model_a_id)


# --- alerts -------------------------------------------------------------------------------------


def test_alerts_list_filters(admin_api):
    a1 = ModelAlertFactory(severity="critical", alert_type="degradation", last_seen=T0 + timedelta(hours=1))
    a2 = ModelAlertFactory(is_resolved=True, resolved_at=T0 + timedelta(hours=3), last_seen=T0 + timedelta(hours=2))
    a3 = ModelAlertFactory(model=EnergyBaselineFactory(model_type="anomaly_detector"), last_seen=T0)
    url = f"{PERF}alerts/"
    assert ids(admin_api.get(url)) == [str(a1.pk), str(a3.pk), str(a2.pk)]  # open first, newest first
    assert ids(admin_api.get(url, {"is_resolved": "true"})) == [str(a2.pk)]
    assert ids(admin_api.get(url, {"machine_id": a1.machine_id})) == [str(a1.pk)]
    assert ids(admin_api.get(url, {"model_id": a3.model_id})) == [str(a3.pk)]
    assert ids(admin_api.get(url, {"model_type": "anomaly_detector"})) == [str(a3.pk)]
    assert ids(admin_api.get(url, {"severity": "critical"})) == [str(a1.pk)]
    assert ids(admin_api.get(url, {"alert_type": "degradation"})) == [str(a1.pk)]
    assert ids(admin_api.get(url, {"start": iso(T0 + timedelta(hours=1))})) == [str(a1.pk), str(a2.pk)]
    assert admin_api.get(url, {"severity": "meh"}).status_code == 400


def test_active_alerts_critical_first_then_newest(admin_api):
    old_warning = ModelAlertFactory(severity="warning", last_seen=T0 + timedelta(hours=1))
    new_warning = ModelAlertFactory(severity="warning", last_seen=T0 + timedelta(hours=5))
    old_critical = ModelAlertFactory(severity="critical", last_seen=T0 + timedelta(hours=2))
    new_critical = ModelAlertFactory(severity="critical", last_seen=T0 + timedelta(hours=3), alert_type="degradation")
    ModelAlertFactory(severity="critical", is_resolved=True, resolved_at=T0, last_seen=T0 + timedelta(hours=9))
    url = f"{PERF}alerts/active"
    response = admin_api.get(url)
    assert ids(response) == [str(new_critical.pk), str(old_critical.pk), str(new_warning.pk), str(old_warning.pk)]
    first = response.json()["results"][0]
    assert first["machine_name"] == new_critical.machine.name and first["severity"] == "critical"

    assert ids(admin_api.get(url, {"severity": "warning"})) == [str(new_warning.pk), str(old_warning.pk)]
    assert ids(admin_api.get(url, {"machine_id": old_warning.machine_id})) == [str(old_warning.pk)]
    assert ids(admin_api.get(url, {"alert_type": "degradation"})) == [str(new_critical.pk)]
    assert ids(admin_api.get(url, {"model_type": "anomaly_detector"})) == []
    assert ids(admin_api.get(url, {"page_size": 1, "page": 2})) == [str(old_critical.pk)]
    for bad in ({"severity": "info"}, {"machine_id": "x"}, {"alert_type": "fire"}, {"model_type": "x"}):
        assert admin_api.get(url, bad).status_code == 400


def test_resolve_records_who_when_and_notes_and_is_idempotent(api_client):
    user = UserFactory(is_superuser=True)
    api_client.force_authenticate(user)
    alert = ModelAlertFactory()
    url = f"{PERF}alerts/{alert.pk}/resolve"
    response = api_client.post(url, {"resolution_notes": "leak fixed"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["is_resolved"] is True and body["resolved_by"] == user.username
    assert body["resolution_notes"] == "leak fixed" and body["resolved_at"]
    alert.refresh_from_db()
    assert alert.is_resolved and alert.resolved_by == user and alert.resolution_notes == "leak fixed"
    resolved_at = alert.resolved_at

    other = UserFactory(is_superuser=True)
    api_client.force_authenticate(other)
    again = api_client.post(url, {"resolution_notes": "second try"}, format="json")
    assert again.status_code == 200
    assert again.json()["resolved_by"] == user.username and again.json()["resolution_notes"] == "leak fixed"
    alert.refresh_from_db()
    assert alert.resolved_at == resolved_at and alert.resolved_by == user
    assert ids(api_client.get(f"{PERF}alerts/active")) == []


def test_resolve_without_notes_and_validation(admin_api):
    alert = ModelAlertFactory()
    assert admin_api.post(f"{PERF}alerts/{MISSING}/resolve", {}, format="json").status_code == 404
    assert admin_api.post(f"{PERF}alerts/{alert.pk}/resolve", {"resolution_notes": ["x"]},
                          format="json").status_code == 400
    response = admin_api.post(f"{PERF}alerts/{alert.pk}/resolve", {}, format="json")
    assert response.status_code == 200 and response.json()["resolution_notes"] == ""


# --- drift/check --------------------------------------------------------------------------------


def test_drift_check_unknown_model_is_404(admin_api):
    response = admin_api.post(f"{PERF}drift/check", {"model_id": MISSING}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize("body", [
    {},
    {"model_id": "nope"},
    {"reference_start": "2025-01-10T00:00:00Z", "reference_end": "2025-01-01T00:00:00Z"},
    {"current_start": "2025-01-10T00:00:00Z", "current_end": "2025-01-10T00:00:00Z"},
    {"current_start": "2025-01-10T00:00:00"},
])
def test_drift_check_bad_windows_are_400(admin_api, body):
    model = EnergyBaselineFactory()
    payload = {"model_id": str(model.pk), **body} if body else {}
    if body.get("model_id"):
        payload["model_id"] = body["model_id"]
    response = admin_api.post(f"{PERF}drift/check", payload, format="json")
    assert response.status_code == 400, response.content
    assert not ModelPerformanceMetric.objects.exists()


def test_drift_check_needs_a_trained_baseline_with_readings(admin_api):
    untrained = EnergyBaselineFactory()
    assert admin_api.post(f"{PERF}drift/check", {"model_id": str(untrained.pk)}, format="json").status_code == 400
    machine = MachineFactory()
    model = train_baseline(machine, days=7)
    empty = {"model_id": str(model.pk), "current_start": "2030-01-01T00:00:00Z", "current_end": "2030-01-08T00:00:00Z"}
    assert admin_api.post(f"{PERF}drift/check", empty, format="json").status_code == 400
    assert not ModelPerformanceMetric.objects.exists()


def test_drift_check_stores_the_verdict(admin_api):
    machine = MachineFactory()
    store_rows(machine, demo_rows(28))
    model = train_baseline(machine, days=21, store=False)
    response = admin_api.post(f"{PERF}drift/check", {"model_id": str(model.pk)}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= {"metric_id", "drift_detected", "drift_score", "severity", "data_drift", "concept_drift",
                         "alert_id"}
    assert 0 <= body["drift_score"] <= 1 and body["severity"] in ("none", "warning", "critical")
    assert set(body["data_drift"]) == set(model.driver_ranges)
    for stats in body["data_drift"].values():
        assert set(stats) >= {"psi", "ks_statistic", "ks_pvalue", "wasserstein", "drifted"}
    assert set(body["concept_drift"]) >= {"nmbe", "cv_rmse", "error_ratio", "change_point", "drifted"}
    row = ModelPerformanceMetric.objects.get(pk=body["metric_id"])
    assert row.source == "drift_check" and row.model_id == model.pk and row.sample_count == 7 * 24
    assert row.drift_detected == body["drift_detected"]
    if body["alert_id"]:
        assert ModelAlert.objects.filter(pk=body["alert_id"], alert_type="drift").exists()
    else:
        assert body["severity"] == "none"


def test_metric_output_is_exactly_drfs(admin_api):
    """The fast row output of metrics equals DRF's generic serializer output, field for field."""
    model = EnergyBaselineFactory()
    rows = [
        ModelPerformanceMetricFactory(model=model),
        ModelPerformanceMetricFactory(model=model, rmse=None, r_squared=None, ashrae_pass=None, precision=0.25,
                                      drift_details={"psi": {"x": [0.1, None]}}, drift_detected=True,
                                      evaluation_start=T0, evaluation_end=T0 + timedelta(days=7, microseconds=5)),
    ]
    stored = list(ModelPerformanceMetric.objects.filter(pk__in=[r.pk for r in rows]).order_by("evaluated_at"))
    stored[0].evaluated_at = stored[0].evaluated_at.astimezone(ZoneInfo("Europe/Berlin"))  # not UTC
    serializer = MetricSerializer()
    for row in stored:
        assert serializer.to_representation(row) == serializers.ModelSerializer.to_representation(serializer, row)
    page = admin_api.get(f"{PERF}metrics/").json()["results"]
    assert {r["id"] for r in page} == {str(r.pk) for r in rows}

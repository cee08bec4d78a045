"""Read paths of the performance app, shared by the API and the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, QuerySet
from django.db.models.functions import TruncDay, TruncHour, TruncWeek

from baselines.models import EnergyBaseline

from .models import ModelABTest, ModelAlert, ModelPerformanceMetric, ModelTrainingHistory, UnresolvedModelAlert

TREND_METRICS = (
    "r_squared", "rmse", "mae", "mape", "wape", "cv_rmse", "nmbe", "precision", "recall", "f1_score",
    "drift_score", "rmse_degradation",
)
_TRUNC = {"hour": TruncHour, "day": TruncDay, "week": TruncWeek}


def metrics_list(
    *, machine_id=None, model_id=None, model_type: str | None = None, source: str | None = None,
    start: datetime | None = None, end: datetime | None = None,
) -> QuerySet[ModelPerformanceMetric]:
    qs = ModelPerformanceMetric.objects.all()
    if machine_id is not None:
        qs = qs.filter(machine_id=machine_id)
    if model_id is not None:
        qs = qs.filter(model_id=model_id)
    if model_type:
        qs = qs.filter(model_type=model_type)
    if source:
        qs = qs.filter(source=source)
    return qs.between(start, end).order_by("-evaluated_at", "-id")


def reference_value(model: EnergyBaseline | None, metric: str) -> float | None:
    """The model's training-time value of a metric: its holdout value (out of sample), else in-sample."""
    if model is None:
        return None
    for source in (model.holdout_metrics or {}, model.training_metrics or {}):
        value = source.get(metric)
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0 if metric in ("drift_score", "rmse_degradation") else None


def metrics_trend(
    *, model: EnergyBaseline | None = None, machine_id=None, model_type: str | None = None,
    metric: str = "rmse", bucket: str = "day", start: datetime | None = None, end: datetime | None = None,
) -> dict[str, Any]:
    """Mean of `metric` per time bucket (the database truncates the timestamps), with the count
    of rows per bucket and the model's training-time value as reference."""
    qs = ModelPerformanceMetric.objects.filter(**{f"{metric}__isnull": False})
    if model is not None:
        qs = qs.filter(model=model)
    else:
        qs = qs.filter(machine_id=machine_id)
        if model_type:
            qs = qs.filter(model_type=model_type)
    qs = qs.between(start, end)
    rows = (
        qs.annotate(t=_TRUNC[bucket]("evaluated_at"))
        .values("t")
        .annotate(value=Avg(metric), n=Count("id"))
        .order_by("t")
    )
    if model is None and machine_id is not None:
        model = (
            EnergyBaseline.objects.filter(machine_id=machine_id, model_type=model_type or "energy_baseline",
                                          status="active")
            .only("holdout_metrics", "training_metrics")
            .first()
        )
    return {
        "model_id": str(model.pk) if model is not None else None,
        "metric": metric,
        "bucket": bucket,
        "points": [{"t": r["t"], "value": r["value"], "n": r["n"]} for r in rows],
        "reference_value": reference_value(model, metric),
    }


def alerts_active(
    *, severity: str | None = None, machine_id=None, model_type: str | None = None, alert_type: str | None = None
) -> QuerySet[UnresolvedModelAlert]:
    """Unresolved alerts, critical first, newest first (from `v_unresolved_model_alerts`)."""
    qs = UnresolvedModelAlert.objects.all()
    if severity:
        qs = qs.filter(severity=severity)
    if machine_id is not None:
        qs = qs.filter(machine_id=machine_id)
    if model_type:
        qs = qs.filter(model_type=model_type)
    if alert_type:
        qs = qs.filter(alert_type=alert_type)
    return qs.order_by("severity_rank", "-last_seen", "-first_seen", "id")


def alerts_list() -> QuerySet[ModelAlert]:
    return ModelAlert.objects.select_related("resolved_by").order_by("is_resolved", "-last_seen", "id")


def training_history_list() -> QuerySet[ModelTrainingHistory]:
    return ModelTrainingHistory.objects.order_by("-created_at", "id")


def abtests_list() -> QuerySet[ModelABTest]:
    return ModelABTest.objects.select_related("model_a", "model_b").order_by("-started_at", "id")

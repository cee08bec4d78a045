"""Storing model performance metrics."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from baselines.models import EnergyBaseline
from enms.bulk import bulk_insert
from enms.policy import ashrae_pass, policy_for

from ..models import MetricSource, ModelPerformanceMetric

METRIC_VALUE_FIELDS = (
    "sample_count", "evaluation_start", "evaluation_end", "r_squared", "rmse", "mae", "mape", "wape", "cv_rmse",
    "nmbe", "precision", "recall", "f1_score", "drift_detected", "drift_score", "drift_details",
)


def rmse_degradation(model: EnergyBaseline, rmse: float | None) -> float | None:
    """Current RMSE relative to the model's holdout RMSE, minus one (0.25 = 25 % worse)."""
    reference = (model.holdout_metrics or {}).get("rmse") or (model.training_metrics or {}).get("rmse")
    if rmse is None or not reference:
        return None
    return rmse / float(reference) - 1.0


_ATTNAMES = [f.attname for f in ModelPerformanceMetric._meta.concrete_fields]


def metric_build(*, model: EnergyBaseline, values: dict[str, Any], source: str, policy: dict | None = None,
                 evaluated_at=None) -> ModelPerformanceMetric:
    """An unsaved metrics row for `model`, with degradation and ASHRAE verdict derived."""
    policy = policy if policy is not None else policy_for(model.machine)
    rmse, cv_rmse, nmbe = values.get("rmse"), values.get("cv_rmse"), values.get("nmbe")
    fields = {
        "id": uuid.uuid4(),
        "model_id": model.pk,
        "machine_id": model.machine_id,
        "model_type": model.model_type,
        "source": source,
        "evaluated_at": evaluated_at or values.get("evaluated_at") or timezone.now(),
        "sample_count": values.get("sample_count"),
        "drift_detected": bool(values.get("drift_detected") or False),
        "drift_details": values.get("drift_details") or {},
        "rmse_degradation": rmse_degradation(model, rmse),
        "ashrae_pass": ashrae_pass(policy, model.data_interval, cv_rmse, nmbe),
    }
    # Positional construction skips the per-keyword bookkeeping of Model.__init__, which
    # dominates building a 10,000-row batch.
    return ModelPerformanceMetric(*[fields[a] if a in fields else values.get(a) for a in _ATTNAMES])


def metrics_record(*, rows: list[dict[str, Any]], models: dict) -> list[ModelPerformanceMetric]:
    """Store validated metric records in one bulk statement. `models` maps model id → version."""
    policies: dict = {}
    now = timezone.now()
    objs = []
    for values in rows:
        model = models[values["model_id"]]
        if model.machine_id not in policies:
            policies[model.machine_id] = policy_for(model.machine)
        objs.append(metric_build(model=model, values=values, source=MetricSource.RECORDED,
                                 policy=policies[model.machine_id], evaluated_at=values.get("evaluated_at") or now))
    with transaction.atomic():
        bulk_insert(objs)
    return objs

"""Rebuilding a model's metrics history from stored readings (after an import, or for a demo)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from baselines.models import EnergyBaseline
from baselines.selectors import readings_frame
from enms.policy import policy_for

from ..models import MetricSource, ModelPerformanceMetric
from .drift import drift_evaluate, drift_store
from .evaluation import model_evaluate
from .metrics import metric_build


def metrics_backfill(*, model: EnergyBaseline, start: datetime, end: datetime, step: timedelta = timedelta(days=1),
                     drift: bool = True) -> int:
    """One evaluation row per `step` over [start, end), and (energy baselines) one drift check
    per step over the 7 days before it, each dated at the end of its window. Alerts are raised
    as the checks would have raised them; auto-actions are not replayed."""
    policy = policy_for(model.machine)
    frame = readings_frame(machine_ids=[model.machine_id], start=start - timedelta(days=7), end=end)
    if frame.empty:
        return 0
    rows = []
    t = start + step
    count = 0
    while t <= end:
        window = frame[(frame["timestamp"] >= t - step) & (frame["timestamp"] < t)].reset_index(drop=True)
        values = model_evaluate(model=model, frame=window, policy=policy)
        if values is not None:
            rows.append(metric_build(model=model, values=values, source=MetricSource.EVALUATION, policy=policy,
                                     evaluated_at=t))
        if drift and model.model_type == "energy_baseline":
            week = frame[(frame["timestamp"] >= t - timedelta(days=7)) & (frame["timestamp"] < t)].reset_index(
                drop=True)
            if len(week) >= 24:
                result = drift_evaluate(model, week, None, policy)
                drift_store(model=model, result=result, policy=policy, auto_actions=False, evaluated_at=t)
                count += 1
        t += step
    with transaction.atomic():
        ModelPerformanceMetric.objects.bulk_create(rows, batch_size=1000)
    return count + len(rows)

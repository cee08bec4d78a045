"""Scheduled evaluation of active models on their newest readings."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from baselines.artifacts import ArtifactRefused, pipeline_for
from baselines.engine.anomaly import flag_anomalies
from baselines.engine.fit import predict
from baselines.engine.metrics import classification_metrics, regression_metrics
from baselines.models import EnergyBaseline, ModelType
from baselines.selectors import readings_frame
from enms.policy import ashrae_limits, policy_for

from ..models import AlertType, MetricSource, ModelPerformanceMetric, Severity
from .alerts import alert_artifact_refused, alert_raise
from .metrics import metric_build

MIN_EVALUATION_ROWS = 24


def model_evaluate(*, model: EnergyBaseline, frame, policy: dict) -> dict[str, Any] | None:
    """Metrics of one version on a window of its machine's readings (None: too few rows)."""
    if len(frame) < MIN_EVALUATION_ROWS:
        return None
    predicted = predict(pipeline_for(model), frame)
    ok = np.isfinite(predicted)
    if ok.sum() < MIN_EVALUATION_ROWS:
        return None
    y = frame["energy_kwh"].to_numpy(dtype=float)
    if model.model_type == ModelType.ANOMALY_DETECTOR:
        threshold = (model.hyperparameters or {}).get("threshold")
        flags = flag_anomalies(y[ok] - predicted[ok], threshold)
        values = classification_metrics(frame["is_anomaly"].to_numpy(dtype=bool)[ok], flags)
        values = {k: values.get(k) for k in ("precision", "recall", "f1_score")}
    else:
        values = regression_metrics(y[ok], predicted[ok], 0)
        values = {k: values.get(k) for k in ("r_squared", "rmse", "mae", "mape", "wape", "cv_rmse", "nmbe")}
    ts = frame["timestamp"]
    return {**values, "sample_count": int(ok.sum()), "evaluation_start": ts.iloc[0].to_pydatetime(),
            "evaluation_end": ts.iloc[-1].to_pydatetime() + timedelta(hours=1)}


def _degradation(model: EnergyBaseline, row: ModelPerformanceMetric, policy: dict) -> tuple[str | None, list[str]]:
    """Severity and reasons when metrics are worse than the holdout by the policy margin or
    outside the ASHRAE Guideline 14 limits for the model's data interval."""
    reasons = []
    severity = None
    if row.rmse_degradation is not None:
        if row.rmse_degradation >= float(policy["degradation_critical_margin"]):
            severity = Severity.CRITICAL
            reasons.append(f"RMSE {row.rmse_degradation:+.0%} vs holdout")
        elif row.rmse_degradation >= float(policy["degradation_margin"]):
            severity = Severity.WARNING
            reasons.append(f"RMSE {row.rmse_degradation:+.0%} vs holdout")
    if row.ashrae_pass is False:
        cv_limit, nmbe_limit = ashrae_limits(policy, model.data_interval)
        reasons.append(f"outside ASHRAE Guideline 14 {model.data_interval} limits (CV(RMSE) {row.cv_rmse:.1%} / "
                       f"{cv_limit:.0%}, NMBE {row.nmbe:+.1%} / ±{nmbe_limit:.0%})")
        severity = severity or Severity.WARNING
    return severity, reasons


def evaluation_cycle(*, batch_size: int = 200, now: datetime | None = None, window: timedelta | None = None,
                     auto_actions: bool = True) -> dict[str, int]:
    """Evaluate every active model on its readings since its last scheduled evaluation.

    Per batch of machines: one query for the last evaluation times, one for the readings, the
    metrics computed per machine with numpy, one bulk insert. Degraded models get an alert.
    """
    now = now or timezone.now()
    active = list(
        EnergyBaseline.objects.active().select_related("machine").filter(machine__is_active=True)
        .order_by("machine_id", "model_type")
    )
    stored = alerts = 0
    for offset in range(0, len(active), batch_size):
        batch = active[offset:offset + batch_size]
        last = dict(
            ModelPerformanceMetric.objects.filter(model__in=batch, source=MetricSource.EVALUATION)
            .values("model_id").annotate(last=Max("evaluation_end")).values_list("model_id", "last")
        )
        starts = {m.pk: last.get(m.pk) or m.training_end for m in batch}
        if window is not None:
            starts = {k: max(v, now - window) if v else now - window for k, v in starts.items()}
        earliest = min((s for s in starts.values() if s is not None), default=None)
        frame = readings_frame(machine_ids=list({m.machine_id for m in batch}), start=earliest, end=now)
        if frame.empty:
            continue
        groups = {key: group for key, group in frame.groupby("machine_id", sort=False)}
        rows, degraded, refused = [], [], []
        policies: dict = {}
        for model in batch:
            group = groups.get(model.machine_id)
            if group is None:
                continue
            start = starts[model.pk]
            if start is not None:
                group = group[group["timestamp"] >= start]
            if model.training_end is not None:
                # Hours the version was trained on are never judged: a fresh version meets only unseen hours.
                group = group[group["timestamp"] > model.training_end]
            policy = policies.setdefault(model.machine_id, policy_for(model.machine))
            try:
                values = model_evaluate(model=model, frame=group, policy=policy)
            except ArtifactRefused as exc:
                refused.append((model, exc.reason))
                continue
            if values is None:
                continue
            row = metric_build(model=model, values=values, source=MetricSource.EVALUATION, policy=policy,
                               evaluated_at=now)
            rows.append(row)
            severity, reasons = _degradation(model, row, policy)
            if severity:
                degraded.append((model, row, severity, reasons, policy))
        with transaction.atomic():
            ModelPerformanceMetric.objects.bulk_create(rows, batch_size=1000)
        stored += len(rows)
        for model, reason in refused:
            alert_artifact_refused(model=model, reason=reason, cycle="evaluation")
        alerts += len(refused)
        for model, row, severity, reasons, policy in degraded:
            alert, _ = alert_raise(
                machine=model.machine, model=model, model_type=model.model_type, alert_type=AlertType.DEGRADATION,
                severity=severity, message=f"{model.machine} v{model.version} degraded: " + "; ".join(reasons),
                details={"metric_id": str(row.pk), "rmse_degradation": row.rmse_degradation,
                         "cv_rmse": row.cv_rmse, "nmbe": row.nmbe, "ashrae_pass": row.ashrae_pass},
            )
            alerts += 1
            if auto_actions:
                from .actions import alert_auto_actions

                alert_auto_actions(alert=alert, policy=policy, trigger_type="degradation")
    return {"models": len(active), "stored": stored, "alerts": alerts}


def drift_cycle(*, now: datetime | None = None) -> dict[str, int]:
    """Beat job: a drift check of every active energy baseline over its latest 7 days."""
    from django.core.exceptions import ValidationError

    from .drift import drift_check

    checked = drifted = refused = 0
    for model in EnergyBaseline.objects.active().of_type(ModelType.ENERGY_BASELINE).select_related("machine"):
        try:
            result = drift_check(model=model)
        except ValidationError:
            continue  # no or too few recent readings: nothing to judge
        except ArtifactRefused as exc:
            alert_artifact_refused(model=model, reason=exc.reason, cycle="drift")
            refused += 1
            continue
        checked += 1
        drifted += int(result["drift_detected"])
    return {"checked": checked, "drifted": drifted, "refused": refused}


def scheduled_retrain_all() -> dict[str, int]:
    """Beat job (weekly by default): queue a scheduled retraining of every active model."""
    from enms.errors import Conflict

    from .training import training_trigger

    queued = busy = 0
    for model in EnergyBaseline.objects.active().select_related("machine").filter(machine__is_active=True):
        try:
            training_trigger(machine=model.machine, model_type=model.model_type, model=model,
                             trigger_type="scheduled", reason="weekly schedule")
            queued += 1
        except Conflict:
            busy += 1
    return {"queued": queued, "busy": busy}

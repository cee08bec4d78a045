"""Scheduled evaluation of active models on their newest readings."""

from __future__ import annotations

import logging
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

from ..models import AlertType, MetricSource, ModelAlert, ModelPerformanceMetric, Severity
from .alerts import alert_artifact_refused, alert_note_clean, alert_raise
from .cycles import cycle_register
from .metrics import metric_build

logger = logging.getLogger(__name__)

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


def _active_versions():
    return (EnergyBaseline.objects.active().select_related("machine").filter(machine__is_active=True)
            .order_by("machine_id", "model_type"))


def evaluation_cycle(*, batch_size: int = 200, now: datetime | None = None, window: timedelta | None = None,
                     auto_actions: bool = True) -> dict[str, int]:
    """Evaluate every active model on its readings since its last scheduled evaluation, in this
    process, batch after batch (the beat job fans the same batches out to workers instead)."""
    now = now or timezone.now()
    active = list(_active_versions())
    stored = alerts = 0
    for offset in range(0, len(active), batch_size):
        result = _evaluate(active[offset:offset + batch_size], now=now, window=window, auto_actions=auto_actions)
        stored += result["stored"]
        alerts += result["alerts"]
    return {"models": len(active), "stored": stored, "alerts": alerts}


def evaluation_batch(*, model_ids: list, now: datetime, window: timedelta | None = None,
                     auto_actions: bool = True) -> dict[str, int]:
    """One batch of the evaluation cycle: the given versions (those still active) as of `now`."""
    batch = list(_active_versions().filter(pk__in=model_ids))
    return {"models": len(batch), **_evaluate(batch, now=now, window=window, auto_actions=auto_actions)}


def _evaluate(batch: list[EnergyBaseline], *, now: datetime, window: timedelta | None,
              auto_actions: bool) -> dict[str, int]:
    """Per batch of machines: one query for the last evaluation times, one for the readings, the
    metrics computed per machine with numpy, one bulk insert (rows already stored for the same
    version, window and time are skipped). Degraded models get an alert."""
    stored = alerts = failures = 0
    if not batch:
        return {"stored": 0, "alerts": 0, "failures": 0}
    last = dict(
        ModelPerformanceMetric.objects.filter(model__in=batch, source=MetricSource.EVALUATION)
        .exclude(evaluated_at=now)
        .values("model_id").annotate(last=Max("evaluation_end")).values_list("model_id", "last")
    )
    starts = {m.pk: last.get(m.pk) or m.training_end for m in batch}
    if window is not None:
        starts = {k: max(v, now - window) if v else now - window for k, v in starts.items()}
    earliest = min((s for s in starts.values() if s is not None), default=None)
    frame = readings_frame(machine_ids=list({m.machine_id for m in batch}), start=earliest, end=now)
    if frame.empty:
        return {"stored": 0, "alerts": 0, "failures": 0}
    groups = {key: group for key, group in frame.groupby("machine_id", sort=False)}
    rows, degraded, refused, clean = [], [], [], []
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
        except Exception:  # one broken version must not cost the batch the others
            logger.exception("evaluation of %s v%s failed", model.machine_id, model.version)
            failures += 1
            continue
        if values is None:
            continue
        row = metric_build(model=model, values=values, source=MetricSource.EVALUATION, policy=policy,
                           evaluated_at=now)
        rows.append(row)
        severity, reasons = _degradation(model, row, policy)
        if severity:
            degraded.append((model, row, severity, reasons, policy))
        else:
            clean.append((model, row, policy))
    with transaction.atomic():
        ModelPerformanceMetric.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    # A redelivered batch finds its rows stored already: only the new ones count and alert.
    new = set(ModelPerformanceMetric.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", flat=True))
    stored += len(new)
    clean = [(model, row, policy) for model, row, policy in clean if row.pk in new]
    open_ids = set(ModelAlert.objects.filter(
        model_id__in=[m.pk for m, _, _ in clean], alert_type=AlertType.DEGRADATION, is_resolved=False,
    ).values_list("model_id", flat=True)) if clean else set()
    for model, row, policy in clean:
        if model.pk in open_ids:
            alert_note_clean(model=model, alert_type=AlertType.DEGRADATION, metric=row, policy=policy)
    for model, reason in refused:
        alert_artifact_refused(model=model, reason=reason, cycle="evaluation")
    alerts += len(refused)
    for model, row, severity, reasons, policy in degraded:
        if row.pk not in new:
            continue
        alert, _ = alert_raise(
            machine=model.machine, model=model, model_type=model.model_type, alert_type=AlertType.DEGRADATION,
            severity=severity, message=f"{model.machine} v{model.version} degraded: " + "; ".join(reasons),
            details={"reasons": reasons}, metric=row,
        )
        alerts += 1
        if auto_actions:
            from .actions import alert_auto_actions

            alert_auto_actions(alert=alert, policy=policy, trigger_type="degradation")
    return {"stored": stored, "alerts": alerts, "failures": failures}


def _drift_versions():
    return (EnergyBaseline.objects.active().of_type(ModelType.ENERGY_BASELINE).select_related("machine")
            .order_by("machine_id"))


def drift_cycle(*, now: datetime | None = None) -> dict[str, int]:
    """A drift check of every active energy baseline over its latest 7 days, in this process."""
    return _drift(list(_drift_versions()), now=now)


def drift_batch(*, model_ids: list, now: datetime) -> dict[str, int]:
    """One batch of the drift cycle, as of the cycle's time `now`: a version that has its drift
    row of this cycle already (a redelivered batch) is not checked again."""
    done = set(ModelPerformanceMetric.objects.filter(
        model_id__in=model_ids, source=MetricSource.DRIFT_CHECK, evaluated_at=now).values_list("model_id", flat=True))
    batch = [m for m in _drift_versions().filter(pk__in=model_ids) if m.pk not in done]
    return {**_drift(batch, now=now), "skipped": len(done)}


def _drift(models: list[EnergyBaseline], *, now: datetime | None) -> dict[str, int]:
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError

    from .drift import drift_check

    checked = drifted = refused = failures = 0
    for model in models:
        try:
            result = drift_check(model=model, evaluated_at=now)
        except ValidationError:
            continue  # no or too few recent readings: nothing to judge
        except ArtifactRefused as exc:
            alert_artifact_refused(model=model, reason=exc.reason, cycle="drift")
            refused += 1
            continue
        except IntegrityError:
            continue  # a redelivered batch: this version's row of this cycle is stored
        except Exception:
            logger.exception("drift check of %s v%s failed", model.machine_id, model.version)
            failures += 1
            continue
        checked += 1
        drifted += int(result["drift_detected"])
    return {"checked": checked, "drifted": drifted, "refused": refused, "failures": failures}


def _retrain_versions():
    return (EnergyBaseline.objects.active().select_related("machine").filter(machine__is_active=True)
            .order_by("machine_id", "model_type"))


def scheduled_retrain_all() -> dict[str, int]:
    """Queue a scheduled retraining of every active model, in this process."""
    return _retrain(list(_retrain_versions()), since=None)


def retrain_batch(*, model_ids: list, now: datetime) -> dict[str, int]:
    """One batch of the scheduled retraining: a version with a scheduled job since the cycle's
    time (a redelivered batch) is not queued again."""
    return _retrain(list(_retrain_versions().filter(pk__in=model_ids)), since=now)


def _retrain(models: list[EnergyBaseline], *, since: datetime | None) -> dict[str, int]:
    from enms.errors import Conflict

    from ..models import ModelTrainingHistory
    from .training import training_trigger

    done = set()
    if since is not None:
        done = set(ModelTrainingHistory.objects.filter(
            model__in=models, trigger_type="scheduled", created_at__gte=since).values_list("model_id", flat=True))
    queued = busy = skipped = 0
    for model in models:
        if model.pk in done:
            skipped += 1
            continue
        try:
            training_trigger(machine=model.machine, model_type=model.model_type, model=model,
                             trigger_type="scheduled", reason="weekly schedule")
            queued += 1
        except Conflict:
            busy += 1
    return {"queued": queued, "busy": busy, "skipped": skipped}


cycle_register(name="evaluation", versions=_active_versions, batch=evaluation_batch)
cycle_register(name="drift", versions=_drift_versions, batch=drift_batch)
cycle_register(name="retrain", versions=_retrain_versions, batch=retrain_batch)

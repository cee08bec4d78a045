"""Training jobs: trigger, dispatch (outbox), run with compare-and-set, promote, reap."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from baselines.models import BaselineStatus, EnergyBaseline, Machine
from enms.errors import Conflict
from enms.policy import policy_for
from enms.users import acting_user

from ..models import AlertType, ModelTrainingHistory, Severity, TrainingStatus
from .alerts import alert_raise

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 2


def _heartbeat_timeout() -> timedelta:
    """A running job whose heartbeat is older than this is considered dead (its worker was killed)."""
    return timedelta(seconds=settings.ENMS_TRAINING_HEARTBEAT_TIMEOUT_S)


def _dispatch_retry_after() -> timedelta:
    """A pending job not picked up for this long is published again (its message was lost)."""
    return timedelta(seconds=settings.ENMS_TRAINING_DISPATCH_RETRY_S)


def training_trigger(
    *,
    machine: Machine,
    model_type: str,
    model: EnergyBaseline | None = None,
    trigger_type: str = "manual",
    user=None,
    training_start: datetime | None = None,
    training_end: datetime | None = None,
    hyperparameters: dict[str, Any] | None = None,
    reason: str = "",
) -> ModelTrainingHistory:
    """Create a `pending` training job and queue it once the transaction commits.

    The partial unique constraint allows one pending/running job per machine and model type, so
    of concurrent triggers exactly one creates a job; the others get `Conflict` (409) carrying
    the open job's id.
    """
    if model is None:
        model = EnergyBaseline.objects.filter(machine=machine, model_type=model_type, status="active").first()
    try:
        with transaction.atomic():
            job = ModelTrainingHistory.objects.create(
                machine=machine,
                model=model,
                model_type=model_type,
                trigger_type=trigger_type,
                status=TrainingStatus.PENDING,
                triggered_by=acting_user(user),
                trigger_reason=reason,
                training_start=training_start,
                training_end=training_end,
                hyperparameters=hyperparameters or {},
                previous_metrics=dict(model.holdout_metrics) if model is not None else {},
            )
            transaction.on_commit(lambda: training_dispatch(job_id=job.pk))
    except IntegrityError as exc:
        open_job = ModelTrainingHistory.objects.open().filter(machine=machine, model_type=model_type).first()
        raise Conflict(
            "A training job is already pending or running for this machine and model type.",
            training_id=str(open_job.pk) if open_job else None,
        ) from exc
    return job


def training_dispatch(*, job_id) -> bool:
    """Publish the job's task; mark it dispatched. A broker failure leaves it for the sweep."""
    from ..tasks import training_run

    try:
        training_run.apply_async(args=[str(job_id)], retry=True,
                                 retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
    except Exception as exc:  # broker down: the beat sweep re-publishes pending jobs
        logger.warning("training job %s not published (%s); the sweep will retry", job_id, exc)
        return False
    # Refreshed on every publish, so the sweep re-publishes a job only once per retry period.
    ModelTrainingHistory.objects.filter(pk=job_id, status=TrainingStatus.PENDING).update(dispatched_at=timezone.now())
    return True


def training_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat job: publish pending jobs never dispatched (or lost), reap running jobs whose
    heartbeat stopped (requeue once, then fail)."""
    now = now or timezone.now()
    published = 0
    stale_pending = ModelTrainingHistory.objects.filter(status=TrainingStatus.PENDING).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - _dispatch_retry_after())
    )
    for job_id in stale_pending.values_list("pk", flat=True):
        published += int(training_dispatch(job_id=job_id))
    requeued = failed = 0
    dead = ModelTrainingHistory.objects.filter(
        status=TrainingStatus.RUNNING, heartbeat_at__lt=now - _heartbeat_timeout()
    ).values_list("pk", "attempts")
    for job_id, attempts in dead:
        if attempts < MAX_ATTEMPTS:
            if ModelTrainingHistory.objects.filter(pk=job_id, status=TrainingStatus.RUNNING,
                                                   heartbeat_at__lt=now - _heartbeat_timeout()).update(
                    status=TrainingStatus.PENDING, dispatched_at=None, heartbeat_at=None):
                requeued += 1
                transaction.on_commit(lambda j=job_id: training_dispatch(job_id=j))
        else:
            job = ModelTrainingHistory.objects.get(pk=job_id)
            if _finish_failed(job=job, error="The worker stopped responding (heartbeat lost) and retries ran out."):
                failed += 1
    return {"published": published, "requeued": requeued, "failed": failed}


def _claim(job_id) -> ModelTrainingHistory | None:
    """Compare-and-set pending → running. A redelivered message for a job another worker holds
    alive is ignored; one whose worker died (stale heartbeat) is taken over."""
    now = timezone.now()
    claimed = ModelTrainingHistory.objects.filter(pk=job_id, status=TrainingStatus.PENDING).update(
        status=TrainingStatus.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        claimed = ModelTrainingHistory.objects.filter(
            pk=job_id, status=TrainingStatus.RUNNING, heartbeat_at__lt=now - _heartbeat_timeout(),
            attempts__lt=MAX_ATTEMPTS,
        ).update(heartbeat_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return ModelTrainingHistory.objects.select_related("machine", "model").get(pk=job_id)


def _heartbeat(job: ModelTrainingHistory) -> None:
    ModelTrainingHistory.objects.filter(pk=job.pk, status=TrainingStatus.RUNNING).update(heartbeat_at=timezone.now())


def _default_window(job: ModelTrainingHistory, policy: dict) -> tuple[datetime | None, datetime | None]:
    if job.training_start or job.training_end:
        return job.training_start, job.training_end
    if job.model is not None:
        # A retrain learns the machine as it is now: the latest `retrain_window_days` of readings.
        last = job.machine.readings.order_by("-timestamp").values_list("timestamp", flat=True).first()
        if last is not None:
            days = int(policy.get("retrain_window_days", 60))
            return last - timedelta(days=days) + timedelta(hours=1), last + timedelta(hours=1)
    return None, None


def training_run(*, job_id) -> ModelTrainingHistory | None:
    """Run one training job to its end; safe to call again for the same job (at-least-once)."""
    job = _claim(job_id)
    if job is None:
        return None
    started = time.monotonic()
    try:
        policy = policy_for(job.machine)
        candidate = job.new_model
        if candidate is None:
            start, end = _default_window(job, policy)
            candidate = _train_once(job=job, start=start, end=end)
        _heartbeat(job)
        _evaluate_and_promote(job=job, candidate=candidate, policy=policy)
    except Exception as exc:
        logger.exception("training job %s failed", job_id)
        job.refresh_from_db()
        _finish_failed(job=job, error=f"{type(exc).__name__}: {exc}", duration=time.monotonic() - started)
        return job
    job.refresh_from_db()
    return job


def _train_once(*, job: ModelTrainingHistory, start, end) -> EnergyBaseline:
    """Train the candidate and attach it to the job in one transaction, so a redelivered job
    never creates a second version."""
    from baselines.services import baseline_train

    with transaction.atomic():
        locked = ModelTrainingHistory.objects.select_for_update().get(pk=job.pk)
        if locked.new_model_id is not None:
            return locked.new_model
        candidate = baseline_train(
            machine=job.machine, model_type=job.model_type, training_start=start, training_end=end,
            hyperparameters=job.hyperparameters or None, user=job.triggered_by, parent=job.model,
            notes=f"{job.trigger_type} training job {job.pk}",
        )
        locked.new_model = candidate
        locked.training_start = candidate.training_start
        locked.training_end = candidate.training_end
        locked.sample_count = candidate.training_sample_count
        locked.save(update_fields=["new_model", "training_start", "training_end", "sample_count"])
    job.new_model = candidate
    return candidate


def _holdout_comparison(*, candidate: EnergyBaseline, active: EnergyBaseline) -> dict[str, Any]:
    """Both versions on the candidate's time-ordered holdout (the same readings).

    The stored candidate was refit on every reading of its window, the holdout included, so its
    side is its stored holdout metrics: those of the fit that never saw the holdout. The active
    version predicts the same readings (no labelled anomaly, the candidate's drivers present).
    """
    from baselines.artifacts import pipeline_for
    from baselines.engine.fit import predict
    from baselines.engine.metrics import regression_metrics
    from baselines.selectors import readings_frame

    holdout = candidate.holdout_metrics or {}
    holdout_start = holdout.get("holdout_start")
    start = datetime.fromisoformat(holdout_start) if holdout_start else candidate.training_start
    frame = readings_frame(machine_ids=[candidate.machine_id], start=start,
                           end=candidate.training_end + timedelta(seconds=1))
    frame = frame[~frame["is_anomaly"]] if "is_anomaly" in frame else frame
    for driver in candidate.driver_ranges or {}:
        frame = frame[frame[driver].notna()]
    y = frame["energy_kwh"].to_numpy()
    pred = predict(pipeline_for(active), frame)
    ok = np.isfinite(pred)
    return {
        "candidate": {k: v for k, v in holdout.items() if isinstance(v, (int, float)) or v is None},
        "active": regression_metrics(y[ok], pred[ok], 0),
    }


ACTIVATE_PERMISSION = "baselines.change_energybaseline"


def _may_activate(job: ModelTrainingHistory) -> bool:
    """A job set off by a person promotes its candidate only if that person may activate versions
    (a beat job or policy action has no person and follows the policy)."""
    user = job.triggered_by
    return user is None or user.has_perm(ACTIVATE_PERMISSION)


def _evaluate_and_promote(*, job: ModelTrainingHistory, candidate: EnergyBaseline, policy: dict) -> str:
    from baselines.services import baseline_activate

    active = EnergyBaseline.objects.filter(
        machine=job.machine, model_type=job.model_type, status=BaselineStatus.ACTIVE
    ).exclude(pk=candidate.pk).first()
    new_metrics = {k: v for k, v in (candidate.holdout_metrics or {}).items() if not isinstance(v, dict)}
    improvement = None
    previous = dict(job.previous_metrics or {})
    ashrae_ok = bool(((candidate.holdout_metrics or {}).get("ashrae") or {}).get("passes", True))
    if job.model_type == "anomaly_detector":
        ashrae_ok = True
    if active is None:
        outcome = "promoted_first_version"
    elif job.model_type == "energy_baseline":
        comparison = _holdout_comparison(candidate=candidate, active=active)
        previous = comparison["active"]
        new_metrics = comparison["candidate"]
        if previous.get("rmse") and new_metrics.get("rmse") is not None:
            improvement = (previous["rmse"] - new_metrics["rmse"]) / previous["rmse"]
        better = improvement is not None and improvement >= float(policy["promotion_margin"])
        mode = policy.get("promotion_mode", "promote")
        if better and ashrae_ok and mode == "promote":
            outcome = "promoted"
        elif better and ashrae_ok and mode == "ab_test":
            outcome = "ab_test"
        else:
            outcome = "kept_candidate"
    else:
        outcome = "promoted"
    if outcome in ("promoted", "promoted_first_version", "ab_test") and not _may_activate(job):
        # Promotion (now, or by an auto-promoting A/B test) activates a version: a person without
        # that right gets a candidate for someone who has it.
        outcome = "kept_candidate_no_permission"
    with transaction.atomic():
        if outcome in ("promoted", "promoted_first_version"):
            baseline_activate(baseline=candidate)
        elif outcome == "ab_test":
            from .abtests import abtest_start

            try:
                abtest_start(name=f"Retrain {candidate.machine} v{active.version} vs v{candidate.version}",
                             model_a=active, model_b=candidate, auto_promote=True)
            except Conflict:
                outcome = "kept_candidate_ab_test_busy"
        finished = timezone.now()
        ModelTrainingHistory.objects.filter(pk=job.pk, status=TrainingStatus.RUNNING).update(
            status=TrainingStatus.COMPLETED,
            completed_at=finished,
            duration_seconds=(finished - job.started_at).total_seconds() if job.started_at else None,
            previous_metrics=previous,
            new_metrics=new_metrics,
            performance_improvement=improvement,
            outcome=outcome,
            heartbeat_at=finished,
        )
    return outcome


def _finish_failed(*, job: ModelTrainingHistory, error: str, duration: float | None = None) -> bool:
    with transaction.atomic():
        updated = ModelTrainingHistory.objects.filter(
            pk=job.pk, status__in=[TrainingStatus.PENDING, TrainingStatus.RUNNING]
        ).update(status=TrainingStatus.FAILED, error_message=error[:5000], completed_at=timezone.now(),
                 duration_seconds=duration)
        if updated:
            alert_raise(
                machine=job.machine, model=job.model, model_type=job.model_type,
                alert_type=AlertType.TRAINING_FAILED, severity=Severity.WARNING,
                message=f"Training of {job.machine} ({job.model_type}) failed: {error[:200]}",
                details={"training_id": str(job.pk), "error": error[:2000], "trigger_type": job.trigger_type},
            )
    return bool(updated)

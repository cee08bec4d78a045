"""Setting up and deciding A/B tests between two versions of one machine's model."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from baselines.models import EnergyBaseline
from enms.errors import Conflict
from enms.users import acting_user

from ..models import ABTestStatus, ModelABTest, RegistryEvent
from .registry import registry_record_abtest


def abtest_validate_pair(*, model_a: EnergyBaseline, model_b: EnergyBaseline) -> None:
    """Both versions must differ and belong to one machine and model type."""
    if model_a.pk == model_b.pk:
        raise ValidationError({"model_b_id": "Model B must be a different version from model A."})
    if (model_a.machine_id, model_a.model_type) != (model_b.machine_id, model_b.model_type):
        raise ValidationError({"model_b_id": "Both versions must belong to the same machine and model type."})


def abtest_start(
    *,
    name: str,
    model_a: EnergyBaseline,
    model_b: EnergyBaseline,
    traffic_split: float = 0.5,
    duration_days: int = 14,
    min_samples: int = 168,
    auto_promote: bool = False,
    user=None,
    started_at: datetime | None = None,
) -> ModelABTest:
    """Start a live A/B test; 409 (`Conflict`) when the machine already has a running one."""
    abtest_validate_pair(model_a=model_a, model_b=model_b)
    started = started_at or timezone.now()
    try:
        with transaction.atomic():
            test = ModelABTest.objects.create(
                name=name,
                machine_id=model_a.machine_id,
                model_type=model_a.model_type,
                model_a=model_a,
                model_b=model_b,
                traffic_split=traffic_split,
                duration_days=duration_days,
                min_samples=min_samples,
                auto_promote=auto_promote,
                started_at=started,
                ends_at=started + timedelta(days=duration_days),
                status=ABTestStatus.RUNNING,
                created_by=acting_user(user),
            )
            registry_record_abtest(test=test, event=RegistryEvent.AB_STARTED)
            return test
    except IntegrityError as exc:
        running = ModelABTest.objects.running().filter(machine_id=model_a.machine_id).first()
        if running is not None:
            raise Conflict("This machine already has a running A/B test.", ab_test_id=str(running.pk)) from exc
        raise


def abtest_start_from_api(
    *, name: str, model_a: EnergyBaseline, model_b: EnergyBaseline, traffic_split: float, duration_days: int,
    min_samples: int, auto_promote: bool, user=None, window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> ModelABTest:
    """A live test, or with a past window a backtest on stored readings decided at once."""
    if window_start is None:
        return abtest_start(name=name, model_a=model_a, model_b=model_b, traffic_split=traffic_split,
                            duration_days=duration_days, min_samples=min_samples, auto_promote=auto_promote,
                            user=user)
    abtest_validate_pair(model_a=model_a, model_b=model_b)
    if window_end > timezone.now():
        raise ValidationError({"window_end": ["A backtest window must lie in the past."]})
    with transaction.atomic():
        test = ModelABTest.objects.create(
            name=name, machine_id=model_a.machine_id, model_type=model_a.model_type, model_a=model_a,
            model_b=model_b, traffic_split=traffic_split, min_samples=min_samples, auto_promote=auto_promote,
            started_at=window_start, ends_at=window_end, is_backtest=True, status=ABTestStatus.COMPLETED,
            duration_days=max(1, round((window_end - window_start).total_seconds() / 86400)),
            created_by=acting_user(user),
        )
        _decide(test=test)
    return test


def abtest_evaluate(*, test: ModelABTest, final: bool, now: datetime | None = None) -> dict:
    """Per-arm metrics and the paired test on the readings of the test window so far.

    Every reading is assigned to arm A or B by a hash of (test id, timestamp), so which
    version served it is reproducible; both versions predict every reading, and the decision
    compares them paired on the absolute-error differential with an autocorrelation-robust
    variance (see `performance.abstats`).
    """
    import numpy as np

    from baselines.artifacts import pipeline_for
    from baselines.engine.fit import predict
    from baselines.engine.metrics import regression_metrics
    from baselines.selectors import readings_frame

    from .. import abstats

    end = test.ends_at if final else min(test.ends_at, now or timezone.now())
    frame = readings_frame(machine_ids=[test.machine_id], start=test.started_at, end=end)
    arms: dict = {}
    if frame.empty:
        paired = abstats.paired_test(np.array([]), np.array([]), min_samples=test.min_samples, final=final)
        for key, model in (("a", test.model_a), ("b", test.model_b)):
            arms[key] = {"model_id": str(model.pk), "n": 0, "mae": None, "rmse": None, "cv_rmse": None, "nmbe": None}
        return {"arms": arms, "paired": paired}
    y = frame["energy_kwh"].to_numpy(dtype=float)
    pred_a = predict(pipeline_for(test.model_a), frame)
    pred_b = predict(pipeline_for(test.model_b), frame)
    epoch = frame["timestamp"].dt.tz_convert(None).to_numpy(dtype="datetime64[s]").astype("int64")
    in_b = abstats.assign_arms(str(test.pk), epoch, test.traffic_split)
    for key, model, pred, mask in (("a", test.model_a, pred_a, ~in_b), ("b", test.model_b, pred_b, in_b)):
        ok = mask & np.isfinite(pred)
        metrics = regression_metrics(y[ok], pred[ok], 0) if ok.sum() >= 2 else {}
        arms[key] = {"model_id": str(model.pk), "n": int(ok.sum()),
                     **{k: metrics.get(k) for k in ("mae", "rmse", "cv_rmse", "nmbe")}}
    loss_a = abstats.pointwise_loss(y - pred_a)
    loss_b = abstats.pointwise_loss(y - pred_b)
    paired = abstats.paired_test(loss_a, loss_b, min_samples=test.min_samples, final=final)
    return {"arms": arms, "paired": paired}


def _decide(*, test: ModelABTest) -> ModelABTest:
    """Final decision: store results, name the winner, raise the completion alert, promote."""
    from baselines.models import BaselineStatus
    from baselines.services import baseline_activate

    from ..models import AlertType, Severity
    from .alerts import alert_raise, alerts_supersede

    evaluation = abtest_evaluate(test=test, final=True)
    paired = evaluation["paired"]
    decision = paired["decision"]
    winner = {"a_wins": test.model_a, "b_wins": test.model_b}.get(decision)
    test.results = evaluation
    test.decision = decision
    test.winner = winner
    test.confidence = paired.get("confidence")
    test.status = ABTestStatus.COMPLETED
    test.completed_at = timezone.now()
    test.save(update_fields=["results", "decision", "winner", "confidence", "status", "completed_at"])
    registry_record_abtest(test=test, event=RegistryEvent.AB_COMPLETED)
    promoted = None
    if test.auto_promote and winner is not None:
        loser = test.model_b if winner.pk == test.model_a.pk else test.model_a
        baseline_activate(baseline=winner)
        EnergyBaseline.objects.filter(pk=loser.pk, status=BaselineStatus.CANDIDATE).update(
            status=BaselineStatus.RETIRED, retired_at=timezone.now())
        alerts_supersede(versions=[loser.pk])
        promoted = str(winner.pk)
    alert_raise(
        machine=test.machine, model=test.model_b, model_type=test.model_type,
        alert_type=AlertType.AB_TEST_COMPLETED, severity=Severity.WARNING,
        message=f"A/B test '{test.name}' finished: {decision.replace('_', ' ')}"
                + (f", v{winner.version} promoted" if promoted else ""),
        details={"ab_test_id": str(test.pk), "decision": decision, "p_value": paired.get("p_value"),
                 "winner_model_id": str(winner.pk) if winner else None, "promoted": promoted},
    )
    return test


def abtest_complete(*, test_id) -> ModelABTest | None:
    """Complete a running test whose time is up (idempotent: a completed test is left alone)."""
    with transaction.atomic():
        test = (ModelABTest.objects.select_for_update().select_related("model_a", "model_b", "machine")
                .filter(pk=test_id, status=ABTestStatus.RUNNING).first())
        if test is None:
            return None
        return _decide(test=test)


def abtests_complete_due(*, now: datetime | None = None) -> int:
    """Beat job: complete every running test whose planned end has passed."""
    from baselines.artifacts import ArtifactRefused

    from .alerts import alert_artifact_refused

    now = now or timezone.now()
    due = ModelABTest.objects.running().filter(ends_at__lte=now).values_list("pk", flat=True)
    completed = 0
    for test_id in list(due):
        try:
            completed += abtest_complete(test_id=test_id) is not None
        except ArtifactRefused as exc:  # the test stays running; nothing is promoted
            alert_artifact_refused(model=exc.baseline, reason=exc.reason, cycle="A/B test")
    return completed


def abtest_stop(*, test: ModelABTest, user=None, reason: str = "") -> ModelABTest:
    """Stop a running test by hand: `stopped`, decision `inconclusive`, nothing promoted. The
    arms' figures so far are kept with the reason. 409 (`Conflict`) when it is not running."""
    from baselines.artifacts import ArtifactRefused

    with transaction.atomic():
        locked = (ModelABTest.objects.select_for_update().select_related("model_a", "model_b")
                  .filter(pk=test.pk).first())
        if locked is None or locked.status != ABTestStatus.RUNNING:
            raise Conflict(f"This A/B test is {locked.status if locked else 'gone'}, not running.")
        now = timezone.now()
        try:
            results = abtest_evaluate(test=locked, final=False, now=now)
        except (ArtifactRefused, ValueError) as exc:
            results = {"error": str(exc)}
        who = acting_user(user)
        results["stopped"] = {"reason": reason, "by": who.get_username() if who else None, "at": now.isoformat()}
        locked.results = results
        locked.status = ABTestStatus.STOPPED
        locked.decision = "inconclusive"
        locked.winner = None
        locked.completed_at = now
        locked.save(update_fields=["results", "status", "decision", "winner", "completed_at"])
        registry_record_abtest(test=locked, event=RegistryEvent.AB_STOPPED)
    return locked


def abtest_results(*, test: ModelABTest) -> dict:
    """Results as the API shows them: stored once decided, computed live (interim) while running."""
    if test.status in (ABTestStatus.COMPLETED, ABTestStatus.STOPPED) and "arms" in (test.results or {}):
        evaluation = test.results
    elif test.status == ABTestStatus.STOPPED:
        evaluation = {"arms": {key: {"model_id": str(m), "n": 0, "mae": None, "rmse": None, "cv_rmse": None,
                                     "nmbe": None} for key, m in (("a", test.model_a_id), ("b", test.model_b_id))},
                      "paired": {}}
    else:
        evaluation = abtest_evaluate(test=test, final=False)
    paired = evaluation["paired"]
    decision = test.decision if test.status == ABTestStatus.COMPLETED else "running"
    if test.status in (ABTestStatus.CANCELLED, ABTestStatus.STOPPED):
        decision = "inconclusive"
    return {
        "id": test.pk,
        "status": test.status,
        "decision": decision,
        "winner_model_id": test.winner_id,
        "confidence": test.confidence if test.status == ABTestStatus.COMPLETED else paired.get("confidence"),
        "arms": evaluation["arms"],
        "paired": {k: paired.get(k) for k in ("n", "mean_loss_difference", "statistic", "p_value", "ci_low",
                                              "ci_high", "method")},
        "ends_at": test.ends_at,
        "reason": ((test.results or {}).get("stopped") or {}).get("reason") or paired.get("reason"),
    }

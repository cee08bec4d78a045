"""Training jobs end to end (Celery eager): trigger, run, promote or keep, fail loudly, never twice."""

from datetime import timedelta

import pytest
from django.db import transaction

from baselines.models import EnergyBaseline
from enms.errors import Conflict
from performance.models import ModelAlert, ModelTrainingHistory
from performance.services.training import training_run, training_sweep, training_trigger

from .conftest import START

pytestmark = pytest.mark.django_db(transaction=True)


def _first_version(machine):
    job = training_trigger(machine=machine, model_type="energy_baseline")
    job.refresh_from_db()
    return job


def test_first_training_creates_active_version_with_metrics_and_reference(stable_machine):
    job = _first_version(stable_machine)
    assert job.status == "completed" and job.outcome == "promoted_first_version"
    version = job.new_model
    assert version.status == "active" and version.version == 1
    assert version.holdout_metrics["cv_rmse"] < 0.30 and abs(version.holdout_metrics["nmbe"]) < 0.10
    assert version.reference_stats["drivers"] and version.reference_stats["residuals"]
    assert len(version.artifact_sha256) == 64
    assert job.sample_count == version.training_sample_count == version.training_metrics["n"] > 2000
    # The stored model saw every reading; the holdout figures come from a fit that did not.
    assert version.training_metrics["basis"].startswith("in-sample")
    assert version.holdout_metrics["basis"].startswith("out-of-sample")
    folds = version.holdout_metrics["blocked_folds"]
    assert folds["k"] == 5 and folds["n"] == version.training_sample_count
    # The drift reference is built from out-of-sample residuals, with their structure.
    residuals = version.reference_stats["residuals"]
    assert residuals["basis"] == "out_of_sample" and residuals["n"] == version.training_sample_count
    assert residuals["rmse"] > version.training_metrics["rmse"]
    structure = residuals["structure"]
    assert structure["autocorrelation"]["lag1"] > 0.3 and structure["daily"]["n_days"] >= 89
    assert structure["blocks"]["length"] == 168 and structure["blocks"]["values"]
    assert version.hyperparameters["time_zone"] == "Europe/Berlin" == stable_machine.time_zone
    assert job.duration_seconds is not None and job.started_at and job.completed_at


def test_retrain_on_same_data_is_not_promoted_without_margin(stable_machine):
    first = _first_version(stable_machine).new_model
    job = training_trigger(machine=stable_machine, model_type="energy_baseline", model=first,
                           training_start=first.training_start, training_end=first.training_end + timedelta(hours=1))
    job.refresh_from_db()
    assert job.status == "completed"
    assert job.outcome == "kept_candidate"
    # The candidate is judged by the fit that never saw its holdout; the active version, refit on
    # the same window, saw those readings and predicts them in-sample, so it cannot lose here.
    assert job.performance_improvement < 0.02
    assert job.new_metrics["rmse"] == job.new_model.holdout_metrics["rmse"]
    assert EnergyBaseline.objects.get(pk=first.pk).status == "active"
    assert job.new_model.status == "candidate" and job.new_model.version == 2


def _retrain_after_step(machine):
    """Train on the 120 days before the step, then retrain (default window: after the step)."""
    first = training_trigger(machine=machine, model_type="energy_baseline",
                             training_start=START.to_pydatetime(),
                             training_end=(START + timedelta(days=120)).to_pydatetime())
    first.refresh_from_db()
    job = training_trigger(machine=machine, model_type="energy_baseline", model=first.new_model,
                           trigger_type="drift")
    job.refresh_from_db()
    return first, job


def test_retrain_after_step_is_promoted(step_machine):
    _, job = _retrain_after_step(step_machine)
    assert job.status == "completed" and job.outcome == "promoted"
    assert job.performance_improvement > 0.2
    assert job.new_metrics["rmse"] < job.previous_metrics["rmse"]
    statuses = dict(EnergyBaseline.objects.filter(machine=step_machine).values_list("version", "status"))
    assert statuses == {1: "retired", 2: "active"}


def test_second_trigger_while_open_is_conflict_with_job_id(stable_machine):
    with transaction.atomic():
        open_job = ModelTrainingHistory.objects.create(machine=stable_machine, model_type="energy_baseline",
                                                       status="pending", dispatched_at=START.to_pydatetime())
    with pytest.raises(Conflict) as excinfo:
        training_trigger(machine=stable_machine, model_type="energy_baseline")
    assert excinfo.value.fields["training_id"] == str(open_job.pk)
    assert ModelTrainingHistory.objects.count() == 1


def test_running_a_job_twice_never_makes_two_versions(stable_machine):
    job = _first_version(stable_machine)
    assert training_run(job_id=job.pk) is None  # redelivered message: the job is already completed
    assert EnergyBaseline.objects.filter(machine=stable_machine).count() == 1


def test_failure_marks_failed_and_raises_training_failed_alert(stable_machine):
    job = training_trigger(machine=stable_machine, model_type="energy_baseline",
                           training_start=START.to_pydatetime(),
                           training_end=(START + timedelta(hours=10)).to_pydatetime())
    job.refresh_from_db()
    assert job.status == "failed"
    assert "too little data" in job.error_message
    alert = ModelAlert.objects.get(alert_type="training_failed")
    assert alert.machine == stable_machine and str(job.pk) in alert.details["training_id"]
    assert EnergyBaseline.objects.count() == 0


def test_sweep_reaps_dead_running_job(stable_machine):
    old = START.to_pydatetime()
    job = ModelTrainingHistory.objects.create(machine=stable_machine, model_type="energy_baseline",
                                              status="running", heartbeat_at=old, started_at=old, attempts=2)
    result = training_sweep()
    job.refresh_from_db()
    assert result["failed"] == 1 and job.status == "failed" and "heartbeat" in job.error_message


def test_sweep_publishes_undispatched_pending_job(stable_machine):
    job = ModelTrainingHistory.objects.create(machine=stable_machine, model_type="energy_baseline",
                                              status="pending")
    assert job.dispatched_at is None
    result = training_sweep()
    job.refresh_from_db()
    assert result["published"] == 1
    assert job.status == "completed" and job.new_model is not None  # eager: it ran when published


def test_anomaly_detector_is_judged_by_precision_recall(db):
    from .conftest import load_machine

    machine = load_machine("Pump P2", days=90)
    _first_version(machine)
    job = training_trigger(machine=machine, model_type="anomaly_detector")
    job.refresh_from_db()
    detector = job.new_model
    assert job.status == "completed" and detector.status == "active"
    metrics = detector.training_metrics
    assert metrics["recall"] > 0.8 and metrics["precision"] > 0.8


def test_policy_ab_test_starts_a_test_instead_of_promoting(step_machine):
    from performance.models import ModelABTest

    step_machine.policy_overrides = {"promotion_mode": "ab_test"}
    step_machine.save()
    first, job = _retrain_after_step(step_machine)
    assert job.status == "completed" and job.outcome == "ab_test"
    test = ModelABTest.objects.get()
    assert test.status == "running" and test.auto_promote
    assert (test.model_a, test.model_b) == (first.new_model, job.new_model)
    # The candidate is not promoted by the retraining itself: the A/B test decides.
    assert EnergyBaseline.objects.get(pk=first.new_model.pk).status == "active"
    assert EnergyBaseline.objects.get(pk=job.new_model.pk).status == "candidate"

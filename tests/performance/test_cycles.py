"""Scheduled cycles fanned out in batches (eager here: the batches run inline, in order)."""

from datetime import timedelta

import pytest
from django.test import override_settings

from performance.models import CycleBatch, CycleRun, ModelPerformanceMetric, ModelTrainingHistory
from performance.services.cycles import cycle_batch_run, cycle_fanout, cycle_plan
from performance.services.evaluation import drift_batch, evaluation_batch
from performance.services.training import training_trigger
from performance.tasks import evaluation_cycle as evaluation_cycle_task

from .conftest import START, load_machine

pytestmark = pytest.mark.django_db(transaction=True)

NOW = (START + timedelta(days=90)).to_pydatetime()


@pytest.fixture
def fleet():
    """Three machines with 90 days of readings and an active version trained on the first 60."""
    versions = []
    for name in ("Compressor C2", "Compressor C1", "Chiller CH1"):
        machine = load_machine(name, days=90)
        job = training_trigger(machine=machine, model_type="energy_baseline",
                               training_start=START.to_pydatetime(),
                               training_end=(START + timedelta(days=60)).to_pydatetime())
        job.refresh_from_db()
        assert job.new_model is not None, job.error_message
        versions.append(job.new_model)
    return versions


@override_settings(ENMS_CYCLE_BATCH_SIZE=2)
def test_an_evaluation_cycle_runs_in_batches_and_records_its_summary(fleet):
    result = cycle_fanout(cycle="evaluation", now=NOW)
    assert result["batches"] == 2 and result["versions"] == 3
    run = CycleRun.objects.get()
    assert (run.cycle, run.batches_total, run.batches_done, run.batches_failed) == ("evaluation", 2, 2, 0)
    assert run.machines == 3 and run.failures == 0
    assert run.finished_at is not None and run.duration_seconds >= 0
    assert run.totals["stored"] == 3
    assert [len(b.model_ids) for b in run.batches.order_by("index")] == [2, 1]
    assert set(run.batches.values_list("status", flat=True)) == {"done"}
    rows = ModelPerformanceMetric.objects.filter(source="evaluation")
    assert rows.count() == 3 and set(rows.values_list("evaluated_at", flat=True)) == {NOW}


def test_a_redelivered_batch_writes_no_second_row(fleet):
    run = cycle_plan(cycle="evaluation", now=NOW, batch_size=200)
    batch = run.batches.get()
    assert cycle_batch_run(batch_id=batch.pk)["stored"] == 3
    # The batch is done: the message delivered again is a no-op.
    assert cycle_batch_run(batch_id=batch.pk) is None
    # Even run again from scratch (a worker killed after its insert, before the batch was
    # marked done), the same version, window and time are not stored twice, and raise nothing.
    again = evaluation_batch(model_ids=batch.model_ids, now=NOW)
    assert again["stored"] == 0 and again["alerts"] == 0
    assert ModelPerformanceMetric.objects.filter(source="evaluation").count() == 3
    assert drift_batch(model_ids=batch.model_ids, now=NOW)["checked"] == 3
    assert drift_batch(model_ids=batch.model_ids, now=NOW) == {
        "checked": 0, "drifted": 0, "refused": 0, "failures": 0, "skipped": 3}
    assert ModelPerformanceMetric.objects.filter(source="drift_check").count() == 3


def test_the_beat_tasks_fan_out_every_cycle(fleet):
    assert evaluation_cycle_task.delay().get()["batches"] == 1
    cycle_fanout(cycle="drift", now=NOW)
    cycle_fanout(cycle="retrain", now=NOW)
    runs = {r.cycle: r for r in CycleRun.objects.all()}
    assert set(runs) == {"evaluation", "drift", "retrain"}
    assert all(r.batches_done == r.batches_total == 1 and r.finished_at for r in runs.values())
    assert runs["drift"].totals["checked"] == 3
    assert runs["retrain"].totals["queued"] == 3
    assert ModelTrainingHistory.objects.filter(trigger_type="scheduled").count() == 3


def test_an_empty_fleet_finishes_at_once_and_an_unknown_cycle_is_refused(db):
    run = cycle_plan(cycle="evaluation", now=NOW)
    assert run.batches_total == 0 and run.finished_at is not None
    assert not CycleBatch.objects.exists()
    with pytest.raises(ValueError, match="No cycle named"):
        cycle_plan(cycle="nope")


def test_a_batch_that_raises_is_counted_failed(fleet, monkeypatch):
    from performance.services import cycles

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setitem(cycles.CYCLES, "evaluation",
                        cycles.Cycle(name="evaluation", versions=cycles.CYCLES["evaluation"].versions, batch=broken))
    cycle_fanout(cycle="evaluation", now=NOW)
    run = CycleRun.objects.get()
    assert (run.batches_done, run.batches_failed, run.failures) == (0, 1, 3)
    assert run.finished_at is not None
    assert "boom" in run.batches.get().error


@pytest.mark.parametrize("task, queue", [
    ("performance.training_run", "training"),
    ("performance.evaluation_batch", "cycles"),
    ("performance.retrain_batch", "cycles"),
    ("performance.evaluation_cycle", "cycles"),
    ("performance.alert_notify", "notifications"),
    ("performance.notifications_sweep", "notifications"),
    ("performance.training_sweep", "celery"),
])
def test_each_kind_of_work_has_its_queue(task, queue):
    from enms.celery import app

    assert app.amqp.router.route({}, task)["queue"].name == queue

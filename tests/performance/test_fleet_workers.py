"""A fanned-out cycle on real Celery worker subprocesses (PostgreSQL + Redis).

The batches of one evaluation cycle are shared by two workers; a worker SIGKILLed in the middle
of a batch (held at the commit of its insert by a row lock this test owns) loses no machine: its
unacknowledged message comes back from Redis after the visibility timeout, another worker runs
the batch again, and every version has exactly one metrics row.
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import psycopg
import pytest
from django.db.models import Count

from enms.celery import app as celery_app
from performance.models import CycleRun, ModelPerformanceMetric
from performance.services.cycles import cycle_fanout
from performance.services.training import training_trigger

from .conftest import START, load_machine
from .worker_helpers import (
    Worker,
    backend_alive,
    libpq_dsn,
    redis_client,
    terminate_backend,
    wait_for,
    worker_env,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

NOW = (START + timedelta(days=90)).to_pydatetime()
MACHINES = ("Compressor C1", "Compressor C2", "Compressor C3", "Pump P1", "Chiller CH1", "Boiler B1")
VISIBILITY_S = 4


@pytest.fixture
def broker():
    """REDIS_URL's db, emptied; this process publishes to it instead of running tasks eagerly.
    (Only workers are ever stopped here, never the Redis server.)"""
    url = os.environ["REDIS_URL"]
    redis_client(url).flushdb()
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield url
    finally:
        celery_app.conf.task_always_eager = was_eager
        redis_client(url).flushdb()


@pytest.fixture
def workers(broker, tmp_path):
    started: list[Worker] = []

    def start(name: str) -> Worker:
        env = worker_env(redis_url=broker, CELERY_VISIBILITY_TIMEOUT=VISIBILITY_S)
        worker = Worker(name=name, log_dir=tmp_path, env=env)
        started.append(worker)
        return worker.start()

    yield start
    for worker in reversed(started):
        worker.stop()


@pytest.fixture
def fleet(db):
    versions = []
    for name in MACHINES:
        machine = load_machine(name, days=90)
        job = training_trigger(machine=machine, model_type="energy_baseline", training_start=START.to_pydatetime(),
                               training_end=(START + timedelta(days=60)).to_pydatetime())
        job.refresh_from_db()
        assert job.new_model is not None, job.error_message
        versions.append(job.new_model)
    return versions


def _batches_done(worker: Worker) -> list[str]:
    return re.findall(r"Task performance\.evaluation_batch\[([0-9a-f-]+)\] succeeded", worker.log())


def _run() -> CycleRun:
    return CycleRun.objects.get()


def _one_row_per_version(fleet) -> None:
    rows = ModelPerformanceMetric.objects.filter(source="evaluation", evaluated_at=NOW)
    counts = dict(rows.values("model_id").annotate(n=Count("id")).values_list("model_id", "n"))
    assert counts == {v.pk: 1 for v in fleet}


def test_the_batches_of_a_cycle_are_shared_by_two_workers(fleet, workers):
    first, second = workers("first"), workers("second")
    assert cycle_fanout(cycle="evaluation", now=NOW, batch_size=1)["batches"] == len(MACHINES)
    wait_for(lambda: _run().finished_at is not None, 90,
             message=f"the cycle to finish\n{first.tail()}\n{second.tail()}")
    run = _run()
    assert (run.batches_done, run.batches_failed, run.failures, run.machines) == (len(MACHINES), 0, 0, len(MACHINES))
    assert _batches_done(first) and _batches_done(second)
    assert len(_batches_done(first)) + len(_batches_done(second)) == len(MACHINES)
    assert {w.split("@")[0] for w in run.batches.values_list("worker", flat=True)} == {"first", "second"}
    _one_row_per_version(fleet)


def _waiting_on_lock(dsn: str) -> list[int]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND wait_event_type = 'Lock'").fetchall()]


def test_a_worker_killed_mid_batch_loses_no_machine_and_duplicates_no_row(fleet, workers):
    dsn = libpq_dsn()
    first, second = workers("first"), workers("second")
    by_name = {"first": first, "second": second}
    held = [str(v.pk) for v in sorted(fleet, key=lambda v: (str(v.machine_id), v.model_type))[:2]]
    lock = psycopg.connect(dsn, autocommit=False)
    try:
        # The first batch's versions are locked FOR UPDATE: the worker that takes it stops at the
        # commit of its insert (the deferred foreign-key check), inside the batch's transaction.
        lock.execute("SELECT id FROM energy_baselines WHERE id = ANY(%s::uuid[]) FOR UPDATE", [held])
        result = cycle_fanout(cycle="evaluation", now=NOW, batch_size=2)
        assert result["batches"] == 3
        run = _run()
        batch = run.batches.get(index=0)
        assert sorted(batch.model_ids) == sorted(held)
        [orphan] = wait_for(lambda: _waiting_on_lock(dsn), 60, message="a worker to block in the first batch")
        batch.refresh_from_db()
        victim = by_name[batch.worker.split("@")[0]]
        survivor = second if victim is first else first
        # The other worker takes the other batches meanwhile.
        wait_for(lambda: _run().batches_done == 2, 60, message=f"the other batches\n{survivor.tail()}")
        victim.kill()
        killed_at = time.monotonic()
    finally:
        lock.rollback()
        lock.close()
    # The killed worker's backend was waiting on the lock at its COMMIT: once the lock is granted
    # the commit goes through and the backend exits (terminated here if it has not yet). Its rows
    # are stored, its batch is not marked done, its message is not acknowledged: the case a
    # redelivery must not store twice.
    try:
        wait_for(lambda: not backend_alive(dsn, orphan), 5, message="the orphaned backend to exit")
    except AssertionError:
        terminate_backend(dsn, orphan)
    run = _run()
    assert run.finished_at is None and run.batches_done == 2
    assert ModelPerformanceMetric.objects.filter(source="evaluation", model_id__in=held).count() in (0, len(held))

    # After the visibility timeout Redis gives the unacknowledged batch to a worker again.
    time.sleep(max(0.0, killed_at + VISIBILITY_S + 0.5 - time.monotonic()))
    rescuer = workers("rescuer")
    wait_for(lambda: _run().finished_at is not None, 120,
             message=f"the batch to be redelivered\n{survivor.tail()}\n{rescuer.tail()}")
    run = _run()
    assert (run.batches_total, run.batches_done, run.batches_failed, run.failures) == (3, 3, 0, 0)
    assert run.totals["stored"] <= len(MACHINES)
    batch.refresh_from_db()
    assert batch.status == "done" and batch.attempts == 2
    assert batch.worker.split("@")[0] in ("rescuer", "first" if victim is second else "second")
    _one_row_per_version(fleet)

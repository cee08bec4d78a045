"""Fault tests for training jobs with a real Redis broker and real Celery workers.

The workers are `celery -A enms worker` subprocesses on the test database (pytest-django's
`test_<name>`), so every row a test commits is visible to them. Publishing from this process goes
to Redis too (the Celery app is switched out of eager mode for these tests).

To stop a worker at a known point of a training run, the test holds the machine row
(FOR NO KEY UPDATE) on a separate connection: `baseline_train` locks that row FOR UPDATE right
before it numbers and stores the new version, inside `_train_once`'s transaction, with the job
`running`. Releasing the row lets the training finish.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from baselines.models import EnergyBaseline
from baselines.services import baseline_activate, baseline_train
from enms.celery import app as celery_app
from enms.tokens import api_token_create
from performance.models import ModelAlert, ModelPerformanceMetric, ModelTrainingHistory
from performance.services.training import training_sweep, training_trigger

from .conftest import load_machine
from .worker_helpers import (
    Worker,
    backend_alive,
    backends_waiting_on_lock,
    libpq_dsn,
    machine_row_held,
    queue_length,
    redis_client,
    redis_start,
    redis_stop,
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

API = "/api/v1/model-performance"
TRIGGER_URL = f"{API}/retrain/trigger"
METRIC_URL = f"{API}/metrics/record"


# --- fixtures --------------------------------------------------------------------------------------

@pytest.fixture
def broker():
    """A running, empty Redis db (REDIS_URL's); this process publishes to it instead of running
    tasks eagerly. Redis is always running again after the test, whatever happened."""
    url = os.environ["REDIS_URL"]
    redis_start(url)
    redis_client(url).flushdb()
    was_eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield url
    finally:
        celery_app.conf.task_always_eager = was_eager
        redis_start(url)
        redis_client(url).flushdb()


@pytest.fixture
def start_worker(broker, tmp_path):
    """Start a worker (`start_worker(name, **env)`); every worker started is stopped at teardown."""
    started: list[Worker] = []

    def start(name: str, *, pool: str = "prefork", **env) -> Worker:
        worker = Worker(name=name, log_dir=tmp_path, env=worker_env(redis_url=broker, **env), pool=pool)
        started.append(worker)
        return worker.start()

    yield start
    for worker in reversed(started):
        worker.stop()


@pytest.fixture
def trained_machine(db):
    """Compressor C2 with 90 days of readings and an active version 1."""
    machine = load_machine("Compressor C2", days=90)
    version = baseline_activate(baseline=baseline_train(machine=machine, notes="fixture version 1"))
    return machine, version


@pytest.fixture
def token_client(django_user_model):
    user = django_user_model.objects.create_superuser(username="fault-root", password="pw-root-123", email="")
    token = api_token_create(user=user)[1]

    def make() -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return make


def _versions(machine) -> int:
    return EnergyBaseline.objects.filter(machine=machine, model_type="energy_baseline").count()


def _job(job_id) -> ModelTrainingHistory:
    return ModelTrainingHistory.objects.get(pk=job_id)


def _status(job_id) -> str:
    return ModelTrainingHistory.objects.values_list("status", flat=True).get(pk=job_id)


def _kill_at_version_insert(worker: Worker, dsn: str) -> tuple[int, float]:
    """With the machine row held: wait until `worker` blocks at the version insert (its job is
    `running`, its training transaction open), SIGKILL its process group. Returns the blocked
    PostgreSQL session's pid and the kill time."""
    [pid] = wait_for(lambda: backends_waiting_on_lock(dsn), 60,
                     message=f"worker {worker.name} to reach the version insert\n{worker.tail()}")
    worker.kill()
    return pid, time.monotonic()


def _session_ended(dsn: str, pid: int) -> None:
    """The killed worker's session rolls back once it finds its client gone (after the machine row
    is released); end it if PostgreSQL has not noticed yet."""
    try:
        wait_for(lambda: not backend_alive(dsn, pid), 5, message="the killed worker's session to end")
    except AssertionError:
        terminate_backend(dsn, pid)
        wait_for(lambda: not backend_alive(dsn, pid), 5, message="the killed worker's session to end")


def _sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


# A worker restores unacknowledged messages older than its visibility timeout when it starts
# (kombu's later restore sweeps are about 100 s apart), so a rescuer starts once that timeout has
# passed since the lost delivery.
VISIBILITY_S = 5
HEARTBEAT_S = 3
SHORT = {"CELERY_VISIBILITY_TIMEOUT": VISIBILITY_S, "ENMS_TRAINING_HEARTBEAT_TIMEOUT_S": HEARTBEAT_S}


# --- 1. concurrent triggers --------------------------------------------------------------------------

def test_twenty_concurrent_triggers_make_one_job_and_one_version(trained_machine, token_client, start_worker):
    machine, v1 = trained_machine
    worker = start_worker("concurrent")
    dsn = libpq_dsn()
    n = 20
    barrier = threading.Barrier(n)
    results: list[tuple[int, dict] | BaseException | None] = [None] * n

    def post(i: int) -> None:
        try:
            client = token_client()
            barrier.wait(timeout=30)
            response = client.post(TRIGGER_URL, {"model_id": str(v1.pk)}, format="json")
            results[i] = (response.status_code, response.json())
        except BaseException as exc:  # reported by the main thread
            results[i] = exc
        finally:
            connections.close_all()  # each thread had its own connection

    # The worker may take the job at once, but cannot finish it while the machine row is held,
    # so every one of the twenty requests meets the open job.
    with machine_row_held(machine.pk):
        threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        elapsed = time.monotonic() - started
        assert not any(t.is_alive() for t in threads)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        codes = sorted(code for code, _ in results)
        assert codes == [202] + [409] * (n - 1), codes
        accepted = next(body for code, body in results if code == 202)
        job_id = accepted["training_id"]
        assert accepted["status"] == "pending"
        conflict_ids = {body.get("training_id") for code, body in results if code == 409}
        assert conflict_ids == {job_id}
        assert elapsed < 30
        assert ModelTrainingHistory.objects.filter(machine=machine).count() == 1
        # The real worker picked the job up and is inside the training transaction.
        wait_for(lambda: backends_waiting_on_lock(dsn), 60, message="the worker to reach the version insert")
        assert _status(job_id) == "running"

    wait_for(lambda: _status(job_id) in ("completed", "failed"), 90, message=f"job to end\n{worker.tail()}")
    job = _job(job_id)
    assert job.status == "completed", job.error_message
    assert job.attempts == 1 and job.dispatched_at is not None
    assert _versions(machine) == 2
    assert job.new_model is not None and job.new_model.version == 2 and job.new_model.parent_id == v1.pk
    assert len(worker.received()) == 1
    assert ModelTrainingHistory.objects.filter(machine=machine).count() == 1


# --- 2. worker SIGKILLed mid-training ----------------------------------------------------------------

def test_worker_killed_mid_training_is_recovered_once(trained_machine, start_worker, broker):
    machine, v1 = trained_machine
    dsn = libpq_dsn()
    r = redis_client(broker)
    victim = start_worker("victim")

    with machine_row_held(machine.pk):
        job = training_trigger(machine=machine, model_type="energy_baseline", model=v1, reason="fault test")
        orphan, killed_at = _kill_at_version_insert(victim, dsn)
        job.refresh_from_db()
        assert job.status == "running" and job.attempts == 1 and job.new_model_id is None
        [original_task] = victim.received()
    _session_ended(dsn, orphan)

    # Nothing of the interrupted run was committed, and the message was never acknowledged.
    job.refresh_from_db()
    assert job.status == "running" and job.new_model_id is None
    assert _versions(machine) == 1
    assert r.hlen("unacked") == 1 and queue_length(broker) == 0

    # The beat reaper: the heartbeat is stale and attempts are left, so the job is requeued once.
    with override_settings(ENMS_TRAINING_HEARTBEAT_TIMEOUT_S=HEARTBEAT_S):
        wait_for(lambda: _job(job.pk).heartbeat_at < timezone.now() - timedelta(seconds=HEARTBEAT_S + 0.5), 10,
                 message="the heartbeat to go stale")
        assert training_sweep() == {"published": 0, "requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert job.status == "pending" and job.dispatched_at is not None
    assert queue_length(broker) == 1

    # The new worker gets both the reaper's message and the original one back from Redis:
    # two deliveries, one training, one new version.
    _sleep_until(killed_at + VISIBILITY_S + 0.5)
    rescuer = start_worker("rescuer", **SHORT)
    wait_for(lambda: _status(job.pk) in ("completed", "failed"), 90, message=f"job to end\n{rescuer.tail()}")
    wait_for(lambda: len(rescuer.finished()) >= 2, 30,
             message=f"both deliveries to be handled\n{rescuer.tail()}")

    job.refresh_from_db()
    assert job.status == "completed", job.error_message
    assert job.attempts == 2
    assert original_task in rescuer.received()
    assert len(rescuer.received()) == 2
    assert _versions(machine) == 2
    assert EnergyBaseline.objects.filter(notes__contains=str(job.pk)).count() == 1
    assert job.new_model.version == 2
    assert ModelTrainingHistory.objects.filter(machine=machine).count() == 1
    wait_for(lambda: r.hlen("unacked") == 0 and queue_length(broker) == 0, 10, message="every message acked")
    with override_settings(ENMS_TRAINING_HEARTBEAT_TIMEOUT_S=HEARTBEAT_S):
        assert training_sweep() == {"published": 0, "requeued": 0, "failed": 0}
    assert _versions(machine) == 2


def test_worker_killed_on_every_attempt_is_failed_by_the_reaper(trained_machine, start_worker, broker):
    machine, v1 = trained_machine
    dsn = libpq_dsn()
    first = start_worker("victim-1")

    with machine_row_held(machine.pk):
        job = training_trigger(machine=machine, model_type="energy_baseline", model=v1, reason="fault test")
        orphan, killed_at = _kill_at_version_insert(first, dsn)
    _session_ended(dsn, orphan)
    [task] = first.received()

    # Redelivery: the second worker takes the job over (stale heartbeat) and is killed as well.
    _sleep_until(killed_at + VISIBILITY_S + 0.5)
    with machine_row_held(machine.pk):
        second = start_worker("victim-2", **SHORT)
        orphan, killed_at = _kill_at_version_insert(second, dsn)
    _session_ended(dsn, orphan)
    assert second.received() == [task]
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 2 and job.new_model_id is None

    # Attempts are used up: the reaper fails the job and raises a training_failed alert.
    with override_settings(ENMS_TRAINING_HEARTBEAT_TIMEOUT_S=HEARTBEAT_S):
        wait_for(lambda: _job(job.pk).heartbeat_at < timezone.now() - timedelta(seconds=HEARTBEAT_S + 0.5), 10,
                 message="the heartbeat to go stale")
        assert training_sweep() == {"published": 0, "requeued": 0, "failed": 1}
    job.refresh_from_db()
    assert job.status == "failed" and "heartbeat" in job.error_message
    alert = ModelAlert.objects.get(machine=machine, alert_type="training_failed")
    assert alert.details["training_id"] == str(job.pk)

    # The message comes back once more; the failed job is left alone and no version appears.
    _sleep_until(killed_at + VISIBILITY_S + 0.5)
    late = start_worker("late", **SHORT)
    wait_for(lambda: task in late.finished(), 30, message=f"the last delivery to be handled\n{late.tail()}")
    job.refresh_from_db()
    assert job.status == "failed" and job.attempts == 2 and job.new_model_id is None
    assert _versions(machine) == 1
    [only] = EnergyBaseline.objects.filter(machine=machine)
    assert only.pk == v1.pk and only.status == "active"


# --- 3. Redis down while recording a metric and triggering a retrain ---------------------------------

def test_redis_down_metric_and_trigger_succeed_and_sweep_publishes_later(trained_machine, token_client,
                                                                         start_worker, broker):
    machine, v1 = trained_machine
    client = token_client()
    worker = start_worker("through-outage")
    redis_stop(broker)
    try:
        started = time.monotonic()
        metric = client.post(METRIC_URL, {"model_id": str(v1.pk), "sample_count": 168, "rmse": 1.5,
                                          "cv_rmse": 0.12, "nmbe": 0.01}, format="json")
        metric_s = time.monotonic() - started
        started = time.monotonic()
        trigger = client.post(TRIGGER_URL, {"model_id": str(v1.pk)}, format="json")
        trigger_s = time.monotonic() - started
        assert metric.status_code == 201, metric.content
        assert trigger.status_code == 202, trigger.content
        assert metric_s < 5 and trigger_s < 5, (metric_s, trigger_s)
        assert ModelPerformanceMetric.objects.filter(pk=metric.json()["id"], model=v1).exists()
        job_id = trigger.json()["training_id"]
        job = _job(job_id)
        assert job.status == "pending" and job.dispatched_at is None and job.attempts == 0

        # The sweep cannot publish either; it gives up quickly and leaves the job as it is.
        started = time.monotonic()
        assert training_sweep() == {"published": 0, "requeued": 0, "failed": 0}
        assert time.monotonic() - started < 5
        job.refresh_from_db()
        assert job.status == "pending" and job.dispatched_at is None
    finally:
        redis_start(broker)

    # The worker that was running reconnects by itself; nothing reached the queue meanwhile.
    assert queue_length(broker) == 0
    assert training_sweep() == {"published": 1, "requeued": 0, "failed": 0}
    assert _job(job_id).dispatched_at is not None
    wait_for(lambda: _status(job_id) in ("completed", "failed"), 90, message=f"job to end\n{worker.tail()}")
    job = _job(job_id)
    assert job.status == "completed", job.error_message
    assert job.attempts == 1
    assert _versions(machine) == 2
    assert len(worker.received()) == 1
    # A later sweep finds nothing to do: the job ran exactly once.
    assert training_sweep() == {"published": 0, "requeued": 0, "failed": 0}
    assert _versions(machine) == 2 and len(worker.received()) == 1

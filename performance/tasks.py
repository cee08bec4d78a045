"""Thin Celery tasks: take ids, call one service, own their retries."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

RETRY = {"autoretry_for": (OperationalError, InterfaceError), "retry_backoff": 2, "retry_backoff_max": 120,
         "max_retries": 5, "acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="performance.training_run", **RETRY)
def training_run(job_id: str) -> str | None:
    from .services.training import training_run as run

    job = run(job_id=job_id)
    return None if job is None else job.status


@shared_task(name="performance.training_sweep", **RETRY)
def training_sweep() -> dict:
    from .services.training import training_sweep as sweep

    return sweep()


@shared_task(name="performance.alert_notify", bind=True, acks_late=True, max_retries=6)
def alert_notify(self, alert_id: str) -> bool:
    from .services.notifications import NotificationError
    from .services.notifications import alert_notify as notify

    try:
        return notify(alert_id=alert_id)
    except NotificationError as exc:
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc


def _fanout(cycle: str) -> dict:
    from .services.cycles import cycle_fanout

    return cycle_fanout(cycle=cycle)


@shared_task(name="performance.evaluation_cycle", **RETRY)
def evaluation_cycle() -> dict:
    return _fanout("evaluation")


@shared_task(name="performance.drift_cycle", **RETRY)
def drift_cycle() -> dict:
    return _fanout("drift")


@shared_task(name="performance.scheduled_retrain_all", **RETRY)
def scheduled_retrain_all() -> dict:
    return _fanout("retrain")


def cycle_batch_task(cycle: str):
    """The task `performance.<cycle>_batch`: run one batch of a fanned-out cycle.

    Acknowledged late and given back when its worker dies, so a killed worker's batch is run
    again by another (the batch is idempotent); a database outage is retried, anything else
    marks the batch failed in the run's summary.
    """

    @shared_task(name=f"performance.{cycle}_batch", bind=True, acks_late=True, reject_on_worker_lost=True,
                 max_retries=5)
    def run(self, batch_id: int) -> dict | None:
        from .services.cycles import cycle_batch_fail, cycle_batch_run

        try:
            return cycle_batch_run(batch_id=batch_id, worker=self.request.hostname or "")
        except (OperationalError, InterfaceError) as exc:
            if self.request.retries < self.max_retries:
                raise self.retry(exc=exc, countdown=min(120, 2 * 2 ** self.request.retries)) from exc
            cycle_batch_fail(batch_id=batch_id, error=repr(exc))
            raise
        except Exception as exc:
            cycle_batch_fail(batch_id=batch_id, error=repr(exc))
            raise

    return run


evaluation_batch = cycle_batch_task("evaluation")
drift_batch = cycle_batch_task("drift")
retrain_batch = cycle_batch_task("retrain")


@shared_task(name="performance.abtests_complete_due", **RETRY)
def abtests_complete_due() -> int:
    from .services.abtests import abtests_complete_due as complete

    return complete()


@shared_task(name="performance.notifications_sweep", **RETRY)
def notifications_sweep() -> int:
    from .services.notifications import notifications_sweep as sweep

    return sweep()


@shared_task(name="performance.forecast_cycle", **RETRY)
def forecast_cycle() -> dict:
    return _fanout("forecast")


forecast_batch = cycle_batch_task("forecast")
@shared_task(name="performance.registry_sync", bind=True, acks_late=True, max_retries=8)
def registry_sync(self) -> dict:
    """Drain the registry outbox; while MLflow fails, retried with backoff (the beat sweep also
    drains, so nothing is lost when the retries run out)."""
    from .services.registry import backoff_seconds, registry_drain

    result = registry_drain()
    if result["failed"] and not self.request.is_eager:
        raise self.retry(countdown=backoff_seconds(self.request.retries + 1))
    return result


@shared_task(name="performance.registry_sweep", **RETRY)
def registry_sweep() -> dict:
    from .services.registry import registry_sweep as sweep

    return sweep()

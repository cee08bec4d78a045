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


@shared_task(name="performance.evaluation_cycle", **RETRY)
def evaluation_cycle() -> dict:
    from .services.evaluation import evaluation_cycle as cycle

    return cycle()


@shared_task(name="performance.drift_cycle", **RETRY)
def drift_cycle() -> dict:
    from .services.evaluation import drift_cycle as cycle

    return cycle()


@shared_task(name="performance.scheduled_retrain_all", **RETRY)
def scheduled_retrain_all() -> dict:
    from .services.evaluation import scheduled_retrain_all as retrain

    return retrain()


@shared_task(name="performance.abtests_complete_due", **RETRY)
def abtests_complete_due() -> int:
    from .services.abtests import abtests_complete_due as complete

    return complete()


@shared_task(name="performance.notifications_sweep", **RETRY)
def notifications_sweep() -> int:
    from .services.notifications import notifications_sweep as sweep

    return sweep()


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

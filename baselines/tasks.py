"""Thin Celery tasks of the readings: take ids, call one service."""

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(name="baselines.readings_maintain", autoretry_for=(OperationalError, InterfaceError), retry_backoff=2,
             max_retries=5, acks_late=True, reject_on_worker_lost=True)
def readings_maintain() -> dict:
    from .partitions import readings_maintain as maintain

    return maintain()

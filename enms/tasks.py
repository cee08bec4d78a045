"""The beat's own heartbeat: a tick every minute, so `/healthz` can tell a stopped beat."""

from celery import shared_task

from .health import beat_tick_record


@shared_task(name="enms.beat_tick", ignore_result=True)
def beat_tick() -> None:
    beat_tick_record()

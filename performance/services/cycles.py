"""Scheduled cycles fanned out in batches: one task per batch of active versions, any worker takes it.

A cycle registers two things: which versions it covers (`versions`, a queryset of active
versions in batch order) and the per-batch service (`batch(model_ids=..., now=...)` returning
counts, "failures" among them). `cycle_fanout` records a `CycleRun` with one `CycleBatch` row per
`ENMS_CYCLE_BATCH_SIZE` versions and queues `performance.<cycle>_batch` once per batch;
`cycle_batch_run` runs one batch and advances the run's summary. Batches are idempotent: a
finished batch is not run again, and a batch redelivered after a crash evaluates as of the same
cycle time, so the metrics unique constraint keeps it from writing a row twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from ..models import CycleBatch, CycleBatchStatus, CycleRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cycle:
    name: str
    versions: Callable[[], QuerySet]
    batch: Callable[..., dict]


CYCLES: dict[str, Cycle] = {}


def cycle_register(*, name: str, versions: Callable[[], QuerySet], batch: Callable[..., dict]) -> Cycle:
    """Make `name` a fanned-out cycle; its batches run as `performance.<name>_batch`."""
    cycle = Cycle(name=name, versions=versions, batch=batch)
    CYCLES[name] = cycle
    return cycle


def cycle_get(name: str) -> Cycle:
    try:
        return CYCLES[name]
    except KeyError:
        raise ValueError(f"No cycle named {name!r} (known: {', '.join(sorted(CYCLES))}).") from None


def cycle_batch_size() -> int:
    return max(1, int(getattr(settings, "ENMS_CYCLE_BATCH_SIZE", 200)))


def cycle_plan(*, cycle: str, now: datetime | None = None, batch_size: int | None = None) -> CycleRun:
    """Record a run of `cycle` and its batches (nothing is queued yet)."""
    spec = cycle_get(cycle)
    size = batch_size or cycle_batch_size()
    rows = list(spec.versions().values_list("pk", "machine_id"))
    with transaction.atomic():
        run = CycleRun.objects.create(cycle=cycle, now=now or timezone.now(), batch_size=size, versions=len(rows),
                                      machines=len({m for _, m in rows}),
                                      batches_total=(len(rows) + size - 1) // size)
        CycleBatch.objects.bulk_create([
            CycleBatch(run=run, index=i, model_ids=[str(pk) for pk, _ in rows[start:start + size]],
                       machines=len({m for _, m in rows[start:start + size]}))
            for i, start in enumerate(range(0, len(rows), size))
        ], batch_size=500)
        if not rows:
            run.finished_at = timezone.now()
            run.duration_seconds = (run.finished_at - run.started_at).total_seconds()
            run.save(update_fields=["finished_at", "duration_seconds"])
    return run


def cycle_fanout(*, cycle: str, now: datetime | None = None, batch_size: int | None = None) -> dict:
    """Plan a run of `cycle` and queue one `performance.<cycle>_batch` task per batch.

    With eager tasks (no broker) the batches run here, one after another.
    """
    from enms.celery import app

    from .. import tasks  # noqa: F401 - the batch tasks, registered with the app

    run = cycle_plan(cycle=cycle, now=now, batch_size=batch_size)
    task = app.tasks[f"performance.{cycle}_batch"]
    for batch_id in run.batches.order_by("index").values_list("pk", flat=True):
        task.delay(batch_id)
    return {"run_id": str(run.pk), "batches": run.batches_total, "versions": run.versions}


def cycle_batch_run(*, batch_id: int, worker: str = "") -> dict | None:
    """Run one batch (None: it is finished already, or gone) and advance its run's summary."""
    batch = CycleBatch.objects.select_related("run").filter(pk=batch_id).first()
    if batch is None or batch.status != CycleBatchStatus.PENDING:
        return None
    CycleBatch.objects.filter(pk=batch_id).update(attempts=F("attempts") + 1, worker=worker[:200])
    spec = cycle_get(batch.run.cycle)
    result = spec.batch(model_ids=batch.model_ids, now=batch.run.now)
    _batch_finish(batch=batch, status=CycleBatchStatus.DONE, result=result)
    return result


def cycle_batch_fail(*, batch_id: int, error: str) -> bool:
    """Mark a batch failed for good (its retries are spent); False if it had finished already."""
    batch = CycleBatch.objects.select_related("run").filter(pk=batch_id).first()
    if batch is None:
        return False
    logger.error("cycle %s batch %s failed: %s", batch.run.cycle, batch.index, error[:500])
    return _batch_finish(batch=batch, status=CycleBatchStatus.FAILED, result={}, error=error)


def _batch_finish(*, batch: CycleBatch, status: str, result: dict, error: str = "") -> bool:
    done = status == CycleBatchStatus.DONE
    with transaction.atomic():
        finished = timezone.now()
        # Only the first finish of a batch counts (a redelivery that raced it changes nothing).
        if not CycleBatch.objects.filter(pk=batch.pk, status=CycleBatchStatus.PENDING).update(
                status=status, result=result, error=error[:5000], finished_at=finished):
            return False
        run = CycleRun.objects.select_for_update().get(pk=batch.run_id)
        totals = dict(run.totals)
        for key, value in result.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
        run.totals = totals
        run.batches_done += int(done)
        run.batches_failed += int(not done)
        run.failures += int(result.get("failures", 0)) if done else len(batch.model_ids)
        if run.batches_done + run.batches_failed >= run.batches_total:
            run.finished_at = finished
            run.duration_seconds = (finished - run.started_at).total_seconds()
        run.save(update_fields=["totals", "batches_done", "batches_failed", "failures", "finished_at",
                                "duration_seconds"])
    return True

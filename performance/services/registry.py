"""Keeping MLflow's model registry in step with our versions: outbox rows written with each change,
drained after the commit by a Celery task and by the beat sweep.

Draining reconciles rather than replays: for a machine and model type it makes sure each version
named by a pending row has its run (parameters, metrics, artifacts) and its registered version
(both found by the `enms.version_id` tag before anything is created), that the `champion` alias
names the active version and `challenger` the candidate of a running A/B test, and that every
synced version's `enms.status` tag is current. Sending a row twice therefore creates nothing twice.
Without `MLFLOW_TRACKING_URI` no row is written and nothing is sent.
"""

from __future__ import annotations

import logging
import pathlib
import tempfile
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from baselines.models import BaselineStatus, EnergyBaseline

from ..models import ABTestStatus, ModelABTest, ModelPerformanceMetric
from ..registry.client import (
    SOURCE_TAG,
    STATUS_TAG,
    VERSION_ID_TAG,
    VERSION_TAG,
    Registry,
    RegistryError,
    registered_model_name,
    registry_configured,
)
from ..registry.content import evaluation_points, model_card, version_metrics, version_params
from ..registry.models import RegistryAliases, RegistryEvent, RegistryLink, RegistryOutbox

logger = logging.getLogger(__name__)

#: A claimed row or leased version is taken over by another drain after this long.
CLAIM_FOR = timedelta(minutes=5)
#: Backoff of a row that failed: 30 s, 1, 2, 4 ... minutes, at most an hour.
BACKOFF_START_S = 30
BACKOFF_MAX_S = 3600
#: Evaluation rows added to a run per sync (the rest follow in the next one).
METRICS_BATCH = 5000


def backoff_seconds(attempts: int) -> int:
    """Seconds to wait before the next attempt after `attempts` failures."""
    return int(min(BACKOFF_MAX_S, BACKOFF_START_S * 2 ** max(0, attempts - 1)))


# --- writing the outbox -------------------------------------------------------------------------

def registry_record(*, machine_id: Any, model_type: str, event: str, model: EnergyBaseline | None = None
                    ) -> RegistryOutbox | None:
    """Write an outbox row for a change (in the caller's transaction) and queue its sync once that
    commits. Does nothing at all when `MLFLOW_TRACKING_URI` is not set."""
    if not registry_configured():
        return None
    row = RegistryOutbox.objects.create(machine_id=machine_id, model_type=model_type, event=event,
                                        model=model)
    transaction.on_commit(registry_dispatch)
    return row


def registry_record_baseline_change(*, baseline: EnergyBaseline, event: str) -> None:
    """The baselines layer's hook (`ENMS_BASELINE_CHANGE_HOOK`): a version was trained or activated."""
    registry_record(machine_id=baseline.machine_id, model_type=baseline.model_type, event=event, model=baseline)


def registry_record_abtest(*, test: ModelABTest, event: str) -> None:
    """An A/B test started, completed, stopped or was cancelled: the `challenger` alias follows."""
    if test.is_backtest and event == RegistryEvent.AB_STARTED:
        return
    registry_record(machine_id=test.machine_id, model_type=test.model_type, event=event, model=test.model_b)


def registry_request_sync(*, baselines) -> int:
    """Staff asked to sync these versions now ("sync now" in the admin)."""
    if not registry_configured():
        return 0
    with transaction.atomic():
        rows = [registry_record(machine_id=b.machine_id, model_type=b.model_type, model=b,
                                event=RegistryEvent.SYNC_REQUESTED) for b in baselines]
    return len(rows)


def registry_dispatch() -> bool:
    """Queue a drain; if the broker is down the beat sweep drains the rows later."""
    from ..tasks import registry_sync

    try:
        registry_sync.apply_async(retry=False)
    except Exception as exc:
        logger.warning("registry sync not queued (%s); the sweep will send the pending rows", exc)
        return False
    return True


# --- syncing one version ------------------------------------------------------------------------

def _lease(link: RegistryLink, now: datetime) -> bool:
    return bool(RegistryLink.objects.filter(pk=link.pk).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)).update(lease_until=now + CLAIM_FOR))


def _write_artifacts(baseline: EnergyBaseline, folder: pathlib.Path, *, machine_name: str, source_uri: str) -> None:
    data, signature = EnergyBaseline.objects.values_list("artifact", "artifact_signature").get(pk=baseline.pk)
    if data is not None:
        (folder / "model.skops").write_bytes(bytes(data))
        (folder / "model.skops.sig").write_text((signature or "") + "\n")
    (folder / "model_card.md").write_text(model_card(baseline, machine_name=machine_name, source_uri=source_uri))


def registry_version_sync(*, baseline: EnergyBaseline, registry: Registry) -> RegistryLink | None:
    """Give one version its run and registered version in MLflow, current status tag and the
    evaluations added since the last sync. Returns `None` when another drain holds the version."""
    link, _ = RegistryLink.objects.get_or_create(model=baseline)
    now = timezone.now()
    if not _lease(link, now):
        return None
    try:
        baseline = EnergyBaseline.objects.select_related("machine").get(pk=baseline.pk)
        name = registered_model_name(machine_id=baseline.machine_id, model_type=baseline.model_type)
        version_id = str(baseline.pk)
        artifact_uri = None
        if not link.run_id:
            run = registry.find_run(version_id=version_id) or registry.create_run(
                version_id=version_id, run_name=f"{baseline.machine.name} {baseline.model_type} v{baseline.version}",
                tags={VERSION_TAG: str(baseline.version), "enms.machine_id": str(baseline.machine_id),
                      "enms.model_type": baseline.model_type, **({SOURCE_TAG: link.source_uri} if link.source_uri
                                                                 else {})},
                start_time_ms=int(baseline.created_at.timestamp() * 1000))
            link.run_id, link.experiment_id = run.info.run_id, run.info.experiment_id
            artifact_uri = run.info.artifact_uri
            link.save(update_fields=["run_id", "experiment_id"])
            if registry.run_is_logged(run):
                link.logged_at = now
                link.save(update_fields=["logged_at"])
        if link.logged_at is None:
            with tempfile.TemporaryDirectory() as tmp:
                folder = pathlib.Path(tmp)
                _write_artifacts(baseline, folder, machine_name=baseline.machine.name, source_uri=link.source_uri)
                registry.log_version(run_id=link.run_id, params=version_params(baseline),
                                     metrics=version_metrics(baseline),
                                     timestamp_ms=int(baseline.created_at.timestamp() * 1000), artifact_dir=folder)
            link.logged_at = timezone.now()
            link.save(update_fields=["logged_at"])
        if not link.model_version:
            registry.ensure_registered_model(
                name=name, description=f"{baseline.model_type} of machine {baseline.machine.name} "
                                       f"({baseline.machine_id}), kept in step by EnMS.")
            found = registry.find_model_version(name=name, version_id=version_id)
            if found is None:
                artifact_uri = artifact_uri or registry.run_artifact_uri(run_id=link.run_id)
                found = registry.create_model_version(
                    name=name, source=f"{artifact_uri}/model", run_id=link.run_id,
                    tags={VERSION_ID_TAG: version_id, VERSION_TAG: str(baseline.version),
                          STATUS_TAG: baseline.status, "enms.artifact_sha256": baseline.artifact_sha256},
                    description=f"v{baseline.version}")
            link.registered_model, link.model_version = name, str(found.version)
            link.status_synced = found.tags.get(STATUS_TAG, "")
            link.save(update_fields=["registered_model", "model_version", "status_synced"])
        _status_sync(link, baseline.status, registry)
        _metrics_sync(link, registry)
        link.synced_at = timezone.now()
        link.save(update_fields=["synced_at"])
        return link
    finally:
        RegistryLink.objects.filter(pk=link.pk).update(lease_until=None)


def _status_sync(link: RegistryLink, status: str, registry: Registry) -> None:
    if link.model_version and link.status_synced != status:
        registry.set_version_tag(name=link.registered_model, version=link.model_version, key=STATUS_TAG, value=status)
        link.status_synced = status
        link.save(update_fields=["status_synced"])


def _metrics_sync(link: RegistryLink, registry: Registry) -> int:
    """Add the version's evaluations newer than the last one sent to its run."""
    rows = ModelPerformanceMetric.objects.filter(model_id=link.model_id)
    if link.metrics_synced_until is not None:
        rows = rows.filter(evaluated_at__gt=link.metrics_synced_until)
    rows = list(rows.order_by("evaluated_at")[:METRICS_BATCH])
    if not rows:
        return 0
    registry.log_metrics(run_id=link.run_id, points=evaluation_points(rows))
    link.metrics_synced_until = rows[-1].evaluated_at
    link.save(update_fields=["metrics_synced_until"])
    return len(rows)


# --- aliases ------------------------------------------------------------------------------------

def _desired_aliases(*, machine_id, model_type: str) -> dict[str, EnergyBaseline | None]:
    champion = EnergyBaseline.objects.filter(machine_id=machine_id, model_type=model_type,
                                             status=BaselineStatus.ACTIVE).first()
    test = (ModelABTest.objects.filter(machine_id=machine_id, model_type=model_type, status=ABTestStatus.RUNNING,
                                       is_backtest=False).select_related("model_b").first())
    return {"champion": champion, "challenger": test.model_b if test else None}


def registry_aliases_sync(*, machine_id, model_type: str, registry: Registry, force: bool = False
                          ) -> dict[str, str | None]:
    """Point `champion` at the active version and `challenger` at a running test's candidate (each
    synced first if need be), remove an alias with nothing to name, and bring the status tags of
    the machine's synced versions up to date. An alias already written as it should be is not
    written again unless `force` (staff asked for a sync: MLflow may have been edited by hand)."""
    desired = _desired_aliases(machine_id=machine_id, model_type=model_type)
    name = registered_model_name(machine_id=machine_id, model_type=model_type)
    last = RegistryAliases.objects.filter(machine_id=machine_id, model_type=model_type).first()
    written: dict[str, str | None] = {}
    for alias, baseline in desired.items():
        if not force and last is not None and getattr(last, f"{alias}_id") == (baseline.pk if baseline else None):
            continue
        link = RegistryLink.objects.filter(model=baseline).first() if baseline else None
        if baseline is not None and (link is None or not link.model_version):
            link = registry_version_sync(baseline=baseline, registry=registry)
            if link is None:
                raise RegistryError(f"version {baseline.pk} is being synced by another worker")
        if baseline is None:
            if RegistryLink.objects.filter(model__machine_id=machine_id, model__model_type=model_type).exclude(
                    model_version="").exists():  # the registered model exists
                registry.set_alias(name=name, alias=alias, version=None)
            written[alias] = None
        else:
            registry.set_alias(name=name, alias=alias, version=link.model_version)
            written[alias] = link.model_version
    stale = RegistryLink.objects.filter(model__machine_id=machine_id, model__model_type=model_type).exclude(
        model_version="").select_related("model")
    for link in stale:
        _status_sync(link, link.model.status, registry)
    RegistryAliases.objects.update_or_create(
        machine_id=machine_id, model_type=model_type,
        defaults={"champion": desired["champion"], "challenger": desired["challenger"], "synced_at": timezone.now()})
    return written


# --- draining -----------------------------------------------------------------------------------

def _claim(now: datetime, limit: int) -> list[RegistryOutbox]:
    due = (RegistryOutbox.objects.filter(sent_at__isnull=True)
           .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
           .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)))
    ids = list(due.order_by("id").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    # Compare-and-set: a row another drain claimed in between is not taken again.
    RegistryOutbox.objects.filter(pk__in=ids, sent_at__isnull=True).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)).update(claimed_until=now + CLAIM_FOR)
    return list(RegistryOutbox.objects.filter(pk__in=ids, claimed_until=now + CLAIM_FOR).select_related("model"))


def registry_drain(*, limit: int = 500, registry: Registry | None = None, now: datetime | None = None
                   ) -> dict[str, int]:
    """Send pending outbox rows, one machine and model type at a time. A group that fails keeps its
    rows pending with a backoff; when MLflow cannot be reached the drain stops there."""
    result = {"sent": 0, "failed": 0, "groups": 0}
    if not registry_configured():
        return result
    now = now or timezone.now()
    rows = _claim(now, limit)
    if not rows:
        return result
    groups: dict[tuple, list[RegistryOutbox]] = {}
    for row in rows:
        groups.setdefault((row.machine_id, row.model_type), []).append(row)
    try:
        registry = registry or Registry.shared()
    except RegistryError as exc:
        _failed(rows, exc, now)
        result["failed"] = len(rows)
        return result
    pending = list(groups.items())
    while pending:
        (machine_id, model_type), group = pending.pop(0)
        try:
            for baseline in {r.model_id: r.model for r in group if r.model is not None}.values():
                if registry_version_sync(baseline=baseline, registry=registry) is None:
                    raise RegistryError(f"version {baseline.pk} is being synced by another worker")
            registry_aliases_sync(machine_id=machine_id, model_type=model_type, registry=registry,
                                  force=any(r.event == RegistryEvent.SYNC_REQUESTED for r in group))
        except RegistryError as exc:
            logger.warning("registry sync of %s %s failed: %s", machine_id, model_type, exc)
            _failed(group, exc, now)
            result["failed"] += len(group)
            if "being synced" not in str(exc):  # MLflow itself failed: leave the rest for later
                for _, rest in pending:
                    RegistryOutbox.objects.filter(pk__in=[r.pk for r in rest]).update(claimed_until=None)
                break
            continue
        RegistryOutbox.objects.filter(pk__in=[r.pk for r in group]).update(
            sent_at=timezone.now(), claimed_until=None, last_error="")
        result["sent"] += len(group)
        result["groups"] += 1
    return result


def _failed(rows: list[RegistryOutbox], exc: Exception, now: datetime) -> None:
    for row in rows:
        RegistryOutbox.objects.filter(pk=row.pk).update(
            attempts=row.attempts + 1, last_error=str(exc)[:2000], claimed_until=None,
            next_attempt_at=now + timedelta(seconds=backoff_seconds(row.attempts + 1)))


def registry_pending() -> dict[str, Any]:
    """How many rows wait and how old the oldest is (for the admin and the sweep's log)."""
    pending = RegistryOutbox.objects.filter(sent_at__isnull=True)
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    return {"pending": pending.count(), "oldest": oldest}


# --- the sweep ----------------------------------------------------------------------------------

def registry_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat job: queue a sync for every machine whose aliases MLflow has not been told about (a
    change made by code that wrote no row, or versions that existed before MLflow was configured)
    and for every synced version with evaluations newer than its run's, then drain."""
    if not registry_configured():
        return {"queued": 0, "sent": 0, "failed": 0, "groups": 0}
    now = now or timezone.now()
    queued = 0
    has_pending = RegistryOutbox.objects.filter(sent_at__isnull=True)
    stated = {(a.machine_id, a.model_type): (a.champion_id, a.challenger_id) for a in RegistryAliases.objects.all()}
    desired: dict[tuple, list] = {}
    for machine_id, model_type, pk in EnergyBaseline.objects.filter(status=BaselineStatus.ACTIVE).values_list(
            "machine_id", "model_type", "pk"):
        desired.setdefault((machine_id, model_type), [None, None])[0] = pk
    for machine_id, model_type, pk in ModelABTest.objects.filter(
            status=ABTestStatus.RUNNING, is_backtest=False).values_list("machine_id", "model_type", "model_b_id"):
        desired.setdefault((machine_id, model_type), [None, None])[1] = pk
    for key in stated:
        desired.setdefault(key, [None, None])
    with transaction.atomic():
        for (machine_id, model_type), (champion, challenger) in desired.items():
            if stated.get((machine_id, model_type)) == (champion, challenger):
                continue
            if has_pending.filter(machine_id=machine_id, model_type=model_type).exists():
                continue
            RegistryOutbox.objects.create(machine_id=machine_id, model_type=model_type,
                                          event=RegistryEvent.STATE_CHANGED)
            queued += 1
        newer = ModelPerformanceMetric.objects.filter(model_id=OuterRef("model_id")).filter(
            Q(evaluated_at__gt=OuterRef("metrics_synced_until")))
        never = ModelPerformanceMetric.objects.filter(model_id=OuterRef("model_id"))
        links = (RegistryLink.objects.exclude(run_id="").filter(logged_at__isnull=False)
                 .filter(model__status__in=[BaselineStatus.ACTIVE, BaselineStatus.CANDIDATE])
                 .alias(has_newer=Exists(newer), has_any=Exists(never))
                 .filter(Q(metrics_synced_until__isnull=False, has_newer=True)
                         | Q(metrics_synced_until__isnull=True, has_any=True))
                 .select_related("model"))
        for link in links:
            if has_pending.filter(model_id=link.model_id).exists():
                continue
            RegistryOutbox.objects.create(machine_id=link.model.machine_id, model_type=link.model.model_type,
                                          model=link.model, event=RegistryEvent.EVALUATED)
            queued += 1
    return {"queued": queued, **registry_drain(now=now)}

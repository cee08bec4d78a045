"""Writes on machines, readings and baseline versions."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import BaselineStatus, EnergyBaseline


def baseline_activate(*, baseline: EnergyBaseline, user=None) -> EnergyBaseline:
    """Make `baseline` the active version of its machine and model type.

    The previous active version is retired in the same transaction, so there is never a moment
    with two active versions (the partial unique constraint would refuse it) or none.
    """
    with transaction.atomic():
        locked = EnergyBaseline.objects.select_for_update().get(pk=baseline.pk)
        if locked.status == BaselineStatus.ACTIVE:
            return locked
        now = timezone.now()
        (
            EnergyBaseline.objects.select_for_update()
            .filter(machine_id=locked.machine_id, model_type=locked.model_type, status=BaselineStatus.ACTIVE)
            .update(status=BaselineStatus.RETIRED, retired_at=now)
        )
        locked.status = BaselineStatus.ACTIVE
        locked.activated_at = now
        locked.save(update_fields=["status", "activated_at"])
        return locked

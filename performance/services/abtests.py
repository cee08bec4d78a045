"""Setting up and deciding A/B tests between two versions of one machine's model."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from baselines.models import EnergyBaseline

from ..errors import Conflict
from ..models import ABTestStatus, ModelABTest


def abtest_validate_pair(*, model_a: EnergyBaseline, model_b: EnergyBaseline) -> None:
    """Both versions must differ and belong to one machine and model type."""
    if model_a.pk == model_b.pk:
        raise ValidationError({"model_b_id": "Model B must be a different version from model A."})
    if (model_a.machine_id, model_a.model_type) != (model_b.machine_id, model_b.model_type):
        raise ValidationError({"model_b_id": "Both versions must belong to the same machine and model type."})


def abtest_start(
    *,
    name: str,
    model_a: EnergyBaseline,
    model_b: EnergyBaseline,
    traffic_split: float = 0.5,
    duration_days: int = 14,
    min_samples: int = 168,
    auto_promote: bool = False,
    user=None,
    started_at: datetime | None = None,
) -> ModelABTest:
    """Start a live A/B test; 409 (`Conflict`) when the machine already has a running one."""
    abtest_validate_pair(model_a=model_a, model_b=model_b)
    started = started_at or timezone.now()
    try:
        with transaction.atomic():
            return ModelABTest.objects.create(
                name=name,
                machine_id=model_a.machine_id,
                model_type=model_a.model_type,
                model_a=model_a,
                model_b=model_b,
                traffic_split=traffic_split,
                duration_days=duration_days,
                min_samples=min_samples,
                auto_promote=auto_promote,
                started_at=started,
                ends_at=started + timedelta(days=duration_days),
                status=ABTestStatus.RUNNING,
                created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
            )
    except IntegrityError as exc:
        running = ModelABTest.objects.running().filter(machine_id=model_a.machine_id).first()
        if running is not None:
            raise Conflict("This machine already has a running A/B test.", ab_test_id=str(running.pk)) from exc
        raise

"""Read paths of the baselines app, shared by the API and the dashboard."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from .models import EnergyBaseline, EnergyReading, Machine

READING_FIELDS = ("timestamp", "energy_kwh", "production_units", "outdoor_temp_c", "operating_hours", "is_anomaly")


def readings_list(*, machine: Machine, start: datetime | None = None, end: datetime | None = None):
    return EnergyReading.objects.for_machine(machine).between(start, end).order_by("timestamp")


def readings_frame(
    *, machine_ids: list, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """Readings of one or many machines as one DataFrame (one query), sorted by machine and time."""
    qs = (EnergyReading.objects.filter(machine_id__in=machine_ids).between(start, end)
          .order_by("machine_id", "timestamp"))
    columns = ["machine_id", *READING_FIELDS]
    frame = pd.DataFrame.from_records(qs.values_list(*columns), columns=columns)
    if not frame.empty:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        for column in ("energy_kwh", "production_units", "outdoor_temp_c", "operating_hours"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        frame["is_anomaly"] = frame["is_anomaly"].astype(bool)
    return frame


def baselines_list(*, machine_id=None, model_type: str | None = None, status: str | None = None):
    qs = EnergyBaseline.objects.select_related("machine").defer("artifact", "reference_stats")
    if machine_id is not None:
        qs = qs.filter(machine_id=machine_id)
    if model_type:
        qs = qs.filter(model_type=model_type)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("machine__name", "model_type", "-version")

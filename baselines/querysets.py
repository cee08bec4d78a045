"""Reusable, chainable filters for the baselines models."""

from datetime import datetime

from django.db import models


class MachineQuerySet(models.QuerySet):
    def active(self) -> "MachineQuerySet":
        return self.filter(is_active=True)


class EnergyReadingQuerySet(models.QuerySet):
    def for_machine(self, machine) -> "EnergyReadingQuerySet":
        return self.filter(machine=machine)

    def between(self, start: datetime | None, end: datetime | None) -> "EnergyReadingQuerySet":
        qs = self
        if start is not None:
            qs = qs.filter(timestamp__gte=start)
        if end is not None:
            qs = qs.filter(timestamp__lt=end)
        return qs


class EnergyBaselineQuerySet(models.QuerySet):
    def active(self) -> "EnergyBaselineQuerySet":
        return self.filter(status="active")

    def for_machine(self, machine) -> "EnergyBaselineQuerySet":
        return self.filter(machine=machine)

    def of_type(self, model_type: str) -> "EnergyBaselineQuerySet":
        return self.filter(model_type=model_type)


class DriverForecastQuerySet(EnergyReadingQuerySet):
    """Driver forecasts are filtered like readings: by machine and by a time window."""

"""Reusable, chainable filters for the performance tables."""

from datetime import datetime

from django.db import models


class _MachineModelFilters(models.QuerySet):
    def for_machine(self, machine):
        return self.filter(machine=machine)

    def for_model(self, model):
        return self.filter(model=model)

    def of_type(self, model_type: str):
        return self.filter(model_type=model_type)


class ModelPerformanceMetricQuerySet(_MachineModelFilters):
    def between(self, start: datetime | None, end: datetime | None) -> "ModelPerformanceMetricQuerySet":
        qs = self
        if start is not None:
            qs = qs.filter(evaluated_at__gte=start)
        if end is not None:
            qs = qs.filter(evaluated_at__lt=end)
        return qs


class ModelTrainingHistoryQuerySet(_MachineModelFilters):
    def open(self) -> "ModelTrainingHistoryQuerySet":
        return self.filter(status__in=["pending", "running"])


class ModelABTestQuerySet(_MachineModelFilters):
    def running(self) -> "ModelABTestQuerySet":
        return self.filter(status="running")


class ModelAlertQuerySet(_MachineModelFilters):
    def unresolved(self) -> "ModelAlertQuerySet":
        return self.filter(is_resolved=False)

    def by_urgency(self) -> "ModelAlertQuerySet":
        severity_rank = models.Case(
            models.When(severity="critical", then=models.Value(0)),
            default=models.Value(1),
            output_field=models.IntegerField(),
        )
        return self.annotate(severity_rank=severity_rank).order_by("severity_rank", "-last_seen", "-first_seen")

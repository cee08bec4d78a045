"""Machines, their energy readings and the versions of their baseline models."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from enms.text import machine_name_validator

from .querysets import DriverForecastQuerySet, EnergyBaselineQuerySet, EnergyReadingQuerySet, MachineQuerySet


class MachineType(models.TextChoices):
    COMPRESSOR = "compressor", "Compressor"
    HVAC = "hvac", "HVAC"
    FURNACE = "furnace", "Furnace"
    PUMP = "pump", "Pump"
    CHILLER = "chiller", "Chiller"
    BOILER = "boiler", "Boiler"
    CONVEYOR = "conveyor", "Conveyor"
    OTHER = "other", "Other"


class ModelType(models.TextChoices):
    ENERGY_BASELINE = "energy_baseline", "Energy baseline"
    ANOMALY_DETECTOR = "anomaly_detector", "Anomaly detector"


class BaselineStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


def default_time_zone() -> str:
    """The server's `TIME_ZONE`: a machine's time zone unless it is given one."""
    return settings.TIME_ZONE


def validate_time_zone(value: str) -> None:
    """An IANA time zone name such as `Europe/Berlin`."""
    from django.core.exceptions import ValidationError

    from .engine.features import check_time_zone

    try:
        check_time_zone(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_time_zone") from exc


class Machine(models.Model):
    """A metered machine (compressor, HVAC unit, furnace...) whose energy use is modelled.

    `time_zone` (IANA) is the local clock of its site: time of week, occupancy and schedules of
    its baselines use local wall-clock time, so a daylight-saving change does not shift them.
    `policy_overrides` lets staff override, per machine, any key of `settings.ENMS_POLICY`
    (thresholds, margins, auto-action switches) without a deploy.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Unique, also ignoring case (a constraint below); one line without control characters, stored
    # stripped (the API and the admin strip it).
    name = models.CharField(max_length=200, unique=True, validators=[machine_name_validator])
    machine_type = models.CharField(max_length=32, choices=MachineType.choices, default=MachineType.OTHER)
    site = models.CharField(max_length=200, blank=True, default="")
    rated_power_kw = models.FloatField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    time_zone = models.CharField(
        max_length=64, default=default_time_zone, validators=[validate_time_zone],
        help_text="IANA time zone of the machine's site, e.g. Europe/Berlin; time of week and schedules use "
                  "its local clock",
    )
    policy_overrides = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MachineQuerySet.as_manager()

    class Meta:
        db_table = "machines"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rated_power_kw__isnull=True) | Q(rated_power_kw__gt=0),
                name="machine_rated_power_positive",
            ),
            models.CheckConstraint(condition=~Q(time_zone=""), name="machine_time_zone_set"),
            models.UniqueConstraint(
                Lower("name"), name="machine_name_unique_ci",
                violation_error_message="A machine with this name (ignoring case) already exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from enms.policy import policy_overrides_errors

        errors = policy_overrides_errors(self.policy_overrides)
        if errors:
            raise ValidationError({"policy_overrides": errors})


class EnergyReading(models.Model):
    """One metered interval of a machine: energy used and the drivers that explain it.

    `is_anomaly` is labelled ground truth (used to judge anomaly detectors), not a model output.
    """

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="readings")
    timestamp = models.DateTimeField()
    energy_kwh = models.FloatField()
    production_units = models.FloatField(null=True, blank=True)
    outdoor_temp_c = models.FloatField(null=True, blank=True)
    operating_hours = models.FloatField(null=True, blank=True)
    is_anomaly = models.BooleanField(default=False)

    objects = EnergyReadingQuerySet.as_manager()

    class Meta:
        db_table = "energy_readings"
        ordering = ["machine", "timestamp"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "timestamp"], name="reading_unique_machine_timestamp"),
            models.CheckConstraint(condition=Q(energy_kwh__gte=0), name="reading_energy_nonnegative"),
            models.CheckConstraint(
                condition=Q(operating_hours__isnull=True) | Q(operating_hours__gte=0),
                name="reading_operating_hours_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.machine_id} @ {self.timestamp:%Y-%m-%d %H:%M}"


class DriverForecast(models.Model):
    """Expected driver values of one future (or past) hour of a machine: a weather forecast, a
    production plan. No energy: these are what the baselines will be asked to predict from, so
    the product can see a driver leave a version's training range before it happens.

    One row per (machine, timestamp); a later upload for the same hour replaces the values it
    names and keeps the others (a weather forecast and a production plan can arrive apart).
    """

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="driver_forecasts")
    timestamp = models.DateTimeField()
    production_units = models.FloatField(null=True, blank=True)
    outdoor_temp_c = models.FloatField(null=True, blank=True)
    operating_hours = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DriverForecastQuerySet.as_manager()

    class Meta:
        db_table = "driver_forecasts"
        ordering = ["machine", "timestamp"]
        constraints = [
            models.UniqueConstraint(fields=["machine", "timestamp"], name="driver_forecast_unique_machine_timestamp"),
            models.CheckConstraint(
                condition=Q(operating_hours__isnull=True) | Q(operating_hours__gte=0),
                name="driver_forecast_operating_hours_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.machine_id} forecast @ {self.timestamp:%Y-%m-%d %H:%M}"


class EnergyBaseline(models.Model):
    """One version of a machine's model (an energy baseline or an anomaly detector).

    Versions are never edited after training or deleted: they are the audit trail ISO 50001
    asks for (window, metrics, who and why). `reference_stats` holds the training-time statistics
    drift checks compare against; `artifact` is the fitted pipeline (skops), loaded only when
    `artifact_signature` holds under the configured key and every type inside is one the engine
    writes.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="baselines")
    model_type = models.CharField(max_length=32, choices=ModelType.choices, default=ModelType.ENERGY_BASELINE)
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=BaselineStatus.choices, default=BaselineStatus.CANDIDATE)
    algorithm = models.CharField(max_length=64, blank=True, default="")
    features = models.JSONField(default=list, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    data_interval = models.CharField(max_length=16, default="hourly")
    n_params = models.PositiveIntegerField(default=1)
    training_start = models.DateTimeField(null=True, blank=True)
    training_end = models.DateTimeField(null=True, blank=True)
    training_sample_count = models.PositiveIntegerField(default=0)
    training_metrics = models.JSONField(default=dict, blank=True)
    holdout_metrics = models.JSONField(default=dict, blank=True)
    reference_stats = models.JSONField(default=dict, blank=True)
    driver_ranges = models.JSONField(default=dict, blank=True)
    artifact = models.BinaryField(null=True, blank=True, editable=False)
    artifact_sha256 = models.CharField(max_length=64, blank=True, default="")
    # HMAC of the artifact under the configured signing key (see baselines/artifacts.py); the
    # SHA-256 above identifies the bytes but protects nothing, since it sits in the same row.
    # Nullable so that adding the column needs no table rebuild on SQLite (views name the table).
    artifact_signature = models.CharField(max_length=80, null=True, blank=True, editable=False)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    notes = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = EnergyBaselineQuerySet.as_manager()

    class Meta:
        db_table = "energy_baselines"
        ordering = ["machine", "model_type", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "model_type", "version"], name="baseline_unique_machine_type_version"
            ),
            models.UniqueConstraint(
                fields=["machine", "model_type"],
                condition=Q(status="active"),
                name="baseline_one_active_per_machine_type",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="baseline_version_positive"),
            models.CheckConstraint(
                condition=Q(training_start__isnull=True)
                | Q(training_end__isnull=True)
                | Q(training_start__lt=models.F("training_end")),
                name="baseline_training_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.machine} {self.model_type} v{self.version} ({self.status})"


class EnergyReadingDaily(models.Model):
    """One machine's readings of one UTC day, rolled up: kept forever, when the retention policy
    drops the hourly readings of old months (`baselines.partitions.readings_retention_apply`)."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="daily_readings", db_index=False)
    day = models.DateField()
    readings = models.PositiveIntegerField()
    energy_kwh = models.FloatField()
    production_units = models.FloatField(null=True, blank=True)
    operating_hours = models.FloatField(null=True, blank=True)
    outdoor_temp_c_mean = models.FloatField(null=True, blank=True)
    anomalies = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "energy_reading_daily"
        ordering = ["machine", "day"]
        verbose_name_plural = "daily energy readings"
        constraints = [models.UniqueConstraint(fields=["machine", "day"], name="reading_daily_unique_machine_day")]

    def __str__(self) -> str:
        return f"{self.machine_id} @ {self.day}"

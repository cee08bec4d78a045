"""The four model-performance tables and the three read-only views over them."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from baselines.models import EnergyBaseline, Machine, ModelType

from .querysets import (
    ModelABTestQuerySet,
    ModelAlertQuerySet,
    ModelPerformanceMetricQuerySet,
    ModelTrainingHistoryQuerySet,
)


class Severity(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertType(models.TextChoices):
    DRIFT = "drift", "Drift"
    DEGRADATION = "degradation", "Degradation"
    TRAINING_FAILED = "training_failed", "Training failed"
    AB_TEST_COMPLETED = "ab_test_completed", "A/B test completed"
    FORECAST_DEGRADATION = "forecast_degradation", "Forecast degradation"


class TriggerType(models.TextChoices):
    MANUAL = "manual", "Manual"
    SCHEDULED = "scheduled", "Scheduled"
    DRIFT = "drift", "Drift"
    DEGRADATION = "degradation", "Degradation"
    REBASELINE = "rebaseline", "Re-baseline decided by staff"


class TrainingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ABTestStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    STOPPED = "stopped", "Stopped by staff"


class ABDecision(models.TextChoices):
    RUNNING = "running", "Running"
    A_WINS = "a_wins", "A wins"
    B_WINS = "b_wins", "B wins"
    INCONCLUSIVE = "inconclusive", "Inconclusive"


class AlertResolution(models.TextChoices):
    """How an alert was closed."""

    MANUAL = "manual", "Resolved by staff"
    RECOVERED = "recovered", "Recovered after consecutive clean checks"
    SUPERSEDED = "superseded", "Superseded: its version was retired"
    REBASELINED = "rebaselined", "Re-baselined by staff"


class MetricSource(models.TextChoices):
    RECORDED = "recorded", "Recorded through the API"
    EVALUATION = "evaluation", "Scheduled evaluation"
    DRIFT_CHECK = "drift_check", "Drift check"
    TRAINING = "training", "Training holdout"


def _unit_interval(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0, f"{field}__lte": 1})


def _nonnegative(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0})


class ModelPerformanceMetric(models.Model):
    """One evaluation of one model version over a window of readings.

    Rows come from API clients (`metrics/record`), the scheduled evaluation and drift checks.
    `rmse_degradation` is current RMSE / the model's holdout RMSE − 1 (0.25 = 25 % worse);
    `ashrae_pass` says whether CV(RMSE) and NMBE are within ASHRAE Guideline 14 limits for the
    model's data interval.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes: the composite (model, evaluated_at) and (machine, evaluated_at)
    # indexes below serve both lookups, and each extra index slows bulk ingest.
    model = models.ForeignKey(EnergyBaseline, on_delete=models.PROTECT, related_name="metrics", db_index=False)
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="metrics", db_index=False)
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    source = models.CharField(max_length=16, choices=MetricSource.choices, default=MetricSource.RECORDED)
    evaluation_start = models.DateTimeField(null=True, blank=True)
    evaluation_end = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(db_index=False)
    sample_count = models.PositiveIntegerField()
    r_squared = models.FloatField(null=True, blank=True)
    rmse = models.FloatField(null=True, blank=True)
    mae = models.FloatField(null=True, blank=True)
    mape = models.FloatField(null=True, blank=True)
    wape = models.FloatField(null=True, blank=True)
    cv_rmse = models.FloatField(null=True, blank=True)
    nmbe = models.FloatField(null=True, blank=True)
    precision = models.FloatField(null=True, blank=True)
    recall = models.FloatField(null=True, blank=True)
    f1_score = models.FloatField(null=True, blank=True)
    drift_detected = models.BooleanField(default=False)
    drift_score = models.FloatField(null=True, blank=True)
    drift_details = models.JSONField(default=dict, blank=True)
    rmse_degradation = models.FloatField(null=True, blank=True)
    ashrae_pass = models.BooleanField(null=True, blank=True)

    objects = ModelPerformanceMetricQuerySet.as_manager()

    class Meta:
        db_table = "model_performance_metrics"
        ordering = ["-evaluated_at"]
        indexes = [
            # "latest row per model" and a model's trend are both range scans of this index.
            models.Index(F("model"), F("evaluated_at").desc(), name="metric_model_evaluated_idx"),
            models.Index(F("machine"), F("evaluated_at").desc(), name="metric_machine_evaluated_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(r_squared__isnull=True) | Q(r_squared__lte=1), name="metric_r_squared_le_1"
            ),
            *[
                models.CheckConstraint(condition=_nonnegative(f), name=f"metric_{f}_nonnegative")
                for f in ("rmse", "mae", "mape", "wape", "cv_rmse")
            ],
            *[
                models.CheckConstraint(condition=_unit_interval(f), name=f"metric_{f}_unit_interval")
                for f in ("precision", "recall", "f1_score", "drift_score")
            ],
            models.CheckConstraint(
                condition=Q(evaluation_start__isnull=True)
                | Q(evaluation_end__isnull=True)
                | Q(evaluation_start__lt=F("evaluation_end")),
                name="metric_window_ordered",
            ),
            # A scheduled row is one per version, window and evaluation time: a cycle's batches
            # all evaluate as of the cycle's time, so a redelivered batch cannot add a second row.
            models.UniqueConstraint(
                fields=["model", "source", "evaluation_start", "evaluation_end", "evaluated_at"],
                condition=Q(source__in=["evaluation", "drift_check"]),
                name="metric_unique_scheduled_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} @ {self.evaluated_at:%Y-%m-%d %H:%M}"


class ModelTrainingHistory(models.Model):
    """One training or retraining job, from trigger to outcome.

    At most one job per machine and model type can be pending or running (a partial unique
    constraint), which turns concurrent triggers into one job. `dispatched_at` is the outbox
    mark: null until the job's task was handed to the broker, so a beat sweep can re-publish
    work queued while the broker was down. `heartbeat_at` lets a reaper find dead workers.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(
        EnergyBaseline, null=True, blank=True, on_delete=models.PROTECT, related_name="retrainings"
    )
    new_model = models.ForeignKey(
        EnergyBaseline, null=True, blank=True, on_delete=models.PROTECT, related_name="trained_by"
    )
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="trainings")
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    trigger_type = models.CharField(max_length=16, choices=TriggerType.choices, default=TriggerType.MANUAL)
    status = models.CharField(max_length=16, choices=TrainingStatus.choices, default=TrainingStatus.PENDING)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    trigger_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    training_start = models.DateTimeField(null=True, blank=True)
    training_end = models.DateTimeField(null=True, blank=True)
    sample_count = models.PositiveIntegerField(null=True, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    previous_metrics = models.JSONField(default=dict, blank=True)
    new_metrics = models.JSONField(default=dict, blank=True)
    performance_improvement = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=32, blank=True, default="")
    error_message = models.TextField(blank=True, default="")

    objects = ModelTrainingHistoryQuerySet.as_manager()

    class Meta:
        db_table = "model_training_history"
        ordering = ["-created_at"]
        verbose_name_plural = "model training history"
        indexes = [models.Index(fields=["machine", "-created_at"], name="training_machine_created_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "model_type"],
                condition=Q(status__in=["pending", "running"]),
                name="training_one_open_per_machine_type",
            ),
            models.CheckConstraint(
                condition=Q(training_start__isnull=True)
                | Q(training_end__isnull=True)
                | Q(training_start__lt=F("training_end")),
                name="training_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.machine} {self.model_type} {self.trigger_type} ({self.status})"


class ModelABTest(models.Model):
    """A champion/challenger comparison of two versions of one machine's model.

    `traffic_split` is the share of readings served by model B. A test with a past window
    (`window_start`/`window_end`) is a backtest on stored readings, decided at once.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="ab_tests")
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    model_a = models.ForeignKey(EnergyBaseline, on_delete=models.PROTECT, related_name="ab_tests_as_a")
    model_b = models.ForeignKey(EnergyBaseline, on_delete=models.PROTECT, related_name="ab_tests_as_b")
    traffic_split = models.FloatField(default=0.5)
    status = models.CharField(max_length=16, choices=ABTestStatus.choices, default=ABTestStatus.RUNNING)
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    duration_days = models.PositiveIntegerField(default=14)
    min_samples = models.PositiveIntegerField(default=168)
    auto_promote = models.BooleanField(default=False)
    is_backtest = models.BooleanField(default=False)
    winner = models.ForeignKey(
        EnergyBaseline, null=True, blank=True, on_delete=models.PROTECT, related_name="ab_tests_won"
    )
    confidence = models.FloatField(null=True, blank=True)
    decision = models.CharField(max_length=16, choices=ABDecision.choices, default=ABDecision.RUNNING)
    results = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelABTestQuerySet.as_manager()

    class Meta:
        db_table = "model_ab_tests"
        ordering = ["-started_at"]
        verbose_name = "model A/B test"
        constraints = [
            models.CheckConstraint(
                condition=Q(traffic_split__gt=0) & Q(traffic_split__lt=1), name="abtest_traffic_split_open_unit"
            ),
            models.CheckConstraint(condition=~Q(model_a=F("model_b")), name="abtest_models_differ"),
            models.CheckConstraint(condition=Q(started_at__lt=F("ends_at")), name="abtest_window_ordered"),
            models.CheckConstraint(condition=_unit_interval("confidence"), name="abtest_confidence_unit_interval"),
            models.UniqueConstraint(
                fields=["machine"], condition=Q(status="running"), name="abtest_one_running_per_machine"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Mirror the database rules for forms, and check what only Python can: both versions
        belong to this test's machine and model type."""
        from django.core.exceptions import ValidationError

        errors: dict[str, str] = {}
        if self.model_a_id and self.model_b_id:
            if self.model_a_id == self.model_b_id:
                errors["model_b"] = "Model B must be a different version from model A."
            elif (self.model_a.machine_id, self.model_a.model_type) != (
                self.model_b.machine_id,
                self.model_b.model_type,
            ):
                errors["model_b"] = "Both versions must belong to the same machine and model type."
        if self.traffic_split is not None and not 0 < self.traffic_split < 1:
            errors["traffic_split"] = "The traffic split must lie strictly between 0 and 1."
        if errors:
            raise ValidationError(errors)


class ModelAlert(models.Model):
    """A condition that needs a person: drift, degradation, a failed training, a finished A/B test.

    A repeat of an unresolved (model, alert_type) updates the open row (occurrences, last_seen,
    possibly a higher severity) instead of adding rows; a partial unique constraint holds that.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(EnergyBaseline, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts")
    machine = models.ForeignKey(Machine, on_delete=models.PROTECT, related_name="alerts")
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    alert_type = models.CharField(max_length=32, choices=AlertType.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    peak_severity = models.CharField(max_length=16, choices=Severity.choices, blank=True, default="")
    # The check that set the current severity and the one that set the peak: the alert's evidence.
    metric = models.ForeignKey(
        "ModelPerformanceMetric", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    peak_metric = models.ForeignKey(
        "ModelPerformanceMetric", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    is_resolved = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="resolved_alerts"
    )
    resolution = models.CharField(max_length=16, choices=AlertResolution.choices, blank=True, default="")
    resolution_notes = models.TextField(blank=True, default="")
    auto_action_taken = models.CharField(max_length=200, blank=True, default="")
    notified_at = models.DateTimeField(null=True, blank=True)
    notification_error = models.TextField(blank=True, default="")

    objects = ModelAlertQuerySet.as_manager()

    class Meta:
        db_table = "model_alerts"
        ordering = ["is_resolved", "-last_seen"]
        indexes = [models.Index(fields=["machine", "is_resolved", "-last_seen"], name="alert_machine_open_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "alert_type"],
                condition=Q(is_resolved=False),
                name="alert_one_open_per_model_type",
            ),
            models.CheckConstraint(condition=Q(occurrences__gte=1), name="alert_occurrences_positive"),
            models.CheckConstraint(condition=Q(first_seen__lte=F("last_seen")), name="alert_seen_ordered"),
            models.CheckConstraint(
                condition=Q(is_resolved=False, resolved_at__isnull=True)
                | Q(is_resolved=True, resolved_at__isnull=False),
                name="alert_resolved_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.alert_type}: {self.message[:60]}"


class CycleRun(models.Model):
    """One run of a scheduled cycle (evaluation, drift, retraining, ...) fanned out in batches.

    Each batch is its own task; the counters are advanced by the batches as they finish, and the
    last one stamps `finished_at` and the duration. `now` is the cycle's reference time: every
    batch evaluates as of it, so a redelivered batch writes the same rows again (and the unique
    constraint on metrics rows turns the second write into nothing).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cycle = models.CharField(max_length=32)
    now = models.DateTimeField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    batch_size = models.PositiveIntegerField()
    versions = models.PositiveIntegerField(default=0)
    machines = models.PositiveIntegerField(default=0)
    batches_total = models.PositiveIntegerField(default=0)
    batches_done = models.PositiveIntegerField(default=0)
    batches_failed = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0, help_text="Versions a batch could not process.")
    totals = models.JSONField(default=dict, blank=True, help_text="The batches' counts, summed.")

    class Meta:
        db_table = "cycle_runs"
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["cycle", "-started_at"], name="cycle_run_cycle_started_idx")]

    def __str__(self) -> str:
        return f"{self.cycle} @ {self.now:%Y-%m-%d %H:%M}"


class CycleBatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class CycleBatch(models.Model):
    """One batch of a cycle run: the versions it covers, what came of it."""

    run = models.ForeignKey(CycleRun, on_delete=models.CASCADE, related_name="batches")
    index = models.PositiveIntegerField()
    model_ids = models.JSONField(default=list)
    machines = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=CycleBatchStatus.choices, default=CycleBatchStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "cycle_batches"
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="cycle_batch_unique_index")]

    def __str__(self) -> str:
        return f"{self.run} #{self.index} ({self.status})"


class LatestModelPerformance(models.Model):
    """Read-only: the newest metrics row of every model version (view `v_latest_model_performance`)."""

    id = models.UUIDField(primary_key=True)
    model = models.ForeignKey(EnergyBaseline, on_delete=models.DO_NOTHING, related_name="+")
    machine = models.ForeignKey(Machine, on_delete=models.DO_NOTHING, related_name="+")
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    model_version = models.PositiveIntegerField()
    model_status = models.CharField(max_length=16)
    machine_name = models.CharField(max_length=200)
    evaluated_at = models.DateTimeField()
    evaluation_start = models.DateTimeField(null=True)
    evaluation_end = models.DateTimeField(null=True)
    sample_count = models.PositiveIntegerField()
    r_squared = models.FloatField(null=True)
    rmse = models.FloatField(null=True)
    mae = models.FloatField(null=True)
    mape = models.FloatField(null=True)
    cv_rmse = models.FloatField(null=True)
    nmbe = models.FloatField(null=True)
    precision = models.FloatField(null=True)
    recall = models.FloatField(null=True)
    f1_score = models.FloatField(null=True)
    drift_detected = models.BooleanField()
    drift_score = models.FloatField(null=True)
    rmse_degradation = models.FloatField(null=True)
    ashrae_pass = models.BooleanField(null=True)

    class Meta:
        managed = False
        db_table = "v_latest_model_performance"
        ordering = ["machine_name", "model_type"]

    def __str__(self) -> str:
        return f"{self.machine_name} v{self.model_version} @ {self.evaluated_at:%Y-%m-%d %H:%M}"


class ActiveABTest(models.Model):
    """Read-only: running A/B tests with both versions' numbers (view `v_active_ab_tests`)."""

    id = models.UUIDField(primary_key=True)
    name = models.CharField(max_length=200)
    machine = models.ForeignKey(Machine, on_delete=models.DO_NOTHING, related_name="+")
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    model_a = models.ForeignKey(EnergyBaseline, on_delete=models.DO_NOTHING, related_name="+")
    model_a_version = models.PositiveIntegerField()
    model_b = models.ForeignKey(EnergyBaseline, on_delete=models.DO_NOTHING, related_name="+")
    model_b_version = models.PositiveIntegerField()
    traffic_split = models.FloatField()
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    duration_days = models.PositiveIntegerField()
    min_samples = models.PositiveIntegerField()
    auto_promote = models.BooleanField()
    confidence = models.FloatField(null=True)
    decision = models.CharField(max_length=16)

    class Meta:
        managed = False
        db_table = "v_active_ab_tests"
        ordering = ["ends_at"]

    def __str__(self) -> str:
        return self.name


class UnresolvedModelAlert(models.Model):
    """Read-only: open alerts, critical first, newest first (view `v_unresolved_model_alerts`)."""

    id = models.UUIDField(primary_key=True)
    model = models.ForeignKey(EnergyBaseline, null=True, on_delete=models.DO_NOTHING, related_name="+")
    machine = models.ForeignKey(Machine, on_delete=models.DO_NOTHING, related_name="+")
    machine_name = models.CharField(max_length=200)
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    alert_type = models.CharField(max_length=32, choices=AlertType.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    severity_rank = models.IntegerField()
    peak_severity = models.CharField(max_length=16, choices=Severity.choices)
    metric = models.ForeignKey("ModelPerformanceMetric", null=True, on_delete=models.DO_NOTHING, related_name="+")
    peak_metric = models.ForeignKey("ModelPerformanceMetric", null=True, on_delete=models.DO_NOTHING, related_name="+")
    message = models.TextField()
    details = models.JSONField()
    occurrences = models.PositiveIntegerField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    auto_action_taken = models.CharField(max_length=200)

    class Meta:
        managed = False
        db_table = "v_unresolved_model_alerts"
        ordering = ["severity_rank", "-last_seen", "-first_seen"]

    def __str__(self) -> str:
        return f"{self.severity} {self.alert_type}: {self.message[:60]}"


# The registry tables live with their integration; imported here so Django finds them.
from .registry.models import RegistryAliases, RegistryEvent, RegistryLink, RegistryOutbox  # noqa: E402, F401

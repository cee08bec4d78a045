"""The registry outbox and what each version became in MLflow."""

from django.db import models
from django.db.models import Q

from baselines.models import EnergyBaseline, Machine, ModelType


class RegistryEvent(models.TextChoices):
    TRAINED = "trained", "Version trained"
    ACTIVATED = "activated", "Version activated (the previous active one retired)"
    RETIRED = "retired", "Version retired"
    IMPORTED = "imported", "Version imported from the registry"
    AB_STARTED = "ab_started", "A/B test started"
    AB_COMPLETED = "ab_completed", "A/B test completed"
    AB_STOPPED = "ab_stopped", "A/B test stopped"
    AB_CANCELLED = "ab_cancelled", "A/B test cancelled"
    EVALUATED = "evaluated", "New evaluations to add to the run"
    SYNC_REQUESTED = "sync_requested", "Sync requested by staff"
    STATE_CHANGED = "state_changed", "Aliases found out of date by the sweep"


class RegistryOutbox(models.Model):
    """A change of a machine's versions that MLflow has not been told about yet.

    Written in the same transaction as the change (only when `MLFLOW_TRACKING_URI` is set) and
    drained by `performance.registry_sync` after the commit. Draining is idempotent: it
    reconciles MLflow with the current state of the machine's versions (the version's run and
    registered version, found by their `enms.version_id` tag, and the `champion`/`challenger`
    aliases), so a row sent twice changes nothing. While MLflow is unreachable a row stays
    pending with `next_attempt_at` pushed back exponentially; the beat sweep drains it later.
    """

    id = models.BigAutoField(primary_key=True)
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="+")
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    model = models.ForeignKey(EnergyBaseline, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=24, choices=RegistryEvent.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "model_registry_outbox"
        ordering = ["id"]
        verbose_name = "registry outbox row"
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(sent_at__isnull=True),
                         name="registry_outbox_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.machine_id} {self.model_type} ({'sent' if self.sent_at else 'pending'})"


class RegistryLink(models.Model):
    """Where one version lives in MLflow: its run and its registered model version.

    `logged_at` is set once the run holds every parameter, metric and artifact;
    `metrics_synced_until` is the `evaluated_at` of the newest evaluation added to the run;
    `status_synced` the version status last written to the registered version's tag.
    """

    model = models.OneToOneField(EnergyBaseline, primary_key=True, on_delete=models.CASCADE,
                                 related_name="registry_link")
    experiment_id = models.CharField(max_length=64, blank=True, default="")
    run_id = models.CharField(max_length=64, blank=True, default="")
    registered_model = models.CharField(max_length=200, blank=True, default="")
    model_version = models.CharField(max_length=32, blank=True, default="")
    logged_at = models.DateTimeField(null=True, blank=True)
    status_synced = models.CharField(max_length=16, blank=True, default="")
    metrics_synced_until = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    # Source of an imported version (a `models:/` or `runs:/` URI), empty for trained ones.
    source_uri = models.CharField(max_length=1000, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "model_registry_links"
        verbose_name = "registry link"

    def __str__(self) -> str:
        return f"{self.registered_model} v{self.model_version} (run {self.run_id})"


class RegistryAliases(models.Model):
    """The aliases last written for one registered model (one machine and model type)."""

    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="+")
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    champion = models.ForeignKey(EnergyBaseline, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    challenger = models.ForeignKey(EnergyBaseline, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "model_registry_aliases"
        verbose_name_plural = "registry aliases"
        constraints = [
            models.UniqueConstraint(fields=["machine", "model_type"], name="registry_aliases_one_per_model"),
        ]

    def __str__(self) -> str:
        return f"{self.machine_id} {self.model_type}"

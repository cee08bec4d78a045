from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from baselines.models import ModelType
from enms.fields import (
    AwareDateTimeField,
    ClosedSerializer,
    FiniteFloatField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from enms.rows import FastRepresentationMixin, RowField, batch_serializer_for, serializer_for

from ..models import (
    AlertResolution,
    AlertType,
    ModelABTest,
    ModelAlert,
    ModelPerformanceMetric,
    ModelTrainingHistory,
    Severity,
    TrainingStatus,
    TriggerType,
    UnresolvedModelAlert,
)
from ..selectors import TREND_METRICS

METRIC_ROW = (
    RowField("model_id", "uuid", required=True),
    RowField("sample_count", "int", required=True, min_value=0, max_value=2_000_000_000),
    RowField("evaluated_at", "datetime", help_text="when the evaluation ran; default: now"),
    RowField("evaluation_start", "datetime"),
    RowField("evaluation_end", "datetime"),
    RowField("r_squared", "float", max_value=1, limit="ENMS_MAX_METRIC_VALUE"),
    RowField("rmse", "float", min_value=0, limit="ENMS_MAX_METRIC_VALUE"),
    RowField("mae", "float", min_value=0, limit="ENMS_MAX_METRIC_VALUE"),
    RowField("mape", "float", min_value=0, limit="ENMS_MAX_METRIC_VALUE"),
    RowField("wape", "float", min_value=0, limit="ENMS_MAX_METRIC_VALUE"),
    RowField("cv_rmse", "float", min_value=0, limit="ENMS_MAX_METRIC_VALUE"),
    RowField("nmbe", "float", limit="ENMS_MAX_METRIC_VALUE"),
    RowField("precision", "float", min_value=0, max_value=1),
    RowField("recall", "float", min_value=0, max_value=1),
    RowField("f1_score", "float", min_value=0, max_value=1),
    RowField("drift_detected", "bool"),
    RowField("drift_score", "float", min_value=0, max_value=1),
    RowField("drift_details", "json"),
)
MetricRecordSerializer = serializer_for("MetricRecord", METRIC_ROW)
MAX_METRIC_ROWS = 10_000
MetricRecordBatchSerializer = batch_serializer_for("MetricRecordBatch", MetricRecordSerializer, MAX_METRIC_ROWS)


class MetricSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    model_id = serializers.UUIDField(read_only=True)
    machine_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = ModelPerformanceMetric
        fields = (
            "id", "model_id", "machine_id", "model_type", "source", "evaluated_at", "evaluation_start",
            "evaluation_end", "sample_count", "r_squared", "rmse", "mae", "mape", "wape", "cv_rmse", "nmbe",
            "precision", "recall", "f1_score", "drift_detected", "drift_score", "drift_details",
            "rmse_degradation", "ashrae_pass",
        )
        read_only_fields = fields


class TrendQuerySerializer(serializers.Serializer):
    model_id = serializers.UUIDField(required=False, help_text="the model version; or give machine_id")
    machine_id = serializers.UUIDField(required=False, help_text="all versions of the machine's model type; the "
                                       "active version gives the reference value")
    model_type = serializers.ChoiceField(choices=ModelType.choices, required=False,
                                         help_text="with machine_id; default energy_baseline")
    metric = serializers.ChoiceField(choices=TREND_METRICS, default="rmse")
    bucket = serializers.ChoiceField(choices=("hour", "day", "week"), default="day")
    start = AwareDateTimeField(required=False, clamp=True, help_text="inclusive")
    end = AwareDateTimeField(required=False, clamp=True, help_text="exclusive; after start")

    def validate(self, attrs):
        if not attrs.get("model_id") and not attrs.get("machine_id"):
            raise serializers.ValidationError({"model_id": ["Give model_id or machine_id."]})
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": ["end must be after start."]})
        return attrs


@extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(TREND_METRICS)}, "minItems": 1})
class TrendMetricsField(serializers.Field):
    """A comma-separated list of trend metrics (`r_squared,rmse,nmbe`); a metric named twice counts once."""

    default_error_messages = {
        "empty": "Give one or more metrics, separated by commas.",
        "unknown": "Unknown metric(s): {names}. Choose from: {choices}.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("empty")
        names = [name.strip() for name in data.split(",")]
        if not data.strip() or any(not name for name in names):
            self.fail("empty")
        unknown = sorted({name for name in names if name not in TREND_METRICS})
        if unknown:
            self.fail("unknown", names=", ".join(unknown)[:200], choices=", ".join(TREND_METRICS))
        return list(dict.fromkeys(names))

    def to_representation(self, value):
        return ",".join(value)


class TrendsQuerySerializer(TrendQuerySerializer):
    metric = None
    metrics = TrendMetricsField(help_text="comma-separated: " + ", ".join(TREND_METRICS))


class TrendPointSerializer(serializers.Serializer):
    t = serializers.DateTimeField()
    value = serializers.FloatField()
    n = serializers.IntegerField()


class TrendSerializer(serializers.Serializer):
    model_id = serializers.UUIDField(allow_null=True)
    metric = serializers.CharField()
    bucket = serializers.CharField()
    points = TrendPointSerializer(many=True)
    reference_value = serializers.FloatField(allow_null=True)


class TrendsSerializer(serializers.Serializer):
    model_id = serializers.UUIDField(allow_null=True)
    bucket = serializers.CharField()
    trends = serializers.DictField(child=TrendSerializer(),
                                   help_text="one `metrics/trend` answer per metric asked for, keyed by the metric")


def _window_check(attrs, start_key, end_key):
    if attrs.get(start_key) and attrs.get(end_key) and attrs[start_key] >= attrs[end_key]:
        raise serializers.ValidationError({end_key: [f"{end_key} must be after {start_key}."]})


class DriftCheckRequestSerializer(ClosedSerializer):
    model_id = serializers.UUIDField()
    reference_start = AwareDateTimeField(required=False, help_text="default: the model's training window")
    reference_end = AwareDateTimeField(required=False)
    current_start = AwareDateTimeField(required=False, help_text="default: the latest 7 days of readings")
    current_end = AwareDateTimeField(required=False)

    def validate(self, attrs):
        _window_check(attrs, "reference_start", "reference_end")
        _window_check(attrs, "current_start", "current_end")
        return attrs


class FeatureDriftSerializer(serializers.Serializer):
    psi = serializers.FloatField(allow_null=True)
    ks_statistic = serializers.FloatField(allow_null=True)
    ks_pvalue = serializers.FloatField(allow_null=True)
    wasserstein = serializers.FloatField(allow_null=True)
    drifted = serializers.BooleanField()


class ConceptDriftSerializer(serializers.Serializer):
    nmbe = serializers.FloatField(allow_null=True)
    cv_rmse = serializers.FloatField(allow_null=True)
    error_ratio = serializers.FloatField(allow_null=True)
    change_point = serializers.DateTimeField(allow_null=True)
    drifted = serializers.BooleanField()


DRIFT_SEVERITIES = ("none", "warning", "critical")


class DriftSeverityField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=DRIFT_SEVERITIES, **kwargs)


class DriftSeverityFieldExtension(OpenApiSerializerFieldExtension):
    """Its own named enum: alert severities are only warning/critical, and two choice sets under the
    one field name `severity` would otherwise get an arbitrary generated name."""

    target_class = DriftSeverityField

    def map_serializer_field(self, auto_schema, direction):
        component = ResolvedComponent(
            name="DriftSeverityEnum", type=ResolvedComponent.SCHEMA, object="DriftSeverityEnum",
            schema={"type": "string", "enum": list(DRIFT_SEVERITIES),
                    "description": "none: no drift; warning or critical: an alert was raised or counted"},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class DriftActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=("retrain", "notify"))
    training_id = serializers.UUIDField(required=False, allow_null=True,
                                        help_text="retrain: the job started (or the one already open)")


class SuggestedActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=("retrain", "notify"))
    permission = serializers.CharField(help_text="the permission the caller lacks for doing it")


class DriftCheckResponseSerializer(serializers.Serializer):
    metric_id = serializers.UUIDField()
    drift_detected = serializers.BooleanField()
    drift_score = serializers.FloatField(min_value=0, max_value=1)
    severity = DriftSeverityField()
    data_drift = serializers.DictField(child=FeatureDriftSerializer())
    concept_drift = ConceptDriftSerializer()
    alert_id = serializers.UUIDField(allow_null=True)
    actions = DriftActionSerializer(many=True, help_text="what the check set off; [] when nothing")
    suggested_actions = SuggestedActionSerializer(
        many=True, help_text="what the policy calls for but the caller may not do: listed, not done")


HYPERPARAMETERS_SCHEMA = {
    "type": "object",
    "description": "overrides of the fitting defaults",
    "properties": {
        "algorithm": {"type": "string", "enum": ["ridge", "linear", "gbr"]},
        "alpha": {"type": "number", "minimum": 0, "maximum": 1e6},
        "holdout_fraction": {"type": "number", "minimum": 0.05, "maximum": 0.5},
        "time_of_week": {"type": "boolean"},
    },
    "additionalProperties": False,
}


@extend_schema_field(HYPERPARAMETERS_SCHEMA)
class HyperparametersField(serializers.DictField):
    """Checked key by key in `RetrainTriggerSerializer.validate_hyperparameters`."""


class RetrainTriggerSerializer(ClosedSerializer):
    model_id = serializers.UUIDField(required=False, help_text="retrain this version's machine and model type")
    machine_id = serializers.UUIDField(required=False, help_text="with model_type: e.g. a machine's first training")
    model_type = serializers.ChoiceField(choices=ModelType.choices, required=False)
    trigger_type = serializers.ChoiceField(choices=TriggerType.choices, default=TriggerType.MANUAL)
    training_start = AwareDateTimeField(required=False)
    training_end = AwareDateTimeField(required=False)
    hyperparameters = HyperparametersField(required=False, default=dict)

    def validate_hyperparameters(self, value):
        allowed = {"alpha": (0.0, 1e6), "holdout_fraction": (0.05, 0.5)}
        errors = []
        for key, item in value.items():
            if key == "algorithm":
                if item not in ("ridge", "linear", "gbr"):
                    errors.append("algorithm must be one of ridge, linear, gbr.")
            elif key == "time_of_week":
                if not isinstance(item, bool):
                    errors.append("time_of_week must be true or false.")
            elif key in allowed:
                low, high = allowed[key]
                try:
                    number = FiniteFloatField().to_internal_value(item)
                except serializers.ValidationError:
                    errors.append(f"{key} must be a finite number.")
                    continue
                if not low <= number <= high:
                    errors.append(f"{key} must lie in [{low}, {high}].")
            else:
                errors.append(f"Unknown hyperparameter {key!r}; known: algorithm, alpha, holdout_fraction, "
                              "time_of_week.")
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate(self, attrs):
        if not attrs.get("model_id") and not (attrs.get("machine_id") and attrs.get("model_type")):
            raise serializers.ValidationError({"model_id": ["Give model_id, or machine_id and model_type."]})
        _window_check(attrs, "training_start", "training_end")
        return attrs


class RetrainAcceptedSerializer(serializers.Serializer):
    training_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=[TrainingStatus.PENDING])


class TrainingHistorySerializer(serializers.ModelSerializer):
    model_id = serializers.UUIDField(read_only=True, allow_null=True)
    new_model_id = serializers.UUIDField(read_only=True, allow_null=True)
    machine_id = serializers.UUIDField(read_only=True)
    triggered_by = serializers.CharField(source="triggered_by.username", read_only=True, allow_null=True,
                                         default=None)

    class Meta:
        model = ModelTrainingHistory
        fields = (
            "id", "model_id", "new_model_id", "machine_id", "model_type", "trigger_type", "trigger_reason", "status",
            "outcome", "triggered_by", "created_at", "started_at", "completed_at", "duration_seconds", "attempts",
            "training_start", "training_end", "sample_count", "hyperparameters", "previous_metrics", "new_metrics",
            "performance_improvement", "error_message",
        )
        read_only_fields = fields


@extend_schema_field({"type": "number", "minimum": 0, "maximum": 1, "exclusiveMinimum": True,
                      "exclusiveMaximum": True})
class OpenUnitIntervalField(FiniteFloatField):
    """A share strictly between 0 and 1."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not 0 < value < 1:
            raise serializers.ValidationError("Must lie strictly between 0 and 1.")
        return value


class ABTestStartSerializer(ClosedSerializer):
    name = StrictCharField(max_length=200)
    model_a_id = serializers.UUIDField(help_text="the champion")
    model_b_id = serializers.UUIDField(help_text="the challenger: another version of the same machine and type")
    traffic_split = OpenUnitIntervalField(default=0.5, help_text="share of readings served by model B, 0 < s < 1")
    duration_days = StrictIntegerField(default=14, min_value=1, max_value=365)
    min_samples = StrictIntegerField(default=168, min_value=2, max_value=1_000_000)
    auto_promote = StrictBooleanField(default=False)
    window_start = AwareDateTimeField(required=False, help_text="with window_end: backtest this past window "
                                      "on stored readings, decided at once")
    window_end = AwareDateTimeField(required=False, help_text="in the past, after window_start")

    def validate(self, attrs):
        if bool(attrs.get("window_start")) != bool(attrs.get("window_end")):
            raise serializers.ValidationError({"window_end": ["Give both window_start and window_end, or neither."]})
        _window_check(attrs, "window_start", "window_end")
        return attrs


CONFIDENCE_HELP = (
    "1 − p of the paired test (two-sided p-value of the mean loss difference): 0.97 means a difference "
    "at least this large would turn up in 3 % of tests between equally good versions; it is not the "
    "probability that the winner is better. Null while it cannot be computed."
)


class ABTestSerializer(serializers.ModelSerializer):
    machine_id = serializers.UUIDField(read_only=True)
    model_a_id = serializers.UUIDField(read_only=True)
    model_b_id = serializers.UUIDField(read_only=True)
    winner_model_id = serializers.UUIDField(source="winner_id", read_only=True, allow_null=True)

    class Meta:
        model = ModelABTest
        fields = (
            "id", "name", "machine_id", "model_type", "model_a_id", "model_b_id", "traffic_split", "status",
            "decision", "winner_model_id", "confidence", "started_at", "ends_at", "completed_at", "duration_days",
            "min_samples", "auto_promote", "is_backtest", "created_at",
        )
        read_only_fields = fields
        extra_kwargs = {"confidence": {"help_text": CONFIDENCE_HELP}}


class ArmSerializer(serializers.Serializer):
    model_id = serializers.UUIDField()
    n = serializers.IntegerField()
    mae = serializers.FloatField(allow_null=True)
    rmse = serializers.FloatField(allow_null=True)
    cv_rmse = serializers.FloatField(allow_null=True)
    nmbe = serializers.FloatField(allow_null=True)


class ArmsSerializer(serializers.Serializer):
    a = ArmSerializer()
    b = ArmSerializer()


class PairedSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    mean_loss_difference = serializers.FloatField(allow_null=True)
    statistic = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    method = serializers.CharField(
        required=False, help_text="the paired test that decided, e.g. dm_ewc_arp (see performance/abstats.py)"
    )


class ABResultsSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    decision = serializers.ChoiceField(choices=("running", "a_wins", "b_wins", "inconclusive"))
    winner_model_id = serializers.UUIDField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True, help_text=CONFIDENCE_HELP)
    arms = ArmsSerializer()
    paired = PairedSerializer()
    ends_at = serializers.DateTimeField()
    reason = serializers.CharField(allow_null=True, required=False)


@extend_schema_field(serializers.ChoiceField(choices=Severity.choices))
class PeakSeverityField(serializers.Field):
    """The worst severity the alert reached (its current one for alerts stored before peaks were kept)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, alert):
        return alert.peak_severity or alert.severity


@extend_schema_field(serializers.ChoiceField(choices=AlertResolution.choices, allow_null=True))
class ResolutionField(serializers.Field):
    """How the alert was closed; null while it is open."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, alert):
        return alert.resolution or None


class AlertSerializer(serializers.ModelSerializer):
    peak_severity = PeakSeverityField()
    resolution = ResolutionField()
    model_id = serializers.UUIDField(read_only=True, allow_null=True)
    machine_id = serializers.UUIDField(read_only=True)
    metric_id = serializers.UUIDField(read_only=True, allow_null=True,
                                      help_text="The check (metrics row) that set the current severity.")
    peak_metric_id = serializers.UUIDField(read_only=True, allow_null=True,
                                           help_text="The check that first reached the peak severity.")
    resolved_by = serializers.CharField(source="resolved_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ModelAlert
        fields = (
            "id", "model_id", "machine_id", "model_type", "alert_type", "severity", "peak_severity", "metric_id",
            "peak_metric_id", "message", "details", "occurrences", "first_seen", "last_seen", "is_resolved",
            "resolution", "resolved_at", "resolved_by", "resolution_notes", "auto_action_taken",
        )
        read_only_fields = fields


class ActiveAlertSerializer(serializers.ModelSerializer):
    peak_severity = PeakSeverityField()
    model_id = serializers.UUIDField(read_only=True, allow_null=True)
    machine_id = serializers.UUIDField(read_only=True)
    metric_id = serializers.UUIDField(read_only=True, allow_null=True)
    peak_metric_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = UnresolvedModelAlert
        fields = (
            "id", "model_id", "machine_id", "machine_name", "model_type", "alert_type", "severity", "peak_severity",
            "metric_id", "peak_metric_id", "message", "details", "occurrences", "first_seen", "last_seen",
            "auto_action_taken",
        )
        read_only_fields = fields


class ActiveAlertQuerySerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    machine_id = serializers.UUIDField(required=False)
    model_type = serializers.ChoiceField(choices=ModelType.choices, required=False)
    alert_type = serializers.ChoiceField(choices=AlertType.choices, required=False)


class ResolveSerializer(ClosedSerializer):
    resolution_notes = StrictCharField(required=False, allow_blank=True, default="", max_length=10_000, multiline=True)


class RebaselineSerializer(ClosedSerializer):
    reason = StrictCharField(max_length=10_000, multiline=True,
                             help_text="Why the new consumption level is the new normal; kept with the training job.")
    training_start = AwareDateTimeField(required=False, help_text="Default: the change point in the alert's evidence.")


class StopSerializer(ClosedSerializer):
    reason = StrictCharField(required=False, allow_blank=True, default="", max_length=10_000, multiline=True)


class RebaselineAcceptedSerializer(serializers.Serializer):
    training_id = serializers.UUIDField()

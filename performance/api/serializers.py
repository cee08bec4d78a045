from rest_framework import serializers

from baselines.models import ModelType
from enms.fields import FiniteFloatField
from enms.rows import RowField, serializer_for

from ..models import (
    AlertType,
    ModelABTest,
    ModelAlert,
    ModelPerformanceMetric,
    ModelTrainingHistory,
    Severity,
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
    RowField("r_squared", "float", max_value=1),
    RowField("rmse", "float", min_value=0),
    RowField("mae", "float", min_value=0),
    RowField("mape", "float", min_value=0),
    RowField("wape", "float", min_value=0),
    RowField("cv_rmse", "float", min_value=0),
    RowField("nmbe", "float"),
    RowField("precision", "float", min_value=0, max_value=1),
    RowField("recall", "float", min_value=0, max_value=1),
    RowField("f1_score", "float", min_value=0, max_value=1),
    RowField("drift_detected", "bool"),
    RowField("drift_score", "float", min_value=0, max_value=1),
    RowField("drift_details", "json"),
)
MetricRecordSerializer = serializer_for("MetricRecord", METRIC_ROW)
MAX_METRIC_ROWS = 10_000


class MetricSerializer(serializers.ModelSerializer):
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
    model_id = serializers.UUIDField(required=False)
    machine_id = serializers.UUIDField(required=False)
    model_type = serializers.ChoiceField(choices=ModelType.choices, required=False)
    metric = serializers.ChoiceField(choices=TREND_METRICS, default="rmse")
    bucket = serializers.ChoiceField(choices=("hour", "day", "week"), default="day")
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        if not attrs.get("model_id") and not attrs.get("machine_id"):
            raise serializers.ValidationError({"model_id": ["Give model_id or machine_id."]})
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"end": ["end must be after start."]})
        return attrs


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


def _window_check(attrs, start_key, end_key):
    if attrs.get(start_key) and attrs.get(end_key) and attrs[start_key] >= attrs[end_key]:
        raise serializers.ValidationError({end_key: [f"{end_key} must be after {start_key}."]})


class DriftCheckRequestSerializer(serializers.Serializer):
    model_id = serializers.UUIDField()
    reference_start = serializers.DateTimeField(required=False)
    reference_end = serializers.DateTimeField(required=False)
    current_start = serializers.DateTimeField(required=False)
    current_end = serializers.DateTimeField(required=False)

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


class DriftCheckResponseSerializer(serializers.Serializer):
    metric_id = serializers.UUIDField()
    drift_detected = serializers.BooleanField()
    drift_score = serializers.FloatField()
    severity = serializers.ChoiceField(choices=("none", "warning", "critical"))
    data_drift = serializers.DictField(child=FeatureDriftSerializer())
    concept_drift = ConceptDriftSerializer()
    alert_id = serializers.UUIDField(allow_null=True)


class RetrainTriggerSerializer(serializers.Serializer):
    model_id = serializers.UUIDField(required=False)
    machine_id = serializers.UUIDField(required=False)
    model_type = serializers.ChoiceField(choices=ModelType.choices, required=False)
    trigger_type = serializers.ChoiceField(choices=TriggerType.choices, default=TriggerType.MANUAL)
    training_start = serializers.DateTimeField(required=False)
    training_end = serializers.DateTimeField(required=False)
    hyperparameters = serializers.DictField(required=False, default=dict)

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
    status = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    training_id = serializers.UUIDField(required=False)
    ab_test_id = serializers.UUIDField(required=False)


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


class ABTestStartSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    model_a_id = serializers.UUIDField()
    model_b_id = serializers.UUIDField()
    traffic_split = FiniteFloatField(default=0.5)
    duration_days = serializers.IntegerField(default=14, min_value=1, max_value=365)
    min_samples = serializers.IntegerField(default=168, min_value=2, max_value=1_000_000)
    auto_promote = serializers.BooleanField(default=False)
    window_start = serializers.DateTimeField(required=False)
    window_end = serializers.DateTimeField(required=False)

    def validate_traffic_split(self, value):
        if not 0 < value < 1:
            raise serializers.ValidationError("traffic_split must lie strictly between 0 and 1.")
        return value

    def validate(self, attrs):
        if bool(attrs.get("window_start")) != bool(attrs.get("window_end")):
            raise serializers.ValidationError({"window_end": ["Give both window_start and window_end, or neither."]})
        _window_check(attrs, "window_start", "window_end")
        return attrs


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


class ABResultsSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    decision = serializers.ChoiceField(choices=("running", "a_wins", "b_wins", "inconclusive"))
    winner_model_id = serializers.UUIDField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    arms = ArmsSerializer()
    paired = PairedSerializer()
    ends_at = serializers.DateTimeField()
    reason = serializers.CharField(allow_null=True, required=False)


class AlertSerializer(serializers.ModelSerializer):
    model_id = serializers.UUIDField(read_only=True, allow_null=True)
    machine_id = serializers.UUIDField(read_only=True)
    resolved_by = serializers.CharField(source="resolved_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ModelAlert
        fields = (
            "id", "model_id", "machine_id", "model_type", "alert_type", "severity", "message", "details",
            "occurrences", "first_seen", "last_seen", "is_resolved", "resolved_at", "resolved_by",
            "resolution_notes", "auto_action_taken",
        )
        read_only_fields = fields


class ActiveAlertSerializer(serializers.ModelSerializer):
    model_id = serializers.UUIDField(read_only=True, allow_null=True)
    machine_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = UnresolvedModelAlert
        fields = (
            "id", "model_id", "machine_id", "machine_name", "model_type", "alert_type", "severity", "message",
            "details", "occurrences", "first_seen", "last_seen", "auto_action_taken",
        )
        read_only_fields = fields


class ActiveAlertQuerySerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    machine_id = serializers.UUIDField(required=False)
    model_type = serializers.ChoiceField(choices=ModelType.choices, required=False)
    alert_type = serializers.ChoiceField(choices=AlertType.choices, required=False)


class ResolveSerializer(serializers.Serializer):
    resolution_notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)

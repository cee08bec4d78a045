from rest_framework import serializers

from enms.fields import FiniteFloatField
from enms.rows import RowField, serializer_for

from ..models import EnergyBaseline, EnergyReading, Machine


class MachineSerializer(serializers.ModelSerializer):
    rated_power_kw = FiniteFloatField(required=False, allow_null=True, min_value=0.000001)

    class Meta:
        model = Machine
        fields = ("id", "name", "machine_type", "site", "rated_power_kw", "is_active", "created_at")
        read_only_fields = ("id", "created_at")


READING_ROW = (
    RowField("timestamp", "datetime", required=True, help_text="start of the interval, ISO 8601 with offset"),
    RowField("energy_kwh", "float", required=True, min_value=0, help_text="energy used in the interval (kWh)"),
    RowField("production_units", "float", min_value=0),
    RowField("outdoor_temp_c", "float", min_value=-90, max_value=70),
    RowField("operating_hours", "float", min_value=0),
    RowField("is_anomaly", "bool", help_text="labelled ground truth"),
)
ReadingRowSerializer = serializer_for("ReadingRow", READING_ROW)


class ReadingSerializer(serializers.ModelSerializer):
    class Meta:
        model = EnergyReading
        fields = ("timestamp", "energy_kwh", "production_units", "outdoor_temp_c", "operating_hours", "is_anomaly")


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


class RowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class RowErrorsSerializer(serializers.Serializer):
    rows = RowErrorSerializer(many=True)


class BaselineSerializer(serializers.ModelSerializer):
    machine_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = EnergyBaseline
        fields = (
            "id", "machine_id", "model_type", "version", "status", "algorithm", "features",
            "training_start", "training_end", "training_metrics", "holdout_metrics", "data_interval",
            "n_params", "training_sample_count", "driver_ranges", "hyperparameters", "artifact_sha256",
            "created_at", "activated_at", "retired_at",
        )
        read_only_fields = fields


PREDICT_ROW = (
    RowField("timestamp", "datetime", required=True),
    RowField("production_units", "float"),
    RowField("outdoor_temp_c", "float"),
    RowField("operating_hours", "float"),
)
PredictRowSerializer = serializer_for("PredictRow", PREDICT_ROW)


class PredictRequestSerializer(serializers.Serializer):
    rows = PredictRowSerializer(many=True)


class PredictResponseSerializer(serializers.Serializer):
    predictions = serializers.ListField(child=serializers.FloatField())
    extrapolated = serializers.ListField(child=serializers.BooleanField())

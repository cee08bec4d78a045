from rest_framework import serializers

from enms.fields import ClosedMixin, ClosedSerializer, FiniteFloatField, StrictBooleanField, StrictCharField
from enms.rows import FastRepresentationMixin, RowField, batch_serializer_for, serializer_for

from ..models import EnergyBaseline, EnergyReading, Machine, validate_time_zone


class MachineSerializer(ClosedMixin, serializers.ModelSerializer):
    name = StrictCharField(max_length=200, help_text="one line; surrounding spaces are removed; unique ignoring "
                           "case")
    site = StrictCharField(max_length=200, required=False, allow_blank=True)
    rated_power_kw = FiniteFloatField(required=False, allow_null=True, min_value=0.000001,
                                      limit="ENMS_MAX_DRIVER_VALUE")
    is_active = StrictBooleanField(required=False)
    time_zone = StrictCharField(
        max_length=64, required=False, validators=[validate_time_zone],
        help_text="IANA time zone of the machine's site, e.g. Europe/Berlin (default: the server's TIME_ZONE); "
                  "time of week and schedules use its local clock",
    )

    class Meta:
        model = Machine
        fields = ("id", "name", "machine_type", "site", "rated_power_kw", "is_active", "time_zone", "created_at")
        read_only_fields = ("id", "created_at")

    def validate_name(self, value: str) -> str:
        name = value.strip()
        if not name:
            raise serializers.ValidationError("The name must not be blank.")
        others = Machine.objects.filter(name__iexact=name)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError("A machine with this name (ignoring case) already exists.",
                                              code="unique")
        return name


READING_ROW = (
    RowField("timestamp", "datetime", required=True, help_text="start of the interval, ISO 8601 with offset; from "
             "1970 to now plus the allowed clock skew (ENMS_MAX_CLOCK_SKEW_S)"),
    RowField("energy_kwh", "float", required=True, min_value=0, limit="ENMS_MAX_ENERGY_KWH",
             help_text="energy used in the interval (kWh)"),
    RowField("production_units", "float", min_value=0, limit="ENMS_MAX_DRIVER_VALUE"),
    RowField("outdoor_temp_c", "float", min_value=-90, max_value=70),
    RowField("operating_hours", "float", min_value=0, limit="ENMS_MAX_DRIVER_VALUE"),
    RowField("is_anomaly", "bool", help_text="labelled ground truth"),
)
ReadingRowSerializer = serializer_for("ReadingRow", READING_ROW)
MAX_READING_ROWS = 200_000
ReadingBatchSerializer = batch_serializer_for("ReadingBatch", ReadingRowSerializer, MAX_READING_ROWS)


#: The drivers of a forecast row are those of a reading (the same fields, the same bounds); the
#: time may lie up to the forecast horizon ahead.
DRIVER_FORECAST_ROW = (
    RowField("timestamp", "datetime", required=True, horizon="forecast",
             help_text="start of the hour, ISO 8601 with offset; from 1970 to now plus the forecast horizon "
                       "(ENMS_FORECAST_HORIZON_DAYS)"),
    *(f for f in READING_ROW if f.name in ("production_units", "outdoor_temp_c", "operating_hours")),
)
DriverForecastRowSerializer = serializer_for("DriverForecastRow", DRIVER_FORECAST_ROW)
MAX_DRIVER_FORECAST_ROWS = 100_000
DriverForecastBatchSerializer = batch_serializer_for(
    "DriverForecastBatch", DriverForecastRowSerializer, MAX_DRIVER_FORECAST_ROWS)


class ReadingSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = EnergyReading
        fields = ("timestamp", "energy_kwh", "production_units", "outdoor_temp_c", "operating_hours", "is_anomaly")


class IngestResultSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()


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
    RowField("timestamp", "datetime", required=True, horizon="forecast",
             help_text="from 1970 to now plus the forecast horizon (ENMS_FORECAST_HORIZON_DAYS)"),
    RowField("production_units", "float", limit="ENMS_MAX_DRIVER_VALUE"),
    RowField("outdoor_temp_c", "float", min_value=-90, max_value=70),
    RowField("operating_hours", "float", limit="ENMS_MAX_DRIVER_VALUE"),
)
PredictRowSerializer = serializer_for("PredictRow", PREDICT_ROW)


MAX_PREDICT_ROWS = 100_000
PredictBatchSerializer = batch_serializer_for("PredictBatch", PredictRowSerializer, MAX_PREDICT_ROWS)


class PredictRequestSerializer(ClosedSerializer):
    rows = PredictBatchSerializer(help_text="driver values per row (every driver the version uses); unknown keys "
                                  "are refused")


class PredictResponseSerializer(serializers.Serializer):
    predictions = serializers.ListField(child=serializers.FloatField())
    extrapolated = serializers.ListField(child=serializers.BooleanField())

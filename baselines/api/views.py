from django.db import transaction
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from enms.exceptions import READ_ERRORS, WRITE_ERRORS, error_responses
from enms.fields import StrictBooleanFilter, StrictFilterSet, TextFilter
from enms.parsers import API_PARSERS, CSVParser, JSONParser
from enms.rows import duplicate_errors, parse_aware_datetime, validate_rows
from enms.text import shown

from ..models import BaselineStatus, DriverForecast, EnergyBaseline, EnergyReading, Machine, ModelType
from ..selectors import baselines_list, readings_list
from ..services import baseline_activate, baseline_predict, driver_forecasts_ingest, readings_ingest
from .serializers import (
    DRIVER_FORECAST_ROW,
    MAX_DRIVER_FORECAST_ROWS,
    MAX_PREDICT_ROWS,
    MAX_READING_ROWS,
    PREDICT_ROW,
    READING_ROW,
    BaselineSerializer,
    DriverForecastBatchSerializer,
    IngestResultSerializer,
    MachineSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
    ReadingBatchSerializer,
    ReadingSerializer,
)


def time_window(params) -> tuple:
    """Parse optional `start`/`end` query parameters (ISO 8601 with offset), start < end."""
    window = {}
    errors = {}
    for key in ("start", "end"):
        raw = params.get(key)
        if raw is not None:
            try:
                window[key] = parse_aware_datetime(raw, clamp=True)
            except ValueError as exc:
                errors[key] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    start, end = window.get("start"), window.get("end")
    if start and end and start >= end:
        raise ValidationError({"end": ["end must be after start."]})
    return start, end


def validated_batch(request, fields: tuple, *, max_rows: int) -> tuple[list[dict], list[dict]]:
    """A JSON or CSV batch of rows checked against `fields`, including repeated timestamps:
    (clean rows, errors of every bad row)."""
    is_csv = request.content_type.split(";")[0].strip().lower() == "text/csv"
    rows, errors = validate_rows(request.data, fields, max_rows=max_rows, text_values=is_csv)
    return rows, errors or duplicate_errors(rows)


WINDOW_PARAMS = [
    OpenApiParameter("start", OpenApiTypes.DATETIME, description="ISO 8601 with offset, inclusive"),
    OpenApiParameter("end", OpenApiTypes.DATETIME, description="ISO 8601 with offset, exclusive; after start"),
]


class MachineFilter(StrictFilterSet):
    site = TextFilter()
    is_active = StrictBooleanFilter()

    class Meta:
        model = Machine
        fields = ("machine_type", "site", "is_active")


@extend_schema_view(
    list=extend_schema(responses={200: MachineSerializer(many=True), **error_responses(400, 401, 403, 404)}),
    create=extend_schema(responses={201: MachineSerializer, **error_responses(400, 401, 403, 409, 413, 415, 429)}),
    retrieve=extend_schema(responses={200: MachineSerializer, **error_responses(401, 403, 404)}),
    partial_update=extend_schema(
        responses={200: MachineSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 429)}),
)
class MachineViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Metered machines."""

    queryset = Machine.objects.all().order_by("name")
    serializer_class = MachineSerializer
    filterset_class = MachineFilter
    parser_classes = API_PARSERS
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self):
        if self.action == "driver_forecasts":
            self.permission_model, self.permission_action = DriverForecast, "add"
        if self.action == "readings":
            # Reading them needs `view`, storing them `add`, on readings (not on machines).
            self.permission_model = EnergyReading
            if self.request.method == "POST":
                self.permission_action = "add"
        return super().get_permissions()

    @extend_schema(
        methods=["GET"],
        parameters=WINDOW_PARAMS,
        responses={200: ReadingSerializer(many=True), **error_responses(400, 401, 403, 404)},
        description="Readings of the machine, oldest first, paginated.",
    )
    @extend_schema(
        methods=["POST"],
        request={
            "application/json": ReadingBatchSerializer,
            "text/csv": {"type": "string", "description": "a header row naming the columns (those of the JSON "
                         "rows), then one reading per line; a blank cell is null"},
        },
        responses={200: IngestResultSerializer, **error_responses(*WRITE_ERRORS)},
        description="Bulk upsert on (machine, timestamp). All rows or none: any bad row gives 400 with "
        "the errors of every bad row (`rows`), and nothing is written.",
        examples=[
            OpenApiExample("JSON rows", request_only=True, media_type="application/json", value=[
                {"timestamp": "2025-02-03T08:00:00+00:00", "energy_kwh": 41.2, "production_units": 20.5,
                 "outdoor_temp_c": 6.5, "operating_hours": 1.0, "is_anomaly": False},
                {"timestamp": "2025-02-03T09:00:00+00:00", "energy_kwh": 43.9, "production_units": 22.0,
                 "outdoor_temp_c": 7.0, "operating_hours": 1.0},
            ]),
            OpenApiExample("CSV", request_only=True, media_type="text/csv", value=(
                "timestamp,energy_kwh,production_units,outdoor_temp_c,operating_hours\n"
                "2025-02-03T08:00:00Z,41.2,20.5,6.5,1\n2025-02-03T09:00:00Z,43.9,22,7,1\n")),
        ],
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[JSONParser, CSVParser],
            filter_backends=[])
    def readings(self, request, pk=None):
        machine = self.get_object()
        if request.method == "GET":
            start, end = time_window(request.query_params)
            page = self.paginate_queryset(readings_list(machine=machine, start=start, end=end))
            return self.get_paginated_response(ReadingSerializer(page, many=True).data)
        rows, errors = validated_batch(request, READING_ROW, max_rows=MAX_READING_ROWS)
        if errors:
            return Response({"rows": errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response(readings_ingest(machine=machine, rows=rows))

    @extend_schema(
        request={
            "application/json": DriverForecastBatchSerializer,
            "text/csv": {"type": "string", "description": "a header row naming the columns (those of the JSON "
                         "rows), then one hour per line; a blank cell is null"},
        },
        responses={200: IngestResultSerializer, **error_responses(*WRITE_ERRORS)},
        description="Expected driver values (a weather forecast, a production plan) per hour, no energy. Upsert "
        "on (machine, timestamp): a later upload for the same hours replaces the values of the columns it names "
        "and keeps the others. Validated like readings, all rows or none: any bad row gives 400 with the errors "
        "of every bad row (`rows`), and nothing is written. A driver left out (or null) is unknown for that hour.",
        examples=[
            OpenApiExample("Weather forecast", request_only=True, media_type="application/json", value=[
                {"timestamp": "2025-02-03T08:00:00+00:00", "outdoor_temp_c": -2.5},
                {"timestamp": "2025-02-03T09:00:00+00:00", "outdoor_temp_c": -1.0},
            ]),
            OpenApiExample("Production plan (CSV)", request_only=True, media_type="text/csv", value=(
                "timestamp,production_units,operating_hours\n"
                "2025-02-03T08:00:00Z,20,1\n2025-02-03T09:00:00Z,22,1\n")),
        ],
    )
    @action(detail=True, methods=["post"], url_path="driver-forecasts", parser_classes=[JSONParser, CSVParser],
            filter_backends=[])
    def driver_forecasts(self, request, pk=None):
        machine = self.get_object()
        rows, errors = validated_batch(request, DRIVER_FORECAST_ROW, max_rows=MAX_DRIVER_FORECAST_ROWS)
        if errors:
            return Response({"rows": errors}, status=status.HTTP_400_BAD_REQUEST)
        named = set().union(*(raw.keys() for raw in request.data)) - {"timestamp"}
        return Response(driver_forecasts_ingest(machine=machine, rows=rows, columns=sorted(named)))


class BaselineFilter(StrictFilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_type = filters.ChoiceFilter(choices=ModelType.choices)
    status = filters.ChoiceFilter(choices=BaselineStatus.choices)

    class Meta:
        model = EnergyBaseline
        fields = ("machine_id", "model_type", "status")


@extend_schema_view(
    list=extend_schema(responses={200: BaselineSerializer(many=True), **error_responses(*READ_ERRORS)}),
    retrieve=extend_schema(responses={200: BaselineSerializer, **error_responses(401, 403, 404)}),
)
class BaselineViewSet(viewsets.ReadOnlyModelViewSet):
    """Versions of machines' models (energy baselines and anomaly detectors)."""

    serializer_class = BaselineSerializer
    filterset_class = BaselineFilter
    parser_classes = API_PARSERS

    def get_queryset(self):
        return baselines_list()

    def get_permissions(self):
        if self.action == "activate":
            self.permission_model, self.permission_action = EnergyBaseline, "change"
        elif self.action == "predict":
            # A computation from a version, not a write: it needs the right to view versions.
            self.permission_model, self.permission_action = EnergyBaseline, "view"
        return super().get_permissions()

    @extend_schema(
        request=PredictRequestSerializer,
        responses={200: PredictResponseSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 429)},
        description="Predicted kWh per row, and whether any driver lies outside the range the version was "
        "trained on. Energy baselines only; every driver the version uses must be given. Needs the permission "
        "to view baselines. 409 when the version's stored model fails its signature or type check (it is not "
        "loaded).",
        examples=[OpenApiExample("Two hours", request_only=True, value={"rows": [
            {"timestamp": "2025-02-03T08:00:00Z", "production_units": 20.5, "outdoor_temp_c": 6.5,
             "operating_hours": 1.0},
            {"timestamp": "2025-02-03T09:00:00Z", "production_units": 22.0, "outdoor_temp_c": 7.0,
             "operating_hours": 1.0},
        ]})],
    )
    @action(detail=True, methods=["post"], serializer_class=PredictRequestSerializer)
    def predict(self, request, pk=None):
        baseline = self.get_object()
        body = request.data
        if not isinstance(body, dict) or "rows" not in body:
            raise ValidationError({"rows": ["This field is required."]})
        if set(body) != {"rows"}:
            unknown = ", ".join(sorted(shown(k) for k in set(body) - {"rows"}))
            raise ValidationError({"non_field_errors": [f"Unknown field(s): {unknown}."]})
        rows, errors = validate_rows(body["rows"], PREDICT_ROW, max_rows=MAX_PREDICT_ROWS)
        if errors:
            return Response({"rows": errors}, status=status.HTTP_400_BAD_REQUEST)
        if baseline.model_type != ModelType.ENERGY_BASELINE:
            raise ValidationError({"detail": "Only energy baselines predict kWh."})
        return Response(baseline_predict(baseline=baseline, rows=rows))

    @extend_schema(
        request=None,
        responses={200: BaselineSerializer, **error_responses(400, 401, 403, 404, 413, 429)},
        description="Make this version the active one of its machine and model type; the previous active "
        "version is retired. 400 for a version without a fitted model.",
    )
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        if request.data:
            fields = ", ".join(sorted(map(shown, request.data))) if isinstance(request.data, dict) else None
            raise ValidationError({"non_field_errors": [f"Unknown field(s): {fields}." if fields
                                                        else "This command takes no body."]})
        baseline = self.get_object()
        if not baseline.artifact_sha256:
            raise ValidationError({"detail": "This version has no fitted model and cannot be activated."})
        with transaction.atomic():
            activated = baseline_activate(baseline=baseline, user=request.user)
        return Response(BaselineSerializer(activated).data)

from django.db import transaction
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from enms.parsers import CSVParser
from enms.rows import parse_aware_datetime, validate_rows

from ..models import BaselineStatus, EnergyBaseline, EnergyReading, Machine, ModelType
from ..selectors import baselines_list, readings_list
from ..services import baseline_activate, baseline_predict, readings_ingest
from .serializers import (
    PREDICT_ROW,
    READING_ROW,
    BaselineSerializer,
    IngestResultSerializer,
    MachineSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
    ReadingRowSerializer,
    ReadingSerializer,
    RowErrorsSerializer,
)

ERRORS = {
    400: OpenApiResponse(description="Invalid input"),
    401: OpenApiResponse(description="Not authenticated"),
    403: OpenApiResponse(description="No permission"),
    404: OpenApiResponse(description="Not found"),
}


def time_window(params) -> tuple:
    """Parse optional `start`/`end` query parameters (ISO 8601 with offset), start < end."""
    window = {}
    errors = {}
    for key in ("start", "end"):
        raw = params.get(key)
        if raw:
            try:
                window[key] = parse_aware_datetime(raw)
            except ValueError as exc:
                errors[key] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    start, end = window.get("start"), window.get("end")
    if start and end and start >= end:
        raise ValidationError({"end": ["end must be after start."]})
    return start, end


WINDOW_PARAMS = [
    OpenApiParameter("start", str, description="ISO 8601 with offset, inclusive"),
    OpenApiParameter("end", str, description="ISO 8601 with offset, exclusive"),
]


@extend_schema_view(
    list=extend_schema(responses={200: MachineSerializer(many=True), 401: ERRORS[401]}),
    create=extend_schema(responses={201: MachineSerializer, **ERRORS}),
    retrieve=extend_schema(responses={200: MachineSerializer, 401: ERRORS[401], 404: ERRORS[404]}),
    partial_update=extend_schema(responses={200: MachineSerializer, **ERRORS}),
)
class MachineViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Metered machines."""

    queryset = Machine.objects.all().order_by("name")
    serializer_class = MachineSerializer
    filterset_fields = ("machine_type", "site", "is_active")
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self):
        if self.action == "readings" and self.request.method == "POST":
            self.permission_model, self.permission_action = EnergyReading, "add"
        return super().get_permissions()

    @extend_schema(
        methods=["GET"],
        parameters=WINDOW_PARAMS,
        responses={200: ReadingSerializer(many=True), **ERRORS},
        description="Readings of the machine, oldest first, paginated.",
    )
    @extend_schema(
        methods=["POST"],
        request={"application/json": ReadingRowSerializer(many=True), "text/csv": {"type": "string"}},
        responses={200: IngestResultSerializer, 400: RowErrorsSerializer, 401: ERRORS[401], 403: ERRORS[403],
                   404: ERRORS[404], 413: OpenApiResponse(description="Body too large"),
                   415: OpenApiResponse(description="Unsupported media type")},
        description="Bulk upsert on (machine, timestamp). All rows or none: any bad row gives 400 with "
        "the errors of every bad row.",
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[JSONParser, CSVParser],
            filter_backends=[], pagination_class=viewsets.GenericViewSet.pagination_class)
    def readings(self, request, pk=None):
        machine = self.get_object()
        if request.method == "GET":
            start, end = time_window(request.query_params)
            page = self.paginate_queryset(readings_list(machine=machine, start=start, end=end))
            return self.get_paginated_response(ReadingSerializer(page, many=True).data)
        is_csv = request.content_type.split(";")[0].strip() == "text/csv"
        rows, errors = validate_rows(request.data, READING_ROW, max_rows=200_000, blank_is_null=is_csv)
        if not errors:
            seen: dict = {}
            for index, row in enumerate(rows):
                if row["timestamp"] in seen:
                    errors.append({"index": index, "errors": {"timestamp": [
                        f"Duplicate of row {seen[row['timestamp']]} in this request."]}})
                seen.setdefault(row["timestamp"], index)
        if errors:
            return Response({"rows": errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response(readings_ingest(machine=machine, rows=rows))


class BaselineFilter(filters.FilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_type = filters.ChoiceFilter(choices=ModelType.choices)
    status = filters.ChoiceFilter(choices=BaselineStatus.choices)

    class Meta:
        model = EnergyBaseline
        fields = ("machine_id", "model_type", "status")


@extend_schema_view(
    list=extend_schema(responses={200: BaselineSerializer(many=True), 400: ERRORS[400], 401: ERRORS[401]}),
    retrieve=extend_schema(responses={200: BaselineSerializer, 401: ERRORS[401], 404: ERRORS[404]}),
)
class BaselineViewSet(viewsets.ReadOnlyModelViewSet):
    """Versions of machines' models (energy baselines and anomaly detectors)."""

    serializer_class = BaselineSerializer
    filterset_class = BaselineFilter

    def get_queryset(self):
        return baselines_list()

    def get_permissions(self):
        if self.action == "activate":
            self.permission_model, self.permission_action = EnergyBaseline, "change"
        elif self.action == "predict":
            self._ignore_model_permissions = True  # a computation, not a write
        return super().get_permissions()

    @extend_schema(request=PredictRequestSerializer, responses={200: PredictResponseSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def predict(self, request, pk=None):
        baseline = self.get_object()
        body = request.data
        if not isinstance(body, dict) or "rows" not in body:
            raise ValidationError({"rows": ["This field is required."]})
        rows, errors = validate_rows(body["rows"], PREDICT_ROW, max_rows=100_000)
        if errors:
            return Response({"rows": errors}, status=status.HTTP_400_BAD_REQUEST)
        if baseline.model_type != ModelType.ENERGY_BASELINE:
            raise ValidationError({"detail": "Only energy baselines predict kWh."})
        return Response(baseline_predict(baseline=baseline, rows=rows))

    @extend_schema(request=None, responses={200: BaselineSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        baseline = self.get_object()
        if not baseline.artifact_sha256:
            raise ValidationError({"detail": "This version has no fitted model and cannot be activated."})
        with transaction.atomic():
            activated = baseline_activate(baseline=baseline, user=request.user)
        return Response(BaselineSerializer(activated).data)

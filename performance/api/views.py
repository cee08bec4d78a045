from django.db import transaction
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from baselines.api.views import ERRORS, WINDOW_PARAMS, time_window
from baselines.models import EnergyBaseline, Machine, ModelType
from enms.rows import validate_rows

from ..models import (
    AlertType,
    MetricSource,
    ModelABTest,
    ModelAlert,
    ModelPerformanceMetric,
    ModelTrainingHistory,
    Severity,
    TrainingStatus,
    TriggerType,
)
from ..selectors import abtests_list, alerts_active, alerts_list, metrics_list, metrics_trend, training_history_list
from ..services.abtests import abtest_results, abtest_start_from_api
from ..services.alerts import alert_resolve
from ..services.drift import drift_check
from ..services.metrics import metrics_record
from ..services.training import training_trigger
from .serializers import (
    MAX_METRIC_ROWS,
    METRIC_ROW,
    ABResultsSerializer,
    ABTestSerializer,
    ABTestStartSerializer,
    ActiveAlertQuerySerializer,
    ActiveAlertSerializer,
    AlertSerializer,
    ConflictSerializer,
    DriftCheckRequestSerializer,
    DriftCheckResponseSerializer,
    MetricRecordSerializer,
    MetricSerializer,
    ResolveSerializer,
    RetrainAcceptedSerializer,
    RetrainTriggerSerializer,
    TrainingHistorySerializer,
    TrendQuerySerializer,
    TrendSerializer,
)

CONFLICT = {409: ConflictSerializer}


class MetricFilter(filters.FilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_id = filters.UUIDFilter(field_name="model_id")
    model_type = filters.ChoiceFilter(choices=ModelType.choices)
    source = filters.ChoiceFilter(choices=MetricSource.choices)
    start = filters.IsoDateTimeFilter(field_name="evaluated_at", lookup_expr="gte")
    end = filters.IsoDateTimeFilter(field_name="evaluated_at", lookup_expr="lt")

    class Meta:
        model = ModelPerformanceMetric
        fields = ("machine_id", "model_id", "model_type", "source", "start", "end")


@extend_schema_view(
    list=extend_schema(responses={200: MetricSerializer(many=True), 400: ERRORS[400], 401: ERRORS[401]}),
    retrieve=extend_schema(responses={200: MetricSerializer, 401: ERRORS[401], 404: ERRORS[404]}),
)
class MetricViewSet(viewsets.ReadOnlyModelViewSet):
    """Stored model performance metrics, newest first."""

    serializer_class = MetricSerializer
    filterset_class = MetricFilter

    def get_queryset(self):
        return metrics_list()


class MetricRecordView(GenericAPIView):
    """Record one evaluation, or a list of up to 10,000, in one bulk write."""

    permission_model, permission_action = ModelPerformanceMetric, "add"
    queryset = ModelPerformanceMetric.objects.none()

    @extend_schema(
        request=MetricRecordSerializer(many=True),
        responses={201: MetricSerializer(many=True), 400: OpenApiResponse(description="Invalid rows"),
                   401: ERRORS[401], 403: ERRORS[403], 413: OpenApiResponse(description="Body too large"),
                   415: OpenApiResponse(description="Unsupported media type")},
        description="Body: one object or a list (≤ 10,000). `machine_id` and `model_type` come from the model. "
        "One object in, one stored row out; a list in, a list out. Any bad row: 400 and nothing is stored.",
    )
    def post(self, request):
        data = request.data
        single = isinstance(data, dict)
        rows, errors = validate_rows([data] if single else data, METRIC_ROW, max_rows=MAX_METRIC_ROWS)
        models = {}
        if rows:
            ids = {r["model_id"] for r in rows}
            models = {m.pk: m for m in EnergyBaseline.objects.select_related("machine").defer(
                "artifact", "reference_stats").filter(pk__in=ids)}
        if not errors:
            for index, row in enumerate(rows):
                row_errors = {}
                if row["model_id"] not in models:
                    row_errors["model_id"] = ["No model with this id."]
                if row["evaluation_start"] and row["evaluation_end"] and row["evaluation_start"] >= row["evaluation_end"]:
                    row_errors["evaluation_end"] = ["evaluation_end must be after evaluation_start."]
                if row_errors:
                    errors.append({"index": index, "errors": row_errors})
        if errors:
            if single:
                return Response(errors[0]["errors"], status=status.HTTP_400_BAD_REQUEST)
            return Response({"rows": errors}, status=status.HTTP_400_BAD_REQUEST)
        stored = metrics_record(rows=rows, models=models)
        body = MetricSerializer(stored, many=True).data
        return Response(body[0] if single else body, status=status.HTTP_201_CREATED)


class MetricTrendView(GenericAPIView):
    """A metric over time, bucketed by hour, day or week, with the training-time reference."""

    queryset = ModelPerformanceMetric.objects.none()

    @extend_schema(parameters=[TrendQuerySerializer], responses={200: TrendSerializer, **ERRORS})
    def get(self, request):
        query = TrendQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        model = None
        if q.get("model_id"):
            model = get_object_or_404(EnergyBaseline.objects.defer("artifact"), pk=q["model_id"])
        else:
            get_object_or_404(Machine, pk=q["machine_id"])
        trend = metrics_trend(model=model, machine_id=q.get("machine_id"), model_type=q.get("model_type"),
                              metric=q["metric"], bucket=q["bucket"], start=q.get("start"), end=q.get("end"))
        return Response(TrendSerializer(trend).data)


class DriftCheckView(GenericAPIView):
    """Check one model for data and concept drift now; the verdict is stored as a metrics row."""

    permission_model, permission_action = ModelPerformanceMetric, "add"
    queryset = ModelPerformanceMetric.objects.none()

    @extend_schema(request=DriftCheckRequestSerializer, responses={200: DriftCheckResponseSerializer, **ERRORS})
    def post(self, request):
        body = DriftCheckRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        q = body.validated_data
        model = get_object_or_404(EnergyBaseline.objects.select_related("machine"), pk=q["model_id"])
        result = drift_check(
            model=model,
            reference_start=q.get("reference_start"), reference_end=q.get("reference_end"),
            current_start=q.get("current_start"), current_end=q.get("current_end"),
        )
        return Response(result)


class RetrainTriggerView(GenericAPIView):
    """Queue a (re)training job; 409 while one is pending or running for the machine and model type."""

    permission_model, permission_action = ModelTrainingHistory, "add"
    queryset = ModelTrainingHistory.objects.none()

    @extend_schema(request=RetrainTriggerSerializer,
                   responses={202: RetrainAcceptedSerializer, **ERRORS, **CONFLICT})
    def post(self, request):
        body = RetrainTriggerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        q = body.validated_data
        model = None
        if q.get("model_id"):
            model = get_object_or_404(EnergyBaseline.objects.select_related("machine"), pk=q["model_id"])
            machine, model_type = model.machine, model.model_type
        else:
            machine = get_object_or_404(Machine, pk=q["machine_id"])
            model_type = q["model_type"]
        job = training_trigger(
            machine=machine, model_type=model_type, model=model, trigger_type=q["trigger_type"],
            user=request.user, training_start=q.get("training_start"), training_end=q.get("training_end"),
            hyperparameters=q.get("hyperparameters") or {},
        )
        return Response({"training_id": job.pk, "status": job.status}, status=status.HTTP_202_ACCEPTED)


class TrainingHistoryFilter(filters.FilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_id = filters.UUIDFilter(field_name="model_id")
    status = filters.ChoiceFilter(choices=TrainingStatus.choices)
    trigger_type = filters.ChoiceFilter(choices=TriggerType.choices)
    model_type = filters.ChoiceFilter(choices=ModelType.choices)

    class Meta:
        model = ModelTrainingHistory
        fields = ("machine_id", "model_id", "status", "trigger_type", "model_type")


@extend_schema_view(
    list=extend_schema(responses={200: TrainingHistorySerializer(many=True), 400: ERRORS[400], 401: ERRORS[401]}),
    retrieve=extend_schema(responses={200: TrainingHistorySerializer, 401: ERRORS[401], 404: ERRORS[404]}),
)
class TrainingHistoryViewSet(viewsets.ReadOnlyModelViewSet):
    """Training and retraining jobs, newest first."""

    serializer_class = TrainingHistorySerializer
    filterset_class = TrainingHistoryFilter

    def get_queryset(self):
        return training_history_list().select_related("triggered_by")


class ABTestFilter(filters.FilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_id = filters.UUIDFilter(method="filter_model")
    model_type = filters.ChoiceFilter(choices=ModelType.choices)
    status = filters.ChoiceFilter(choices=ModelABTest._meta.get_field("status").choices)
    start = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    end = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = ModelABTest
        fields = ("machine_id", "model_id", "model_type", "status", "start", "end")

    def filter_model(self, queryset, name, value):
        from django.db.models import Q

        return queryset.filter(Q(model_a_id=value) | Q(model_b_id=value))


@extend_schema_view(
    list=extend_schema(responses={200: ABTestSerializer(many=True), 400: ERRORS[400], 401: ERRORS[401]}),
    retrieve=extend_schema(responses={200: ABTestSerializer, 401: ERRORS[401], 404: ERRORS[404]}),
)
class ABTestViewSet(viewsets.ReadOnlyModelViewSet):
    """A/B tests, newest first."""

    serializer_class = ABTestSerializer
    filterset_class = ABTestFilter

    def get_queryset(self):
        return abtests_list()


class ABTestStartView(GenericAPIView):
    """Start an A/B test between two versions of one machine's model (or backtest a past window)."""

    permission_model, permission_action = ModelABTest, "add"
    queryset = ModelABTest.objects.none()

    @extend_schema(request=ABTestStartSerializer, responses={201: ABTestSerializer, **ERRORS, **CONFLICT})
    def post(self, request):
        body = ABTestStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        q = body.validated_data
        versions = EnergyBaseline.objects.defer("artifact").in_bulk([q["model_a_id"], q["model_b_id"]])
        missing = {k: ["No model with this id."] for k in ("model_a_id", "model_b_id") if q[k] not in versions}
        if missing:
            raise ValidationError(missing)
        test = abtest_start_from_api(
            name=q["name"], model_a=versions[q["model_a_id"]], model_b=versions[q["model_b_id"]],
            traffic_split=q["traffic_split"], duration_days=q["duration_days"], min_samples=q["min_samples"],
            auto_promote=q["auto_promote"], user=request.user,
            window_start=q.get("window_start"), window_end=q.get("window_end"),
        )
        return Response(ABTestSerializer(test).data, status=status.HTTP_201_CREATED)


class ABTestResultsView(GenericAPIView):
    """Results of an A/B test: interim while it runs, final once decided."""

    queryset = ModelABTest.objects.all()

    @extend_schema(responses={200: ABResultsSerializer, 401: ERRORS[401], 404: ERRORS[404]})
    def get(self, request, pk):
        test = get_object_or_404(ModelABTest.objects.select_related("model_a", "model_b"), pk=pk)
        return Response(ABResultsSerializer(abtest_results(test=test)).data)


class AlertFilter(filters.FilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_id = filters.UUIDFilter(field_name="model_id")
    model_type = filters.ChoiceFilter(choices=ModelType.choices)
    alert_type = filters.ChoiceFilter(choices=AlertType.choices)
    severity = filters.ChoiceFilter(choices=Severity.choices)
    is_resolved = filters.BooleanFilter()
    start = filters.IsoDateTimeFilter(field_name="last_seen", lookup_expr="gte")
    end = filters.IsoDateTimeFilter(field_name="last_seen", lookup_expr="lt")

    class Meta:
        model = ModelAlert
        fields = ("machine_id", "model_id", "model_type", "alert_type", "severity", "is_resolved", "start", "end")


@extend_schema_view(
    list=extend_schema(responses={200: AlertSerializer(many=True), 400: ERRORS[400], 401: ERRORS[401]}),
    retrieve=extend_schema(responses={200: AlertSerializer, 401: ERRORS[401], 404: ERRORS[404]}),
)
class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """All alerts, open first, newest first."""

    serializer_class = AlertSerializer
    filterset_class = AlertFilter

    def get_queryset(self):
        return alerts_list()


class ActiveAlertsView(GenericAPIView):
    """Unresolved alerts, critical first, newest first."""

    serializer_class = ActiveAlertSerializer
    queryset = ModelAlert.objects.none()

    @extend_schema(parameters=[ActiveAlertQuerySerializer],
                   responses={200: ActiveAlertSerializer(many=True), 400: ERRORS[400], 401: ERRORS[401]})
    def get(self, request):
        query = ActiveAlertQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(alerts_active(**query.validated_data))
        return self.get_paginated_response(ActiveAlertSerializer(page, many=True).data)


class AlertResolveView(GenericAPIView):
    """Resolve an alert with notes (records who and when). Resolving twice is a no-op."""

    permission_model, permission_action = ModelAlert, "change"
    queryset = ModelAlert.objects.all()

    @extend_schema(request=ResolveSerializer, responses={200: AlertSerializer, **ERRORS})
    def post(self, request, pk):
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = get_object_or_404(ModelAlert, pk=pk)
        with transaction.atomic():
            resolved = alert_resolve(alert=alert, user=request.user, notes=body.validated_data["resolution_notes"])
        return Response(AlertSerializer(resolved).data)

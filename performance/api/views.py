from django.db import transaction
from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView, get_object_or_404
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from baselines.models import EnergyBaseline, Machine, ModelType
from enms.exceptions import READ_ERRORS, error_responses
from enms.fields import AwareDateTimeFilter, StrictBooleanFilter, StrictFilterSet
from enms.parsers import API_PARSERS
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
from ..selectors import (
    abtests_list,
    alerts_active,
    alerts_list,
    metrics_list,
    metrics_trend,
    metrics_trends,
    training_history_list,
)
from ..services.abtests import abtest_results, abtest_start_from_api, abtest_stop
from ..services.alerts import alert_rebaseline, alert_resolve
from ..services.drift import drift_check
from ..services.metrics import metrics_record
from ..services.training import ACTIVATE_PERMISSION, training_trigger
from .serializers import (
    MAX_METRIC_ROWS,
    METRIC_ROW,
    ABResultsSerializer,
    ABTestSerializer,
    ABTestStartSerializer,
    ActiveAlertQuerySerializer,
    ActiveAlertSerializer,
    AlertSerializer,
    DriftCheckRequestSerializer,
    DriftCheckResponseSerializer,
    MetricRecordBatchSerializer,
    MetricRecordSerializer,
    MetricSerializer,
    RebaselineAcceptedSerializer,
    RebaselineSerializer,
    ResolveSerializer,
    RetrainAcceptedSerializer,
    RetrainTriggerSerializer,
    StopSerializer,
    TrainingHistorySerializer,
    TrendQuerySerializer,
    TrendSerializer,
    TrendsQuerySerializer,
    TrendsSerializer,
)

# Every POST below: 401 anonymous, 403 without the model permission (or a session without its CSRF
# token), 413 body too large, 415 not JSON, 429 throttled.
POST_ERRORS = (400, 401, 403, 413, 415, 429)
EXAMPLE_MODEL_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


class MetricFilter(StrictFilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_id = filters.UUIDFilter(field_name="model_id")
    model_type = filters.ChoiceFilter(choices=ModelType.choices)
    source = filters.ChoiceFilter(choices=MetricSource.choices)
    start = AwareDateTimeFilter(field_name="evaluated_at", lookup_expr="gte", help_text="evaluated at or after")
    end = AwareDateTimeFilter(field_name="evaluated_at", lookup_expr="lt", help_text="evaluated before")

    class Meta:
        model = ModelPerformanceMetric
        fields = ("machine_id", "model_id", "model_type", "source", "start", "end")


@extend_schema_view(
    list=extend_schema(responses={200: MetricSerializer(many=True), **error_responses(*READ_ERRORS)}),
    retrieve=extend_schema(responses={200: MetricSerializer, **error_responses(401, 403, 404)}),
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
    serializer_class = MetricRecordSerializer
    parser_classes = API_PARSERS
    pagination_class = None

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="MetricRecordBody",
            serializers=[MetricRecordSerializer, MetricRecordBatchSerializer],
            resource_type_field_name=None, many=False,
        ),
        responses={
            201: PolymorphicProxySerializer(
                component_name="MetricRecordResult",
                serializers=[MetricSerializer, MetricSerializer(many=True)],
                resource_type_field_name=None, many=False,
            ),
            **error_responses(*POST_ERRORS),
        },
        description="Body: one object or a list (1 to 10,000). `machine_id` and `model_type` come from the "
        "model. One object in, one stored row out; a list in, a list out. Any bad row: 400 (for a list, "
        "`rows` names every bad row) and nothing is stored. An unknown `model_id` is a bad row.",
        examples=[OpenApiExample("One weekly evaluation", request_only=True, value={
            "model_id": EXAMPLE_MODEL_ID, "sample_count": 168, "evaluation_start": "2025-03-03T00:00:00Z",
            "evaluation_end": "2025-03-10T00:00:00Z", "r_squared": 0.91, "rmse": 2.4, "mae": 1.8, "cv_rmse": 0.06,
            "nmbe": -0.01})],
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
                start, end = row["evaluation_start"], row["evaluation_end"]
                if start and end and start >= end:
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


def _trend_query(serializer_class, params: dict):
    """A trend request's validated query and its version (``None`` when asked by machine); 404
    when the version or machine does not exist."""
    query = serializer_class(data=params)
    query.is_valid(raise_exception=True)
    q = query.validated_data
    model = None
    if q.get("model_id"):
        model = get_object_or_404(EnergyBaseline.objects.defer("artifact"), pk=q["model_id"])
    else:
        get_object_or_404(Machine, pk=q["machine_id"])
    return q, model


class MetricTrendView(GenericAPIView):
    """A metric over time, bucketed by hour, day or week, with the training-time reference."""

    queryset = ModelPerformanceMetric.objects.none()
    serializer_class = TrendSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[TrendQuerySerializer],
        responses={200: TrendSerializer, **error_responses(400, 401, 403, 404)},
        description="Mean of `metric` per bucket (`value`) and the number of metrics rows in it (`n`). Give "
        "`model_id` or `machine_id`; 404 if it does not exist.",
    )
    def get(self, request):
        q, model = _trend_query(TrendQuerySerializer, request.query_params.dict())
        trend = metrics_trend(model=model, machine_id=q.get("machine_id"), model_type=q.get("model_type"),
                              metric=q["metric"], bucket=q["bucket"], start=q.get("start"), end=q.get("end"))
        # The selector's answer is plain values already (aware datetimes, floats, ints): the JSON
        # renderer writes them as TrendSerializer documents them, without a serializer per point.
        return Response(trend)


class MetricTrendsView(GenericAPIView):
    """Several metrics over time in one answer: one `metrics/trend` per metric, from one query."""

    queryset = ModelPerformanceMetric.objects.none()
    serializer_class = TrendsSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[TrendsQuerySerializer],
        responses={200: TrendsSerializer, **error_responses(400, 401, 403, 404)},
        description="The answer of `metrics/trend` for each metric in `metrics` (comma-separated, or the parameter "
        "repeated; a metric named twice counts once), keyed by metric under `trends`, from one grouped query: "
        "what a dashboard with several trend charts asks for. Each trend holds only the buckets where its metric "
        "has values. Give `model_id` or `machine_id`; 404 if it does not exist.",
    )
    def get(self, request):
        params = request.query_params.dict()
        if "metrics" in request.query_params:
            params["metrics"] = ",".join(request.query_params.getlist("metrics"))
        q, model = _trend_query(TrendsQuerySerializer, params)
        answer = metrics_trends(model=model, machine_id=q.get("machine_id"), model_type=q.get("model_type"),
                                metrics=q["metrics"], bucket=q["bucket"], start=q.get("start"), end=q.get("end"))
        # The metrics share their buckets: each bucket's time is written once, as the JSON renderer
        # would write it, instead of once per metric.
        encode, written = JSONEncoder().default, {}
        for trend in answer["trends"].values():
            for point in trend["points"]:
                t = point["t"]
                point["t"] = written[t] if t in written else written.setdefault(t, encode(t))
        return Response(answer)


class DriftCheckView(GenericAPIView):
    """Check one model for data and concept drift now; the verdict is stored as a metrics row."""

    permission_model, permission_action = ModelPerformanceMetric, "add"
    queryset = ModelPerformanceMetric.objects.none()
    serializer_class = DriftCheckRequestSerializer
    parser_classes = API_PARSERS

    @extend_schema(
        request=DriftCheckRequestSerializer,
        responses={200: DriftCheckResponseSerializer, **error_responses(*POST_ERRORS, 404, 409)},
        description="404 for an unknown model; 400 for a version that is not a trained energy baseline or a "
        "window with too few readings; 409 when the version's stored model fails its signature or type check. "
        "A critical verdict sets off the policy's auto-actions (retraining, notification) only as far as the "
        "caller holds their permissions (`performance.add_modeltraininghistory`, `performance.change_modelalert`); "
        "the rest are listed in `suggested_actions`, not done.",
        examples=[OpenApiExample("Latest week against the training window", request_only=True,
                                 value={"model_id": EXAMPLE_MODEL_ID})],
    )
    def post(self, request):
        body = DriftCheckRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        q = body.validated_data
        model = get_object_or_404(EnergyBaseline.objects.select_related("machine"), pk=q["model_id"])
        result = drift_check(
            model=model,
            reference_start=q.get("reference_start"), reference_end=q.get("reference_end"),
            current_start=q.get("current_start"), current_end=q.get("current_end"), user=request.user,
        )
        return Response(result)


class RetrainTriggerView(GenericAPIView):
    """Queue a (re)training job; 409 while one is pending or running for the machine and model type."""

    permission_model, permission_action = ModelTrainingHistory, "add"
    queryset = ModelTrainingHistory.objects.none()
    serializer_class = RetrainTriggerSerializer
    parser_classes = API_PARSERS

    @extend_schema(
        request=RetrainTriggerSerializer,
        responses={202: RetrainAcceptedSerializer, **error_responses(*POST_ERRORS, 404, 409)},
        description="Give `model_id`, or `machine_id` and `model_type`; 404 if it does not exist. 409 (with "
        "the open job's `training_id`) while a job is pending or running for that machine and model type.",
        examples=[OpenApiExample("Retrain a model", request_only=True,
                                 value={"model_id": EXAMPLE_MODEL_ID, "trigger_type": "manual"})],
    )
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


class TrainingHistoryFilter(StrictFilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_id = filters.UUIDFilter(field_name="model_id")
    status = filters.ChoiceFilter(choices=TrainingStatus.choices)
    trigger_type = filters.ChoiceFilter(choices=TriggerType.choices)
    model_type = filters.ChoiceFilter(choices=ModelType.choices)

    class Meta:
        model = ModelTrainingHistory
        fields = ("machine_id", "model_id", "status", "trigger_type", "model_type")


@extend_schema_view(
    list=extend_schema(responses={200: TrainingHistorySerializer(many=True), **error_responses(*READ_ERRORS)}),
    retrieve=extend_schema(responses={200: TrainingHistorySerializer, **error_responses(401, 403, 404)}),
)
class TrainingHistoryViewSet(viewsets.ReadOnlyModelViewSet):
    """Training and retraining jobs, newest first."""

    serializer_class = TrainingHistorySerializer
    filterset_class = TrainingHistoryFilter

    def get_queryset(self):
        return training_history_list().select_related("triggered_by")


class ABTestFilter(StrictFilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_id = filters.UUIDFilter(method="filter_model")
    model_type = filters.ChoiceFilter(choices=ModelType.choices)
    status = filters.ChoiceFilter(choices=ModelABTest._meta.get_field("status").choices)
    start = AwareDateTimeFilter(field_name="started_at", lookup_expr="gte", help_text="started at or after")
    end = AwareDateTimeFilter(field_name="started_at", lookup_expr="lt", help_text="started before")

    class Meta:
        model = ModelABTest
        fields = ("machine_id", "model_id", "model_type", "status", "start", "end")

    def filter_model(self, queryset, name, value):
        return queryset.filter(Q(model_a_id=value) | Q(model_b_id=value))


@extend_schema_view(
    list=extend_schema(responses={200: ABTestSerializer(many=True), **error_responses(*READ_ERRORS)}),
    retrieve=extend_schema(responses={200: ABTestSerializer, **error_responses(401, 403, 404)}),
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
    serializer_class = ABTestStartSerializer
    parser_classes = API_PARSERS

    @extend_schema(
        request=ABTestStartSerializer,
        responses={201: ABTestSerializer, **error_responses(*POST_ERRORS, 409)},
        description="400 if a version does not exist, or the two belong to different machines or model types; "
        "409 (with `ab_test_id`) if the machine already has a running test. A past window is backtested on "
        "stored readings and decided at once. `auto_promote` activates the winner, so it needs the permission "
        "to activate baselines (`baselines.change_energybaseline`; 403 otherwise).",
        examples=[OpenApiExample("Two weeks, half the traffic", request_only=True, value={
            "name": "v1 vs v2", "model_a_id": EXAMPLE_MODEL_ID, "model_b_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "traffic_split": 0.5, "duration_days": 14})],
    )
    def post(self, request):
        body = ABTestStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        q = body.validated_data
        if q["auto_promote"] and not request.user.has_perm(ACTIVATE_PERMISSION):
            raise PermissionDenied("auto_promote activates the winner: it needs the permission to activate "
                                   f"baseline versions ({ACTIVATE_PERMISSION}).")
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
    serializer_class = ABResultsSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(responses={200: ABResultsSerializer, **error_responses(401, 403, 404, 409)},
                   description="409 when a version's stored model fails its signature or type check.")
    def get(self, request, pk):
        test = get_object_or_404(ModelABTest.objects.select_related("model_a", "model_b"), pk=pk)
        return Response(ABResultsSerializer(abtest_results(test=test)).data)


class AlertFilter(StrictFilterSet):
    machine_id = filters.UUIDFilter(field_name="machine_id")
    model_id = filters.UUIDFilter(field_name="model_id")
    model_type = filters.ChoiceFilter(choices=ModelType.choices)
    alert_type = filters.ChoiceFilter(choices=AlertType.choices)
    severity = filters.ChoiceFilter(choices=Severity.choices)
    is_resolved = StrictBooleanFilter()
    start = AwareDateTimeFilter(field_name="last_seen", lookup_expr="gte", help_text="last seen at or after")
    end = AwareDateTimeFilter(field_name="last_seen", lookup_expr="lt", help_text="last seen before")

    class Meta:
        model = ModelAlert
        fields = ("machine_id", "model_id", "model_type", "alert_type", "severity", "is_resolved", "start", "end")


@extend_schema_view(
    list=extend_schema(responses={200: AlertSerializer(many=True), **error_responses(*READ_ERRORS)}),
    retrieve=extend_schema(responses={200: AlertSerializer, **error_responses(401, 403, 404)}),
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
    filter_backends = []

    @extend_schema(parameters=[ActiveAlertQuerySerializer],
                   responses={200: ActiveAlertSerializer(many=True), **error_responses(*READ_ERRORS)})
    def get(self, request):
        query = ActiveAlertQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(alerts_active(**query.validated_data))
        return self.get_paginated_response(ActiveAlertSerializer(page, many=True).data)


class AlertResolveView(GenericAPIView):
    """Resolve an alert with notes (records who and when). Resolving twice is a no-op."""

    permission_model, permission_action = ModelAlert, "change"
    queryset = ModelAlert.objects.all()
    serializer_class = ResolveSerializer
    parser_classes = API_PARSERS

    @extend_schema(
        request=ResolveSerializer,
        responses={200: AlertSerializer, **error_responses(*POST_ERRORS, 404)},
        examples=[OpenApiExample("Resolve", request_only=True,
                                 value={"resolution_notes": "Compressed-air leak on line 2 fixed."})],
    )
    def post(self, request, pk):
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = get_object_or_404(ModelAlert, pk=pk)
        with transaction.atomic():
            resolved = alert_resolve(alert=alert, user=request.user, notes=body.validated_data["resolution_notes"])
        return Response(AlertSerializer(resolved).data)


class AlertRebaselineView(GenericAPIView):
    """Re-baseline from an alert: the consumption change it reports is the new normal."""

    permission_model, permission_action = EnergyBaseline, "change"
    queryset = ModelAlert.objects.all()
    serializer_class = RebaselineSerializer
    parser_classes = API_PARSERS

    @extend_schema(
        request=RebaselineSerializer,
        responses={202: RebaselineAcceptedSerializer, **error_responses(*POST_ERRORS, 404, 409)},
        description="Queues a training job with `trigger_type` `rebaseline` that learns from the change point in "
        "the alert's evidence (or `training_start`) on, keeps `reason` as its trigger reason, and resolves the "
        "alert as `rebaselined` with that reason. Needs the permission to change baselines "
        "(`baselines.change_energybaseline`). 400 without a reason or without a change point and no "
        "`training_start`; 409 when the alert is resolved or a training job is open for the machine.",
        examples=[OpenApiExample("Re-baseline after a process change", request_only=True,
                                 value={"reason": "Second shift added on line 2 from March."})],
    )
    def post(self, request, pk):
        body = RebaselineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = get_object_or_404(ModelAlert, pk=pk)
        job = alert_rebaseline(alert=alert, user=request.user, reason=body.validated_data["reason"],
                               training_start=body.validated_data.get("training_start"))
        return Response({"training_id": job.pk}, status=status.HTTP_202_ACCEPTED)


class ABTestStopView(GenericAPIView):
    """Stop a running A/B test by hand: status `stopped`, decision `inconclusive`, nothing promoted."""

    permission_model, permission_action = ModelABTest, "change"
    queryset = ModelABTest.objects.all()
    serializer_class = StopSerializer
    parser_classes = API_PARSERS

    @extend_schema(
        request=StopSerializer,
        responses={200: ABTestSerializer, **error_responses(*POST_ERRORS, 404, 409)},
        description="409 when the test is not running. Needs `performance.change_modelabtest`.",
        examples=[OpenApiExample("Stop", request_only=True, value={"reason": "Line 2 shut down for the audit."})],
    )
    def post(self, request, pk):
        body = StopSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        test = get_object_or_404(ModelABTest, pk=pk)
        stopped = abtest_stop(test=test, user=request.user, reason=body.validated_data["reason"])
        return Response(ABTestSerializer(stopped).data)

"""`GET forecast`: the degradation forecast of one energy-baseline version."""

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView, get_object_or_404
from rest_framework.response import Response

from baselines.models import EnergyBaseline, ModelType
from enms.exceptions import error_responses
from enms.fields import AwareDateTimeField, latest_time

from ..services.forecast import model_forecast

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class ForecastQuerySerializer(serializers.Serializer):
    model_id = serializers.UUIDField(help_text="an energy-baseline version")
    horizon_days = serializers.IntegerField(min_value=1, max_value=365, default=30,
                                            help_text="local calendar days from the start's day")
    start = AwareDateTimeField(required=False, clamp=True,
                               help_text="default: the hour after the machine's latest reading; an instant before "
                                         "1970 or past the forecast horizon (ENMS_FORECAST_HORIZON_DAYS) is taken as "
                                         "the nearest one inside")


class ForecastDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    source = serializers.CharField(allow_null=True, help_text="forecast, history, mixed; null: nothing known")
    out_of_range_share = serializers.FloatField(allow_null=True, help_text="share of the day's hours with a "
                                                "driver outside the version's training range")
    expected_cv_rmse = serializers.FloatField()
    expected_cv_rmse_high = serializers.FloatField(help_text="upper end of a one-sided 95 % band")
    expected_nmbe = serializers.FloatField()
    p_breach = serializers.FloatField(help_text="probability of failing the policy that day")


class ForecastSerializer(serializers.Serializer):
    model_id = serializers.UUIDField()
    start = serializers.DateTimeField()
    horizon_days = serializers.IntegerField()
    source = serializers.ChoiceField(choices=("forecast", "history", "mixed"))
    expected_breach_at = serializers.DateField(allow_null=True, help_text="first day with p_breach ≥ 0.5")
    breach_probability = serializers.FloatField(help_text="the highest p_breach of the horizon")
    reasons = serializers.ListField(child=serializers.CharField())
    policy = serializers.DictField(help_text="cv_rmse_limit, nmbe_limit, coverage_threshold in force")
    error_growth = serializers.DictField(help_text="how the relative error grows per training standard "
                                         "deviation outside the range, and what it was learned from")
    trend = serializers.DictField(allow_null=True, help_text="Theil–Sen slope of recent CV(RMSE) checks")
    reporting_hours_outside = serializers.IntegerField()
    first_reading_outside = serializers.DateTimeField(allow_null=True)
    days = ForecastDaySerializer(many=True)


class ForecastView(GenericAPIView):
    """Will this version fail its policy in the coming days, and when?"""

    queryset = EnergyBaseline.objects.none()
    serializer_class = ForecastSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(
        parameters=[ForecastQuerySerializer],
        responses={200: ForecastSerializer, **error_responses(400, 401, 403, 404, 409)},
        description="Per local day of the horizon: the share of hours with a driver outside the version's "
        "training range (drivers from the machine's driver forecasts, else the same calendar days of its earlier "
        "years), the expected CV(RMSE) and NMBE with an upper band, and the probability of failing the policy "
        "(ASHRAE limits of the version's interval, or an out-of-range share at or above the coverage threshold). "
        "Needs the permission to view baselines. 404 for an unknown version; 400 for one that is not an energy "
        "baseline; 409 when its stored model fails its signature or type check.",
    )
    def get(self, request):
        query = ForecastQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        model = get_object_or_404(EnergyBaseline.objects.select_related("machine"), pk=q["model_id"])
        if model.model_type != ModelType.ENERGY_BASELINE or not model.artifact_sha256:
            raise ValidationError({"model_id": ["Forecasts need a trained energy baseline."]})
        start = q.get("start")
        if start is not None:
            start = min(max(start, EARLIEST), latest_time("forecast"))
        result = model_forecast(model=model, horizon_days=q["horizon_days"], start=start)
        return Response(ForecastSerializer(result).data)

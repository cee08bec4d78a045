from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views
from .forecast import ForecastView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("metrics", views.MetricViewSet, basename="metric")
router.register("training-history", views.TrainingHistoryViewSet, basename="training-history")
router.register("ab-tests", views.ABTestViewSet, basename="ab-test")
router.register("alerts", views.AlertViewSet, basename="alert")

urlpatterns = [
    path("metrics/record", views.MetricRecordView.as_view(), name="metrics-record"),
    path("metrics/trend", views.MetricTrendView.as_view(), name="metrics-trend"),
    path("metrics/trends", views.MetricTrendsView.as_view(), name="metrics-trends"),
    path("drift/check", views.DriftCheckView.as_view(), name="drift-check"),
    path("retrain/trigger", views.RetrainTriggerView.as_view(), name="retrain-trigger"),
    path("ab-test/start", views.ABTestStartView.as_view(), name="ab-test-start"),
    path("ab-test/<str:pk>/results", views.ABTestResultsView.as_view(), name="ab-test-results"),
    path("ab-test/<str:pk>/stop", views.ABTestStopView.as_view(), name="ab-test-stop"),
    path("forecast", ForecastView.as_view(), name="forecast"),
    path("alerts/active", views.ActiveAlertsView.as_view(), name="alerts-active"),
    path("alerts/<str:pk>/resolve", views.AlertResolveView.as_view(), name="alert-resolve"),
    path("alerts/<str:pk>/rebaseline", views.AlertRebaselineView.as_view(), name="alert-rebaseline"),
    *router.urls,
]

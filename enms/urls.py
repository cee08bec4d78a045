from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView

from .health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/ui/fleet", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    path("docs", SpectacularSwaggerView.as_view(url_name="openapi"), name="docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("api/v1/", include("baselines.api.urls")),
    path("api/v1/model-performance/", include("performance.api.urls")),
    path("ui/", include("performance.pages")),
]

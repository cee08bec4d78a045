from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from .health import healthz

urlpatterns = [
    path("", RedirectView.as_view(url="/ui/fleet", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # The dashboard's own sign-in, for every active user (the admin's serves staff only).
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=False), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="/accounts/login/"), name="logout"),
    path("favicon.ico", RedirectView.as_view(url=settings.STATIC_URL + "favicon.svg", permanent=True)),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="openapi"),
    # The split view serves Swagger UI's start-up script as a file, so the page needs no inline
    # script under the Content-Security-Policy.
    path("docs", SpectacularSwaggerSplitView.as_view(url_name="openapi"), name="docs"),
    path("api/v1/", include("baselines.api.urls")),
    path("api/v1/model-performance/", include("performance.api.urls")),
    path("ui/", include("performance.pages")),
]

if "rest_framework.renderers.BrowsableAPIRenderer" in settings.REST_FRAMEWORK.get("DEFAULT_RENDERER_CLASSES", ()):
    # The browsable API's sign-in, only where the browsable API is on (the local profile).
    urlpatterns.append(path("api-auth/", include("rest_framework.urls")))

from django.apps import AppConfig


class PerformanceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "performance"
    verbose_name = "Model performance"

    def ready(self):
        # The scheduled cycles register their per-batch services with the fan-out.
        from .services import evaluation, forecast  # noqa: F401

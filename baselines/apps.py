from django.apps import AppConfig


class BaselinesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "baselines"
    verbose_name = "Machines and energy baselines"

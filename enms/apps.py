from django.apps import AppConfig


class EnmsConfig(AppConfig):
    """The project's own app: API tokens, and the shared cache table."""

    name = "enms"
    verbose_name = "Accounts and API access"
    default_auto_field = "django.db.models.BigAutoField"

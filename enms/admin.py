from django.contrib import admin
from django.core.exceptions import BadRequest

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are made with `manage.py api_token` (the key is shown once there); here staff see
    who holds which, when each expires and was last used, and revoke them by deleting."""

    list_display = ("prefix", "user", "name", "created_at", "expires_at", "last_used_at")
    list_filter = ("expires_at", "last_used_at")
    search_fields = ("prefix", "user__username", "name")
    readonly_fields = ("prefix", "user", "name", "created_at", "expires_at", "last_used_at")
    exclude = ("digest",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BoundedDateHierarchyMixin:
    """A ModelAdmin with `date_hierarchy` answers a year, month or day outside the calendar
    (`?timestamp__year=99999999999`, which Django's date arithmetic cannot hold) with 400 instead
    of a server error."""

    _DATE_PARTS = (("year", 1, 9999), ("month", 1, 12), ("day", 1, 31))

    def changelist_view(self, request, extra_context=None):
        field = getattr(self, "date_hierarchy", None)
        if field:
            for part, low, high in self._DATE_PARTS:
                raw = request.GET.get(f"{field}__{part}")
                if raw is None:
                    continue
                raw = raw.strip()
                if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and low <= int(raw) <= high):
                    raise BadRequest(f"{field}__{part} must be a number from {low} to {high}.")
        return super().changelist_view(request, extra_context)


def dashboard_link(machine_id, model_id=None, anchor=""):
    """A link from an admin row to the machine's (and version's) dashboard page."""
    from django.utils.html import format_html

    query = f"?machine={machine_id}" + (f"&model={model_id}" if model_id else "")
    return format_html('<a href="/ui/model-performance{}{}">dashboard</a>', query, anchor)

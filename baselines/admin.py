from django.contrib import admin, messages

from enms.admin import BoundedDateHierarchyMixin, dashboard_link

from .models import DriverForecast, EnergyBaseline, EnergyReading, Machine
from .services import baseline_activate


@admin.register(Machine)
class MachineAdmin(admin.ModelAdmin):
    list_display = ("name", "machine_type", "site", "time_zone", "rated_power_kw", "is_active", "created_at",
                    "dashboard")

    @admin.display(description="dashboard")
    def dashboard(self, obj):
        return dashboard_link(obj.pk)
    list_filter = ("machine_type", "site", "time_zone", "is_active")
    search_fields = ("name", "site")
    readonly_fields = ("id", "created_at")
    fieldsets = (
        (None, {"fields": ("id", "name", "machine_type", "site", "time_zone", "rated_power_kw", "is_active",
                           "created_at")}),
        (
            "Policy overrides",
            {
                "fields": ("policy_overrides",),
                "description": "JSON object overriding keys of the default model-performance policy for "
                "this machine, e.g. {\"degradation_margin\": 0.3, \"promotion_mode\": \"ab_test\", "
                "\"drift\": {\"psi_critical\": 0.3}}.",
            },
        ),
    )


@admin.register(EnergyReading)
class EnergyReadingAdmin(BoundedDateHierarchyMixin, admin.ModelAdmin):
    list_display = ("machine", "timestamp", "energy_kwh", "production_units", "outdoor_temp_c",
                    "operating_hours", "is_anomaly")
    list_filter = ("machine__machine_type", "is_anomaly", ("timestamp", admin.DateFieldListFilter), "machine")
    search_fields = ("machine__name",)
    date_hierarchy = "timestamp"
    list_select_related = ("machine",)
    show_full_result_count = False


@admin.register(DriverForecast)
class DriverForecastAdmin(BoundedDateHierarchyMixin, admin.ModelAdmin):
    list_display = ("machine", "timestamp", "production_units", "outdoor_temp_c", "operating_hours", "updated_at")
    list_filter = (("timestamp", admin.DateFieldListFilter), "machine")
    search_fields = ("machine__name",)
    date_hierarchy = "timestamp"
    list_select_related = ("machine",)
    show_full_result_count = False


@admin.register(EnergyBaseline)
class EnergyBaselineAdmin(admin.ModelAdmin):
    list_display = ("machine", "model_type", "version", "status", "algorithm", "holdout_cv_rmse",
                    "holdout_nmbe", "training_start", "training_end", "created_at", "dashboard")

    @admin.display(description="dashboard")
    def dashboard(self, obj):
        return dashboard_link(obj.machine_id, obj.pk)
    list_filter = ("model_type", "status", "machine__machine_type", ("created_at", admin.DateFieldListFilter),
                   "machine")
    search_fields = ("machine__name", "algorithm", "notes")
    list_select_related = ("machine",)
    actions = ["activate_selected"]
    readonly_fields = [f.name for f in EnergyBaseline._meta.fields if f.name not in ("notes",)] + [
        "holdout_cv_rmse", "holdout_nmbe"
    ]
    exclude = ("artifact",)

    def has_add_permission(self, request):
        # Versions come from training only; a hand-made version would have no fitted model.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="holdout CV(RMSE)")
    def holdout_cv_rmse(self, obj):
        value = (obj.holdout_metrics or {}).get("cv_rmse")
        return None if value is None else f"{value:.1%}"

    @admin.display(description="holdout NMBE")
    def holdout_nmbe(self, obj):
        value = (obj.holdout_metrics or {}).get("nmbe")
        return None if value is None else f"{value:+.1%}"

    @admin.action(description="Activate the selected versions (retires the previous active one)",
                  permissions=["change"])
    def activate_selected(self, request, queryset):
        for baseline in queryset:
            baseline_activate(baseline=baseline, user=request.user)
        self.message_user(request, f"Activated {queryset.count()} version(s).", messages.SUCCESS)

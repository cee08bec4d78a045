from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.html import format_html, format_html_join

from baselines.admin import EnergyBaselineAdmin
from baselines.models import EnergyBaseline
from enms.admin import BoundedDateHierarchyMixin, dashboard_link
from enms.errors import Conflict

from .models import (
    ActiveABTest,
    CycleBatch,
    CycleRun,
    LatestModelPerformance,
    ModelABTest,
    ModelAlert,
    ModelPerformanceMetric,
    ModelTrainingHistory,
    RegistryLink,
    RegistryOutbox,
    UnresolvedModelAlert,
)
from .services.abtests import abtest_start, abtest_stop
from .services.alerts import alert_resolve, alerts_resolve
from .services.registry import registry_request_sync
from .services.training import ACTIVATE_PERMISSION


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ModelPerformanceMetric)
class ModelPerformanceMetricAdmin(BoundedDateHierarchyMixin, ReadOnlyAdmin):
    list_display = ("machine", "model", "model_type", "source", "evaluated_at", "sample_count", "r_squared",
                    "rmse", "cv_rmse", "nmbe", "drift_detected", "drift_score", "ashrae_pass")
    list_filter = ("model_type", "source", "drift_detected", "ashrae_pass",
                   ("evaluated_at", admin.DateFieldListFilter), "machine")
    search_fields = ("machine__name",)
    date_hierarchy = "evaluated_at"
    list_select_related = ("machine", "model")
    show_full_result_count = False


@admin.register(ModelTrainingHistory)
class ModelTrainingHistoryAdmin(ReadOnlyAdmin):
    list_display = ("machine", "model_type", "trigger_type", "status", "outcome", "created_at", "duration_seconds",
                    "performance_improvement", "new_model")
    list_filter = ("status", "trigger_type", "model_type", ("created_at", admin.DateFieldListFilter), "machine")
    search_fields = ("machine__name", "error_message", "trigger_reason")
    list_select_related = ("machine", "new_model")


class ResolveAlertsForm(forms.Form):
    resolution_notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)


class ResolveAlertForm(forms.ModelForm):
    resolve = forms.BooleanField(required=False, help_text="Mark this alert resolved (records you and the time).")

    class Meta:
        model = ModelAlert
        fields = ("resolution_notes",)


@admin.register(ModelAlert)
class ModelAlertAdmin(admin.ModelAdmin):
    form = ResolveAlertForm
    list_display = ("message_short", "machine", "alert_type", "severity", "peak_severity", "occurrences",
                    "last_seen", "is_resolved", "resolution", "resolved_at", "resolved_by", "notes_short", "dashboard")
    list_filter = ("is_resolved", "severity", "alert_type", "model_type", ("last_seen", admin.DateFieldListFilter),
                   "machine")
    search_fields = ("message", "machine__name", "resolution_notes")
    list_select_related = ("machine", "resolved_by")
    actions = ["resolve_selected"]
    readonly_fields = ("id", "dashboard", "machine", "model", "model_type", "alert_type", "severity", "peak_severity",
                       "message", "evidence", "metric", "peak_metric", "occurrences", "first_seen", "last_seen",
                       "is_resolved", "resolution", "resolved_at", "resolved_by", "auto_action_taken", "notified_at",
                       "notification_error")
    exclude = ("details",)

    def changelist_view(self, request, extra_context=None):
        # Open alerts by default: the list answers "what needs a person" unless asked otherwise.
        if not any(key.startswith("is_resolved") for key in request.GET) and "q" not in request.GET:
            query = request.GET.copy()
            query["is_resolved__exact"] = "0"
            request.GET = query
            request.META["QUERY_STRING"] = query.urlencode()
        return super().changelist_view(request, extra_context)

    @admin.display(description="notes")
    def notes_short(self, obj):
        return obj.resolution_notes[:60]

    @admin.display(description="dashboard")
    def dashboard(self, obj):
        return dashboard_link(obj.machine_id, obj.model_id, "#alerts")

    @admin.display(description="evidence")
    def evidence(self, obj):
        """The stored evidence as readable fields rather than raw JSON."""
        d = obj.details or {}
        impact = d.get("impact") or {}
        concept = d.get("concept_drift") or {}
        outside = d.get("out_of_range") or {}
        peak = d.get("peak") or {}
        rows = [
            ("Check window", f"{d.get('window_start') or '—'} – {d.get('window_end') or '—'}"),
            ("Cause", (d.get("cause") or "—").replace("_", " ")),
            ("Change point", d.get("change_point") or "—"),
            ("Impact", f"{impact.get('percent'):+.1f} % · {impact.get('kwh_per_day'):+.0f} kWh/day"
             if impact.get("percent") is not None and impact.get("kwh_per_day") is not None else "—"),
            ("NMBE", f"{100 * concept['nmbe']:+.1f} %" if concept.get("nmbe") is not None else
             (f"{100 * d['nmbe']:+.1f} %" if d.get("nmbe") is not None else "—")),
            ("CV(RMSE)", f"{100 * d['cv_rmse']:.1f} %" if d.get("cv_rmse") is not None else "—"),
            ("Drift score", f"{d['drift_score']:.2f}" if d.get("drift_score") is not None else "—"),
            ("Out of range", ", ".join(f"{k} {100 * v:.0f} %" for k, v in outside.items()) or "—"),
            ("Peak", f"{peak.get('severity', '—')} at {peak.get('evaluated_at') or '—'}"),
            ("Clean checks since", str(d.get("clean_checks", 0))),
            ("Technical reasons", "; ".join(d.get("reasons") or []) or "—"),
        ]
        return format_html_join("", "<div><strong>{}</strong>: {}</div>", rows)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="message")
    def message_short(self, obj):
        return obj.message[:80]

    def save_model(self, request, obj, form, change):
        # Resolution goes through the service so who and when are recorded the same way as the API.
        if form.cleaned_data.get("resolve") and not obj.is_resolved:
            alert_resolve(alert=obj, user=request.user, notes=form.cleaned_data.get("resolution_notes", ""))
        elif obj.pk:
            ModelAlert.objects.filter(pk=obj.pk).update(resolution_notes=obj.resolution_notes)

    @admin.action(description="Resolve the selected alerts", permissions=["change"])
    def resolve_selected(self, request, queryset):
        if "apply" in request.POST:
            form = ResolveAlertsForm(request.POST)
            if form.is_valid():
                count = alerts_resolve(alerts=list(queryset), user=request.user,
                                       notes=form.cleaned_data["resolution_notes"])
                self.message_user(request, f"Resolved {count} alert(s).", messages.SUCCESS)
                return None
        else:
            form = ResolveAlertsForm()
        return render(
            request,
            "admin/performance/resolve_alerts.html",
            {**self.admin_site.each_context(request), "form": form, "alerts": queryset,
             "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME, "opts": self.model._meta,
             "title": "Resolve alerts"},
        )


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.machine.name} · {obj.get_model_type_display()} v{obj.version} ({obj.status})"


class ABTestAdminForm(forms.ModelForm):
    machine = forms.ModelChoiceField(queryset=None, required=False, help_text="Choose the machine first: the "
                                     "version lists then show only its versions.")
    model_a = VersionChoiceField(queryset=None, help_text="The champion, usually the active version.")
    model_b = VersionChoiceField(queryset=None, help_text="The challenger: another version of the same machine "
                                 "and model type, usually a candidate.")

    class Meta:
        model = ModelABTest
        fields = ("name", "machine", "model_a", "model_b", "traffic_split", "duration_days", "min_samples",
                  "auto_promote")

    class Media:
        js = ("js/admin_abtest.js",)

    def __init__(self, *args, **kwargs):
        from baselines.models import EnergyBaseline, Machine

        super().__init__(*args, **kwargs)
        self.fields["machine"].queryset = Machine.objects.order_by("name")
        versions = (EnergyBaseline.objects.exclude(status="retired").select_related("machine")
                    .defer("artifact").order_by("machine__name", "model_type", "-version"))
        for name in ("model_a", "model_b"):
            self.fields[name].queryset = versions
            self.fields[name].widget.attrs["data-versions-of"] = "machine"

    def clean(self):
        data = super().clean()
        machine, a, b = data.get("machine"), data.get("model_a"), data.get("model_b")
        if machine is None and a is not None:
            machine = data["machine"] = a.machine
        for name, version in (("model_a", a), ("model_b", b)):
            if machine is not None and version is not None and version.machine_id != machine.pk:
                self.add_error(name, f"v{version.version} belongs to {version.machine}, not {machine}.")
        if machine is not None and ModelABTest.objects.running().filter(machine=machine).exists():
            # Refused here, as a form error, so the admin never reports a test it did not create.
            raise ValidationError(f"{machine} already has a running A/B test: stop or finish it first.")
        return data

    def clean_auto_promote(self):
        value = self.cleaned_data.get("auto_promote")
        request = getattr(self, "request", None)
        if value and request is not None and not request.user.has_perm(ACTIVATE_PERMISSION):
            raise ValidationError("Auto-promotion activates the winner: it needs the permission to change "
                                  "energy baselines.")
        return value


@admin.register(ModelABTest)
class ModelABTestAdmin(admin.ModelAdmin):
    form = ABTestAdminForm
    list_display = ("name", "machine", "model_type", "model_a", "model_b", "traffic_split", "status", "decision",
                    "confidence", "started_at", "ends_at", "dashboard")
    list_filter = ("status", "decision", "model_type", ("started_at", admin.DateFieldListFilter), "machine")
    search_fields = ("name", "machine__name")
    list_select_related = ("machine", "model_a", "model_b")
    autocomplete_fields = ()

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in ModelABTest._meta.fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm  # an existing test is read-only
        form = super().get_form(request, obj, change=change, **kwargs)
        # The form checks the auto_promote right against the person filling it in.
        return type(form.__name__, (form,), {"request": request})

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            created = abtest_start(
                name=obj.name, model_a=obj.model_a, model_b=obj.model_b, traffic_split=obj.traffic_split,
                duration_days=obj.duration_days, min_samples=obj.min_samples, auto_promote=obj.auto_promote,
                user=request.user,
            )
        except (Conflict, ValidationError) as exc:
            # A race the form could not see: say so, and send the user back instead of "added".
            self._refused = f"A/B test not started: {exc}"
            return
        form.instance = created
        obj.pk = created.pk

    def response_add(self, request, obj, post_url_continue=None):
        refused = getattr(self, "_refused", None)
        if refused:
            self._refused = None
            self.message_user(request, refused, messages.ERROR)
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def save_related(self, request, form, formsets, change):
        if not getattr(self, "_refused", None):
            super().save_related(request, form, formsets, change)

    actions = ["stop_selected"]

    @admin.action(description="Stop the selected running A/B tests (inconclusive, nothing promoted)",
                  permissions=["change"])
    def stop_selected(self, request, queryset):
        stopped, skipped = 0, 0
        for test in queryset:
            try:
                abtest_stop(test=test, user=request.user, reason="Stopped in the admin.")
                stopped += 1
            except Conflict:
                skipped += 1
        if stopped:
            self.message_user(request, f"Stopped {stopped} A/B test(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} selected test(s) were not running.", messages.WARNING)

    def has_change_permission(self, request, obj=None):
        # Stopping is a change; the test's fields themselves stay read-only once created.
        return super().has_change_permission(request, obj)

    @admin.display(description="dashboard")
    def dashboard(self, obj):
        return dashboard_link(obj.machine_id, obj.model_a_id, "#ab-tests")


class ViewAdmin(ReadOnlyAdmin):
    def get_list_display(self, request):
        return [f.name for f in self.model._meta.fields]


@admin.register(LatestModelPerformance)
class LatestModelPerformanceAdmin(ViewAdmin):
    list_filter = ("model_type", "model_status", "ashrae_pass", "drift_detected")
    search_fields = ("machine_name",)


@admin.register(ActiveABTest)
class ActiveABTestAdmin(ViewAdmin):
    list_filter = ("model_type",)
    search_fields = ("name",)


@admin.register(UnresolvedModelAlert)
class UnresolvedModelAlertAdmin(ViewAdmin):
    list_filter = ("severity", "alert_type", "model_type")
    search_fields = ("machine_name", "message")


class CycleBatchInline(admin.TabularInline):
    model = CycleBatch
    fields = ("index", "status", "machines", "attempts", "worker", "result", "error", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CycleRun)
class CycleRunAdmin(ReadOnlyAdmin):
    list_display = ("cycle", "now", "started_at", "finished_at", "duration_seconds", "machines", "versions",
                    "batches_total", "batches_done", "batches_failed", "failures")
    list_filter = ("cycle", ("started_at", admin.DateFieldListFilter))
    readonly_fields = ("cycle", "now", "started_at", "finished_at", "duration_seconds", "batch_size", "versions",
                       "machines", "batches_total", "batches_done", "batches_failed", "failures", "totals")
    inlines = [CycleBatchInline]
# --- Model registry (MLflow) ---------------------------------------------------------------------

def _mlflow_url(path: str) -> str | None:
    """A link into the MLflow UI when the tracking URI is a web address."""
    from django.conf import settings

    base = (settings.MLFLOW_TRACKING_URI or "").rstrip("/")
    return f"{base}/#/{path}" if base.startswith(("http://", "https://")) else None


admin.site.unregister(EnergyBaseline)


@admin.register(EnergyBaseline)
class EnergyBaselineRegistryAdmin(EnergyBaselineAdmin):
    """Versions with their MLflow run and registered version, and a "sync now" action."""

    actions = [*EnergyBaselineAdmin.actions, "registry_sync_now"]
    list_select_related = ("machine", "registry_link")

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "mlflow_run", "mlflow_model_version"]

    def get_list_display(self, request):
        return [*super().get_list_display(request), "mlflow_model_version"]

    @staticmethod
    def _link(obj) -> RegistryLink | None:
        try:
            return obj.registry_link
        except RegistryLink.DoesNotExist:
            return None

    @admin.display(description="MLflow run")
    def mlflow_run(self, obj):
        link = self._link(obj)
        if link is None or not link.run_id:
            return "—"
        url = _mlflow_url(f"experiments/{link.experiment_id}/runs/{link.run_id}")
        return format_html('<a href="{}">{}</a>', url, link.run_id) if url else link.run_id

    @admin.display(description="MLflow model version")
    def mlflow_model_version(self, obj):
        link = self._link(obj)
        if link is None or not link.model_version:
            return "—"
        label = f"{link.registered_model} v{link.model_version}"
        url = _mlflow_url(f"models/{link.registered_model}/versions/{link.model_version}")
        return format_html('<a href="{}">{}</a>', url, label) if url else label

    @admin.action(description="Sync the selected versions with MLflow now", permissions=["change"])
    def registry_sync_now(self, request, queryset):
        queued = registry_request_sync(baselines=list(queryset))
        if not queued:
            self.message_user(request, "MLFLOW_TRACKING_URI is not set: nothing is sent to MLflow.", messages.WARNING)
            return
        self.message_user(request, f"Queued {queued} version(s) for MLflow; see Registry outbox rows for "
                                   "anything still pending.", messages.SUCCESS)


@admin.register(RegistryOutbox)
class RegistryOutboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "event", "machine", "model_type", "model", "created_at", "attempts", "next_attempt_at",
                    "sent_at", "last_error_short")
    list_filter = ("event", ("sent_at", admin.EmptyFieldListFilter), "model_type")
    search_fields = ("machine__name", "last_error")
    list_select_related = ("machine", "model")

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return obj.last_error[:120]

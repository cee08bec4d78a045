"""Server-rendered dashboard pages (`/ui/...`).

The pages render the frame (pickers, tables that need no JavaScript, empty states, the controls a
user has the rights for); the charts, alerts, training jobs and A/B tests are filled in by one
script per page from the public API, so the browser sees exactly what API clients see.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from baselines.models import BaselineStatus, EnergyBaseline, Machine, MachineType, ModelType
from baselines.selectors import baselines_list, readings_list
from enms.policy import ashrae_limits, policy_for

from .selectors import FLEET_DEFAULT_SORT, fleet_rows, fleet_sort, metrics_list

# Django model permissions that unlock each control; the API checks the same ones.
CONTROL_PERMISSIONS = {
    "drift_check": "performance.add_modelperformancemetric",
    "retrain": "performance.add_modeltraininghistory",
    "ab_test": "performance.add_modelabtest",
    "resolve_alert": "performance.change_modelalert",
}

TREND_BUCKETS = ("hour", "day", "week")


def control_rights(user) -> dict[str, bool]:
    """Which controls `user` may use, by control name."""
    return {name: user.has_perm(perm) for name, perm in CONTROL_PERMISSIONS.items()}


def _uuid_param(request: HttpRequest, name: str) -> uuid.UUID | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise Http404(f"{name} must be a UUID.")


def _version_label(model: EnergyBaseline) -> str:
    return f"{model.get_model_type_display()} v{model.version} ({model.status})"


def _default_model(versions: list[EnergyBaseline]) -> EnergyBaseline | None:
    """The version a machine's page opens on: its active energy baseline, else any active model,
    else its newest version."""
    for wanted in (
        lambda v: v.status == BaselineStatus.ACTIVE and v.model_type == ModelType.ENERGY_BASELINE,
        lambda v: v.status == BaselineStatus.ACTIVE,
        lambda v: v.model_type == ModelType.ENERGY_BASELINE,
        lambda v: True,
    ):
        found = [v for v in versions if wanted(v)]
        if found:
            return max(found, key=lambda v: v.version)
    return None


@login_required
def model_performance_page(request: HttpRequest) -> HttpResponse:
    """One model's trends, drift, alerts, training history and A/B tests, with the controls the
    user has the rights for. Deep-linkable with `?machine=<uuid>&model=<uuid>&bucket=day`."""
    machine_id = _uuid_param(request, "machine")
    model_id = _uuid_param(request, "model")
    bucket = request.GET.get("bucket", "day")
    if bucket not in TREND_BUCKETS:
        bucket = "day"

    machines = list(Machine.objects.order_by("name"))
    machine = None
    if model_id is not None and machine_id is None:
        owner = EnergyBaseline.objects.filter(pk=model_id).values_list("machine_id", flat=True).first()
        if owner is None:
            raise Http404("No model with this id.")
        machine_id = owner
    if machine_id is not None:
        machine = next((m for m in machines if m.pk == machine_id), None)
        if machine is None:
            raise Http404("No machine with this id.")
    elif machines:
        machine = machines[0]

    versions: list[EnergyBaseline] = []
    model = None
    if machine is not None:
        versions = list(baselines_list(machine_id=machine.pk))
        if model_id is not None:
            model = next((v for v in versions if v.pk == model_id), None)
            if model is None:
                raise Http404("This machine has no model with this id.")
        else:
            model = _default_model(versions)

    rights = control_rights(request.user)
    context: dict[str, Any] = {
        "machines": machines,
        "machine": machine,
        "versions": [{"id": v.pk, "label": _version_label(v)} for v in versions],
        "model": model,
        "bucket": bucket,
        "buckets": TREND_BUCKETS,
        "rights": rights,
        "any_control": any(rights.values()),
    }
    if machine is None:
        return render(request, "ui/model_performance.html", context)

    readings = readings_list(machine=machine)
    first_reading = readings.values_list("timestamp", flat=True).first()
    last_reading = readings.order_by("-timestamp").values_list("timestamp", flat=True).first()
    siblings = [v for v in versions if model is not None and v.model_type == model.model_type]
    has_metrics = model is not None and metrics_list(model_id=model.pk).exists()
    cv_limit, nmbe_limit = ashrae_limits(policy_for(machine), model.data_interval if model else "hourly")

    context.update({
        "has_readings": first_reading is not None,
        "has_metrics": has_metrics,
        "siblings": siblings,
        "ab_default_a": next((v for v in siblings if v.status == BaselineStatus.ACTIVE), None),
        "ab_default_b": next((v for v in siblings if v.status == BaselineStatus.CANDIDATE), None),
        "cv_limit_pct": round(cv_limit * 100, 2),
        "nmbe_limit_pct": round(nmbe_limit * 100, 2),
        "page_config": {
            "machineId": str(machine.pk),
            "machineName": machine.name,
            "modelId": str(model.pk) if model else None,
            "modelType": model.model_type if model else None,
            "modelVersion": model.version if model else None,
            "dataInterval": model.data_interval if model else None,
            "bucket": bucket,
            "hasMetrics": has_metrics,
            "firstReading": first_reading.isoformat() if first_reading else None,
            "lastReading": last_reading.isoformat() if last_reading else None,
            "thresholds": {"cv_rmse": cv_limit, "nmbe": nmbe_limit},
            "versions": [
                {"id": str(v.pk), "version": v.version, "status": v.status, "modelType": v.model_type}
                for v in versions
            ],
            "rights": rights,
            "api": "/api/v1/",
        },
    })
    return render(request, "ui/model_performance.html", context)


# --- Fleet -------------------------------------------------------------------------------------

FLEET_COLUMNS = (
    ("machine", "Machine"),
    ("site", "Site"),
    ("model_type", "Model"),
    ("version", "Version"),
    ("ashrae", "ASHRAE 14"),
    ("cv_rmse", "CV(RMSE)"),
    ("nmbe", "NMBE"),
    ("r_squared", "R² / F1"),
    ("drift_score", "Drift score"),
    ("alerts", "Open alerts"),
    ("breach", "Breach in"),
    ("evaluated_at", "Last evaluation"),
)
@login_required
def fleet_page(request: HttpRequest) -> HttpResponse:
    """Every machine's active models side by side, worst first; sortable and filterable by site,
    machine type and model type through GET parameters."""
    site = request.GET.get("site", "")
    machine_type = request.GET.get("machine_type", "")
    model_type = request.GET.get("model_type", "")
    if machine_type not in MachineType.values:
        machine_type = ""
    if model_type not in ModelType.values:
        model_type = ""
    sort = request.GET.get("sort", FLEET_DEFAULT_SORT)
    if sort != FLEET_DEFAULT_SORT and sort.lstrip("-") not in dict(FLEET_COLUMNS):
        sort = FLEET_DEFAULT_SORT

    rows = fleet_sort(fleet_rows(site=site, machine_type=machine_type, model_type=model_type), sort)
    filters = {k: v for k, v in (("site", site), ("machine_type", machine_type), ("model_type", model_type)) if v}
    headers = []
    for key, label in FLEET_COLUMNS:
        current = sort.lstrip("-") == key
        descending = sort.startswith("-")
        # First click sorts "bad first" for numbers (descending), alphabetical for names.
        first = key if key in ("machine", "site", "model_type", "breach") else f"-{key}"
        target = (key if descending else f"-{key}") if current else first
        headers.append({
            "key": key, "label": label,
            "href": "?" + urlencode({**filters, "sort": target}),
            "aria_sort": ("descending" if descending else "ascending") if current else "none",
        })
    sites = sorted({s for s in Machine.objects.values_list("site", flat=True) if s})
    counts = {
        "failing": sum(1 for r in rows if r.ashrae == "fail"),
        "no_model": sum(1 for r in rows if r.model is None),
        "alerts": sum(r.open_alerts for r in rows),
    }
    return render(request, "ui/fleet.html", {
        "rows": rows,
        "headers": headers,
        "sort": sort,
        "worst_href": "?" + urlencode(filters),
        "filters": {"site": site, "machine_type": machine_type, "model_type": model_type},
        "filtered": bool(filters),
        "sites": sites,
        "machine_types": MachineType.choices,
        "model_types": ModelType.choices,
        "counts": counts,
        "any_machine": Machine.objects.exists(),
        "rights": control_rights(request.user),
    })


urlpatterns = [
    path("model-performance", model_performance_page, name="ui-model-performance"),
    path("fleet", fleet_page, name="ui-fleet"),
    # The admin's logout only serves staff (it redirects everyone else to the admin index), so
    # the dashboard has its own; the login page then brings the user back to the fleet.
    path("logout", LogoutView.as_view(next_page="/ui/fleet"), name="ui-logout"),
]

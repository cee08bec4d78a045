"""Server-rendered dashboard pages (`/ui/...`).

The pages render the frame (pickers, tables that need no JavaScript, empty states, the controls a
user has the rights for); the charts, alerts, training jobs and A/B tests are filled in by one
script per page from the public API, so the browser sees exactly what API clients see.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
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
    "rebaseline": "baselines.change_energybaseline",
    "ab_stop": "performance.change_modelabtest",
}
# What a user must be allowed to read to see the pages at all (the pages' scripts read the API,
# which asks for the same rights).
VIEW_PERMISSIONS = (
    "baselines.view_machine",
    "baselines.view_energybaseline",
    "performance.view_modelperformancemetric",
    "performance.view_modelalert",
)


def view_required(page):
    """Signed in (else to the login page) and holding `VIEW_PERMISSIONS` (else a 403 page that
    says which rights are missing, so staff know what to grant)."""
    from functools import wraps

    @wraps(page)
    @login_required
    def wrapper(request, *args, **kwargs):
        missing = [perm for perm in VIEW_PERMISSIONS if not request.user.has_perm(perm)]
        if missing:
            return render(request, "ui/forbidden.html", {"missing": missing}, status=403)
        return page(request, *args, **kwargs)

    return wrapper

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


# The trend charts of the model page, by model type (the template draws a card for each).
TREND_CHARTS = {
    ModelType.ENERGY_BASELINE: ("r_squared", "rmse", "cv_rmse", "nmbe", "drift_score"),
    ModelType.ANOMALY_DETECTOR: ("precision", "recall", "f1_score", "rmse", "drift_score"),
}
RANGES = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "all": None, "custom": None}
DEFAULT_RANGE = "90d"
CUSUM_MAX_DAYS = 400


def _worst_machine(machines: list[Machine]) -> Machine:
    """The machine the page opens on when none is chosen: the fleet's worst (its first row)."""
    rows = fleet_sort(fleet_rows(), FLEET_DEFAULT_SORT)
    return rows[0].machine if rows else machines[0]


def _date_param(request: HttpRequest, name: str):
    from datetime import date

    try:
        return date.fromisoformat(request.GET.get(name, "").strip())
    except ValueError:
        return None


def _time_range(request: HttpRequest, last_reading):
    """(key, start, end) of the trends' time range: 7d/30d/90d/1y back from the newest reading,
    all, or custom dates (`start`, `end`, inclusive days in UTC)."""
    from datetime import UTC, datetime, time, timedelta

    key = request.GET.get("range", DEFAULT_RANGE)
    if key not in RANGES:
        key = DEFAULT_RANGE
    if key == "custom":
        first, last = _date_param(request, "start"), _date_param(request, "end")
        if first and last and first <= last:
            return key, datetime.combine(first, time(), UTC), datetime.combine(last + timedelta(days=1), time(), UTC)
        key = DEFAULT_RANGE
    days = RANGES[key]
    if days is None or last_reading is None:
        return key, None, None
    # Open-ended: evaluations stored after the newest reading still show.
    return key, last_reading + timedelta(hours=1) - timedelta(days=days), None


def _cusum(model: EnergyBaseline, start, end) -> dict[str, Any] | None:
    """Daily CUSUM of the machine's readings against `model` over the range (at most
    `CUSUM_MAX_DAYS` back from its end), with the % above baseline over the same hours."""
    from datetime import timedelta

    import numpy as np

    from baselines.artifacts import ArtifactRefused, pipeline_for
    from baselines.engine.fit import predict
    from baselines.selectors import readings_frame

    from .cusum import cusum_daily, percent_above

    if model.model_type != ModelType.ENERGY_BASELINE or end is None:
        return None
    start = max(start, end - timedelta(days=CUSUM_MAX_DAYS)) if start else end - timedelta(days=CUSUM_MAX_DAYS)
    frame = readings_frame(machine_ids=[model.machine_id], start=start, end=end)
    if frame.empty:
        return None
    try:
        predicted = predict(pipeline_for(model), frame)
    except (ArtifactRefused, ValueError, KeyError):
        return None
    actual = frame["energy_kwh"].to_numpy(dtype=float)
    local = frame["timestamp"].dt.tz_convert(model.machine.time_zone or "UTC").dt.strftime("%Y-%m-%d").to_numpy()
    return {"points": cusum_daily(local, actual, np.asarray(predicted, dtype=float)),
            "percent_above": percent_above(actual, predicted), "version": model.version}


@view_required
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
        machine = _worst_machine(machines)

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
    range_key, range_start, range_end = _time_range(request, last_reading)
    siblings = [v for v in versions if model is not None and v.model_type == model.model_type]
    has_metrics = model is not None and metrics_list(model_id=model.pk).exists()
    cv_limit, nmbe_limit = ashrae_limits(policy_for(machine), model.data_interval if model else "hourly")

    # The requests the page's charts start with, written here once: the script reads them from the
    # config and the <head> preloads them, so they leave while the page's scripts still load.
    api = "/api/v1/model-performance/"
    trend_metrics = list(TREND_CHARTS.get(model.model_type, ())) if model is not None else []
    trend_scope = ({"machine_id": str(machine.pk), "model_type": model.model_type} if len(siblings) > 1
                   else {"model_id": str(model.pk)}) if model is not None else {}
    trends_url = api + "metrics/trends?" + urlencode({
        **trend_scope, "metrics": ",".join(trend_metrics), "bucket": bucket,
        **{k: v.isoformat() for k, v in (("start", range_start), ("end", range_end)) if v is not None},
    }) if trend_metrics else None
    alerts_url = api + "alerts/active?" + urlencode({"machine_id": str(machine.pk), "page_size": 200})
    cusum_url = "/ui/model-performance/cusum?" + urlencode({
        "model": str(model.pk), "start": range_start.isoformat() if range_start else "",
        "end": (range_end or last_reading + timedelta(hours=1)).isoformat() if last_reading else "",
    }) if model is not None and model.model_type == ModelType.ENERGY_BASELINE and first_reading is not None else None

    context.update({
        "preload_urls": [url for url in (trends_url, cusum_url, alerts_url) if url],
        "has_readings": first_reading is not None,
        "has_metrics": has_metrics,
        "siblings": siblings,
        "ab_default_a": next((v for v in siblings if v.status == BaselineStatus.ACTIVE), None),
        "ab_default_b": next((v for v in siblings if v.status == BaselineStatus.CANDIDATE), None),
        "ranges": [k for k in RANGES if k != "custom"],
        "range_key": range_key,
        "range_start": range_start,
        "range_end": range_end,
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
                {"id": str(v.pk), "version": v.version, "status": v.status, "modelType": v.model_type,
                 "activatedAt": v.activated_at.isoformat() if v.activated_at else None,
                 "trainingStart": v.training_start.isoformat() if v.training_start else None,
                 "trainingEnd": v.training_end.isoformat() if v.training_end else None}
                for v in versions
            ],
            "range": {"key": range_key, "start": range_start.isoformat() if range_start else None,
                      "end": range_end.isoformat() if range_end else None},
            # The CUSUM is fetched after the page (`/ui/model-performance/cusum`), so the HTML stays fast.
            "cusumUrl": cusum_url,
            "trendMetrics": trend_metrics,
            "trendsUrl": trends_url,
            "alertsUrl": alerts_url,
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
def _attach_alert_severity(rows) -> None:
    """Each row's worst open alert severity (`alert_severity`: critical, warning or "") in one
    query, and the cause its latest drift check found (`cause`; the check whose score the row
    shows, not an open alert's, which may describe an older check)."""
    from .models import ModelAlert

    worst: dict = {}
    for machine_id, model_type, severity in (ModelAlert.objects.filter(is_resolved=False)
                                             .values_list("machine_id", "model_type", "severity")):
        key = (machine_id, model_type)
        if worst.get(key) != "critical":
            worst[key] = severity
    for row in rows:
        row.alert_severity = worst.get((row.machine.pk, row.model_type), "")
        row.cause = row.latest_drift_cause.replace("_", " ")


@view_required
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
    _attach_alert_severity(rows)
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


@view_required
def cusum_data(request: HttpRequest) -> HttpResponse:
    """The model page's CUSUM as JSON: `?model=<uuid>&start=&end=` (ISO times)."""
    from datetime import datetime

    from django.http import JsonResponse

    model_id = _uuid_param(request, "model")
    model = EnergyBaseline.objects.select_related("machine").filter(pk=model_id).first() if model_id else None
    if model is None:
        raise Http404("No model with this id.")

    def when(name):
        try:
            value = datetime.fromisoformat(request.GET.get(name, ""))
        except ValueError:
            return None
        return value if value.tzinfo else None

    return JsonResponse({"cusum": _cusum(model, when("start"), when("end"))})


urlpatterns = [
    path("model-performance", model_performance_page, name="ui-model-performance"),
    path("model-performance/cusum", cusum_data, name="ui-model-performance-cusum"),
    path("fleet", fleet_page, name="ui-fleet"),
    # The admin's logout only serves staff (it redirects everyone else to the admin index), so
    # the dashboard has its own; the login page then brings the user back to the fleet.
    path("logout", LogoutView.as_view(next_page="/ui/fleet"), name="ui-logout"),
]

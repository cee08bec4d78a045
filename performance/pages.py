"""Server-rendered dashboard pages (`/ui/...`).

The pages render the frame (pickers, tables that need no JavaScript, empty states, the controls a
user has the rights for); the charts, alerts, training jobs and A/B tests are filled in by one
script per page from the public API, so the browser sees exactly what API clients see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from baselines.models import BaselineStatus, EnergyBaseline, Machine, MachineType, ModelType
from baselines.selectors import baselines_list, readings_list

from .models import LatestModelPerformance, ModelAlert, ModelPerformanceMetric
from .policy import ashrae_limits, policy_for
from .selectors import metrics_list

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
    ("evaluated_at", "Last evaluation"),
)
FLEET_DEFAULT_SORT = "worst"


@dataclass
class FleetRow:
    """One line of the fleet table: a machine's active model (or its lack of one)."""

    machine: Machine
    model_type: str
    model: EnergyBaseline | None
    latest: LatestModelPerformance | None
    open_alerts: int
    latest_drift_score: float | None = None

    @property
    def health_rank(self) -> int:
        """0 fails ASHRAE, 1 evaluated, 2 never evaluated, 3 no model."""
        if self.model is None:
            return 3
        if self.latest is None:
            return 2
        return 0 if self.latest.ashrae_pass is False else 1

    def metric(self, name: str) -> float | None:
        if name == "drift_score" and self.latest_drift_score is not None:
            return self.latest_drift_score
        return getattr(self.latest, name) if self.latest is not None else None

    @property
    def ashrae(self) -> str:
        if self.latest is None or self.latest.ashrae_pass is None:
            return "n/a"
        return "pass" if self.latest.ashrae_pass else "fail"

    @property
    def model_type_label(self) -> str:
        return ModelType(self.model_type).label

    @property
    def link(self) -> str:
        params = {"machine": self.machine.pk}
        if self.model is not None:
            params["model"] = self.model.pk
        return "/ui/model-performance?" + urlencode(params)

    @property
    def cv_rmse_pct(self) -> str:
        return _pct(self.metric("cv_rmse"))

    @property
    def nmbe_pct(self) -> str:
        return _pct(self.metric("nmbe"), signed=True)

    @property
    def r_squared_txt(self) -> str:
        if self.model_type == ModelType.ANOMALY_DETECTOR:
            value = self.metric("f1_score")
            return "—" if value is None else f"F1 {value:.3f}"
        value = self.metric("r_squared")
        return "—" if value is None else f"{value:.3f}"

    @property
    def drift_txt(self) -> str:
        value = self.metric("drift_score")
        return "—" if value is None else f"{value:.2f}"

    @property
    def drift_level(self) -> str:
        value = self.metric("drift_score")
        if value is None:
            return ""
        return "critical" if value >= 2 / 3 else "warning" if value >= 1 / 3 else "ok"

    @property
    def evaluated_at(self) -> datetime | None:
        return self.latest.evaluated_at if self.latest is not None else None


def _pct(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value * 100:+.1f} %" if signed else f"{value * 100:.1f} %"


def _nulls_last(value, descending: bool):
    """Sort key that keeps missing values at the bottom in either direction."""
    if value is None:
        return (1, 0)
    return (0, -value if descending else value)


def _fleet_sort_value(row: FleetRow, key: str):
    if key == "machine":
        return row.machine.name.lower()
    if key == "site":
        return row.machine.site.lower() or None
    if key == "model_type":
        return row.model_type
    if key == "version":
        return row.model.version if row.model else None
    if key == "ashrae":
        return {"fail": 2, "n/a": 1, "pass": 0}[row.ashrae] if row.latest is not None else None
    if key == "nmbe":
        value = row.metric("nmbe")
        return None if value is None else abs(value)
    if key == "alerts":
        return row.open_alerts
    if key == "evaluated_at":
        return row.evaluated_at.timestamp() if row.evaluated_at else None
    return row.metric(key)


def fleet_sort(rows: list[FleetRow], sort: str) -> list[FleetRow]:
    """Order fleet rows. `worst` puts ASHRAE failures first, then the highest CV(RMSE), drift
    score and open alerts; `<column>` / `-<column>` sort by a column, missing values last
    (NMBE sorts by its magnitude)."""
    if sort == FLEET_DEFAULT_SORT:
        return sorted(rows, key=lambda r: (
            r.health_rank,
            _nulls_last(r.metric("cv_rmse"), True),
            _nulls_last(r.metric("drift_score"), True),
            -r.open_alerts,
            r.machine.name.lower(),
            r.model_type,
        ))
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    ordered = sorted(rows, key=lambda r: (r.machine.name.lower(), r.model_type))
    present = [r for r in ordered if _fleet_sort_value(r, key) is not None]
    missing = [r for r in ordered if _fleet_sort_value(r, key) is None]
    # Python's sort is stable with reverse=True too, so ties keep the machine-name order.
    present.sort(key=lambda r: _fleet_sort_value(r, key), reverse=descending)
    return present + missing


def fleet_rows(*, site: str = "", machine_type: str = "", model_type: str = "") -> list[FleetRow]:
    """Every machine's active models with their newest metrics (`v_latest_model_performance`)
    and open alert counts; a machine without an active model gets a row saying so."""
    machines = Machine.objects.order_by("name")
    if site:
        machines = machines.filter(site=site)
    if machine_type:
        machines = machines.filter(machine_type=machine_type)
    machines = list(machines)
    machine_ids = [m.pk for m in machines]
    active = [b for b in baselines_list(status=BaselineStatus.ACTIVE, model_type=model_type or None)
              if b.machine_id in set(machine_ids)]
    active_ids = [b.pk for b in active]
    latest = {row.model_id: row for row in LatestModelPerformance.objects.filter(model_id__in=active_ids)}
    # The newest row is often a plain evaluation without a drift score; show the newest score there is.
    newest_drift = (
        ModelPerformanceMetric.objects.filter(model=OuterRef("pk"), drift_score__isnull=False)
        .order_by("-evaluated_at", "-id").values("drift_score")[:1]
    )
    drift_scores = dict(
        EnergyBaseline.objects.filter(pk__in=active_ids)
        .annotate(score=Subquery(newest_drift)).values_list("pk", "score")
    )
    alert_counts = {
        (r["machine_id"], r["model_type"]): r["n"]
        for r in ModelAlert.objects.unresolved().filter(machine_id__in=machine_ids)
        .values("machine_id", "model_type").annotate(n=Count("id")).order_by()
    }
    by_machine: dict = {}
    for baseline in active:
        by_machine.setdefault(baseline.machine_id, []).append(baseline)
    rows = []
    for machine in machines:
        models = by_machine.get(machine.pk, [])
        for baseline in models:
            rows.append(FleetRow(machine=machine, model_type=baseline.model_type, model=baseline,
                                 latest=latest.get(baseline.pk),
                                 open_alerts=alert_counts.get((machine.pk, baseline.model_type), 0),
                                 latest_drift_score=drift_scores.get(baseline.pk)))
        if not models:
            wanted = model_type or ModelType.ENERGY_BASELINE
            rows.append(FleetRow(machine=machine, model_type=wanted, model=None, latest=None,
                                 open_alerts=alert_counts.get((machine.pk, wanted), 0)))
    return rows


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
        first = key if key in ("machine", "site", "model_type") else f"-{key}"
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

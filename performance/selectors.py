"""Read paths of the performance app, shared by the API and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.db import connections
from django.db.models import Avg, CharField, Count, F, Func, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Substr, TruncDay, TruncHour, TruncWeek
from django.utils import timezone

from baselines.models import BaselineStatus, EnergyBaseline, Machine, ModelType
from baselines.selectors import baselines_list

from .models import (
    AlertType,
    LatestModelPerformance,
    ModelABTest,
    ModelAlert,
    ModelPerformanceMetric,
    ModelTrainingHistory,
    UnresolvedModelAlert,
)

TREND_METRICS = (
    "r_squared", "rmse", "mae", "mape", "wape", "cv_rmse", "nmbe", "precision", "recall", "f1_score",
    "drift_score", "rmse_degradation",
)
_TRUNC = {"hour": TruncHour, "day": TruncDay, "week": TruncWeek}


def metrics_list(
    *, machine_id=None, model_id=None, model_type: str | None = None, source: str | None = None,
    start: datetime | None = None, end: datetime | None = None,
) -> QuerySet[ModelPerformanceMetric]:
    qs = ModelPerformanceMetric.objects.all()
    if machine_id is not None:
        qs = qs.filter(machine_id=machine_id)
    if model_id is not None:
        qs = qs.filter(model_id=model_id)
    if model_type:
        qs = qs.filter(model_type=model_type)
    if source:
        qs = qs.filter(source=source)
    return qs.between(start, end).order_by("-evaluated_at", "-id")


def reference_value(model: EnergyBaseline | None, metric: str) -> float | None:
    """The model's training-time value of a metric: its holdout value (out of sample), else in-sample."""
    if model is None:
        return None
    for source in (model.holdout_metrics or {}, model.training_metrics or {}):
        value = source.get(metric)
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0 if metric in ("drift_score", "rmse_degradation") else None


def _bucket_start(bucket: str, vendor: str, *, native: bool = True):
    """The expression that truncates `evaluated_at` to its bucket, and how to read its value back
    (None: the database answers datetimes). Django truncates on SQLite with Python functions called
    twice per row, most of a trend's time; SQLite stores the UTC time as text
    (`YYYY-MM-DD HH:MM:SS`), so with UTC as the current time zone its own string functions give the
    same buckets (weeks start on Monday, as `TruncWeek`). `native=False` forces Django's truncation."""
    if native and vendor == "sqlite" and timezone.get_current_timezone_name() == "UTC":
        field = CharField()
        expression = {
            "hour": Substr("evaluated_at", 1, 13, output_field=field),
            "day": Substr("evaluated_at", 1, 10, output_field=field),
            "week": Func(F("evaluated_at"), Value("weekday 0"), Value("-6 days"), function="date", output_field=field),
        }[bucket]
        return expression, lambda text: datetime.fromisoformat(text).replace(tzinfo=UTC)
    return _TRUNC[bucket]("evaluated_at"), None


def metrics_trend(
    *, model: EnergyBaseline | None = None, machine_id=None, model_type: str | None = None,
    metric: str = "rmse", bucket: str = "day", start: datetime | None = None, end: datetime | None = None,
) -> dict[str, Any]:
    """Mean of `metric` per time bucket (the database truncates the timestamps), with the count
    of rows per bucket and the model's training-time value as reference."""
    trends = metrics_trends(model=model, machine_id=machine_id, model_type=model_type, metrics=(metric,),
                            bucket=bucket, start=start, end=end)
    return trends["trends"][metric]


def metrics_trends(
    *, model: EnergyBaseline | None = None, machine_id=None, model_type: str | None = None,
    metrics: tuple[str, ...] | list[str] = ("rmse",), bucket: str = "day", start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """`metrics_trend` of several metrics from one grouped query: the timestamps are truncated once
    per row instead of once per metric. Each metric's trend holds the buckets where it has values,
    its mean there and the number of rows that carry it (`n`), exactly as `metrics_trend` alone."""
    metrics = list(dict.fromkeys(metrics))
    unknown = [m for m in metrics if m not in TREND_METRICS]
    if unknown or not metrics:
        raise ValueError(f"unknown trend metrics: {unknown}" if unknown else "no trend metric")
    carries_one = Q()
    for metric in metrics:
        carries_one |= Q(**{f"{metric}__isnull": False})
    qs = ModelPerformanceMetric.objects.filter(carries_one)
    if model is not None:
        qs = qs.filter(model=model)
    else:
        qs = qs.filter(machine_id=machine_id)
        if model_type:
            qs = qs.filter(model_type=model_type)
    qs = qs.between(start, end)
    aggregates = {}
    for i, metric in enumerate(metrics):
        aggregates[f"v{i}"] = Avg(metric)
        aggregates[f"n{i}"] = Count(metric)
    truncated, parse = _bucket_start(bucket, connections[qs.db].vendor)
    rows = qs.annotate(t=truncated).values("t").annotate(**aggregates).order_by("t")
    points: list[list[dict[str, Any]]] = [[] for _ in metrics]
    for row in rows:
        t = parse(row["t"]) if parse is not None else row["t"]
        for i, series in enumerate(points):
            n = row[f"n{i}"]
            if n:
                series.append({"t": t, "value": row[f"v{i}"], "n": n})
    if model is None and machine_id is not None:
        model = (
            EnergyBaseline.objects.filter(machine_id=machine_id, model_type=model_type or "energy_baseline",
                                          status="active")
            .only("holdout_metrics", "training_metrics")
            .first()
        )
    model_id = str(model.pk) if model is not None else None
    return {
        "model_id": model_id,
        "bucket": bucket,
        "trends": {
            metric: {"model_id": model_id, "metric": metric, "bucket": bucket, "points": points[i],
                     "reference_value": reference_value(model, metric)}
            for i, metric in enumerate(metrics)
        },
    }


def alerts_active(
    *, severity: str | None = None, machine_id=None, model_type: str | None = None, alert_type: str | None = None
) -> QuerySet[UnresolvedModelAlert]:
    """Unresolved alerts, critical first, newest first (from `v_unresolved_model_alerts`)."""
    qs = UnresolvedModelAlert.objects.all()
    if severity:
        qs = qs.filter(severity=severity)
    if machine_id is not None:
        qs = qs.filter(machine_id=machine_id)
    if model_type:
        qs = qs.filter(model_type=model_type)
    if alert_type:
        qs = qs.filter(alert_type=alert_type)
    return qs.order_by("severity_rank", "-last_seen", "-first_seen", "id")


def alerts_list() -> QuerySet[ModelAlert]:
    return ModelAlert.objects.select_related("resolved_by").order_by("is_resolved", "-last_seen", "id")


def training_history_list() -> QuerySet[ModelTrainingHistory]:
    return ModelTrainingHistory.objects.order_by("-created_at", "id")


def abtests_list() -> QuerySet[ModelABTest]:
    return ModelABTest.objects.select_related("model_a", "model_b").order_by("-started_at", "id")


# --- Fleet overview (the /ui/fleet page) ------------------------------------------------------

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
    # The cause (`drift_details.cause`) of the check that gave `latest_drift_score`; "" for none.
    latest_drift_cause: str = ""
    # Days until the breach an open forecast-degradation warning expects (0: today or past).
    breach_in_days: int | None = None

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
    if key == "breach":
        return row.breach_in_days
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
    # The cause beside it is that same check's (its stored verdict), so score and cause agree.
    newest_drift = (
        ModelPerformanceMetric.objects.filter(model=OuterRef("pk"), drift_score__isnull=False)
        .order_by("-evaluated_at", "-id")
    )
    drift_scores, drift_causes = {}, {}
    for pk, score, cause in (EnergyBaseline.objects.filter(pk__in=active_ids)
                             .annotate(score=Subquery(newest_drift.values("drift_score")[:1]),
                                       cause=Subquery(newest_drift.values("drift_details__cause")[:1]))
                             .values_list("pk", "score", "cause")):
        drift_scores[pk] = score
        drift_causes[pk] = cause if isinstance(cause, str) and cause != "none" else ""
    alert_counts = {
        (r["machine_id"], r["model_type"]): r["n"]
        for r in ModelAlert.objects.unresolved().filter(machine_id__in=machine_ids)
        .values("machine_id", "model_type").annotate(n=Count("id")).order_by()
    }
    breaches = forecast_breaches(model_ids=active_ids)
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
                                 latest_drift_score=drift_scores.get(baseline.pk),
                                 latest_drift_cause=drift_causes.get(baseline.pk, ""),
                                 breach_in_days=breaches.get(baseline.pk)))
        if not models:
            wanted = model_type or ModelType.ENERGY_BASELINE
            rows.append(FleetRow(machine=machine, model_type=wanted, model=None, latest=None,
                                 open_alerts=alert_counts.get((machine.pk, wanted), 0)))
    return rows


def forecast_breaches(*, model_ids: list, today=None) -> dict:
    """Days until the expected breach of each version with an open forecast-degradation warning
    (0 when the date is today or past)."""
    from datetime import date

    from django.utils import timezone

    today = today or timezone.now().date()
    out = {}
    for model_id, details in (ModelAlert.objects.unresolved()
                              .filter(model_id__in=model_ids, alert_type=AlertType.FORECAST_DEGRADATION)
                              .values_list("model_id", "details")):
        try:
            out[model_id] = max(0, (date.fromisoformat((details or {})["expected_breach_at"]) - today).days)
        except (KeyError, TypeError, ValueError):
            continue
    return out

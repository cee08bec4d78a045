"""Forecast degradation: load a version's coming drivers and its error record, call the numeric
forecast, warn before a breach (daily cycle in batches), and act on the warning."""

from __future__ import annotations

import logging
import math
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from baselines.artifacts import ArtifactRefused, pipeline_for
from baselines.engine.fit import FitResult, predict
from baselines.models import DriverForecast, EnergyBaseline, EnergyReading, ModelType
from baselines.selectors import READING_FIELDS, readings_frame
from enms.errors import Conflict
from enms.policy import ashrae_limits, policy_for

from .. import forecast as fc
from ..models import AlertType, ModelAlert, ModelPerformanceMetric, Severity
from .alerts import alert_artifact_refused, alert_raise
from .cycles import cycle_fanout, cycle_register

logger = logging.getLogger(__name__)

#: Earlier years searched for the same calendar days (climatology).
CLIMATOLOGY_YEARS = 3
#: Reporting-period readings (after training) whose residuals teach the error growth.
REPORTING_WINDOW = timedelta(days=90)
#: Recent checks behind the trend of CV(RMSE) and NMBE.
TREND_WINDOW = timedelta(days=56)
DRIVER_WORDS = {"outdoor_temp_c": ("outdoor temperature", "°C"), "production_units": ("production", "units"),
                "operating_hours": ("operating hours", "h")}


def forecast_reference_build(*, fit: FitResult, frame: pd.DataFrame) -> dict[str, Any]:
    """Stored with every trained version (`ENMS_TRAINING_FORECAST_HOOK`): how its out-of-sample
    error grows with the distance of its drivers outside the range each blocked fold was fitted
    on, as additive sufficient statistics, and the scales distances are measured in."""
    names = [d for d in fit.driver_ranges if d in fit.train_X]
    values = np.column_stack([np.asarray(fit.train_X[d], dtype=float) for d in names]) if names else \
        np.zeros((len(fit.oos_residuals), 0))
    scales = _scales_from_values(values)
    energy = frame["energy_kwh"].to_numpy(dtype=float)[np.asarray(fit.train_index)]
    mean_energy = float(np.nanmean(energy)) if energy.size else 0.0
    stats = fc.merge_stats()
    if fit.n_folds and mean_energy > 0 and values.shape[0] == len(fit.oos_residuals):
        dist = fc.oos_distances(values, np.asarray(fit.oos_fold), scales)
        stats = fc.growth_stats(dist, np.asarray(fit.oos_residuals, dtype=float) / mean_energy)
    return {"version": 1, "drivers": names, "scales": [float(s) for s in scales], "mean_energy": mean_energy,
            "growth": stats}


def _scales_from_values(values: np.ndarray) -> np.ndarray:
    if not values.shape[1]:
        return np.zeros(0)
    sd = np.nanstd(values, axis=0)
    span = np.nanmax(values, axis=0) - np.nanmin(values, axis=0)
    return np.where(sd > 0, sd, np.where(span > 0, span / 4, 1.0))


def _scales(model: EnergyBaseline, drivers: list[str]) -> np.ndarray:
    stored = (model.reference_stats or {}).get("forecast") or {}
    by_name = dict(zip(stored.get("drivers", []), stored.get("scales", []), strict=False))
    ref = (model.reference_stats or {}).get("drivers") or {}
    out = []
    for d in drivers:
        lo, hi = model.driver_ranges[d]
        value = by_name.get(d) or (ref.get(d) or {}).get("std") or (hi - lo) / 4 or 1.0
        out.append(float(value))
    return np.array(out)


def _mean_energy(model: EnergyBaseline) -> float | None:
    stored = ((model.reference_stats or {}).get("forecast") or {}).get("mean_energy")
    if stored:
        return float(stored)
    for metrics in (model.holdout_metrics or {}, model.training_metrics or {}):
        if metrics.get("rmse") and metrics.get("cv_rmse"):
            return float(metrics["rmse"]) / float(metrics["cv_rmse"])
    return None


def _local_day(ts: datetime, time_zone: str) -> date:
    return pd.Timestamp(ts).tz_convert(time_zone).date()


def _day_start(day: date, time_zone: str) -> datetime:
    # Some zones change the clock at midnight: a day then starts at the first instant that exists.
    return (pd.Timestamp(day).tz_localize(time_zone, nonexistent="shift_forward", ambiguous=True)
            .tz_convert("UTC").to_pydatetime())


def _history(machine_id, days: list[date], time_zone: str) -> pd.DataFrame:
    """Readings of the same calendar days in the earlier years (one query)."""
    windows = Q()
    for back in range(1, CLIMATOLOGY_YEARS + 1):
        first = _shift_year(days[0], -back)
        last = _shift_year(days[-1], -back) + timedelta(days=1)
        windows |= Q(timestamp__gte=_day_start(first, time_zone), timestamp__lt=_day_start(last, time_zone))
    rows = EnergyReading.objects.filter(windows, machine_id=machine_id).values_list(*READING_FIELDS[:5])
    return pd.DataFrame.from_records(list(rows), columns=list(READING_FIELDS[:5]))


def _shift_year(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _trend_points(model: EnergyBaseline, start: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = list(
        ModelPerformanceMetric.objects.filter(model=model, evaluated_at__gt=start - TREND_WINDOW,
                                              evaluated_at__lte=start, cv_rmse__isnull=False)
        .order_by("evaluated_at").values_list("evaluation_end", "evaluated_at", "cv_rmse", "nmbe")
    )
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    t = np.array([((end or at) - start).total_seconds() / 86400 for end, at, _, _ in rows])
    cv = np.array([r[2] for r in rows], dtype=float)
    nmbe = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=float)
    return t, cv, nmbe


def _daily_medians(t: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One point a day (the median of its checks), so hourly evaluations do not outweigh the rest."""
    if not t.size:
        return t, values
    frame = pd.DataFrame({"day": np.floor(t), "v": values}).dropna()
    grouped = frame.groupby("day")["v"].median()
    return grouped.index.to_numpy(dtype=float) + 0.5, grouped.to_numpy(dtype=float)


def _reporting(model: EnergyBaseline, drivers: list[str], lows, highs, scales, start: datetime,
               mean_energy: float | None) -> tuple[dict[str, float], int, datetime | None]:
    """Growth statistics of the reporting period (readings after training, before `start`), the
    number of those hours outside the range and the first of them."""
    begin = max(model.training_end or start - REPORTING_WINDOW, start - REPORTING_WINDOW)
    frame = readings_frame(machine_ids=[model.machine_id], start=begin, end=start + timedelta(seconds=1))
    if frame.empty or not mean_energy:
        return fc.merge_stats(), 0, None
    frame = frame[~frame["is_anomaly"].to_numpy(dtype=bool)].reset_index(drop=True)
    values = frame[drivers].to_numpy(dtype=float) if drivers else np.zeros((len(frame), 0))
    outside = fc.outside_mask(values, lows, highs)
    first = frame["timestamp"].iloc[int(np.flatnonzero(outside)[0])].to_pydatetime() if outside.any() else None
    predicted = predict(pipeline_for(model), frame)
    residual = (frame["energy_kwh"].to_numpy(dtype=float) - predicted) / mean_energy
    return fc.growth_stats(fc.distances(values, lows, highs, scales), residual), int(outside.sum()), first


def model_forecast(*, model: EnergyBaseline, horizon_days: int = 30, start: datetime | None = None,
                   policy: dict | None = None) -> dict[str, Any]:
    """The degradation forecast of one energy-baseline version over `horizon_days` local days
    from the day of `start` (default: the hour after the machine's latest reading), as the API
    answers it."""
    machine = model.machine
    policy = policy or policy_for(machine)
    rules = {**settings.ENMS_POLICY["forecast"], **(policy.get("forecast") or {})}
    zone = machine.time_zone
    if start is None:
        # Where the readings stop: the hour after the latest one.
        latest = machine.readings.order_by("-timestamp").values_list("timestamp", flat=True).first()
        start = latest + timedelta(hours=1) if latest else (model.training_end or timezone.now())
    first_day = _local_day(start, zone)
    days = [first_day + timedelta(days=i) for i in range(horizon_days)]
    drivers = [d for d in model.driver_ranges]
    lows = np.array([model.driver_ranges[d][0] for d in drivers], dtype=float)
    highs = np.array([model.driver_ranges[d][1] for d in drivers], dtype=float)
    scales = _scales(model, drivers)

    window = (_day_start(days[0], zone), _day_start(days[-1] + timedelta(days=1), zone))
    forecast_rows = pd.DataFrame.from_records(
        list(DriverForecast.objects.filter(machine=machine, timestamp__gte=window[0], timestamp__lt=window[1])
             .values_list("timestamp", *fc_columns())), columns=["timestamp", *fc_columns()])
    history = _history(machine.pk, days, zone)
    dd = fc.driver_days(days=days, drivers=drivers, forecast=forecast_rows, history=history, time_zone=zone)

    mean_energy = _mean_energy(model)
    reporting, outside_hours, first_outside = _reporting(model, drivers, lows, highs, scales, start, mean_energy)
    stored = ((model.reference_stats or {}).get("forecast") or {}).get("growth")
    holdout = model.holdout_metrics or {}
    base_cv = float(holdout.get("cv_rmse") or (model.training_metrics or {}).get("cv_rmse") or 0.1)
    base_nmbe = float(holdout.get("nmbe") or 0.0)
    growth = fc.error_growth_fit(fc.merge_stats(stored, reporting), base_cv=base_cv, base_nmbe=base_nmbe)
    t, cv_points, nmbe_points = _trend_points(model, start)
    cv_trend = fc.metric_trend(*_daily_medians(t, cv_points))
    nmbe_trend = fc.metric_trend(*_daily_medians(t, nmbe_points))
    day_sd = ((((model.reference_stats or {}).get("residuals") or {}).get("structure") or {}).get("daily")
              or {}).get("mean_std")
    cv_limit, nmbe_limit = ashrae_limits(policy, model.data_interval)
    rule = fc.Policy(cv_limit, nmbe_limit, float(rules["coverage_threshold"]))
    result = fc.forecast_days(driver_days=dd, lows=lows, highs=highs, scales=scales, growth=growth, policy=rule,
                              cv_trend=cv_trend, nmbe_trend=nmbe_trend,
                              daily_nmbe_sd=day_sd / mean_energy if day_sd and mean_energy else None)
    breach = fc.first_breach(result["p_breach"])
    known = [s for s in dd.source if s]
    source = known[0] if known and len(set(known)) == 1 else ("mixed" if known else "history")

    def num(x: float, digits: int = 4) -> float | None:
        return None if x is None or not math.isfinite(float(x)) else round(float(x), digits)

    return {
        "model_id": model.pk,
        "start": start,
        "horizon_days": horizon_days,
        "source": source,
        "expected_breach_at": days[breach] if breach is not None else None,
        "breach_probability": num(float(np.max(result["p_breach"])) if horizon_days else 0.0),
        "reasons": _reasons(model, dd, lows, highs, result, breach, days, rule, growth, cv_trend),
        "policy": {"cv_rmse_limit": cv_limit, "nmbe_limit": nmbe_limit,
                   "coverage_threshold": rule.coverage_threshold},
        "error_growth": {"base_cv_rmse": num(growth.base_cv), "cv_rmse_per_sd": num(growth.k),
                         "cv_rmse_per_sd_high": num(growth.k_high), "hours_outside_seen": growth.n_out,
                         "learned_from": growth.learned_from},
        "trend": None if cv_trend is None else {"cv_rmse_per_day": num(cv_trend.slope, 6), "checks": cv_trend.n},
        "reporting_hours_outside": outside_hours,
        "first_reading_outside": first_outside,
        "days": [
            {"date": days[i], "source": dd.source[i],
             "out_of_range_share": num(result["out_of_range_share"][i]),
             "expected_cv_rmse": num(result["expected_cv_rmse"][i]),
             "expected_cv_rmse_high": num(result["expected_cv_rmse_high"][i]),
             "expected_nmbe": num(result["expected_nmbe"][i]),
             "p_breach": num(result["p_breach"][i])}
            for i in range(horizon_days)
        ],
    }


def fc_columns() -> tuple[str, ...]:
    return ("production_units", "outdoor_temp_c", "operating_hours")


def _reasons(model, dd, lows, highs, result, breach, days, rule, growth, cv_trend) -> list[str]:
    """Why a breach is expected, in plain words with dates."""
    reasons = []
    for item in fc.driver_excursions(dd, lows, highs)[:3]:
        name, unit = DRIVER_WORDS.get(item["driver"], (item["driver"], ""))
        day = days[item["day"]]
        side = "below" if item["direction"] == "below" else "above"
        bound = item["low"] if side == "below" else item["high"]
        reasons.append(
            f"{name.capitalize()} is expected {side} the training range ({item['low']:g} to {item['high']:g} {unit})"
            f" from {day:%d %b %Y}: {item['share']:.0%} of that day's hours, down to {item['value']:.1f} {unit}"
            .replace("down to", "down to" if side == "below" else "up to")
            + f" ({abs(item['value'] - bound):.1f} {unit} beyond it); on {item['days']} of the {len(days)} days.")
    if breach is not None:
        i = breach
        share = result["out_of_range_share"][i]
        if result["p_coverage"][i] >= 0.5:
            reasons.append(f"On {days[i]:%d %b %Y} {share:.0%} of the hours lie outside the training range "
                           f"(the policy allows less than {rule.coverage_threshold:.0%}).")
        if result["p_fit"][i] >= 0.5 or result["expected_cv_rmse"][i] > rule.cv_limit:
            reasons.append(
                f"Expected CV(RMSE) on {days[i]:%d %b %Y}: {result['expected_cv_rmse'][i]:.0%} (up to "
                f"{result['expected_cv_rmse_high'][i]:.0%}) against the ASHRAE {model.data_interval} limit of "
                f"{rule.cv_limit:.0%}; expected NMBE {result['expected_nmbe'][i]:+.1%} (limit ±{rule.nmbe_limit:.0%}).")
    if cv_trend is not None and cv_trend.slope > 0:
        reasons.append(f"CV(RMSE) of the recent checks rises {cv_trend.slope * 7:.1%} points a week "
                       f"({cv_trend.n} days of checks).")
    if growth.n_out == 0 and result["mean_distance"].max() > 0:
        reasons.append("The version has never been scored outside its range: the error growth there is an "
                       "assumption until such readings arrive.")
    return reasons


# --- the daily cycle --------------------------------------------------------------------------------

def _forecast_versions():
    return (EnergyBaseline.objects.active().of_type(ModelType.ENERGY_BASELINE)
            .filter(machine__is_active=True).order_by("machine_id"))


def forecast_cycle() -> dict[str, Any]:
    """Beat job (daily): a fanned-out cycle, one `performance.forecast_batch` task per batch of
    `ENMS_CYCLE_BATCH_SIZE` active energy baselines of active machines."""
    return cycle_fanout(cycle="forecast")


def _forecast_cycle_batch(*, model_ids: list, now: datetime | None = None) -> dict[str, int]:
    # A forecast starts at each version's latest reading, not at the cycle's time.
    return forecast_batch(version_ids=model_ids)


def forecast_batch(*, version_ids: list, now: datetime | None = None) -> dict[str, int]:
    """Forecast each version over its policy horizon; raise (or repeat) a `forecast_degradation`
    warning when a breach is expected within it, and apply the policy's auto-action."""
    forecasted = warned = refused = 0
    models = (EnergyBaseline.objects.filter(pk__in=version_ids, status="active", model_type=ModelType.ENERGY_BASELINE)
              .select_related("machine"))
    for model in models:
        policy = policy_for(model.machine)
        rules = {**settings.ENMS_POLICY["forecast"], **(policy.get("forecast") or {})}
        try:
            result = model_forecast(model=model, horizon_days=int(rules["horizon_days"]), start=now, policy=policy)
        except ArtifactRefused as exc:
            alert_artifact_refused(model=model, reason=exc.reason, cycle="forecast")
            refused += 1
            continue
        forecasted += 1
        if result["expected_breach_at"] is None:
            continue
        forecast_warn(model=model, result=result, rules=rules)
        warned += 1
    return {"forecasted": forecasted, "warned": warned, "refused": refused}


def forecast_warn(*, model: EnergyBaseline, result: dict[str, Any], rules: dict[str, Any]) -> ModelAlert:
    """Raise the `forecast_degradation` warning of a forecast that expects a breach (one open
    alert per version: a repeat updates it), then the auto-action the policy allows."""
    breach: date = result["expected_breach_at"]
    first_day = result["days"][0]["date"]
    in_days = (breach - first_day).days
    message = (f"{model.machine} v{model.version} is expected to fail its policy from {breach:%d %b %Y} "
               f"(in {in_days} days, probability {result['breach_probability']:.0%}): "
               + " ".join(result["reasons"][:2]))
    details = {
        "expected_breach_at": breach.isoformat(), "days_to_breach": in_days,
        "breach_probability": result["breach_probability"], "source": result["source"],
        "reasons": result["reasons"],
        "forecast_start": result["start"].isoformat(),
    }
    alert, _ = alert_raise(machine=model.machine, model=model, model_type=model.model_type,
                           alert_type=AlertType.FORECAST_DEGRADATION, severity=Severity.WARNING,
                           message=message, details=details)
    details["proposal"] = _proposal(model=model, result=result, rules=rules, alert=alert)
    ModelAlert.objects.filter(pk=alert.pk).update(details=details)
    alert.details = details
    return alert


def _proposal(*, model: EnergyBaseline, result: dict[str, Any], rules: dict[str, Any],
              alert: ModelAlert) -> dict[str, Any]:
    """Retrain on a window that covers the coming range once enough readings of it exist (when
    the policy allows it), else propose extending the window back to last year's same season."""
    from ..models import TriggerType
    from .training import training_trigger

    outside = result["reporting_hours_outside"]
    latest = result["start"]
    if outside >= int(rules["min_outside_hours"]) and result["first_reading_outside"] is not None:
        window_days = int(policy_for(model.machine)["retrain_window_days"])
        training_start = result["first_reading_outside"] - timedelta(days=window_days)
        proposal = {"action": "retrain", "training_start": training_start.isoformat(),
                    "training_end": None, "hours_outside_seen": outside}
        if rules.get("auto_retrain") and "retrain" not in alert.auto_action_taken:
            try:
                job = training_trigger(machine=model.machine, model_type=model.model_type, model=model,
                                       trigger_type=TriggerType.DEGRADATION, training_start=training_start,
                                       reason=f"auto: forecast degradation alert {alert.pk}: the window covers the "
                                              "new driver range")
                taken = f"retrain {job.pk}"
                proposal["training_id"] = str(job.pk)
            except Conflict as exc:
                taken = f"retrain already open {exc.fields.get('training_id', '')}".strip()
            recorded = ", ".join(a for a in (alert.auto_action_taken, taken) if a)[:200]
            ModelAlert.objects.filter(pk=alert.pk).update(auto_action_taken=recorded)
            alert.auto_action_taken = recorded
        return proposal
    season = [s for s in result["days"] if s["source"] in ("history", "mixed")]
    if season:
        start = _shift_year(result["expected_breach_at"], -1) - timedelta(days=14)
        return {"action": "extend_window", "training_start": start.isoformat(),
                "training_end": latest.isoformat() if latest else None,
                "reason": "last year's readings of the same season cover the coming range; a window reaching "
                          "back to them lets the retrained version see it now",
                "hours_outside_seen": outside}
    return {"action": "wait", "hours_outside_seen": outside, "hours_needed": int(rules["min_outside_hours"]),
            "reason": "no readings of the coming range yet, this year or last; retrain once they exist"}


cycle_register(name="forecast", versions=_forecast_versions, batch=_forecast_cycle_batch)

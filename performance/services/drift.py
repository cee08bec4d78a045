"""Drift checks: load readings, call the numeric drift module, store the verdict, raise alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction

from baselines.artifacts import pipeline_for
from baselines.engine.features import tow_codes
from baselines.engine.fit import FitResult, predict
from baselines.engine.metrics import regression_metrics
from baselines.models import EnergyBaseline
from baselines.selectors import readings_frame
from enms.policy import policy_for

from ..drift.reference import reference_statistics
from ..drift.thresholds import DriftThresholds
from ..drift.verdict import check_drift
from ..models import AlertType, MetricSource, Severity
from .alerts import alert_note_clean, alert_raise
from .metrics import metric_build

CURRENT_WINDOW = timedelta(days=7)


def _seconds(ts: pd.Series) -> np.ndarray:
    return ts.dt.tz_convert(None).to_numpy(dtype="datetime64[s]")


def _reference_from_window(model: EnergyBaseline, start, end) -> dict[str, Any]:
    """Reference statistics of an explicit past window (instead of the stored training reference)."""
    frame = readings_frame(machine_ids=[model.machine_id], start=start, end=end)
    if len(frame) < 48:
        from django.core.exceptions import ValidationError

        raise ValidationError({"reference_start": ["The reference window holds fewer than 48 readings."]})
    predicted = predict(pipeline_for(model), frame)
    residuals = frame["energy_kwh"].to_numpy() - predicted
    drivers = {d: frame[d].to_numpy(dtype=float) for d in model.driver_ranges}
    holdout_rmse = (model.holdout_metrics or {}).get("rmse")
    return reference_statistics(drivers, residuals, holdout_rmse=holdout_rmse,
                                            timestamps=_seconds(frame["timestamp"]))


def drift_reference_build(*, fit: FitResult, frame: pd.DataFrame) -> dict[str, Any]:
    """The drift reference stored with a newly trained version (`ENMS_TRAINING_REFERENCE_HOOK`):
    its training drivers and out-of-sample residuals condensed once, so later checks never re-read
    them.

    Each reading's residual comes from the blocked fold that did not see it; the residuals keep
    their timestamps, local days and occupancy, so the reference records their autocorrelation
    (lag-1 and day to day) with the version. Without folds (no holdout) the stored model's
    in-sample residuals are used, inflated by the holdout excess as before.
    """
    oos = np.asarray(fit.oos_residuals, dtype=float)
    if fit.n_folds and np.isfinite(oos).sum() >= 2:
        reference = reference_statistics(
            fit.train_X, oos, holdout_rmse=fit.holdout_metrics.get("rmse"), timestamps=fit.timestamps,
            out_of_sample=True, days=fit.local_days, occupied=fit.occupied,
        )
    else:
        reference = reference_statistics(
            fit.train_X, fit.train_residuals, holdout_rmse=fit.holdout_metrics.get("rmse"),
            timestamps=fit.timestamps, holdout_n=int(fit.holdout_index.size), days=fit.local_days,
            occupied=fit.occupied,
        )
    reference["n_params"] = fit.n_params
    schedule = occupancy_schedule(fit)
    if schedule is not None:
        reference["occupancy"] = schedule
    return reference


def occupancy_schedule(fit: FitResult) -> dict[str, Any] | None:
    """The version's occupied hours of the week (local time, 0 = Monday 00:00), from its training
    readings' occupied flags: ``{"time_zone", "hours": [0/1 x 168]}``, or ``None`` without a
    schedule (not hourly, or no occupancy found)."""
    if fit.occupied is None or fit.interval != "hourly":
        return None
    occupied = np.asarray(fit.occupied, dtype=bool)
    codes = tow_codes(pd.Series(fit.timestamps), "hourly", fit.time_zone)
    count = np.bincount(codes, minlength=168)[:168]
    hits = np.bincount(codes, weights=occupied.astype(float), minlength=168)[:168]
    return {"time_zone": fit.time_zone, "hours": [int(h > c / 2) for h, c in zip(hits, count, strict=True)]}


def window_occupied(reference: dict[str, Any], timestamps: pd.Series) -> np.ndarray | None:
    """Occupied flag of every reading of a checked window by the version's stored schedule."""
    schedule = reference.get("occupancy")
    if not schedule or len(schedule.get("hours") or []) != 168:
        return None
    return np.asarray(schedule["hours"], dtype=bool)[tow_codes(timestamps, "hourly", schedule.get("time_zone"))]


def drift_impact(*, change: dict[str, Any], window_end: datetime, interval_hours: float,
                 policy: dict) -> dict[str, Any]:
    """What a consumption change costs: direction, percent, kWh per day, kWh since the change point
    (the sum of actual minus predicted from it to the window end), and cost and CO2 when the policy
    has a price per kWh and an emission factor."""
    kwh = change.get("kwh_since_change")
    price = policy.get("energy_price_per_kwh")
    factor = policy.get("emission_factor_kg_per_kwh")
    return {
        "direction": change["direction"],
        "percent": round(100.0 * change["shift_relative"], 2),
        "percent_interval": [round(100.0 * v, 2) for v in change.get("ci_relative") or []],
        "kwh_per_day": round(change["shift_kwh"] * 24.0 / interval_hours, 3),
        "kwh_since_change": None if kwh is None else round(kwh, 3),
        "change_point": change["change_point"].isoformat() if change.get("change_point") else None,
        "window_end": window_end.isoformat(),
        "cost": None if price is None or kwh is None else round(kwh * float(price), 2),
        "co2_kg": None if factor is None or kwh is None else round(kwh * float(factor), 3),
    }


def _held_prediction(pipeline, reference: dict[str, Any], frame: pd.DataFrame, predicted: np.ndarray) -> np.ndarray:
    """The version's predictions with every driver clipped to its training range: what the model
    says without extrapolating. Only re-predicted when some driver lies outside its range."""
    held = None
    for name, ref in reference["drivers"].items():
        if name not in frame or not ref.get("n") or ref.get("min") is None or ref.get("max") is None:
            continue
        x = frame[name].to_numpy(dtype=float)
        clipped = np.clip(x, float(ref["min"]), float(ref["max"]))
        if np.any(np.isfinite(x) & (clipped != x)):
            if held is None:
                held = frame.copy()
            held[name] = clipped
    return predicted if held is None else predict(pipeline, held)


def drift_judge(*, pipeline, reference: dict[str, Any], frame: pd.DataFrame, thresholds: DriftThresholds,
                training_window: tuple | None = None, policy: dict | None = None,
                time_zone: str | None = None) -> dict[str, Any]:
    """The numeric drift verdict of a fitted pipeline on the readings in `frame` (one machine,
    time-ordered), with change points as times and the impact of a consumption change.

    The one entry point of every drift verdict: the service's checks and the detection bench
    call it alike. `training_window` (start, end) marks the rows seen in training (counted as
    `in_sample_hours`, never judged).
    """
    if "is_anomaly" in frame and frame["is_anomaly"].any():
        # Labelled anomalies are judged by the anomaly detector; here they would pass for drift.
        frame = frame[~frame["is_anomaly"].to_numpy(dtype=bool)].reset_index(drop=True)
    predicted = predict(pipeline, frame)
    actual = frame["energy_kwh"].to_numpy(dtype=float)
    residuals = actual - predicted
    drivers = {d: frame[d].to_numpy(dtype=float) for d in reference["drivers"] if d in frame}
    seconds = frame["timestamp"].dt.tz_convert(None).to_numpy(dtype="datetime64[s]").astype(np.int64).astype(float)
    in_sample = np.zeros(len(frame), dtype=bool)
    if training_window is not None and training_window[0] is not None and training_window[1] is not None:
        ts = frame["timestamp"]
        in_sample = ((ts >= pd.Timestamp(training_window[0])) & (ts <= pd.Timestamp(training_window[1]))).to_numpy()
    local = frame["timestamp"].dt.tz_convert(time_zone or "UTC").dt.tz_localize(None)
    days = (local.to_numpy(dtype="datetime64[D]").astype(np.int64))
    # No parameter is fitted on the current window, so its NMBE and CV(RMSE) lose no degrees of freedom.
    result = check_drift(reference, drivers, residuals, actual, 0, thresholds, seconds=seconds, in_sample=in_sample,
                         days=days, occupied=window_occupied(reference, frame["timestamp"]),
                         held=_held_prediction(pipeline, reference, frame, predicted))
    concept = result["concept_drift"]
    interval_h = float(reference["residuals"].get("interval_seconds") or 3600.0) / 3600.0
    result["in_sample_hours"] = float(in_sample.sum() * interval_h)

    def at(index):
        return frame["timestamp"].iloc[int(index)].to_pydatetime() if index is not None and 0 <= index < len(frame) \
            else None

    for key in ("change_point", "hourly_change_point"):
        concept[f"{key}_index"] = concept.get(key)
        concept[key] = at(concept.get(key))
    change = result["consumption_change"]
    change["change_point_index"] = change.get("change_point")
    change["change_point"] = at(change.get("change_point"))
    result["impact"] = drift_impact(change=change, window_end=frame["timestamp"].iloc[-1].to_pydatetime(),
                                    interval_hours=interval_h, policy=policy or {}) \
        if change.get("detected") else None
    ok = np.isfinite(predicted)
    result["metrics"] = regression_metrics(actual[ok], predicted[ok], 0) if ok.sum() >= 2 else {}
    result["window"] = (frame["timestamp"].iloc[0].to_pydatetime(), frame["timestamp"].iloc[-1].to_pydatetime())
    result["sample_count"] = int(len(frame))
    return result


def drift_evaluate(model: EnergyBaseline, frame: pd.DataFrame, reference: dict | None = None,
                   policy: dict | None = None) -> dict[str, Any]:
    """The drift verdict of `model` on the readings in `frame` (one machine, time-ordered)."""
    policy = policy or policy_for(model.machine)
    return drift_judge(pipeline=pipeline_for(model), reference=reference or model.reference_stats, frame=frame,
                       thresholds=DriftThresholds.from_dict(policy.get("drift") or {}),
                       training_window=(model.training_start, model.training_end), policy=policy,
                       time_zone=getattr(model.machine, "time_zone", None))


def drift_check(
    *,
    model: EnergyBaseline,
    reference_start: datetime | None = None,
    reference_end: datetime | None = None,
    current_start: datetime | None = None,
    current_end: datetime | None = None,
    auto_actions: bool = True,
    evaluated_at: datetime | None = None,
    user=None,
) -> dict[str, Any]:
    """Check `model` for drift, store the verdict as a metrics row, raise or count an alert.

    Default reference: the statistics stored at training. Default current window: the latest
    7 days of readings. A critical verdict may trigger retraining and notifications (policy);
    when `user` set off the check, only those its permissions allow (the rest are suggested).
    """
    from django.core.exceptions import ValidationError

    if model.model_type != "energy_baseline" or not model.reference_stats:
        raise ValidationError({"model_id": ["Drift checks need a trained energy baseline."]})
    policy = policy_for(model.machine)
    if current_start is None and current_end is None:
        last = model.machine.readings.order_by("-timestamp").values_list("timestamp", flat=True).first()
        if last is None:
            raise ValidationError({"model_id": ["This machine has no readings to check."]})
        current_end = last + timedelta(seconds=1)
        current_start = current_end - CURRENT_WINDOW
    frame = readings_frame(machine_ids=[model.machine_id], start=current_start, end=current_end)
    if len(frame) < 24:
        raise ValidationError({"current_start": [f"The current window holds {len(frame)} readings; at least 24 "
                                                 "are needed."]})
    reference = None
    if reference_start is not None or reference_end is not None:
        reference = _reference_from_window(model, reference_start, reference_end)
    result = drift_evaluate(model, frame, reference, policy)
    return drift_store(model=model, result=result, policy=policy, auto_actions=auto_actions,
                       evaluated_at=evaluated_at, user=user)


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _reasons(result: dict[str, Any]) -> list[str]:
    """The verdict's reasons, the consumption change dated."""
    reasons = list(result["details"].get("reasons", []))
    change = result["consumption_change"]
    if change.get("significant") and change.get("change_point") and reasons:
        when = f" since {change['change_point']:%Y-%m-%d %H:%M} UTC"
        reasons = [r.replace(" against the baseline", f" against the baseline{when}", 1)
                   if r.startswith("consumption ") else r for r in reasons]
    return reasons


def drift_store(*, model: EnergyBaseline, result: dict[str, Any], policy: dict, auto_actions: bool,
                evaluated_at: datetime | None = None, user=None) -> dict:
    """Store one drift verdict as a metrics row and raise the alert it calls for.

    Auto-actions follow the cause: a `consumption_change` is alerted (and notified per policy)
    but never retrains or re-baselines by itself, since a new baseline would absorb the change;
    `coverage` and `model_error` may retrain per policy, on the latest readings (which cover the
    new driver range).
    """
    concept = result["concept_drift"]
    severity = result["severity"]
    metrics = result["metrics"]
    cause = result["cause"]
    reasons = _reasons(result)
    change = {**result["consumption_change"], "change_point": _iso(result["consumption_change"]["change_point"])}
    details = {
        "data_drift": result["data_drift"],
        "concept_drift": {**concept, "change_point": _iso(concept["change_point"]),
                          "hourly_change_point": _iso(concept.get("hourly_change_point"))},
        **result["details"],
        "reasons": reasons,
        "consumption_change": change,
        "cause": cause,
        "impact": result["impact"],
        "in_sample_hours": result["in_sample_hours"],
        "actions": [],
    }
    with transaction.atomic():
        row = metric_build(
            model=model,
            values={
                "sample_count": result["sample_count"],
                "evaluation_start": result["window"][0],
                "evaluation_end": result["window"][1] + timedelta(hours=1),
                **{k: metrics.get(k) for k in ("r_squared", "rmse", "mae", "mape", "wape", "cv_rmse", "nmbe")},
                "drift_detected": result["drift_detected"],
                "drift_score": result["drift_score"],
                "drift_details": details,
            },
            source=MetricSource.DRIFT_CHECK,
            policy=policy,
            evaluated_at=evaluated_at,
        )
        if row.r_squared is not None and row.r_squared > 1:
            row.r_squared = 1.0
        row.save()
        alert = None
        actions: list[dict] = []
        suggested: list[dict] = []
        if severity in (Severity.WARNING, Severity.CRITICAL):
            # The alert's message and evidence are written from the stored check (`metric`).
            alert, _ = alert_raise(
                machine=model.machine, model=model, model_type=model.model_type, alert_type=AlertType.DRIFT,
                severity=severity, metric=row,
            )
            if auto_actions:
                from .actions import alert_auto_actions

                outcome = alert_auto_actions(alert=alert, policy=policy, trigger_type="drift", user=user,
                                             retrain=cause in ("coverage", "model_error"))
                actions, suggested = outcome.actions, outcome.suggested
        else:
            alert_note_clean(model=model, alert_type=AlertType.DRIFT, metric=row, policy=policy)
        if actions:
            details["actions"] = actions
            row.drift_details = details
            row.save(update_fields=["drift_details"])
            if alert is not None:
                alert.details = {**(alert.details or {}), "actions": actions}
                type(alert).objects.filter(pk=alert.pk).update(details=alert.details)
    data = {
        name: {k: v.get(k) for k in ("psi", "ks_statistic", "ks_pvalue", "wasserstein", "out_of_range_share",
                                     "drifted", "level")}
        for name, v in result["data_drift"].items()
    }
    return {
        "metric_id": row.pk,
        "drift_detected": result["drift_detected"],
        "drift_score": result["drift_score"],
        "severity": severity,
        "cause": cause,
        "impact": result["impact"],
        "in_sample_hours": result["in_sample_hours"],
        "reasons": reasons,
        "data_drift": data,
        "concept_drift": {k: concept.get(k) for k in ("nmbe", "cv_rmse", "error_ratio", "change_point", "drifted",
                                                        "level", "mean_shift_z")},
        "coverage": {k: result["coverage"].get(k) for k in ("uncovered_share", "outside_share", "sparse_share",
                                                              "level")},
        "alert_id": alert.pk if alert is not None else None,
        "actions": actions,
        "suggested_actions": suggested,
    }

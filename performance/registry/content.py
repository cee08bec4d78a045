"""What a version looks like in MLflow: its parameters, metrics and model card (plain functions of
the version row, so they are tested without a server)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

#: MLflow keeps parameter values up to 6,000 characters; ours are cut well before that.
MAX_PARAM_CHARS = 500
#: The columns of an evaluation row added to the run, as `eval_<column>`.
EVALUATION_COLUMNS = ("rmse", "mae", "cv_rmse", "nmbe", "r_squared", "mape", "wape", "drift_score",
                      "rmse_degradation", "precision", "recall", "f1_score")


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return text if len(text) <= MAX_PARAM_CHARS else text[:MAX_PARAM_CHARS - 1] + "…"


def _time(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def version_params(baseline) -> dict[str, str]:
    """Algorithm, hyperparameters, window, drivers and balance points of a version."""
    hyper = dict(baseline.hyperparameters or {})
    balance = hyper.pop("balance_points", None) or {}
    hyper.pop("selection", None)  # the evidence of the term selection: long, and in the model card
    params = {
        "algorithm": baseline.algorithm or "",
        "model_type": baseline.model_type,
        "machine_id": str(baseline.machine_id),
        "version": str(baseline.version),
        "data_interval": baseline.data_interval,
        "n_params": str(baseline.n_params),
        "training_start": _time(baseline.training_start),
        "training_end": _time(baseline.training_end),
        "training_sample_count": str(baseline.training_sample_count),
        "drivers": ",".join(sorted(baseline.driver_ranges or {})),
        "features": _text(list(baseline.features or [])),
    }
    for key, value in sorted(hyper.items()):
        params[f"hp.{key}"] = _text(value)
    for key, value in sorted(balance.items()):
        params[f"balance.{key}"] = "" if value is None else _text(value)
    return {k: _text(v) for k, v in params.items()}


def _numbers(prefix: str, values: dict | None) -> dict[str, float]:
    out = {}
    for key, value in (values or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(float(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


def version_metrics(baseline) -> dict[str, float]:
    """Training (`train_*`), holdout (`holdout_*`) and blocked-fold (`cv_*`) metrics of a version."""
    holdout = baseline.holdout_metrics or {}
    return {
        **_numbers("train_", baseline.training_metrics),
        **_numbers("holdout_", holdout),
        **_numbers("cv_", holdout.get("blocked_folds")),
    }


def evaluation_points(rows) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp ms, step) of evaluation rows: step and time are the evaluation time,
    so MLflow charts each metric along the model's life."""
    points = []
    for row in rows:
        at = row.evaluated_at
        ms = int(at.timestamp() * 1000)
        for column in EVALUATION_COLUMNS:
            value = getattr(row, column, None)
            if value is not None and math.isfinite(float(value)):
                points.append((f"eval_{column}", float(value), ms, int(at.timestamp())))
    return points


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def model_card(baseline, *, machine_name: str, source_uri: str = "") -> str:
    """A short Markdown description of a version: what, trained on what, how good, how to load it."""
    hyper = baseline.hyperparameters or {}
    holdout = baseline.holdout_metrics or {}
    train = baseline.training_metrics or {}
    lines = [
        f"# {machine_name}: {baseline.model_type} v{baseline.version}",
        "",
        f"- version id: `{baseline.pk}`",
        f"- machine id: `{baseline.machine_id}`",
        f"- status when logged: {baseline.status}",
        f"- algorithm: {baseline.algorithm or '—'}",
        f"- data interval: {baseline.data_interval}",
        f"- training window: {_time(baseline.training_start) or '—'} to {_time(baseline.training_end) or '—'} "
        f"({baseline.training_sample_count} readings)",
        f"- drivers: {', '.join(sorted(baseline.driver_ranges or {})) or '—'}",
        f"- balance points: {_text(hyper.get('balance_points') or {})}",
        f"- time zone: {hyper.get('time_zone', '—')}",
    ]
    if source_uri:
        lines.append(f"- imported from: `{source_uri}`")
    lines += ["", "## Metrics", "", "| metric | training (in-sample) | holdout (out-of-sample) |", "|---|---|---|"]
    for key in ("rmse", "mae", "cv_rmse", "nmbe", "r_squared", "n"):
        if key in train or key in holdout:
            lines.append(f"| {key} | {_fmt(train.get(key))} | {_fmt(holdout.get(key))} |")
    ashrae = holdout.get("ashrae") or {}
    if ashrae:
        lines += ["", f"ASHRAE Guideline 14 on the holdout: {'passes' if ashrae.get('passes') else 'fails'}."]
    lines += [
        "",
        "## Artifact",
        "",
        "`model.skops` is the fitted scikit-learn pipeline in skops format, signed with the product's key",
        "(`model.skops.sig`, HMAC-SHA256). Load it only with skops and an explicit list of trusted types;",
        "the product loads nothing whose signature or types do not check out.",
        "",
    ]
    return "\n".join(lines)

"""Fitting an energy baseline: evaluation on blocked folds, the refit on the whole window,
prediction and extrapolation flags.

:func:`fit_baseline` first judges the model form on time-ordered blocks of the window (each
block predicted by a fit that never saw it, the last block by a fit on the readings before it:
the holdout), then fits the model that is stored and used on every reading of the window. The
model form is chosen inside every fit (balance points, occupancy, the terms kept), so the
holdout and out-of-sample figures judge the whole procedure, not one lucky choice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .balance import TermSelection, estimate_occupancy, search_temperature_terms
from .features import (
    DRIVERS,
    TEMPERATURE,
    TOW_LEVELS,
    EnergyFeatures,
    as_frame,
    check_time_zone,
    infer_interval,
    local_day_numbers,
    numeric_column,
    to_utc,
    tow_codes,
)
from .linear import fit_linear
from .metrics import ashrae_check, regression_metrics
from .validation import blocked_folds, out_of_sample

#: Fewest usable readings a baseline may be fitted on, per interval.
MIN_ROWS: dict[str, int] = {"hourly": 48, "daily": 14, "monthly": 12}

#: Accepted keys of ``fit_baseline(hyperparameters=...)`` and their defaults.
#: ``time_of_week=None`` means: on for hourly and daily data when every
#: indicator level is seen about three times in the data fitted.
HYPERPARAMETER_DEFAULTS: dict[str, Any] = {
    "algorithm": "ridge",
    "alpha": 1.0,
    "holdout_fraction": 0.2,
    "time_of_week": None,
    "nonnegative_degree_coefs": True,
    "exclude_anomalies": True,
    "max_iter": 200,
    "learning_rate": 0.1,
}

ALGORITHMS = ("ridge", "linear", "gbr")
MIN_DRIVER_COVERAGE = 0.9


@dataclass
class FitResult:
    """Everything :func:`fit_baseline` learned, with its evidence.

    ``pipeline`` is the stored model, fitted on every usable reading of the
    window; ``train_index`` holds those readings' labels in the input
    DataFrame, in time order, ``train_residuals`` its in-sample residuals,
    ``train_metrics`` its in-sample metrics with ``n_params`` degrees of
    freedom, ``train_X`` the raw values of the drivers it uses and
    ``driver_ranges`` their ranges.

    ``holdout_metrics`` come from the fit on the readings before
    ``holdout_start`` only, scored on ``holdout_index`` (the last
    ``holdout_fraction`` of the window), with ``holdout_n_params`` (0): no
    parameter is estimated on held-out readings. ``ashrae`` judges them.

    ``oos_residuals`` (aligned with ``train_index`` and ``timestamps``) are
    out-of-sample: each reading's residual from the fit of the blocked fold
    that did not see it (``oos_fold``: its block; NaN where that block's fit
    failed); ``cv_metrics`` are their metrics over the whole window.
    ``local_days`` numbers each reading's local calendar day, ``occupied``
    flags the stored model's occupied hours (``None`` without a schedule).

    ``n_params`` counts every fitted and searched parameter: the design
    columns (the time-of-week indicators span the intercept, so it is not
    counted again; an intercept is counted without them), each searched
    balance point and the occupancy schedule when a term is split by it.
    """

    pipeline: Pipeline
    algorithm: str
    features: list[str]
    balance_points: dict[str, float | None]
    n_params: int
    interval: str
    time_zone: str | None
    training_start: pd.Timestamp
    training_end: pd.Timestamp
    holdout_start: pd.Timestamp | None
    train_metrics: dict[str, Any]
    holdout_metrics: dict[str, Any]
    cv_metrics: dict[str, Any]
    ashrae: dict[str, Any]
    driver_ranges: dict[str, list[float]]
    train_residuals: np.ndarray
    holdout_residuals: np.ndarray
    oos_residuals: np.ndarray
    oos_fold: np.ndarray
    timestamps: np.ndarray
    local_days: np.ndarray
    occupied: np.ndarray | None
    train_index: np.ndarray
    holdout_index: np.ndarray
    train_X: dict[str, np.ndarray]
    hyperparameters: dict[str, Any]
    selection: dict[str, Any] = field(default_factory=dict)
    n_folds: int = 0
    holdout_n_params: int = 0
    n_excluded_anomalies: int = 0
    n_dropped_rows: int = 0
    design_columns: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable description (no pipeline, no arrays)."""

        def iso(ts: pd.Timestamp | None) -> str | None:
            return None if ts is None else ts.isoformat()

        return {
            "algorithm": self.algorithm,
            "features": list(self.features),
            "balance_points": dict(self.balance_points),
            "n_params": self.n_params,
            "holdout_n_params": self.holdout_n_params,
            "interval": self.interval,
            "time_zone": self.time_zone,
            "training_start": iso(self.training_start),
            "training_end": iso(self.training_end),
            "holdout_start": iso(self.holdout_start),
            "n_train": int(self.train_index.size),
            "n_holdout": int(self.holdout_index.size),
            "n_folds": self.n_folds,
            "n_excluded_anomalies": self.n_excluded_anomalies,
            "n_dropped_rows": self.n_dropped_rows,
            "train_metrics": dict(self.train_metrics),
            "holdout_metrics": dict(self.holdout_metrics),
            "cv_metrics": dict(self.cv_metrics),
            "ashrae": dict(self.ashrae),
            "driver_ranges": {k: list(v) for k, v in self.driver_ranges.items()},
            "hyperparameters": dict(self.hyperparameters),
            "selection": dict(self.selection),
        }


def _resolve_hyperparameters(hyperparameters: Mapping[str, Any] | None, holdout_fraction: float) -> dict[str, Any]:
    hp = dict(HYPERPARAMETER_DEFAULTS)
    hp["holdout_fraction"] = holdout_fraction
    given = dict(hyperparameters or {})
    unknown = sorted(set(given) - set(HYPERPARAMETER_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown hyperparameters {unknown}; known: {sorted(HYPERPARAMETER_DEFAULTS)}")
    hp.update(given)
    if hp["algorithm"] not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, not {hp['algorithm']!r}")
    hp["alpha"] = float(hp["alpha"])
    if hp["alpha"] < 0:
        raise ValueError("alpha must be >= 0")
    hp["holdout_fraction"] = float(hp["holdout_fraction"])
    if not 0.0 <= hp["holdout_fraction"] <= 0.5:
        raise ValueError("holdout_fraction must lie in [0, 0.5]")
    if hp["time_of_week"] is not None:
        hp["time_of_week"] = bool(hp["time_of_week"])
    hp["nonnegative_degree_coefs"] = bool(hp["nonnegative_degree_coefs"])
    hp["exclude_anomalies"] = bool(hp["exclude_anomalies"])
    hp["max_iter"] = int(hp["max_iter"])
    hp["learning_rate"] = float(hp["learning_rate"])
    return hp


def _build_pipeline(features: EnergyFeatures, algorithm: str, hp: Mapping[str, Any]) -> Pipeline:
    steps: list[tuple[str, Any]] = [("features", features)]
    if algorithm == "mean":
        steps.append(("model", DummyRegressor(strategy="mean")))
    elif algorithm == "ridge":
        # On raw columns a fixed alpha would shrink by driver units (kWh per piece vs
        # per tonne) and pull the rarely-on time-of-week indicators toward zero,
        # leaking their effect into correlated drivers; standardised, alpha stays small.
        steps += [("scale", StandardScaler()), ("model", Ridge(alpha=hp["alpha"]))]
    elif algorithm == "linear":
        steps.append(("model", LinearRegression()))
    else:
        model = HistGradientBoostingRegressor(
            max_iter=hp["max_iter"], learning_rate=hp["learning_rate"], random_state=0
        )
        steps.append(("model", model))
    return Pipeline(steps)


def _too_little(n: int, interval: str, what: str) -> ValueError:
    return ValueError(
        f"too little data to fit a baseline: {n} usable {interval} readings {what}, need at least {MIN_ROWS[interval]}"
    )


def fit_baseline(
    df: pd.DataFrame,
    *,
    holdout_fraction: float = 0.2,
    hyperparameters: dict[str, Any] | None = None,
    time_zone: str | None = None,
) -> FitResult:
    """Fit an energy baseline on readings ``df``: validate it on time-ordered folds, then refit.

    Steps: rows without energy or timestamp (and, unless
    ``exclude_anomalies=False``, rows labelled ``is_anomaly``) are dropped;
    drivers with at least 90 % coverage that vary are used and rows missing
    one of them are dropped. The window is cut into time-ordered blocks
    (:mod:`.validation`), the last ``holdout_fraction`` of readings being the
    holdout; every block is predicted by a fit that did not see it. Then the
    stored pipeline ``EnergyFeatures -> regressor`` is fitted on every row.
    Each fit searches its own temperature terms (:mod:`.balance`) and
    occupancy schedule on its own rows.

    Time of week and occupancy use local wall-clock time in ``time_zone`` (an
    IANA name such as ``"Europe/Berlin"``; ``None`` = UTC); the zone is stored
    in the pipeline, so predictions use it too.

    Regressors: ``"ridge"`` (on standardised design columns, so ``alpha`` means
    the same for every machine whatever its driver units), ``"linear"``
    (least squares) or ``"gbr"`` (histogram gradient boosting on the drivers,
    local hour, weekday and occupancy). When no design column is left (no
    usable driver, no time-of-week) the baseline is the mean and
    ``algorithm`` is ``"mean"``.

    ``hyperparameters`` (keys of :data:`HYPERPARAMETER_DEFAULTS`) override the
    defaults, ``holdout_fraction`` included; the resolved values are returned
    in ``FitResult.hyperparameters``. Raises ``ValueError`` when there are no
    energy values, too few readings (:data:`MIN_ROWS`), an unknown time zone
    or bad hyperparameters.
    """
    hp = _resolve_hyperparameters(hyperparameters, holdout_fraction)
    time_zone = check_time_zone(time_zone)
    # The matrices of one machine are small: multithreaded BLAS (or OpenMP in gradient
    # boosting) buys nothing there and, with machines fitted side by side, oversubscribes the
    # cores (10x slower measured).
    with threadpool_limits(limits=1):
        return _fit(df, hp, time_zone)


@dataclass
class _Data:
    """The usable readings of a window, time-ordered (``rows`` index ``df`` positionally)."""

    df: pd.DataFrame
    energy: np.ndarray
    rows: np.ndarray
    times: pd.Series
    interval: str
    drivers: list[str]
    time_zone: str | None
    codes: np.ndarray
    days: np.ndarray
    n_excluded: int
    n_dropped: int


def _prepare(df: pd.DataFrame, hp: dict[str, Any], time_zone: str | None) -> _Data:
    df = as_frame(df)
    if "energy_kwh" not in df.columns:
        raise ValueError("DataFrame has no 'energy_kwh' column")
    energy = numeric_column(df, "energy_kwh")
    if not np.isfinite(energy).any():
        raise ValueError("no energy values: 'energy_kwh' is empty or entirely missing")
    ts = to_utc(df["timestamp"])
    keep = np.isfinite(energy) & ts.notna().to_numpy()
    n_excluded = 0
    if hp["exclude_anomalies"] and "is_anomaly" in df.columns:
        flagged = df["is_anomaly"].fillna(False).astype(bool).to_numpy()
        n_excluded = int(np.sum(flagged & keep))
        keep &= ~flagged
    order = np.argsort(ts.to_numpy()[keep], kind="stable")
    rows = np.flatnonzero(keep)[order]
    if rows.size < 2:
        raise ValueError(f"too little data to fit a baseline: {rows.size} usable readings")
    interval = infer_interval(ts.iloc[rows])
    if rows.size < MIN_ROWS[interval]:
        raise _too_little(rows.size, interval, "")
    values = {d: numeric_column(df, d)[rows] for d in DRIVERS if d in df.columns}
    drivers = [
        d for d, v in values.items() if np.mean(np.isfinite(v)) >= MIN_DRIVER_COVERAGE and np.nanmax(v) > np.nanmin(v)
    ]
    complete = np.ones(rows.size, dtype=bool)
    for d in drivers:
        complete &= np.isfinite(values[d])
    rows = rows[complete]
    if rows.size < MIN_ROWS[interval]:
        raise _too_little(rows.size, interval, "with complete drivers")
    times = ts.iloc[rows].reset_index(drop=True)
    codes = tow_codes(times, interval, time_zone) if TOW_LEVELS[interval] else np.zeros(rows.size, dtype=np.intp)
    days = local_day_numbers(times, time_zone)
    return _Data(df=df, energy=energy, rows=rows, times=times, interval=interval, drivers=drivers,
                 time_zone=time_zone, codes=codes, days=days, n_excluded=n_excluded,
                 n_dropped=len(df) - rows.size - n_excluded)


@dataclass
class _Model:
    pipeline: Pipeline | None
    predict: Callable[..., np.ndarray]
    algorithm: str
    drivers: list[str]
    features: list[str]
    selection: TermSelection
    n_params: int
    time_of_week: bool
    occupancy: np.ndarray | None


def _fit_model(data: _Data, positions: np.ndarray, hp: dict[str, Any], *, stored: bool) -> _Model:
    """Fit the whole procedure (drivers, time of week, temperature terms, regressor) on the
    readings at ``positions`` (time-ordered indexes into ``data.rows``).

    A fit that is only scored (``stored=False``) solves the linear regressors on the structure
    of the design (:mod:`.linear`), with the same predictions as the pipeline.
    """
    interval = data.interval
    if positions.size < max(2, MIN_ROWS[interval] // 2):
        raise _too_little(positions.size, interval, "in the part fitted")
    frame = data.df.iloc[data.rows[positions]]
    y = data.energy[data.rows[positions]]
    values = {d: numeric_column(frame, d) for d in data.drivers}
    drivers = [d for d in data.drivers if np.ptp(values[d]) > 0]
    levels = TOW_LEVELS[interval]
    tow = hp["time_of_week"]
    if tow is None:
        tow = levels > 0 and positions.size >= 3 * levels
    tow = bool(tow) and levels > 0
    codes = data.codes[positions] if tow else np.zeros(positions.size, dtype=np.intp)
    t = values.get(TEMPERATURE)
    occupancy = None
    if interval == "hourly" and tow:
        occupancy = estimate_occupancy(t, y, codes)
    tree = hp["algorithm"] == "gbr"
    selection = TermSelection()
    if TEMPERATURE in drivers and not tree:
        linear = [d for d in drivers if d != TEMPERATURE]
        selection = search_temperature_terms(
            t, y,
            np.column_stack([values[d] for d in linear]) if linear else np.empty((positions.size, 0)),
            codes, data.days[positions], interval=interval, nonneg=hp["nonnegative_degree_coefs"],
            occupied=None if occupancy is None else occupancy[codes].astype(bool),
        )
        if selection.heat is None and selection.cool is None:
            drivers.remove(TEMPERATURE)
    split = selection.split if occupancy is not None else ()
    features_step = EnergyFeatures(
        drivers=drivers, heat_balance_c=selection.heat, cool_balance_c=selection.cool, time_of_week=tow,
        interval=interval, time_zone=data.time_zone,
        occupancy=None if occupancy is None or not (tree or split) else [int(v) for v in occupancy],
        occupancy_split=split, encoding="tree" if tree else "linear",
    )
    # Without drivers or time-of-week there is nothing to regress on: the baseline is the mean.
    algorithm = hp["algorithm"] if features_step.fit(frame).n_features_out_ else "mean"
    pipeline = None
    if not stored and algorithm in ("ridge", "linear"):
        # The local time-of-week codes of every reading were computed once, in _prepare.
        known = data.codes[positions] if TOW_LEVELS[interval] else None
        dense, codes_ = features_step.parts(frame, known)
        solved = fit_linear(dense, codes_, TOW_LEVELS[interval], y, alpha=hp["alpha"] if algorithm == "ridge" else None)

        def predict_rows(rows: pd.DataFrame, row_codes: np.ndarray | None = None) -> np.ndarray:
            return solved.predict(*features_step.parts(rows, row_codes))
    else:
        pipeline = _build_pipeline(features_step, algorithm, hp)
        pipeline.fit(frame, y)
        predict_rows = pipeline.predict
    columns = list(features_step.feature_names_out_)
    if algorithm == "mean":
        n_params = 1
    elif tree:
        n_params = len(columns) + 1
    else:
        fixed = [c for c in columns if not c.startswith(("tow_", "dow_"))]
        # The indicators of the time-of-week levels present span the intercept.
        base = int(np.unique(codes).size) if tow else 1
        n_params = len(fixed) + base + selection.n_searched
    suffix = "h" if interval == "hourly" else "d"
    features = list(drivers)
    if selection.heat is not None:
        features.append("hd" + suffix)
    if selection.cool is not None:
        features.append("cd" + suffix)
    if tow:
        features.append("time_of_week")
    if features_step.occupancy is not None:
        features.append("occupancy")
    return _Model(pipeline=pipeline, predict=predict_rows, algorithm=algorithm, drivers=drivers, features=features,
                  selection=selection, n_params=n_params, time_of_week=tow, occupancy=occupancy)


def _fit(df: pd.DataFrame, hp: dict[str, Any], time_zone: str | None) -> FitResult:
    data = _prepare(df, hp, time_zone)
    n = data.rows.size
    interval = data.interval
    blocks = blocked_folds(data.times, hp["holdout_fraction"])
    if blocks and blocks[-1][0] < max(2, MIN_ROWS[interval] // 2):
        raise _too_little(int(blocks[-1][0]), interval, "in the training part")

    def predict_block(model: _Model, block: np.ndarray) -> np.ndarray:
        rows = data.df.iloc[data.rows[block]]
        if model.pipeline is None and TOW_LEVELS[interval]:
            return model.predict(rows, data.codes[block])
        return model.predict(rows)

    oos = out_of_sample(n, blocks, lambda train: _fit_model(data, train, hp, stored=False), predict_block)
    final = _fit_model(data, np.arange(n), hp, stored=True)
    hp["time_of_week"] = final.time_of_week

    y = data.energy[data.rows]
    frame = data.df.iloc[data.rows]
    fitted = final.pipeline.predict(frame)
    hold = blocks[-1] if blocks else np.empty(0, dtype=np.intp)
    holdout_residuals = y[hold] - oos.predicted[hold]
    holdout_metrics = regression_metrics(y[hold], oos.predicted[hold], 0)
    oos_residuals = y - oos.predicted
    features_step = final.pipeline.named_steps["features"]
    occupied = features_step.occupied(frame) if features_step.occupancy is not None else (
        None if final.occupancy is None else final.occupancy[data.codes].astype(bool))
    train_X = {d: numeric_column(frame, d) for d in final.drivers}
    design = list(features_step.feature_names_out_)
    return FitResult(
        pipeline=final.pipeline,
        algorithm=final.algorithm,
        features=final.features,
        balance_points={"heat_balance_c": final.selection.heat, "cool_balance_c": final.selection.cool},
        n_params=final.n_params,
        interval=interval,
        time_zone=time_zone,
        training_start=data.times.iloc[0],
        training_end=data.times.iloc[-1],
        holdout_start=data.times.iloc[int(hold[0])] if hold.size else None,
        train_metrics=regression_metrics(y, fitted, final.n_params),
        holdout_metrics=holdout_metrics,
        cv_metrics=regression_metrics(y, oos.predicted, 0),
        ashrae=ashrae_check(holdout_metrics, interval),
        driver_ranges={d: [float(v.min()), float(v.max())] for d, v in train_X.items()},
        train_residuals=y - fitted,
        holdout_residuals=holdout_residuals,
        oos_residuals=oos_residuals,
        oos_fold=oos.fold,
        timestamps=data.times.dt.tz_convert(None).to_numpy(dtype="datetime64[s]"),
        local_days=data.days,
        occupied=occupied,
        train_index=data.df.index.to_numpy()[data.rows],
        holdout_index=data.df.index.to_numpy()[data.rows[hold]],
        train_X=train_X,
        hyperparameters=hp,
        selection={**final.selection.evidence, "split": list(final.selection.split),
                   "n_searched": final.selection.n_searched,
                   "fold_errors": {str(k): v for k, v in oos.errors.items()}},
        n_folds=len(blocks),
        holdout_n_params=0,
        n_excluded_anomalies=data.n_excluded,
        n_dropped_rows=data.n_dropped,
        design_columns=design,
    )


# --------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------


def _used_drivers(pipeline: Pipeline) -> list[str]:
    return list(pipeline.named_steps["features"].drivers_)


def predict(pipeline: Pipeline, df: pd.DataFrame) -> np.ndarray:
    """Baseline prediction (kWh) for every row of ``df``, in row order.

    Rows with a missing timestamp or a missing value of a driver the model
    uses get NaN instead of a prediction built on an invented value.
    """
    df = as_frame(df)
    out = np.full(len(df), np.nan)
    ok = to_utc(df["timestamp"]).notna().to_numpy().copy()
    for d in _used_drivers(pipeline):
        if d not in df.columns:
            raise ValueError(f"missing driver column {d!r}")
        ok &= np.isfinite(numeric_column(df, d))
    if ok.any():
        out[ok] = pipeline.predict(df.iloc[np.flatnonzero(ok)])
    return out


def extrapolation_flags(
    df: pd.DataFrame, driver_ranges: Mapping[str, Sequence[float]], *, tolerance: float = 0.0
) -> np.ndarray:
    """True where any driver in ``driver_ranges`` lies outside its training range.

    ``tolerance`` widens each ``[min, max]`` on both sides by that fraction of
    its width (0.05 = 5 %). Missing values are not flagged: such rows get no
    prediction at all.
    """
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    flags = np.zeros(len(df), dtype=bool)
    for d, (lo, hi) in driver_ranges.items():
        if d not in df.columns:
            raise ValueError(f"missing driver column {d!r}")
        margin = tolerance * (float(hi) - float(lo))
        v = numeric_column(df, d)
        with np.errstate(invalid="ignore"):
            flags |= (v < float(lo) - margin) | (v > float(hi) + margin)
    return flags


def coefficients(pipeline: Pipeline) -> dict[str, float] | None:
    """Design column -> coefficient (plus ``"intercept"``) of a linear model.

    Coefficients are in physical units (kWh per design-column unit) even when
    the pipeline standardises the columns. ``None`` for gradient boosting.
    """
    model = pipeline.named_steps["model"]
    if not hasattr(model, "coef_"):
        return None
    names = pipeline.named_steps["features"].feature_names_out_
    coef = np.ravel(model.coef_).astype(float)
    intercept = float(model.intercept_)
    scaler = pipeline.named_steps.get("scale")
    if scaler is not None:
        coef = coef / scaler.scale_
        intercept -= float(coef @ scaler.mean_)
    out = {name: float(c) for name, c in zip(names, coef, strict=True)}
    out["intercept"] = intercept
    return out

"""Fitting an energy baseline: balance-point search, the pipeline, prediction, extrapolation flags."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .features import (
    DRIVERS,
    TEMPERATURE,
    TOW_LEVELS,
    EnergyFeatures,
    as_frame,
    infer_interval,
    numeric_column,
    to_utc,
    tow_codes,
)
from .metrics import ashrae_check, regression_metrics

#: Fewest usable readings a baseline may be fitted on, per interval.
MIN_ROWS: dict[str, int] = {"hourly": 48, "daily": 14, "monthly": 12}

#: Accepted keys of ``fit_baseline(hyperparameters=...)`` and their defaults.
#: ``time_of_week=None`` means: on for hourly and daily data when every
#: indicator level is seen about three times in the training part.
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
# CalTRACK keeps a degree term only when its coefficient is significant at p < 0.10.
DEGREE_TERM_P_VALUE = 0.10


def _residualizer(codes: np.ndarray, X: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """Residual-maker of the base design (intercept + indicators of ``codes`` + ``X``).

    Intercept plus indicators span exactly the within-group means, so removing
    group means replaces a least-squares solve on ~170 columns; only the few
    driver columns need an orthogonal basis (Frisch-Waugh-Lovell). Returns the
    function and the rank of the base design.
    """
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    counts = np.diff(np.r_[starts, codes.size])
    group = np.repeat(np.arange(starts.size), counts)

    def demean(M: np.ndarray) -> np.ndarray:
        Ms = M[order]
        Ms = Ms - (np.add.reduceat(Ms, starts, axis=0) / counts[:, None])[group]
        out = np.empty_like(Ms)
        out[order] = Ms
        return out

    basis = np.empty((codes.size, 0))
    if X.shape[1]:
        u, sv, _ = np.linalg.svd(demean(X), full_matrices=False)
        basis = u[:, sv > sv[0] * max(X.shape) * np.finfo(float).eps] if sv[0] > 0 else basis

    def residualize(M: np.ndarray) -> np.ndarray:
        M = demean(M)
        return M - basis @ (basis.T @ M) if basis.shape[1] else M

    return residualize, int(starts.size + basis.shape[1])


def _degree_candidates(
    t: np.ndarray,
    hs: np.ndarray,
    cs: np.ndarray,
    residualize: Callable[[np.ndarray], np.ndarray],
    y_r: np.ndarray,
    ss_tot: float,
    p_base: int,
    rank: int,
    nonneg: bool,
    forms: Iterable[str],
) -> list[tuple[float, str, float | None, float | None]]:
    """Best qualifying candidate of each model form as ``(adj_r2, form, h, c)``.

    By Frisch-Waugh-Lovell, regressing the base-residualised energy on the
    base-residualised degree columns gives the full-model fit, so every
    (heating, cooling) pair costs a 2x2 solve instead of a refit.
    """
    n = t.size
    yy = float(y_r @ y_r)
    results: list[tuple[float, str, float | None, float | None]] = []

    def adj(sse: np.ndarray, k: int) -> np.ndarray:
        dof = n - (p_base + k)
        if dof <= 0 or ss_tot <= 0:
            return np.full(np.shape(sse), -np.inf)
        return 1.0 - (sse / dof) / (ss_tot / (n - 1))

    def t_crit(k: int) -> float:
        dof = n - rank - k
        return float(stats.t.ppf(1.0 - DEGREE_TERM_P_VALUE / 2.0, dof)) if dof > 0 else np.inf

    def significant(beta: np.ndarray, se: np.ndarray, crit: float) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            tval = beta / se
        ok = np.isfinite(tval) & (np.abs(tval) > crit)
        return ok & (beta > 0) if nonneg else ok

    forms = set(forms)
    if "none" in forms:
        results.append((float(adj(np.array(yy), 0)), "none", None, None))
    H_r = residualize(np.maximum(hs[None, :] - t[:, None], 0.0)) if hs.size else None
    C_r = residualize(np.maximum(t[:, None] - cs[None, :], 0.0)) if cs.size else None
    single = []
    if "heat" in forms and H_r is not None:
        single.append(("heat", H_r, hs))
    if "cool" in forms and C_r is not None:
        single.append(("cool", C_r, cs))
    for form, M, grid in single:
        mm = np.einsum("ij,ij->j", M, M)
        a = M.T @ y_r
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = a / mm
            sse = yy - beta * a
            se = np.sqrt(np.maximum(sse, 0.0) / max(n - rank - 1, 1) / mm)
        valid = (mm > 1e-9 * n) & significant(beta, se, t_crit(1))
        score = np.where(valid, adj(sse, 1), -np.inf)
        i = int(np.argmax(score))
        if np.isfinite(score[i]):
            bp = float(grid[i])
            results.append((float(score[i]), form, bp if form == "heat" else None, bp if form == "cool" else None))
    if "both" in forms and H_r is not None and C_r is not None:
        hh = np.einsum("ij,ij->j", H_r, H_r)[:, None]
        cc = np.einsum("ij,ij->j", C_r, C_r)[None, :]
        hc = H_r.T @ C_r
        a = (H_r.T @ y_r)[:, None]
        b = (C_r.T @ y_r)[None, :]
        det = hh * cc - hc**2
        with np.errstate(divide="ignore", invalid="ignore"):
            beta_h = (cc * a - hc * b) / det
            beta_c = (hh * b - hc * a) / det
            sse = yy - (beta_h * a + beta_c * b)
            s2 = np.maximum(sse, 0.0) / max(n - rank - 2, 1)
            se_h = np.sqrt(s2 * cc / det)
            se_c = np.sqrt(s2 * hh / det)
        crit = t_crit(2)
        valid = (
            (det > 1e-9 * hh * cc)
            & (hh > 1e-9 * n)
            & (cc > 1e-9 * n)
            & (hs[:, None] <= cs[None, :])
            & significant(beta_h, se_h, crit)
            & significant(beta_c, se_c, crit)
        )
        score = np.where(valid, adj(sse, 2), -np.inf)
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        if np.isfinite(score[i, j]):
            results.append((float(score[i, j]), "both", float(hs[i]), float(cs[j])))
    return results


def _search_balance_points(
    t: np.ndarray, y: np.ndarray, X: np.ndarray, codes: np.ndarray, p_base: int, nonneg: bool
) -> tuple[float | None, float | None]:
    """CalTRACK-style grid search of heating/cooling balance points.

    Candidates lie between the 5th and 95th percentile of training
    temperatures, so each degree term is non-zero on at least 5 % of the
    readings. A coarse grid picks the model form (none, heating, cooling or
    both) by adjusted R² among candidates whose degree coefficients are
    positive (if ``nonneg``) and significant; a fine grid around the winner
    refines the balance points.
    """
    residualize, rank = _residualizer(codes, X)
    y_r = residualize(y[:, None])[:, 0]
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    lo, hi = np.quantile(t, [0.05, 0.95])
    if not hi > lo:
        return None, None
    k = int(min(41, max(2, math.floor((hi - lo) / 0.25) + 1)))
    grid = np.linspace(lo, hi, k)
    step = grid[1] - grid[0]
    args = (residualize, y_r, ss_tot, p_base, rank, nonneg)
    coarse = _degree_candidates(t, grid, grid, *args, forms=("none", "heat", "cool", "both"))
    best = max(coarse, key=lambda r: r[0])
    if best[1] == "none":
        return None, None

    def fine(bp: float | None) -> np.ndarray:
        if bp is None:
            return np.empty(0)
        return np.unique(np.clip(np.linspace(bp - step, bp + step, 11), lo, hi))

    refined = _degree_candidates(t, fine(best[2]), fine(best[3]), *args, forms=(best[1],))
    if refined and refined[0][0] >= best[0]:
        best = refined[0]
    h = None if best[2] is None else round(best[2], 2)
    c = None if best[3] is None else round(best[3], 2)
    return h, c


# --------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------


@dataclass
class FitResult:
    """Everything :func:`fit_baseline` learned, with its evidence.

    ``n_params`` is the number of design columns plus one (intercept).
    ``train_index``/``holdout_index`` hold the input DataFrame's index labels
    of the rows in each part, in time order; ``train_X`` the raw values of the
    drivers the model uses over the training part.

    ``holdout_metrics`` are computed with ``holdout_n_params`` (0): no
    parameter is estimated on held-out readings, so no degrees of freedom are
    lost there. Use the same value for reporting-period metrics to keep them
    comparable. ``train_metrics`` use ``n_params``.
    """

    pipeline: Pipeline
    algorithm: str
    features: list[str]
    balance_points: dict[str, float | None]
    n_params: int
    interval: str
    training_start: pd.Timestamp
    training_end: pd.Timestamp
    holdout_start: pd.Timestamp | None
    train_metrics: dict[str, Any]
    holdout_metrics: dict[str, Any]
    ashrae: dict[str, Any]
    driver_ranges: dict[str, list[float]]
    train_residuals: np.ndarray
    holdout_residuals: np.ndarray
    train_index: np.ndarray
    holdout_index: np.ndarray
    train_X: dict[str, np.ndarray]
    hyperparameters: dict[str, Any]
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
            "training_start": iso(self.training_start),
            "training_end": iso(self.training_end),
            "holdout_start": iso(self.holdout_start),
            "n_train": int(self.train_index.size),
            "n_holdout": int(self.holdout_index.size),
            "n_excluded_anomalies": self.n_excluded_anomalies,
            "n_dropped_rows": self.n_dropped_rows,
            "train_metrics": dict(self.train_metrics),
            "holdout_metrics": dict(self.holdout_metrics),
            "ashrae": dict(self.ashrae),
            "driver_ranges": {k: list(v) for k, v in self.driver_ranges.items()},
            "hyperparameters": dict(self.hyperparameters),
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
) -> FitResult:
    """Fit an energy baseline on readings ``df`` and validate it on a holdout.

    Steps: rows without energy or timestamp (and, unless
    ``exclude_anomalies=False``, rows labelled ``is_anomaly``) are dropped;
    drivers with at least 90 % coverage that vary are used and rows missing
    one of them are dropped; the last ``holdout_fraction`` of readings in time
    is held out (never shuffled); balance points are grid-searched on the
    training part; the pipeline ``EnergyFeatures -> regressor`` is fitted on
    the training part only.

    Regressors: ``"ridge"`` (on standardised design columns, so ``alpha`` means
    the same for every machine whatever its driver units), ``"linear"``
    (least squares) or ``"gbr"`` (histogram gradient boosting). When no design
    column is left (no usable driver, no time-of-week) the baseline is the
    training mean and ``algorithm`` is ``"mean"``.

    ``hyperparameters`` (keys of :data:`HYPERPARAMETER_DEFAULTS`) override the
    defaults, ``holdout_fraction`` included; the resolved values are returned
    in ``FitResult.hyperparameters``. Raises ``ValueError`` when there are no
    energy values, too few readings (:data:`MIN_ROWS`) or bad hyperparameters.
    """
    hp = _resolve_hyperparameters(hyperparameters, holdout_fraction)
    # The matrices of one machine are small: multithreaded BLAS buys nothing there and,
    # with machines fitted side by side, oversubscribes the cores (10x slower measured).
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(df, hp)


def _fit(df: pd.DataFrame, hp: dict[str, Any]) -> FitResult:
    df = as_frame(df)
    if "energy_kwh" not in df.columns:
        raise ValueError("DataFrame has no 'energy_kwh' column")
    n_input = len(df)
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
    n = rows.size
    n_hold = int(round(n * hp["holdout_fraction"]))
    if hp["holdout_fraction"] > 0:
        n_hold = max(n_hold, 1)
    split = n - n_hold
    # A timestamp shared across the boundary would put one instant in both parts.
    while 0 < split < n and times.iloc[split - 1] == times.iloc[split]:
        split -= 1
    if split < max(2, MIN_ROWS[interval] // 2):
        raise _too_little(split, interval, "in the training part")
    train_rows, hold_rows = rows[:split], rows[split:]
    drivers = [d for d in drivers if np.ptp(values[d][complete][:split]) > 0]

    tow = hp["time_of_week"]
    levels = TOW_LEVELS[interval]
    if tow is None:
        tow = levels > 0 and split >= 3 * levels
    tow = bool(tow) and levels > 0
    hp["time_of_week"] = tow

    train_df = df.iloc[train_rows]
    y_train = energy[train_rows]
    heat = cool = None
    if TEMPERATURE in drivers:
        linear = [d for d in drivers if d != TEMPERATURE]
        codes = tow_codes(train_df["timestamp"], interval) if tow else np.zeros(split, dtype=np.intp)
        heat, cool = _search_balance_points(
            numeric_column(train_df, TEMPERATURE),
            y_train,
            np.column_stack([numeric_column(train_df, d) for d in linear]) if linear else np.empty((split, 0)),
            codes,
            p_base=len(linear) + (levels if tow else 0) + 1,
            nonneg=hp["nonnegative_degree_coefs"],
        )
        if heat is None and cool is None:
            drivers.remove(TEMPERATURE)

    features_step = EnergyFeatures(
        drivers=drivers, heat_balance_c=heat, cool_balance_c=cool, time_of_week=tow, interval=interval
    )
    # Without drivers or time-of-week there is nothing to regress on: the baseline is the mean.
    algorithm = hp["algorithm"] if features_step.fit(train_df).n_features_out_ else "mean"
    pipeline = _build_pipeline(features_step, algorithm, hp)
    pipeline.fit(train_df, y_train)
    design_columns = list(pipeline.named_steps["features"].feature_names_out_)
    n_params = len(design_columns) + 1

    y_hold = energy[hold_rows]
    fit_train = pipeline.predict(train_df)
    fit_hold = pipeline.predict(df.iloc[hold_rows]) if hold_rows.size else np.empty(0)
    train_metrics = regression_metrics(y_train, fit_train, n_params)
    holdout_metrics = regression_metrics(y_hold, fit_hold, 0)

    suffix = "h" if interval == "hourly" else "d"
    features = list(drivers)
    if heat is not None:
        features.append("hd" + suffix)
    if cool is not None:
        features.append("cd" + suffix)
    if tow:
        features.append("time_of_week")
    train_X = {d: numeric_column(train_df, d) for d in drivers}
    driver_ranges = {d: [float(v.min()), float(v.max())] for d, v in train_X.items()}
    return FitResult(
        pipeline=pipeline,
        algorithm=algorithm,
        features=features,
        balance_points={"heat_balance_c": heat, "cool_balance_c": cool},
        n_params=n_params,
        interval=interval,
        training_start=times.iloc[0],
        training_end=times.iloc[-1],
        holdout_start=times.iloc[split] if hold_rows.size else None,
        train_metrics=train_metrics,
        holdout_metrics=holdout_metrics,
        ashrae=ashrae_check(holdout_metrics, interval),
        driver_ranges=driver_ranges,
        train_residuals=y_train - fit_train,
        holdout_residuals=y_hold - fit_hold,
        train_index=df.index.to_numpy()[train_rows],
        holdout_index=df.index.to_numpy()[hold_rows],
        train_X=train_X,
        hyperparameters=hp,
        holdout_n_params=0,
        n_excluded_anomalies=n_excluded,
        n_dropped_rows=n_input - n - n_excluded,
        design_columns=design_columns,
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

"""The baseline design matrix: drivers, heating/cooling degree terms and time-of-week indicators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

DRIVERS: tuple[str, ...] = ("production_units", "outdoor_temp_c", "operating_hours")
TEMPERATURE = "outdoor_temp_c"
TOW_LEVELS = {"hourly": 168, "daily": 7, "monthly": 0}


def to_utc(values: Any) -> pd.Series:
    # Naive timestamps are taken to be UTC, aware ones are converted.
    return pd.Series(pd.to_datetime(values, utc=True)).reset_index(drop=True)


def infer_interval(timestamps: Any) -> str:
    """``"hourly"``, ``"daily"`` or ``"monthly"`` from the median spacing.

    Spacing under 12 h (including sub-hourly) is hourly, under 15 days daily,
    anything longer monthly. Repeated timestamps are ignored.
    """
    ts = to_utc(timestamps).dropna().sort_values()
    steps = ts.diff().dropna()
    steps = steps[steps > pd.Timedelta(0)]
    if steps.empty:
        raise ValueError("need at least two distinct timestamps to infer the interval")
    median_s = steps.dt.total_seconds().median()
    if median_s < 12 * 3600:
        return "hourly"
    if median_s < 15 * 86400:
        return "daily"
    return "monthly"


def tow_codes(timestamps: Any, interval: str) -> np.ndarray:
    """Hour of week (0 = Monday 00:00 UTC) for hourly data, day of week otherwise."""
    ts = to_utc(timestamps)
    if ts.isna().any():
        raise ValueError("timestamp contains missing values")
    code = ts.dt.day_of_week.to_numpy()
    if interval == "hourly":
        code = code * 24 + ts.dt.hour.to_numpy()
    return code.astype(np.intp)


def as_frame(X: Any) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError("expected a pandas DataFrame with a 'timestamp' column")
    if "timestamp" not in X.columns:
        if isinstance(X.index, pd.DatetimeIndex):
            return X.assign(timestamp=X.index)
        raise ValueError("DataFrame has no 'timestamp' column")
    return X


def numeric_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


# --------------------------------------------------------------------------
# Feature transformer
# --------------------------------------------------------------------------


class EnergyFeatures(TransformerMixin, BaseEstimator):
    """Turn raw readings (timestamp + drivers) into the baseline design matrix.

    Columns, in order: every driver other than temperature as is; heating
    degree term ``max(heat_balance_c - T, 0)`` and cooling degree term
    ``max(T - cool_balance_c, 0)`` when the balance points are set (raw
    temperature if temperature is a driver but neither is set); then, with
    ``time_of_week``, 168 hour-of-week indicators for hourly data or 7
    day-of-week indicators for daily data (none for monthly). The columns are
    fixed by the parameters, not by which hours occur in the data.

    Indicators are taken in UTC: a fixed offset to local time only relabels
    the columns, so the regression is unaffected.

    Parameters
    ----------
    drivers : list of str or None
        Driver columns used. ``None`` means those of :data:`DRIVERS` present at fit.
    heat_balance_c, cool_balance_c : float or None
        Balance points in °C for the degree terms.
    time_of_week : bool
        Add the time-of-week indicator columns.
    interval : str or None
        ``"hourly"``, ``"daily"`` or ``"monthly"``; inferred at fit when ``None``.
    """

    def __init__(
        self,
        drivers: Sequence[str] | None = None,
        heat_balance_c: float | None = None,
        cool_balance_c: float | None = None,
        time_of_week: bool = True,
        interval: str | None = None,
    ) -> None:
        self.drivers = drivers
        self.heat_balance_c = heat_balance_c
        self.cool_balance_c = cool_balance_c
        self.time_of_week = time_of_week
        self.interval = interval

    def fit(self, X: pd.DataFrame, y: Any = None) -> EnergyFeatures:
        """Resolve drivers and interval and fix the output columns."""
        X = as_frame(X)
        if self.drivers is None:
            drivers = [d for d in DRIVERS if d in X.columns]
        else:
            drivers = [str(d) for d in self.drivers]
        interval = self.interval if self.interval is not None else infer_interval(X["timestamp"])
        if interval not in TOW_LEVELS:
            raise ValueError(f"unknown interval {interval!r}")
        has_degree = self.heat_balance_c is not None or self.cool_balance_c is not None
        if has_degree and TEMPERATURE not in drivers:
            raise ValueError(f"balance points need {TEMPERATURE!r} among the drivers")
        suffix = "h" if interval == "hourly" else "d"
        names = [d for d in drivers if d != TEMPERATURE]
        if TEMPERATURE in drivers:
            if self.heat_balance_c is not None:
                names.append("hd" + suffix)
            if self.cool_balance_c is not None:
                names.append("cd" + suffix)
            if not has_degree:
                names.append(TEMPERATURE)
        if self.time_of_week and interval == "hourly":
            names += [f"tow_{k:03d}" for k in range(168)]
        elif self.time_of_week and interval == "daily":
            names += [f"dow_{k}" for k in range(7)]
        self.drivers_ = drivers
        self.interval_ = interval
        self.feature_names_out_ = names
        self.n_features_out_ = len(names)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Design matrix (float64, one row per reading)."""
        check_is_fitted(self, "feature_names_out_")
        X = as_frame(X)
        missing = [d for d in self.drivers_ if d not in X.columns]
        if missing:
            raise ValueError(f"missing driver columns: {missing}")
        n = len(X)
        out = np.zeros((n, self.n_features_out_), dtype=float)
        j = 0
        for d in self.drivers_:
            if d != TEMPERATURE:
                out[:, j] = numeric_column(X, d)
                j += 1
        if TEMPERATURE in self.drivers_:
            t = numeric_column(X, TEMPERATURE)
            nan = np.isnan(t)
            if self.heat_balance_c is not None:
                out[:, j] = np.where(nan, np.nan, np.maximum(float(self.heat_balance_c) - t, 0.0))
                j += 1
            if self.cool_balance_c is not None:
                out[:, j] = np.where(nan, np.nan, np.maximum(t - float(self.cool_balance_c), 0.0))
                j += 1
            if self.heat_balance_c is None and self.cool_balance_c is None:
                out[:, j] = t
                j += 1
        if self.n_features_out_ > j:
            out[np.arange(n), j + tow_codes(X["timestamp"], self.interval_)] = 1.0
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the design columns."""
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

"""The baseline design matrix: drivers, heating/cooling degree terms and time-of-week indicators,
all on the machine's local wall-clock time."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

DRIVERS: tuple[str, ...] = ("production_units", "outdoor_temp_c", "operating_hours")
TEMPERATURE = "outdoor_temp_c"
TOW_LEVELS = {"hourly": 168, "daily": 7, "monthly": 0}
#: Degree terms that can be split by occupancy (``EnergyFeatures.occupancy_split``).
SPLIT_TERMS = ("heat", "cool")
ENCODINGS = ("linear", "tree")


def to_utc(values: Any) -> pd.Series:
    # Naive timestamps are taken to be UTC, aware ones are converted.
    return pd.Series(pd.to_datetime(values, utc=True)).reset_index(drop=True)


def check_time_zone(name: str | None) -> str | None:
    """``name`` if it is an IANA time zone (``None`` and ``"UTC"`` mean UTC); else ``ValueError``."""
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"time zone must be an IANA name such as 'Europe/Berlin', not {name!r}")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin'") from exc
    return name


def local_times(timestamps: Any, time_zone: str | None) -> pd.Series:
    """Timestamps as local wall-clock times of ``time_zone`` (UTC when ``None``)."""
    ts = to_utc(timestamps)
    if time_zone is None or time_zone == "UTC":
        return ts
    return ts.dt.tz_convert(time_zone)


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


def tow_codes(timestamps: Any, interval: str, time_zone: str | None = None) -> np.ndarray:
    """Hour of week (0 = Monday 00:00 local time) for hourly data, day of week otherwise.

    Local wall-clock time: across a daylight-saving change the occupants keep
    their clock, so 08:00 stays 08:00. In spring one local hour does not occur;
    in autumn one occurs twice and both readings get its column.
    """
    ts = local_times(timestamps, time_zone)
    if ts.isna().any():
        raise ValueError("timestamp contains missing values")
    code = ts.dt.day_of_week.to_numpy()
    if interval == "hourly":
        code = code * 24 + ts.dt.hour.to_numpy()
    return code.astype(np.intp)


def local_day_numbers(timestamps: Any, time_zone: str | None = None) -> np.ndarray:
    """Local calendar day of each timestamp as days since 1970-01-01 (groups readings by day)."""
    ts = local_times(timestamps, time_zone)
    return (ts.dt.tz_localize(None).dt.normalize() - pd.Timestamp("1970-01-01")).dt.days.to_numpy(dtype=np.int64)


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

    ``encoding="linear"`` (for the regressions), columns in order: every driver
    other than temperature as is; heating degree term ``max(heat_balance_c - T, 0)``
    and cooling degree term ``max(T - cool_balance_c, 0)`` when the balance
    points are set (raw temperature if temperature is a driver but neither is
    set), each split into an occupied and an unoccupied column when named in
    ``occupancy_split``; then, with ``time_of_week``, 168 hour-of-week
    indicators for hourly data or 7 day-of-week indicators for daily data
    (none for monthly). The indicators span the intercept.

    ``encoding="tree"`` (for gradient boosting): the drivers as they are
    (temperature raw), local hour of day, local day of week and, with an
    occupancy schedule, the occupied flag.

    The columns are fixed by the parameters, not by which hours occur in the
    data. Time of week and occupancy use local wall-clock time in
    ``time_zone`` (an IANA name; ``None`` = UTC), so they stay right across
    daylight-saving changes.

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
    time_zone : str or None
        IANA time zone of the machine.
    occupancy : sequence of 168 ints or None
        1 for occupied local hours of the week (Monday 00:00 first), else 0.
    occupancy_split : sequence of ``"heat"``/``"cool"``
        Degree terms that get their own slope in occupied and unoccupied hours.
    encoding : ``"linear"`` or ``"tree"``
    """

    def __init__(
        self,
        drivers: Sequence[str] | None = None,
        heat_balance_c: float | None = None,
        cool_balance_c: float | None = None,
        time_of_week: bool = True,
        interval: str | None = None,
        time_zone: str | None = None,
        occupancy: Sequence[int] | None = None,
        occupancy_split: Sequence[str] = (),
        encoding: str = "linear",
    ) -> None:
        self.drivers = drivers
        self.heat_balance_c = heat_balance_c
        self.cool_balance_c = cool_balance_c
        self.time_of_week = time_of_week
        self.interval = interval
        self.time_zone = time_zone
        self.occupancy = occupancy
        self.occupancy_split = occupancy_split
        self.encoding = encoding

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Pipelines stored before these parameters existed used UTC, no occupancy, linear columns.
        defaults = {"time_zone": None, "occupancy": None, "occupancy_split": (), "encoding": "linear"}
        super().__setstate__({**defaults, **state})

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
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}")
        check_time_zone(self.time_zone)
        has_degree = self.heat_balance_c is not None or self.cool_balance_c is not None
        if has_degree and TEMPERATURE not in drivers:
            raise ValueError(f"balance points need {TEMPERATURE!r} among the drivers")
        split = tuple(self.occupancy_split or ())
        if set(split) - set(SPLIT_TERMS):
            raise ValueError(f"occupancy_split holds only {SPLIT_TERMS}")
        if self.occupancy is not None:
            occupancy = np.asarray(self.occupancy, dtype=float)
            if occupancy.shape != (168,) or not np.isin(occupancy, (0.0, 1.0)).all():
                raise ValueError("occupancy must be 168 flags of 0 or 1 (local hours of the week)")
        elif split:
            raise ValueError("occupancy_split needs an occupancy schedule")
        self.drivers_ = drivers
        self.interval_ = interval
        self.feature_names_out_ = self._names(drivers, interval, split)
        self.n_features_out_ = len(self.feature_names_out_)
        return self

    def _names(self, drivers: list[str], interval: str, split: tuple[str, ...]) -> list[str]:
        suffix = "h" if interval == "hourly" else "d"
        if self.encoding == "tree":
            names = list(drivers)
            if interval != "monthly":
                names += (["hour_of_day"] if interval == "hourly" else []) + ["day_of_week"]
            if self.occupancy is not None and interval == "hourly":
                names.append("occupied")
            return names
        names = [d for d in drivers if d != TEMPERATURE]
        if TEMPERATURE in drivers:
            for term, bp in (("heat", self.heat_balance_c), ("cool", self.cool_balance_c)):
                if bp is None:
                    continue
                name = ("hd" if term == "heat" else "cd") + suffix
                names += [f"{name}_occupied", f"{name}_unoccupied"] if term in split else [name]
            if self.heat_balance_c is None and self.cool_balance_c is None:
                names.append(TEMPERATURE)
        if self.time_of_week and interval == "hourly":
            names += [f"tow_{k:03d}" for k in range(168)]
        elif self.time_of_week and interval == "daily":
            names += [f"dow_{k}" for k in range(7)]
        return names

    def occupied(self, X: pd.DataFrame, codes: np.ndarray | None = None) -> np.ndarray | None:
        """Occupied flag of every row (``None`` without an occupancy schedule or hourly data);
        ``codes`` are the rows' local hours of the week when already known."""
        check_is_fitted(self, "feature_names_out_")
        if self.occupancy is None or self.interval_ != "hourly":
            return None
        schedule = np.asarray(self.occupancy, dtype=bool)
        if codes is None:
            codes = tow_codes(as_frame(X)["timestamp"], "hourly", self.time_zone)
        return schedule[codes]

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Design matrix (float64, one row per reading)."""
        dense, codes = self.parts(X)
        if codes is None:
            return dense
        out = np.zeros((len(dense), self.n_features_out_), dtype=float)
        out[:, : dense.shape[1]] = dense
        out[np.arange(len(dense)), dense.shape[1] + codes] = 1.0
        return out

    def parts(self, X: pd.DataFrame, codes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The design as its dense columns and the indicator level of each row (``None`` without
        time of week): the indicator block is one 1 per row, so fits can use its structure.
        ``codes``: the rows' :func:`tow_codes` in this transformer's zone, when already known."""
        check_is_fitted(self, "feature_names_out_")
        X = as_frame(X)
        missing = [d for d in self.drivers_ if d not in X.columns]
        if missing:
            raise ValueError(f"missing driver columns: {missing}")
        if self.encoding == "tree":
            return self._transform_tree(X), None
        n = len(X)
        n_dense = sum(1 for name in self.feature_names_out_ if not name.startswith(("tow_", "dow_")))
        needs_codes = self.n_features_out_ > n_dense or (self.occupancy is not None and self.interval_ == "hourly")
        if needs_codes and codes is None:
            codes = tow_codes(X["timestamp"], self.interval_, self.time_zone)
        out = np.zeros((n, n_dense), dtype=float)
        j = 0
        for d in self.drivers_:
            if d != TEMPERATURE:
                out[:, j] = numeric_column(X, d)
                j += 1
        if TEMPERATURE in self.drivers_:
            t = numeric_column(X, TEMPERATURE)
            nan = np.isnan(t)
            occupied = self.occupied(X, codes if self.interval_ == "hourly" else None)
            split = tuple(self.occupancy_split or ())
            for term, bp in (("heat", self.heat_balance_c), ("cool", self.cool_balance_c)):
                if bp is None:
                    continue
                degree = np.maximum(float(bp) - t, 0.0) if term == "heat" else np.maximum(t - float(bp), 0.0)
                degree = np.where(nan, np.nan, degree)
                if term in split and occupied is not None:
                    out[:, j] = np.where(occupied, degree, 0.0)
                    out[:, j + 1] = np.where(occupied, 0.0, degree)
                    j += 2
                else:
                    out[:, j] = degree
                    j += 1
            if self.heat_balance_c is None and self.cool_balance_c is None:
                out[:, j] = t
                j += 1
        return out, codes if self.n_features_out_ > n_dense else None

    def _transform_tree(self, X: pd.DataFrame) -> np.ndarray:
        columns = [numeric_column(X, d) for d in self.drivers_]
        if self.interval_ != "monthly":
            local = local_times(X["timestamp"], self.time_zone)
            if self.interval_ == "hourly":
                columns.append(local.dt.hour.to_numpy(dtype=float))
            columns.append(local.dt.day_of_week.to_numpy(dtype=float))
        occupied = self.occupied(X)
        if occupied is not None:
            columns.append(occupied.astype(float))
        if not columns:
            return np.zeros((len(X), 0))
        return np.column_stack(columns).astype(float)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the design columns."""
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

"""Drift statistics for energy-baseline regression models.

Plain functions over numpy arrays, free of Django, whose outputs are JSON
serialisable (plain ``float``/``int``/``bool``/``str``/``None``, never NaN or
infinity).

Workflow
--------
1. At training time :func:`reference_statistics` condenses the training window
   (drivers and in-sample residuals) into a JSON document stored on the model
   version.  Raw training data is never needed again.
2. Every check compares a *current window* with that document:
   :func:`data_drift` for the drivers, :func:`concept_drift` for the residuals
   ``y - y_hat``, :func:`drift_verdict` for the combined decision, and
   :func:`check_drift` for all three in one call.

Monitoring scheme
-----------------
The product runs one check per day over the latest 7 days (168 hourly rows).
Every check is self-contained: the change detector is restarted at the start
of the window, so a check needs no state from earlier checks and its
false-alarm probability is a property of the window alone.  The change
detector is calibrated so that one check of a stable window raises an alarm
with probability ``DriftThresholds.cusum_false_alarm`` (default 1 %).
Consecutive daily checks overlap by 6 days, so their alarms are strongly
correlated; the rate that is controlled is the rate per check.  A step that
starts inside the window is seen by up to seven consecutive checks before it
leaves the window; a shift older than the window is still caught by the
window-level mean-shift and error-ratio tests, but it can no longer be located
(``change_point`` is then ``None``).

Data drift (per driver)
-----------------------
* PSI over 10 reference-decile bins (interior edges stored, outer bins
  open-ended, empty bins floored at 1e-4); bins are closed on the left, and
  when more than 80 % of the reference sits on one value the value gets a bin
  of its own so that moves to either side are still visible.
* Kolmogorov-Smirnov statistic between the reference ECDF (approximated by the
  stored quantile sketch, error <= 1 / (n_quantiles - 1)) and the current ECDF;
  the p-value is the asymptotic Kolmogorov distribution (``kstwobign``) at
  ``D * sqrt(n * m / (n + m))`` with the true reference and current sizes.
  It is reported only: with thousands of rows it flags trivial differences.
* Wasserstein-1 distance computed exactly between the piecewise-linear
  reference quantile function (the sketch) and the current empirical quantile
  function, divided by the reference standard deviation (population ``std``,
  as Evidently does).  For a constant reference the divisor is
  ``max(|reference value|, 1)``.
* A driver *drifts* on effect size: ``PSI >= psi_warning`` or normalised
  Wasserstein ``>= wasserstein``; its level is ``critical`` when
  ``PSI > psi_critical``.  Shape changes move PSI, location shifts move the
  Wasserstein distance first (a 0.3 sd shift of a normal driver gives
  PSI ~ 0.09 but W/sd = 0.3), so either one suffices.  The KS p-value never
  makes a driver drift; it only vetoes an effect size that the current sample
  is too small to tell from noise (``ks_pvalue >= ks_alpha``): a stable week of
  168 rows shows W/sd ~ 0.1 by sampling alone.
* Extrapolation: share of current rows outside the training ``[min, max]``.

Concept drift (residuals of the current window)
-----------------------------------------------
Hourly residuals of energy models are AR(1)-like with lag-1 autocorrelation
0.5-0.9, so a textbook CUSUM on raw residuals raises alarms on stable data.
The residuals are therefore pre-whitened with the training ``rho``:
``z_t = (e_t - rho * e_{t-1}) / sigma_u`` (Prais-Winsten at the start and
after gaps), which is i.i.d. with unit variance on a stable machine.  A step
that starts at ``tau``, either a level shift (a leak, a new base load) or a
shift proportional to the prediction (an efficiency loss), appears in ``z`` as
a jump at ``tau`` followed by a part damped by ``1 - rho``, plus, for the
proportional form, a jump at every later change of load.  The change detector
is the generalised-likelihood-ratio form of the two-sided CUSUM for a shift
of unknown size (Lai 1995), with two step columns, level and load-shaped::

    LR(tau) = r_tau' M_tau^-1 r_tau,      G = max_tau sqrt(LR(tau))

``r_tau`` and ``M_tau`` are the GLS scores and Gram matrix of the step columns
after profiling out the baseline's own estimation error: the reference keeps
the sandwich covariance of a linear baseline in ``[1, drivers]`` under AR(1)
errors, and every window is allowed an error ``x_t' d`` with
``d ~ N(0, that covariance)``.  Without it, a slope that the training could
not pin down (outdoor temperature under autocorrelated errors, the
operating-hours slope at start/stop) reads as a change.  On a stable machine
each ``LR(tau)`` is then chi-square with 2 degrees of freedom.  The shift
size is estimated rather than fixed, so there is no reference value ``k`` to
choose; ``h`` is the ``1 - cusum_false_alarm`` quantile of ``G``, calibrated at
training time by seeded simulation with the fitted ``rho`` and normal or
Student-t innovations matching the training innovations' kurtosis, and
stored for window lengths 24-336 and false-alarm levels 0.1-10 % (longer
windows extrapolate as ``sqrt(h^2 + 2 ln(n / 336))``).  ``change_point`` is the
maximising ``tau`` and ``cusum_alarm_index`` the first index at which the
statistic of that change, on the data up to then, reached ``h``.  The jump
matters: with rho = 0.9, a 10 % step of a machine with 8 % residual noise is
worth z ~ 2.9 in its first hour, while the damped part adds only ~0.29 per
sqrt(hour).

The window is further summarised by ASHRAE Guideline 14 NMBE and CV(RMSE),
the error ratio (current RMSE / holdout RMSE) with an F test on the
effective degrees of freedom ``nu = n (1 - rho^2) / (1 + rho^2)``, and the
mean-shift z-score ``mean(e) / SE``, whose ``SE`` combines the exact AR(1)
variance of a mean (effective sample size ``n' ~ n (1 - rho) / (1 + rho)``,
as in ASHRAE Guideline 14) with the baseline's error at this window's mean
drivers, so that extrapolating drivers widen it.

Verdict and score
-----------------
Each rule is a ratio ``r`` that reaches 1 exactly at its threshold:

=====================  ==================================================  ========
component              ratio                                               type
=====================  ==================================================  ========
data: drift share      share of drifted drivers / drift_share              warning
data: critical share   share of critical drivers / drift_share             critical
data: extrapolation    row share outside training range / extrap_warning   warning
data: extrapolation    row share outside training range / extrap_critical  critical
concept: change point  G / h                                               warning
concept: mean shift    min(|z| / mean_shift_z, |NMBE| / mean_shift_nmbe)   warning
concept: error ratio   min(ER / error_ratio_warning, significance)         warning
concept: effect size   max(|NMBE|, |shift|) / nmbe_critical                critical
concept: error ratio   min(ER / error_ratio_critical, significance)        critical
=====================  ==================================================  ========

where ``significance = Phi^-1(1 - p) / Phi^-1(1 - error_ratio_alpha)`` and the
concept critical components only count once concept drift is detected.  A
warning ratio maps to ``r / 3`` below 1 and ``1/3 + 0.8 (1 - exp(1 - r)) / 3``
(at most 0.6) from 1 on; a critical ratio ``q >= 1`` maps to
``2/3 + (1 - exp(1 - q)) / 3``.

    drift_score = max(component scores)  in [0, 1]

so ``severity`` is ``none`` below 1/3, ``warning`` in [1/3, 2/3) and
``critical`` from 2/3, and ``drift_detected`` is ``severity != "none"``.  The
data and concept levels are the same mapping restricted to their components.

False-alarm, detection, delay and localisation figures of this scheme on a
seeded simulated machine are tabulated in
``tests/performance/test_drift_stats.py``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import special
from scipy.signal import lfilter

__all__ = [
    "DriftThresholds",
    "reference_statistics",
    "data_drift",
    "concept_drift",
    "drift_verdict",
    "check_drift",
]

PSI_BINS = 10
PSI_FLOOR = 1e-4
RHO_MAX = 0.99
CALIBRATION_LENGTHS = (24, 48, 96, 168, 336)
CALIBRATION_ALPHAS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
CALIBRATION_SEED = 20240611
MIN_TAIL_FIT_INNOVATIONS = 240
MIN_T_DF = 4.5
LEVEL_WINDOW = 168



# ---------------------------------------------------------------------------
# thresholds


@dataclass(frozen=True)
class DriftThresholds:
    """Decision thresholds; every field can be overridden per machine.

    Attributes:
        psi_warning: PSI at or above which a driver drifts (industry band 0.1).
        psi_critical: PSI above which a drifted driver is critical (0.25).
        wasserstein: Wasserstein-1 / reference std at or above which a driver
            drifts (Evidently's default for references over 1,000 rows).
        ks_alpha: a driver only drifts when the KS p-value is below this; it
            vetoes effect sizes that a window of this size shows by chance
            (a stable week of 168 rows has W/sd ~ 0.1 by sampling alone).
        drift_share: share of drifted drivers that makes the dataset drift
            (Evidently's default 0.5).
        extrapolation_warning: share of current rows with any driver outside
            the training ``[min, max]`` that raises a warning; in simulation a
            stable week after a 75-day winter training window reaches 5 % by
            weather alone in about one week in twenty.
        extrapolation_critical: same share that is critical.
        error_ratio_warning: current RMSE / holdout RMSE for a warning.
        error_ratio_critical: current RMSE / holdout RMSE that is critical.
        error_ratio_alpha: significance level the error ratio must also reach,
            since on autocorrelated residuals a week's RMSE varies by +-20 %.
        cusum_false_alarm: probability that one check of a stable window raises
            a change-point alarm; ``h`` is read from the stored calibration
            (0.1-10 %), so it can be changed without retraining.
        mean_shift_z: |z| of the window mean residual (autocorrelation- and
            baseline-error-corrected standard error) for a mean-shift alarm;
            3.0 (two-sided 0.3 %) because the change detector already covers
            shifts that start inside the window and this test is the backstop
            for older ones.
        mean_shift_nmbe: minimum |NMBE| for a mean-shift alarm, so that a
            statistically clear but negligible bias on long windows is ignored.
        nmbe_critical: |NMBE| (or the relative size of a located shift) that
            makes detected concept drift critical; ASHRAE Guideline 14's hourly
            calibration limit.
        min_rows: fewer valid current rows than this give no drift decision.
    """

    psi_warning: float = 0.1
    psi_critical: float = 0.25
    wasserstein: float = 0.1
    ks_alpha: float = 0.01
    drift_share: float = 0.5
    extrapolation_warning: float = 0.10
    extrapolation_critical: float = 0.25
    error_ratio_warning: float = 1.25
    error_ratio_critical: float = 1.5
    error_ratio_alpha: float = 0.01
    cusum_false_alarm: float = 0.01
    mean_shift_z: float = 3.0
    mean_shift_nmbe: float = 0.02
    nmbe_critical: float = 0.10
    min_rows: int = 24

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"{f.name} must be non-negative, got {value!r}")
        pairs = (
            ("psi_warning", "psi_critical"),
            ("extrapolation_warning", "extrapolation_critical"),
            ("error_ratio_warning", "error_ratio_critical"),
        )
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must not exceed {high}")
        for name in ("drift_share", "ks_alpha", "error_ratio_alpha", "cusum_false_alarm"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in (0, 1]")
        for name in ("psi_warning", "wasserstein", "extrapolation_warning", "error_ratio_warning",
                     "mean_shift_z", "nmbe_critical"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DriftThresholds:
        """Defaults overridden by the keys of ``d``; unknown keys are an error.

        ``None`` values keep the default, so a partially filled override form
        can be passed through unchanged.
        """
        if not d:
            return cls()
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown drift threshold(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in d.items():
            if value is None:
                continue
            try:
                values[key] = int(value) if key == "min_rows" else float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a number, got {value!r}") from None
        return cls(**values)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


# ---------------------------------------------------------------------------
# JSON helpers


def _num(x: Any) -> float | None:
    """Finite Python float or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _clean(obj: Any) -> Any:
    """Recursively convert numpy scalars/arrays to JSON-safe Python values."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj


def _as_float_array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


# ---------------------------------------------------------------------------
# reference statistics


def _psi_edges(x: np.ndarray) -> np.ndarray:
    """Interior edges of the reference-decile bins (left-closed bins)."""
    edges = np.unique(np.quantile(x, np.arange(1, PSI_BINS) / PSI_BINS))
    if edges.size == 1:
        # One value carries most of the mass: give it its own bin.
        edges = np.array([edges[0], np.nextafter(edges[0], np.inf)])
    return edges


def _bin_shares(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(edges, x, side="right")
    return np.bincount(idx, minlength=edges.size + 1) / x.size


def _driver_reference(x: np.ndarray, n_quantiles: int) -> dict[str, Any]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None,
                "psi_edges": [], "psi_reference": [], "quantiles": []}
    edges = _psi_edges(x)
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "min": float(x.min()),
        "max": float(x.max()),
        "psi_edges": edges.tolist(),
        "psi_reference": _bin_shares(x, edges).tolist(),
        "quantiles": np.quantile(x, np.linspace(0.0, 1.0, n_quantiles)).tolist(),
    }


def _consecutive(n: int, timestamps: np.ndarray | None) -> tuple[np.ndarray, float | None]:
    """Mask of rows whose predecessor is the previous sampling instant."""
    mask = np.ones(n, dtype=bool)
    if n:
        mask[0] = False
    if timestamps is None or n < 2:
        return mask, None
    ts = np.asarray(timestamps)
    if ts.shape != (n,):
        raise ValueError("timestamps must have the same length as residuals")
    if np.issubdtype(ts.dtype, np.datetime64):
        secs = (ts - ts[0]) / np.timedelta64(1, "s")
    else:
        secs = ts.astype(float)
    steps = np.diff(secs.astype(float))
    positive = steps[steps > 0]
    if positive.size == 0:
        return mask & False, None
    values, counts = np.unique(positive, return_counts=True)
    interval = float(values[np.argmax(counts)])
    mask[1:] = np.isclose(steps, interval, rtol=1e-6, atol=1e-6)
    return mask, interval


def _lag1(e: np.ndarray, consecutive: np.ndarray) -> float:
    ok = np.isfinite(e)
    pair = consecutive.copy()
    pair[1:] &= ok[1:] & ok[:-1]
    if pair.sum() < 3:
        return 0.0
    mean = e[ok].mean()
    d = e - mean
    num = float(np.sum(d[1:][pair[1:]] * d[:-1][pair[1:]]))
    den = float(np.sum(d[ok] ** 2))
    if den <= 0:
        return 0.0
    return num / den


def _whiten(e: np.ndarray, rho: float, sigma_u: float,
            consecutive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-whitened residuals in innovation-sd units.

    Returns ``(z, prev_ok, restart)``.  Rows without a valid predecessor
    restart the filter (Prais-Winsten, ``z = e sqrt(1 - rho^2) / sigma_u``);
    missing rows get ``z = 0`` and are neither.
    """
    n = e.size
    ok = np.isfinite(e)
    prev_ok = np.zeros(n, dtype=bool)
    prev_ok[1:] = ok[:-1] & ok[1:]
    if consecutive is not None:
        prev_ok &= consecutive
    restart = ok & ~prev_ok
    pw = math.sqrt(1.0 - rho * rho)
    ef = np.where(ok, e, 0.0)
    z = np.zeros(n)
    z[1:] = ef[1:] - rho * ef[:-1]
    z = np.where(prev_ok, z / sigma_u, np.where(restart, ef * pw / sigma_u, 0.0))
    return z, prev_ok, restart


def _signature(g: np.ndarray, rho: float, prev_ok: np.ndarray, restart: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Whitened image of a step ``g_t * 1{t >= tau}``.

    Returns ``(c, b)``: ``c_t`` is its value at ``t = tau``, ``b_t`` its value
    at ``t > tau``.  ``g = 1`` is a level shift, ``g = y_hat / mean(y_hat)`` a
    proportional one.
    """
    pw = math.sqrt(1.0 - rho * rho)
    g_prev = np.zeros_like(g)
    g_prev[..., 1:] = g[..., :-1]
    c = np.where(prev_ok, g, np.where(restart, pw * g, 0.0))
    b = np.where(prev_ok, g - rho * g_prev, np.where(restart, pw * g, 0.0))
    return c, b


def _variation(sig: tuple[np.ndarray, np.ndarray], level: tuple[np.ndarray, np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Signature of ``g - 1`` from those of ``g`` and of 1."""
    return sig[0] - level[0], sig[1] - level[1]


def _after(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sum over ``t > tau`` for every ``tau`` along ``axis``."""
    a = np.moveaxis(a, axis, -1)
    tail = np.cumsum(a[..., ::-1], axis=-1)[..., ::-1]
    return np.moveaxis(tail - a, -1, axis)


def _lr(s11, s12, s22, r1, r2, ref11, ref22=None):
    """Likelihood-ratio statistic and coefficients of a one- or two-column GLS fit.

    ``ref11`` / ``ref22`` are the column norms before any partialling; a
    column whose remaining norm falls below 1e-8 of it is treated as absent
    (collinear or fully absorbed), which reduces the fit to the other column.
    """
    eps = 1e-8
    use1 = s11 > eps * ref11
    s11_safe = np.where(use1, s11, 1.0)
    if s22 is None:
        a1 = np.where(use1, r1 / s11_safe, 0.0)
        return np.where(use1, r1 * a1, 0.0), a1, None
    k = np.where(use1, s12 / s11_safe, 0.0)
    v = s22 - k * s12
    w = r2 - k * r1
    use2 = v > eps * ref22
    v_safe = np.where(use2, v, 1.0)
    a2 = np.where(use2, w / v_safe, 0.0)
    lr = np.where(use1, r1 * r1 / s11_safe, 0.0) + np.where(use2, w * a2, 0.0)
    a1 = np.where(use1, (r1 - s12 * a2) / s11_safe, 0.0)
    return lr, a1, a2


Nuisance = tuple[np.ndarray, np.ndarray]


def _step_scan_plain(z: np.ndarray, sigs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_step_scan` without a nuisance, column by column (the calibration's hot loop)."""
    (c1, b1) = sigs[0]
    s11 = c1 * c1 + _after(b1 * b1)
    r1 = c1 * z + _after(b1 * z)
    if len(sigs) == 1:
        lr, a1, _ = _lr(s11, None, None, r1, None, s11)
        theta = a1[..., None]
    else:
        (c2, b2) = sigs[1]
        s12 = c1 * c2 + _after(b1 * b2)
        s22 = c2 * c2 + _after(b2 * b2)
        r2 = c2 * z + _after(b2 * z)
        lr, a1, a2 = _lr(s11, s12, s22, r1, r2, s11, s22)
        theta = np.stack([a1, a2], axis=-1)
    stat = np.where(np.broadcast_to(c1, z.shape) > 0, np.sqrt(np.maximum(lr, 0.0)), 0.0)
    return stat, theta


def _step_scan(z: np.ndarray, sigs: list[tuple[np.ndarray, np.ndarray]],
               nuisance: Nuisance | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Change statistic ``sqrt(LR(tau))`` for every start ``tau`` (last axis).

    Whitened model: ``z = N beta + S_tau theta + noise``.  ``S_tau`` holds the
    step columns that start at ``tau`` (``sigs``: level and, optionally,
    load-proportional signatures).  ``N`` (rows x m) is the whitened image of
    the baseline's own parameter error with prior precision ``P``
    (``nuisance = (N, P)``): an estimated baseline is wrong by an unknown but
    bounded amount along its drivers, in every window alike, and that must not
    read as a change.  Returns ``(stat, theta)`` with ``theta[..., tau, :]``
    the step coefficients in innovation-sd units.  Without a nuisance it
    also works on stacked rows (calibration); with one, on a single window.
    """
    if nuisance is None:
        return _step_scan_plain(z, sigs)
    N, P = nuisance
    A_inv = np.linalg.inv(N.T @ N + P)
    r0 = N.T @ z
    k = len(sigs)
    # Per step column i: S (Gram), r (score), C (cross products with the
    # nuisance, rows x m) and Q = C A^-1; then partial out the nuisance.
    C, Q, S, r = [], [], {}, []
    for ci, bi in sigs:
        Ci = N * ci[:, None] + _after(N * bi[:, None], axis=0)
        C.append(Ci)
        Q.append(Ci @ A_inv)
        r.append(ci * z + _after(bi * z))
    for i in range(k):
        for j in range(i, k):
            (ci, bi), (cj, bj) = sigs[i], sigs[j]
            S[i, j] = ci * cj + _after(bi * bj)
    ref = [S[i, i] for i in range(k)]
    m = {(i, j): S[i, j] - np.einsum("tm,tm->t", C[i], Q[j]) for i, j in S}
    rr = [r[i] - Q[i] @ r0 for i in range(k)]
    if k == 1:
        lr, a1, _ = _lr(m[0, 0], None, None, rr[0], None, ref[0])
        theta = a1[:, None]
    else:
        lr, a1, a2 = _lr(m[0, 0], m[0, 1], m[1, 1], rr[0], rr[1], ref[0], ref[1])
        theta = np.column_stack([a1, a2])
    stat = np.where(sigs[0][0] > 0, np.sqrt(np.maximum(lr, 0.0)), 0.0)
    return stat, theta


def _step_path(z: np.ndarray, sigs: list[tuple[np.ndarray, np.ndarray]],
               nuisance: Nuisance | None, tau: int) -> np.ndarray:
    """``sqrt(LR)`` of a step at ``tau`` using only the data up to each ``t >= tau``."""
    k = len(sigs)

    def since(x: np.ndarray) -> np.ndarray:
        out = np.cumsum(x[tau:], axis=0)
        return out - x[tau]

    S = {(i, j): sigs[i][0][tau] * sigs[j][0][tau] + since(sigs[i][1] * sigs[j][1])
         for i in range(k) for j in range(i, k)}
    r = [ci[tau] * z[tau] + since(bi * z) for ci, bi in sigs]
    ref = [S[i, i] for i in range(k)]
    if nuisance is not None:
        N, P = nuisance
        head = N[:tau].T @ N[:tau] + P
        tail = N[tau:]
        A_inv = np.linalg.inv(np.cumsum(tail[:, :, None] * tail[:, None, :], axis=0) + head)
        r0 = np.cumsum(tail * z[tau:, None], axis=0) + N[:tau].T @ z[:tau]
        C = [N[tau] * ci[tau] + since(N * bi[:, None]) for ci, bi in sigs]
        Q = [np.einsum("tab,tb->ta", A_inv, Ci) for Ci in C]
        S = {(i, j): v - np.einsum("ta,ta->t", C[i], Q[j]) for (i, j), v in S.items()}
        r = [r[i] - np.einsum("ta,ta->t", Q[i], r0) for i in range(k)]
    if k == 1:
        lr, _, _ = _lr(S[0, 0], None, None, r[0], None, ref[0])
    else:
        lr, _, _ = _lr(S[0, 0], S[0, 1], S[1, 1], r[0], r[1], ref[0], ref[1])
    return np.sqrt(np.maximum(lr, 0.0))


def _ar1_mean_variance_factor(rho: float, n: int) -> float:
    """n * Var(mean of n AR(1) values) / sigma^2."""
    if rho <= 0 or n <= 1:
        return 1.0
    return (1 + rho) / (1 - rho) - 2 * rho * (1 - rho ** n) / (n * (1 - rho) ** 2)


def _f_quantile(q: float, dfn: float, dfd: float) -> float:
    return float(special.fdtri(dfn, dfd, q))


def _innovation_df(innovations: np.ndarray) -> float | None:
    """Student-t degrees of freedom matching the innovations' excess kurtosis.

    ``None`` means normal.  A moment fit rather than a bootstrap: resampling
    1,000-2,000 training innovations makes ``h`` hinge on the one or two
    largest of them.
    """
    u = innovations[np.isfinite(innovations)]
    if u.size < MIN_TAIL_FIT_INNOVATIONS or u.std() == 0:
        return None
    d = (u - u.mean()) / u.std()
    excess = float(np.mean(d ** 4) - 3.0)
    # Sampling error of the excess kurtosis of n normals is sqrt(24 / n).
    if excess <= 2.0 * math.sqrt(24.0 / u.size):
        return None
    return max(4.0 + 6.0 / excess, MIN_T_DF)


def _calibrate(rho: float, innovations: np.ndarray, n_simulations: int) -> dict[str, Any]:
    """Threshold table ``h[length][alpha]`` for the window-end step statistic.

    Windows are simulated under a stable machine with the fitted ``rho``:
    i.i.d. innovations, normal or Student-t with the training innovations'
    excess kurtosis.  The baseline's parameter error is left out: at check
    time it is profiled out with its prior, which leaves each ``LR(tau)``
    chi-square with 2 degrees of freedom as here.  The proportional regressor
    is a generic load profile (i.i.d. lognormal, coefficient of variation
    0.5): the null distribution of the maximum hardly depends on the
    profile's shape (within +-0.05 of a realistic daily profile in
    simulation), and a constant load only makes the stored ``h``
    conservative.
    """
    rng = np.random.default_rng(CALIBRATION_SEED)
    quantile_levels = 1.0 - np.asarray(CALIBRATION_ALPHAS)
    df = _innovation_df(innovations)
    sigma_g = math.sqrt(math.log(1.25))
    table = np.zeros((len(CALIBRATION_LENGTHS), len(CALIBRATION_ALPHAS)))
    # One long window per simulation: without a nuisance the statistic of a
    # shorter window that ends at the same row is the maximum over its last
    # ``length`` starts.
    longest = max(CALIBRATION_LENGTHS)
    lengths = np.asarray(CALIBRATION_LENGTHS)
    prev_ok = np.ones(longest, dtype=bool)
    prev_ok[0] = False
    restart = ~prev_ok
    level = _signature(np.ones(longest), rho, prev_ok, restart)
    chunk = max(1, 250_000 // longest)
    maxima = []
    for start in range(0, n_simulations, chunk):
        rows = min(chunk, n_simulations - start)
        g = np.exp(sigma_g * rng.standard_normal((rows, longest)) - 0.5 * sigma_g * sigma_g)
        sigs = [level, _variation(_signature(g, rho, prev_ok, restart), level)]
        if df is None:
            z = rng.standard_normal((rows, longest))
        else:
            z = rng.standard_t(df, (rows, longest)) * math.sqrt((df - 2.0) / df)
        stat, _ = _step_scan(z, sigs)
        maxima.append(np.maximum.accumulate(stat[:, ::-1], axis=1)[:, lengths - 1])
    table = np.quantile(np.concatenate(maxima), quantile_levels, axis=0).T
    # Simulation noise must not make h fall with the window length or rise
    # with the false-alarm level.
    table = np.maximum.accumulate(table, axis=0)
    table = np.maximum.accumulate(table[:, ::-1], axis=1)[:, ::-1]
    return {
        "statistic": "glr_ar1_level_and_proportional_step",
        "lengths": list(CALIBRATION_LENGTHS),
        "alphas": list(CALIBRATION_ALPHAS),
        "h": table.tolist(),
        "n_simulations": int(n_simulations),
        "innovation_t_df": df,
        "seed": CALIBRATION_SEED,
    }


def _threshold(calibration: dict[str, Any], n: int, alpha: float) -> float:
    """Interpolate ``h`` in log(window length) and log(alpha)."""
    lengths = np.log(np.asarray(calibration["lengths"], dtype=float))
    alphas = np.log(np.asarray(calibration["alphas"], dtype=float))
    table = np.asarray(calibration["h"], dtype=float)
    log_alpha = float(np.clip(math.log(alpha), alphas[0], alphas[-1]))
    # np.interp needs increasing x: alphas are stored increasing.
    per_length = np.array([np.interp(log_alpha, alphas, row) for row in table])
    log_n = math.log(max(n, 1))
    if log_n <= lengths[-1]:
        # Shorter windows than the table reuse the shortest entry (conservative).
        return float(np.interp(log_n, lengths, per_length))
    # Beyond the table the maximum of ~n weakly dependent normals grows like
    # sqrt(2 log n).
    last = per_length[-1]
    return float(math.sqrt(last * last + 2.0 * (log_n - lengths[-1])))


def _baseline_uncertainty(drivers: dict[str, np.ndarray], e: np.ndarray, rho: float, std: float,
                          window: int = LEVEL_WINDOW) -> dict[str, Any]:
    """Parameter covariance of a linear baseline in the drivers, and its level error.

    A later window's residuals are off by the baseline's estimation error:
    the intercept error plus the slope errors times the drivers.  The
    covariance is the sandwich ``(X'X)^-1 X' Sigma X (X'X)^-1`` of a linear
    model in ``[1, drivers]`` with AR(1) errors, so persistent drivers such as
    outdoor temperature, whose slopes are poorly determined under
    autocorrelated errors, count fully.  ``level_se`` is the resulting error of
    a window mean, averaged over the training's own windows of ``window``
    rows.  For a model with more structure than the drivers this is a lower
    bound.
    """
    n = e.size
    names = [name for name, values in drivers.items() if np.asarray(values).shape == (n,)]
    x = np.column_stack([np.ones(n)] + [np.asarray(drivers[name], dtype=float) for name in names])
    rows = np.isfinite(e) & np.all(np.isfinite(x), axis=1)
    x = x[rows]
    m = x.shape[0]
    if m < x.shape[1] + 2:
        names = []
        x = np.ones((int(np.isfinite(e).sum()), 1))
        m = x.shape[0]
    # Sigma X for Sigma_ts = std^2 rho^|t-s|: forward plus backward
    # exponential smoothing, minus the doubly counted diagonal.
    forward = lfilter([1.0], [1.0, -rho], x, axis=0)
    backward = lfilter([1.0], [1.0, -rho], x[::-1], axis=0)[::-1]
    sigma_x = (forward + backward - x) * std * std
    xtx_inv = np.linalg.pinv(x.T @ x)
    cov = xtx_inv @ (x.T @ sigma_x) @ xtx_inv
    cov = 0.5 * (cov + cov.T)
    width = max(1, min(window, m))
    csum = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    starts = np.arange(0, m - width + 1, max(1, width // 7))
    means = (csum[starts + width] - csum[starts]) / width
    variances = np.einsum("wi,ij,wj->w", means, cov, means)
    return {
        "columns": ["intercept", *names],
        "means": [float(v) for v in x.mean(axis=0)],
        "cov": cov.tolist(),
        "level_se": float(math.sqrt(max(float(np.mean(variances)), 0.0))),
    }


def reference_statistics(
    drivers: dict[str, np.ndarray],
    residuals: np.ndarray,
    *,
    holdout_rmse: float | None,
    timestamps: np.ndarray | None = None,
    n_quantiles: int = 1001,
    holdout_n: int | None = None,
    n_simulations: int = 4000,
) -> dict[str, Any]:
    """Condense a training window into the JSON reference for later checks.

    Args:
        drivers: driver name -> training values (NaN ignored).
        residuals: in-sample training residuals ``y - y_hat`` in time order
            (NaN marks a missing reading).
        holdout_rmse: RMSE on the holdout window, the denominator of the
            error ratio.
        holdout_n: number of holdout rows behind ``holdout_rmse``.  With it, a
            holdout RMSE above the in-sample RMSE by more than its sampling
            error (one-sided 95 %, autocorrelation-corrected) inflates the
            residual scale by the excess, so that the ordinary out-of-sample
            error of a flexible model is not reported as drift.  Without it the
            in-sample scale is used as is; flexible models should then pass
            out-of-fold residuals.
        timestamps: optional reading times (datetime64 or seconds); pairs that
            are not one sampling interval apart do not count as consecutive.
        n_quantiles: size of each driver's quantile sketch.
        n_simulations: simulated windows per length for the change-point
            threshold calibration.

    Returns:
        ``{"version", "drivers": {name: {...}}, "residuals": {...}}``.
    """
    if n_quantiles < 2:
        raise ValueError("n_quantiles must be at least 2")
    e = _as_float_array(residuals, "residuals")
    consecutive, interval = _consecutive(e.size, timestamps)

    driver_stats = {str(name): _driver_reference(_as_float_array(values, name), n_quantiles)
                    for name, values in drivers.items()}

    ok = np.isfinite(e)
    n = int(ok.sum())
    if n < 2:
        raise ValueError("at least two finite residuals are needed")
    ev = e[ok]
    std = float(ev.std())
    rmse = float(math.sqrt(np.mean(ev * ev)))
    rho = float(np.clip(_lag1(e, consecutive), 0.0, RHO_MAX))

    innovations = np.full(e.size, np.nan)
    pair = consecutive.copy()
    pair[1:] &= ok[1:] & ok[:-1]
    innovations[1:] = np.where(pair[1:], e[1:] - rho * e[:-1], np.nan)
    innov = innovations[np.isfinite(innovations)]
    sigma_u = float(innov.std()) if innov.size >= 2 else std * math.sqrt(1.0 - rho * rho)

    holdout = _num(holdout_rmse)
    if holdout is not None and holdout < 0:
        raise ValueError("holdout_rmse must be non-negative")
    inflation = 1.0
    if holdout and rmse > 0 and holdout_n:
        # Scale up (never down) by the part of the holdout excess that its own
        # sampling error cannot explain.
        df = (1 - rho * rho) / (1 + rho * rho)
        band = math.sqrt(_f_quantile(0.95, max(holdout_n * df, 1.0), max(n * df, 1.0)))
        inflation = max(1.0, holdout / rmse / band)

    baseline = _baseline_uncertainty(drivers, e, rho, std)

    residual_stats = {
        "n": n,
        "mean": float(ev.mean()),
        "std": std,
        "rmse": rmse,
        "rho": rho,
        "rho_raw": _num(_lag1(e, consecutive)),
        "holdout_rmse": holdout,
        "ess_factor": (1.0 - rho) / (1.0 + rho),
        "innovation_std": sigma_u,
        "scale_inflation": inflation,
        "level_se": baseline["level_se"],
        "baseline": {k: v for k, v in baseline.items() if k != "level_se"},
        "interval_seconds": interval,
        "cusum": _calibrate(rho, innovations, int(n_simulations)),
    }
    return _clean({"version": 1, "drivers": driver_stats, "residuals": residual_stats})


# ---------------------------------------------------------------------------
# data drift


def _psi(ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    r = np.where(ref_shares > 0, ref_shares, PSI_FLOOR)
    c = np.where(cur_shares > 0, cur_shares, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def _ks_sketch(quantiles: np.ndarray, cur_sorted: np.ndarray) -> float:
    """sup |G - F| with G the sketch ECDF and F the current ECDF.

    Both are right-continuous step functions, so the supremum is attained at
    one of their jump points; every lookup below searches sorted values.
    """
    m = quantiles.size
    n = cur_sorted.size
    probs = np.arange(m) / (m - 1)
    # At the sketch points G is the probability of the last equal sketch value.
    g_at_q = probs[np.searchsorted(quantiles, quantiles, side="right") - 1]
    f_at_q = np.searchsorted(cur_sorted, quantiles, side="right") / n
    k = np.searchsorted(quantiles, cur_sorted, side="right") - 1
    g_at_x = np.where(k >= 0, probs[np.maximum(k, 0)], 0.0)
    f_at_x = np.searchsorted(cur_sorted, cur_sorted, side="right") / n
    return float(max(np.max(np.abs(g_at_q - f_at_q)), np.max(np.abs(g_at_x - f_at_x))))


def _wasserstein_sketch(quantiles: np.ndarray, cur_sorted: np.ndarray) -> float:
    """Exact integral of |Q_ref(u) - Q_cur(u)| over u in [0, 1].

    ``Q_ref`` is linear between the sketch quantiles, ``Q_cur`` the step
    quantile function of the current sample.
    """
    m = quantiles.size
    n = cur_sorted.size
    probs = np.arange(m) / (m - 1)
    grid = np.unique(np.concatenate([probs, np.arange(n + 1) / n]))
    lo, hi = grid[:-1], grid[1:]
    width = hi - lo
    mid = 0.5 * (lo + hi)
    level = cur_sorted[np.minimum((mid * n).astype(np.int64), n - 1)]
    d0 = np.interp(lo, probs, quantiles) - level
    d1 = np.interp(hi, probs, quantiles) - level
    a0, a1 = np.abs(d0), np.abs(d1)
    same_sign = d0 * d1 >= 0
    total = a0 + a1
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(total > 0, (d0 * d0 + d1 * d1) / (2.0 * total), 0.0)
    area = np.where(same_sign, 0.5 * total, crossing) * width
    return float(area.sum())


def _driver_drift(ref: dict[str, Any], x: np.ndarray, th: DriftThresholds) -> dict[str, Any]:
    x = x[np.isfinite(x)]
    n_cur = int(x.size)
    n_eff = _effective_size(x)
    empty = {"psi": None, "ks_statistic": None, "ks_pvalue": None, "wasserstein": None,
             "out_of_range_share": None, "drifted": False, "level": "none", "n": n_cur}
    if n_cur == 0 or not ref.get("n"):
        return empty
    cur = np.sort(x)
    edges = np.asarray(ref["psi_edges"], dtype=float)
    psi = _psi(np.asarray(ref["psi_reference"], dtype=float), _bin_shares(cur, edges))

    quantiles = np.asarray(ref["quantiles"], dtype=float)
    ks = _ks_sketch(quantiles, cur)
    n_ref = int(ref["n"])
    # Drivers such as outdoor temperature are strongly autocorrelated hour to hour: a week holds
    # far fewer independent values than rows, and an i.i.d. p-value would call every warm week
    # drift. The veto therefore uses the current window's effective sample size; the reported
    # `ks_pvalue` stays the textbook i.i.d. one.
    ks_p = float(special.kolmogorov(ks * math.sqrt(n_ref * n_cur / (n_ref + n_cur))))
    en = n_ref * n_eff / (n_ref + n_eff)
    ks_p_eff = float(special.kolmogorov(ks * math.sqrt(en)))

    w1 = _wasserstein_sketch(quantiles, cur)
    scale = ref["std"] if ref["std"] > 0 else max(abs(ref["mean"]), 1.0)
    w_norm = w1 / scale

    out = float(np.searchsorted(cur, ref["min"], side="left")
                + n_cur - np.searchsorted(cur, ref["max"], side="right")) / n_cur

    enough = n_cur >= th.min_rows
    # Rows beyond the training range are drift whatever the p-value says: the model extrapolates.
    drifted = enough and (
        ((psi >= th.psi_warning or w_norm >= th.wasserstein) and ks_p_eff < th.ks_alpha)
        or out >= th.extrapolation_warning
    )
    level = ("critical" if psi > th.psi_critical else "warning") if drifted else "none"
    return {"psi": psi, "ks_statistic": ks, "ks_pvalue": ks_p, "wasserstein": w_norm,
            "out_of_range_share": out, "drifted": bool(drifted), "level": level, "n": n_cur,
            "n_effective": n_eff, "ks_pvalue_effective": ks_p_eff}


def _effective_size(x: np.ndarray) -> float:
    """n (1 - r) / (1 + r) with r the lag-1 autocorrelation of the series in time order
    (AR(1) approximation; r <= 0 keeps n), at least 2."""
    n = x.size
    if n < 3:
        return float(n)
    centred = x - x.mean()
    denom = float(np.dot(centred, centred))
    if denom <= 0:
        return float(n)
    r = float(np.dot(centred[1:], centred[:-1]) / denom)
    r = min(max(r, 0.0), 0.99)
    return max(2.0, n * (1 - r) / (1 + r))


def data_drift(
    reference: dict[str, Any],
    current: dict[str, np.ndarray],
    thresholds: DriftThresholds | None = None,
) -> dict[str, dict[str, Any]]:
    """Per-driver drift of the current window against the stored reference.

    Returns ``{driver: {"psi", "ks_statistic", "ks_pvalue", "wasserstein",
    "out_of_range_share", "drifted", "level", "n"}}`` where ``wasserstein`` is
    normalised by the reference std and ``n`` counts valid current rows.
    Drivers of the reference missing from ``current`` raise ``KeyError``;
    extra current columns are ignored.
    """
    th = thresholds or DriftThresholds()
    ref_drivers = reference["drivers"]
    missing = [name for name in ref_drivers if name not in current]
    if missing:
        raise KeyError(f"current data lacks driver(s): {', '.join(missing)}")
    return _clean({name: _driver_drift(ref, _as_float_array(current[name], name), th)
                   for name, ref in ref_drivers.items()})


def _extrapolation_rows(reference: dict[str, Any], current: dict[str, np.ndarray]) -> float | None:
    """Share of rows with at least one driver outside its training range."""
    outside = None
    valid = None
    for name, ref in reference["drivers"].items():
        if not ref.get("n"):
            continue
        x = _as_float_array(current[name], name)
        if outside is None:
            outside = np.zeros(x.size, dtype=bool)
            valid = np.zeros(x.size, dtype=bool)
        if x.size != outside.size:
            raise ValueError("all current driver arrays must have the same length")
        ok = np.isfinite(x)
        valid |= ok
        outside |= ok & ((x < ref["min"]) | (x > ref["max"]))
    if outside is None or not valid.any():
        return None
    return float(outside[valid].mean())


# ---------------------------------------------------------------------------
# concept drift


def _nuisance(res: dict[str, Any], drivers: dict[str, np.ndarray] | None, n: int, rho: float,
              sigma_u: float, prev_ok: np.ndarray, restart: np.ndarray
              ) -> tuple[Nuisance | None, np.ndarray, np.ndarray]:
    """Whitened baseline-error columns with their prior precision.

    Returns ``((N, P), X, cov)``: ``X`` is the window's design (rows of
    ``[1, drivers]``) and ``cov`` the parameter covariance it goes with, for
    the baseline error of the window mean.  With the drivers, the
    columns are ``[1, drivers]`` rotated onto the eigenvectors of the stored
    parameter covariance (directions without uncertainty are dropped);
    without them, the intercept alone with the typical level error.
    """
    baseline = res.get("baseline") or {}
    columns = baseline.get("columns") or ["intercept"]
    if drivers is not None and len(columns) > 1 and baseline.get("cov"):
        means = baseline["means"]
        cols = [np.ones(n)]
        for name, mean in zip(columns[1:], means[1:], strict=True):
            if name not in drivers:
                raise KeyError(f"drivers lack {name!r}, which the baseline was trained on")
            x = _as_float_array(drivers[name], name)
            if x.size != n:
                raise ValueError(f"driver {name!r} must have the same length as residuals")
            cols.append(np.where(np.isfinite(x), x, mean))
        x = np.column_stack(cols)
        cov = np.asarray(baseline["cov"], dtype=float)
    else:
        x = np.ones((n, 1))
        level_se = float(res.get("level_se") or 0.0)
        cov = np.array([[level_se * level_se]])
    values, vectors = np.linalg.eigh(cov)
    keep = values > 1e-12 * max(float(values.max()), 1e-300)
    if not keep.any():
        return None, x, cov
    x_rot = x @ vectors[:, keep]
    whitened = np.column_stack([_signature(x_rot[:, j], rho, prev_ok, restart)[1]
                                for j in range(x_rot.shape[1])])
    precision = np.diag(sigma_u * sigma_u / values[keep])
    return (whitened, precision), x, cov


def concept_drift(
    reference: dict[str, Any],
    residuals: np.ndarray,
    actual: np.ndarray,
    n_params: int,
    thresholds: DriftThresholds | None = None,
    *,
    drivers: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Residual-based drift of the current window (``residuals = actual - predicted``).

    Args:
        reference: output of :func:`reference_statistics`.
        residuals: current window residuals in time order (NaN = missing).
        actual: current window consumption, same length.
        n_params: number of model parameters (ASHRAE degrees of freedom).
        thresholds: decision thresholds.
        drivers: the window's drivers.  With them the baseline's own
            parameter error is modelled along the drivers (see
            :func:`_step_scan`); without them only along its level, which
            lets a mis-estimated slope read as a change at abrupt driver
            moves (start/stop) more often than ``cusum_false_alarm``.

    Returns ``{"nmbe", "cv_rmse", "error_ratio", "change_point",
    "cusum_alarm_index", "mean_shift_z", "drifted", "level"}`` plus the
    supporting figures ``n``, ``rmse``, ``error_ratio_pvalue``,
    ``mean_shift_pvalue``, ``cusum_statistic``, ``cusum_threshold``,
    ``shift_estimate`` (kWh per reading after the change point),
    ``shift_relative`` (that shift over the mean actual after it) and
    ``direction``.  Indexes refer to positions in ``residuals``.
    """
    th = thresholds or DriftThresholds()
    e = _as_float_array(residuals, "residuals")
    y = _as_float_array(actual, "actual")
    if e.shape != y.shape:
        raise ValueError("residuals and actual must have the same length")
    res = reference["residuals"]
    rho = float(res["rho"])
    inflation = float(res.get("scale_inflation") or 1.0)
    sigma = float(res["std"]) * inflation
    sigma_u = float(res["innovation_std"]) * inflation
    ref_rmse = res["holdout_rmse"] or res["rmse"]
    floor = 1e-12 * (1.0 + abs(float(res["mean"])))
    sigma, sigma_u, ref_rmse = max(sigma, floor), max(sigma_u, floor), max(ref_rmse, floor)

    e = np.where(np.isfinite(y), e, np.nan)
    ok = np.isfinite(e)
    n = int(ok.sum())
    out: dict[str, Any] = {
        "nmbe": None, "cv_rmse": None, "error_ratio": None, "change_point": None,
        "cusum_alarm_index": None, "mean_shift_z": None, "drifted": False, "level": "none",
        "n": n, "rmse": None, "error_ratio_pvalue": None, "mean_shift_pvalue": None,
        "cusum_statistic": None, "cusum_threshold": None, "shift_estimate": None,
        "shift_relative": None, "direction": None,
    }
    if n == 0:
        return _clean(out)
    ev, yv = e[ok], y[ok]
    y_mean = float(yv.mean())
    sse = float(np.sum(ev * ev))
    dof = n - int(n_params)
    if dof > 0 and y_mean != 0:
        out["nmbe"] = float(ev.sum()) / (dof * y_mean)
        out["cv_rmse"] = math.sqrt(sse / dof) / y_mean
    rmse = math.sqrt(sse / n)
    out["rmse"] = rmse
    out["error_ratio"] = rmse / ref_rmse
    # The holdout RMSE of an autocorrelated holdout is itself uncertain; the
    # test uses the larger of the in-sample and holdout scales so that a
    # holdout that happened to be quiet does not make every later week look
    # worse, and an F rather than a chi-square law for the training scale's
    # own sampling error.
    z, prev_ok, restart = _whiten(e, rho, sigma_u)
    nuisance, design, cov = _nuisance(res, drivers, e.size, rho, sigma_u, prev_ok, restart)
    # Error of the baseline's mean prediction over this window: large when the
    # drivers sit far from their training means.
    x_mean = design[ok].mean(axis=0)
    level_var = max(float(x_mean @ cov @ x_mean), 0.0) * inflation * inflation

    # The holdout RMSE of an autocorrelated holdout is itself uncertain; the
    # test uses the larger of the in-sample and holdout scales so that a
    # holdout that happened to be quiet does not make every later week look
    # worse, adds the baseline's expected squared bias, and takes an F rather
    # than a chi-square law for the training scale's own sampling error.
    nu = n * (1 - rho * rho) / (1 + rho * rho)
    nu_ref = int(res["n"]) * (1 - rho * rho) / (1 + rho * rho)
    expected_mse = max(ref_rmse, float(res["rmse"])) ** 2 + level_var
    out["error_ratio_pvalue"] = float(special.fdtrc(nu, nu_ref, rmse * rmse / expected_mse))

    # Window mean against a baseline whose level is itself estimated.
    se = math.sqrt(sigma * sigma * _ar1_mean_variance_factor(rho, n) / n + level_var)
    z_mean = float(ev.mean()) / se
    out["mean_shift_z"] = z_mean
    out["mean_shift_pvalue"] = float(special.erfc(abs(z_mean) / math.sqrt(2.0)))

    level_sig = _signature(np.ones(e.size), rho, prev_ok, restart)
    predicted = np.where(ok, y - e, 0.0)
    scale = float(predicted[ok].mean())
    sigs = [level_sig]
    g = np.ones(e.size)
    if scale > 0 and float(predicted[ok].std()) > 1e-6 * scale:
        g = np.where(ok, predicted / scale, 1.0)
        sigs.append(_variation(_signature(g, rho, prev_ok, restart), level_sig))
    stat, theta = _step_scan(z, sigs, nuisance)
    tau = int(np.argmax(stat))
    g_stat = float(stat[tau])
    h = _threshold(res["cusum"], n, th.cusum_false_alarm)
    out["cusum_statistic"] = g_stat
    out["cusum_threshold"] = h

    enough = n >= th.min_rows
    if enough and g_stat >= h:
        after = ok.copy()
        after[:tau] = False
        shift = float(theta[tau, 0])
        if len(sigs) > 1:
            shift += float(theta[tau, 1]) * (float(g[after].mean()) - 1.0)
        shift *= sigma_u
        after_mean = float(y[after].mean())
        path = _step_path(z, sigs, nuisance, tau)
        crossed = np.flatnonzero(path >= h)
        out["change_point"] = tau
        out["cusum_alarm_index"] = tau + int(crossed[0]) if crossed.size else e.size - 1
        out["shift_estimate"] = shift
        out["shift_relative"] = shift / after_mean if after_mean != 0 else None
        out["direction"] = "increase" if shift > 0 else "decrease"

    ratios = _concept_ratios(out, th, alarm_possible=enough)
    level = _level(ratios)
    out["drifted"] = level != "none"
    out["level"] = level
    if out["drifted"] and out["direction"] is None:
        out["direction"] = "increase" if z_mean > 0 else "decrease"
    return _clean(out)


# ---------------------------------------------------------------------------
# scoring


def _warning_score(r: float) -> float:
    if r < 1.0:
        return max(r, 0.0) / 3.0
    # Saturates at 0.6 so that no amount of warning-type evidence reads as critical.
    return 1.0 / 3.0 + 0.8 * (1.0 - math.exp(1.0 - r)) / 3.0


def _critical_score(q: float) -> float:
    if q < 1.0:
        return 0.0
    return 2.0 / 3.0 + (1.0 - math.exp(1.0 - q)) / 3.0


def _significance_ratio(p: float | None, alpha: float) -> float:
    if p is None:
        return 0.0
    p = min(max(p, 1e-300), 1.0)
    if p >= 0.5:
        return 0.0
    return float(special.ndtri(1.0 - p) / special.ndtri(1.0 - alpha))


def _concept_ratios(c: dict[str, Any], th: DriftThresholds, *, alarm_possible: bool = True
                    ) -> dict[str, tuple[str, float]]:
    """Rule name -> (kind, ratio) for the concept-drift rules."""
    if not alarm_possible or c.get("n", 0) < th.min_rows:
        return {}
    ratios: dict[str, tuple[str, float]] = {}
    if c.get("cusum_statistic") is not None and c.get("cusum_threshold"):
        ratios["change_point"] = ("warning", c["cusum_statistic"] / c["cusum_threshold"])
    if c.get("mean_shift_z") is not None and c.get("nmbe") is not None:
        nmbe_ratio = abs(c["nmbe"]) / th.mean_shift_nmbe if th.mean_shift_nmbe > 0 else math.inf
        ratios["mean_shift"] = ("warning", min(abs(c["mean_shift_z"]) / th.mean_shift_z, nmbe_ratio))
    sig = _significance_ratio(c.get("error_ratio_pvalue"), th.error_ratio_alpha)
    if c.get("error_ratio") is not None:
        ratios["error_ratio"] = ("warning", min(c["error_ratio"] / th.error_ratio_warning, sig))
    detected = any(r >= 1.0 for _, r in ratios.values())
    if detected:
        effect = max(abs(c.get("nmbe") or 0.0), abs(c.get("shift_relative") or 0.0))
        ratios["effect_size"] = ("critical", effect / th.nmbe_critical)
        if c.get("error_ratio") is not None:
            ratios["error_ratio_critical"] = (
                "critical", min(c["error_ratio"] / th.error_ratio_critical, sig))
    return ratios


def _data_ratios(data: dict[str, dict[str, Any]], extrapolation: float | None,
                 th: DriftThresholds) -> tuple[dict[str, tuple[str, float]], dict[str, Any]]:
    usable = {k: v for k, v in data.items() if v.get("psi") is not None and v.get("n", th.min_rows) >= th.min_rows}
    n_drivers = len(usable)
    n_drifted = sum(1 for v in usable.values() if v["drifted"])
    n_critical = sum(1 for v in usable.values() if v["level"] == "critical")
    share = n_drifted / n_drivers if n_drivers else 0.0
    critical_share = n_critical / n_drivers if n_drivers else 0.0
    if extrapolation is None:
        shares = [v["out_of_range_share"] for v in usable.values()]
        extrapolation = max(shares) if shares else 0.0
    ratios = {
        "drift_share": ("warning", share / th.drift_share),
        "critical_share": ("critical", critical_share / th.drift_share),
        "extrapolation": ("warning", extrapolation / th.extrapolation_warning),
        "extrapolation_critical": (
            "critical",
            extrapolation / th.extrapolation_critical if th.extrapolation_critical > 0 else math.inf),
    }
    summary = {"n_drivers": n_drivers, "n_drifted": n_drifted, "n_critical": n_critical,
               "drift_share": share, "critical_share": critical_share,
               "extrapolation_share": extrapolation}
    return ratios, summary


def _component_scores(ratios: dict[str, tuple[str, float]]) -> dict[str, float]:
    return {name: (_warning_score(r) if kind == "warning" else _critical_score(r))
            for name, (kind, r) in ratios.items()}


def _level_from_score(score: float) -> str:
    if score >= 2.0 / 3.0:
        return "critical"
    if score >= 1.0 / 3.0:
        return "warning"
    return "none"


def _level(ratios: dict[str, tuple[str, float]]) -> str:
    scores = _component_scores(ratios)
    return _level_from_score(max(scores.values(), default=0.0))


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f} %"


def drift_verdict(
    data: dict[str, dict[str, Any]],
    concept: dict[str, Any],
    thresholds: DriftThresholds | None = None,
    *,
    extrapolation_share: float | None = None,
) -> dict[str, Any]:
    """Combine data and concept drift into one decision.

    Args:
        data: output of :func:`data_drift`.
        concept: output of :func:`concept_drift`.
        thresholds: decision thresholds.
        extrapolation_share: share of current rows with any driver outside the
            training range; without it the largest per-driver share is used,
            which is a lower bound of the row share.

    Returns:
        ``{"drift_detected", "drift_score", "severity", "data_drift_level",
        "concept_drift_level", "reasons", "components", "drift_share",
        "extrapolation_share", "n_drivers", "n_drifted"}``; the score formula
        is in the module docstring.
    """
    th = thresholds or DriftThresholds()
    d_ratios, summary = _data_ratios(data, extrapolation_share, th)
    c_ratios = _concept_ratios(concept, th)
    d_scores = _component_scores(d_ratios)
    c_scores = _component_scores(c_ratios)
    d_score = max(d_scores.values(), default=0.0)
    c_score = max(c_scores.values(), default=0.0)
    score = min(max(d_score, c_score), 1.0)
    severity = _level_from_score(score)

    reasons: list[str] = []
    drifted = [k for k, v in data.items() if v.get("drifted")]
    if d_scores.get("drift_share", 0.0) >= 1 / 3 or d_scores.get("critical_share", 0.0) >= 2 / 3:
        reasons.append(
            f"{summary['n_drifted']} of {summary['n_drivers']} drivers drifted "
            f"({', '.join(drifted)}); share {summary['drift_share']:.2f} >= {th.drift_share:.2f}")
    if d_scores.get("extrapolation", 0.0) >= 1 / 3:
        reasons.append(
            f"{_pct(summary['extrapolation_share'])} of rows have a driver outside the training range "
            f"(warning at {_pct(th.extrapolation_warning)}, critical at {_pct(th.extrapolation_critical)})")
        for name, v in data.items():
            if v.get("out_of_range_share"):
                reasons.append(f"{name}: {_pct(v['out_of_range_share'])} of rows outside the training range")
    if c_scores.get("change_point", 0.0) >= 1 / 3:
        rel = concept.get("shift_relative")
        size = f" of {_pct(rel)}" if rel is not None else ""
        reasons.append(
            f"residual level shift{size} ({concept.get('direction')}) starting at index "
            f"{concept.get('change_point')}, alarm at index {concept.get('cusum_alarm_index')} "
            f"(statistic {concept['cusum_statistic']:.2f} >= {concept['cusum_threshold']:.2f})")
    if c_scores.get("mean_shift", 0.0) >= 1 / 3:
        reasons.append(
            f"window mean residual shifted: NMBE {_pct(concept['nmbe'])}, z = {concept['mean_shift_z']:.2f} "
            f"(autocorrelation-corrected; limit {th.mean_shift_z:.2f})")
    if c_scores.get("error_ratio", 0.0) >= 1 / 3:
        reasons.append(
            f"error ratio {concept['error_ratio']:.2f} >= {th.error_ratio_warning:.2f} "
            f"(p = {concept['error_ratio_pvalue']:.2g})")
    if c_scores.get("effect_size", 0.0) >= 2 / 3:
        reasons.append(f"shift size at or above {_pct(th.nmbe_critical)} of consumption")
    if c_scores.get("error_ratio_critical", 0.0) >= 2 / 3:
        reasons.append(f"error ratio {concept['error_ratio']:.2f} >= {th.error_ratio_critical:.2f}")

    return _clean({
        "drift_detected": severity != "none",
        "drift_score": score,
        "severity": severity,
        "data_drift_level": _level_from_score(d_score),
        "concept_drift_level": _level_from_score(c_score),
        "reasons": reasons,
        "components": {**{f"data.{k}": v for k, v in d_scores.items()},
                       **{f"concept.{k}": v for k, v in c_scores.items()}},
        **summary,
    })


def check_drift(
    reference: dict[str, Any],
    current_drivers: dict[str, np.ndarray],
    residuals: np.ndarray,
    actual: np.ndarray,
    n_params: int,
    thresholds: DriftThresholds | None = None,
) -> dict[str, Any]:
    """One drift check of a current window against a stored reference.

    Returns ``{"data_drift", "concept_drift", "drift_detected", "drift_score",
    "severity", "details"}`` where ``details`` holds the levels, reasons,
    component scores, dataset-level shares and the thresholds applied.
    """
    th = thresholds or DriftThresholds()
    data = data_drift(reference, current_drivers, th)
    concept = concept_drift(reference, residuals, actual, n_params, th, drivers=current_drivers)
    extrapolation = _extrapolation_rows(reference, current_drivers)
    verdict = drift_verdict(data, concept, th, extrapolation_share=extrapolation)
    details = {k: v for k, v in verdict.items()
               if k not in ("drift_detected", "drift_score", "severity")}
    details["thresholds"] = th.to_dict()
    details["rho"] = reference["residuals"]["rho"]
    return _clean({
        "data_drift": data,
        "concept_drift": concept,
        "drift_detected": verdict["drift_detected"],
        "drift_score": verdict["drift_score"],
        "severity": verdict["severity"],
        "details": details,
    })

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
Every check is self-contained: the change detector is restarted at the start of
the window, so a check needs no state from earlier checks and its false-alarm
probability is a property of the window alone.  The change-point detector is
calibrated so that one check over a stable window of the calibrated length
raises an alarm with probability ``DriftThresholds.cusum_false_alarm``
(default 2 %); consecutive daily checks overlap by 6 days, so their alarms are
strongly correlated and the alarm rate per check, not per day of data, is the
quantity that is controlled.  A step that starts inside the window is seen by up
to seven consecutive checks before it leaves the window; a shift older than the
window is still caught by the window-level mean-shift and error-ratio tests,
but it can no longer be located (``change_point`` is then ``None``).

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
``z_t = (e_t - rho * e_{t-1}) / sigma_u`` (Prais-Winsten at the start and after
gaps), which is i.i.d. N(0, 1) on a stable machine.  A level shift ``mu`` that
starts at ``tau`` appears in ``z`` as a jump ``mu / sigma_u`` at ``tau`` followed
by ``mu * (1 - rho) / sigma_u`` afterwards.  The change detector is the
generalised-likelihood-ratio form of the two-sided CUSUM for a shift of unknown
size (Lai 1995; Siegmund & Venkatraman 1995) matched to that signature::

    Z(tau) = sum_t s_t(tau) z_t / sqrt(sum_t s_t(tau)^2),   G = max_tau |Z(tau)|

which is the GLS t-statistic of a step starting at ``tau``.  The shift size is
estimated rather than fixed, so there is no reference value ``k`` to choose;
the decision threshold ``h`` is calibrated at training time on (a) i.i.d.
normal innovations with the fitted ``rho`` and (b) a 24-hour moving-block
bootstrap of the standardised training innovations (heavy tails and leftover
daily structure raise ``h``), both seeded so that calibration is deterministic;
the larger of the two quantiles is stored for several window lengths and
false-alarm levels.  ``change_point`` is the maximising ``tau`` and
``cusum_alarm_index`` the first index at which the statistic of that change
reached ``h``.  Using the jump as well as the persistent part matters: with
rho = 0.9 a 10 % step of a machine with 8 % residual noise is worth z ~ 2.9 on
its first hour, while the persistent part accumulates only 0.29 per sqrt(hour).

The window is further summarised by ASHRAE Guideline 14 NMBE and CV(RMSE), the
error ratio (current RMSE / holdout RMSE) with an effective-degrees-of-freedom
chi-square test (``nu = n (1 - rho^2) / (1 + rho^2)``), and the mean-shift
z-score ``mean(e) / SE`` with the exact AR(1) variance of a mean, i.e. the
effective sample size ``n' ~ n (1 - rho) / (1 + rho)`` of ASHRAE Guideline 14.

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
warning ratio maps to ``r / 3`` below 1 and ``1/3 + (1 - exp(1 - r)) / 3`` from
1 on; a critical ratio ``q >= 1`` maps to ``2/3 + (1 - exp(1 - q)) / 3``.

    drift_score = max(component scores)  in [0, 1]

so ``severity`` is ``none`` below 1/3, ``warning`` in [1/3, 2/3) and
``critical`` from 2/3, and ``drift_detected`` is ``severity != "none"``.  The
data and concept levels are the same mapping restricted to their components.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import special

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
CALIBRATION_LENGTHS = (24, 48, 96, 168, 336, 720)
CALIBRATION_ALPHAS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
CALIBRATION_SEED = 20240611
BOOTSTRAP_BLOCK = 24
MIN_BOOTSTRAP_INNOVATIONS = 240

LEVELS = ("none", "warning", "critical")


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
            the training ``[min, max]`` that raises a warning; a stable week
            after a 75-day training window reaches 5 % by weather alone.
        extrapolation_critical: same share that is critical.
        error_ratio_warning: current RMSE / holdout RMSE for a warning.
        error_ratio_critical: current RMSE / holdout RMSE that is critical.
        error_ratio_alpha: significance level the error ratio must also reach,
            since on autocorrelated residuals a week's RMSE varies by +-20 %.
        cusum_false_alarm: probability that one check of a stable window raises
            a change-point alarm; ``h`` is read from the stored calibration.
        mean_shift_z: |z| of the window mean residual (autocorrelation-corrected
            standard error) for a mean-shift alarm (2.576 = two-sided 1 %).
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
    mean_shift_z: float = 2.576
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


def _after(a: np.ndarray) -> np.ndarray:
    """Sum over ``t > tau`` for every ``tau`` (last axis)."""
    tail = np.cumsum(a[..., ::-1], axis=-1)[..., ::-1]
    return tail - a


def _lr(s11, s12, s22, r1, r2):
    """Likelihood-ratio statistic and coefficients of a one- or two-column GLS fit.

    The second column is orthogonalised against the first and dropped where
    it is (numerically) collinear with it, which reduces the fit to one column.
    """
    s11_safe = np.where(s11 > 0, s11, 1.0)
    lr = np.where(s11 > 0, r1 * r1 / s11_safe, 0.0)
    if s22 is None:
        return lr, np.where(s11 > 0, r1 / s11_safe, 0.0), np.zeros_like(lr)
    k = s12 / s11_safe
    v = s22 - k * s12
    w = r2 - k * r1
    use = (s11 > 0) & (v > 1e-8 * np.maximum(s22, 1e-300))
    v_safe = np.where(use, v, 1.0)
    a2 = np.where(use, w / v_safe, 0.0)
    lr = lr + np.where(use, w * w / v_safe, 0.0)
    a1 = np.where(s11 > 0, (r1 - s12 * a2) / s11_safe, 0.0)
    return lr, a1, a2


def _step_scan(z: np.ndarray, level: tuple[np.ndarray, np.ndarray],
               proportional: tuple[np.ndarray, np.ndarray] | None):
    """Step statistic ``sqrt(LR(tau))`` for every start ``tau`` (last axis).

    ``level`` and ``proportional`` are ``(c, b)`` signatures.  Returns
    ``(stat, a1, a2)``; the fitted shift at ``t >= tau`` is
    ``sigma_u * (a1 + a2 * g_t)``.  Works on stacked rows for calibration.
    """
    c1, b1 = level
    s11 = c1 * c1 + _after(b1 * b1)
    r1 = c1 * z + _after(b1 * z)
    if proportional is None:
        s12 = s22 = r2 = None
    else:
        c2, b2 = proportional
        s12 = c1 * c2 + _after(b1 * b2)
        s22 = c2 * c2 + _after(b2 * b2)
        r2 = c2 * z + _after(b2 * z)
    lr, a1, a2 = _lr(s11, s12, s22, r1, r2)
    stat = np.where(c1 > 0, np.sqrt(np.maximum(lr, 0.0)), 0.0)
    return stat, a1, a2


def _step_path(z: np.ndarray, level: tuple[np.ndarray, np.ndarray],
               proportional: tuple[np.ndarray, np.ndarray] | None, tau: int) -> np.ndarray:
    """``sqrt(LR)`` of a step at ``tau`` using the data up to each ``t >= tau``."""
    def upto(c, b, x):
        return c[tau] * x[tau] + np.concatenate([[0.0], np.cumsum((b * x)[tau + 1:])])

    c1, b1 = level
    s11 = c1[tau] ** 2 + np.concatenate([[0.0], np.cumsum((b1 * b1)[tau + 1:])])
    r1 = upto(c1, b1, z)
    if proportional is None:
        s12 = s22 = r2 = None
    else:
        c2, b2 = proportional
        s12 = c1[tau] * c2[tau] + np.concatenate([[0.0], np.cumsum((b1 * b2)[tau + 1:])])
        s22 = c2[tau] ** 2 + np.concatenate([[0.0], np.cumsum((b2 * b2)[tau + 1:])])
        r2 = upto(c2, b2, z)
    lr, _, _ = _lr(s11, s12, s22, r1, r2)
    return np.sqrt(np.maximum(lr, 0.0))


def _ar1_mean_variance_factor(rho: float, n: int) -> float:
    """n * Var(mean of n AR(1) values) / sigma^2."""
    if rho <= 0 or n <= 1:
        return 1.0
    return (1 + rho) / (1 - rho) - 2 * rho * (1 - rho ** n) / (n * (1 - rho) ** 2)


def _f_quantile(q: float, dfn: float, dfd: float) -> float:
    return float(special.fdtri(dfn, dfd, q))


def _calibrate(rho: float, innovations: np.ndarray, n_simulations: int, level_sd: float) -> dict[str, Any]:
    """Threshold table ``h[length][alpha]`` for the window-end step statistic.

    Windows are simulated under a stable machine: i.i.d. N(0, 1) innovations
    and, separately, a moving-block bootstrap of the standardised training
    innovations; the larger quantile wins.  Each simulated window carries a
    random baseline offset of standard error ``level_sd`` (innovation-sd
    units), because every later window shares the fitted baseline's error.
    The proportional regressor is a generic load profile (i.i.d. lognormal,
    coefficient of variation 0.5): the null distribution of the statistic
    hardly depends on the profile's shape, and a constant load only makes the
    stored ``h`` conservative.
    """
    rng = np.random.default_rng(CALIBRATION_SEED)
    quantile_levels = 1.0 - np.asarray(CALIBRATION_ALPHAS)
    innov = innovations[np.isfinite(innovations)]
    use_bootstrap = innov.size >= MIN_BOOTSTRAP_INNOVATIONS and innov.std() > 0
    block = 0
    if use_bootstrap:
        innov = (innov - innov.mean()) / innov.std()
        block = min(BOOTSTRAP_BLOCK, innov.size // 4)
    # One long window per simulation; the statistic of a shorter window that
    # ends at the same row is the maximum over its last ``length`` starts.
    longest = max(CALIBRATION_LENGTHS)
    lengths = np.asarray(CALIBRATION_LENGTHS)
    prev_ok = np.ones(longest, dtype=bool)
    prev_ok[0] = False
    restart = ~prev_ok
    level = _signature(np.ones(longest), rho, prev_ok, restart)
    sigma_g = math.sqrt(math.log(1.25))
    sources = ("normal", "bootstrap") if use_bootstrap else ("normal",)
    maxima = {src: [] for src in sources}
    chunk = 500
    for start in range(0, n_simulations, chunk):
        rows = min(chunk, n_simulations - start)
        g = np.exp(sigma_g * rng.standard_normal((rows, longest)) - 0.5 * sigma_g * sigma_g)
        proportional = _signature(g, rho, prev_ok, restart)
        offsets = rng.standard_normal((rows, 1)) * level_sd * level[1]
        for src in sources:
            if src == "normal":
                z = rng.standard_normal((rows, longest))
            else:
                n_blocks = -(-longest // block)
                starts = rng.integers(0, innov.size, size=(rows, n_blocks))
                idx = (starts[:, :, None] + np.arange(block)[None, None, :]) % innov.size
                z = innov[idx.reshape(rows, -1)[:, :longest]]
            stat, _, _ = _step_scan(z + offsets, level, proportional)
            running = np.maximum.accumulate(stat[:, ::-1], axis=1)[:, lengths - 1]
            maxima[src].append(running)
    table = np.zeros((lengths.size, len(CALIBRATION_ALPHAS)))
    for src in sources:
        table = np.maximum(table, np.quantile(np.concatenate(maxima[src]), quantile_levels, axis=0).T)
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
        "bootstrap": bool(use_bootstrap),
        "bootstrap_block": int(block) if use_bootstrap else None,
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

    # Standard error of the fitted level: the in-sample mean of AR(1) noise.
    level_se = std * math.sqrt(_ar1_mean_variance_factor(rho, n) / n)

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
        "level_se": level_se,
        "interval_seconds": interval,
        "cusum": _calibrate(rho, innovations, int(n_simulations),
                            level_se / sigma_u if sigma_u > 0 else 0.0),
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
    one of their jump points.
    """
    m = quantiles.size
    probs = np.arange(m) / (m - 1)
    points = np.concatenate([quantiles, cur_sorted])
    k = np.searchsorted(quantiles, points, side="right") - 1
    g = np.where(k >= 0, probs[np.clip(k, 0, m - 1)], 0.0)
    f = np.searchsorted(cur_sorted, points, side="right") / cur_sorted.size
    return float(np.max(np.abs(g - f)))


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
    empty = {"psi": None, "ks_statistic": None, "ks_pvalue": None, "wasserstein": None,
             "out_of_range_share": None, "drifted": False, "level": "none", "n": n_cur}
    if n_cur == 0 or not ref.get("n"):
        return empty
    edges = np.asarray(ref["psi_edges"], dtype=float)
    psi = _psi(np.asarray(ref["psi_reference"], dtype=float), _bin_shares(x, edges))

    quantiles = np.asarray(ref["quantiles"], dtype=float)
    cur = np.sort(x)
    ks = _ks_sketch(quantiles, cur)
    n_ref = int(ref["n"])
    en = n_ref * n_cur / (n_ref + n_cur)
    ks_p = float(special.kolmogorov(ks * math.sqrt(en)))

    w1 = _wasserstein_sketch(quantiles, cur)
    scale = ref["std"] if ref["std"] > 0 else max(abs(ref["mean"]), 1.0)
    w_norm = w1 / scale

    out = float(np.mean((x < ref["min"]) | (x > ref["max"])))

    enough = n_cur >= th.min_rows
    drifted = enough and (psi >= th.psi_warning or w_norm >= th.wasserstein) and ks_p < th.ks_alpha
    level = ("critical" if psi > th.psi_critical else "warning") if drifted else "none"
    return {"psi": psi, "ks_statistic": ks, "ks_pvalue": ks_p, "wasserstein": w_norm,
            "out_of_range_share": out, "drifted": bool(drifted), "level": level, "n": n_cur}


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


def concept_drift(
    reference: dict[str, Any],
    residuals: np.ndarray,
    actual: np.ndarray,
    n_params: int,
    thresholds: DriftThresholds | None = None,
) -> dict[str, Any]:
    """Residual-based drift of the current window (``residuals = actual - predicted``).

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
    ratio = rmse / ref_rmse
    out["error_ratio"] = ratio
    # The holdout RMSE of an autocorrelated holdout is itself uncertain; the
    # test uses the larger of the in-sample and holdout scales so that a
    # holdout that happened to be quiet does not make every later week "worse".
    # The training scale has its own sampling error: F rather than chi-square.
    nu = n * (1 - rho * rho) / (1 + rho * rho)
    nu_ref = int(res["n"]) * (1 - rho * rho) / (1 + rho * rho)
    test_scale = max(ref_rmse, float(res["rmse"]))
    er_p = float(special.fdtrc(nu, nu_ref, (rmse / test_scale) ** 2))
    out["error_ratio_pvalue"] = er_p

    # Window mean against a baseline level that is itself estimated.
    level_se = float(res.get("level_se") or 0.0) * inflation
    se = math.sqrt(sigma * sigma * _ar1_mean_variance_factor(rho, n) / n + level_se * level_se)
    z_mean = float(ev.mean()) / se
    out["mean_shift_z"] = z_mean
    out["mean_shift_pvalue"] = float(special.erfc(abs(z_mean) / math.sqrt(2.0)))

    z, prev_ok, restart = _whiten(e, rho, sigma_u)
    level_sig = _signature(np.ones(e.size), rho, prev_ok, restart)
    predicted = np.where(ok, y - e, 0.0)
    scale = float(predicted[ok].mean())
    proportional_sig = None
    if scale > 0 and float(predicted[ok].std()) > 1e-9 * scale:
        proportional_sig = _signature(predicted / scale, rho, prev_ok, restart)
    stat, a1, a2 = _step_scan(z, level_sig, proportional_sig)
    tau = int(np.argmax(stat))
    g = float(stat[tau])
    h = _threshold(res["cusum"], n, th.cusum_false_alarm)
    out["cusum_statistic"] = g
    out["cusum_threshold"] = h

    enough = n >= th.min_rows
    alarm = enough and g >= h
    if alarm:
        after = ok.copy()
        after[:tau] = False
        g_after = float(predicted[after].mean()) / scale if proportional_sig is not None else 1.0
        shift = sigma_u * (float(a1[tau]) + float(a2[tau]) * g_after)
        after_mean = float(y[after].mean())
        path = _step_path(z, level_sig, proportional_sig, tau)
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
    return 1.0 / 3.0 + (1.0 - math.exp(1.0 - r)) / 3.0


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
    concept = concept_drift(reference, residuals, actual, n_params, th)
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

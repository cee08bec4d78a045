"""Concept drift: change detection on the residuals of the current window, and its calibration.

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
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from ._json import _as_float_array, _clean
from .thresholds import DriftThresholds, _concept_ratios, _level

RHO_MAX = 0.99
CALIBRATION_LENGTHS = (24, 48, 96, 168, 336)
CALIBRATION_ALPHAS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
CALIBRATION_SEED = 20240611
MIN_TAIL_FIT_INNOVATIONS = 240
MIN_T_DF = 4.5


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

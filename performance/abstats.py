"""Statistics for A/B tests of two versions of a machine's energy-baseline model.

Both versions A (champion) and B (challenger) predict every hourly reading of
the test window, so the comparison is paired on the loss differential

    d_t = L(e_A,t) - L(e_B,t)

with L the absolute error by default (squared error optional, see
:func:`pointwise_loss`).  A positive mean of ``d`` means B is better.

Method
------
Hourly errors of energy models are strongly autocorrelated, and so is ``d``.
An i.i.d. paired t-test treats 336 hourly points (14 days) as 336
independent observations and declares a winner in 11-59 % of A/A tests at a
nominal 5 %.

The default method, ``"dm_ewc_arp"``, is a Diebold-Mariano test whose
variance of mean(d) is an autocorrelation-robust estimate built so that the
reference distribution stays honest in short, persistent samples, whatever
the shape of the persistence:

1. AR(p) prewhitening (Andrews & Monahan 1992) with the order chosen by the
   data: Yule-Walker fits of orders 0..4 (at most one coefficient per ten
   readings, :func:`ar_order_cap`) to ``x = d - mean(d)``, the order that
   minimises BIC, ``u_t = x_t - sum_j a_j x_{t-j}``.  The coefficients are
   scaled so that their sum ``S`` stays in [-0.97, 0.97], which keeps the
   recolouring finite on near-unit-root samples.
2. ``Omega_u`` is the equal-weighted cosine (EWC) estimator of Lazarus,
   Lewis, Stock & Watson (2018, "HAR inference: recommendations for
   practice") with ``nu = floor(0.4 n^(2/3))`` cosine terms (19 for 14
   days, 30 for 28 days).  The long-run variance is recoloured as
   ``Omega_u / (1 - S)^2`` and divided by ``1 + 3 v`` with
   ``v = var(S) / (1 - S)^2``, the second-order (delta-method) bias of
   ``1/(1 - S)^2`` at an estimated ``S``; ``var(S) = sigma_u^2 1' Gamma_p^-1 1 / n``.
3. Under fixed-b asymptotics ``mean(d) / se`` is Student-t; its degrees of
   freedom also count the sampling noise of ``S`` (Satterthwaite-style):
   ``1/df = 1/nu + 2 v``, for order 1 ``1/nu + 2 (1 - phi^2) / (n (1 - phi)^2)``.

Why AR(p): errors that are not AR(1), such as ARMA(2,1) with AR roots 0.92
and 0.38 and MA 0.4 (a fast and a slow decay), give ``d`` a lag-1
coefficient near 0.93 whose AR(1) recolouring inflates the long-run
variance 1.6-2.2-fold.  The AR(1)-prewhitened test (``"dm_ewc"``, the default before)
then declares 0.5-0.9 % false winners and finds a 10 % better challenger in
2.5 % of 28-day tests, where 11-12 % is possible at an exact 5 %.  BIC picks
order 3 (at times 2 or 4) on such errors and order 1 on AR(1) errors, where the default is
``dm_ewc`` plus the bias correction of step 2 (0.3-1 point more power, at
most 0.5 point more false winners).  EWC on the raw differential with its
t(nu) reference (``"dm_ewc_raw"``) has the power but declares 7.5-8.4 %
false winners on ARMA(2,1) and 6.4-6.6 % on AR(1) errors at rho 0.9.

Alternatives kept for comparison (``method=``): ``"dm_ewc"``,
``"dm_ewc_raw"``; ``"daily_dm_ewc"``, the default test on daily means of
complete days; ``"batch_means"``, a t-test on daily means (``n_days - 1``
df); ``"dm_newey_west"``, the textbook test (Newey-West 1994 bandwidth
``floor(4 (n/100)^(2/9))``, far too small for hourly energy errors,
Harvey-Leybourne-Newbold correction, t(n-1)); ``"naive_t"``, the i.i.d. test.

Simulation evidence (``bench/quality.py``: 10,000 A/A and 10,000 challenger
tests per cell, the error processes of :mod:`performance.absim` with errors
shared 50 % between A and B, absolute loss, nominal 5 %; error bar +-0.4
points on false winners, +-0.5-1.0 on power).  False winners in A/A tests, %:

=================  ====  ====  ====  ====  =====  =====  ====  =====
process            days  arp   ar1   raw   daily  batch  nw    naive
=================  ====  ====  ====  ====  =====  =====  ====  =====
AR(1) rho 0.5      14    5.2   5.0   5.3   5.1    5.1    6.5   12.1
AR(1) rho 0.5      28    5.0   4.9   5.0   4.9    5.2    6.2   11.3
AR(1) rho 0.8      14    4.5   4.2   5.4   5.2    5.6    11.2  33.4
AR(1) rho 0.8      28    4.8   4.7   5.2   4.8    5.9    10.1  33.7
AR(1) rho 0.9      14    4.7   4.2   6.6   4.9    6.8    19.0  50.6
AR(1) rho 0.9      28    5.0   4.6   6.4   4.9    7.6    17.4  51.0
ARMA(2,1)          14    4.8   0.5   8.4   4.8    8.0    24.3  58.8
ARMA(2,1)          28    4.6   0.9   7.5   5.1    8.7    21.5  58.9
day-level bias     14    12.9  12.1  15.0  4.7    12.9   28.5  55.2
day-level bias     28    13.7  13.4  15.1  4.6    14.8   28.3  56.7
daily amplitude    14    4.8   4.5   5.6   5.0    5.1    14.1  40.8
daily amplitude    28    5.3   5.1   5.9   5.2    5.8    12.6  40.5
daytime errors x2  14    5.4   5.0   6.1   4.9    5.7    11.3  32.9
daytime errors x2  28    5.0   4.8   5.4   5.0    5.4    10.1  32.8
=================  ====  ====  ====  ====  =====  =====  ====  =====

(arp = ``dm_ewc_arp``, ar1 = ``dm_ewc``, raw = ``dm_ewc_raw``, daily =
``daily_dm_ewc``, nw = ``dm_newey_west``.)  Power over 28 days with a
challenger 10 % better in MAE, raw (size-adjusted to an exact 5 %), %:

=================  ===========  ===========  ===========  ===========
process            arp          ar1          raw          daily
=================  ===========  ===========  ===========  ===========
AR(1) rho 0.5      60.2 (60.4)  59.9 (60.4)  60.5 (60.5)  34.6 (35.7)
AR(1) rho 0.8      27.9 (28.3)  27.3 (28.4)  29.1 (28.5)  17.0 (17.5)
AR(1) rho 0.9      15.8 (16.0)  15.1 (16.0)  18.9 (16.0)  10.5 (10.7)
ARMA(2,1)          10.9 (11.2)   2.5 (10.6)  15.6 (12.0)   8.1 ( 8.0)
daily amplitude    22.0 (21.2)  21.4 (21.2)  23.5 (21.1)  13.8 (13.6)
daytime errors x2  25.8 (25.7)  25.3 (25.7)  27.0 (25.8)  16.1 (16.0)
=================  ===========  ===========  ===========  ===========

At equal false-winner rates the default is as powerful as every other
method; raw EWC and batch means look more powerful only by their excess
false winners.  With squared loss the default declares 3.6-5.0 % false
winners outside the day-level-bias cells.  More cosine terms
(``0.6 n^(2/3)``) add about a point of power but 1.5 points of false
winners where errors persist over days, so the published rule is kept; a
moving-block bootstrap of the mean (blocks of 12-48 hours) declared 6-13 %
false winners on AR(1) errors.

Limitation: a day-level bias carried from day to day (AR 0.8 at daily scale,
30 % of the error variance) is persistence below the lowest frequency that
14 or 28 days of hourly data resolve: the default, ``dm_ewc``, raw EWC and
batch means declare 12-15 % false winners.  ``daily_dm_ewc`` keeps 5 % there
but has 50-75 % of the default's power elsewhere, so it is not the default.
Nor does a choice between the two by the data restore the 5 %
(``bench/quality.py --pretest``, same cells and simulations).  The choice
takes the daily test when the variance of the ``k`` complete days' means,
divided by the variance that the default's hourly AR(p) fit implies for it
(the expected sample variance of ``k`` day means under that model), exceeds
``1 + c sqrt(2 / (k - 1))``.  In the differential of absolute errors the
bias leaves a faint trace (daily means correlated about 0.2 from one day to
the next, against 0.8 in the errors): the ratio has a median of 1.3 on
day-level bias against 1.0-1.2 on the other processes, and is no larger in
the A/A tests the hourly test gets wrong.  Over 14 / 28 days the combined
procedure, pre-test included, declares 11.8 / 11.7 % false winners at
``c = 2`` (where it loses at most 0.7 point of power elsewhere), 8.9 / 8.1 %
at ``c = 1`` (3.9 points lost at AR(1) 0.5, beyond the error bar in 10 of
the 12 other cells) and still 5.8 / 5.3 % at ``c = 0``, where it takes the
daily test in 49-81 % of the tests of every process and loses up to 13.6
points.  No threshold keeps both the size and the power, so the choice is
not offered as a method.

Confidence
----------
``confidence`` (stored with each test and shown by the API) is ``1 - p`` of
the paired test: the complement of its two-sided p-value.  0.97 says that a
difference at least as large would turn up in 3 % of tests between equally
good versions; it is not the probability that the winner is better.

Peeking
-------
Interim looks recompute every statistic but return the decision
``"running"`` (``final=False`` or :func:`interim`).  A winner is declared only
at the planned end, or later once ``min_samples`` readings are available;
acting on interim p-values would inflate the false-winner rate.

All results are JSON-serialisable: plain ``float``/``int``/``str``/``None``,
never NaN or infinity.  This module must stay free of Django imports.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
from scipy import stats

from baselines.engine.hac import ewc_terms, ewc_variance

from .hac import (
    PHI_BOUND,
    ar_order_cap,
    ar_prewhitened_variance,
    autocovariances,
    dm_statistic,
    newey_west_bandwidth,
    newey_west_variance,
    yule_walker,
)

__all__ = [
    "DECISIONS",
    "DEFAULT_METHOD",
    "METHODS",
    "ar_order_cap",
    "assign_arms",
    "autocovariances",
    "batch_means_test",
    "dm_statistic",
    "interim",
    "naive_t_test",
    "newey_west_bandwidth",
    "newey_west_variance",
    "p_values",
    "paired_test",
    "pointwise_loss",
    "yule_walker",
]

METHODS: tuple[str, ...] = (
    "dm_ewc_arp", "dm_ewc", "dm_ewc_raw", "daily_dm_ewc", "batch_means", "dm_newey_west", "naive_t"
)
DEFAULT_METHOD = "dm_ewc_arp"
DECISIONS: tuple[str, ...] = ("a_wins", "b_wins", "inconclusive", "running")


_U64 = np.uint64
_TWO_POW_MINUS_53 = float(2**-53)


# --------------------------------------------------------------------------- arms


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x + _U64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _test_seed(test_id: str) -> np.uint64:
    digest = hashlib.sha256(test_id.encode("utf-8")).digest()
    return _U64(int.from_bytes(digest[:8], "big"))


def assign_arms(test_id: str, timestamps_epoch_s: np.ndarray, split: float) -> np.ndarray:
    """Deterministically assign each reading to arm A (False) or arm B (True).

    ``split`` is the traffic split: the share of readings whose served
    prediction comes from model B (0 = all A, 1 = all B).  A reading's arm
    depends only on ``(test_id, timestamp)``: a 64-bit key derived from
    SHA-256 of the test id is mixed with the integer epoch seconds by two
    rounds of the splitmix64 finaliser and mapped to a uniform number in
    [0, 1); the reading goes to B when that number is below ``split``.  The
    result is identical across processes, platforms and Python hash seeds,
    so an arm assignment can always be recomputed from the stored readings.

    Both models still predict every reading; the arm only says which
    prediction was served.  The paired statistics use all readings.
    """
    if not isinstance(test_id, str):
        raise TypeError("test_id must be a string")
    split = float(split)
    if not 0.0 <= split <= 1.0:
        raise ValueError("split must lie in [0, 1]")
    ts = np.asarray(timestamps_epoch_s)
    if ts.size and not np.issubdtype(ts.dtype, np.integer):
        raise TypeError("timestamps_epoch_s must be integer epoch seconds")
    # Two's-complement view keeps pre-1970 timestamps deterministic too.
    keys = ts.astype(np.int64, copy=False).view(np.uint64)
    with np.errstate(over="ignore"):
        hashed = _splitmix64(_splitmix64(keys) ^ _test_seed(test_id))
    uniform = (hashed >> _U64(11)).astype(np.float64) * _TWO_POW_MINUS_53
    return uniform < split


# ---------------------------------------------------------------------- losses


def pointwise_loss(errors: np.ndarray, loss: str = "absolute") -> np.ndarray:
    """Per-reading loss of prediction errors: ``"absolute"`` |e| or ``"squared"`` e^2."""
    e = np.asarray(errors, dtype=np.float64)
    if loss == "absolute":
        return np.abs(e)
    if loss == "squared":
        return e * e
    raise ValueError("loss must be 'absolute' or 'squared'")


# ---------------------------------------------------------------- core (vectorised)


def _core(
    d: np.ndarray, method: str, period: int, bandwidth: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error, reference degrees of freedom and AR order (-1: none) along the last axis."""
    n = d.shape[-1]
    none = np.full(d.shape[:-1], -1)
    if method == "naive_t":
        mean = d.mean(axis=-1)
        se = d.std(axis=-1, ddof=1) / math.sqrt(n)
        return mean, se, np.full(mean.shape, float(n - 1)), none
    if method in ("batch_means", "daily_dm_ewc"):
        k = n // period
        # Only complete periods enter; a trailing partial day would be a batch of another size.
        batches = d[..., : k * period].reshape(*d.shape[:-1], k, period).mean(axis=-1)
        if method == "daily_dm_ewc":
            return _core(batches, "dm_ewc_arp", 1, None)
        mean = batches.mean(axis=-1)
        se = batches.std(axis=-1, ddof=1) / math.sqrt(k)
        return mean, se, np.full(mean.shape, float(k - 1)), none
    if method == "dm_newey_west":
        bw = newey_west_bandwidth(n) if bandwidth is None else int(bandwidth)
        lrv = np.asarray(newey_west_variance(d, bw))
        se = np.sqrt(np.maximum(lrv, 0.0) / (n - 1))
        return d.mean(axis=-1), se, np.full(se.shape, float(n - 1)), none
    mean = d.mean(axis=-1)
    x = d - mean[..., None]
    nu = ewc_terms(n)
    if method == "dm_ewc_arp":
        lrv, inv_df, order = ar_prewhitened_variance(x.reshape(-1, n), nu)
        shape = mean.shape
        return mean, np.sqrt(lrv.reshape(shape) / n), 1.0 / inv_df.reshape(shape), order.reshape(shape)
    if method == "dm_ewc_raw":
        return mean, np.sqrt(ewc_variance(x, nu) / n), np.full(mean.shape, float(nu)), none
    if method == "dm_ewc":
        ss = np.einsum("...t,...t->...", x, x)
        with np.errstate(invalid="ignore", divide="ignore"):
            phi = np.einsum("...t,...t->...", x[..., 1:], x[..., :-1]) / ss
        phi = np.clip(np.nan_to_num(phi), -PHI_BOUND, PHI_BOUND)
        u = x[..., 1:] - phi[..., None] * x[..., :-1]
        lrv = ewc_variance(u, nu) / (1.0 - phi) ** 2
        se = np.sqrt(lrv / n)
        inv_df = 1.0 / nu + 2.0 * (1.0 - phi * phi) / (n * (1.0 - phi) ** 2)
        return mean, se, 1.0 / inv_df, np.ones(mean.shape, dtype=int)
    raise ValueError(f"method must be one of {METHODS}")


def _check_method(method: str, period: int) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if int(period) < 1:
        raise ValueError("period must be a positive number of readings")


def _min_points(method: str, period: int) -> int:
    return {"batch_means": 2 * int(period), "daily_dm_ewc": 3 * int(period)}.get(method, 3)


def p_values(
    loss_a: np.ndarray,
    loss_b: np.ndarray,
    *,
    method: str = DEFAULT_METHOD,
    period: int = 24,
    bandwidth: int | None = None,
) -> np.ndarray:
    """Two-sided p-values of many paired tests at once (rows along the last axis).

    Meant for simulation studies: inputs must be finite and of equal shape
    ``(..., n)``; each row is one test of the same length.  Rows with a zero
    standard error give NaN.  :func:`paired_test` runs the same computation on
    one series and adds the decision logic.
    """
    _check_method(method, period)
    d = np.asarray(loss_a, dtype=np.float64) - np.asarray(loss_b, dtype=np.float64)
    if d.ndim == 0 or d.shape[-1] < _min_points(method, period):
        raise ValueError("too few readings for this method")
    mean, se, df, _ = _core(d, method, int(period), bandwidth)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = mean / se
    return np.where(se > 0, 2.0 * stats.t.sf(np.abs(stat), df), np.nan)


# ---------------------------------------------------------------- single test


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _result(
    *,
    n: int,
    method: str,
    decision: str,
    reason: str | None,
    mean: float | None = None,
    statistic: float | None = None,
    p_value: float | None = None,
    ci: tuple[float, float] | None = None,
    df: float | None = None,
    ar_order: float | None = None,
) -> dict[str, Any]:
    p = _finite_or_none(p_value)
    return {
        "n": int(n),
        "mean_loss_difference": _finite_or_none(mean),
        "statistic": _finite_or_none(statistic),
        "p_value": p,
        "ci_low": _finite_or_none(ci[0]) if ci else None,
        "ci_high": _finite_or_none(ci[1]) if ci else None,
        "confidence": None if p is None else 1.0 - p,
        "df": _finite_or_none(df),
        "ar_order": None if ar_order is None or ar_order < 0 else int(ar_order),
        "decision": decision,
        "reason": reason,
        "method": method,
    }


def paired_test(
    loss_a: np.ndarray,
    loss_b: np.ndarray,
    *,
    alpha: float = 0.05,
    min_samples: int = 48,
    method: str = DEFAULT_METHOD,
    period: int = 24,
    final: bool = True,
    bandwidth: int | None = None,
) -> dict[str, Any]:
    """Paired test of equal expected loss of models A and B.

    ``loss_a`` and ``loss_b`` are per-reading losses of the two versions on
    the same readings, in time order (see :func:`pointwise_loss`).  Rows with
    a non-finite value in either array are dropped.  ``period`` (readings per
    day) matters for ``"batch_means"`` and ``"daily_dm_ewc"`` only, ``bandwidth`` for
    ``"dm_newey_west"`` only (default: Newey-West rule of thumb).

    Returns a JSON-serialisable dict:

    * ``n``: readings used; ``mean_loss_difference``: mean of ``a - b``
      (positive: B has the lower loss);
    * ``statistic``: t ratio; ``p_value``: two-sided; ``ci_low``/``ci_high``:
      ``1 - alpha`` confidence interval of the mean difference;
    * ``confidence``: ``1 - p_value``, the complement of the paired test's
      two-sided p-value.  It is not the probability that the winner is
      better: 0.97 says a difference at least this large would arise in 3 %
      of tests between equally good versions;
    * ``df``: degrees of freedom of the Student-t reference; ``ar_order``:
      order of the autoregressive prewhitening (``None`` when the method
      does not prewhiten);
    * ``decision``: ``"b_wins"`` or ``"a_wins"`` when ``p_value < alpha``,
      else ``"inconclusive"``; ``"running"`` whenever ``final`` is false
      (interim look: statistics are reported, no winner is declared);
    * ``reason``: why no winner was declared (``None`` when one was);
    * ``method``: the method used.

    Statistics are ``None`` when they cannot be computed (too few readings,
    zero variance).
    """
    _check_method(method, period)
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie in (0, 1)")
    a = np.asarray(loss_a, dtype=np.float64)
    b = np.asarray(loss_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError("loss_a and loss_b must be 1-D arrays of equal length")
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = int(d.size)
    running = "interim look: the winner is decided at the planned end of the test"

    def undecided(reason: str, **kw: Any) -> dict[str, Any]:
        decision = "running" if not final else "inconclusive"
        if not final:
            reason = f"{running}; {reason}"
        return _result(n=n, method=method, decision=decision, reason=reason, **kw)

    needed = max(int(min_samples), _min_points(method, period))
    mean = float(d.mean()) if n else None
    if n < needed:
        return undecided(f"{n} paired readings, at least {needed} needed", mean=mean)
    # Rounding noise of a constant gap (e.g. losses offset by a fixed amount) is no evidence either way.
    scale = max(float(np.max(np.abs(a[keep]))), float(np.max(np.abs(b[keep]))))
    if float(np.ptp(d)) <= 1e-12 * scale:
        return undecided("the loss differential has zero variance (identical losses)", mean=mean)

    m, se, df, order = (float(v) for v in _core(d, method, int(period), bandwidth))
    if not (math.isfinite(se) and se > 0.0):
        return undecided("the variance of the mean loss difference is not positive", mean=m)
    statistic = m / se
    p = float(2.0 * stats.t.sf(abs(statistic), df))
    half = float(stats.t.ppf(1.0 - alpha / 2.0, df)) * se
    common = dict(mean=m, statistic=statistic, p_value=p, ci=(m - half, m + half), df=df, ar_order=order)
    if not final:
        return _result(n=n, method=method, decision="running", reason=running, **common)
    if p < alpha and m != 0.0:
        decision = "b_wins" if m > 0 else "a_wins"
        return _result(n=n, method=method, decision=decision, reason=None, **common)
    reason = f"no significant difference in loss at alpha={alpha:g} (p={p:.3g})"
    return _result(n=n, method=method, decision="inconclusive", reason=reason, **common)


def interim(loss_a: np.ndarray, loss_b: np.ndarray, **kwargs: Any) -> dict[str, Any]:
    """Interim look while the test runs: :func:`paired_test` with ``final=False``."""
    kwargs["final"] = False
    return paired_test(loss_a, loss_b, **kwargs)


def naive_t_test(
    loss_a: np.ndarray,
    loss_b: np.ndarray,
    alpha: float = 0.05,
    *,
    min_samples: int = 48,
    final: bool = True,
) -> dict[str, Any]:
    """i.i.d. paired t-test on the loss differential; over-confident on autocorrelated errors."""
    return paired_test(loss_a, loss_b, alpha=alpha, min_samples=min_samples, method="naive_t", final=final)


def batch_means_test(
    loss_a: np.ndarray,
    loss_b: np.ndarray,
    period: int = 24,
    alpha: float = 0.05,
    *,
    min_samples: int = 48,
    final: bool = True,
) -> dict[str, Any]:
    """Paired t-test on means over consecutive blocks of ``period`` readings (days for hourly data)."""
    return paired_test(
        loss_a, loss_b, alpha=alpha, min_samples=min_samples, method="batch_means", period=period, final=final
    )

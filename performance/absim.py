"""Simulated hourly prediction errors of two model versions, for studies of the A/B tests.

The A/B statistics (:mod:`performance.abstats`) are judged on how often they
declare a winner between two equally good versions (A/A tests) and how often
they find a better one.  Those rates depend on the error process, so the
simulations cover the processes that hourly energy-baseline residuals show:

``float`` rho
    stationary Gaussian AR(1) with lag-1 autocorrelation ``rho``.
``"arma21"``
    ARMA(2,1) with AR roots 0.92 and 0.38 and MA coefficient 0.4
    (``(1 - 0.92 L)(1 - 0.38 L) e_t = (1 + 0.4 L) z_t``): a fast and a slow
    decay, the shape of errors whose persistence is not AR(1).
``"day_bias"``
    hourly AR(1) (rho 0.8, 70 % of the variance) plus a day-level bias held
    for the whole day and carried to the next with AR coefficient 0.8 at
    daily scale (30 % of the variance): a day the model misses (occupancy,
    production mix, weather it does not see) is followed by similar days.
``"amplitude"``
    hourly AR(1) (rho 0.8, 70 %) plus a day-to-day amplitude of the
    occupied-hours profile (30 %): every day a new, independent multiple of
    a profile that is 1 from 07:00 to 19:00 and 0 otherwise.
``"daytime_x2"``
    hourly AR(1) (rho 0.8) whose standard deviation is twice as large from
    07:00 to 19:00 as at night.

Every process has unit variance on average over the day before scaling by
``sigma``; series start at midnight.  This module must stay free of Django
imports.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

__all__ = ["HOURS_PER_DAY", "PROCESSES", "process_label", "simulate_errors", "unit_process"]

HOURS_PER_DAY = 24
PROCESSES: tuple[str, ...] = ("arma21", "day_bias", "amplitude", "daytime_x2")

ARMA21_AR = (1.0, -(0.92 + 0.38), 0.92 * 0.38)
ARMA21_MA = (1.0, 0.4)
BASE_RHO = 0.8
DAY_SHARE = 0.3
DAY_RHO = 0.8
OCCUPIED_HOURS = (7, 19)
_BURN_IN = 600  # 0.92 ** 600 < 1e-21: the ARMA(2,1) start-up is forgotten
_LABELS = {
    "arma21": "ARMA(2,1)",
    "day_bias": "day-level bias",
    "amplitude": "daily amplitude",
    "daytime_x2": "daytime ×2",
}


def process_label(process: float | str) -> str:
    """Short human name of a process, e.g. ``"AR(1) ρ=0.8"`` or ``"ARMA(2,1)"``."""
    if isinstance(process, str):
        return _LABELS[process]
    return f"AR(1) ρ={float(process):g}"


def _ar1(shape: tuple[int, ...], rho: float, rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal(shape)
    innovation_sd = math.sqrt(1.0 - rho * rho)
    # The first draw scaled by 1/innovation_sd starts each series in its stationary distribution.
    z[..., 0] /= innovation_sd
    return signal.lfilter([innovation_sd], [1.0, -rho], z, axis=-1)


def _arma21(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal((*shape[:-1], shape[-1] + _BURN_IN))
    impulse = np.zeros(4000)
    impulse[0] = 1.0
    weights = signal.lfilter(ARMA21_MA, ARMA21_AR, impulse)
    sd = math.sqrt(float(weights @ weights))
    return signal.lfilter(ARMA21_MA, ARMA21_AR, z, axis=-1)[..., _BURN_IN:] / sd


def _occupied(n: int) -> np.ndarray:
    hour = np.arange(n) % HOURS_PER_DAY
    return (hour >= OCCUPIED_HOURS[0]) & (hour < OCCUPIED_HOURS[1])


def _per_day(values: np.ndarray, n: int) -> np.ndarray:
    """Hold each day's value for its 24 hours; ``values`` has one entry per (started) day."""
    return np.repeat(values, HOURS_PER_DAY, axis=-1)[..., :n]


def unit_process(process: float | str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Independent series of one error process along the last axis, unit variance on average."""
    n = shape[-1]
    days = -(-n // HOURS_PER_DAY)
    if not isinstance(process, str):
        rho = float(process)
        if not -1.0 < rho < 1.0:
            raise ValueError("rho must lie in (-1, 1)")
        return _ar1(shape, rho, rng)
    if process == "arma21":
        return _arma21(shape, rng)
    if process == "day_bias":
        bias = _per_day(_ar1((*shape[:-1], days), DAY_RHO, rng), n)
        return math.sqrt(1.0 - DAY_SHARE) * _ar1(shape, BASE_RHO, rng) + math.sqrt(DAY_SHARE) * bias
    if process == "amplitude":
        occupied = _occupied(HOURS_PER_DAY)
        # Scaled so that the amplitude term carries DAY_SHARE of the variance averaged over a day.
        profile = _occupied(n) / math.sqrt(occupied.mean())
        amplitude = _per_day(rng.standard_normal((*shape[:-1], days)), n) * profile
        return math.sqrt(1.0 - DAY_SHARE) * _ar1(shape, BASE_RHO, rng) + math.sqrt(DAY_SHARE) * amplitude
    if process == "daytime_x2":
        sd = np.where(_occupied(HOURS_PER_DAY), 2.0, 1.0)
        sd = sd / math.sqrt(np.mean(sd * sd))
        return _ar1(shape, BASE_RHO, rng) * np.resize(sd, n)
    raise ValueError(f"process must be an AR(1) coefficient or one of {PROCESSES}")


def simulate_errors(
    n_hours: int,
    process: float | str,
    sigma: float,
    rng: np.random.Generator,
    *,
    scale_b: float = 1.0,
    shared: float = 0.5,
    n_sims: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate hourly prediction errors of two versions of one model.

    Each error series is ``sqrt(shared) * c_t + sqrt(1 - shared) * u_t`` with
    ``c`` a component common to both versions (weather or load the two
    versions miss alike) and ``u`` version-specific; all three components are
    independent draws of ``process`` (an AR(1) coefficient or a name from
    :data:`PROCESSES`) with unit variance, so A's errors have standard
    deviation ``sigma`` and the A-B error correlation is ``shared``.  B's
    errors are scaled by ``scale_b``, so its expected MAE (and RMSE) is
    ``scale_b`` times A's: ``scale_b = 0.9`` is a challenger 10 % better.

    Returns ``(e_a, e_b)`` of shape ``(n_hours,)``, or ``(n_sims, n_hours)``
    when ``n_sims`` is given (rows are independent simulations).
    """
    n_hours = int(n_hours)
    if n_hours < 1:
        raise ValueError("n_hours must be at least 1")
    if sigma < 0:
        raise ValueError("sigma must be non-negative")
    if not 0.0 <= shared <= 1.0:
        raise ValueError("shared must lie in [0, 1]")
    shape = (3, 1 if n_sims is None else int(n_sims), n_hours)
    common, own_a, own_b = unit_process(process, shape, rng)
    w_shared, w_own = math.sqrt(shared), math.sqrt(1.0 - shared)
    e_a = sigma * (w_shared * common + w_own * own_a)
    e_b = sigma * scale_b * (w_shared * common + w_own * own_b)
    if n_sims is None:
        return e_a[0], e_b[0]
    return e_a, e_b

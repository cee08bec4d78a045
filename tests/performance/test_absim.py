"""The simulated error processes behind the A/B evidence have the structure their names promise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from performance import absim
from performance.absim import process_label, simulate_errors, unit_process


def _corr(x: np.ndarray, i: np.ndarray, j: np.ndarray) -> float:
    """Correlation across simulations of the values at hours ``i`` and ``j`` (pooled over pairs)."""
    a, b = x[:, i].ravel(), x[:, j].ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_ar1_is_the_stationary_ar1_of_earlier_simulations():
    # Same draws and filter as the simulations before the other processes existed, so seeds reproduce.
    rng, again = np.random.default_rng(21), np.random.default_rng(21)
    e_a, e_b = simulate_errors(48, 0.7, 2.0, rng, scale_b=0.9, shared=0.5, n_sims=3)
    z = again.standard_normal((3, 3, 48))
    sd = math.sqrt(1 - 0.49)
    z[..., 0] /= sd
    common, own_a, own_b = signal.lfilter([sd], [1.0, -0.7], z, axis=-1)
    np.testing.assert_allclose(e_a, 2.0 * (math.sqrt(0.5) * common + math.sqrt(0.5) * own_a))
    np.testing.assert_allclose(e_b, 2.0 * 0.9 * (math.sqrt(0.5) * common + math.sqrt(0.5) * own_b))


def test_arma21_has_the_stated_roots_unit_variance_and_its_recursion():
    ar = np.asarray(absim.ARMA21_AR)
    np.testing.assert_allclose(sorted(np.roots(ar)), [0.38, 0.92])
    assert absim.ARMA21_MA == (1.0, 0.4)
    x = unit_process("arma21", (400, 600), np.random.default_rng(22))
    assert abs(x.var() - 1.0) < 0.05
    # Beyond lag 1 the autocorrelations follow the AR part: rho_k = 1.30 rho_(k-1) - 0.3496 rho_(k-2).
    t = np.arange(200, 560)
    rho = [_corr(x, t, t + k) for k in range(4)]
    assert rho[1] > 0.9
    for k in (2, 3):
        assert rho[k] == pytest.approx(1.30 * rho[k - 1] - 0.3496 * rho[k - 2], abs=0.02)


def test_day_level_bias_is_held_within_the_day_and_carried_to_the_next():
    x = unit_process("day_bias", (4000, 24 * 6), np.random.default_rng(23))
    assert abs(x.var() - 1.0) < 0.03
    hours = np.arange(24 * 2, 24 * 4)
    # Same hour on the next day: only the bias links them, 0.3 * 0.8 (+ 0.7 * 0.8^24).
    assert _corr(x, hours, hours + 24) == pytest.approx(0.3 * 0.8 + 0.7 * 0.8**24, abs=0.02)
    assert _corr(x, hours, hours + 48) == pytest.approx(0.3 * 0.64, abs=0.02)
    # 10 hours apart within one day: the whole bias plus what is left of the hourly AR(1).
    morning = np.arange(24 * 2 + 1, 24 * 2 + 12)
    assert _corr(x, morning, morning + 10) == pytest.approx(0.3 + 0.7 * 0.8**10, abs=0.02)


def test_daily_amplitude_lives_in_occupied_hours_and_changes_every_day():
    x = unit_process("amplitude", (4000, 24 * 4), np.random.default_rng(24))
    hour = np.arange(24 * 4) % 24
    occupied = (hour >= 7) & (hour < 19)
    assert x[:, occupied].var() == pytest.approx(0.7 + 0.3 * 2, rel=0.04)
    assert x[:, ~occupied].var() == pytest.approx(0.7, rel=0.04)
    assert abs(x.var() - 1.0) < 0.03
    day1, day2 = 24 + 8, 48 + 8
    assert _corr(x, np.array([day1]), np.array([day1 + 9])) == pytest.approx((0.6 + 0.7 * 0.8**9) / 1.3, abs=0.03)
    assert abs(_corr(x, np.array([day1]), np.array([day2]))) < 0.04


def test_daytime_errors_are_twice_as_large():
    x = unit_process("daytime_x2", (3000, 24 * 3), np.random.default_rng(25))
    hour = np.arange(24 * 3) % 24
    occupied = (hour >= 7) & (hour < 19)
    assert x[:, occupied].std() / x[:, ~occupied].std() == pytest.approx(2.0, rel=0.03)
    assert abs(x.var() - 1.0) < 0.03


@pytest.mark.parametrize("process", [0.5, *absim.PROCESSES])
def test_every_process_shares_errors_and_scales_the_challenger(process):
    e_a, e_b = simulate_errors(24 * 7, process, 3.0, np.random.default_rng(26), scale_b=0.9, n_sims=2000)
    assert e_a.shape == e_b.shape == (2000, 168)
    assert e_a.std() == pytest.approx(3.0, rel=0.04)
    assert np.corrcoef(e_a.ravel(), e_b.ravel())[0, 1] == pytest.approx(0.5, abs=0.02)
    assert np.abs(e_b).mean() / np.abs(e_a).mean() == pytest.approx(0.9, abs=0.02)


def test_labels_and_bad_processes():
    assert process_label(0.8) == "AR(1) ρ=0.8"
    assert process_label("arma21") == "ARMA(2,1)"
    with pytest.raises(ValueError):
        unit_process("weekly", (1, 10), np.random.default_rng(0))
    with pytest.raises(ValueError):
        simulate_errors(10, 1.0, 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError):
        simulate_errors(0, "arma21", 1.0, np.random.default_rng(0))

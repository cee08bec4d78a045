"""Autocorrelation-robust coefficient tests against least squares and on persistent errors."""

import numpy as np
import pytest
from scipy import stats
from scipy.signal import lfilter

from baselines.engine.hac import coefficient_tests, ewc_terms, group_starts


def test_coefficients_are_least_squares_and_iid_errors_give_the_classical_se():
    rng = np.random.default_rng(3)
    n = 2000
    Z = rng.normal(size=(n, 2))
    y = Z @ np.array([0.5, -0.2]) + rng.normal(size=n)
    out = coefficient_tests(Z, y, np.arange(n))
    beta, *_ = np.linalg.lstsq(Z, y, rcond=None)
    assert np.allclose(out["beta"], beta)
    resid = y - Z @ beta
    classical = np.sqrt(np.diag(np.linalg.inv(Z.T @ Z)) * resid.var())
    assert np.allclose(out["se"], classical, rtol=0.25)
    assert out["p"][0] < 1e-6 and out["df"][0] == pytest.approx(ewc_terms(n - 1), rel=0.1)


def test_too_few_days_cannot_keep_a_term():
    out = coefficient_tests(np.arange(48.0)[:, None], np.arange(48.0), np.repeat(np.arange(2), 24))
    assert out["groups"] == 2 and out["p"][0] == 1.0


def test_size_on_hourly_errors_with_day_to_day_persistence():
    # A persistent regressor (weather-like) and errors with hourly AR(1) 0.9 plus a day-level
    # AR(1): the naive t test rejects a true null most of the time, the robust test near its level.
    rng = np.random.default_rng(11)
    days, runs = 150, 150
    n = days * 24
    groups = np.repeat(np.arange(days), 24)
    robust = naive = 0
    for _ in range(runs):
        x = lfilter([1.0], [1.0, -0.97], rng.normal(size=n)) + 3 * np.sin(np.arange(n) / n * np.pi)
        x = x - x.mean()
        u = lfilter([1.0], [1.0, -0.9], rng.normal(size=n)) + np.repeat(
            lfilter([1.0], [1.0, -0.7], rng.normal(size=days)) * 2, 24)
        out = coefficient_tests(x[:, None], u - u.mean(), groups)
        robust += out["p"][0] < 0.10
        beta = (x @ u) / (x @ x)
        se = np.sqrt(np.var(u - beta * x) / (x @ x))
        naive += 2 * stats.norm.sf(abs(beta / se)) < 0.10
    assert robust / runs <= 0.17
    assert naive / runs >= 0.5


def test_group_starts():
    assert group_starts(np.array([3, 3, 4, 4, 4, 9])).tolist() == [0, 2, 5]
    assert group_starts(np.array([])).size == 0

"""Concept drift on synthetic residuals: location, brute-force agreement, autocorrelation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from performance.drift.concept import _signature, _step_path, _step_scan, _variation, concept_drift
from performance.drift.reference import reference_statistics

from .simulation import (
    _ar1,
    _assert_json_clean,
)


def _reference_for_residuals(rho: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return reference_statistics({}, _ar1(rng, 2000, rho, 1.0), holdout_rmse=1.0, n_simulations=2000)


def test_concept_drift_locates_a_step():
    reference = _reference_for_residuals(0.7)
    rng = np.random.default_rng(21)
    e = _ar1(rng, 168, 0.7, 1.0)
    e[100:] += 2.0
    y = 100.0 + e
    result = concept_drift(reference, e, y, n_params=4)
    assert result["drifted"] and result["level"] in ("warning", "critical")
    # Over 100 seeds the error is <= 10 h in 95 % of windows; this one is 9 h.
    assert abs(result["change_point"] - 100) <= 12
    assert result["change_point"] <= result["cusum_alarm_index"] < 168
    assert result["direction"] == "increase"
    assert result["shift_estimate"] == pytest.approx(2.0, rel=0.5)
    assert result["cusum_statistic"] >= result["cusum_threshold"]
    _assert_json_clean(result)

    down = concept_drift(reference, -e, 100.0 - e, n_params=4)
    assert down["drifted"] and down["direction"] == "decrease"


def test_concept_drift_stable_and_metrics():
    reference = _reference_for_residuals(0.7)
    rng = np.random.default_rng(22)
    e = _ar1(rng, 168, 0.7, 1.0)
    y = 50.0 + rng.normal(0, 5, 168)
    result = concept_drift(reference, e, y, n_params=4)
    n, p = 168, 4
    assert result["nmbe"] == pytest.approx(e.sum() / ((n - p) * y.mean()))
    assert result["cv_rmse"] == pytest.approx(math.sqrt(np.sum(e * e) / (n - p)) / y.mean())
    assert result["error_ratio"] == pytest.approx(math.sqrt(np.mean(e * e)) / 1.0)
    assert result["change_point"] is None and result["cusum_alarm_index"] is None


def test_concept_drift_with_gaps_and_short_windows():
    reference = _reference_for_residuals(0.5)
    rng = np.random.default_rng(23)
    e = _ar1(rng, 168, 0.5, 1.0)
    e[60:] += 2.5
    e[[10, 11, 12, 80, 81]] = np.nan
    y = 100.0 + np.nan_to_num(e)
    result = concept_drift(reference, e, y, n_params=4)
    assert result["n"] == 163 and result["drifted"]
    assert abs(result["change_point"] - 60) <= 6
    _assert_json_clean(result)
    short = concept_drift(reference, e[:10], y[:10], n_params=4)
    assert not short["drifted"] and short["level"] == "none"
    empty = concept_drift(reference, np.full(5, np.nan), np.full(5, 100.0), n_params=4)
    assert empty["n"] == 0 and empty["nmbe"] is None
    _assert_json_clean(empty)


def test_step_statistic_equals_brute_force_gls():
    # The O(n) scan must equal the textbook marginal GLS test: z ~ N(S_tau theta,
    # I + N P^-1 N'), LR = u' F^+ u with F = S' V^-1 S and u = S' V^-1 z, here
    # with a gap (a Prais-Winsten restart) in the middle of the window.
    rng = np.random.default_rng(12)
    n, rho = 60, 0.7
    prev_ok = np.ones(n, dtype=bool)
    prev_ok[[0, 30]] = False
    restart = ~prev_ok
    level = _signature(np.ones(n), rho, prev_ok, restart)
    g = np.exp(0.3 * rng.standard_normal(n))
    sigs = [level, _variation(_signature(g, rho, prev_ok, restart), level)]
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    nuisance_cols = np.column_stack([_signature(x[:, j], rho, prev_ok, restart)[1] for j in range(3)])
    precision = np.diag([2.0, 5.0, 0.5])
    z = rng.standard_normal(n)
    stat, theta = _step_scan(z, sigs, (nuisance_cols, precision))
    v_inv = np.linalg.inv(np.eye(n) + nuisance_cols @ np.linalg.inv(precision) @ nuisance_cols.T)
    for tau in (0, 5, 29, 30, 45, 58):
        s_tau = np.zeros((n, 2))
        for i, (c, b) in enumerate(sigs):
            s_tau[tau, i] = c[tau]
            s_tau[tau + 1:, i] = b[tau + 1:]
        f = s_tau.T @ v_inv @ s_tau
        u = s_tau.T @ v_inv @ z
        assert stat[tau] ** 2 == pytest.approx(u @ np.linalg.pinv(f) @ u, rel=1e-9)
        assert theta[tau] == pytest.approx(np.linalg.solve(f, u), rel=1e-7)
        # The sequential path ends where the scan is, and at each t it is the
        # scan of the data up to t.
        path = _step_path(z, sigs, (nuisance_cols, precision), tau)
        assert path[-1] == pytest.approx(stat[tau], rel=1e-9)
        t = min(tau + 5, n - 1)
        truncated, _ = _step_scan(z[:t + 1], [(c[:t + 1], b[:t + 1]) for c, b in sigs],
                                        (nuisance_cols[:t + 1], precision))
        assert path[t - tau] == pytest.approx(truncated[tau], rel=1e-9)
    # Without a nuisance the stacked (calibration) form agrees with the single-window form.
    plain, _ = _step_scan(np.vstack([z, z]), sigs)
    zero = (np.zeros((n, 1)), np.eye(1))
    assert plain[1] == pytest.approx(_step_scan(z, sigs, zero)[0], rel=1e-12)


def test_autocorrelation_is_what_keeps_stable_weeks_quiet():
    # A textbook CUSUM (k = 0.5, h = 5) on residuals standardised by their
    # marginal sd alarms on most stable weeks with rho = 0.9; the calibrated
    # detector alarms on about cusum_false_alarm of them.
    rho = 0.9
    reference = _reference_for_residuals(rho, seed=1)
    rng = np.random.default_rng(24)
    textbook = detector = 0
    weeks = 200
    for _ in range(weeks):
        e = _ar1(rng, 168, rho, 1.0)
        hi = lo = 0.0
        alarmed = False
        for x in e:
            hi, lo = max(0.0, hi + x - 0.5), max(0.0, lo - x - 0.5)
            alarmed |= hi > 5 or lo > 5
        textbook += alarmed
        c = concept_drift(reference, e, 100.0 + e, n_params=1)
        detector += c["cusum_statistic"] >= c["cusum_threshold"]
    assert textbook / weeks > 0.5
    assert detector / weeks <= 0.03

"""Tests of performance.abstats: arm assignment, paired tests and their behaviour on simulated errors.

The simulation tests are seeded and vectorised over simulations; the whole
file runs in well under a minute.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal, stats

from baselines.engine.hac import ewc_terms
from performance import abstats
from performance.absim import simulate_errors
from performance.abstats import (
    ar_order_cap,
    assign_arms,
    autocovariances,
    batch_means_test,
    dm_statistic,
    interim,
    naive_t_test,
    newey_west_variance,
    p_values,
    paired_test,
    pointwise_loss,
    yule_walker,
)

ALPHA = 0.05
RESULT_KEYS = {
    "n",
    "mean_loss_difference",
    "statistic",
    "p_value",
    "ci_low",
    "ci_high",
    "confidence",
    "df",
    "ar_order",
    "decision",
    "reason",
    "method",
}
REPO_ROOT = Path(__file__).resolve().parents[2]


def _json_roundtrip(result: dict) -> dict:
    # allow_nan=False raises on NaN/inf, which JSON cannot carry.
    return json.loads(json.dumps(result, allow_nan=False))


def _simulated_p_values(process, days, scale_b, sims, seed, methods, loss="absolute", chunk=2000):
    """p-values of every method on the same simulated tests, and the mean loss differences.

    ``process`` is an AR(1) coefficient or a process name of performance.absim.
    """
    rng = np.random.default_rng(seed)
    n = 24 * days
    out = {m: [] for m in methods}
    means = []
    for start in range(0, sims, chunk):
        size = min(chunk, sims - start)
        e_a, e_b = simulate_errors(n, process, 1.0, rng, scale_b=scale_b, n_sims=size)
        la, lb = pointwise_loss(e_a, loss), pointwise_loss(e_b, loss)
        for m in methods:
            out[m].append(p_values(la, lb, method=m, period=24))
        means.append((la - lb).mean(axis=-1))
    return {m: np.concatenate(v) for m, v in out.items()}, np.concatenate(means)


# ------------------------------------------------------------------ assign_arms


HOURS_2024 = 1_704_067_200 + 3600 * np.arange(32, dtype=np.int64)


def test_assign_arms_is_deterministic_and_pinned():
    arms = assign_arms("ab-test-42", HOURS_2024, 0.5)
    assert arms.dtype == np.bool_
    assert arms.shape == HOURS_2024.shape
    again = assign_arms("ab-test-42", HOURS_2024.copy(), 0.5)
    np.testing.assert_array_equal(arms, again)
    # Pinned so that a change of the hash (which would reshuffle running tests) cannot go unnoticed.
    assert "".join("B" if x else "A" for x in arms) == "ABBAAABBBBABAABAAABAAABBABABABBB"


def test_assign_arms_same_in_another_process():
    code = (
        "import numpy as np; from performance.abstats import assign_arms;"
        "ts = 1_704_067_200 + 3600 * np.arange(32, dtype=np.int64);"
        "print(''.join('B' if x else 'A' for x in assign_arms('ab-test-42', ts, 0.2)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    local = "".join("B" if x else "A" for x in assign_arms("ab-test-42", HOURS_2024, 0.2))
    assert out == local == "AABAAAABBAABAABAAAAAAAAAAAABABBA"


@pytest.mark.parametrize("split", [0.05, 0.2, 0.5, 0.9])
def test_assign_arms_realised_share_matches_split(split):
    n = 50_000
    ts = 1_700_000_000 + 3600 * np.arange(n, dtype=np.int64)
    share = assign_arms("share-test", ts, split).mean()
    assert abs(share - split) <= 4 * math.sqrt(split * (1 - split) / n)


def test_assign_arms_share_holds_within_each_hour_of_day():
    # A daily pattern in the assignment would confound arm with time of day.
    ts = 1_700_000_000 - 1_700_000_000 % 86400 + 3600 * np.arange(24 * 2000, dtype=np.int64)
    arms = assign_arms("hourly", ts, 0.5).reshape(2000, 24)
    per_hour = arms.mean(axis=0)
    assert np.all(np.abs(per_hour - 0.5) <= 4 * math.sqrt(0.25 / 2000))


def test_assign_arms_edges_nesting_and_elementwise():
    ts = 1_700_000_000 + 3600 * np.arange(5000, dtype=np.int64)
    assert not assign_arms("t", ts, 0.0).any()
    assert assign_arms("t", ts, 1.0).all()
    low, high = assign_arms("t", ts, 0.3), assign_arms("t", ts, 0.6)
    # Raising the split only moves readings from A to B.
    assert np.all(high[low])
    # A reading's arm does not depend on the other readings in the call.
    np.testing.assert_array_equal(assign_arms("t", ts[::7], 0.3), low[::7])
    # Distinct test ids give unrelated assignments.
    other = assign_arms("u", ts, 0.5)
    agreement = np.mean(other == assign_arms("t", ts, 0.5))
    assert abs(agreement - 0.5) < 4 * math.sqrt(0.25 / ts.size)
    assert assign_arms("t", np.array([], dtype=np.int64), 0.5).shape == (0,)
    assert assign_arms("t", np.array([-3600, 0], dtype=np.int64), 1.0).all()


def test_assign_arms_rejects_bad_input():
    with pytest.raises(ValueError):
        assign_arms("t", np.arange(3, dtype=np.int64), 1.5)
    with pytest.raises(TypeError):
        assign_arms("t", np.array([1.5, 2.5]), 0.5)
    with pytest.raises(TypeError):
        assign_arms(42, np.arange(3, dtype=np.int64), 0.5)


# --------------------------------------------------------------- simulate_errors


def test_simulate_errors_has_requested_structure():
    rng = np.random.default_rng(1)
    e_a, e_b = simulate_errors(24 * 28, 0.8, 3.0, rng, scale_b=0.9, shared=0.5, n_sims=400)
    assert e_a.shape == e_b.shape == (400, 672)
    assert abs(e_a.std() - 3.0) < 0.15
    lag1 = np.mean([np.corrcoef(row[1:], row[:-1])[0, 1] for row in e_a[:100]])
    assert abs(lag1 - 0.8) < 0.03
    assert abs(np.corrcoef(e_a.ravel(), e_b.ravel())[0, 1] - 0.5) < 0.02
    assert abs(np.abs(e_b).mean() / np.abs(e_a).mean() - 0.9) < 0.02
    single_a, single_b = simulate_errors(100, 0.5, 1.0, np.random.default_rng(7))
    again_a, again_b = simulate_errors(100, 0.5, 1.0, np.random.default_rng(7))
    assert single_a.shape == (100,)
    np.testing.assert_array_equal(single_a, again_a)
    np.testing.assert_array_equal(single_b, again_b)


# ------------------------------------------------------------- known answers


def test_dm_with_zero_bandwidth_equals_paired_t_on_iid_data():
    rng = np.random.default_rng(3)
    a = rng.gamma(2.0, 1.0, size=200)
    b = rng.gamma(2.0, 1.0, size=200)
    expected = stats.ttest_rel(a, b)
    assert dm_statistic(a - b, 0) == pytest.approx(expected.statistic, abs=1e-9)
    dm = paired_test(a, b, method="dm_newey_west", bandwidth=0)
    assert dm["statistic"] == pytest.approx(expected.statistic, abs=1e-9)
    assert dm["p_value"] == pytest.approx(expected.pvalue, abs=1e-9)
    naive = naive_t_test(a, b)
    assert naive["statistic"] == pytest.approx(expected.statistic, abs=1e-9)
    assert naive["p_value"] == pytest.approx(expected.pvalue, abs=1e-9)
    low, high = expected.confidence_interval(0.95)
    assert naive["ci_low"] == pytest.approx(low, abs=1e-9)
    assert naive["ci_high"] == pytest.approx(high, abs=1e-9)


def test_newey_west_variance_hand_computed():
    # d = 1..4: x = (-1.5, -0.5, 0.5, 1.5), gamma0 = 5/4, gamma1 = 1.25/4, gamma2 = -1.5/4.
    d = np.array([1.0, 2.0, 3.0, 4.0])
    assert newey_west_variance(d, 0) == pytest.approx(1.25, abs=1e-12)
    assert newey_west_variance(d, 1) == pytest.approx(1.25 + 2 * 0.5 * 0.3125, abs=1e-12)
    assert newey_west_variance(d, 2) == pytest.approx(1.25 + 2 * (2 / 3) * 0.3125 - 2 * (1 / 3) * 0.375, abs=1e-12)
    # d = (2, -1, 0, 3, 1): x = (1, -2, -1, 2, 0), gamma0 = 2, gamma1 = -0.4.
    assert newey_west_variance(np.array([2.0, -1.0, 0.0, 3.0, 1.0]), 1) == pytest.approx(1.6, abs=1e-12)
    rows = np.vstack([d, d[::-1] * 2])
    np.testing.assert_allclose(newey_west_variance(rows, 1), [1.5625, 4 * 1.5625])


def test_batch_means_equals_t_test_on_daily_means():
    rng = np.random.default_rng(4)
    e_a, e_b = simulate_errors(24 * 14 + 5, 0.7, 2.0, rng)
    la, lb = np.abs(e_a), np.abs(e_b)
    result = batch_means_test(la, lb)
    days_a = la[: 24 * 14].reshape(14, 24).mean(axis=1)
    days_b = lb[: 24 * 14].reshape(14, 24).mean(axis=1)
    expected = stats.ttest_rel(days_a, days_b)
    assert result["statistic"] == pytest.approx(expected.statistic, abs=1e-9)
    assert result["p_value"] == pytest.approx(expected.pvalue, abs=1e-9)
    assert result["n"] == 24 * 14 + 5


def test_ewc_terms_rule():
    assert ewc_terms(48) == 5
    assert ewc_terms(336) == 19
    assert ewc_terms(672) == 30
    assert ewc_terms(1) == 1


def test_autocovariances_hand_computed():
    # x = (-1.5, -0.5, 0.5, 1.5): gamma0 = 5/4, gamma1 = 1.25/4, gamma2 = -1.5/4.
    np.testing.assert_allclose(autocovariances(np.array([1.0, 2.0, 3.0, 4.0]), 2), [1.25, 0.3125, -0.375])


def test_yule_walker_solves_the_toeplitz_equations():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 400)).cumsum(axis=-1) * 0.1 + rng.standard_normal((3, 400))
    gamma = autocovariances(x, 4)
    coefficients, variances = yule_walker(gamma, 4)
    assert len(coefficients) == 5 and variances.shape == (3, 5)
    np.testing.assert_allclose(variances[:, 0], gamma[:, 0])
    for p in range(1, 5):
        for row in range(3):
            g = gamma[row]
            toeplitz = g[np.abs(np.subtract.outer(np.arange(p), np.arange(p)))]
            expected = np.linalg.solve(toeplitz, g[1 : p + 1])
            np.testing.assert_allclose(coefficients[p][row], expected, rtol=1e-9, atol=1e-12)
            assert variances[row, p] == pytest.approx(g[0] - expected @ g[1 : p + 1], rel=1e-9)
    # A lag-1 fit is the lag-1 autocorrelation.
    np.testing.assert_allclose(coefficients[1][:, 0], gamma[:, 1] / gamma[:, 0])


def test_ar_order_cap():
    assert ar_order_cap(336) == 4
    assert ar_order_cap(28) == 2
    assert ar_order_cap(14) == 1
    assert ar_order_cap(9) == 0


def _ar_series(coefficients, n, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n + 500)
    return signal.lfilter([1.0], [1.0, *(-np.asarray(coefficients))], z)[500:]


def test_prewhitening_order_follows_the_data():
    zeros = np.zeros(2000)
    assert paired_test(rng_white := np.random.default_rng(13).standard_normal(2000), zeros)["ar_order"] == 0
    assert paired_test(_ar_series([0.7], 2000, 14), zeros)["ar_order"] == 1
    # Roots 0.92 and 0.38, as in performance.absim's ARMA(2,1).
    assert paired_test(_ar_series([1.30, -0.3496], 2000, 15), zeros)["ar_order"] == 2
    assert paired_test(rng_white, zeros, method="dm_ewc")["ar_order"] == 1
    assert paired_test(rng_white, zeros, method="dm_ewc_raw")["ar_order"] is None


def test_ar1_rows_match_dm_ewc_up_to_the_bias_correction():
    """Where BIC picks order 1 the default is ``dm_ewc`` with its recolouring bias removed."""
    d = _ar_series([0.8], 24 * 28, 16) + 0.5
    arp = paired_test(d, np.zeros_like(d))
    ar1 = paired_test(d, np.zeros_like(d), method="dm_ewc")
    assert arp["ar_order"] == 1
    assert arp["df"] == pytest.approx(ar1["df"], rel=1e-12)
    n = d.size
    centred = d - d.mean()
    phi = float(centred[1:] @ centred[:-1] / (centred @ centred))
    relative = (1 - phi * phi) / (n * (1 - phi) ** 2)
    assert (arp["statistic"] / ar1["statistic"]) ** 2 == pytest.approx(1 + 3 * relative, rel=1e-9)
    assert 1 / ar1["df"] == pytest.approx(1 / ewc_terms(n) + 2 * relative, rel=1e-9)


def test_near_unit_root_recolouring_stays_bounded():
    walk = np.random.default_rng(17).standard_normal(24 * 14).cumsum()
    result = _json_roundtrip(paired_test(walk, np.zeros_like(walk)))
    assert result["ar_order"] >= 1
    assert result["p_value"] is not None and 0.0 <= result["p_value"] <= 1.0
    assert result["df"] is not None and result["df"] > 1.0


def test_daily_test_runs_on_complete_days():
    la, lb = _clear_b_win(n=24 * 14 + 5)
    result = paired_test(la, lb, method="daily_dm_ewc")
    days_a = la[: 24 * 14].reshape(14, 24).mean(axis=1)
    days_b = lb[: 24 * 14].reshape(14, 24).mean(axis=1)
    on_days = paired_test(days_a, days_b, min_samples=3, period=1)
    assert result["statistic"] == pytest.approx(on_days["statistic"], rel=1e-12)
    assert result["n"] == 24 * 14 + 5
    assert "at least 72" in paired_test(la[:60], lb[:60], method="daily_dm_ewc", min_samples=10)["reason"]


def test_paired_test_agrees_with_vectorised_p_values():
    rng = np.random.default_rng(5)
    e_a, e_b = simulate_errors(24 * 14, 0.8, 1.0, rng, scale_b=0.95, n_sims=5)
    la, lb = np.abs(e_a), np.abs(e_b)
    for method in abstats.METHODS:
        batch = p_values(la, lb, method=method)
        single = [paired_test(la[i], lb[i], method=method)["p_value"] for i in range(5)]
        np.testing.assert_allclose(single, batch, rtol=1e-10)


# ------------------------------------------------------- decisions and edge cases


def _clear_b_win(n=24 * 28, seed=6):
    e_a, e_b = simulate_errors(n, 0.5, 1.0, np.random.default_rng(seed), scale_b=0.6)
    return np.abs(e_a), np.abs(e_b)


def test_result_shape_and_decisions():
    la, lb = _clear_b_win()
    result = _json_roundtrip(paired_test(la, lb))
    assert set(result) == RESULT_KEYS
    assert result["method"] == abstats.DEFAULT_METHOD
    assert result["decision"] == "b_wins"
    assert result["reason"] is None
    assert result["mean_loss_difference"] > 0
    assert result["ci_low"] < result["mean_loss_difference"] < result["ci_high"]
    assert result["ci_low"] > 0
    assert result["confidence"] == pytest.approx(1 - result["p_value"])
    assert 0.0 <= result["confidence"] <= 1.0
    swapped = paired_test(lb, la)
    assert swapped["decision"] == "a_wins"
    assert swapped["mean_loss_difference"] == pytest.approx(-result["mean_loss_difference"])
    assert swapped["p_value"] == pytest.approx(result["p_value"])


def test_equal_models_are_inconclusive_with_reason():
    e_a, e_b = simulate_errors(24 * 28, 0.8, 1.0, np.random.default_rng(8))
    result = paired_test(np.abs(e_a), np.abs(e_b))
    assert result["decision"] == "inconclusive"
    assert "no significant difference" in result["reason"]
    assert result["p_value"] >= ALPHA


def test_identical_losses_are_inconclusive():
    la, _ = _clear_b_win()
    for method in abstats.METHODS:
        result = _json_roundtrip(paired_test(la, la.copy(), method=method))
        assert result["decision"] == "inconclusive"
        assert "zero variance" in result["reason"]
        assert result["mean_loss_difference"] == 0.0
        assert result["statistic"] is None and result["p_value"] is None and result["confidence"] is None
    constant_gap = _json_roundtrip(paired_test(la + 1.0, la))
    assert constant_gap["decision"] == "inconclusive"
    assert constant_gap["mean_loss_difference"] == pytest.approx(1.0)


def test_too_few_samples_are_inconclusive():
    la, lb = _clear_b_win(n=47)
    result = _json_roundtrip(paired_test(la, lb))
    assert result["decision"] == "inconclusive"
    assert "at least 48" in result["reason"]
    assert result["n"] == 47
    assert result["p_value"] is None
    assert paired_test(la, lb, min_samples=24)["p_value"] is not None
    # Batch means needs two complete days whatever min_samples says.
    assert "at least 48" in batch_means_test(la, lb, min_samples=10)["reason"]
    empty = _json_roundtrip(paired_test(np.array([]), np.array([])))
    assert empty["n"] == 0 and empty["mean_loss_difference"] is None


def test_nan_rows_are_dropped():
    la, lb = _clear_b_win()
    dirty_a, dirty_b = la.copy(), lb.copy()
    dirty_a[[3, 50, 400]] = np.nan
    dirty_b[[7, 50]] = np.nan
    dirty_b[9] = np.inf
    keep = np.ones(la.size, dtype=bool)
    keep[[3, 7, 9, 50, 400]] = False
    result = _json_roundtrip(paired_test(dirty_a, dirty_b))
    assert result == _json_roundtrip(paired_test(la[keep], lb[keep]))
    assert result["n"] == la.size - 5
    all_nan = _json_roundtrip(paired_test(np.full(100, np.nan), lb[:100]))
    assert all_nan["n"] == 0 and all_nan["decision"] == "inconclusive"


def test_interim_looks_never_declare_a_winner():
    la, lb = _clear_b_win()
    final = paired_test(la, lb)
    look = _json_roundtrip(paired_test(la, lb, final=False))
    assert look["decision"] == "running"
    assert "interim" in look["reason"]
    for key in ("statistic", "p_value", "ci_low", "ci_high", "mean_loss_difference", "n"):
        assert look[key] == pytest.approx(final[key])
    assert interim(la, lb) == look
    early = interim(la[:20], lb[:20])
    assert early["decision"] == "running" and "at least 48" in early["reason"]
    assert naive_t_test(la, lb, final=False)["decision"] == "running"
    assert batch_means_test(la, lb, final=False)["decision"] == "running"


def test_squared_loss_and_lists_are_accepted():
    e_a, e_b = simulate_errors(24 * 28, 0.5, 1.0, np.random.default_rng(9), scale_b=0.6)
    result = paired_test(list(pointwise_loss(e_a, "squared")), list(pointwise_loss(e_b, "squared")))
    assert result["decision"] == "b_wins"
    with pytest.raises(ValueError):
        pointwise_loss(e_a, "huber")


def test_invalid_arguments_raise():
    la, lb = _clear_b_win(n=100)
    with pytest.raises(ValueError):
        paired_test(la, lb[:-1])
    with pytest.raises(ValueError):
        paired_test(la, lb, method="bootstrap")
    with pytest.raises(ValueError):
        paired_test(la, lb, alpha=0.0)
    with pytest.raises(ValueError):
        paired_test(la.reshape(10, 10), lb.reshape(10, 10))
    with pytest.raises(ValueError):
        simulate_errors(10, 1.0, 1.0, np.random.default_rng(0))


# ------------------------------------------------------------------- simulation

DEFAULT = abstats.DEFAULT_METHOD
SIZE_SIMS = 4000
SIZE_BOUND = ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / SIZE_SIMS)


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9])
@pytest.mark.parametrize("days", [14, 28])
def test_aa_false_winner_rate_holds_alpha(rho, days, capsys):
    p, _ = _simulated_p_values(
        rho, days, 1.0, SIZE_SIMS, seed=[101, int(rho * 10), days],
        methods=(DEFAULT, "dm_ewc", "naive_t", "batch_means"),
    )
    rates = {m: float(np.mean(v < ALPHA)) for m, v in p.items()}
    with capsys.disabled():
        print(
            f"\nA/A rho={rho} days={days} N={SIZE_SIMS}: {DEFAULT} {rates[DEFAULT]:.3f} dm_ewc {rates['dm_ewc']:.3f} "
            f"naive_t {rates['naive_t']:.3f} batch_means {rates['batch_means']:.3f} (bound {SIZE_BOUND:.3f})"
        )
    assert rates[DEFAULT] <= SIZE_BOUND
    assert rates["dm_ewc"] <= SIZE_BOUND
    assert rates["naive_t"] > rates[DEFAULT] + 0.05
    assert rates["naive_t"] > rates["dm_ewc"] + 0.05
    if rho >= 0.8:
        assert rates["naive_t"] > 0.2


POWER_SIMS = 4000
POWER_TOLERANCE = 0.03


def _power(process, days, methods, sims, seed):
    """Raw and size-adjusted power (B 10 % better) and A/A false-winner rates of ``methods`` on one cell."""
    null_p, _ = _simulated_p_values(process, days, 1.0, sims, seed=[*seed, 0], methods=methods)
    alt_p, alt_mean = _simulated_p_values(process, days, 0.9, sims, seed=[*seed, 1], methods=methods)
    raw = {m: float(np.mean((alt_p[m] < ALPHA) & (alt_mean > 0))) for m in methods}
    adjusted = {m: float(np.mean((alt_p[m] <= np.quantile(null_p[m], ALPHA)) & (alt_mean > 0))) for m in methods}
    size = {m: float(np.mean(null_p[m] < ALPHA)) for m in methods}
    return raw, adjusted, size


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9])
def test_power_against_daily_batch_means(rho, capsys):
    """Challenger 10 % better in MAE over 28 days.

    Where daily batch means keeps its size (rho = 0.5) raw power is compared.
    At rho >= 0.8 batch means declares false winners in 6-8 % of A/A tests, so
    its raw power is inflated by the same excess; the methods are compared at
    equal false-winner rates (p-value threshold = 5 % quantile of each
    method's A/A p-values on the same cell).  On AR(1) errors the AR(p)
    prewhitening of the default picks order 1 and loses nothing against the
    AR(1)-prewhitened ``dm_ewc``.
    """
    methods = (DEFAULT, "dm_ewc", "batch_means")
    raw, adjusted, _ = _power(rho, 28, methods, POWER_SIMS, seed=[202, int(rho * 10)])
    with capsys.disabled():
        print(
            f"\npower rho={rho} days=28 B 10% better N={POWER_SIMS}: "
            + ", ".join(f"{m} {raw[m]:.3f} (size-adjusted {adjusted[m]:.3f})" for m in methods)
        )
    for m in (DEFAULT, "dm_ewc"):
        if rho == 0.5:
            assert raw[m] >= raw["batch_means"] - POWER_TOLERANCE
            assert raw[m] > 0.5
        assert adjusted[m] >= adjusted["batch_means"] - POWER_TOLERANCE
        assert raw[m] > 2 * ALPHA
    assert raw[DEFAULT] >= raw["dm_ewc"] - 2 * math.sqrt(raw["dm_ewc"] * (1 - raw["dm_ewc"]) / POWER_SIMS)


def test_squared_loss_keeps_alpha_at_high_autocorrelation():
    p, _ = _simulated_p_values(0.9, 14, 1.0, 2000, seed=303, methods=(DEFAULT, "dm_ewc"), loss="squared")
    for m in (DEFAULT, "dm_ewc"):
        assert np.mean(p[m] < ALPHA) <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / 2000)


# The figures below are the evidence for the default method in the module docstring and README
# (bench/quality.py runs the same cells with 10,000 simulations); a change that moves them must
# update both.

SLOW_SIMS = 4000
SLOW_BOUND = ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / SLOW_SIMS)


@pytest.mark.slow
def test_arma21_errors_keep_size_and_regain_power(capsys):
    """ARMA(2,1) errors (AR roots 0.92 and 0.38, MA 0.4): AR(1) prewhitening overshoots.

    The lag-1 coefficient of the loss differential (about 0.93) recoloured as
    if it were AR(1) inflates the long-run variance 1.6-2.2-fold, so ``dm_ewc`` declares
    about 1 % false winners and finds a 10 % better challenger in under 3 %
    of 28-day tests.  The BIC-chosen AR(p) prewhitening of the default keeps
    the false-winner rate at or below 5 % and the power at 10 % or more.
    """
    methods = (DEFAULT, "dm_ewc", "dm_ewc_raw")
    raw, adjusted, size = _power("arma21", 28, methods, SLOW_SIMS, seed=[404, 28])
    short_p, _ = _simulated_p_values("arma21", 14, 1.0, SLOW_SIMS, seed=[404, 14], methods=methods)
    short = {m: float(np.mean(short_p[m] < ALPHA)) for m in methods}
    with capsys.disabled():
        print(f"\nARMA(2,1) N={SLOW_SIMS}: A/A 14 days {short}, 28 days {size}; power 28 days {raw} "
              f"(size-adjusted {adjusted})")
    assert size[DEFAULT] <= SLOW_BOUND and short[DEFAULT] <= SLOW_BOUND
    assert raw[DEFAULT] >= 0.10
    assert size["dm_ewc"] < 0.02 and short["dm_ewc"] < 0.02
    assert raw["dm_ewc"] < 0.04
    # EWC without prewhitening has the power but not the size.
    assert size["dm_ewc_raw"] > SLOW_BOUND and short["dm_ewc_raw"] > SLOW_BOUND


@pytest.mark.slow
@pytest.mark.parametrize("process", ["amplitude", "daytime_x2"])
@pytest.mark.parametrize("days", [14, 28])
def test_daily_profile_errors_keep_size(process, days):
    """Day-to-day amplitude of the occupied-hours profile, or daytime errors twice as large."""
    p, _ = _simulated_p_values(process, days, 1.0, SLOW_SIMS, seed=[505, days, len(process)], methods=(DEFAULT,))
    assert np.mean(p[DEFAULT] < ALPHA) <= SLOW_BOUND


@pytest.mark.slow
@pytest.mark.parametrize("days", [14, 28])
def test_day_level_bias_needs_the_daily_test(days, capsys):
    """A day-level bias that persists from day to day (AR 0.8, 30 % of the variance).

    Its persistence lives below the lowest frequency that 14 or 28 days of
    hourly data can resolve, so no hourly long-run-variance estimator sees
    it: the default and ``dm_ewc`` declare 11-15 % false winners (documented
    as a limitation).  The test on daily means keeps 5 %, at about half the
    power on errors without day-level persistence.
    """
    methods = (DEFAULT, "dm_ewc", "daily_dm_ewc")
    p, _ = _simulated_p_values("day_bias", days, 1.0, SLOW_SIMS, seed=[606, days], methods=methods)
    rates = {m: float(np.mean(v < ALPHA)) for m, v in p.items()}
    with capsys.disabled():
        print(f"\nday-level bias, {days} days, A/A N={SLOW_SIMS}: {rates}")
    assert rates["daily_dm_ewc"] <= SLOW_BOUND
    assert rates[DEFAULT] > 0.09 and rates["dm_ewc"] > 0.09

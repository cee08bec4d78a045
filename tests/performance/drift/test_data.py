"""Driver drift: PSI, KS and Wasserstein against hand-worked values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from performance.drift.data import data_drift
from performance.drift.reference import reference_statistics

from .simulation import (
    _assert_json_clean,
)


def _one_driver_reference(x: np.ndarray, **kwargs) -> dict:
    return reference_statistics({"x": x}, np.random.default_rng(0).normal(size=500),
                                holdout_rmse=None, n_simulations=200, **kwargs)


def test_psi_hand_worked_example():
    # Reference 0..999: decile edges 99.9, 199.8, ..., 899.1 (linear
    # interpolation at 999 * k / 10) and 10 % per bin.
    reference = _one_driver_reference(np.arange(1000.0))
    ref = reference["drivers"]["x"]
    assert ref["psi_edges"] == pytest.approx([99.9 * k for k in range(1, 10)])
    assert ref["psi_reference"] == pytest.approx([0.1] * 10)
    # Current: 20 % in each of the first two bins, 10 % in bins 3-8, none in
    # the last two (floored at 1e-4):
    #   PSI = 2 * (0.2 - 0.1) ln(0.2 / 0.1) + 2 * (1e-4 - 0.1) ln(1e-4 / 0.1)
    #       = 0.2 ln 2 + 0.1998 ln 1000 = 0.1386294 + 1.3801695 = 1.5187989
    current = np.concatenate([np.full(20, 5.0), np.full(20, 150.0), np.repeat(np.arange(250.0, 800.0, 100.0), 10)])
    # Order does not change PSI, KS or Wasserstein, but blocks of equal values would look like a
    # strongly autocorrelated series and shrink the effective sample size.
    current = np.random.default_rng(1).permutation(current)
    assert current.size == 100
    result = data_drift(reference, {"x": current})["x"]
    assert result["psi"] == pytest.approx(0.2 * math.log(2) + 0.1998 * math.log(1000), abs=1e-9)
    assert result["psi"] == pytest.approx(1.5187989, abs=1e-6)
    assert result["drifted"] and result["level"] == "critical"
    # The reference against itself: every bin matches.
    same = data_drift(reference, {"x": np.arange(1000.0)})["x"]
    assert same["psi"] == pytest.approx(0.0, abs=1e-12)
    assert same["ks_statistic"] <= 1e-3 + 1e-12  # the sketch's resolution, 1 / (1001 - 1)
    assert same["out_of_range_share"] == 0.0


CASES = {
    "normal shift": (lambda r: r.normal(0, 1, 2000), lambda r: r.normal(0.3, 1, 500)),
    "lognormal": (lambda r: r.lognormal(0, 0.5, 3000), lambda r: r.lognormal(0.1, 0.7, 800)),
    "discrete": (lambda r: r.integers(0, 5, 3000).astype(float), lambda r: r.integers(0, 6, 1000).astype(float)),
    "reference smaller than sketch": (lambda r: r.normal(0, 1, 300), lambda r: r.normal(0.2, 1.2, 10_000)),
    "large reference": (lambda r: r.normal(0, 1, 100_000), lambda r: r.normal(0.2, 1.2, 10_000)),
    "bimodal": (lambda r: np.concatenate([r.normal(-2, 0.5, 1500), r.normal(2, 0.5, 1500)]),
                lambda r: np.concatenate([r.normal(-2, 0.5, 300), r.normal(2, 0.5, 700)])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ks_and_wasserstein_match_scipy(name):
    rng = np.random.default_rng(42)
    make_ref, make_cur = CASES[name]
    ref, cur = make_ref(rng), make_cur(rng)
    result = data_drift(_one_driver_reference(ref), {"x": cur})["x"]
    ks = stats.ks_2samp(ref, cur)
    assert abs(result["ks_statistic"] - ks.statistic) <= 0.01
    w_scipy = stats.wasserstein_distance(ref, cur) / ref.std()
    assert result["wasserstein"] == pytest.approx(w_scipy, rel=0.02)
    en = ref.size * cur.size / (ref.size + cur.size)
    assert result["ks_pvalue"] == pytest.approx(
        stats.kstwobign.sf(result["ks_statistic"] * math.sqrt(en)), rel=1e-9, abs=1e-300)


def test_same_distribution_is_not_drift():
    rng = np.random.default_rng(7)
    ref, cur = rng.normal(size=5000), rng.normal(size=5000)
    result = data_drift(_one_driver_reference(ref), {"x": cur})["x"]
    assert abs(result["ks_statistic"] - stats.ks_2samp(ref, cur).statistic) <= 0.01
    assert abs(result["wasserstein"] - stats.wasserstein_distance(ref, cur) / ref.std()) <= 0.005
    assert result["psi"] < 0.01 and not result["drifted"] and result["level"] == "none"
    assert result["ks_pvalue"] > 0.05


def test_autocorrelated_driver_needs_more_evidence_than_iid_rows():
    # A warm spell: a smooth excursion within the training range. As i.i.d. rows it would look
    # like strong evidence; as the 2-3 independent values it really is, it is not drift.
    rng = np.random.default_rng(3)
    reference = _one_driver_reference(rng.normal(13, 4, 5000))
    hours = np.arange(168)
    warm = 17 + 3 * np.sin(2 * np.pi * hours / 168)
    result = data_drift(reference, {"x": warm})["x"]
    assert result["ks_pvalue"] < 0.01 < result["ks_pvalue_effective"]
    assert result["n_effective"] < 20 and not result["drifted"]
    # The same values in random order are independent evidence: drift.
    shuffled = data_drift(reference, {"x": rng.permutation(warm)})["x"]
    assert shuffled["drifted"]


def test_constant_driver():
    reference = _one_driver_reference(np.ones(1000))
    ref = reference["drivers"]["x"]
    assert ref["std"] == 0.0 and ref["min"] == ref["max"] == 1.0
    steady = data_drift(reference, {"x": np.ones(200)})["x"]
    assert steady["psi"] == pytest.approx(0.0, abs=1e-12)
    assert steady["wasserstein"] == 0.0 and steady["ks_statistic"] == 0.0
    assert not steady["drifted"]
    # 30 % of the hours idle: PSI sees the new bin below, W/max(|1|, 1) = 0.3.
    idle = data_drift(reference, {"x": np.random.default_rng(2).permutation(np.r_[np.zeros(60), np.ones(140)])})["x"]
    assert idle["wasserstein"] == pytest.approx(0.3)
    assert idle["out_of_range_share"] == pytest.approx(0.3)
    assert idle["psi"] > 0.25 and idle["drifted"] and idle["level"] == "critical"
    _assert_json_clean(idle)


def test_nan_and_empty_drivers():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=1000)
    ref[::10] = np.nan
    reference = reference_statistics({"x": ref, "empty": np.full(1000, np.nan)}, rng.normal(size=1000),
                                     holdout_rmse=1.0, n_simulations=200)
    assert reference["drivers"]["x"]["n"] == 900
    assert reference["drivers"]["empty"]["n"] == 0
    cur = rng.normal(size=300)
    cur[:50] = np.nan
    result = data_drift(reference, {"x": cur, "empty": rng.normal(size=300)})
    assert result["x"]["n"] == 250
    assert result["empty"]["psi"] is None and not result["empty"]["drifted"]
    all_nan = data_drift(reference, {"x": np.full(10, np.nan), "empty": np.full(10, np.nan)})
    assert all_nan["x"]["psi"] is None and all_nan["x"]["level"] == "none"
    _assert_json_clean(result)
    _assert_json_clean(all_nan)
    with pytest.raises(KeyError):
        data_drift(reference, {"x": cur})


def test_small_window_needs_evidence():
    # 30 rows shifted by 0.3 sd: W/sd ~ 0.3 but the KS p-value cannot rule out
    # chance, so the driver is not called drifted.
    rng = np.random.default_rng(11)
    reference = _one_driver_reference(rng.normal(size=3000))
    result = data_drift(reference, {"x": rng.normal(0.3, 1.0, 30)})["x"]
    assert result["wasserstein"] >= 0.1
    assert result["ks_pvalue"] >= 0.01 and not result["drifted"]
    big = data_drift(reference, {"x": rng.normal(0.3, 1.0, 3000)})["x"]
    assert big["drifted"] and big["wasserstein"] > 0.2

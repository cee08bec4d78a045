"""Thresholds, the verdict and its score, and the combined check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from performance.drift.thresholds import DriftThresholds
from performance.drift.verdict import check_drift, drift_verdict

from .simulation import (
    DRIVERS,
    WEEK,
    _assert_json_clean,
    machine_seeds,
    make_benchmark_case,
    monitor_stream,
    run_check,
    train_machine,
)


def test_thresholds_from_dict():
    default = DriftThresholds()
    assert DriftThresholds.from_dict(None) == default
    assert DriftThresholds.from_dict({}) == default
    custom = DriftThresholds.from_dict({"psi_warning": "0.2", "psi_critical": 0.3, "min_rows": 48.0,
                                        "cusum_false_alarm": None})
    assert custom.psi_warning == 0.2 and custom.psi_critical == 0.3 and custom.min_rows == 48
    assert custom.cusum_false_alarm == default.cusum_false_alarm
    assert DriftThresholds.from_dict(custom.to_dict()) == custom
    with pytest.raises(ValueError, match="unknown"):
        DriftThresholds.from_dict({"psi_warn": 0.2})
    with pytest.raises(ValueError):
        DriftThresholds.from_dict({"psi_warning": 0.3, "psi_critical": 0.2})
    with pytest.raises(ValueError):
        DriftThresholds.from_dict({"drift_share": 0.0})
    with pytest.raises(ValueError):
        DriftThresholds.from_dict({"wasserstein": "abc"})


def _driver(psi: float, w: float, out: float = 0.0, n: int = 168) -> dict:
    th = DriftThresholds()
    drifted = psi >= th.psi_warning or w >= th.wasserstein
    return {"psi": psi, "ks_statistic": 0.1, "ks_pvalue": 1e-6 if drifted else 0.5, "wasserstein": w,
            "out_of_range_share": out, "drifted": drifted,
            "level": ("critical" if psi > th.psi_critical else "warning") if drifted else "none", "n": n}


QUIET = {"nmbe": 0.001, "cv_rmse": 0.08, "error_ratio": 1.0, "change_point": None, "cusum_alarm_index": None,
         "mean_shift_z": 0.3, "drifted": False, "level": "none", "n": 168, "error_ratio_pvalue": 0.5,
         "cusum_statistic": 2.0, "cusum_threshold": 4.0, "shift_relative": None, "direction": None}


def test_verdict_levels_and_score():
    quiet_data = {"a": _driver(0.02, 0.03), "b": _driver(0.01, 0.02), "c": _driver(0.03, 0.05)}
    v = drift_verdict(quiet_data, QUIET)
    assert v["severity"] == "none" and not v["drift_detected"] and v["reasons"] == []
    assert 0.0 <= v["drift_score"] < 1 / 3

    one = {**quiet_data, "a": _driver(0.5, 0.6)}
    v = drift_verdict(one, QUIET)
    assert v["data_drift_level"] == "none" and v["drift_share"] == pytest.approx(1 / 3)

    two = {**one, "b": _driver(0.15, 0.2)}
    v = drift_verdict(two, QUIET)
    assert v["data_drift_level"] == "warning" and v["severity"] == "warning" and v["drift_detected"]
    assert 1 / 3 <= v["drift_score"] < 2 / 3 and v["reasons"]

    both_critical = {**two, "b": _driver(0.4, 0.5)}
    assert drift_verdict(both_critical, QUIET)["severity"] == "critical"

    v = drift_verdict(quiet_data, QUIET, extrapolation_share=0.3)
    assert v["data_drift_level"] == "critical" and v["drift_score"] >= 2 / 3

    alarm = {**QUIET, "cusum_statistic": 4.4, "change_point": 100, "cusum_alarm_index": 130,
             "shift_relative": 0.04, "direction": "increase"}
    v = drift_verdict(quiet_data, alarm)
    assert v["concept_drift_level"] == "warning" and v["severity"] == "warning"
    big = {**alarm, "shift_relative": 0.12}
    v = drift_verdict(quiet_data, big)
    assert v["concept_drift_level"] == "critical" and v["drift_score"] >= 2 / 3
    assert any("level shift" in r for r in v["reasons"])

    # A large error ratio that a week of autocorrelated residuals could show
    # by chance is not drift; the same ratio with evidence is.
    noisy = {**QUIET, "error_ratio": 1.4, "error_ratio_pvalue": 0.08}
    assert drift_verdict(quiet_data, noisy)["severity"] == "none"
    clear = {**QUIET, "error_ratio": 1.4, "error_ratio_pvalue": 0.001}
    assert drift_verdict(quiet_data, clear)["severity"] == "warning"
    worse = {**QUIET, "error_ratio": 1.8, "error_ratio_pvalue": 1e-5}
    assert drift_verdict(quiet_data, worse)["severity"] == "critical"

    # Score is monotone in the evidence and bounded.
    scores = [drift_verdict(quiet_data, {**QUIET, "cusum_statistic": g})["drift_score"]
              for g in (1.0, 3.0, 4.0, 6.0, 50.0, 1e6)]
    assert scores == sorted(scores) and 0 <= scores[0] and scores[-1] < 2 / 3


def test_check_drift_output_is_plain_json():
    machine = train_machine(machine_seeds(0.7, 1)[0], 0.7)
    rng = np.random.default_rng(31)
    d, actual, predicted = monitor_stream(machine, rng, WEEK, start_hour=0)
    d["outdoor_temp_c"][:5] = np.nan
    result = run_check(machine, d, actual, predicted, 0, WEEK)
    assert set(result) == {"data_drift", "concept_drift", "drift_detected", "drift_score", "severity", "details",
                           "cause", "consumption_change", "coverage", "model_error"}
    assert result["cause"] in ("none", "coverage", "consumption_change", "model_error")
    assert set(result["data_drift"]) == set(DRIVERS)
    for v in result["data_drift"].values():
        assert {"psi", "ks_statistic", "ks_pvalue", "wasserstein", "out_of_range_share", "drifted",
                "level"} <= set(v)
    assert {"nmbe", "cv_rmse", "error_ratio", "change_point", "cusum_alarm_index", "mean_shift_z",
            "drifted", "level"} <= set(result["concept_drift"])
    assert {"data_drift_level", "concept_drift_level", "reasons", "thresholds"} <= set(result["details"])
    assert 0.0 <= result["drift_score"] <= 1.0
    assert result["drift_detected"] == (result["severity"] != "none")
    _assert_json_clean(result)
    _assert_json_clean(machine.reference)
    json.loads(json.dumps(machine.reference))


def test_benchmark_case_runs():
    reference, current, residuals, actual, n_params = make_benchmark_case(n_reference=20_000)
    result = check_drift(reference, current, residuals, actual, n_params)
    assert len(result["data_drift"]) == 4 and result["concept_drift"]["n"] == 10_000
    _assert_json_clean(result)

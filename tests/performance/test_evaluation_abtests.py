"""Scheduled evaluation and A/B tests on real fitted versions of demo machines."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from baselines.artifacts import pipeline_for
from baselines.engine.fit import predict
from baselines.models import EnergyBaseline
from baselines.selectors import readings_frame
from enms.errors import Conflict
from performance.models import ModelAlert, ModelPerformanceMetric
from performance.services.abtests import (
    abtest_results,
    abtest_start,
    abtest_start_from_api,
    abtests_complete_due,
)
from performance.services.evaluation import evaluation_cycle
from performance.services.training import training_trigger

from .conftest import START

pytestmark = pytest.mark.django_db(transaction=True)


def _train(machine, days, model=None):
    job = training_trigger(machine=machine, model_type="energy_baseline", model=model,
                           training_start=(START + timedelta(days=days[0])).to_pydatetime(),
                           training_end=(START + timedelta(days=days[1])).to_pydatetime())
    job.refresh_from_db()
    return job.new_model


def test_evaluation_cycle_matches_numpy_and_flags_degradation(step_machine, stable_machine):
    stale = _train(step_machine, (0, 120))
    fine = _train(stable_machine, (0, 60))
    now = (START + timedelta(days=180)).to_pydatetime()
    result = evaluation_cycle(now=now, auto_actions=False)
    assert result == {"models": 2, "stored": 2, "alerts": 1}
    row = ModelPerformanceMetric.objects.get(model=stale, source="evaluation")
    # Training hours are never judged: the evaluation starts after the last one.
    frame = readings_frame(machine_ids=[step_machine.pk], start=stale.training_end + timedelta(seconds=1), end=now)
    y = frame["energy_kwh"].to_numpy()
    pred = predict(pipeline_for(stale), frame)
    assert row.sample_count == len(y)
    assert row.rmse == pytest.approx(np.sqrt(np.mean((y - pred) ** 2)), rel=1e-9)
    assert row.rmse_degradation > 0.25
    alert = ModelAlert.objects.get()
    assert alert.model == stale and alert.alert_type == "degradation"
    assert ModelPerformanceMetric.objects.get(model=fine, source="evaluation").rmse_degradation < 0.25
    # The next cycle starts where this one ended: nothing new, nothing stored twice.
    assert evaluation_cycle(now=now, auto_actions=False)["stored"] == 0


def test_backtest_picks_retrained_version_over_stale_one(step_machine):
    stale = _train(step_machine, (0, 120))
    retrained = _train(step_machine, (150, 165), model=stale)
    test = abtest_start_from_api(
        name="stale vs retrained", model_a=stale, model_b=retrained, traffic_split=0.5, duration_days=14,
        min_samples=168, auto_promote=True, window_start=(START + timedelta(days=165)).to_pydatetime(),
        window_end=(START + timedelta(days=179)).to_pydatetime(),
    )
    test.refresh_from_db()
    assert test.status == "completed" and test.decision == "b_wins" and test.winner == retrained
    assert test.confidence > 0.95
    results = abtest_results(test=test)
    arms = results["arms"]
    assert arms["a"]["n"] + arms["b"]["n"] == 14 * 24
    assert 0.35 < arms["b"]["n"] / (14 * 24) < 0.65
    assert arms["b"]["mae"] < arms["a"]["mae"]
    assert results["paired"]["mean_loss_difference"] > 0 and results["paired"]["ci_low"] > 0
    assert EnergyBaseline.objects.get(pk=retrained.pk).status == "active"
    assert EnergyBaseline.objects.get(pk=stale.pk).status == "retired"
    assert ModelAlert.objects.filter(alert_type="ab_test_completed").count() == 1


def test_identical_versions_are_inconclusive(stable_machine):
    first = _train(stable_machine, (0, 60))
    same = _train(stable_machine, (0, 60), model=first)  # same data, same fit
    test = abtest_start_from_api(
        name="aa", model_a=first, model_b=same, traffic_split=0.5, duration_days=14, min_samples=168,
        auto_promote=False, window_start=(START + timedelta(days=60)).to_pydatetime(),
        window_end=(START + timedelta(days=74)).to_pydatetime(),
    )
    test.refresh_from_db()
    assert test.decision == "inconclusive" and test.winner is None
    assert "zero variance" in test.results["paired"]["reason"]


def test_live_test_interim_then_completed_by_beat_job(stable_machine):
    first = _train(stable_machine, (0, 45))
    second = _train(stable_machine, (10, 55), model=first)
    started = (START + timedelta(days=60)).to_pydatetime()
    test = abtest_start(name="live", model_a=first, model_b=second, duration_days=14, min_samples=168,
                        started_at=started)
    with pytest.raises(Conflict):
        abtest_start(name="second", model_a=first, model_b=second, started_at=started)
    interim = abtest_results(test=test)
    assert interim["decision"] == "running" and interim["winner_model_id"] is None
    assert interim["paired"]["n"] == 14 * 24  # the window lies in the past of the stored data
    assert abtests_complete_due(now=started + timedelta(days=1)) == 0
    assert abtests_complete_due(now=timezone.now()) == 1
    test.refresh_from_db()
    assert test.status == "completed" and test.decision in ("a_wins", "b_wins", "inconclusive")
    assert abtests_complete_due(now=timezone.now()) == 0

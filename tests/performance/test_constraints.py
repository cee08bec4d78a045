"""Every database constraint rejects what it should (run on SQLite and PostgreSQL)."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from baselines.models import EnergyBaseline
from performance.models import ModelAlert, ModelPerformanceMetric
from tests.factories import (
    T0,
    EnergyBaselineFactory,
    EnergyReadingFactory,
    MachineFactory,
    ModelABTestFactory,
    ModelAlertFactory,
    ModelPerformanceMetricFactory,
    ModelTrainingHistoryFactory,
)

pytestmark = pytest.mark.django_db


def _rejected(factory, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)


def test_machine_name_unique_and_power_positive():
    MachineFactory(name="M")
    _rejected(MachineFactory, name="M")
    _rejected(MachineFactory, rated_power_kw=0)
    _rejected(MachineFactory, time_zone="")
    assert MachineFactory().time_zone == "UTC"  # the server's TIME_ZONE


def test_reading_unique_per_machine_timestamp_and_nonnegative():
    reading = EnergyReadingFactory()
    _rejected(EnergyReadingFactory, machine=reading.machine, timestamp=reading.timestamp)
    _rejected(EnergyReadingFactory, energy_kwh=-1)
    _rejected(EnergyReadingFactory, operating_hours=-0.5)
    EnergyReadingFactory(machine=reading.machine, timestamp=reading.timestamp + timedelta(hours=1))


def test_baseline_version_unique_and_one_active_per_machine_and_type():
    first = EnergyBaselineFactory(version=1, status="active")
    _rejected(EnergyBaselineFactory, machine=first.machine, version=1)
    _rejected(EnergyBaselineFactory, machine=first.machine, version=2, status="active")
    # Another model type of the same machine may have its own active version.
    EnergyBaselineFactory(machine=first.machine, version=1, model_type="anomaly_detector", status="active")
    EnergyBaselineFactory(machine=first.machine, version=3, status="retired")
    EnergyBaselineFactory(machine=first.machine, version=4, status="retired")
    assert EnergyBaseline.objects.filter(machine=first.machine, status="active").count() == 2
    _rejected(EnergyBaselineFactory, version=0)
    _rejected(EnergyBaselineFactory, training_start=T0, training_end=T0)


@pytest.mark.parametrize(
    "field,value",
    [
        ("r_squared", 1.0001),
        ("rmse", -0.1),
        ("mae", -1),
        ("mape", -0.01),
        ("cv_rmse", -0.2),
        ("precision", 1.2),
        ("recall", -0.1),
        ("f1_score", 1.01),
        ("drift_score", 1.5),
    ],
)
def test_metric_check_constraints(field, value):
    _rejected(ModelPerformanceMetricFactory, **{field: value})
    assert ModelPerformanceMetric.objects.count() == 0


def test_metric_accepts_boundaries_and_negative_r_squared():
    ModelPerformanceMetricFactory(r_squared=1.0, precision=0.0, recall=1.0, f1_score=1.0, drift_score=0.0)
    ModelPerformanceMetricFactory(r_squared=-3.0, nmbe=-0.4)
    assert ModelPerformanceMetric.objects.count() == 2


def test_metric_window_must_be_ordered():
    _rejected(ModelPerformanceMetricFactory, evaluation_start=T0, evaluation_end=T0 - timedelta(hours=1))


def test_one_open_training_per_machine_and_type():
    job = ModelTrainingHistoryFactory(status="pending")
    _rejected(ModelTrainingHistoryFactory, machine=job.machine, status="running")
    ModelTrainingHistoryFactory(machine=job.machine, status="completed")
    ModelTrainingHistoryFactory(machine=job.machine, status="failed")
    ModelTrainingHistoryFactory(machine=job.machine, status="pending", model_type="anomaly_detector")


@pytest.mark.parametrize("split", [0.0, 1.0, -0.2, 1.5])
def test_ab_test_traffic_split_open_unit_interval(split):
    _rejected(ModelABTestFactory, traffic_split=split)


def test_ab_test_models_differ_and_one_running_per_machine():
    model = EnergyBaselineFactory()
    _rejected(ModelABTestFactory, model_a=model, model_b=model)
    test = ModelABTestFactory()
    other = EnergyBaselineFactory(machine=test.machine)
    _rejected(ModelABTestFactory, model_a=test.model_a, model_b=other)
    ModelABTestFactory(model_a=test.model_a, model_b=other, status="completed")


def test_one_unresolved_alert_per_model_and_type():
    alert = ModelAlertFactory()
    _rejected(ModelAlertFactory, model=alert.model, alert_type="drift")
    ModelAlertFactory(model=alert.model, alert_type="degradation")
    ModelAlert.objects.filter(pk=alert.pk).update(is_resolved=True, resolved_at=T0)
    ModelAlertFactory(model=alert.model, alert_type="drift")


def test_alert_consistency_checks():
    _rejected(ModelAlertFactory, occurrences=0)
    _rejected(ModelAlertFactory, is_resolved=True, resolved_at=None)
    _rejected(ModelAlertFactory, first_seen=T0, last_seen=T0 - timedelta(hours=1))

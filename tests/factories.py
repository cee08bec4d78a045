"""factory_boy factories for every table."""

from datetime import UTC, datetime, timedelta

import factory
from django.contrib.auth import get_user_model

from baselines.models import EnergyBaseline, EnergyReading, Machine
from performance.models import ModelABTest, ModelAlert, ModelPerformanceMetric, ModelTrainingHistory

T0 = datetime(2026, 1, 5, tzinfo=UTC)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda i: f"user{i}")
    password = factory.django.Password("pw-user-123")


class MachineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Machine

    name = factory.Sequence(lambda i: f"Machine {i}")
    machine_type = "compressor"
    site = "Plant"
    rated_power_kw = 100.0


class EnergyReadingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnergyReading

    machine = factory.SubFactory(MachineFactory)
    timestamp = factory.Sequence(lambda i: T0 + timedelta(hours=i))
    energy_kwh = 50.0
    production_units = 10.0
    outdoor_temp_c = 12.0
    operating_hours = 1.0


class EnergyBaselineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnergyBaseline

    machine = factory.SubFactory(MachineFactory)
    model_type = "energy_baseline"
    version = factory.Sequence(lambda i: i + 1)
    status = "candidate"
    algorithm = "ridge"
    features = ["production_units", "outdoor_temp_c"]
    training_start = T0
    training_end = T0 + timedelta(days=60)
    training_metrics = {"rmse": 2.0, "cv_rmse": 0.05, "nmbe": 0.0, "r_squared": 0.9}
    holdout_metrics = {"rmse": 2.5, "cv_rmse": 0.06, "nmbe": 0.01, "r_squared": 0.88}


class ModelPerformanceMetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelPerformanceMetric

    model = factory.SubFactory(EnergyBaselineFactory)
    machine = factory.SelfAttribute("model.machine")
    model_type = factory.SelfAttribute("model.model_type")
    evaluated_at = factory.Sequence(lambda i: T0 + timedelta(days=70, hours=i))
    sample_count = 168
    r_squared = 0.9
    rmse = 2.0
    mae = 1.5
    cv_rmse = 0.05
    nmbe = 0.0


class ModelTrainingHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelTrainingHistory

    machine = factory.SubFactory(MachineFactory)
    model_type = "energy_baseline"
    trigger_type = "manual"
    status = "completed"


class ModelABTestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelABTest

    name = factory.Sequence(lambda i: f"test {i}")
    model_a = factory.SubFactory(EnergyBaselineFactory)
    model_b = factory.SubFactory(EnergyBaselineFactory, machine=factory.SelfAttribute("..model_a.machine"))
    machine = factory.SelfAttribute("model_a.machine")
    model_type = factory.SelfAttribute("model_a.model_type")
    traffic_split = 0.5
    started_at = T0 + timedelta(days=70)
    ends_at = T0 + timedelta(days=84)


class ModelAlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelAlert

    model = factory.SubFactory(EnergyBaselineFactory)
    machine = factory.SelfAttribute("model.machine")
    model_type = factory.SelfAttribute("model.model_type")
    alert_type = "drift"
    severity = "warning"
    message = "drift detected"
    first_seen = T0
    last_seen = T0

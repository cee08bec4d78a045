import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from baselines.demo import PLANT
from baselines.models import EnergyReading, Machine

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_plant_with_labelled_events_and_is_idempotent():
    call_command("seed_demo", days=40, end="2026-03-01", train_days=30, no_progress=True, stdout=io.StringIO())
    assert Machine.objects.count() == len(PLANT) >= 12
    assert len({m.machine_type for m in Machine.objects.all()}) >= 5
    assert EnergyReading.objects.count() == len(PLANT) * 40 * 24
    anomalous = set(EnergyReading.objects.filter(is_anomaly=True).values_list("machine__name", flat=True))
    assert anomalous == {s.name for s in PLANT if "anomalies" in s.events}
    first = list(EnergyReading.objects.order_by("machine__name", "timestamp").values_list("energy_kwh", flat=True)[:50])

    call_command("seed_demo", days=40, end="2026-03-01", train_days=30, no_progress=True, stdout=io.StringIO())
    assert EnergyReading.objects.count() == len(PLANT) * 40 * 24
    again = list(EnergyReading.objects.order_by("machine__name", "timestamp").values_list("energy_kwh", flat=True)[:50])
    assert first == again


def test_seed_demo_rejects_bad_arguments():
    with pytest.raises(CommandError):
        call_command("seed_demo", days=3, no_progress=True)
    with pytest.raises(CommandError):
        call_command("seed_demo", end="not-a-date", no_progress=True)
    assert Machine.objects.count() == 0


def test_injected_step_raises_consumption():
    import pandas as pd

    from baselines.demo import machine_readings

    spec = next(s for s in PLANT if "step" in s.events)
    frame = machine_readings(spec, pd.Timestamp("2026-01-01", tz="UTC"), 200)
    day = spec.events["step"]["day"]
    before = frame.energy_kwh[(day - 28) * 24: day * 24].mean()
    after = frame.energy_kwh[day * 24: (day + 28) * 24].mean()
    assert 1.05 < after / before < 1.25

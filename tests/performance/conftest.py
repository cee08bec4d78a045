import pandas as pd
import pytest

from baselines.demo import PLANT, machine_readings
from baselines.models import EnergyReading, Machine

START = pd.Timestamp("2026-01-05", tz="UTC")


def load_machine(spec_name: str, days: int = 90, start: pd.Timestamp = START) -> Machine:
    """A demo machine with `days` of hourly readings (deterministic)."""
    spec = next(s for s in PLANT if s.name == spec_name)
    machine = Machine.objects.create(name=spec.name, machine_type=spec.machine_type, site=spec.site,
                                     rated_power_kw=spec.rated_power_kw, time_zone=spec.time_zone)
    frame = machine_readings(spec, start, days)
    EnergyReading.objects.bulk_create([
        EnergyReading(machine=machine, timestamp=r.timestamp.to_pydatetime(), energy_kwh=r.energy_kwh,
                      production_units=None if pd.isna(r.production_units) else r.production_units,
                      outdoor_temp_c=r.outdoor_temp_c, operating_hours=r.operating_hours, is_anomaly=r.is_anomaly)
        for r in frame.itertuples()
    ], batch_size=5000)
    return machine


@pytest.fixture
def stable_machine(db):
    return load_machine("Compressor C2")


@pytest.fixture
def step_machine(db):
    """Compressor C1: +12 % consumption from day 150; with 180 days loaded the last 30 carry the step."""
    return load_machine("Compressor C1", days=180)

"""GET forecast, the daily forecast cycle and its alert (one open alert, repeats counted)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from baselines.models import BaselineStatus, DriverForecast, EnergyReading
from baselines.services import baseline_train
from performance.models import AlertType, CycleRun, ModelAlert, ModelTrainingHistory
from performance.services.forecast import forecast_batch, forecast_cycle
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/model-performance/forecast"
TRAIN_START = datetime(2025, 6, 2, tzinfo=UTC)
TRAIN_DAYS = 28


def readings(start: datetime, days: int, temp, seed: int = 0) -> list[EnergyReading]:
    """Hourly readings of an HVAC-like machine: base load, time of day, cooling above 18 °C and
    heating below 12 °C (which a summer window never sees)."""
    rng = np.random.default_rng(seed)
    n = days * 24
    ts = pd.date_range(start, periods=n, freq="h", tz="UTC")
    temp = np.broadcast_to(np.asarray(temp, dtype=float), (n,)) if np.ndim(temp) == 0 else np.asarray(temp)
    day = (ts.hour >= 7) & (ts.hour < 19)
    energy = 40 + 25 * day + 3.0 * np.maximum(temp - 18, 0) + 6.0 * np.maximum(12 - temp, 0) + rng.normal(0, 2, n)
    return [EnergyReading(timestamp=t.to_pydatetime(), energy_kwh=float(max(e, 0)), outdoor_temp_c=float(x))
            for t, e, x in zip(ts, energy, temp, strict=True)]


def summer_temps(days: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 24)
    return 22 + 5 * np.sin(2 * np.pi * (hours % 24 - 9) / 24) + rng.normal(0, 1.5, hours.size)


@pytest.fixture
def summer_model():
    machine = MachineFactory(machine_type="hvac")
    rows = readings(TRAIN_START, TRAIN_DAYS, summer_temps(TRAIN_DAYS))
    for r in rows:
        r.machine = machine
    EnergyReading.objects.bulk_create(rows)
    model = baseline_train(machine=machine, training_start=TRAIN_START,
                           training_end=TRAIN_START + timedelta(days=TRAIN_DAYS))
    model.status = BaselineStatus.ACTIVE
    model.save(update_fields=["status"])
    return model


def upload_forecast(machine, start: datetime, temps: np.ndarray) -> None:
    DriverForecast.objects.bulk_create(
        DriverForecast(machine=machine, timestamp=start + timedelta(hours=i), outdoor_temp_c=float(t))
        for i, t in enumerate(temps))


def test_forecast_finds_the_first_cold_day_and_says_why(admin_api, summer_model):
    machine = summer_model.machine
    start = TRAIN_START + timedelta(days=TRAIN_DAYS)
    temps = summer_temps(30, seed=5)
    temps[12 * 24:] = 2.0  # a cold snap from day 12
    upload_forecast(machine, start, temps)
    lo, hi = summer_model.driver_ranges["outdoor_temp_c"]
    direct = ((temps < lo) | (temps > hi)).reshape(30, 24).mean(axis=1)

    response = admin_api.get(URL, {"model_id": str(summer_model.pk), "horizon_days": 30,
                                   "start": start.isoformat()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "forecast"
    assert body["expected_breach_at"] == (start + timedelta(days=12)).date().isoformat()
    assert [d["out_of_range_share"] for d in body["days"]] == pytest.approx(direct.tolist(), abs=1e-4)
    assert body["days"][12]["p_breach"] >= 0.5 > body["days"][11]["p_breach"]
    assert body["breach_probability"] >= 0.5
    assert any("Outdoor temperature is expected below the training range" in r for r in body["reasons"])
    assert all(d["expected_cv_rmse_high"] >= d["expected_cv_rmse"] for d in body["days"])


def test_without_forecast_rows_the_same_days_of_last_year_are_used(admin_api, summer_model):
    machine = summer_model.machine
    # Last winter's readings: the coming December, forecast from history, is cold.
    winter = readings(datetime(2024, 12, 1, tzinfo=UTC), 20, 0.0, seed=3)
    for r in winter:
        r.machine = machine
    EnergyReading.objects.bulk_create(winter)
    response = admin_api.get(URL, {"model_id": str(summer_model.pk), "horizon_days": 10,
                                   "start": "2025-12-01T00:00:00Z"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "history"
    assert body["expected_breach_at"] == "2025-12-01"
    assert body["days"][0]["out_of_range_share"] == 1.0


@pytest.mark.parametrize("params", [
    {}, {"model_id": "nope"}, {"horizon_days": 0}, {"horizon_days": 366}, {"horizon_days": "x"},
    {"start": "2025-01-01T00:00:00"},
])
def test_bad_queries_are_400(admin_api, summer_model, params):
    query = {"model_id": str(summer_model.pk), **params} if "model_id" not in params and params else params
    assert admin_api.get(URL, query).status_code == 400


def test_unknown_model_is_404_and_anonymous_401(admin_api):
    from rest_framework.test import APIClient

    assert admin_api.get(URL, {"model_id": "00000000-0000-0000-0000-000000000000"}).status_code == 404
    assert APIClient().get(URL, {"model_id": "00000000-0000-0000-0000-000000000000"}).status_code == 401


def test_the_daily_cycle_warns_once_and_counts_repeats(summer_model, django_capture_on_commit_callbacks):
    machine = summer_model.machine
    start = TRAIN_START + timedelta(days=TRAIN_DAYS)
    temps = summer_temps(30, seed=5)
    temps[9 * 24:] = 0.0
    upload_forecast(machine, start, temps)
    with django_capture_on_commit_callbacks(execute=True):
        queued = forecast_cycle()
    assert (queued["versions"], queued["batches"]) == (1, 1)
    run = CycleRun.objects.get(pk=queued["run_id"])
    assert (run.cycle, run.batches_done, run.totals.get("warned")) == ("forecast", 1, 1)
    alerts = ModelAlert.objects.filter(model=summer_model, alert_type=AlertType.FORECAST_DEGRADATION)
    # The eager task ran at the latest reading (the start of the forecast).
    [alert] = alerts
    assert alert.severity == "warning" and alert.occurrences == 1
    assert alert.details["expected_breach_at"] == (start + timedelta(days=9)).date().isoformat()
    assert alert.details["days_to_breach"] == 9
    assert "expected to fail its policy" in alert.message and "below the training range" in alert.message
    assert alert.details["proposal"]["action"] == "wait"

    assert forecast_batch(version_ids=[summer_model.pk]) == {"forecasted": 1, "warned": 1, "refused": 0}
    [alert] = alerts.all()
    assert alert.occurrences == 2


def test_a_calm_forecast_raises_nothing(summer_model):
    upload_forecast(summer_model.machine, TRAIN_START + timedelta(days=TRAIN_DAYS), summer_temps(30, seed=7))
    assert forecast_batch(version_ids=[summer_model.pk])["warned"] == 0
    assert not ModelAlert.objects.exists()


def test_auto_action_retrains_on_a_window_covering_the_new_range(summer_model, settings):
    settings.ENMS_POLICY = {**settings.ENMS_POLICY, "forecast": {**settings.ENMS_POLICY["forecast"],
                                                                 "auto_retrain": True, "min_outside_hours": 72}}
    machine = summer_model.machine
    start = TRAIN_START + timedelta(days=TRAIN_DAYS)
    cold = readings(start, 5, 4.0, seed=9)  # five cold days already metered
    for r in cold:
        r.machine = machine
    EnergyReading.objects.bulk_create(cold)
    upload_forecast(machine, start + timedelta(days=5), np.full(20 * 24, 3.0))
    result = forecast_batch(version_ids=[summer_model.pk])
    assert result["warned"] == 1
    alert = ModelAlert.objects.get(model=summer_model, alert_type=AlertType.FORECAST_DEGRADATION)
    assert alert.details["proposal"]["action"] == "retrain"
    job = ModelTrainingHistory.objects.get(machine=machine)
    assert job.training_start <= start
    assert alert.auto_action_taken.startswith("retrain")
    # A repeat does not queue a second job.
    forecast_batch(version_ids=[summer_model.pk])
    assert ModelTrainingHistory.objects.filter(machine=machine).count() == 1


@pytest.mark.parametrize("override, ok", [
    ({"horizon_days": 14, "coverage_threshold": 0.4, "auto_retrain": True}, True),
    ({"horizon_days": 0}, False), ({"coverage_threshold": 1.5}, False), ({"auto_retrain": "yes"}, False),
    ({"horizon": 10}, False), ([1], False),
])
def test_forecast_policy_overrides_are_checked(override, ok):
    from enms.policy import policy_overrides_errors

    assert (policy_overrides_errors({"forecast": override}) == []) is ok


def test_a_machine_override_changes_the_horizon_of_the_warning(summer_model):
    machine = summer_model.machine
    machine.policy_overrides = {"forecast": {"horizon_days": 5}}
    machine.save()
    temps = summer_temps(30, seed=5)
    temps[9 * 24:] = 0.0  # the breach lies beyond five days
    upload_forecast(machine, TRAIN_START + timedelta(days=TRAIN_DAYS), temps)
    assert forecast_batch(version_ids=[summer_model.pk])["warned"] == 0


def test_days_that_start_at_a_clock_change_are_handled(summer_model):
    from performance.services.forecast import model_forecast

    machine = summer_model.machine
    machine.time_zone = "America/Santiago"  # clocks jump from 00:00 to 01:00 on 6 September 2026
    machine.save()
    result = model_forecast(model=summer_model, horizon_days=3, start=datetime(2026, 9, 5, 12, tzinfo=UTC))
    assert [d["date"].isoformat() for d in result["days"]] == ["2026-09-05", "2026-09-06", "2026-09-07"]

"""HTTP contract of the baselines app: machines, readings, baseline versions (API.md)."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.test import override_settings
from rest_framework import serializers

from baselines.api.serializers import ReadingSerializer
from baselines.artifacts import pipeline_for
from baselines.demo import PLANT, machine_readings
from baselines.engine.fit import predict
from baselines.models import EnergyBaseline, EnergyReading, Machine
from baselines.services import baseline_train
from tests.factories import EnergyBaselineFactory, EnergyReadingFactory, MachineFactory

pytestmark = pytest.mark.django_db

MACHINES = "/api/v1/machines/"
BASELINES = "/api/v1/baselines/"
DEMO_START = pd.Timestamp("2025-01-06", tz="UTC")
PAGE_KEYS = {"count", "next", "previous", "results"}
BASELINE_KEYS = {
    "id", "machine_id", "model_type", "version", "status", "algorithm", "features", "training_start",
    "training_end", "training_metrics", "created_at",
}


def readings_url(machine) -> str:
    return f"{MACHINES}{machine.pk}/readings/"


def demo_rows(days: int, start: pd.Timestamp = DEMO_START) -> list[dict]:
    """Hourly readings of the first demo machine as API rows (ISO 8601 times with offset)."""
    frame = machine_readings(PLANT[0], start, days)
    return [
        {
            "timestamp": row.timestamp.isoformat(),
            "energy_kwh": float(row.energy_kwh),
            "production_units": float(row.production_units),
            "outdoor_temp_c": float(row.outdoor_temp_c),
            "operating_hours": float(row.operating_hours),
            "is_anomaly": bool(row.is_anomaly),
        }
        for row in frame.itertuples(index=False)
    ]


def store_rows(machine: Machine, rows: list[dict]) -> None:
    EnergyReading.objects.bulk_create(
        EnergyReading(machine=machine, **{**row, "timestamp": datetime.fromisoformat(row["timestamp"])}) for row in rows
    )


def train_baseline(machine: Machine, *, days: int = 21, start: pd.Timestamp = DEMO_START, store: bool = True,
                   **kwargs) -> EnergyBaseline:
    """A real, fitted energy baseline of `machine` on `days` of demo readings from `start`."""
    if store:
        store_rows(machine, demo_rows(days, start))
    return baseline_train(machine=machine, training_start=start.to_pydatetime(),
                          training_end=(start + pd.Timedelta(days=days)).to_pydatetime(), **kwargs)


# --- machines -----------------------------------------------------------------------------------


def test_machines_list_is_paginated_and_ordered(admin_api):
    MachineFactory(name="B pump")
    MachineFactory(name="A press")
    response = admin_api.get(MACHINES)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PAGE_KEYS
    assert body["count"] == 2
    assert [m["name"] for m in body["results"]] == ["A press", "B pump"]
    assert set(body["results"][0]) >= {"id", "name", "machine_type", "site", "rated_power_kw", "is_active"}


def test_machines_list_page_size_is_capped(admin_api):
    Machine.objects.bulk_create(Machine(name=f"m{i:04d}") for i in range(1005))
    body = admin_api.get(MACHINES, {"page_size": 5000}).json()
    assert body["count"] == 1005 and len(body["results"]) == 1000
    assert len(admin_api.get(MACHINES, {"page_size": 7}).json()["results"]) == 7


def test_machine_create_returns_201_with_the_machine(admin_api):
    payload = {"name": "Compressor X", "machine_type": "compressor", "site": "North", "rated_power_kw": 150.0,
               "is_active": True}
    response = admin_api.post(MACHINES, payload, format="json")
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in payload} == payload
    machine = Machine.objects.get(pk=body["id"])
    assert machine.name == "Compressor X" and machine.rated_power_kw == 150.0


def test_machine_time_zone_defaults_to_the_server_zone_and_takes_iana_names(admin_api, settings):
    response = admin_api.post(MACHINES, {"name": "Local"}, format="json")
    assert response.status_code == 201 and response.json()["time_zone"] == settings.TIME_ZONE
    response = admin_api.post(MACHINES, {"name": "Berlin", "time_zone": "Europe/Berlin"}, format="json")
    assert response.status_code == 201 and response.json()["time_zone"] == "Europe/Berlin"
    machine = Machine.objects.get(name="Berlin")
    assert machine.time_zone == "Europe/Berlin"
    response = admin_api.patch(f"{MACHINES}{machine.pk}/", {"time_zone": "America/Chicago"}, format="json")
    assert response.status_code == 200 and response.json()["time_zone"] == "America/Chicago"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "europe/berlin ", 1, None, "../../etc/passwd"])
def test_machine_rejects_an_unknown_time_zone(admin_api, zone):
    response = admin_api.post(MACHINES, {"name": "Z", "time_zone": zone}, format="json")
    assert response.status_code == 400 and "time_zone" in response.json()
    assert not Machine.objects.exists()


def test_baselines_use_the_machine_local_time(admin_api):
    machine = MachineFactory(time_zone="Europe/Berlin")
    baseline = train_baseline(machine, days=30)
    features = pipeline_for(baseline).named_steps["features"]
    assert features.time_zone == "Europe/Berlin" and baseline.hyperparameters["time_zone"] == "Europe/Berlin"


def test_machine_create_duplicate_name_is_400(admin_api):
    MachineFactory(name="Dup")
    response = admin_api.post(MACHINES, {"name": "Dup"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()
    assert Machine.objects.filter(name="Dup").count() == 1


@pytest.mark.parametrize("power", ["NaN", "Infinity", "-inf", 0, -5])
def test_machine_create_rejects_bad_rated_power(admin_api, power):
    response = admin_api.post(MACHINES, {"name": "P", "rated_power_kw": power}, format="json")
    assert response.status_code == 400
    assert "rated_power_kw" in response.json()
    assert not Machine.objects.exists()


def test_machine_create_rejects_unknown_machine_type(admin_api):
    response = admin_api.post(MACHINES, {"name": "P", "machine_type": "spaceship"}, format="json")
    assert response.status_code == 400 and "machine_type" in response.json()


def test_machine_retrieve_and_patch(admin_api):
    machine = MachineFactory(name="Old", site="S1")
    response = admin_api.get(f"{MACHINES}{machine.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == str(machine.pk) and response.json()["name"] == "Old"

    response = admin_api.patch(f"{MACHINES}{machine.pk}/", {"site": "S2", "is_active": False}, format="json")
    assert response.status_code == 200
    assert response.json()["site"] == "S2" and response.json()["is_active"] is False
    machine.refresh_from_db()
    assert machine.site == "S2" and machine.is_active is False and machine.name == "Old"


def test_machine_patch_to_a_taken_name_is_400(admin_api):
    MachineFactory(name="Taken")
    machine = MachineFactory(name="Mine")
    response = admin_api.patch(f"{MACHINES}{machine.pk}/", {"name": "Taken"}, format="json")
    assert response.status_code == 400
    machine.refresh_from_db()
    assert machine.name == "Mine"


@pytest.mark.parametrize("method", ["put", "delete"])
def test_machine_put_and_delete_are_405(admin_api, method):
    machine = MachineFactory()
    response = getattr(admin_api, method)(f"{MACHINES}{machine.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 405
    assert Machine.objects.filter(pk=machine.pk, name=machine.name).exists()


def test_unknown_machine_is_404(admin_api):
    missing = "00000000-0000-4000-8000-000000000000"
    assert admin_api.get(f"{MACHINES}{missing}/").status_code == 404
    assert admin_api.post(f"{MACHINES}{missing}/readings/", [], format="json").status_code == 404


# --- readings ingest ----------------------------------------------------------------------------


def test_readings_json_ingest_then_upsert(admin_api):
    machine = MachineFactory()
    rows = demo_rows(2)
    response = admin_api.post(readings_url(machine), rows, format="json")
    assert response.status_code == 200
    assert response.json() == {"received": 48, "created": 48, "updated": 0}
    assert EnergyReading.objects.filter(machine=machine).count() == 48

    changed = [{**rows[0], "energy_kwh": 999.5}, *demo_rows(1, DEMO_START + pd.Timedelta(days=2))]
    response = admin_api.post(readings_url(machine), changed, format="json")
    assert response.status_code == 200
    assert response.json() == {"received": 25, "created": 24, "updated": 1}
    assert EnergyReading.objects.filter(machine=machine).count() == 72
    first = EnergyReading.objects.get(machine=machine, timestamp=datetime.fromisoformat(rows[0]["timestamp"]))
    assert first.energy_kwh == 999.5
    assert first.production_units == pytest.approx(rows[0]["production_units"])


def test_readings_ingest_stores_values_and_optional_drivers(admin_api):
    machine = MachineFactory()
    rows = [
        {"timestamp": "2025-03-01T10:00:00+02:00", "energy_kwh": 12.5, "is_anomaly": True},
        {"timestamp": "2025-03-01T09:00:00Z", "energy_kwh": 0, "outdoor_temp_c": -3.5, "operating_hours": 0.5,
         "production_units": 7},
    ]
    response = admin_api.post(readings_url(machine), rows, format="json")
    assert response.json() == {"received": 2, "created": 2, "updated": 0}
    first, second = EnergyReading.objects.filter(machine=machine).order_by("timestamp")
    assert first.timestamp == datetime(2025, 3, 1, 8, tzinfo=UTC)  # stored in UTC
    assert (first.energy_kwh, first.is_anomaly, first.production_units, first.outdoor_temp_c) == (
        12.5, True, None, None)
    assert second.timestamp == datetime(2025, 3, 1, 9, tzinfo=UTC)
    assert (second.energy_kwh, second.outdoor_temp_c, second.operating_hours, second.production_units) == (
        0.0, -3.5, 0.5, 7.0)
    assert second.is_anomaly is False


def test_readings_csv_ingest_with_header(admin_api):
    machine = MachineFactory()
    text = (
        "timestamp,energy_kwh,production_units,outdoor_temp_c,operating_hours,is_anomaly\n"
        "2025-03-01T00:00:00+00:00,10.5,3,4.5,1,false\n"
        "2025-03-01T01:00:00+00:00,11.0,,5.0,1,true\n"
        "\n"
        "2025-03-01T02:00:00Z,12.25,4,,,\n"
    )
    response = admin_api.post(readings_url(machine), text, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 3, "created": 3, "updated": 0}
    stored = list(EnergyReading.objects.filter(machine=machine).order_by("timestamp")
                  .values_list("energy_kwh", "production_units", "outdoor_temp_c", "is_anomaly"))
    assert stored == [(10.5, 3.0, 4.5, False), (11.0, None, 5.0, True), (12.25, 4.0, None, False)]

    again = admin_api.post(readings_url(machine), text.replace("10.5", "10.75"), content_type="text/csv; charset=utf-8")
    assert again.json() == {"received": 3, "created": 0, "updated": 3}
    assert EnergyReading.objects.filter(machine=machine, energy_kwh=10.75).count() == 1


def test_readings_bad_rows_give_every_error_and_write_nothing(admin_api):
    machine = MachineFactory()
    EnergyReadingFactory(machine=machine, timestamp=datetime(2025, 3, 1, tzinfo=UTC), energy_kwh=1.0)
    rows = [
        {"timestamp": "2025-03-01T00:00:00Z", "energy_kwh": 5.0},  # good, would update
        {"timestamp": "2025-03-01T01:00:00Z", "energy_kwh": -1},  # negative energy
        {"timestamp": "2025-03-01T02:00:00Z", "energy_kwh": 5.0},  # good
        {"timestamp": "2025-03-01T03:00:00Z"},  # missing energy
        {"timestamp": "2025-03-01T04:00:00Z", "energy_kwh": 1, "temperature": 3},  # unknown column
        "not an object",
    ]
    response = admin_api.post(readings_url(machine), rows, format="json")
    assert response.status_code == 400
    errors = response.json()["rows"]
    assert [e["index"] for e in errors] == [1, 3, 4, 5]
    assert "energy_kwh" in errors[0]["errors"] and "energy_kwh" in errors[1]["errors"]
    assert all(isinstance(messages, list) for e in errors for messages in e["errors"].values())
    assert list(EnergyReading.objects.filter(machine=machine).values_list("energy_kwh", flat=True)) == [1.0]


def test_readings_duplicate_timestamp_in_one_request_is_400(admin_api):
    machine = MachineFactory()
    rows = [{"timestamp": "2025-03-01T00:00:00Z", "energy_kwh": 1},
            {"timestamp": "2025-03-01T01:00:00+01:00", "energy_kwh": 2}]  # the same instant
    response = admin_api.post(readings_url(machine), rows, format="json")
    assert response.status_code == 400
    assert response.json()["rows"][0]["index"] == 1
    assert not EnergyReading.objects.exists()


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-Infinity", "inf", "1e999", " -1E999 "])
def test_readings_non_finite_numbers_are_400(admin_api, value):
    machine = MachineFactory()
    rows = [{"timestamp": "2025-03-01T00:00:00Z", "energy_kwh": 1},
            {"timestamp": "2025-03-01T01:00:00Z", "energy_kwh": 2, "outdoor_temp_c": value}]
    response = admin_api.post(readings_url(machine), rows, format="json")
    assert response.status_code == 400
    [error] = response.json()["rows"]
    assert error["index"] == 1 and list(error["errors"]) == ["outdoor_temp_c"]
    assert not EnergyReading.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_readings_non_finite_json_literals_are_400(admin_api, literal):
    machine = MachineFactory()
    body = '[{"timestamp": "2025-03-01T00:00:00Z", "energy_kwh": ' + literal + "}]"
    response = admin_api.post(readings_url(machine), body, content_type="application/json")
    assert response.status_code == 400
    assert not EnergyReading.objects.exists()


def test_readings_csv_non_finite_is_400(admin_api):
    machine = MachineFactory()
    text = "timestamp,energy_kwh\n2025-03-01T00:00:00Z,1\n2025-03-01T01:00:00Z,NaN\n2025-03-01T02:00:00Z,1e999\n"
    response = admin_api.post(readings_url(machine), text, content_type="text/csv")
    assert response.status_code == 400
    assert [e["index"] for e in response.json()["rows"]] == [1, 2]
    assert not EnergyReading.objects.exists()


@pytest.mark.parametrize("timestamp", ["2025-03-01T00:00:00", "2025-03-01 00:00", "2025-03-01", "yesterday",
                                       1740787200])
def test_readings_naive_or_malformed_timestamps_are_400(admin_api, timestamp):
    machine = MachineFactory()
    response = admin_api.post(readings_url(machine), [{"timestamp": timestamp, "energy_kwh": 1}], format="json")
    assert response.status_code == 400
    assert "timestamp" in response.json()["rows"][0]["errors"]
    assert not EnergyReading.objects.exists()


@pytest.mark.parametrize("text", [
    "timestamp,energy_kwh\n2025-03-01T00:00:00Z,1,5\n",  # more values than header
    'timestamp,energy_kwh\n"2025-03-01T00:00:00Z,1\n',  # unterminated quote
    "",  # no header
    "timestamp,timestamp\n2025-03-01T00:00:00Z,2025-03-01T00:00:00Z\n",  # repeated column
])
def test_readings_malformed_csv_is_400(admin_api, text):
    machine = MachineFactory()
    response = admin_api.post(readings_url(machine), text, content_type="text/csv")
    assert response.status_code == 400
    assert response.json().keys() & {"detail", "non_field_errors"}
    assert not EnergyReading.objects.exists()


def test_readings_csv_not_utf8_is_400(admin_api):
    machine = MachineFactory()
    body = b"timestamp,energy_kwh\n2025-03-01T00:00:00Z,1\n" + b"\xff\xfe\n"
    response = admin_api.post(readings_url(machine), body, content_type="text/csv")
    assert response.status_code == 400
    assert not EnergyReading.objects.exists()


@pytest.mark.parametrize("body", ["{}", '{"timestamp": "2025-03-01T00:00:00Z", "energy_kwh": 1}', "[]", "[1",
                                  '"text"'])
def test_readings_body_must_be_a_non_empty_json_list(admin_api, body):
    machine = MachineFactory()
    response = admin_api.post(readings_url(machine), body, content_type="application/json")
    assert response.status_code == 400
    assert not EnergyReading.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=xyz"])
def test_readings_wrong_content_type_is_415(admin_api, content_type):
    machine = MachineFactory()
    response = admin_api.post(readings_url(machine), "timestamp=2025-03-01T00:00:00Z", content_type=content_type)
    assert response.status_code == 415
    assert "detail" in response.json()
    assert not EnergyReading.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_readings_body_over_the_limit_is_413(admin_api):
    machine = MachineFactory()
    rows = demo_rows(2)
    body = json.dumps(rows)
    assert len(body) > 2048
    response = admin_api.post(readings_url(machine), body, content_type="application/json")
    assert response.status_code == 413
    assert "detail" in response.json()
    assert not EnergyReading.objects.exists()
    small = admin_api.post(readings_url(machine), rows[:3], format="json")
    assert small.status_code == 200


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_csv_body_over_the_limit_is_413(admin_api):
    machine = MachineFactory()
    text = "timestamp,energy_kwh\n" + "".join(f"2025-03-01T{h:02d}:00:00Z,{h}.5\n" for h in range(24)) * 3
    response = admin_api.post(readings_url(machine), text, content_type="text/csv")
    assert response.status_code == 413
    assert not EnergyReading.objects.exists()


# --- readings list ------------------------------------------------------------------------------


def test_reading_output_is_exactly_drfs():
    machine = MachineFactory()
    store_rows(machine, demo_rows(1))
    EnergyReadingFactory(machine=machine, timestamp=datetime(2030, 1, 1, 0, 0, 0, 123, tzinfo=UTC),
                         production_units=None, is_anomaly=True)
    serializer = ReadingSerializer()
    for reading in EnergyReading.objects.filter(machine=machine):
        assert serializer.to_representation(reading) == serializers.ModelSerializer.to_representation(
            serializer, reading)


def test_readings_list_window_and_pagination(admin_api):
    machine = MachineFactory()
    other = MachineFactory()
    store_rows(machine, demo_rows(2))
    store_rows(other, demo_rows(2))
    url = readings_url(machine)

    body = admin_api.get(url).json()
    assert set(body) == PAGE_KEYS and body["count"] == 48
    assert len(body["results"]) == 48
    times = [r["timestamp"] for r in body["results"]]
    assert times == sorted(times)
    assert set(body["results"][0]) == {"timestamp", "energy_kwh", "production_units", "outdoor_temp_c",
                                       "operating_hours", "is_anomaly"}

    window = admin_api.get(url, {"start": "2025-01-06T10:00:00+00:00", "end": "2025-01-06T12:00:00+00:00"}).json()
    assert window["count"] == 2  # start inclusive, end exclusive
    assert [datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")).hour for r in window["results"]] == [10, 11]

    offset = admin_api.get(url, {"start": "2025-01-07T01:00:00+01:00"}).json()
    assert offset["count"] == 24

    page = admin_api.get(url, {"page_size": 10, "page": 2}).json()
    assert len(page["results"]) == 10 and page["next"] and page["previous"]


def test_readings_window_bounds_beyond_the_representable_range_are_clamped(admin_api):
    machine = MachineFactory()
    store_rows(machine, demo_rows(1))
    params = {"start": "0001-01-01T00:00:00+05:00", "end": "9999-12-31T23:00:00-05:00"}
    response = admin_api.get(readings_url(machine), params)
    assert response.status_code == 200 and response.json()["count"] == 24
    lower_case = admin_api.get(readings_url(machine), {"start": "2025-01-06t12:00:00z"})
    assert lower_case.status_code == 200 and lower_case.json()["count"] == 12
    # a reading at such an instant cannot be stored: 400, not a server error
    out_of_range = admin_api.post(readings_url(machine), [{"timestamp": "0001-01-01T00:00:00+05:00",
                                                           "energy_kwh": 1}], format="json")
    assert out_of_range.status_code == 400
    assert "timestamp" in out_of_range.json()["rows"][0]["errors"]


@pytest.mark.parametrize("params", [
    {"start": "2025-01-06T00:00:00"},  # naive
    {"start": " 2025-01-06T00:00:00Z"},
    {"end": "not a time"},
    {"start": "2025-01-07T00:00:00Z", "end": "2025-01-06T00:00:00Z"},
    {"start": "2025-01-07T00:00:00Z", "end": "2025-01-07T00:00:00Z"},
])
def test_readings_list_bad_window_is_400(admin_api, params):
    machine = MachineFactory()
    assert admin_api.get(readings_url(machine), params).status_code == 400


# --- baseline versions --------------------------------------------------------------------------


def test_baselines_list_filters(admin_api):
    m1, m2 = MachineFactory(), MachineFactory()
    a = EnergyBaselineFactory(machine=m1, version=1, status="retired")
    b = EnergyBaselineFactory(machine=m1, version=2, status="active")
    c = EnergyBaselineFactory(machine=m1, version=1, model_type="anomaly_detector")
    d = EnergyBaselineFactory(machine=m2, version=1)

    def ids(params=None):
        body = admin_api.get(BASELINES, params or {}).json()
        assert set(body) == PAGE_KEYS
        return {r["id"] for r in body["results"]}

    assert ids() == {str(x.pk) for x in (a, b, c, d)}
    assert ids({"machine_id": m1.pk}) == {str(x.pk) for x in (a, b, c)}
    assert ids({"machine_id": m1.pk, "model_type": "energy_baseline"}) == {str(a.pk), str(b.pk)}
    assert ids({"status": "active"}) == {str(b.pk)}
    assert ids({"model_type": "anomaly_detector"}) == {str(c.pk)}
    assert admin_api.get(BASELINES, {"status": "deleted"}).status_code == 400
    assert admin_api.get(BASELINES, {"machine_id": "nope"}).status_code == 400


def test_baseline_retrieve_has_the_contract_fields(admin_api):
    baseline = EnergyBaselineFactory(version=3, status="active")
    response = admin_api.get(f"{BASELINES}{baseline.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= BASELINE_KEYS
    assert "artifact" not in body and "reference_stats" not in body
    assert body["machine_id"] == str(baseline.machine_id)
    assert (body["model_type"], body["version"], body["status"]) == ("energy_baseline", 3, "active")
    assert body["training_metrics"] == baseline.training_metrics
    assert admin_api.get(f"{BASELINES}00000000-0000-4000-8000-000000000000/").status_code == 404


def test_baselines_are_read_only(admin_api):
    baseline = EnergyBaselineFactory()
    assert admin_api.post(BASELINES, {}, format="json").status_code == 405
    assert admin_api.patch(f"{BASELINES}{baseline.pk}/", {"status": "active"}, format="json").status_code == 405
    assert admin_api.delete(f"{BASELINES}{baseline.pk}/").status_code == 405


# --- predict and activate -----------------------------------------------------------------------


def test_predict_matches_the_engine_and_flags_extrapolation(admin_api):
    machine = MachineFactory()
    baseline = train_baseline(machine)
    ranges = baseline.driver_ranges
    assert "production_units" in ranges and "operating_hours" in ranges
    inside = {d: (lo + hi) / 2 for d, (lo, hi) in ranges.items()}
    rows = [
        {"timestamp": "2025-02-03T08:00:00Z", **inside},
        {"timestamp": "2025-02-03T09:00:00+01:00", **{d: lo for d, (lo, hi) in ranges.items()}},
        # production far above anything seen in training
        {"timestamp": "2025-02-03T10:00:00Z", **inside, "production_units": ranges["production_units"][1] * 3},
        # operating hours below the training range
        {"timestamp": "2025-02-03T11:00:00Z", **inside, "operating_hours": ranges["operating_hours"][0] - 0.05},
    ]
    response = admin_api.post(f"{BASELINES}{baseline.pk}/predict/", {"rows": rows}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"predictions", "extrapolated"}

    frame = pd.DataFrame(rows)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    expected = predict(pipeline_for(baseline), frame)
    assert np.allclose(body["predictions"], expected, rtol=1e-9, atol=1e-9)
    assert body["extrapolated"] == [False, False, True, True]
    assert all(np.isfinite(body["predictions"]))


def test_predict_validation(admin_api):
    machine = MachineFactory()
    baseline = train_baseline(machine, days=4)
    url = f"{BASELINES}{baseline.pk}/predict/"
    good = {"timestamp": "2025-02-03T08:00:00Z", "production_units": 20.0, "outdoor_temp_c": 10.0,
            "operating_hours": 1.0}
    assert admin_api.post(url, {}, format="json").status_code == 400
    assert admin_api.post(url, {"rows": []}, format="json").status_code == 400
    assert admin_api.post(url, [good], format="json").status_code == 400
    naive = admin_api.post(url, {"rows": [good, {**good, "timestamp": "2025-02-03T09:00:00"}]}, format="json")
    assert naive.status_code == 400 and naive.json()["rows"][0]["index"] == 1
    nan = admin_api.post(url, {"rows": [{**good, "outdoor_temp_c": "NaN"}]}, format="json")
    assert nan.status_code == 400
    missing_driver = admin_api.post(url, {"rows": [{"timestamp": good["timestamp"]}]}, format="json")
    assert missing_driver.status_code == 400
    assert admin_api.post(f"{BASELINES}00000000-0000-4000-8000-000000000000/predict/", {"rows": [good]},
                          format="json").status_code == 404


def test_predict_on_an_anomaly_detector_is_400(admin_api):
    detector = EnergyBaselineFactory(model_type="anomaly_detector")
    response = admin_api.post(f"{BASELINES}{detector.pk}/predict/",
                              {"rows": [{"timestamp": "2025-02-03T08:00:00Z"}]}, format="json")
    assert response.status_code == 400


def test_activate_retires_the_previous_active_version(admin_api):
    machine = MachineFactory()
    first = train_baseline(machine, days=4)
    second = train_baseline(machine, days=4, store=False)
    detector = EnergyBaselineFactory(machine=machine, model_type="anomaly_detector", version=1, status="active")
    assert (first.version, second.version) == (1, 2)

    response = admin_api.post(f"{BASELINES}{first.pk}/activate/")
    assert response.status_code == 200
    assert response.json()["id"] == str(first.pk) and response.json()["status"] == "active"

    response = admin_api.post(f"{BASELINES}{second.pk}/activate/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "active" and body["activated_at"]
    first.refresh_from_db()
    second.refresh_from_db()
    detector.refresh_from_db()
    assert first.status == "retired" and first.retired_at is not None
    assert second.status == "active"
    assert detector.status == "active"  # another model type is left alone

    again = admin_api.post(f"{BASELINES}{second.pk}/activate/")
    assert again.status_code == 200 and again.json()["status"] == "active"
    assert EnergyBaseline.objects.filter(machine=machine, model_type="energy_baseline", status="active").count() == 1


def test_activate_without_a_fitted_model_is_400(admin_api):
    baseline = EnergyBaselineFactory()
    response = admin_api.post(f"{BASELINES}{baseline.pk}/activate/")
    assert response.status_code == 400
    baseline.refresh_from_db()
    assert baseline.status == "candidate"


def test_readings_ingested_through_the_api_train_a_baseline(admin_api):
    machine = MachineFactory()
    rows = demo_rows(10)
    for start in range(0, len(rows), 100):
        assert admin_api.post(readings_url(machine), rows[start:start + 100], format="json").status_code == 200
    assert EnergyReading.objects.filter(machine=machine).count() == 240
    baseline = baseline_train(machine=machine, training_start=DEMO_START.to_pydatetime(),
                              training_end=(DEMO_START + timedelta(days=10)).to_pydatetime())
    assert baseline.training_sample_count == 240
    assert baseline.holdout_metrics["cv_rmse"] < 0.3

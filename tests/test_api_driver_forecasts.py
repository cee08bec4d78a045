"""Driver forecasts: validated like readings, all or nothing, a later upload replaces the earlier."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from baselines.models import DriverForecast
from tests.factories import MachineFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(machine) -> str:
    return f"/api/v1/machines/{machine.pk}/driver-forecasts/"


def hours(n: int, start: datetime | None = None, **drivers) -> list[dict]:
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    return [{"timestamp": (start + timedelta(hours=i)).isoformat(), **drivers} for i in range(n)]


def test_json_upload_then_a_later_upload_replaces_the_hours_it_names(admin_api):
    machine = MachineFactory()
    response = admin_api.post(url(machine), hours(48, outdoor_temp_c=5.0), format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 48, "created": 48, "updated": 0}

    # A production plan for the last day and the next: the temperature forecast is kept.
    plan = hours(48, datetime(2026, 1, 2, tzinfo=UTC), production_units=20.0, operating_hours=1.0)
    response = admin_api.post(url(machine), plan, format="json")
    assert response.json() == {"received": 48, "created": 24, "updated": 24}
    assert DriverForecast.objects.filter(machine=machine).count() == 72
    both = DriverForecast.objects.get(machine=machine, timestamp=datetime(2026, 1, 2, 5, tzinfo=UTC))
    assert (both.outdoor_temp_c, both.production_units, both.operating_hours) == (5.0, 20.0, 1.0)

    # A newer weather forecast replaces the older values.
    response = admin_api.post(url(machine), hours(24, outdoor_temp_c=-3.0), format="json")
    assert response.json() == {"received": 24, "created": 0, "updated": 24}
    assert set(DriverForecast.objects.filter(machine=machine, timestamp__lt=datetime(2026, 1, 2, tzinfo=UTC))
               .values_list("outdoor_temp_c", flat=True)) == {-3.0}


def test_csv_upload(admin_api):
    machine = MachineFactory()
    text = ("timestamp,outdoor_temp_c,production_units\n"
            "2026-01-01T00:00:00Z,-1.5,10\n2026-01-01T00:00:00+01:00,,12\n2026-01-01T01:00:00Z,0.5,\n")
    response = admin_api.post(url(machine), text, content_type="text/csv")
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 3, "created": 3, "updated": 0}
    stored = list(DriverForecast.objects.filter(machine=machine).order_by("timestamp")
                  .values_list("outdoor_temp_c", "production_units"))
    assert stored == [(None, 12.0), (-1.5, 10.0), (0.5, None)]


def test_future_hours_up_to_the_forecast_horizon(admin_api, settings):
    machine = MachineFactory()
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    ok = hours(1, now + timedelta(days=settings.ENMS_FORECAST_HORIZON_DAYS - 1), outdoor_temp_c=1.0)
    assert admin_api.post(url(machine), ok, format="json").status_code == 200
    too_far = hours(1, now + timedelta(days=settings.ENMS_FORECAST_HORIZON_DAYS + 2), outdoor_temp_c=1.0)
    response = admin_api.post(url(machine), too_far, format="json")
    assert response.status_code == 400
    assert "timestamp" in response.json()["rows"][0]["errors"]


@pytest.mark.parametrize("bad_row, field", [
    ({"timestamp": "2026-01-01T05:00:00Z", "energy_kwh": 3.0, "outdoor_temp_c": 1.0}, "non_field_errors"),
    ({"timestamp": "2026-01-01T05:00:00Z", "outdoor_temp_c": 99.0}, "outdoor_temp_c"),
    ({"timestamp": "2026-01-01T05:00:00Z", "outdoor_temp_c": "NaN"}, "outdoor_temp_c"),
    ({"timestamp": "2026-01-01T05:00:00Z", "production_units": -1}, "production_units"),
    ({"timestamp": "2026-01-01T05:00:00", "outdoor_temp_c": 1.0}, "timestamp"),
    ({"outdoor_temp_c": 1.0}, "timestamp"),
    ({"timestamp": "2026-01-01T00:00:00Z", "outdoor_temp_c": 1.0}, "timestamp"),  # repeats row 0
])
def test_any_bad_row_is_400_and_nothing_is_written(admin_api, bad_row, field):
    machine = MachineFactory()
    rows = [*hours(3, outdoor_temp_c=2.0), bad_row]
    response = admin_api.post(url(machine), rows, format="json")
    assert response.status_code == 400
    [error] = response.json()["rows"]
    assert error["index"] == 3 and field in error["errors"]
    assert not DriverForecast.objects.exists()


@pytest.mark.parametrize("body", [[], {}, "text", [1]])
def test_body_must_be_a_non_empty_list_of_objects(admin_api, body):
    machine = MachineFactory()
    response = admin_api.post(url(machine), body, format="json")
    assert response.status_code == 400
    assert not DriverForecast.objects.exists()


def test_needs_the_add_permission_on_driver_forecasts(api_client):
    from django.contrib.auth.models import Permission

    machine = MachineFactory()
    user = UserFactory()
    api_client.force_authenticate(user)
    assert api_client.post(url(machine), hours(1, outdoor_temp_c=1.0), format="json").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="add_driverforecast"))
    user = type(user).objects.get(pk=user.pk)
    api_client.force_authenticate(user)
    assert api_client.post(url(machine), hours(1, outdoor_temp_c=1.0), format="json").status_code == 200


def test_anonymous_is_401(api_client):
    machine = MachineFactory()
    assert api_client.post(url(machine), hours(1, outdoor_temp_c=1.0), format="json").status_code == 401

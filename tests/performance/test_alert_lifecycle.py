"""Alerts tell what their evidence says: current and peak severity with the checks that set them,
plain-words messages, recovery after clean checks, superseded on retirement, re-baseline and A/B
stop decided by staff."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission

from baselines.services import baseline_activate
from performance.alert_text import describe_drift, describe_impact
from performance.models import ModelABTest, ModelAlert, ModelTrainingHistory
from performance.services.alerts import alert_note_clean, alert_raise, alerts_supersede
from tests.factories import (
    T0,
    EnergyBaselineFactory,
    ModelABTestFactory,
    ModelPerformanceMetricFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PERF = "/api/v1/model-performance/"
CHANGE = T0 + timedelta(days=66, hours=14)


def _check(model, *, nmbe=0.12, severity_score=0.9, impact=True, at=None):
    details = {
        "concept_drift": {"nmbe": nmbe, "cv_rmse": 0.21, "error_ratio": 1.8, "change_point": CHANGE.isoformat(),
                          "shift_relative": nmbe, "direction": "up", "drifted": True},
        "data_drift": {"outdoor_temp_c": {"drifted": True, "out_of_range_share": 0.25}},
        "reasons": ["residual level shift starting at index 163"],
        "cause": "consumption_change" if impact else "model_error",
        "impact": {"direction": "up", "percent": 100 * nmbe, "kwh_per_day": 84.2, "kwh_since_change": 421.0,
                   "change_point": CHANGE.isoformat(), "cost": None, "co2_kg": None} if impact else None,
    }
    return ModelPerformanceMetricFactory(
        model=model, source="drift_check", drift_detected=severity_score > 0.3, drift_score=severity_score,
        nmbe=nmbe, cv_rmse=0.21, drift_details=details, evaluation_start=T0 + timedelta(days=64),
        evaluation_end=T0 + timedelta(days=71), **({"evaluated_at": at} if at else {}),
    )


def _raise(model, severity, metric):
    alert, _ = alert_raise(machine=model.machine, model=model, model_type=model.model_type, alert_type="drift",
                           severity=severity, metric=metric)
    return alert


def test_message_is_written_from_the_evidence_and_agrees_with_the_badge():
    model = EnergyBaselineFactory(machine__time_zone="Europe/Berlin")
    alert = _raise(model, "critical", _check(model))
    assert alert.message.startswith("Critical drift on") and f"v{model.version}" in alert.message
    # Plain words: the impact in % and kWh and the change point in local time; no indices or p-values.
    assert "12.0 % above the baseline" in alert.message and "+84 kWh a day" in alert.message
    assert "+421 kWh so far" in alert.message and "15:00 (Europe/Berlin)" in alert.message
    assert "index" not in alert.message and "p =" not in alert.message
    assert "outdoor_temp_c (25.0 % of hours)" in alert.message
    assert alert.details["cause"] == "consumption_change" and alert.details["change_point"] == CHANGE.isoformat()


def test_severity_follows_the_latest_check_and_the_peak_keeps_its_evidence():
    model = EnergyBaselineFactory()
    first_check = _check(model, nmbe=0.15)
    alert = _raise(model, "critical", first_check)
    assert (alert.severity, alert.peak_severity) == ("critical", "critical")
    assert alert.metric_id == alert.peak_metric_id == first_check.pk
    milder = _check(model, nmbe=-0.005, severity_score=0.4, impact=False)
    alert = _raise(model, "warning", milder)
    assert (alert.severity, alert.peak_severity) == ("warning", "critical")
    assert alert.metric_id == milder.pk and alert.peak_metric_id == first_check.pk
    assert alert.message.startswith("Warning drift") and "-0.5 %" in alert.message
    assert alert.details["peak"]["metric_id"] == str(first_check.pk)
    assert alert.details["peak"]["message"].startswith("Critical drift") and alert.occurrences == 2


def test_recovered_after_the_policys_number_of_clean_checks():
    model = EnergyBaselineFactory()
    alert = _raise(model, "warning", _check(model))
    for n in (1, 2):
        assert alert_note_clean(model=model, alert_type="drift", metric=ModelPerformanceMetricFactory(model=model))
        alert.refresh_from_db()
        assert not alert.is_resolved and alert.details["clean_checks"] == n
    # A dirty check in between starts the count again.
    _raise(model, "warning", _check(model))
    alert.refresh_from_db()
    assert alert.details["clean_checks"] == 0
    for _ in range(3):
        alert_note_clean(model=model, alert_type="drift", metric=ModelPerformanceMetricFactory(model=model))
    alert.refresh_from_db()
    assert alert.is_resolved and alert.resolution == "recovered" and alert.resolved_by is None
    assert "3 consecutive clean checks" in alert.resolution_notes


def test_recovery_count_comes_from_the_machines_policy():
    model = EnergyBaselineFactory(machine__policy_overrides={"recovery_clean_checks": 1})
    alert = _raise(model, "warning", _check(model))
    alert_note_clean(model=model, alert_type="drift", metric=ModelPerformanceMetricFactory(model=model))
    alert.refresh_from_db()
    assert alert.resolution == "recovered"


def test_policy_rejects_a_bad_recovery_count():
    from enms.policy import policy_overrides_errors

    assert policy_overrides_errors({"recovery_clean_checks": 0})
    assert policy_overrides_errors({"recovery_clean_checks": 2.5})
    assert not policy_overrides_errors({"recovery_clean_checks": 5})


def test_alerts_of_a_retired_version_are_superseded():
    old = EnergyBaselineFactory(status="active")
    new = EnergyBaselineFactory(machine=old.machine)
    alert = _raise(old, "critical", _check(old))
    baseline_activate(baseline=new)
    alert.refresh_from_db()
    assert alert.is_resolved and alert.resolution == "superseded"
    assert f"v{new.version} became active" in alert.resolution_notes
    assert alerts_supersede() == 0


def _rebaseline_user(*perms):
    user = UserFactory()
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def test_rebaseline_trains_from_the_change_point_and_resolves_the_alert(api_client):
    model = EnergyBaselineFactory(status="active")
    alert = _raise(model, "critical", _check(model))
    user = _rebaseline_user("change_energybaseline")
    api_client.force_authenticate(user)
    url = f"{PERF}alerts/{alert.pk}/rebaseline"
    assert api_client.post(url, {"reason": "  "}, format="json").status_code == 400
    assert not ModelTrainingHistory.objects.exists()
    response = api_client.post(url, {"reason": "Second shift added."}, format="json")
    assert response.status_code == 202, response.content
    job = ModelTrainingHistory.objects.get(pk=response.json()["training_id"])
    assert job.trigger_type == "rebaseline" and job.trigger_reason == "Second shift added."
    assert job.training_start == CHANGE and job.model_id == model.pk and job.triggered_by == user
    alert.refresh_from_db()
    assert alert.is_resolved and alert.resolution == "rebaselined" and alert.resolved_by == user
    assert alert.resolution_notes == "Second shift added."
    assert api_client.post(url, {"reason": "again"}, format="json").status_code == 409


def test_rebaseline_explicit_start_permission_and_missing_change_point(api_client):
    model = EnergyBaselineFactory(status="active")
    alert, _ = alert_raise(machine=model.machine, model=model, model_type=model.model_type, alert_type="drift",
                           severity="warning", message="no evidence")
    url = f"{PERF}alerts/{alert.pk}/rebaseline"
    api_client.force_authenticate(_rebaseline_user("view_modelalert", "change_modelalert"))
    assert api_client.post(url, {"reason": "x"}, format="json").status_code == 403
    api_client.force_authenticate(_rebaseline_user("change_energybaseline"))
    response = api_client.post(url, {"reason": "x"}, format="json")
    assert response.status_code == 400 and "training_start" in response.json()
    start = datetime(2025, 3, 1, tzinfo=UTC)
    response = api_client.post(url, {"reason": "x", "training_start": start.isoformat()}, format="json")
    assert response.status_code == 202
    assert ModelTrainingHistory.objects.get().training_start == start


def test_alert_api_exposes_the_evidence_fields(admin_api):
    model = EnergyBaselineFactory()
    check = _check(model)
    alert = _raise(model, "critical", check)
    body = admin_api.get(f"{PERF}alerts/{alert.pk}/").json()
    assert body["severity"] == body["peak_severity"] == "critical"
    assert body["metric_id"] == body["peak_metric_id"] == str(check.pk)
    assert body["resolution"] is None and body["message"] == alert.message
    active = admin_api.get(f"{PERF}alerts/active").json()["results"][0]
    assert active["metric_id"] == str(check.pk) and active["peak_severity"] == "critical"


def test_ab_stop_is_inconclusive_promotes_nothing_and_conflicts_when_not_running(api_client):
    test = ModelABTestFactory(status="running", model_a__status="active")
    url = f"{PERF}ab-test/{test.pk}/stop"
    api_client.force_authenticate(_rebaseline_user("view_modelabtest"))
    assert api_client.post(url, {"reason": "x"}, format="json").status_code == 403
    api_client.force_authenticate(_rebaseline_user("change_modelabtest", "view_modelabtest"))
    response = api_client.post(url, {"reason": "Line shut down."}, format="json")
    assert response.status_code == 200, response.content
    test.refresh_from_db()
    assert test.status == "stopped" and test.decision == "inconclusive" and test.winner_id is None
    assert test.results["stopped"]["reason"] == "Line shut down."
    test.model_a.refresh_from_db()
    test.model_b.refresh_from_db()
    assert (test.model_a.status, test.model_b.status) == ("active", "candidate")
    assert api_client.post(url, {}, format="json").status_code == 409
    results = api_client.get(f"{PERF}ab-test/{test.pk}/results")
    assert results.status_code in (200, 403)
    assert ModelABTest.objects.get(pk=test.pk).status == "stopped"


def test_impact_words_handle_savings_and_missing_fields():
    text = describe_impact({"direction": "down", "percent": -11.2, "kwh_per_day": -40.0, "kwh_since_change": None,
                            "change_point": None, "cost": -12.5, "co2_kg": 9.0}, None)
    assert text == "energy use is 11.2 % below the baseline: -40 kWh a day (cost -12.50, 9 kg CO2)"
    assert describe_impact(None, None) is None
    assert describe_drift({}, subject="M v1", severity="warning", tz=None) == "Warning drift on M v1."
    assert ModelAlert.objects.count() == 0

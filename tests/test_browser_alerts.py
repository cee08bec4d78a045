"""Sign-in, alerts from evidence to action, the machine timeline, CUSUM, phone fleet and A/B stop,
in headless Chromium against a live server, on one small machine (not the demo plant).

Run with `pytest --run-slow tests/test_browser_alerts.py`; screenshots land in test-artifacts/.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from baselines.models import EnergyBaseline, Machine
from baselines.services import baseline_activate
from performance.models import ModelABTest, ModelAlert, ModelTrainingHistory
from performance.services.alerts import alert_note_clean, alert_raise
from tests import test_browser
from tests.factories import ModelPerformanceMetricFactory, UserFactory
from tests.test_api_baselines import DEMO_START, demo_rows, store_rows, train_baseline
from tests.test_browser import PAINTED_PIXELS, model_path, open_page, screenshot, wait_painted

# The live-server, Chromium and sign-in fixtures of the dashboard's browser tests, and their marks.
pytestmark = test_browser.pytestmark
browser = test_browser.browser
contexts = test_browser.contexts
admin_user = test_browser.admin_user

DAYS = 35
CHANGE = DEMO_START.to_pydatetime() + timedelta(days=30, hours=6)


def _version(machine, days):
    """A trained version on the first `days` of the machine's readings (real artifact)."""
    return train_baseline(machine, days=days, store=False)


@pytest.fixture
def press(transactional_db):
    """One machine, 35 days of hourly readings, v1 active (trained on 21 days), daily checks."""
    machine = Machine.objects.create(name="Press P1", machine_type="press", site="North",
                                     policy_overrides={"promotion_mode": "keep"})
    store_rows(machine, demo_rows(DAYS))
    v1 = _version(machine, 21)
    baseline_activate(baseline=v1)
    for day in range(21, DAYS):
        ModelPerformanceMetricFactory(model=v1, evaluated_at=DEMO_START.to_pydatetime() + timedelta(days=day, hours=23),
                                      source="evaluation", cv_rmse=0.1 + day / 1000, nmbe=0.01, r_squared=0.8)
    return {"machine": machine, "v1": EnergyBaseline.objects.get(pk=v1.pk)}


def drift_evidence(model, severity="critical", hour=0):
    check = ModelPerformanceMetricFactory(
        model=model, source="drift_check", drift_detected=True, drift_score=0.9, nmbe=0.12, cv_rmse=0.21,
        evaluated_at=DEMO_START.to_pydatetime() + timedelta(days=DAYS, hours=hour),
        evaluation_start=CHANGE - timedelta(days=3),
        evaluation_end=CHANGE + timedelta(days=4),
        drift_details={"cause": "consumption_change",
                       "impact": {"direction": "up", "percent": 12.0, "kwh_per_day": 84.0, "kwh_since_change": 400.0,
                                  "change_point": CHANGE.isoformat(), "cost": None, "co2_kg": None},
                       "concept_drift": {"nmbe": 0.12, "cv_rmse": 0.21, "change_point": CHANGE.isoformat(),
                                         "drifted": True},
                       "data_drift": {"outdoor_temp_c": {"psi": 0.05, "drifted": False}}, "reasons": []})
    alert, _ = alert_raise(machine=model.machine, model=model, model_type=model.model_type, alert_type="drift",
                           severity=severity, metric=check)
    return alert, check


VIEW = ("view_machine", "view_energybaseline", "view_energyreading", "view_modelperformancemetric",
        "view_modelalert", "view_modeltraininghistory", "view_modelabtest")
WRITE = ("add_modelperformancemetric", "add_modeltraininghistory", "add_modelabtest", "change_modelalert",
         "change_energybaseline", "change_modelabtest")


def _grant(user, codenames):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames,
                                                         content_type__app_label__in=("baselines", "performance")))


def test_non_staff_signs_in_sees_pages_without_controls_until_granted(contexts, live_server, press):
    drift_evidence(press["v1"])
    user = UserFactory(username="operator1", is_staff=False)
    user.set_password("pw-operator-123")
    user.save()
    _grant(user, VIEW)
    page = contexts(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(live_server.url + "/ui/fleet")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "operator1")
    page.fill("#id_password", "pw-operator-123")
    page.click("#sign-in")
    page.wait_for_url("**/ui/fleet")
    assert "operator1" in page.inner_text("#signed-in-as")
    page.locator("#fleet-table tbody tr").first.wait_for()
    page.goto(live_server.url + model_path(press["v1"]))
    page.locator(".alert-card").first.wait_for()
    assert page.locator("#controls").count() == 0
    assert page.locator(".alert-card .resolve, .alert-card .alert-rebaseline, .alert-card .alert-retrain").count() == 0
    screenshot(page, "signin_viewer_model_page")

    _grant(user, WRITE)
    page.reload()
    page.locator(".alert-card .alert-rebaseline").wait_for()
    assert page.locator("#run-drift, #trigger-retrain").count() == 2
    assert page.locator(".alert-card .resolve").count() == 1 and page.locator(".alert-card .alert-retrain").count() == 1


def test_fleet_to_alert_to_evidence_to_actions(contexts, live_server, press, admin_user):
    v1 = press["v1"]
    drift, check = drift_evidence(v1)
    degradation, _ = alert_raise(machine=v1.machine, model=v1, model_type=v1.model_type, alert_type="degradation",
                                 severity="warning", metric=ModelPerformanceMetricFactory(
                                     model=v1, rmse_degradation=0.3, cv_rmse=0.2, nmbe=0.05))
    page = open_page(contexts, live_server, admin_user, "/ui/fleet")
    badge = page.locator("a.alert-badge.critical")
    assert "critical" in badge.inner_text()
    badge.click()  # one click: the machine's page, its alerts first
    page.wait_for_url("**/ui/model-performance?**")
    card = page.locator(f'.alert-card[data-alert-id="{drift.pk}"]')
    card.wait_for()
    # The badge and the text tell the stored evidence.
    assert card.locator(".badge").first.inner_text() == "critical" and "Critical drift" in card.inner_text()
    assert "12.0 % above the baseline" in card.inner_text()
    box = page.locator("#alerts").bounding_box()
    assert box["y"] < 300  # the alerts lead the page
    card.locator("button.evidence").click()  # one more click: the stored check
    evidence = card.locator(".alert-evidence")
    evidence.locator(".chart-range-link").wait_for()
    assert "NMBE +12.0 %" in evidence.inner_text()
    assert f"metrics/{check.pk}/" in evidence.locator("a.raw-link").get_attribute("href")

    other = page.locator(f'.alert-card[data-alert-id="{degradation.pk}"]')
    other.locator("input[name=resolution_notes]").fill("Sensor recalibrated")
    other.locator("button.resolve").click()
    other.wait_for(state="detached")
    degradation.refresh_from_db()
    assert degradation.resolution == "manual" and degradation.resolution_notes == "Sensor recalibrated"

    card.locator("button.alert-retrain").click()
    card.locator(".form-result.ok").wait_for(timeout=120_000)  # the job trains eagerly in the request
    job = ModelTrainingHistory.objects.get(trigger_type="manual")
    assert job.model_id == v1.pk
    # The panels the retraining touched refresh first (under load this lands after the typing).
    page.wait_for_load_state("networkidle")

    card.locator("input[name=resolution_notes]").fill("Second shift added on line 2")
    card.locator("button.alert-rebaseline").click()
    # The outcome stays above the list after the resolved alert's card leaves it.
    outcome = page.locator("#alerts-outcome")
    outcome.wait_for(state="visible", timeout=120_000)
    assert "Re-baseline queued" in outcome.inner_text() and "the alert is resolved" in outcome.inner_text()
    drift.refresh_from_db()
    assert drift.resolution == "rebaselined" and drift.resolution_notes == "Second shift added on line 2"
    rebase = ModelTrainingHistory.objects.get(trigger_type="rebaseline")
    assert rebase.trigger_reason == "Second shift added on line 2" and rebase.training_start == CHANGE
    screenshot(page, "alert_to_action")
    assert page.js_errors == []


def test_recovered_and_superseded_alerts_leave_the_banner(contexts, live_server, press, admin_user):
    v1 = press["v1"]
    alert, _ = drift_evidence(v1, severity="warning")
    page = open_page(contexts, live_server, admin_user, model_path(v1))
    card = page.locator(f'.alert-card[data-alert-id="{alert.pk}"]')
    card.wait_for()
    for _ in range(3):
        alert_note_clean(model=v1, alert_type="drift", metric=ModelPerformanceMetricFactory(model=v1))
    card.wait_for(state="detached", timeout=20_000)  # the banner refreshes every 10 s
    shown = page.evaluate("(id) => window.enms.api('GET', '/api/v1/model-performance/alerts/' + id + '/')"
                          ".then((r) => [r.data.resolution, r.data.resolution_notes])", str(alert.pk))
    assert shown[0] == "recovered" and "3 consecutive clean checks" in shown[1]

    second, _ = drift_evidence(v1, hour=1)
    page.reload()
    page.locator(f'.alert-card[data-alert-id="{second.pk}"]').wait_for()
    v2 = _version(v1.machine, 28)
    baseline_activate(baseline=v2)
    second.refresh_from_db()
    assert second.resolution == "superseded" and f"v{v2.version} became active" in second.resolution_notes
    page.locator(f'.alert-card[data-alert-id="{second.pk}"]').wait_for(state="detached", timeout=20_000)


def test_timeline_keeps_history_across_a_promotion_and_cusum_paints(contexts, live_server, press, admin_user):
    v1 = press["v1"]
    v2 = _version(v1.machine, 28)
    baseline_activate(baseline=v2)
    EnergyBaseline.objects.filter(pk=v2.pk).update(activated_at=DEMO_START.to_pydatetime() + timedelta(days=28))
    for day in range(29, DAYS):
        ModelPerformanceMetricFactory(model=v2, evaluated_at=DEMO_START.to_pydatetime() + timedelta(days=day, hours=12),
                                      source="evaluation", cv_rmse=0.09, nmbe=0.0, r_squared=0.85)
    page = open_page(contexts, live_server, admin_user, model_path(EnergyBaseline.objects.get(pk=v2.pk),
                                                                   range="all"))
    wait_painted(page, ("cv_rmse", "cusum"))
    days = page.evaluate("() => window.enmsCharts.cv_rmse.data.datasets[0].data.length")
    assert days == (DAYS - 21)  # v1's days and v2's, one point a day
    markers = page.evaluate("() => window.enmsCharts.cv_rmse.data.datasets.filter((d) => d.isMarker)"
                            ".map((d) => d.versionLabel)")
    assert f"v{v2.version} active" in markers
    assert page.evaluate("() => window.enmsCharts.cv_rmse.data.datasets.some((d) => (d.label || '')"
                         ".startsWith('Training period'))")
    in_sample = page.evaluate("() => window.enmsCharts.cv_rmse.data.datasets[0].data.filter((p) => p.inSample).length")
    assert in_sample == 28 - 21  # v1's evaluations on days 21..27 lie inside v2's training window
    assert page.evaluate(PAINTED_PIXELS, "cusum") > 1000
    assert "kWh" in page.inner_text("#cusum-summary")
    screenshot(page, "timeline_cusum")
    assert page.js_errors == []


def test_fleet_on_a_phone_shows_each_status_without_scrolling(contexts, live_server, press, admin_user):
    drift_evidence(press["v1"])
    other = Machine.objects.create(name="Oven O2 with a rather long name", machine_type="oven", site="South")
    store_rows(other, demo_rows(21, DEMO_START + pd.Timedelta(days=1)))
    page = open_page(contexts, live_server, admin_user, "/ui/fleet", width=390, height=844)
    page.locator("#fleet-table tbody tr").first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    statuses = page.locator("#fleet-table .cell-status")
    assert statuses.count() >= 3
    for i in range(statuses.count()):
        box = statuses.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, i
    assert "critical" in page.locator("a.alert-badge").first.inner_text()
    screenshot(page, "fleet_phone_cards")


def test_ab_stop_from_page_admin_and_api(contexts, live_server, press, admin_user):
    v1 = press["v1"]
    v2 = _version(v1.machine, 28)
    start = DEMO_START.to_pydatetime() + timedelta(days=28)

    def running(name):
        return ModelABTest.objects.create(name=name, machine=v1.machine, model_type=v1.model_type, model_a=v1,
                                          model_b=v2, started_at=start, ends_at=start + timedelta(days=30))

    test = running("page test")
    page = open_page(contexts, live_server, admin_user, model_path(v1))
    stop = page.locator(f'.ab-card[data-ab-id="{test.pk}"] button.ab-stop')
    stop.wait_for()
    stop.click()
    page.locator(f'.ab-card[data-ab-id="{test.pk}"][data-status="stopped"]').wait_for(timeout=20_000)
    test.refresh_from_db()
    assert (test.status, test.decision, test.winner_id) == ("stopped", "inconclusive", None)

    test = running("admin test")
    page.goto(live_server.url + reverse("admin:performance_modelabtest_changelist"))
    page.check(f'input[name="_selected_action"][value="{test.pk}"]')
    page.select_option('select[name="action"]', "stop_selected")
    page.click('button[name="index"]')
    page.wait_for_selector(".messagelist")
    assert "Stopped 1 A/B test" in page.inner_text(".messagelist")
    assert ModelABTest.objects.get(pk=test.pk).status == "stopped"

    # The admin add form refuses a second running test with one error and no success message.
    test = running("api test")
    page.goto(live_server.url + reverse("admin:performance_modelabtest_add"))
    page.fill("#id_name", "conflicting")
    page.select_option("#id_machine", str(v1.machine.pk))
    page.select_option("#id_model_a", str(v1.pk))
    page.select_option("#id_model_b", str(v2.pk))
    page.click('input[name="_save"]')
    page.wait_for_selector(".errornote, .errorlist")
    body = page.inner_text("#content")
    assert body.count("already has a running A/B test") == 1 and "successfully" not in body
    assert ModelABTest.objects.filter(name="conflicting").count() == 0

    statuses = page.evaluate("""async (id) => {
        const stop = () => fetch('/api/v1/model-performance/ab-test/' + id + '/stop', {method: 'POST',
          headers: {'Content-Type': 'application/json', 'X-CSRFToken': document.cookie.match(/csrftoken=([^;]+)/)[1]},
          body: JSON.stringify({reason: 'API stop'})}).then((r) => r.status);
        return [await stop(), await stop()];
    }""", str(test.pk))
    assert statuses == [200, 409]
    assert ModelAlert.objects.filter(alert_type="ab_test_completed").count() == 0

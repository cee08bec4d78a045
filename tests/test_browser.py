"""The dashboard in headless Chromium against a live server with the demo plant loaded.

Run with `pytest --run-slow tests/test_browser.py`; screenshots land in test-artifacts/.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from baselines.models import EnergyBaseline, EnergyReading, Machine
from performance.models import ModelABTest, ModelAlert, ModelTrainingHistory
from performance.selectors import metrics_list, metrics_trend
from tests.factories import ModelAlertFactory, UserFactory

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
CHART_JS = Path(settings.BASE_DIR) / "static" / "vendor" / "chart.umd.min.js"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
TREND_CHARTS = ("r_squared", "rmse", "cv_rmse", "nmbe", "drift_score")
OPERATOR_PERMS = ("add_modelperformancemetric", "add_modeltraininghistory", "add_modelabtest", "change_modelalert")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium"),
    pytest.mark.skipif(not CHART_JS.exists(), reason="run `make static` to copy Chart.js into static/vendor"),
]

PAINTED_PIXELS = """(name) => {
  const chart = window.enmsCharts[name];
  const canvas = chart.canvas;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
}"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the tests
    # make between browser steps are still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def plant(transactional_db):
    """The demo plant: three machines, 60 days of readings, first models trained on 42 days and
    daily evaluations and drift checks over the rest."""
    call_command("seed_demo", days=60, train_days=42, machines=3, no_progress=True)
    machine = Machine.objects.get(name="Compressor C2")
    model = EnergyBaseline.objects.get(machine=machine, model_type="energy_baseline", status="active")
    return {"machine": machine, "model": model}


@pytest.fixture
def admin_user(transactional_db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser(username="root", password="pw-root-123", email="")


@pytest.fixture
def contexts(browser, transactional_db):
    """Browser contexts opened by a test, closed before its database is flushed (their pages
    keep polling the API)."""
    opened = []

    def new_context(**options):
        context = browser.new_context(**{"timezone_id": "UTC", "locale": "en-GB", **options})
        opened.append(context)
        return context

    yield new_context
    for context in opened:
        context.close()


def open_page(contexts, live_server, user, path, *, width=1280, height=900):
    """A new browser page logged in as `user` (session cookie from the test client), at `path`."""
    client = Client()
    client.force_login(user)
    context = contexts(viewport={"width": width, "height": height})
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    watch_csp(page, errors)
    page.js_errors = errors
    page.goto(live_server.url + path)
    return page


# Chromium reports a Content-Security-Policy violation on the console ("Refused to execute inline
# script because it violates ...") and as a `securitypolicyviolation` event.
RECORD_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__cspViolations = window.__cspViolations || []).push(e.violatedDirective + " " + e.blockedURI);
});"""


def watch_csp(page, errors: list[str]) -> None:
    """Record every CSP violation of `page` (console and DOM event) into `errors`."""
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda msg: errors.append(f"console: {msg.text}")
            if "Content Security Policy" in msg.text else None)


def csp_violations(page) -> list[str]:
    return page.evaluate("() => window.__cspViolations || []")


def model_path(model, **extra) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"machine": model.machine_id, "model": model.pk, **extra}.items())
    return f"/ui/model-performance?{query}"


def wait_painted(page, names, timeout=20_000):
    page.wait_for_function("(names) => names.every((n) => window.enmsPaint && window.enmsPaint[n])", arg=list(names),
                           timeout=timeout)


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_charts_render_with_every_point(contexts, live_server, plant, admin_user):
    model = plant["model"]
    page = open_page(contexts, live_server, admin_user, model_path(model))
    wait_painted(page, (*TREND_CHARTS, "actual_vs_predicted"))

    for name in TREND_CHARTS:
        expected = len(metrics_trend(model=model, metric=name, bucket="day")["points"])
        assert expected > 10, name
        assert page.evaluate("(n) => window.enmsCharts[n].data.datasets[0].data.length", name) == expected, name
        assert page.evaluate(PAINTED_PIXELS, name) > 2000, name

    guides = page.evaluate("""() => Object.fromEntries(["cv_rmse", "nmbe"].map((n) => [n,
        window.enmsCharts[n].data.datasets.slice(1).map((d) => [d.label, d.data[0].y])]))""")
    assert ["ASHRAE limit 30 %", 30] in guides["cv_rmse"]
    assert ["ASHRAE limit ±10 %", 10] in guides["nmbe"] and [None, -10] in guides["nmbe"]
    reference = model.holdout_metrics["cv_rmse"] * 100
    assert any(label.startswith("Training value") and abs(y - reference) < 1e-9 for label, y in guides["cv_rmse"])

    # Actual vs predicted: the last 7 whole days of readings (the browser runs in UTC here).
    last = EnergyReading.objects.filter(machine=model.machine).latest("timestamp").timestamp
    day_end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    hours = EnergyReading.objects.filter(machine=model.machine, timestamp__gte=day_end - timedelta(days=7),
                                         timestamp__lt=day_end).count()
    assert hours == 168
    points = page.evaluate("() => window.enmsCharts.actual_vs_predicted.data.datasets.map((d) => d.data.length)")
    assert points[:2] == [hours, hours]
    assert page.evaluate(PAINTED_PIXELS, "actual_vs_predicted") > 2000
    assert "168 h" in page.inner_text("#avp-summary")
    assert page.locator("#latest-metrics .stat").count() >= 5
    screenshot(page, "model_performance_desktop")

    # Per-driver drift details of the day under the clicked point.
    page.locator("#chart-drift_score").scroll_into_view_if_needed()
    box = page.evaluate("""() => {
        const chart = window.enmsCharts.drift_score, meta = chart.getDatasetMeta(0);
        const point = meta.data[meta.data.length - 1];
        const rect = chart.canvas.getBoundingClientRect();
        return {x: rect.left + point.x, y: rect.top + point.y};
    }""")
    page.mouse.click(box["x"], box["y"])
    page.wait_for_selector("#drift-details .drift-table")
    details = page.inner_text("#drift-details")
    assert "Drift check" in details
    check = metrics_list(model_id=model.pk, source="drift_check").first()
    drivers = list(check.drift_details["data_drift"])
    assert drivers
    assert page.locator("#drift-details .drift-table tbody tr").count() == len(drivers)
    for driver in drivers:
        assert driver in details
    assert page.js_errors == []

    phone = open_page(contexts, live_server, admin_user, model_path(model), width=390, height=844)
    wait_painted(phone, TREND_CHARTS)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "model_performance_phone")


def test_drift_check_and_retraining_from_the_page(contexts, live_server, plant, admin_user):
    model = plant["model"]
    page = open_page(contexts, live_server, admin_user, model_path(model))
    wait_painted(page, ("drift_score",))
    before = page.evaluate("window.enmsCharts.drift_score.data.datasets[0].data.length")

    page.click("#latest-drift")
    page.wait_for_selector("#drift-details .drift-check")
    assert "Drift check" in page.inner_text("#drift-details")

    page.click("#run-drift")
    page.wait_for_selector("#drift-form .form-result.ok")
    assert "Drift score" in page.inner_text("#drift-form .form-result")
    assert page.locator("#drift-details .drift-table tbody tr").count() >= 1
    # The check is stored as today's metrics row: the drift trend gains (at most) one bucket.
    page.wait_for_function("(n) => window.enmsCharts.drift_score.data.datasets[0].data.length >= n", arg=before)

    page.click("#trigger-retrain")
    page.wait_for_selector("#retrain-form .form-result.ok")
    job = ModelTrainingHistory.objects.filter(machine=model.machine, trigger_type="manual").latest("created_at")
    row = page.locator(f'#training-table tr[data-job-id="{job.pk}"]')
    row.wait_for()
    page.wait_for_selector(f'#training-table tr[data-job-id="{job.pk}"][data-status="completed"]', timeout=30_000)
    job.refresh_from_db()
    assert job.status == "completed" and job.new_model_id
    assert "completed" in row.inner_text()
    assert page.locator("#training-notice").is_visible()
    screenshot(page, "model_performance_after_retrain")

    # A second trigger while none is open is accepted again; the API's 409 shows inline when one is.
    ModelTrainingHistory.objects.create(machine=model.machine, model_type="energy_baseline", model=model,
                                        status="running")
    page.click("#trigger-retrain")
    page.wait_for_selector("#retrain-form .form-result.error")
    assert "running" in page.inner_text("#retrain-form .form-result").lower() or \
        "pending" in page.inner_text("#retrain-form .form-result").lower()
    assert page.js_errors == []


def test_alerts_appear_without_reload_and_resolve_away(contexts, live_server, plant, admin_user):
    model = plant["model"]
    ModelAlert.objects.filter(machine=model.machine).update(is_resolved=True, resolved_at=model.created_at)
    first = ModelAlertFactory(model=model, alert_type="degradation", severity="critical",
                              message="RMSE 60 % above holdout")
    page = open_page(contexts, live_server, admin_user, model_path(model))
    card = page.locator(f'.alert-card[data-alert-id="{first.pk}"]')
    card.wait_for()
    assert "RMSE 60 % above holdout" in card.inner_text()
    assert page.inner_text("#alerts-count") == "(1)"

    second = ModelAlertFactory(model=model, alert_type="drift", severity="warning", message="outdoor_temp_c drifted")
    page.locator(f'.alert-card[data-alert-id="{second.pk}"]').wait_for(timeout=15_000)
    assert page.locator(".alert-card").count() == 2

    card.locator("input[name=resolution_notes]").fill("Leak fixed on line 2")
    card.locator("button.resolve").click()
    card.wait_for(state="detached")
    assert page.locator(".alert-card").count() == 1
    first.refresh_from_db()
    assert first.is_resolved and first.resolution_notes == "Leak fixed on line 2"
    assert first.resolved_by.username == admin_user.username
    screenshot(page, "model_performance_alerts")
    assert page.js_errors == []


def test_start_ab_test_shows_it_running(contexts, live_server, plant, admin_user):
    model = plant["model"]
    client = Client()
    client.force_login(admin_user)
    response = client.post("/api/v1/model-performance/retrain/trigger", {"model_id": str(model.pk)},
                           content_type="application/json")
    assert response.status_code == 202
    versions = EnergyBaseline.objects.filter(machine=model.machine, model_type="energy_baseline")
    assert versions.count() == 2
    active = versions.get(status="active")

    page = open_page(contexts, live_server, admin_user, model_path(active))
    page.wait_for_selector("#ab-list .empty-inline")
    page.fill("#ab-form input[name=name]", "C2 champion vs challenger")
    page.fill("#ab-form input[name=traffic_split]", "0.3")
    # Besides the A/B list, the panels a test can change refresh: versions (pickers), alerts, latest figures.
    with page.expect_request(lambda r: "/baselines/?" in r.url), page.expect_request(
            lambda r: "/alerts/active?" in r.url), page.expect_request(lambda r: "/metrics/?" in r.url):
        page.click("#start-ab")
    page.wait_for_selector("#ab-form .form-result.ok")
    card = page.locator('.ab-card[data-status="running"]')
    card.wait_for()
    text = card.inner_text()
    assert "C2 champion vs challenger" in text and "running" in text and "30.0 %" in text
    assert card.locator("table.arms tbody tr").count() == 2
    test = ModelABTest.objects.get(machine=model.machine)
    assert (test.model_a_id, test.traffic_split, test.status) == (active.pk, 0.3, "running")

    page.click("#start-ab")
    page.wait_for_selector("#ab-form .form-result.error")
    assert "running A/B test" in page.inner_text("#ab-form .form-result")
    page.fill("#ab-form input[name=traffic_split]", "1.5")
    page.click("#start-ab")
    page.wait_for_selector("#ab-form .field-error")
    assert "between 0 and 1" in page.inner_text("#ab-form .field-error")
    screenshot(page, "model_performance_ab_test")
    assert page.js_errors == []


def test_user_without_rights_sees_no_controls_and_the_api_refuses(contexts, live_server, plant):
    model = plant["model"]
    alert = ModelAlertFactory(model=model, alert_type="degradation", message="needs a look")
    viewer = UserFactory(username="viewer")
    # Reading needs the view rights (the page's charts come from the API); nothing else is granted.
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_",
                                                            content_type__app_label__in=("baselines", "performance")))
    page = open_page(contexts, live_server, viewer, model_path(model))
    wait_painted(page, TREND_CHARTS)
    page.locator(f'.alert-card[data-alert-id="{alert.pk}"]').wait_for()
    assert page.locator("#controls").count() == 0
    assert page.locator(".resolve-form").count() == 0
    assert page.locator("#run-drift, #trigger-retrain, #ab-form").count() == 0

    statuses = page.evaluate("""async ([modelId, alertId]) => {
        const post = (url, body) => window.enms.api("POST", url, body).then((r) => r.status);
        const base = "/api/v1/model-performance/";
        return [
            await post(base + "drift/check", {model_id: modelId}),
            await post(base + "retrain/trigger", {model_id: modelId}),
            await post(base + "ab-test/start", {name: "x", model_a_id: modelId, model_b_id: modelId}),
            await post(base + "alerts/" + alertId + "/resolve", {}),
        ];
    }""", [str(model.pk), str(alert.pk)])
    assert statuses == [403, 403, 403, 403]
    alert.refresh_from_db()
    assert not alert.is_resolved
    screenshot(page, "model_performance_viewer")

    # One right unlocks one control.
    viewer.user_permissions.add(Permission.objects.get(codename="change_modelalert"))
    page.reload()
    page.locator(f'.alert-card[data-alert-id="{alert.pk}"] .resolve-form').wait_for()
    assert page.locator("#run-drift, #trigger-retrain").count() == 0


def test_first_training_from_the_empty_state(contexts, live_server, transactional_db, admin_user):
    call_command("seed_demo", days=60, train_days=42, machines=1, no_train=True, no_progress=True)
    machine = Machine.objects.get()
    page = open_page(contexts, live_server, admin_user, f"/ui/model-performance?machine={machine.pk}")
    assert "No model yet" in page.inner_text("#empty-model")
    screenshot(page, "model_performance_no_model")
    with page.expect_navigation(timeout=60_000):
        page.click("#trigger-first-training")
    page.wait_for_selector("#model-summary")
    model = EnergyBaseline.objects.get(machine=machine)
    assert f"model={model.pk}" in page.url
    assert f"v{model.version}" in page.inner_text("#model-summary")
    assert page.js_errors == []


def test_fleet_login_navigation_and_sorting(contexts, live_server, plant, admin_user):
    context = contexts(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(live_server.url + "/ui/fleet")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "root")
    page.fill("#id_password", "pw-root-123")
    page.click("input[type=submit]")
    page.wait_for_url("**/ui/fleet")

    rows = page.locator("#fleet-table tbody tr")
    assert rows.count() == 4  # three energy baselines and Compressor C3's anomaly detector
    # Worst first: ASHRAE failures before passes, and the table carries the local-time evaluation.
    ranks = [{"fail": 0}.get(r.get_attribute("data-ashrae"), 1) for r in rows.all()]
    assert ranks == sorted(ranks)
    assert page.locator("#fleet-table time").first.inner_text() != ""
    screenshot(page, "fleet_desktop")

    page.click('th[data-key="machine"] a')
    page.wait_for_url("**sort=machine")
    names = [rows.nth(i).get_attribute("data-machine") for i in range(rows.count())]
    assert names == sorted(names)

    page.select_option('select[name="model_type"]', "anomaly_detector")
    page.wait_for_url("**model_type=anomaly_detector**")
    assert [r.get_attribute("data-model-type") for r in rows.all()] == ["anomaly_detector"] * 3

    page.click("details.dropdown summary")
    page.get_by_role("link", name="Model Performance", exact=True).click()
    page.wait_for_url("**/ui/model-performance")
    assert page.locator('a[aria-current="page"]').text_content() == "Model Performance"

    phone = contexts(viewport={"width": 390, "height": 844}, storage_state=context.storage_state()).new_page()
    phone.goto(live_server.url + "/ui/fleet")
    assert not phone.locator("#site-nav").is_visible()
    phone.click(".nav-toggle")
    assert phone.locator("#site-nav").is_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "fleet_phone")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/?next=/ui/fleet")


def test_pages_work_under_the_content_security_policy(contexts, live_server, plant, admin_user):
    """The policy forbids inline script and style: the dashboard, the API docs and the admin still
    work in Chromium, and the console shows no violation."""
    model = plant["model"]
    ModelAlertFactory(model=model, alert_type="degradation", severity="critical", message="RMSE 60 % above holdout")
    page = open_page(contexts, live_server, admin_user, model_path(model))
    policy = page.evaluate("() => fetch(location.href).then((r) => r.headers.get('content-security-policy'))")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    wait_painted(page, (*TREND_CHARTS, "actual_vs_predicted"))
    page.locator(".alert-card").first.wait_for()
    assert csp_violations(page) == [] and page.js_errors == []

    checks = {
        "/ui/fleet": "#fleet-table tbody tr",
        "/docs": ".swagger-ui .opblock",
        "/admin/": "#content-main",
        "/admin/performance/modelperformancemetric/": "#result_list",
        "/admin/baselines/energyreading/?timestamp__year=2025": "#changelist",
        f"/admin/baselines/machine/{model.machine_id}/change/": "#machine_form",
        "/admin/performance/modelabtest/add/": "#modelabtest_form",
    }
    for path, selector in checks.items():
        page.goto(live_server.url + path)
        page.wait_for_selector(selector, timeout=20_000)
        assert csp_violations(page) == [], path
    page.goto(live_server.url + "/admin/performance/modelalert/")
    page.locator("#changelist-filter").wait_for()
    assert csp_violations(page) == []
    assert page.js_errors == []

    # Signed out: the sign-in page, and signing in through it.
    anonymous = contexts(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    anonymous.on("pageerror", lambda exc: errors.append(str(exc)))
    watch_csp(anonymous, errors)
    anonymous.goto(live_server.url + "/ui/fleet")
    anonymous.fill("#id_username", "root")
    anonymous.fill("#id_password", "pw-root-123")
    anonymous.click("input[type=submit]")
    anonymous.wait_for_url("**/ui/fleet")
    anonymous.locator("#fleet-table tbody tr").first.wait_for()
    assert csp_violations(anonymous) == [] and errors == []

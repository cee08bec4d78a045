"""Dashboard pages: login, rights-dependent controls, empty states, fleet filters and ordering."""

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils.html import escape

from tests.factories import (
    T0,
    EnergyBaselineFactory,
    EnergyReadingFactory,
    MachineFactory,
    ModelAlertFactory,
    ModelPerformanceMetricFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CONTROL_PERMS = {
    "drift_check": "add_modelperformancemetric",
    "retrain": "add_modeltraininghistory",
    "ab_test": "add_modelabtest",
    "resolve_alert": "change_modelalert",
    "rebaseline": "change_energybaseline",
    "ab_stop": "change_modelabtest",
}
CONTROL_MARKERS = {
    "drift_check": 'id="run-drift"',
    "retrain": 'id="trigger-retrain"',
    "ab_test": 'id="ab-form"',
}


def grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=("performance", "baselines"),
                                                         codename__in=codenames))
    return user


VIEW_PERMS = {"baselines": ("view_machine", "view_energybaseline"),
              "performance": ("view_modelperformancemetric", "view_modelalert")}


def grant_view(user):
    for app, codenames in VIEW_PERMS.items():
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label=app, codename__in=codenames))
    return user


@pytest.fixture
def plain_user():
    """A user who may read the dashboard and change nothing."""
    return grant_view(UserFactory(username="viewer"))


@pytest.fixture
def operator():
    return grant(grant_view(UserFactory(username="operator")), *CONTROL_PERMS.values())


def page_config(response) -> dict:
    html = response.content.decode()
    match = re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "page config missing"
    return json.loads(match.group(1))


def fleet_order(response) -> list[str]:
    return re.findall(r'<tr data-machine="([^"]+)"', response.content.decode())


def machine_with_model(name="Compressor", *, version=1, metrics=True, **metric_values):
    machine = MachineFactory(name=name)
    model = EnergyBaselineFactory(machine=machine, status="active", version=version)
    if metrics:
        ModelPerformanceMetricFactory(model=model, **metric_values)
    return machine, model


# --- login -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/ui/model-performance", "/ui/fleet"])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_any_active_user_signs_in_at_accounts_login(client):
    user = grant_view(UserFactory(username="reader"))
    user.set_password("pw-reader-123")
    user.save()
    assert client.get("/accounts/login/?next=/ui/fleet").status_code == 200
    response = client.post("/accounts/login/", {"username": "reader", "password": "pw-reader-123",
                                                "next": "/ui/fleet"})
    assert response.status_code == 302 and response["Location"] == "/ui/fleet"
    html = client.get("/ui/fleet").content.decode()
    assert 'id="signed-in-as"' in html and "reader" in html
    bad = client.post("/accounts/login/", {"username": "reader", "password": "wrong"})
    assert bad.status_code == 200 and "do not match" in bad.content.decode()


@pytest.mark.parametrize("url", ["/ui/model-performance", "/ui/fleet"])
def test_signed_in_user_without_view_rights_gets_403_naming_them(client, url):
    client.force_login(UserFactory(username="nobody"))
    response = client.get(url)
    assert response.status_code == 403
    assert "performance.view_modelalert" in response.content.decode()


def test_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")


def test_root_redirects_to_fleet(client, plain_user):
    client.force_login(plain_user)
    assert client.get("/")["Location"] == "/ui/fleet"


# --- navigation --------------------------------------------------------------------------------


def test_navigation_marks_the_active_page_and_hides_admin_from_non_staff(client, plain_user):
    client.force_login(plain_user)
    html = client.get("/ui/fleet").content.decode()
    assert 'href="/ui/fleet" class="current" aria-current="page"' in html
    assert 'href="/ui/model-performance" class="current"' not in html
    assert 'href="/docs"' in html
    assert 'href="/admin/"' not in html
    assert 'action="/ui/logout"' in html and "csrfmiddlewaretoken" in html
    assert "cdn" not in html.lower()


def test_staff_see_the_admin_link(client, superuser):
    client.force_login(superuser)
    html = client.get("/ui/model-performance").content.decode()
    assert 'href="/admin/"' in html
    assert 'href="/ui/model-performance" class="current" aria-current="page"' in html


# --- rights-dependent controls -------------------------------------------------------------------


def test_user_without_rights_sees_the_page_but_no_controls(client, plain_user):
    machine, model = machine_with_model()
    EnergyBaselineFactory(machine=machine, version=2)
    client.force_login(plain_user)
    response = client.get(f"/ui/model-performance?machine={machine.pk}&model={model.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    for marker in CONTROL_MARKERS.values():
        assert marker not in html
    assert 'id="controls"' not in html
    assert page_config(response)["rights"] == dict.fromkeys(CONTROL_PERMS, False)


def test_user_with_rights_sees_every_control(client, operator):
    machine, model = machine_with_model()
    EnergyBaselineFactory(machine=machine, version=2)
    client.force_login(operator)
    response = client.get(f"/ui/model-performance?machine={machine.pk}&model={model.pk}")
    html = response.content.decode()
    for marker in CONTROL_MARKERS.values():
        assert marker in html
    assert 'name="model_a_id"' in html and 'name="traffic_split"' in html and 'name="duration_days"' in html
    assert page_config(response)["rights"] == dict.fromkeys(CONTROL_PERMS, True)


@pytest.mark.parametrize("control", ["drift_check", "retrain", "ab_test"])
def test_each_right_unlocks_only_its_control(client, control):
    machine, model = machine_with_model()
    EnergyBaselineFactory(machine=machine, version=2)
    user = grant(grant_view(UserFactory()), CONTROL_PERMS[control])
    client.force_login(user)
    response = client.get(f"/ui/model-performance?machine={machine.pk}")
    html = response.content.decode()
    for name, marker in CONTROL_MARKERS.items():
        assert (marker in html) == (name == control), name
    rights = page_config(response)["rights"]
    assert rights == {name: name == control for name in CONTROL_PERMS}


def test_resolve_right_reaches_the_page_script(client):
    machine_with_model()
    user = grant(grant_view(UserFactory()), "change_modelalert")
    client.force_login(user)
    rights = page_config(client.get("/ui/model-performance"))["rights"]
    assert rights["resolve_alert"] is True and rights["retrain"] is False


def test_ab_form_explains_when_there_is_a_single_version(client, operator):
    machine, _ = machine_with_model()
    client.force_login(operator)
    html = client.get(f"/ui/model-performance?machine={machine.pk}").content.decode()
    assert 'id="start-ab"' not in html
    assert "there is only one so far" in html


# --- model page: selection and empty states --------------------------------------------------------


def test_model_page_defaults_to_the_active_energy_baseline(client, plain_user):
    machine = MachineFactory(name="Pump")
    EnergyBaselineFactory(machine=machine, version=1, status="retired")
    active = EnergyBaselineFactory(machine=machine, version=2, status="active")
    EnergyBaselineFactory(machine=machine, version=3, status="candidate")
    client.force_login(plain_user)
    config = page_config(client.get(f"/ui/model-performance?machine={machine.pk}"))
    assert config["modelId"] == str(active.pk)
    assert config["machineId"] == str(machine.pk)
    assert config["thresholds"] == {"cv_rmse": 0.30, "nmbe": 0.10}
    assert [v["version"] for v in config["versions"]] == [3, 2, 1]


def test_model_page_is_deep_linkable(client, plain_user):
    machine = MachineFactory()
    EnergyBaselineFactory(machine=machine, version=1, status="active")
    candidate = EnergyBaselineFactory(machine=machine, version=2)
    client.force_login(plain_user)
    response = client.get(f"/ui/model-performance?model={candidate.pk}&bucket=week")
    config = page_config(response)
    assert (config["machineId"], config["modelId"], config["bucket"]) == (str(machine.pk), str(candidate.pk), "week")
    assert f'<option value="{candidate.pk}" selected>' in response.content.decode()


@pytest.mark.parametrize("query", [
    "machine=not-a-uuid", f"machine={uuid.uuid4()}", f"model={uuid.uuid4()}",
])
def test_model_page_unknown_ids_are_404(client, plain_user, query):
    machine_with_model()
    client.force_login(plain_user)
    assert client.get(f"/ui/model-performance?{query}").status_code == 404


def test_model_of_another_machine_is_404(client, plain_user):
    machine, _ = machine_with_model("A")
    _, other_model = machine_with_model("B")
    client.force_login(plain_user)
    assert client.get(f"/ui/model-performance?machine={machine.pk}&model={other_model.pk}").status_code == 404


def test_no_machines_explains_how_to_add_them(client, plain_user):
    client.force_login(plain_user)
    html = client.get("/ui/model-performance").content.decode()
    assert "No machines yet" in html and "seed_demo" in html
    assert "page-config" not in html


def test_machine_without_readings_says_to_upload_them(client, operator):
    machine = MachineFactory()
    client.force_login(operator)
    html = client.get(f"/ui/model-performance?machine={machine.pk}").content.decode()
    assert "No model yet" in html
    assert f"/api/v1/machines/{machine.pk}/readings/" in html
    assert 'id="trigger-first-training"' not in html


def test_machine_without_model_offers_first_training_to_those_with_the_right(client, operator, plain_user):
    machine = MachineFactory()
    EnergyReadingFactory.create_batch(3, machine=machine)
    client.force_login(operator)
    html = client.get(f"/ui/model-performance?machine={machine.pk}").content.decode()
    assert "No model yet" in html and 'id="trigger-first-training"' in html
    assert 'id="controls"' not in html  # drift check, retraining and A/B tests need a model
    client.force_login(plain_user)
    html = client.get(f"/ui/model-performance?machine={machine.pk}").content.decode()
    assert "No model yet" in html and 'id="trigger-first-training"' not in html
    assert "Someone with retraining rights" in html


def test_model_without_metrics_says_where_they_come_from(client, operator):
    machine, model = machine_with_model(metrics=False)
    EnergyReadingFactory(machine=machine)
    client.force_login(operator)
    response = client.get(f"/ui/model-performance?machine={machine.pk}")
    html = response.content.decode()
    assert 'id="empty-metrics"' in html and "Run drift check" in html
    assert page_config(response)["hasMetrics"] is False
    assert 'id="chart-cv_rmse"' in html


def test_model_with_metrics_has_no_empty_state(client, plain_user):
    machine, _ = machine_with_model()
    reading = EnergyReadingFactory(machine=machine)
    client.force_login(plain_user)
    response = client.get(f"/ui/model-performance?machine={machine.pk}")
    assert 'id="empty-metrics"' not in response.content.decode()
    config = page_config(response)
    assert config["hasMetrics"] is True
    assert config["lastReading"] == reading.timestamp.isoformat()


def test_anomaly_detector_page_charts_classification_metrics(client, plain_user):
    machine = MachineFactory()
    detector = EnergyBaselineFactory(machine=machine, model_type="anomaly_detector", status="active")
    client.force_login(plain_user)
    html = client.get(f"/ui/model-performance?machine={machine.pk}&model={detector.pk}").content.decode()
    assert 'id="chart-f1_score"' in html and 'id="chart-cv_rmse"' not in html
    assert "Anomaly detectors flag readings" in html


def test_model_page_loads_chart_js_from_local_static(client, plain_user):
    machine_with_model()
    client.force_login(plain_user)
    html = client.get("/ui/model-performance").content.decode()
    assert '<script src="/static/vendor/chart.umd.min.js" defer>' in html
    assert '<script src="/static/js/model_performance.js" defer>' in html
    assert "http://" not in html and "https://" not in html


def test_model_page_preloads_the_requests_its_charts_start_with(client, plain_user):
    """The page writes the trend, CUSUM and alert URLs into its config and preloads them in <head>; the
    trend URL asks for every chart's metric at once and answers them."""
    machine, model = machine_with_model(rmse=2.0, nmbe=0.01, drift_score=0.2)
    EnergyReadingFactory(machine=machine)
    client.force_login(plain_user)
    response = client.get(f"/ui/model-performance?machine={machine.pk}&bucket=hour")
    html = response.content.decode()
    config = page_config(response)
    head = html.split("</head>")[0]
    for key in ("trendsUrl", "cusumUrl", "alertsUrl"):
        assert config[key], key
        assert f'<link rel="preload" as="fetch" href="{escape(config[key])}" crossorigin="anonymous">' in head, key
    assert config["trendMetrics"] == ["r_squared", "rmse", "cv_rmse", "nmbe", "drift_score"]
    trends = client.get(config["trendsUrl"])
    assert trends.status_code == 200
    body = trends.json()
    assert body["bucket"] == "hour" and list(body["trends"]) == config["trendMetrics"]
    assert [p["value"] for p in body["trends"]["rmse"]["points"]] == [2.0]
    assert client.get(config["alertsUrl"]).status_code == 200
    assert client.get(config["cusumUrl"]).status_code == 200


def test_model_page_trend_scope_is_the_machine_with_several_versions(client, plain_user):
    machine, model = machine_with_model(rmse=2.0)
    retired = EnergyBaselineFactory(machine=machine, version=2, status="retired")
    ModelPerformanceMetricFactory(model=retired, rmse=4.0, evaluated_at=T0 - timedelta(days=3))
    detector = EnergyBaselineFactory(machine=machine, model_type="anomaly_detector", version=3)
    client.force_login(plain_user)
    config = page_config(client.get(f"/ui/model-performance?machine={machine.pk}&model={model.pk}"))
    body = client.get(config["trendsUrl"]).json()
    assert sorted(p["value"] for p in body["trends"]["rmse"]["points"]) == [2.0, 4.0]  # both versions' rows
    assert config["cusumUrl"] is None  # no readings: no CUSUM to ask for
    config = page_config(client.get(f"/ui/model-performance?machine={machine.pk}&model={detector.pk}"))
    assert config["trendMetrics"] == ["precision", "recall", "f1_score", "rmse", "drift_score"]
    assert f"model_id={detector.pk}" in config["trendsUrl"]


# --- fleet -----------------------------------------------------------------------------------------


@pytest.fixture
def fleet():
    """Four machines: one failing ASHRAE, two passing with different CV(RMSE), one without a model."""
    good, good_model = machine_with_model("Alpha", cv_rmse=0.10, nmbe=0.01, ashrae_pass=True, drift_score=0.1)
    bad, bad_model = machine_with_model("Bravo", cv_rmse=0.40, nmbe=-0.12, ashrae_pass=False, drift_score=0.7)
    fair, _ = machine_with_model("Charlie", cv_rmse=0.20, nmbe=0.02, ashrae_pass=True, drift_score=0.4)
    MachineFactory(name="Delta", site="South", machine_type="pump")
    for machine in (good, bad, fair):
        machine.site = "North"
        machine.save()
    # A newer metrics row on a retired version must not leak into the fleet.
    retired = EnergyBaselineFactory(machine=good, version=9, status="retired")
    ModelPerformanceMetricFactory(model=retired, cv_rmse=0.99, ashrae_pass=False, evaluated_at=T0 + timedelta(days=400))
    ModelAlertFactory(model=bad_model)
    ModelAlertFactory(model=bad_model, alert_type="degradation", severity="critical")
    ModelAlertFactory(model=good_model, is_resolved=True, resolved_at=T0)
    return {"good": good_model, "bad": bad_model}


def test_fleet_is_worst_first_by_default(client, plain_user, fleet):
    client.force_login(plain_user)
    response = client.get("/ui/fleet")
    assert response.status_code == 200
    assert fleet_order(response) == ["Bravo", "Charlie", "Alpha", "Delta"]
    html = response.content.decode()
    assert 'data-machine="Bravo" data-model-type="energy_baseline" data-ashrae="fail"' in html
    assert "40.0 %" in html and "-12.0 %" in html
    assert f'href="/ui/model-performance?machine={fleet["bad"].machine_id}&amp;model={fleet["bad"].pk}"' in html
    assert "No active model yet" in html
    assert "1 failing ASHRAE" in html


def test_fleet_counts_only_open_alerts_per_model(client, plain_user, fleet):
    client.force_login(plain_user)
    rows = {r.machine.name: r for r in client.get("/ui/fleet").context["rows"]}
    assert rows["Bravo"].open_alerts == 2
    assert rows["Alpha"].open_alerts == 0
    assert rows["Alpha"].latest.cv_rmse == 0.10  # the active version's row, not the retired one's


@pytest.mark.parametrize("sort, expected", [
    ("machine", ["Alpha", "Bravo", "Charlie", "Delta"]),
    ("-machine", ["Delta", "Charlie", "Bravo", "Alpha"]),
    ("-cv_rmse", ["Bravo", "Charlie", "Alpha", "Delta"]),
    ("cv_rmse", ["Alpha", "Charlie", "Bravo", "Delta"]),
    ("-nmbe", ["Bravo", "Charlie", "Alpha", "Delta"]),
    ("-drift_score", ["Bravo", "Charlie", "Alpha", "Delta"]),
    ("-alerts", ["Bravo", "Alpha", "Charlie", "Delta"]),
    ("-ashrae", ["Bravo", "Alpha", "Charlie", "Delta"]),
    ("bogus", ["Bravo", "Charlie", "Alpha", "Delta"]),
])
def test_fleet_sorts_by_column_with_missing_values_last(client, plain_user, fleet, sort, expected):
    client.force_login(plain_user)
    assert fleet_order(client.get(f"/ui/fleet?sort={sort}")) == expected


def test_fleet_header_links_toggle_direction_and_keep_filters(client, plain_user, fleet):
    client.force_login(plain_user)
    html = client.get("/ui/fleet?site=North&sort=-cv_rmse").content.decode()
    assert 'aria-sort="descending" data-key="cv_rmse"><a href="?site=North&amp;sort=cv_rmse">' in html
    assert 'data-key="machine"><a href="?site=North&amp;sort=machine">' in html


@pytest.mark.parametrize("query, expected", [
    ("site=North", ["Bravo", "Charlie", "Alpha"]),
    ("site=South", ["Delta"]),
    ("machine_type=pump", ["Delta"]),
    ("machine_type=compressor&site=North", ["Bravo", "Charlie", "Alpha"]),
    ("site=Nowhere", []),
])
def test_fleet_filters(client, plain_user, fleet, query, expected):
    client.force_login(plain_user)
    assert fleet_order(client.get(f"/ui/fleet?{query}")) == expected


def test_fleet_model_type_filter(client, plain_user, fleet):
    detector = EnergyBaselineFactory(machine=fleet["good"].machine, model_type="anomaly_detector", status="active")
    ModelPerformanceMetricFactory(model=detector, cv_rmse=None, nmbe=None, f1_score=0.8)
    client.force_login(plain_user)
    response = client.get("/ui/fleet?model_type=anomaly_detector")
    rows = response.context["rows"]
    assert [(r.machine.name, r.model_type, r.model is not None) for r in rows] == [
        ("Alpha", "anomaly_detector", True),
        ("Bravo", "anomaly_detector", False),
        ("Charlie", "anomaly_detector", False),
        ("Delta", "anomaly_detector", False),
    ]
    assert rows[0].ashrae == "n/a" and rows[0].r_squared_txt == "F1 0.800"
    everything = client.get("/ui/fleet").context["rows"]
    assert sum(1 for r in everything if r.machine.name == "Alpha") == 2


def test_fleet_filter_with_no_match_offers_to_clear(client, plain_user, fleet):
    client.force_login(plain_user)
    html = client.get("/ui/fleet?site=Nowhere").content.decode()
    assert "No machines match these filters" in html


def test_fleet_empty_state(client, plain_user):
    client.force_login(plain_user)
    html = client.get("/ui/fleet").content.decode()
    assert "No machines yet" in html and "seed_demo" in html


def test_fleet_shows_models_never_evaluated(client, plain_user):
    machine_with_model("Echo", metrics=False)
    client.force_login(plain_user)
    html = client.get("/ui/fleet").content.decode()
    assert "Not evaluated yet" in html


def test_fleet_drift_score_is_the_newest_one_recorded(client, plain_user):
    _, model = machine_with_model("Foxtrot", metrics=False)
    ModelPerformanceMetricFactory(model=model, drift_score=0.5, evaluated_at=T0)
    ModelPerformanceMetricFactory(model=model, drift_score=None, evaluated_at=T0 + timedelta(days=1))
    client.force_login(plain_user)
    row = client.get("/ui/fleet").context["rows"][0]
    assert row.latest.drift_score is None
    assert row.drift_txt == "0.50" and row.drift_level == "warning"


def test_logout_from_the_header_returns_to_login(client, plain_user):
    client.force_login(plain_user)
    response = client.post("/ui/logout")
    assert response.status_code == 302 and response["Location"] == "/ui/fleet"
    assert client.get("/ui/fleet")["Location"] == "/accounts/login/?next=/ui/fleet"


def check(model, *, drift_score, day, cause):
    """A stored drift check of `model` on day `day` after T0 whose verdict names `cause`."""
    return ModelPerformanceMetricFactory(model=model, source="drift_check", drift_score=drift_score,
                                         evaluated_at=T0 + timedelta(days=day), drift_details={"cause": cause})


def test_fleet_alert_badge_shows_severity_and_cause(client, plain_user):
    machine, model = machine_with_model()
    check(model, drift_score=0.9, day=1, cause="consumption_change")
    ModelAlertFactory(model=model, severity="critical", details={"cause": "consumption_change"})
    ModelAlertFactory(model=model, alert_type="degradation", severity="warning")
    client.force_login(plain_user)
    html = client.get("/ui/fleet").content.decode()
    assert 'class="badge alert-badge critical"' in html and "2 critical" in html
    assert "consumption change" in html and 'data-label="Alerts"' in html


def test_fleet_cause_is_the_latest_checks_not_the_open_alerts(client, plain_user):
    _, model = machine_with_model()
    ModelAlertFactory(model=model, severity="critical", details={"cause": "consumption_change"})
    check(model, drift_score=0.8, day=1, cause="consumption_change")
    check(model, drift_score=0.5, day=2, cause="coverage")
    client.force_login(plain_user)
    html = client.get("/ui/fleet").content.decode()
    assert '<div class="sub cause">coverage</div>' in html and "consumption change" not in html
    assert "0.50" in html  # the score beside it is the same check's
    check(model, drift_score=0.1, day=3, cause="none")
    html = client.get("/ui/fleet").content.decode()
    assert 'class="sub cause"' not in html  # the latest check found nothing, although the alert is open


def test_model_page_opens_on_the_worst_machine(client, plain_user):
    machine_with_model("Alpha", cv_rmse=0.05, nmbe=0.0)
    worst, _ = machine_with_model("Zeta", cv_rmse=0.6, nmbe=0.2, ashrae_pass=False)
    client.force_login(plain_user)
    assert page_config(client.get("/ui/model-performance"))["machineId"] == str(worst.pk)


def test_cusum_data_needs_view_rights_and_a_known_model(client, plain_user):
    _, model = machine_with_model()
    client.force_login(UserFactory(username="no-rights"))
    assert client.get(f"/ui/model-performance/cusum?model={model.pk}").status_code == 403
    client.force_login(plain_user)
    assert client.get(f"/ui/model-performance/cusum?model={uuid.uuid4()}").status_code == 404
    response = client.get(f"/ui/model-performance/cusum?model={model.pk}")
    assert response.status_code == 200 and response.json() == {"cusum": None}  # no readings, no artifact

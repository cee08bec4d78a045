"""Safe defaults around the API and the pages: text and names, chunked bodies, the shared write
throttle, sign-in lock-out, the Content-Security-Policy, expiring API tokens, the admin's date
filter and re-signing model artifacts after a key rotation."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from baselines.models import EnergyBaseline, Machine
from enms.models import ApiToken
from enms.tokens import api_token_create
from performance.models import ModelAlert
from tests.factories import MachineFactory, ModelAlertFactory, UserFactory
from tests.test_api_baselines import train_baseline

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
API = "/api/v1/"
PERF = "/api/v1/model-performance/"


# --- text -----------------------------------------------------------------------------------------


def test_notes_keep_line_breaks_tabs_and_real_surrogate_pairs(admin_api):
    alert = ModelAlertFactory()
    notes = "Leak on line 2 fixed.\n\tValve replaced 👍"
    raw = '{"resolution_notes": "Leak on line 2 fixed.\\n\\tValve replaced \\ud83d\\udc4d"}'
    response = admin_api.generic("POST", f"{PERF}alerts/{alert.pk}/resolve", raw, content_type="application/json")
    assert response.status_code == 200, response.content
    assert ModelAlert.objects.get(pk=alert.pk).resolution_notes == notes


def test_an_unknown_key_with_a_surrogate_is_answered_in_plain_json(admin_api):
    """The 400 names the key escaped, so the answer itself can be encoded."""
    machine = MachineFactory()
    raw = '[{"timestamp": "2026-03-01T00:00:00Z", "energy_kwh": 1, "\\ud800x": 2}]'
    response = admin_api.generic("POST", f"{API}machines/{machine.pk}/readings/", raw,
                                 content_type="application/json")
    assert response.status_code == 400
    assert "surrogate" in response.json()["detail"]


# --- machine names --------------------------------------------------------------------------------


def test_machine_names_are_stripped_and_unique_ignoring_case(admin_api):
    response = admin_api.post(f"{API}machines/", {"name": "  Compressor C1 "}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Compressor C1"
    for near in ("compressor c1", "COMPRESSOR C1  ", "\tcompressor C1"):
        response = admin_api.post(f"{API}machines/", {"name": near}, format="json")
        assert response.status_code == 400 and "name" in response.json(), (near, response.content)
    assert Machine.objects.count() == 1
    other = MachineFactory(name="Pump")
    assert admin_api.patch(f"{API}machines/{other.pk}/", {"name": "pump "}, format="json").status_code == 200
    assert Machine.objects.get(pk=other.pk).name == "pump"


@pytest.mark.parametrize("name", ["compressor c1", "COMPRESSOR C1"])
def test_the_database_refuses_a_case_insensitive_duplicate(name):
    """Written past the API (admin scripts, imports), the constraint still holds, on SQLite and
    PostgreSQL alike."""
    Machine.objects.create(name="Compressor C1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Machine.objects.bulk_create([Machine(name=name)])


@pytest.mark.parametrize("name", ["", "   ", "Press\r\nBcc: x", "Press\t2", "Press\x85", "A\ud800"])
def test_the_model_refuses_blank_and_control_character_names(name):
    """What the admin's forms check (the API's serializer refuses the same)."""
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        Machine(name=name).full_clean()
    assert "name" in caught.value.message_dict


def test_the_migration_normalises_earlier_names(transactional_db):
    """Names stored before the constraint are stripped, cleaned and made distinct, so the
    constraint can be added to a database that holds them."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    before = [("baselines", "0001_initial")]
    executor.migrate(before)
    try:
        OldMachine = executor.loader.project_state(before).apps.get_model("baselines", "Machine")
        for i, name in enumerate(["Compressor C1", "compressor c1 ", " Press\r\n2", "   ", "Pump"]):
            OldMachine.objects.create(id=uuid.UUID(int=i), name=name)
            OldMachine.objects.filter(name=name).update(created_at=timezone.now() + timedelta(seconds=i))
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    names = list(Machine.objects.order_by("created_at").values_list("name", flat=True))
    assert names == ["Compressor C1", "compressor c1 (2)", "Press  2", "Machine 00000000", "Pump"]
    with pytest.raises(IntegrityError), transaction.atomic():
        Machine.objects.bulk_create([Machine(name="PUMP")])


# --- chunked bodies -------------------------------------------------------------------------------


def test_a_chunked_body_the_server_decoded_is_read(admin_api):
    """gunicorn decodes `Transfer-Encoding: chunked` and says so (`wsgi.input_terminated`); the
    body is then read, not taken as empty (which lost resolution notes)."""
    alert = ModelAlertFactory()
    body = b'{"resolution_notes": "sent in chunks"}'
    response = admin_api.generic(
        "POST", f"{PERF}alerts/{alert.pk}/resolve", body, content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="",
        # What gunicorn hands over: the decoded body, readable to its end, and the flag.
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True})
    assert response.status_code == 200, response.content
    assert ModelAlert.objects.get(pk=alert.pk).resolution_notes == "sent in chunks"


# --- the write throttle ---------------------------------------------------------------------------


def _forget_throttle_counters() -> None:
    """Redis keeps counters across tests (the database cache's rows roll back with each test);
    only the throttle's keys go, never the rest of the shared database."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("*throttle:writes:*"):
            client.delete(key)


@pytest.fixture
def throttled(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"writes": "3/hour"}}
    _forget_throttle_counters()
    yield
    _forget_throttle_counters()


def test_writes_beyond_the_rate_get_429_and_reads_go_on(throttled):
    user = UserFactory(is_superuser=True)
    client = APIClient()
    client.force_authenticate(user)
    machine = MachineFactory()
    codes = [client.patch(f"{API}machines/{machine.pk}/", {"site": f"S{i}"}, format="json").status_code
             for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    refused = client.patch(f"{API}machines/{machine.pk}/", {"site": "late"}, format="json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert Machine.objects.get(pk=machine.pk).site == "S2"
    assert client.get(f"{API}machines/").status_code == 200
    # Another user has a budget of their own.
    other = APIClient()
    other.force_authenticate(UserFactory(is_superuser=True))
    assert other.patch(f"{API}machines/{machine.pk}/", {"site": "other"}, format="json").status_code == 200


def test_the_throttle_counts_where_every_worker_sees_it(throttled):
    """The counter lives in Redis (with REDIS_URL) or in the database, which every worker process
    reads: a second process (simulated by a fresh cache connection) sees the first one's writes."""
    import time

    from enms.models import ThrottleCounter

    user = UserFactory(is_superuser=True)
    client = APIClient()
    client.force_authenticate(user)
    machine = MachineFactory()
    for i in range(2):
        assert client.patch(f"{API}machines/{machine.pk}/", {"site": f"S{i}"}, format="json").status_code == 200
    key = f"throttle:writes:u{user.pk}:3600:{int(time.time() // 3600)}"
    if settings.REDIS_URL:
        assert caches.create_connection("default").get(key) == 2
    else:
        assert ThrottleCounter.objects.get(counter_key=key).count == 2


def test_concurrent_counts_in_the_database_are_never_lost(transactional_db):
    """Eight threads (eight database connections, as eight workers would have) count at once:
    every count arrives, where a read-add-write cache would lose some."""
    import threading

    from django.db import connection as default_connection

    from enms.models import ThrottleCounter
    from enms.throttling import _database_count

    barrier = threading.Barrier(8)
    errors = []

    def count():
        try:
            barrier.wait(timeout=10)
            for _ in range(25):
                _database_count("throttle:test:concurrent", "throttle:test:none", 60)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            default_connection.close()

    threads = [threading.Thread(target=count) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert ThrottleCounter.objects.get(counter_key="throttle:test:concurrent").count == 200


# --- sign-in lock-out -----------------------------------------------------------------------------


def _admin_login(client, username, password):
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})


def test_the_admin_locks_out_after_repeated_failures(client, django_user_model):
    user = django_user_model.objects.create_superuser(username="boss", password="right-pw-123", email="")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _admin_login(client, "boss", "wrong").status_code == 200  # the form again, with its error
    assert _admin_login(client, "boss", "wrong").status_code == 429
    locked = _admin_login(client, "boss", "right-pw-123")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # Any sign-in that goes through Django's `authenticate()` with the request (the dashboard's,
    # DRF's) is refused the same way.
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="127.0.0.1")
    assert authenticate(request, username="boss", password="right-pw-123") is None
    # Other users, and the API tokens of the locked user, are not affected.
    django_user_model.objects.create_superuser(username="other", password="other-pw-123", email="")
    assert _admin_login(client, "other", "other-pw-123").status_code == 302
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
    assert api.get(f"{API}machines/").status_code == 200


def test_a_success_before_the_limit_resets_the_count(client, django_user_model):
    django_user_model.objects.create_superuser(username="boss", password="right-pw-123", email="")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _admin_login(client, "boss", "wrong")
    assert _admin_login(client, "boss", "right-pw-123").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _admin_login(client, "boss", "wrong").status_code == 200


# --- Content-Security-Policy ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ui/fleet", "/admin/login/", "/docs", "/api/v1/machines/", "/healthz"])
def test_every_answer_carries_the_content_security_policy(client, superuser, path):
    if path != "/admin/login/":
        client.force_login(superuser)
    response = client.get(path)
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe" not in policy


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style[\s>]", re.I), "<style> element"),
    (re.compile(r"\sstyle=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+=", re.I), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]
SCRIPT_INJECTIONS = [
    (re.compile(r"\beval\s*\("), "eval"),
    (re.compile(r"new\s+Function\s*\("), "new Function"),
    (re.compile(r"""setAttribute\(\s*["']style["']"""), "style attribute set from script"),
    (re.compile(r"\.innerHTML\s*=|insertAdjacentHTML|document\.write"), "HTML written from script"),
    (re.compile(r"""setTimeout\(\s*["']|setInterval\(\s*["']"""), "string timer"),
]


def test_templates_and_page_scripts_need_no_unsafe_inline():
    problems = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        problems += [f"{path.relative_to(ROOT)}: {what}" for pattern, what in INLINE if pattern.search(text)]
    scripts = sorted((ROOT / "static" / "js").glob("*.js"))
    assert scripts
    for path in scripts:
        text = path.read_text()
        problems += [f"{path.relative_to(ROOT)}: {what}" for pattern, what in SCRIPT_INJECTIONS if pattern.search(text)]
    assert problems == []


# --- API tokens -----------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_expire_and_record_their_last_use():
    user = UserFactory(is_superuser=True)
    token, key = api_token_create(user=user, name="gateway", ttl_days=30)
    assert key not in token.digest and token.prefix == key[:8]
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert token.last_used_at is None
    assert client.get(f"{API}machines/").status_code == 200
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=10)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(f"{API}machines/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_the_default_lifetime_comes_from_the_setting(settings):
    settings.API_TOKEN_TTL_DAYS = 7
    token, _ = api_token_create(user=UserFactory())
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)


def test_a_token_of_an_inactive_user_is_refused():
    user = UserFactory(is_superuser=True, is_active=False)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)[1]}")
    assert client.get(f"{API}machines/").status_code == 401


def test_the_token_command_creates_rotates_lists_and_revokes(capsys):
    user = UserFactory(username="gateway", is_superuser=True)
    call_command("api_token", "create", "gateway", "--name", "meter gateway", "--days", "10")
    first = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert client.get(f"{API}machines/").status_code == 200
    call_command("api_token", "rotate", "gateway")
    second = capsys.readouterr().out.strip()
    assert second != first
    assert client.get(f"{API}machines/").status_code == 401  # the old key is revoked
    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert client.get(f"{API}machines/").status_code == 200
    call_command("api_token", "list", "gateway")
    listing = capsys.readouterr().out
    assert second[:8] in listing and first[:8] not in listing
    assert timezone.now().strftime("%Y-%m-%d") in listing.splitlines()[1].split(second[:8])[1]  # last used today
    call_command("api_token", "revoke", second[:8])
    capsys.readouterr()
    assert client.get(f"{API}machines/").status_code == 401
    assert not ApiToken.objects.filter(user=user).exists()
    with pytest.raises(CommandError):
        call_command("api_token", "create", "nobody")


# --- the admin's date filter ----------------------------------------------------------------------


@pytest.mark.parametrize("query", ["timestamp__year=99999999999", "timestamp__year=0", "timestamp__year=2026&"
                                   "timestamp__month=13", "timestamp__year=2026&timestamp__month=1&timestamp__day=99",
                                   "timestamp__year=%E2%91%A0"])
def test_an_impossible_date_in_the_admin_filter_is_400(client, superuser, query):
    client.force_login(superuser)
    response = client.get(f"/admin/baselines/energyreading/?{query}")
    assert response.status_code == 400
    assert client.get("/admin/baselines/energyreading/?timestamp__year=2026&timestamp__month=1").status_code == 200
    metric = client.get(f"/admin/performance/modelperformancemetric/?{query.replace('timestamp', 'evaluated_at')}")
    assert metric.status_code == 400


# --- re-signing artifacts -------------------------------------------------------------------------


@pytest.fixture
def signed_version(settings):
    settings.ENMS_ARTIFACT_KEY = "old-key-" + "o" * 40
    machine = Machine.objects.create(name="Compressor R")
    return train_baseline(machine, days=14)


def _predict_status(client, version) -> int:
    body = {"rows": [{"timestamp": "2025-01-10T08:00:00Z", "production_units": 20.0, "outdoor_temp_c": 8.0,
                      "operating_hours": 1.0}]}
    return client.post(f"{API}baselines/{version.pk}/predict/", body, format="json").status_code


def test_resign_after_a_key_rotation(admin_api, settings, signed_version, monkeypatch):
    old = settings.ENMS_ARTIFACT_KEY
    assert _predict_status(admin_api, signed_version) == 200
    settings.ENMS_ARTIFACT_KEY = "new-key-" + "n" * 40
    assert _predict_status(admin_api, signed_version) == 409
    monkeypatch.setenv("OLD_ARTIFACT_KEY", old)
    out = io.StringIO()
    call_command("resign_artifacts", "--old-key-env", "OLD_ARTIFACT_KEY", "--dry-run", "--no-progress", stdout=out)
    assert "would sign 1" in out.getvalue()
    assert _predict_status(admin_api, signed_version) == 409
    call_command("resign_artifacts", "--old-key-env", "OLD_ARTIFACT_KEY", "--no-progress", stdout=out)
    assert _predict_status(admin_api, signed_version) == 200
    out = io.StringIO()
    call_command("resign_artifacts", "--old-key-env", "OLD_ARTIFACT_KEY", "--no-progress", stdout=out)
    assert "signed 0, already signed with the current key 1" in out.getvalue()


def test_resign_refuses_what_the_old_key_did_not_sign(admin_api, settings, signed_version, tmp_path):
    old_file = tmp_path / "old"
    old_file.write_text(settings.ENMS_ARTIFACT_KEY + "\n")
    data = bytearray(signed_version.artifact)
    data[len(data) // 2] ^= 1
    EnergyBaseline.objects.filter(pk=signed_version.pk).update(artifact=bytes(data))
    settings.ENMS_ARTIFACT_KEY = "new-key-" + "n" * 40
    with pytest.raises(CommandError, match=str(signed_version.pk)):
        call_command("resign_artifacts", "--old-key-file", str(old_file), "--no-progress", stdout=io.StringIO())
    assert _predict_status(admin_api, signed_version) == 409


def test_resign_from_checksums_signs_artifacts_stored_before_signing(admin_api, signed_version):
    """An upgrade: rows carry only their SHA-256. The operator vouches for them once; a row whose
    bytes differ from its checksum stays refused."""
    EnergyBaseline.objects.filter(pk=signed_version.pk).update(artifact_signature="")
    assert _predict_status(admin_api, signed_version) == 409
    call_command("resign_artifacts", "--from-checksums", "--no-progress", stdout=io.StringIO())
    assert _predict_status(admin_api, signed_version) == 200
    other = EnergyBaseline.objects.create(
        machine=signed_version.machine, version=9, artifact=bytes(signed_version.artifact)[:-1] + b"x",
        artifact_sha256=signed_version.artifact_sha256, driver_ranges=signed_version.driver_ranges)
    with pytest.raises(CommandError, match=str(other.pk)):
        call_command("resign_artifacts", "--from-checksums", "--no-progress", stdout=io.StringIO())
    assert _predict_status(admin_api, other) == 409


def test_writes_go_on_when_the_throttle_cache_is_unreachable(settings, caplog):
    """With Redis down the throttle cannot count: writes are let through (and logged), not refused
    with a server error."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": settings.REDIS_URL,
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"writes": "1/hour"}}
    client = APIClient()
    client.force_authenticate(UserFactory(is_superuser=True))
    machine = MachineFactory()
    with caplog.at_level("WARNING", logger="enms.throttling"):
        codes = [client.patch(f"{API}machines/{machine.pk}/", {"site": f"S{i}"}, format="json").status_code
                 for i in range(3)]
    assert codes == [200, 200, 200]
    assert "write throttle skipped" in caplog.text

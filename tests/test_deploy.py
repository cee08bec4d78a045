"""The production server as deployed: `gunicorn enms.wsgi:application` with two worker processes
and the production settings, on a scratch database.

- the write throttle is one budget across both workers (counters in the database, or in Redis
  when REDIS_URL is set), where a per-process count gave each worker its own;
- a body sent with `Transfer-Encoding: chunked` (which Django alone reads as empty) is stored;
- the browsable API is off and every answer carries the Content-Security-Policy.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.test_abuse import _free_port

ROOT = Path(__file__).resolve().parent.parent
RATE = 6

pytestmark = pytest.mark.slow

SEED = """
from django.contrib.auth import get_user_model
from django.utils import timezone
from baselines.models import Machine
from enms.tokens import api_token_create
from performance.models import ModelAlert
user = get_user_model().objects.create_superuser(username="deploy-root", email="", password="pw-deploy-root-1")
other = get_user_model().objects.create_superuser(username="deploy-other", email="", password="pw-deploy-other-1")
machine = Machine.objects.create(name="Deploy press")
alert = ModelAlert.objects.create(machine=machine, model_type="energy_baseline", alert_type="training_failed",
                                  severity="warning", message="seeded", first_seen=timezone.now(),
                                  last_seen=timezone.now())
print("SEED", api_token_create(user=user)[1], api_token_create(user=other)[1], machine.pk, alert.pk)
"""


def _env(tmp_path: Path, *, redis: bool) -> dict[str, str]:
    scrubbed = ("DEBUG", "SECRET_KEY", "ENMS_ARTIFACT_KEY", "SECURE_SSL_REDIRECT", "ALLOWED_HOSTS",
                "API_WRITE_THROTTLE", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "CELERY_TASK_ALWAYS_EAGER", "REDIS_URL")
    env = {k: v for k, v in os.environ.items() if k not in scrubbed}
    env.update(DJANGO_SETTINGS_MODULE="enms.settings.production", SECRET_KEY=secrets.token_urlsafe(64),
               ENMS_ARTIFACT_KEY=secrets.token_urlsafe(48), SECURE_SSL_REDIRECT="false", ALLOWED_HOSTS="127.0.0.1",
               DATABASE_URL=f"sqlite:///{tmp_path / 'deploy.sqlite3'}", API_WRITE_THROTTLE=f"{RATE}/hour",
               PYTHONDONTWRITEBYTECODE="1", LOG_LEVEL="WARNING")
    if redis:
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env


def _manage(env, *args) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class Server:
    def __init__(self, env: dict, log: Path):
        self.port = _free_port()
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "enms.wsgi:application", "-b", f"127.0.0.1:{self.port}",
             "--workers", "2", "--timeout", "60", "--access-logfile", "-", "--access-logformat",
             "ACCESS %(p)s %(m)s %(U)s %(s)s"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def request(self, method, path, *, token=None, body=None, chunked=False, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = {"Accept": "application/json", **(headers or {})}
            if token:
                sent["Authorization"] = f"Token {token}"
            if body is not None:
                sent["Content-Type"] = "application/json"
            if chunked:
                data = json.dumps(body).encode()
                sent["Transfer-Encoding"] = "chunked"
                conn.request(method, path, body=iter([data[:7], data[7:]]), headers=sent, encode_chunked=True)
            else:
                conn.request(method, path, body=None if body is None else json.dumps(body), headers=sent)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def wait_ready(self):
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.tail()
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(self.tail())

    def tail(self) -> str:
        self._log.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=5)
        self._log.close()


def _clear_redis_throttle(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter("*throttle:writes:*"):
        client.delete(key)


@pytest.fixture(scope="module", params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def server(request, tmp_path_factory):
    """One server per cache backend for the module: (server, token, other user's token, machine id,
    alert id); the throttle test spends the first token's budget."""
    redis = request.param == "redis"
    tmp_path = tmp_path_factory.mktemp(request.param)
    env = _env(tmp_path, redis=redis)
    if redis:
        _clear_redis_throttle(env["REDIS_URL"])
    _manage(env, "migrate", "--noinput", "-v", "0")
    seed = next(line for line in _manage(env, "shell", "-v", "0", "-c", SEED).splitlines() if line.startswith("SEED"))
    _, token, other, machine, alert = seed.split()
    server = Server(env, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        yield server, token, other, machine, alert
    finally:
        server.stop()
        if redis:
            _clear_redis_throttle(env["REDIS_URL"])


def test_two_workers_share_one_write_budget(server):
    srv, token, _, machine, _ = server

    def patch(site):
        return srv.request("PATCH", f"/api/v1/machines/{machine}/", token=token, body={"site": site})[0]

    statuses = [patch(f"S{i}") for i in range(3 * RATE)]
    # The kernel hands connections to whichever worker accepts first; on a busy machine one
    # worker can take them all. Pairs of concurrent writes then reach the other one too (the
    # budget is spent, so they must all be refused whichever worker answers).
    for _ in range(20):
        if len(set(re.findall(r"ACCESS <?(\d+)>? PATCH", srv.tail()))) == 2:
            break
        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses += list(pool.map(patch, ("late-a", "late-b")))
    log = srv.tail()
    pids = set(re.findall(r"ACCESS <?(\d+)>? PATCH", log))
    assert len(pids) == 2, f"the writes did not reach both workers:\n{log}"
    assert statuses == [200] * RATE + [429] * (len(statuses) - RATE), statuses
    status, _, body = srv.request("GET", f"/api/v1/machines/{machine}/", token=token)
    assert status == 200 and json.loads(body)["site"] == f"S{RATE - 1}"


def test_a_chunked_body_is_read_not_lost(server):
    srv, _, token, _, alert = server
    status, _, body = srv.request("POST", f"/api/v1/model-performance/alerts/{alert}/resolve", token=token,
                                  body={"resolution_notes": "valve replaced, sent in chunks"}, chunked=True)
    assert status == 200, body
    assert json.loads(body)["resolution_notes"] == "valve replaced, sent in chunks"
    assert '" 500 ' not in srv.tail()


def test_json_only_and_the_policy_on_every_answer(server):
    srv, token, _, _, _ = server
    status, headers, body = srv.request("GET", "/api/v1/machines/", token=token, headers={"Accept": "text/html"})
    assert status in (200, 406)
    assert not body.lstrip().startswith(b"<"), body[:200]
    for path in ("/api/v1/machines/", "/healthz", "/admin/login/", "/docs"):
        status, headers, _ = srv.request("GET", path, token=token)
        assert "script-src 'self'" in headers.get("Content-Security-Policy", ""), (path, headers)
    assert srv.request("GET", "/api-auth/login/")[0] == 404

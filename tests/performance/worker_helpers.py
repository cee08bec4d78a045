"""Helpers for fault tests: real Celery workers as subprocesses, Redis stop/start, row locks.

Everything here talks only to 127.0.0.1 (the test PostgreSQL database and a dedicated Redis db).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis as redis_lib
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
    "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]


def wait_for(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def worker_database_url() -> str:
    """The URL of the database pytest-django created (`test_<name>`), for worker subprocesses."""
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


def libpq_dsn() -> str:
    s = connection.settings_dict
    parts = {"dbname": s["NAME"], "user": s.get("USER") or "postgres", "host": s.get("HOST") or "127.0.0.1",
             "port": s.get("PORT") or 5432}
    if s.get("PASSWORD"):
        parts["password"] = s["PASSWORD"]
    return " ".join(f"{k}={v}" for k, v in parts.items())


# --- Redis -----------------------------------------------------------------------------------------

def redis_client(url: str) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def redis_alive(url: str) -> bool:
    try:
        return bool(redis_client(url).ping())
    except redis_lib.exceptions.RedisError:
        return False


def redis_stop(url: str) -> None:
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"],
                   capture_output=True, timeout=10, check=False)
    wait_for(lambda: not redis_alive(url), 10, message="Redis to stop")


def redis_start(url: str) -> None:
    if redis_alive(url):
        return
    subprocess.run(REDIS_START, capture_output=True, timeout=10, check=False)
    wait_for(lambda: redis_alive(url), 15, message="Redis to start")


QUEUES = ("celery", "training", "cycles", "notifications")


def queue_length(url: str, queue: str | None = None) -> int:
    """Messages waiting in `queue`, or in all of the project's queues."""
    client = redis_client(url)
    return sum(int(client.llen(q)) for q in ([queue] if queue else QUEUES))


# --- Celery workers --------------------------------------------------------------------------------

class Worker:
    """One `celery -A enms worker` in its own process group, logging to a file."""

    def __init__(self, *, name: str, log_dir: Path, env: dict[str, str], pool: str = "prefork",
                 queues: str = ",".join(QUEUES), concurrency: int = 1):
        self.name = name
        self.queues = queues
        self.concurrency = concurrency
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.pool = pool
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, ready_timeout: float = 30) -> Worker:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [str(CELERY), "-A", "enms", "worker", "--loglevel=INFO", f"--concurrency={self.concurrency}",
               f"--pool={self.pool}", "-Q", self.queues, "-n", f"{self.name}@%h", "--without-gossip",
               "--without-mingle", "--without-heartbeat"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for(self._ready, ready_timeout, interval=0.1, message=f"worker {self.name} to be ready\n{self.tail()}")
        return self

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"worker {self.name} exited with {self.proc.returncode}\n{self.tail()}")
        return " ready." in self.log()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def received(self, task_id: str | None = None) -> list[str]:
        """Ids of `performance.training_run` messages this worker received (in order)."""
        ids = re.findall(r"Task performance\.training_run\[([0-9a-f-]+)\] received", self.log())
        return [i for i in ids if task_id is None or i == task_id]

    def finished(self) -> list[str]:
        """Ids of `performance.training_run` executions that returned (succeeded, whatever the value)."""
        return re.findall(r"Task performance\.training_run\[([0-9a-f-]+)\] succeeded", self.log())

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and pool children): no shutdown, no ack."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._wait_group_gone()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        try:  # pool children left behind by a main process that went first
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._wait_group_gone()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _wait_group_gone(self, timeout: float = 10) -> None:
        def gone():
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_for(gone, timeout, message=f"worker {self.name} process group to exit")


def worker_env(*, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "CELERY_", "ENMS_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "enms.settings.test",
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CONN_MAX_AGE": "0",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "INFO",
    })
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --- PostgreSQL ------------------------------------------------------------------------------------

@contextmanager
def machine_row_held(machine_id):
    """Hold the machine row with FOR NO KEY UPDATE on a separate connection.

    `baseline_train` locks the machine row FOR UPDATE just before it numbers and stores the new
    version, so a worker training this machine stops right there, inside the transaction of
    `_train_once`, with its job `running`. Inserting a training job (a foreign-key check takes
    FOR KEY SHARE) is not blocked.
    """
    conn = psycopg.connect(libpq_dsn(), autocommit=False)
    try:
        conn.execute("SELECT id FROM machines WHERE id = %s FOR NO KEY UPDATE", [machine_id]).fetchone()
        yield conn
    finally:
        conn.rollback()
        conn.close()


def backends_waiting_on_lock(dsn: str) -> list[int]:
    """Pids of other sessions of the test database waiting on a row lock on the machine table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND wait_event_type = 'Lock' AND query ILIKE %s",
            ["%machines%FOR UPDATE%"],
        ).fetchall()
    return [r[0] for r in rows]


def backend_alive(dsn: str, pid: int) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() is not None


def terminate_backend(dsn: str, pid: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])

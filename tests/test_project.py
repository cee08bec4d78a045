"""Project-level checks: system checks, migrations generated, compose file points at real code."""

import io
import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command, get_commands

ROOT = Path(__file__).resolve().parent.parent


def test_system_check_is_clean():
    out = io.StringIO()
    call_command("check", fail_level="WARNING", stdout=out, stderr=out)  # raises on any warning
    assert "no issues" in out.getvalue()


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_compose_services_run_commands_that_exist():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "postgres", "redis"):  # every long-running service
        assert "healthcheck" in services[name], name
    commands = {name: " ".join(svc["command"]) if isinstance(svc.get("command"), list) else svc.get("command", "")
                for name, svc in services.items()}

    wsgi = re.search(r"gunicorn\s+([\w.]+):(\w+)", commands["web"])
    assert wsgi, commands["web"]
    module = __import__(wsgi.group(1), fromlist=[wsgi.group(2)])
    assert callable(getattr(module, wsgi.group(2)))

    from enms.celery import app

    for name in ("worker", "beat"):
        match = re.search(r"celery\s+-A\s+(\w+)\s+(\w+)", commands[name])
        assert match and match.group(1) == "enms" and match.group(2) == name
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert "DatabaseScheduler" in commands["beat"]

    known = set(get_commands())
    for text in commands.values():
        for manage_cmd in re.findall(r"manage\.py\s+([\w-]+)", text):
            assert manage_cmd in known, manage_cmd
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile

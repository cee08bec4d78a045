"""Project-level checks: system checks, migrations generated, compose file points at real code,
the image keeps secrets and state out and runs unprivileged."""

import fnmatch
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


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker's build context leaves `path` out (its rules: patterns match the path or a
    parent directory, `**` spans directories, a later `!pattern` re-includes)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip().strip("/")
        if any(fnmatch.fnmatchcase(c, pattern) or fnmatch.fnmatchcase(c, pattern.replace("**/", ""))
               for c in candidates):
            ignored = not negate
    return ignored


def test_the_docker_build_context_leaves_secrets_state_and_environments_out():
    ignore = ROOT / ".dockerignore"
    assert ignore.exists()
    patterns = [line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")]
    for path in (".env", ".env.production", "var/demo_password.txt", "var/enms.sqlite3", "var/enms.sqlite3-wal",
                 "backup.sqlite3", ".venv/bin/python", "node_modules/chart.js/package.json", ".git/config",
                 "static/vendor/chart.umd.min.js", "bench/.peers/evidently/bin/python", "test-artifacts/fleet.png",
                 "enms/__pycache__/settings.cpython-311.pyc"):
        assert _dockerignored(path, patterns), path
    for path in (".env.example", "manage.py", "enms/settings/production.py", "requirements.txt", "package.json",
                 "static/js/common.js", "templates/base.html", "baselines/migrations/0001_initial.py"):
        assert not _dockerignored(path, patterns), path


def test_the_image_runs_as_an_unprivileged_user():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split(None, 1)[1] for line in lines if line.startswith("USER ")]
    assert users, "the image runs as root"
    final = users[-1].split(":")[0]
    assert final not in ("root", "0")
    # Nothing after the last USER switches back or runs as root.
    last = max(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert not any(line.startswith(("RUN ", "USER root", "USER 0")) for line in lines[last + 1:])
    assert "ENMS_ARTIFACT_KEY=" in (ROOT / "Dockerfile").read_text()  # collectstatic imports production settings


def test_compose_runs_production_settings_with_secrets_from_the_environment():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    text = (ROOT / "docker-compose.yml").read_text()
    for name in ("web", "worker", "beat", "migrate"):
        service = compose["services"][name]
        assert service["environment"]["DJANGO_SETTINGS_MODULE"] == "enms.settings.production", name
        assert ".env" in service["env_file"], name
        assert "SECRET_KEY" not in service["environment"] and "ENMS_ARTIFACT_KEY" not in service["environment"]
    assert not re.search(r"(SECRET_KEY|ENMS_ARTIFACT_KEY)\s*[:=]", text), "a secret is written into the compose file"


def test_every_default_beat_schedule_says_what_it_does():
    """Each periodic task a migration creates has a description (shown in the admin)."""
    import importlib

    def load(name):
        return importlib.import_module(name)

    described = load("performance.migrations.0010_beat_schedule_descriptions").DESCRIPTIONS
    created = [name for name, *_ in load("performance.migrations.0003_beat_schedules").SCHEDULES]
    created += [load("performance.migrations.0007_readings_maintenance_schedule").NAME,
                load("performance.migrations.0008_forecast_beat_schedule").NAME,
                load("performance.migrations.0009_model_registry").SWEEP]
    assert len(created) >= 9
    assert [name for name in created if not described.get(name, "").strip()] == []

"""Production settings: `check --deploy` is clean, a missing secret stops the process, DEBUG is off.

Each check runs `manage.py` (or a bare `django.setup()`) in a subprocess with
`DJANGO_SETTINGS_MODULE=enms.settings.production`, since settings are read once per process.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = "enms.settings.production"
# Variables of the developer's shell that would change what is being checked.
SCRUBBED = ("DEBUG", "SECRET_KEY", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_PRELOAD",
            "ALLOWED_HOSTS", "ENMS_ARTIFACT_KEY", "DJANGO_SETTINGS_MODULE")


def _env(settings_module: str | None = PRODUCTION, **overrides: str | None) -> dict[str, str]:
    """The environment of a subprocess: the developer's, less what would change the check, with
    a strong artifact signing key (production requires one) unless overridden."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    if settings_module is not None:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    env["ENMS_ARTIFACT_KEY"] = secrets.token_urlsafe(48)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _strong_key() -> str:
    return secrets.token_urlsafe(64)


def _setting(name: str, env: dict[str, str]) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print(repr(settings.{name}))"
    result = _run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_check_deploy_is_clean_with_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _env(SECRET_KEY=_strong_key()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_check_deploy_stays_clean_when_the_environment_asks_for_debug():
    """Production pins DEBUG off: `DEBUG=true` in the environment changes nothing."""
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                  _env(SECRET_KEY=_strong_key(), DEBUG="true"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("secret", [None, "", "   "], ids=["unset", "empty", "blank"])
@pytest.mark.parametrize("entry", ["manage.py check", "wsgi import"])
def test_production_refuses_to_start_without_a_secret_key(secret, entry):
    env = _env(SECRET_KEY=secret)
    args = ["manage.py", "check"] if entry == "manage.py check" else ["-c", "import enms.wsgi"]
    result = _run(args, env)
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    assert "Set the SECRET_KEY environment variable" in result.stderr, result.stderr[-2000:]


def test_a_weak_secret_key_fails_the_deploy_check():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _env(SECRET_KEY="short"))
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize("settings_module", [PRODUCTION, "enms.settings.local", "enms.settings.base"])
def test_debug_defaults_to_false(settings_module):
    dotenv = ROOT / ".env"
    if settings_module != PRODUCTION and dotenv.exists() and "DEBUG" in dotenv.read_text():
        pytest.skip(".env sets DEBUG for this checkout")
    assert _setting("DEBUG", _env(settings_module, SECRET_KEY=_strong_key())) == "False"


def test_production_ignores_debug_from_the_environment():
    assert _setting("DEBUG", _env(SECRET_KEY=_strong_key(), DEBUG="true")) == "False"


def test_production_security_settings():
    env = _env(SECRET_KEY=_strong_key())
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, "
        "s.SECURE_CONTENT_TYPE_NOSNIFF, s.X_FRAME_OPTIONS)"
    )
    result = _run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "True", "True", "DENY"]


@pytest.mark.parametrize("artifact_key", [None, "", "too-short-for-a-signing-key"], ids=["unset", "empty", "short"])
def test_production_refuses_to_start_without_an_artifact_signing_key(artifact_key):
    result = _run(["manage.py", "check"], _env(SECRET_KEY=_strong_key(), ENMS_ARTIFACT_KEY=artifact_key))
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr and "ENMS_ARTIFACT_KEY" in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("entry", ["enms.wsgi", "enms.asgi", "enms.celery"])
def test_server_entry_points_default_to_production_settings(entry):
    """With DJANGO_SETTINGS_MODULE unset, the web and Celery entry points load the production
    settings: without SECRET_KEY they refuse to start instead of serving with a fixed key."""
    code = f"import {entry}, os; print(os.environ['DJANGO_SETTINGS_MODULE'])"
    if entry == "enms.celery":
        code += "; from django.conf import settings; settings.DEBUG"
    refused = _run(["-c", code], _env(None))
    assert refused.returncode != 0, refused.stdout
    assert "Set the SECRET_KEY environment variable" in refused.stderr, refused.stderr[-2000:]
    started = _run(["-c", code], _env(None, SECRET_KEY=_strong_key()))
    assert started.returncode == 0, started.stderr[-2000:]
    assert started.stdout.split()[0] == PRODUCTION


def test_manage_py_keeps_the_local_settings():
    result = _run(["manage.py", "shell", "-v", "0", "-c",
                   "from django.conf import settings; print(settings.SETTINGS_MODULE)"], _env(None))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "enms.settings.local"


def test_production_answers_json_only_without_the_browsable_api():
    code = ("import django; django.setup(); from django.conf import settings as s; from django.urls import resolve, "
            "Resolver404\nprint(s.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'])\ntry:\n    resolve('/api-auth/login/')\n"
            "    print('api-auth served')\nexcept Resolver404:\n    print('no api-auth')")
    result = _run(["-c", code], _env(SECRET_KEY=_strong_key()))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["['rest_framework.renderers.JSONRenderer']", "no api-auth"]


def test_local_settings_keep_the_browsable_api():
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'][-1])")
    result = _run(["-c", code], _env("enms.settings.local"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "rest_framework.renderers.BrowsableAPIRenderer"


@pytest.mark.slow
def test_gunicorn_without_settings_or_secret_refuses_to_serve(tmp_path):
    """The README's `gunicorn enms.wsgi:application` with nothing configured exits instead of
    serving with the local profile's fixed key."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = _env(None, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    env.pop("ENMS_ARTIFACT_KEY")
    result = subprocess.run([str(gunicorn), "enms.wsgi:application", "--bind", "127.0.0.1:0", "--workers", "1",
                             "--timeout", "20"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Set the SECRET_KEY environment variable" in result.stderr, result.stderr[-3000:]

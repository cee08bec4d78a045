"""Production: secrets and hosts must come from the environment."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = env("SECRET_KEY")  # no default: production refuses to start without one
if not SECRET_KEY.strip():
    # An empty value would only fail at the first request that signs something.
    raise ImproperlyConfigured("Set the SECRET_KEY environment variable (it is empty).")
# The key that signs stored model artifacts: its own secret, so rotating SECRET_KEY (sessions)
# leaves every trained model loadable, and a leaked database holds nothing that can forge one.
ENMS_ARTIFACT_KEY = env("ENMS_ARTIFACT_KEY", default="")
if len(ENMS_ARTIFACT_KEY.strip()) < 32:
    raise ImproperlyConfigured(
        "Set the ENMS_ARTIFACT_KEY environment variable to a random secret of at least 32 characters "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'); it signs the stored models."
    )
DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

"""Settings shared by every environment, read from the environment with django-environ.

Every variable is listed in `.env.example`; every `CELERY_*` setting lives in this file.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default=None)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "enms",
    "baselines",
    "performance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "enms.middleware.BodySizeLimitMiddleware",
    "enms.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it turns a lock-out into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "enms.urls"
WSGI_APPLICATION = "enms.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Without DATABASE_URL the product runs on an embedded SQLite file, so `make run` needs no services.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'enms.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the dev server and an eager task write without "database is locked".
    # Transactions take the write lock when they begin: a deferred one that read first and then
    # writes after another connection wrote fails at once with "database is locked" (SQLite cannot
    # wait there without a deadlock), e.g. a service's read-then-update beside a request's write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
         "transaction_mode": "IMMEDIATE"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes sees every password check made through `authenticate()` with a request (the admin's
# and the dashboard's sign-in, DRF's login view) and locks a username from an address after
# AXES_FAILURE_LIMIT failures, for AXES_COOLOFF_MINUTES; the record is kept in the database, so
# every worker shares it. API tokens are not passwords and are not counted.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_MINUTES", default=30.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every command; lock-outs are still logged
# The address is the connection's (REMOTE_ADDR): behind a reverse proxy that is the proxy's, so
# the lock-out then holds for the username from anywhere, which is the safer side.

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/ui/fleet"

# Request bodies above this size are refused with 413 (a 10,000-row metrics batch fits easily).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)

# The throttle's counters and anything else cached live where every worker sees them: Redis
# when REDIS_URL is set, else a database table (created by the `enms` migrations).
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # Short timeouts: with Redis down, a request must not hang on the cache (the throttle then
    # lets writes through).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "enms_cache"}}

# API tokens (`manage.py api_token`) expire this many days after they are made.
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=90)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "enms.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # JSON only: the browsable API (HTML forms with inline script) is added by the local profile.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PERMISSION_CLASSES": ["enms.permissions.ModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "enms.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["enms.throttling.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"writes": env("API_WRITE_THROTTLE", default="6000/min")},
    "EXCEPTION_HANDLER": "enms.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "EnMS model performance API",
    "DESCRIPTION": "Energy baselines per machine, their performance metrics, drift, retraining, "
    "A/B tests and alerts. [Back to the dashboard](/ui/fleet)",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"SeverityEnum": "performance.models.Severity"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "enms.openapi.tag_and_summarise",
    ],
}

# --- Celery: every CELERY_* setting is here. ---------------------------------------------------
# Without REDIS_URL tasks run eagerly in-process, so the product works with no broker at all.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# At-least-once delivery: a task is acknowledged only after it ran, and a worker that dies
# mid-task gives the message back; effects are made idempotent in the services instead.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=720)
# Redis redelivers unacknowledged messages after the visibility timeout: it must exceed the hard
# time limit or a long task would run twice at once.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Write each task's "last run" to the database as soon as it is sent, so the admin shows it.
CELERY_BEAT_SYNC_EVERY = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Three kinds of work on their own queues, so a long training run never delays an alert: workers
# started with `-Q training`, `-Q cycles,celery` and `-Q notifications` scale each on its own.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "performance.training_run": {"queue": "training"},
    "performance.*_batch": {"queue": "cycles"},
    "performance.*_cycle": {"queue": "cycles"},
    "performance.scheduled_retrain_all": {"queue": "cycles"},
    "baselines.*": {"queue": "cycles"},
    "performance.alert_notify": {"queue": "notifications"},
    "performance.notifications_sweep": {"queue": "notifications"},
}
# Scheduled cycles (evaluation, drift, retraining, forecast) split the active versions into batches of this
# many; each batch is one `performance.<cycle>_batch` task.
ENMS_CYCLE_BATCH_SIZE = env.int("ENMS_CYCLE_BATCH_SIZE", default=200)
# PostgreSQL keeps readings in monthly partitions, created this many months ahead by a daily beat
# job. Retention: months older than this many (0: keep everything) are rolled up into daily
# aggregates (kept forever), then their partitions dropped ("drop") or detached ("detach").
ENMS_READINGS_PARTITIONS_AHEAD = env.int("ENMS_READINGS_PARTITIONS_AHEAD", default=3)
ENMS_READINGS_RETENTION_MONTHS = env.int("ENMS_READINGS_RETENTION_MONTHS", default=0)
ENMS_READINGS_RETENTION_ACTION = env("ENMS_READINGS_RETENTION_ACTION", default="drop")
# Training jobs: a running job whose heartbeat is older than this is reaped (requeued once, then
# failed); a pending job not picked up for this long is published again by the sweep.
ENMS_TRAINING_HEARTBEAT_TIMEOUT_S = env.int("ENMS_TRAINING_HEARTBEAT_TIMEOUT_S", default=900)
ENMS_TRAINING_DISPATCH_RETRY_S = env.int("ENMS_TRAINING_DISPATCH_RETRY_S", default=120)

# --- Alerts and notifications --------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="enms@localhost")
ALERT_EMAIL_RECIPIENTS = env.list("ALERT_EMAIL_RECIPIENTS", default=[])
ALERT_WEBHOOK_URLS = env.list("ALERT_WEBHOOK_URLS", default=[])
ALERT_WEBHOOK_TIMEOUT_S = env.float("ALERT_WEBHOOK_TIMEOUT_S", default=5.0)

# --- Model performance policy: defaults staff can override per machine in the admin ------------
ENMS_POLICY = {
    # ASHRAE Guideline 14 limits (CV(RMSE), |NMBE|) per data interval; "daily" is a project choice.
    "ashrae_limits": {
        "hourly": [0.30, 0.10],
        "daily": [0.25, 0.075],
        "monthly": [0.15, 0.05],
    },
    # A model is degraded when its current RMSE exceeds the holdout RMSE by this fraction.
    "degradation_margin": env.float("ENMS_DEGRADATION_MARGIN", default=0.25),
    "degradation_critical_margin": env.float("ENMS_DEGRADATION_CRITICAL_MARGIN", default=0.5),
    # A retrained candidate is promoted when its holdout RMSE beats the active one by this fraction.
    "promotion_margin": env.float("ENMS_PROMOTION_MARGIN", default=0.02),
    "promotion_mode": env("ENMS_PROMOTION_MODE", default="promote"),  # promote | ab_test | keep
    # A retrain (no explicit window) learns from the latest this-many days of readings.
    "retrain_window_days": env.int("ENMS_RETRAIN_WINDOW_DAYS", default=60),
    "auto_retrain_on_critical": env.bool("ENMS_AUTO_RETRAIN_ON_CRITICAL", default=True),
    "notify_critical": env.bool("ENMS_NOTIFY_CRITICAL", default=True),
    # An open drift or degradation alert is resolved as `recovered` after this many clean checks in a row.
    "recovery_clean_checks": env.int("ENMS_RECOVERY_CLEAN_CHECKS", default=3),
    "drift": {},
    # Cost and CO2 of a consumption change (kWh times these); null leaves them out of the impact.
    "energy_price_per_kwh": env.float("ENMS_ENERGY_PRICE_PER_KWH", default=None),
    "emission_factor_kg_per_kwh": env.float("ENMS_EMISSION_FACTOR_KG_PER_KWH", default=None),
    # Forecast degradation: warn when a breach is expected within `horizon_days`; a day with at
    # least `coverage_threshold` of its hours outside the training range fails the policy; with
    # `auto_retrain` a retrain is queued once `min_outside_hours` readings of the new range exist.
    "forecast": {
        "horizon_days": env.int("ENMS_FORECAST_ALERT_HORIZON_DAYS", default=30),
        "coverage_threshold": env.float("ENMS_FORECAST_COVERAGE_THRESHOLD", default=0.25),
        "auto_retrain": env.bool("ENMS_FORECAST_AUTO_RETRAIN", default=False),
        "min_outside_hours": env.int("ENMS_FORECAST_MIN_OUTSIDE_HOURS", default=168),
    },
}

# Hooks through which the lower layers (enms, baselines) call into `performance` without importing
# it: policy sections validated by a higher layer, and the drift reference stored with every
# trained version (called as `hook(fit=FitResult, frame=DataFrame) -> dict`), and what is closed
# when versions are retired.
ENMS_POLICY_SECTION_VALIDATORS = {
    "drift": "performance.drift.thresholds.validate_overrides",
    "forecast": "performance.forecast.validate_policy",
}
ENMS_TRAINING_REFERENCE_HOOK = "performance.services.drift.drift_reference_build"
# Called as `hook(versions=[ids])` in the transaction that retires versions (a new one became active).
ENMS_VERSIONS_RETIRED_HOOK = "performance.services.alerts.alerts_supersede"
# How the version's error grows outside its training range, learned from its out-of-sample
# residuals at training and stored in `reference_stats["forecast"]` (same signature).
ENMS_TRAINING_FORECAST_HOOK = "performance.services.forecast.forecast_reference_build"
# Called as `hook(baseline=EnergyBaseline, event="trained" | "activated")` inside the transaction
# that trains or activates a version: the model registry's outbox row is written with the change.
ENMS_BASELINE_CHANGE_HOOK = "performance.services.registry.registry_record_baseline_change"

# --- Model registry (MLflow) -------------------------------------------------------------------------
# Unset: nothing is sent anywhere. Set (and `pip install -r requirements-mlflow.txt`): every trained
# version is logged and registered, aliases follow promotions and A/B tests. Credentials go through
# MLflow's own variables (MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN).
MLFLOW_TRACKING_URI = env("MLFLOW_TRACKING_URI", default="")
MLFLOW_EXPERIMENT_NAME = env("MLFLOW_EXPERIMENT_NAME", default="enms")

# --- Artifacts and input bounds --------------------------------------------------------------------
# The key that signs stored model artifacts (baselines/artifacts.py). Production requires it; the
# local and test profiles derive one from SECRET_KEY when it is unset.
ENMS_ARTIFACT_KEY = env("ENMS_ARTIFACT_KEY", default="")
# Times a client sends (readings, evaluations, windows) lie between 1970 and now plus this skew;
# driver values for the future (predictions, forecasts) up to now plus the forecast horizon.
ENMS_MAX_CLOCK_SKEW_S = env.int("ENMS_MAX_CLOCK_SKEW_S", default=86400)
ENMS_FORECAST_HORIZON_DAYS = env.int("ENMS_FORECAST_HORIZON_DAYS", default=366)
# Largest magnitudes accepted: kWh of one reading, a driver value (production units, operating
# hours, rated power in kW), a metric (R², RMSE, MAE, MAPE, WAPE, CV(RMSE), NMBE).
ENMS_MAX_ENERGY_KWH = env.float("ENMS_MAX_ENERGY_KWH", default=1e9)
ENMS_MAX_DRIVER_VALUE = env.float("ENMS_MAX_DRIVER_VALUE", default=1e9)
ENMS_MAX_METRIC_VALUE = env.float("ENMS_MAX_METRIC_VALUE", default=1e12)

# --- Content-Security-Policy (django-csp) ---------------------------------------------------------
# Pages load scripts, styles, fonts and images from this origin only and run no inline script or
# style; `data:` images are the icons of the admin and of Swagger UI.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Failed sign-ins and lock-outs are warnings; every successful sign-in is not worth a line.
    "loggers": {"axes": {"level": "WARNING"}},
}

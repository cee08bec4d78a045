"""The Celery application: `celery -A enms worker` / `celery -A enms beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enms.settings.local")

app = Celery("enms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""The Celery application: `celery -A enms worker` / `celery -A enms beat`.

Production settings unless DJANGO_SETTINGS_MODULE says otherwise (`make worker` and `make beat`
pass the local profile), like the web entry points.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enms.settings.production")

app = Celery("enms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

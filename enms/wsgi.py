"""WSGI entry point: `gunicorn enms.wsgi:application`.

Production settings unless DJANGO_SETTINGS_MODULE says otherwise, so a server started without
configuration refuses to run (no SECRET_KEY) instead of serving with the local profile's fixed key.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enms.settings.production")
application = get_wsgi_application()

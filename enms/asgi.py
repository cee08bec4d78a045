"""ASGI entry point (e.g. `uvicorn enms.asgi:application`): production settings by default, like
`enms.wsgi`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enms.settings.production")
application = get_asgi_application()

"""Turn a lost database connection into a clean 503 instead of a 500."""

import logging

from django.db import InterfaceError, OperationalError, close_old_connections
from django.http import JsonResponse

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable: %s", exception)
            # Drop the broken connection so the next request opens a fresh one.
            close_old_connections()
            response = JsonResponse({"detail": "Database temporarily unavailable, retry shortly."}, status=503)
            response["Retry-After"] = "5"
            return response
        return None

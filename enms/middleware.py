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


class BodySizeLimitMiddleware:
    """Refuse API request bodies above DATA_UPLOAD_MAX_MEMORY_SIZE with 413 before reading them.

    DRF parses from the request stream, which skips Django's own size check on `request.body`.
    """

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def __call__(self, request):
        if self.limit is not None and request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return JsonResponse({"detail": "Invalid Content-Length header."}, status=400)
            if length > self.limit:
                return JsonResponse(
                    {"detail": f"Request body too large: {length} bytes, the limit is {self.limit}."}, status=413
                )
        return self.get_response(request)

"""API middleware: a lost database connection becomes a clean 503, an oversized body a 413, a
chunked body is read (or refused with 411), and a path under /api/ that matches no route a JSON 404
(not Django's HTML page)."""

import io
import logging

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.db import InterfaceError, OperationalError, close_old_connections
from django.http import HttpResponseNotFound, JsonResponse

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
    The setting is read per request, so a changed limit applies without a restart of the handler.

    A body sent with `Transfer-Encoding: chunked` has no Content-Length, and Django reads such a
    body as empty. Where the server has already decoded the chunks (gunicorn says so with
    `wsgi.input_terminated`), the body is read here (413 past the limit) and handed on with its
    length; elsewhere it is refused with 411 rather than silently lost.

    A path under /api/ that no route matches (e.g. `/api/v1/baselines/0.5/`, which the routers'
    `[^/.]+` id pattern refuses) never reaches DRF; Django answers it with its HTML 404 page, which
    is replaced here by DRF's JSON `{"detail": ...}`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            refused = self._read_chunked(request, limit)
            if refused is not None:
                return refused
        if limit is not None and request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return JsonResponse({"detail": "Invalid Content-Length header."}, status=400)
            if length > limit:
                return JsonResponse(
                    {"detail": f"Request body too large: {length} bytes, the limit is {limit}."}, status=413
                )
        response = self.get_response(request)
        if isinstance(response, HttpResponseNotFound) and request.path.startswith("/api/"):
            return JsonResponse({"detail": "Not found."}, status=404)
        return response

    @staticmethod
    def _read_chunked(request, limit):
        if not request.META.get("wsgi.input_terminated"):
            return JsonResponse({"detail": "A chunked request body is not supported here; send Content-Length."},
                                status=411)
        stream = request.META["wsgi.input"]
        data = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(data) > limit:
            return JsonResponse({"detail": f"Request body too large: more than {limit} bytes."}, status=413)
        request.META["CONTENT_LENGTH"] = str(len(data))
        request._stream = LimitedStream(io.BytesIO(data), len(data))
        return None

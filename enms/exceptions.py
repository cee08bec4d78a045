"""API error handling: DRF's error shape for everything a client can cause."""

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "Request body too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, IntegrityError):
        return Response({"detail": "Conflicts with the current state."}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)

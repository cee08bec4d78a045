"""API error handling: DRF's error shape for everything a client can cause, and its schema."""

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from enms.errors import Conflict


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "Request body too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Conflict):
        return Response({"detail": exc.detail, **exc.fields}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        return Response(as_serializer_error(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        return Response({"detail": "Conflicts with the current state."}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)


# --- the error bodies, for the OpenAPI schema ---------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    """`{"detail": "..."}`: 401, 403, 404, 405, 413, 415, 429."""

    detail = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    """409: what conflicts, and the id of the open job or running test it conflicts with, or of
    the version whose stored model was refused (a failed signature or type check)."""

    detail = serializers.CharField()
    training_id = serializers.UUIDField(required=False)
    ab_test_id = serializers.UUIDField(required=False)
    model_id = serializers.UUIDField(required=False)


_MESSAGES = {"type": "array", "items": {"type": "string"}}
ROW_ERROR_SCHEMA = {
    "type": "object",
    "description": "The errors of one bad row of a batch, by field.",
    "properties": {
        "index": {"type": "integer", "description": "position of the row in the request, from 0"},
        "errors": {"type": "object", "additionalProperties": _MESSAGES},
    },
    "required": ["index", "errors"],
}


class ValidationErrorSerializer(serializers.Serializer):
    """400: DRF's `{"field": ["message", ...]}`, `{"detail": "..."}` for a body that does not
    parse, or `{"rows": [{"index", "errors"}]}` naming every bad row of a batch."""


class ValidationErrorExtension(OpenApiSerializerExtension):
    target_class = ValidationErrorSerializer

    def get_name(self, auto_schema, direction):
        return "ValidationError"

    def map_serializer(self, auto_schema, direction):
        return {
            "type": "object",
            "description": ValidationErrorSerializer.__doc__.strip(),
            "properties": {
                "detail": {"type": "string"},
                "non_field_errors": _MESSAGES,
                "rows": {"type": "array", "items": {"oneOf": [ROW_ERROR_SCHEMA, {"type": "string"}]}},
            },
            "additionalProperties": _MESSAGES,
        }


_ERRORS = {
    400: OpenApiResponse(ValidationErrorSerializer, description="Invalid input; nothing was written."),
    401: OpenApiResponse(ErrorDetailSerializer, description="Not authenticated."),
    403: OpenApiResponse(ErrorDetailSerializer, description="Authenticated, but without the model permission "
                                                            "this request needs (view for reads)."),
    404: OpenApiResponse(ErrorDetailSerializer, description="No such object (or page)."),
    409: OpenApiResponse(ConflictSerializer, description="Conflicts with the current state (or a stored model "
                                                         "was refused by its signature or type check)."),
    413: OpenApiResponse(ErrorDetailSerializer, description="Request body larger than "
                                                            "DATA_UPLOAD_MAX_MEMORY_SIZE."),
    415: OpenApiResponse(ErrorDetailSerializer, description="Unsupported Content-Type."),
    429: OpenApiResponse(ErrorDetailSerializer, description="Too many writes; retry after the Retry-After "
                                                            "seconds."),
}
READ_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 413, 415, 429)


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error responses for `codes` (each with its body schema)."""
    return {code: _ERRORS[code] for code in codes}

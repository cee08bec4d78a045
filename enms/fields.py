"""Serializer fields, filters and filter sets shared by both apps.

The API speaks JSON: a number is a JSON number, a boolean is `true`/`false`, a string is a string.
DRF's stock fields also accept `"12"` for a number, `1` for a boolean or `12` for a string; the
strict fields below refuse that, so what the OpenAPI schema declares is exactly what is accepted.
Times must carry a UTC offset (RFC 3339), since a naive time is ambiguous.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from rest_framework import serializers

from .text import shown, text_problem

# No meter reading, evaluation or window of this product lies before the Unix epoch.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def latest_time(horizon: str = "skew", *, now: datetime | None = None) -> datetime:
    """The latest instant a client may send: now plus the allowed clock skew
    (`ENMS_MAX_CLOCK_SKEW_S`), or for driver values of the future (`horizon="forecast"`) now plus
    `ENMS_FORECAST_HORIZON_DAYS`."""
    now = now or timezone.now()
    if horizon == "forecast":
        return now + timedelta(days=settings.ENMS_FORECAST_HORIZON_DAYS)
    return now + timedelta(seconds=settings.ENMS_MAX_CLOCK_SKEW_S)


def check_time_bounds(value: datetime, *, latest: datetime) -> datetime:
    """`value` if it lies in [1970-01-01, latest]; else `ValueError` with a client-facing message."""
    if value < EARLIEST_TIME:
        raise ValueError("Must not be before 1970-01-01T00:00:00Z.")
    if value > latest:
        raise ValueError(f"Must not be later than {latest.replace(microsecond=0).isoformat()} (now plus the allowed "
                         "clock skew or forecast horizon).")
    return value


def magnitude_limit(setting: str) -> float:
    """The largest magnitude a field bounded by `setting` (e.g. `ENMS_MAX_ENERGY_KWH`) accepts."""
    return float(getattr(settings, setting))


def parse_aware_datetime(value: Any, *, clamp: bool = False) -> datetime:
    """Parse an ISO 8601 / RFC 3339 time that carries a UTC offset; returned in UTC.

    Naive times are ambiguous and refused. An instant outside what Python can hold in UTC (year 1
    with a positive offset, year 9999 with a negative one) is refused too, or with `clamp` (a
    query bound) becomes the earliest or latest representable instant. Raises `ValueError` with a
    client-facing message.
    """
    if not isinstance(value, str):
        raise ValueError("Datetime has wrong type; expected an ISO 8601 string.")
    # RFC 3339 allows a lower-case "t" separator and "z" offset.
    text = value.upper()
    parsed = None
    if len(text) >= 20 and text[4] == "-" and text[10] == "T":
        # The common extended form parses several times faster with the C parser than with the
        # regular expression; anything it refuses still gets the regular expression below.
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
    if parsed is None:
        try:
            parsed = parse_datetime(text)
        except ValueError:
            parsed = None
    if parsed is None:
        raise ValueError("Datetime has wrong format; use ISO 8601, e.g. 2026-01-31T13:00:00+00:00.")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("Datetime must include a UTC offset, e.g. +00:00 or Z.")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        if not clamp:
            raise ValueError("Datetime is out of range.") from None
        return (datetime.min if parsed.year == 1 else datetime.max).replace(tzinfo=UTC)


class FiniteFloatField(serializers.FloatField):
    """A JSON number that must be finite: NaN, ±Infinity (also as strings) and overflowing literals
    such as `1e999` are rejected with 400 instead of being stored."""

    default_error_messages = {
        "invalid": "A valid number is required.",
        "not_finite": "Must be a finite number (NaN and Infinity are not allowed).",
        "too_large": "Must lie within ±{limit:g} (setting {setting}).",
    }

    def __init__(self, *, limit: str | None = None, **kwargs):
        # `limit` names a setting bounding the magnitude, read at validation time (and stated in
        # the schema as the bounds in force when the serializer is declared).
        self.limit = limit
        if limit is not None:
            bound = magnitude_limit(limit)
            kwargs["max_value"] = bound if kwargs.get("max_value") is None else min(kwargs["max_value"], bound)
            kwargs["min_value"] = -bound if kwargs.get("min_value") is None else max(kwargs["min_value"], -bound)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and data.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            self.fail("not_finite")
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        try:
            value = float(data)
        except OverflowError:
            self.fail("not_finite")
        if not math.isfinite(value):
            self.fail("not_finite")
        if self.limit is not None and abs(value) > magnitude_limit(self.limit):
            self.fail("too_large", limit=magnitude_limit(self.limit), setting=self.limit)
        return value


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (an integral JSON number such as `3.0` is accepted; `"3"` and `true` are not)."""

    def to_internal_value(self, data):
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean: `true` or `false`, not `1`, `"yes"` or `"true"`."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictCharField(serializers.CharField):
    """A JSON string (DRF's CharField would turn the number 12 into "12"), kept as sent: trimming
    would make "  " blank after the schema called it a valid non-empty string. One line without
    control characters unless `multiline` (then tabs and line breaks are allowed); never an
    unpaired surrogate."""

    def __init__(self, *, multiline: bool = False, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        self.multiline = multiline
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        problem = text_problem(data, multiline=self.multiline)
        if problem:
            raise serializers.ValidationError(problem, code="invalid")
        return super().to_internal_value(data)


class StrictCharFieldExtension(OpenApiSerializerFieldExtension):
    """Say in the schema which characters the text may hold: no control characters (a multi-line
    field allows tab, line feed and carriage return)."""

    target_class = StrictCharField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        # One or more characters: whether "" is allowed is said apart (minLength, or drf-spectacular's
        # `oneOf` with an empty string for allow_blank, which must not overlap this branch).
        controls = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f" if self.target.multiline else "\\x00-\\x1f"
        # (Unpaired surrogates are refused too, but a pattern naming them is one schema tools
        # cannot use; a JSON text in UTF-8 cannot hold them anyway.)
        schema["pattern"] = f"^[^{controls}\\x7f-\\x9f]+$"
        return schema


class AwareDateTimeField(serializers.DateTimeField):
    """An RFC 3339 date-time with a UTC offset; naive times are a 400. In a body it must lie
    between 1970 and now plus the allowed clock skew (or the forecast horizon, with
    `horizon="forecast"`). With `clamp=True` (a query bound) any instant is accepted, and one beyond
    year 1 or 9999 in UTC is the earliest or latest one, not a 400."""

    def __init__(self, *, clamp: bool = False, horizon: str = "skew", **kwargs):
        self.clamp = clamp
        self.horizon = horizon
        super().__init__(**kwargs)

    def to_internal_value(self, value):
        try:
            parsed = parse_aware_datetime(value, clamp=self.clamp)
            if not self.clamp:
                check_time_bounds(parsed, latest=latest_time(self.horizon))
            return parsed
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None


class _AwareDateTimeFormField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_aware_datetime(value, clamp=True)
        except ValueError as exc:
            raise DjangoValidationError(str(exc), code="invalid") from None


class AwareDateTimeFilter(filters.IsoDateTimeFilter):
    """A query-string time filter that requires a UTC offset, like every other time the API reads."""

    field_class = _AwareDateTimeFormField


class _StrictBooleanFormField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise DjangoValidationError("Must be true or false.", code="invalid")
        return text == "true"


class StrictBooleanFilter(filters.BooleanFilter):
    """`?flag=true|false`; anything else is a 400 instead of being silently ignored."""

    field_class = _StrictBooleanFormField

    def __init__(self, *args, **kwargs):
        # django-filter's BooleanWidget maps any unknown value to "no filter"; read the raw text.
        kwargs["widget"] = forms.TextInput
        super().__init__(*args, **kwargs)


class ClosedMixin:
    """For a serializer: refuse keys it does not declare (DRF silently drops them), so a misspelt
    field is a 400 rather than a silent default; the schema says `additionalProperties: false`."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(map(shown, set(data) - set(self.fields)))
            if unknown:
                raise serializers.ValidationError({"non_field_errors": [f"Unknown field(s): {', '.join(unknown)}."]})
        return super().to_internal_value(data)


class ClosedSerializer(ClosedMixin, serializers.Serializer):
    """A plain serializer that refuses undeclared keys."""


class ClosedSerializerExtension(OpenApiSerializerExtension):
    target_class = ClosedMixin
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


class StrictFilterSet(filters.FilterSet):
    """A FilterSet for the API: a typed query parameter sent empty or blank (`?machine_id=`,
    `?machine_id=%20`) is a 400, like any other value that is not a UUID, a choice, a time or a
    boolean, instead of being ignored (django-filter strips it to nothing and drops the filter)."""

    def is_valid(self):
        valid = super().is_valid()
        blank = [
            name for name, flt in self.filters.items()
            if not isinstance(flt, filters.CharFilter) and name in self.data and str(self.data.get(name)).strip() == ""
        ]
        for name in blank:
            self.form.add_error(name, "This field may not be blank.")
        return valid and not blank


class _TextFormField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # A NUL character is matched (by nothing), not refused.
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class TextFilter(filters.CharFilter):
    """Exact match on a text column. Any string is a valid query: one with a NUL character (which
    no stored value holds, and PostgreSQL cannot take as a parameter) matches nothing."""

    field_class = _TextFormField

    def filter(self, qs, value):
        if value and "\x00" in value:
            return qs.none()
        return super().filter(qs, value)

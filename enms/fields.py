"""Serializer fields shared by both apps."""

import math

from rest_framework import serializers


class FiniteFloatField(serializers.FloatField):
    """A float that must be finite: NaN, ±Infinity (also as strings) and overflowing literals
    such as `1e999` are rejected with 400 instead of being stored."""

    default_error_messages = {"not_finite": "Must be a finite number (NaN and Infinity are not allowed)."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and data.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            self.fail("not_finite")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        return value


class StrictBooleanField(serializers.BooleanField):
    """A boolean that accepts JSON true/false (and CSV-style strings), not arbitrary numbers."""

    def to_internal_value(self, data):
        if isinstance(data, (int, float)) and not isinstance(data, bool) and data not in (0, 1):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)

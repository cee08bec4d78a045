"""Request body parsers of the API: JSON, and `text/csv` for bulk readings."""

import csv
import io

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser (NaN and Infinity literals are a parse error), which also turns
    absurdly deep nesting into a 400 instead of a RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class CSVParser(parsers.BaseParser):
    """A header row naming the columns, then one row per record."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"CSV is not valid {encoding}: {exc}") from exc
        if "\x00" in text:
            raise ParseError("CSV must not contain NUL characters.")
        try:
            reader = csv.reader(io.StringIO(text), strict=True)
            header = next(reader, None)
            if not header or not any(h.strip() for h in header):
                raise ParseError("CSV needs a header row naming the columns.")
            header = [h.strip() for h in header]
            if len(set(header)) != len(header):
                raise ParseError("CSV header repeats a column name.")
            rows = []
            for line_no, values in enumerate(reader, start=2):
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    raise ParseError(f"CSV line {line_no} has {len(values)} values, the header has {len(header)}.")
                rows.append({k: v.strip() for k, v in zip(header, values, strict=True)})
        except csv.Error as exc:
            raise ParseError(f"Malformed CSV: {exc}") from exc
        return rows


API_PARSERS = [JSONParser]

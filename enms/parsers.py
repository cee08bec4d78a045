"""Request body parsers of the API: JSON, and `text/csv` for bulk readings."""

import csv
import io

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

from .text import CONTROL_EXCEPT_LINES, json_text_problem


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser (NaN and Infinity literals are a parse error) that also turns
    absurdly deep nesting into a 400 instead of a RecursionError, and refuses unpaired surrogates
    and control characters in any string or key (`enms.text`) before a view sees them."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        raw = stream.read() if stream is not None else b""
        try:
            data = json.loads(raw.decode(encoding))
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except (ValueError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        utf8 = encoding.replace("-", "").replace("_", "").lower() == "utf8"
        problem = json_text_problem(data, raw if utf8 else None)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        return data


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
        if CONTROL_EXCEPT_LINES.search(text.replace("\t", " ")):
            raise ParseError("CSV must not contain control characters.")
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

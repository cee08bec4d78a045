"""`text/csv` request bodies: a header row, then one row per record."""

import csv
import io

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class CSVParser(BaseParser):
    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"CSV is not valid {encoding}: {exc}") from exc
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

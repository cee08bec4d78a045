"""Text a client may send: no lone surrogates (they cannot be encoded, stored in PostgreSQL or
written into an answer) and no control characters (they break e-mail subjects, logs and one-line
names). Multi-line free text (notes) may hold tabs and line breaks; names and JSON keys may not.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

SURROGATES = re.compile("[\ud800-\udfff]")
# C0 controls, DEL and C1 controls.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_EXCEPT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# In a raw JSON body, surrogates and control characters can only arrive as escapes (`\ud800`,
# `\u0001`, `\n`) or as raw C1/DEL bytes; a body without any of these needs no walk.
_RAW_SUSPECT = re.compile(rb"\\u[dD][89a-fA-F]|\\u00[0-1]|\\u007[fF]|\\u00[89]|\\[bfnrt]|\x7f|\xc2[\x80-\x9f]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` is not acceptable text, or None."""
    if SURROGATES.search(value):
        return "Must not contain unpaired surrogate characters."
    if (CONTROL_EXCEPT_LINES if multiline else CONTROL).search(value):
        if multiline:
            return "Must not contain control characters (other than tabs and line breaks)."
        return "Must not contain control characters or line breaks."
    return None


def shown(value: Any) -> str:
    """A client-sent string as it may appear inside an error message: escaped, so any answer
    that quotes it can be encoded."""
    text = str(value)
    if SURROGATES.search(text) or CONTROL.search(text):
        return text.encode("unicode_escape", errors="backslashreplace").decode("ascii")
    return text


def json_text_problem(data: Any, raw: bytes | None = None) -> str | None:
    """The first unacceptable string or key in parsed JSON `data`, described, or None.

    Keys must be single-line text; string values may hold tabs and line breaks (free-text notes),
    but no other control character and no unpaired surrogate. With the `raw` body, a body that
    cannot contain either is accepted without a walk.
    """
    if raw is not None and not _RAW_SUSPECT.search(raw):
        return None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item, multiline=True)
            if problem:
                return f"A string value: {problem}"
        elif isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str):
                    problem = text_problem(key)
                    if problem:
                        return f"A key ({shown(key)!r}): {problem}"
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return None


def machine_name_validator(value: str) -> None:
    """A machine name: one line of text without control characters, not blank."""
    problem = text_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid")
    if not value.strip():
        raise ValidationError("The name must not be blank.", code="blank")

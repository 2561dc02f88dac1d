"""Reading JSON that a benchmark printed or wrote, with every failure of the decoder as one error.

Besides ``JSONDecodeError``, Python's decoder raises a bare ``ValueError`` for an
integer past its digit limit and ``RecursionError`` for deep nesting; both are
reported like a syntax error, without echoing the offending text whole. A JSON
integer too large for a float is not an error here: it is simply not a metric
value (:func:`finite`).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["Document", "Undecodable", "excerpt", "find_document", "finite", "loads"]

_DECODER = json.JSONDecoder()


class Undecodable(Exception):
    """JSON text that the decoder refused: why, and where when the decoder says (1-based line, column)."""

    def __init__(self, why: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.line = line
        self.column = column

    def where(self) -> str:
        """``why`` with its position, e.g. ``Expecting value at line 3 column 5``."""
        if self.line is None:
            return self.why
        return f"{self.why} at line {self.line} column {self.column}"


def excerpt(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None: not a number, a boolean, NaN, infinite or too large."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int past float's range (JSON allows any number of digits)
        return None
    return number if math.isfinite(number) else None


def _decode(text: str, start: int = 0) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise Undecodable(exc.msg, exc.lineno, exc.colno) from None
    except ValueError:  # int max-str-digits: a number too long to read
        raise Undecodable(f"a number with more than {sys.get_int_max_str_digits()} digits") from None
    except RecursionError:
        raise Undecodable("nested too deeply") from None


def loads(text: str) -> Any:
    """``json.loads`` with each of its failures as one :class:`Undecodable`."""
    obj, end = _decode(text, len(text) - len(text.lstrip()))
    if text[end:].strip():
        line = text.count("\n", 0, end) + 1
        raise Undecodable("Extra data", line, end - text.rfind("\n", 0, end))
    return obj


@dataclass(frozen=True)
class Document:
    """A JSON document found in a benchmark's output, and the lines (1-based) it spans."""

    value: Any
    first_line: int
    last_line: int

    @property
    def lines(self) -> int:
        return self.last_line - self.first_line + 1


def find_document(text: str) -> Document:
    """The JSON object that starts at the first line beginning with ``{``, with whatever follows it ignored.

    Tools print notes before their JSON (fio echoes job lines when several are
    given on its command line) and test runners print summaries after it.

    Raises:
        Undecodable: no line starts with ``{``, or the object there is not valid JSON
            (its line numbers count from the start of ``text``).
    """
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        stripped = line.lstrip()
        if stripped.startswith("{"):
            start = offset + len(line) - len(stripped)
            value, end = _decode(text, start)
            return Document(value, number, text.count("\n", 0, end) + 1)
        offset += len(line)
    raise Undecodable("no line starts with '{'")

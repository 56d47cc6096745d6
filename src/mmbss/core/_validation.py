"""One place that checks public arguments and words the error (DESIGN style rule 3).

Every message has the form ``"<Owner>: '<name>' must be <expected>; got <value!r>."`` so that
users meet the same sentence everywhere and tests can pin it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

from .errors import InvalidTypeError, InvalidValueError

__all__: list[str] = []


def _fail(owner: str, name: str, expected: str, value: Any,
          exc: type[Exception] = InvalidValueError):
    raise exc(f"{owner}: '{name}' must be {expected}; got {value!r}.")


def check_int(owner: str, name: str, value: Any, *, low: int | None = None,
              high: int | None = None, allow_none: bool = False) -> int | None:
    """Return ``value`` if it is an int in ``[low, high]`` (inclusive), else raise."""
    if value is None and allow_none:
        return None
    expected = _range_text("an int", low, high, True, True) + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(owner, name, expected, value, InvalidTypeError)
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(owner, name, expected, value)
    return value


def check_float(owner: str, name: str, value: Any, *, low: float | None = None,
                high: float | None = None, low_open: bool = False, high_open: bool = False,
                allow_none: bool = False) -> float | None:
    """Return ``float(value)`` if it is a finite real in the given interval, else raise."""
    if value is None and allow_none:
        return None
    expected = _range_text("a float", low, high, not low_open, not high_open)
    if allow_none:
        expected += " or None"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(owner, name, expected, value, InvalidTypeError)
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        _fail(owner, name, expected, value)
    if low is not None and (v < low or (low_open and v == low)):
        _fail(owner, name, expected, value)
    if high is not None and (v > high or (high_open and v == high)):
        _fail(owner, name, expected, value)
    return v


def check_choice(owner: str, name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``; the error lists them and a close match."""
    choices = list(choices)
    if value in choices:
        return value
    shown = ", ".join(repr(c) for c in choices)
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [c for c in choices if isinstance(c, str)], n=1)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
    raise InvalidValueError(f"{owner}: '{name}' must be one of {shown}; got {value!r}{hint}.")


def check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        _fail(owner, name, "a bool", value, InvalidTypeError)
    return value


def check_name(owner: str, name: str, value: Any) -> str:
    """Return ``value`` if it can be one path component: a non-empty string without ``/``, ``\\``
    or NUL, not ``.`` or ``..`` and not starting with ``.`` (so it never leaves its folder)."""
    ok = (isinstance(value, str) and 0 < len(value) <= 200 and not value.startswith(".")
          and not any(c in value for c in "/\\\0"))
    if not ok:
        _fail(owner, name, "a name usable as one folder name (no '/', '\\', leading '.' or '..')",
              value, InvalidValueError if isinstance(value, str) else InvalidTypeError)
    return value


def _range_text(kind: str, low, high, low_closed: bool, high_closed: bool) -> str:
    if low is None and high is None:
        return kind
    if high is None:
        return f"{kind} {'>=' if low_closed else '>'} {low}"
    if low is None:
        return f"{kind} {'<=' if high_closed else '<'} {high}"
    return f"{kind} in {'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"

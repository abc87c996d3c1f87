"""Argument validation with one message style: "`name` must be ...; received name=...".

Every public constructor and function of the package checks its arguments with these helpers, so
a user mistake is a ``ValueError`` that names the argument, says what is allowed and shows the
value received. Nothing here imports TensorFlow or Keras (the client and the CLI use it too).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any


def fail(name: str, allowed: str, value: Any) -> None:
    """Raise the package's standard ValueError for argument ``name``."""
    raise ValueError(f"`{name}` must be {allowed}; received {name}={value!r}.")


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed`` (compared by equality, strings and None only)."""
    allowed = tuple(allowed)
    ok = (value is None or isinstance(value, str)) and value in allowed
    if not ok:
        fail(name, f"one of {list(allowed)}", value)
    return value


def is_int(value: Any) -> bool:
    """True for an integer that is not a bool (numpy integers included)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int | None = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) in ``[minimum, maximum]``."""
    ok = is_int(value)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if maximum is not None and minimum is not None:
            allowed = f"an integer in [{minimum}, {maximum}]"
        elif minimum is not None:
            allowed = f"an integer >= {minimum}"
        else:
            allowed = "an integer"
        fail(name, allowed, value)
    return int(value)


def check_optional_int(name: str, value: Any, minimum: int | None = 1, maximum: int | None = None) -> int | None:
    """Like :func:`check_int`, but ``None`` is allowed and returned unchanged."""
    if value is None:
        return None
    try:
        return check_int(name, value, minimum, maximum)
    except ValueError:
        fail(name, f"None or an integer >= {minimum}", value)
    return None  # unreachable: fail() raises


def check_float(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """Return ``value`` as a float if it is a real number (not a bool) within the given bounds."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value  # not NaN
    if ok and minimum is not None:
        ok = value >= minimum if min_inclusive else value > minimum
    if ok and maximum is not None:
        ok = value <= maximum if max_inclusive else value < maximum
    if not ok:
        fail(name, f"a number {_bounds(minimum, maximum, min_inclusive, max_inclusive)}".rstrip(), value)
    return float(value)


def _bounds(minimum, maximum, min_inclusive, max_inclusive) -> str:
    if minimum is not None and maximum is not None:
        return f"in {'[' if min_inclusive else '('}{minimum}, {maximum}{']' if max_inclusive else ')'}"
    if minimum is not None:
        return f"{'>=' if min_inclusive else '>'} {minimum}"
    if maximum is not None:
        return f"{'<=' if max_inclusive else '<'} {maximum}"
    return ""


def check_rate(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is in ``[0, 1)`` (dropout and drop-path rates)."""
    return check_float(name, value, 0.0, 1.0, max_inclusive=False)


def check_positive_float(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number > 0."""
    return check_float(name, value, 0.0, min_inclusive=False)


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is exactly True or False."""
    if not isinstance(value, bool):
        fail(name, "True or False", value)
    return value


def check_str(name: str, value: Any, *, allow_none: bool = False) -> str | None:
    """Return ``value`` if it is a non-empty string (or None when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value:
        fail(name, "a non-empty string" + (" or None" if allow_none else ""), value)
    return value

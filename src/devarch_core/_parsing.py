"""A small problem collector for parsing user data with paths (``instances.web.ports[0]``).

:class:`Problems` collects and checks: ``problems.scalar(value, path, str, "a name")`` returns
the value it accepts or records a problem at ``path``, so a parser reports every mistake at once.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from devarch_core.errors import Problem, ValidationError
from devarch_core.limits import MAX_DESCRIPTION, human_size

T = TypeVar("T")


class Problems:
    """Collects every problem found while parsing, so all are reported at once."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        """Record one problem at ``path``."""
        self.items.append(Problem(path, message))

    def extend(self, problems: ValidationError, prefix: str = "") -> None:
        """Record the problems of a nested ValidationError, under ``prefix``."""
        for p in problems.problems:
            self.add(join(prefix, p.path), p.message)

    @contextmanager
    def guard(self, path: str) -> Iterator[None]:
        """Turn a ValueError/ValidationError raised inside into a problem at ``path``."""
        try:
            yield
        except ValidationError as exc:
            self.extend(exc, path)
        except (ValueError, TypeError) as exc:
            self.add(path, str(exc))

    def raise_if_any(
        self, error: type[ValidationError] = ValidationError, what: str = "invalid input"
    ) -> None:
        """Raise ``error`` with every problem collected, if any."""
        if self.items:
            raise error(self.items, what=what)

    def __bool__(self) -> bool:
        return bool(self.items)

    # -- checks: each returns the value it accepts, or records a problem at ``path`` --------
    def expect_mapping(self, value: object, path: str) -> Mapping[str, Any]:
        """Return ``value`` if it is a mapping with string keys; record a problem otherwise."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.add(path, f"expected a mapping, got {type_name(value)}")
            return {}
        for key in value:
            if not isinstance(key, str):
                self.add(path, f"key {short_repr(key)} is not a string")
        return value

    def expect_list(self, value: object, path: str) -> list[Any]:
        """Return ``value`` as a list if it is one; record a problem otherwise."""
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            self.add(path, f"expected a list, got {type_name(value)}")
            return []
        return list(value)

    def check_keys(self, data: Mapping[str, Any], allowed: set[str], path: str) -> None:
        """Record every key of ``data`` that is not in ``allowed`` (unknown keys are mistakes)."""
        for key in sorted(set(data) - allowed, key=str):
            hint = f"; expected one of: {', '.join(sorted(allowed))}"
            self.add(join(path, str(key)), f"unknown key{hint}")

    def check_length(self, text: T, limit: int, path: str) -> T | None:
        """``text`` if it is at most ``limit`` characters; else record a problem and return None.

        The limits are documented in docs/manifest.md ("Limits").
        """
        if isinstance(text, str) and len(text) > limit:
            self.add(path, f"is {len(text):,} characters long; at most {human_size(limit)} allowed")
            return None
        return text

    def checked(self, value: T | None, path: str, check: Callable[[T], T]) -> T | None:
        """``check(value)`` (a rule of :mod:`devarch_core.validators`); else a problem at ``path``.

        ``None`` passes through unchecked (an absent value).
        """
        if value is None:
            return None
        try:
            return check(value)
        except ValueError as exc:
            self.add(path, str(exc))
            return None

    def scalar(  # noqa: PLR0911 - one early return per accepted form reads best
        self, value: object, path: str, kind: Callable[[Any], T], what: str
    ) -> T | None:
        """Convert ``value`` with ``kind`` (str/int/bool); record a problem if it does not fit."""
        # ``kind is int`` narrows ``kind`` to ``type[int]`` for mypy; convert through an alias of
        # the declared type so every branch returns ``T``.
        convert = kind
        if value is None:
            return None
        if kind is bool and not isinstance(value, bool):
            self.add(path, f"expected {what}, got {type_name(value)}")
            return None
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            if isinstance(value, str) and value.strip().isdigit():
                return convert(value.strip())
            self.add(path, f"expected {what}, got {type_name(value)}")
            return None
        if kind is str and not isinstance(value, str):
            if isinstance(value, int) and not isinstance(value, bool):
                return convert(value)
            if isinstance(value, float):
                # YAML reads 16.10 as 16.1 and 1e3 as 1000.0: the text would not be what was
                # written.
                self.add(
                    path, f"expected {what}, got a number; quote it (YAML reads 16.10 as 16.1)"
                )
                return None
            self.add(path, f"expected {what}, got {type_name(value)}")
            return None
        return kind(value)


def sorted_map(m: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``m`` sorted by key (attrs converter of mapping fields)."""
    return dict(sorted(m.items()))


def sorted_text_map(m: Mapping[str, str]) -> dict[str, str]:
    """A copy of a text-to-text mapping sorted by key (attrs converter of labels and the like).

    Not :func:`sorted_map`: the attrs mypy plugin types ``__init__`` from the converter.
    """
    return dict(sorted(m.items()))


def join(prefix: str, path: str) -> str:
    """Join two path parts: ``join('a', 'b') == 'a.b'``, ``join('a', '[0]') == 'a[0]'``."""
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def checked_description(value: object, path: str = "description") -> str:
    """``value`` if it is a description devarch accepts (text, at most ``MAX_DESCRIPTION``).

    For descriptions given through the API or CLI; raises ``ValidationError`` naming ``path``.
    """
    problems = Problems()
    text = problems.check_length(problems.scalar(value, path, str, "text"), MAX_DESCRIPTION, path)
    problems.raise_if_any(what="invalid description")
    return text or ""


_REPR = reprlib.Repr()  # Python 3.11's Repr takes no keyword arguments
_REPR.maxlevel = 2
_REPR.maxtuple = _REPR.maxlist = _REPR.maxarray = _REPR.maxdict = 4
_REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 4
_REPR.maxstring = 64
_REPR.maxlong = _REPR.maxother = 40


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters, at a cost bounded whatever the value.

    Messages quote user values with this, never with ``!r``: a value can be a 10 MB string or a
    list reaching millions of items through YAML aliases.
    """
    try:
        # A string is cut before repr so a 10 MB value costs no more than a short one.
        text = repr(value[: limit + 1]) if isinstance(value, str) else _REPR.repr(value)
    except ValueError:  # an int beyond Python's digit limit for str()
        return f"<{type_name(value)} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (with ``...``), for names shown without quotes."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def listing(items: Iterable[object], limit: int = 20) -> str:
    """``a, b, c`` of the first ``limit`` items, then how many more: bounded, whatever the count."""
    shown: list[str] = []
    more = 0
    for item in items:
        if len(shown) < limit:
            shown.append(shorten(str(item)))
        else:
            more += 1
    return ", ".join(shown) + (f" and {more} more" if more else "")


def type_name(value: object) -> str:
    """A user-facing name for the type of ``value``."""
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)

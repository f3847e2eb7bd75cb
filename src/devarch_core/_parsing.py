"""A small problem collector for parsing user data with paths (``instances.web.ports[0]``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from devarch_core.errors import Problem, ValidationError

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


def join(prefix: str, path: str) -> str:
    """Join two path parts: ``join('a', 'b') == 'a.b'``, ``join('a', '[0]') == 'a[0]'``."""
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def expect_mapping(value: object, path: str, problems: Problems) -> Mapping[str, Any]:
    """Return ``value`` if it is a mapping with string keys; record a problem otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(path, f"expected a mapping, got {type_name(value)}")
        return {}
    for key in value:
        if not isinstance(key, str):
            problems.add(path, f"key {key!r} is not a string")
    return value


def expect_list(value: object, path: str, problems: Problems) -> list[Any]:
    """Return ``value`` as a list if it is one; record a problem otherwise."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        problems.add(path, f"expected a list, got {type_name(value)}")
        return []
    return list(value)


def check_keys(data: Mapping[str, Any], allowed: set[str], path: str, problems: Problems) -> None:
    """Record every key of ``data`` that is not in ``allowed`` (unknown keys are mistakes)."""
    for key in sorted(set(data) - allowed, key=str):
        hint = f"; expected one of: {', '.join(sorted(allowed))}"
        problems.add(join(path, str(key)), f"unknown key{hint}")


def checked(
    value: T | None, path: str, problems: Problems, check: Callable[[T], T]
) -> T | None:
    """``check(value)`` (a rule of :mod:`devarch_core.validators`); a problem at ``path`` if not.

    ``None`` passes through unchecked (an absent value).
    """
    if value is None:
        return None
    try:
        return check(value)
    except ValueError as exc:
        problems.add(path, str(exc))
        return None


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


def scalar(  # noqa: PLR0911 - one early return per accepted form reads best
    value: object, path: str, problems: Problems, kind: Callable[[Any], T], what: str
) -> T | None:
    """Convert ``value`` with ``kind`` (str/int/bool), recording a problem if it does not fit."""
    # ``kind is int`` narrows ``kind`` to ``type[int]`` for mypy; convert through an alias of the
    # declared type so every branch returns ``T``.
    convert = kind
    if value is None:
        return None
    if kind is bool and not isinstance(value, bool):
        problems.add(path, f"expected {what}, got {type_name(value)}")
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, str) and value.strip().isdigit():
            return convert(value.strip())
        problems.add(path, f"expected {what}, got {type_name(value)}")
        return None
    if kind is str and not isinstance(value, str):
        if isinstance(value, int) and not isinstance(value, bool):
            return convert(value)
        if isinstance(value, float):
            # YAML reads 16.10 as 16.1 and 1e3 as 1000.0: the text would not be what was written.
            problems.add(
                path, f"expected {what}, got a number; quote it (YAML reads 16.10 as 16.1)"
            )
            return None
        problems.add(path, f"expected {what}, got {type_name(value)}")
        return None
    return kind(value)

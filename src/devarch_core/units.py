"""Parsing and canonical formatting of sizes, CPU counts and durations.

Each parser raises ``ValueError`` with a readable reason; callers wrap it into a
``ValidationError`` that names where the value came from.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from devarch_core._parsing import short_repr
from devarch_core.validators import shown as _shown

__all__ = [
    "format_cpus",
    "format_duration",
    "format_memory",
    "parse_cpus",
    "parse_duration",
    "parse_memory",
]

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
#: Below this a container cannot start on Docker (it refuses < 6 MiB).
MIN_MEMORY = 6 * 1024**2
#: Above this a size is a typo (the engine takes int64 bytes; no host has a pebibyte of memory).
MAX_MEMORY = 1024**5
MIN_CPUS = Decimal("0.01")
#: The largest CPU count accepted (the engine multiplies by 10^9 into an int64).
MAX_CPUS = Decimal(1024)
#: Longer texts are no size, CPU count or duration (and would cost time: "1s" * 100_000).
_MAX_TEXT = 64


def _text(value: object, what: str, example: str) -> str:
    text = str(value)
    if len(text) > _MAX_TEXT:
        raise ValueError(f"{short_repr(value)} is not {what} (use e.g. {example})")
    return text


def parse_memory(value: str | int) -> int:
    """Parse ``512m``, ``1g``, ``1.5GiB``, ``1048576`` into bytes (binary units, as Compose)."""
    if isinstance(value, bool):
        raise ValueError(f"{short_repr(value)} is not a memory size")  # noqa: TRY004 - callers report bad values
    if isinstance(value, int):
        number, unit = Decimal(value), ""
    else:
        match = _MEMORY.match(_text(value, "a memory size", "512m, 1g, 2GiB"))
        if not match:
            raise ValueError(f"{_shown(value)} is not a memory size (use e.g. 512m, 1g, 2GiB)")
        number, unit = Decimal(match.group(1)), match.group(2).lower()
    size = int(number * _UNITS[unit])
    if size < MIN_MEMORY:
        raise ValueError(f"{_shown(value)} is below the minimum of 6m")
    if size > MAX_MEMORY:
        raise ValueError(f"{_shown(value)} is above the maximum of {format_memory(MAX_MEMORY)}")
    return size


def format_memory(size: int) -> str:
    """Format bytes in the largest binary unit that divides them (``536870912`` -> ``512m``)."""
    for unit in ("t", "g", "m", "k"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


def parse_cpus(value: str | float) -> Decimal:
    """Parse a CPU count such as ``"0.5"`` or ``2``; at least 0.01, at most two decimals."""
    if isinstance(value, bool):
        raise ValueError(f"{short_repr(value)} is not a CPU count")  # noqa: TRY004 - callers report bad values
    try:
        cpus = Decimal(_text(value, "a CPU count", "0.5 or 2").strip())
    except InvalidOperation:
        raise ValueError(f"{_shown(value)} is not a CPU count (use e.g. 0.5 or 2)") from None
    if not cpus.is_finite():
        raise ValueError(f"{_shown(value)} is not a finite CPU count")
    if cpus < MIN_CPUS:
        raise ValueError(f"{_shown(value)} is below the minimum of {MIN_CPUS} CPUs")
    if cpus > MAX_CPUS:
        raise ValueError(f"{_shown(value)} is above the maximum of {MAX_CPUS} CPUs")
    if cpus != cpus.quantize(MIN_CPUS):
        raise ValueError(f"{_shown(value)} has more than two decimals")
    return cpus.quantize(MIN_CPUS).normalize()


def format_cpus(cpus: Decimal) -> str:
    """Canonical text of a CPU count (``Decimal('0.50')`` -> ``"0.5"``)."""
    return format(cpus.normalize(), "f")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_DURATION_UNITS: dict[str, Decimal | int] = {
    "us": Decimal("0.000001"),
    "ms": Decimal("0.001"),
    "s": 1,
    "m": 60,
    "h": 3600,
}


def parse_duration(value: str | float) -> Decimal:
    """Parse a Compose duration (``5s``, ``1m30s``, ``500ms``, or a number of seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"{short_repr(value)} is not a duration")  # noqa: TRY004 - callers report bad values
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):  # NaN or infinite
            raise ValueError(f"{short_repr(value)} is not a finite duration")
        if value < 0:
            raise ValueError(f"{value!r} is negative")
        return _bounded_duration(Decimal(str(value)), value)
    text = _text(value, "a duration", "5s, 1m30s, 500ms").strip()
    pos = 0
    total = Decimal(0)
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += Decimal(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"{_shown(value)} is not a duration (use e.g. 5s, 1m30s, 500ms)")
    return _bounded_duration(total, value)


#: Durations are 0 (the engine's default) or 1ms to 24h: the engine refuses a non-zero duration
#: under 1ms, and a longer one is a typo that would make a healthcheck never run.
MIN_DURATION = Decimal("0.001")
MAX_DURATION = Decimal(24 * 3600)


def _bounded_duration(seconds: Decimal, value: object) -> Decimal:
    if seconds and seconds < MIN_DURATION:
        raise ValueError(f"{_shown(value)} is below the minimum of 1ms (0 means the default)")
    if seconds > MAX_DURATION:
        raise ValueError(f"{_shown(value)} is above the maximum of 24h")
    return seconds


def format_duration(seconds: Decimal) -> str:
    """Canonical Compose text of a duration (``Decimal(90)`` -> ``"1m30s"``, 0.5 -> ``"500ms"``)."""
    if seconds == seconds.to_integral_value():
        whole = int(seconds)
        parts = []
        for unit, size in (("h", 3600), ("m", 60)):
            if whole >= size:
                parts.append(f"{whole // size}{unit}")
                whole %= size
        if whole or not parts:
            parts.append(f"{whole}s")
        return "".join(parts)
    ms = seconds * 1000
    if ms == ms.to_integral_value():
        return f"{int(ms)}ms"
    return f"{int(seconds * 1_000_000)}us"

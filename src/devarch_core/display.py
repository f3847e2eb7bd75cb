r"""Make untrusted text safe to print on a terminal.

Descriptions, names, values, engine messages and error texts can hold terminal escape
sequences (``\x1b[31m``, ``\x1b]0;title\x07``), carriage returns that overwrite a line, or
bidirectional overrides that reorder what the reader sees. Every human rendering (the plan in
this package, every table, message and error of the CLI) passes its text through
:func:`printable`, which shows such characters as visible escapes instead of sending them.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

#: C0 and C1 controls, DEL, line/paragraph separators and the bidirectional formatting marks
#: (Trojan Source). ``\n`` is handled by ``newlines``.
_UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_UNSAFE_WITH_NEWLINE = re.compile(_UNSAFE.pattern[:-1] + "\n]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"  # noqa: PLR2004 - one byte


def _escape_json(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: str, *, newlines: bool = True, json: bool = False) -> str:
    r"""Return ``text`` with every control or bidi character shown as an escape (``\x1b``).

    ``newlines`` keeps ``\n`` as a line break (multi-line messages); without it ``\n`` shows
    as ``\n`` too (a table cell, a one-line field). ``json`` writes ``\u001b``-style escapes
    instead, which are valid inside JSON strings, for text that is a JSON document (in JSON
    output every such character can only sit inside a string). Plain text passes unchanged.
    """
    pattern = _UNSAFE if newlines else _UNSAFE_WITH_NEWLINE
    return pattern.sub(_escape_json if json else _escape, text)

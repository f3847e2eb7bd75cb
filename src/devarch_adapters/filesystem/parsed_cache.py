"""Parsed template files kept on disk between runs (``DEVARCH_HOME/cache/templates.json``).

Every command that reads a template loads the whole catalog (builtin and user directories);
parsing its YAML (and importing PyYAML) was a good part of a no-op ``apply``. This cache maps the
SHA-256 of a template file's text to its parsed YAML document, so an unchanged file is read as
JSON instead. The template is still validated from that data on every run, a changed file has
another hash, and a cache that cannot be read or written is ignored: it only ever saves time.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

__all__ = ["ParsedCache"]

#: Bump when the parsed form of a document changes (a new YAML loader rule).
FORMAT = 1


class ParsedCache(MutableMapping[str, Any]):
    """Parsed documents by text hash, read from ``path`` on first use, written by :meth:`save`.

    :meth:`save` writes the entries used since the file was read (the current catalog's files),
    so documents of files that were edited or removed do not pile up.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read: dict[str, Any] | None = None
        self._used: dict[str, Any] = {}
        self._dirty = False

    def _entries(self) -> dict[str, Any]:
        if self._read is None:
            self._read = {}
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and data.get("format") == FORMAT:
                    docs = data.get("documents")
                    if isinstance(docs, dict):
                        self._read = docs
        return self._read

    def __getitem__(self, key: str) -> Any:  # noqa: ANN401 - a parsed YAML document
        value = self._entries()[key]
        self._used[key] = value
        return value

    def __setitem__(self, key: str, value: Any) -> None:  # noqa: ANN401 - a parsed YAML document
        self._entries()[key] = value
        self._used[key] = value
        self._dirty = True

    def __delitem__(self, key: str) -> None:
        del self._entries()[key]
        self._used.pop(key, None)
        self._dirty = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def save(self) -> None:
        """Write the used entries when something was added or the file held others; never raises.

        Written to a temporary file in the same directory and renamed, mode 0600.
        """
        stale = self._read is not None and set(self._read) != set(self._used)
        if not (self._dirty or stale):
            return
        with contextlib.suppress(OSError, TypeError, ValueError):
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            import tempfile  # noqa: PLC0415 - only when the cache changed

            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".templates-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({"format": FORMAT, "documents": self._used}, fh)
                Path(tmp).replace(self.path)
            finally:
                Path(tmp).unlink(missing_ok=True)
            self._dirty = False

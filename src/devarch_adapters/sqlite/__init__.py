"""The embedded default store (one SQLite file) and its OS file lock per stack."""

from devarch_adapters.sqlite._lock import FileStackLock
from devarch_adapters.sqlite._store import SqliteStore

__all__ = [
    "FileStackLock",
    "SqliteStore",
]

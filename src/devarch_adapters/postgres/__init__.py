"""The PostgreSQL store (a team shares one database) and its advisory-lock stack lock."""

from devarch_adapters.postgres._lock import PostgresStackLock
from devarch_adapters.postgres._store import PostgresStore

__all__ = [
    "PostgresStackLock",
    "PostgresStore",
]

"""``PostgresStackLock``: a session advisory lock per stack, on a connection of its own."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Final

import psycopg

from devarch_adapters.postgres._store import advisory_key, safe_url
from devarch_core.errors import StackLockedError, StoreError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["PostgresStackLock"]

#: PostgreSQL keeps at most NAMEDATALEN - 1 bytes of ``application_name``.
_MAX_APP_NAME: Final = 63

_HOLDER_SQL: Final = """
    SELECT a.application_name
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = %s AND l.objid::bigint = %s
    LIMIT 1
"""


def _application_name(holder: str) -> str:
    """``devarch {holder} pid 123@host``, printable ASCII, cut to what PostgreSQL keeps."""
    suffix = f" pid {os.getpid()}@{socket.gethostname()}"
    head = f"devarch {holder}"
    text = head[: max(_MAX_APP_NAME - len(suffix), 16)] + suffix
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text[:_MAX_APP_NAME]


class PostgresStackLock:
    """A :class:`~devarch_core.ports.StackLock` made of PostgreSQL session advisory locks.

    Each acquire opens a dedicated connection whose ``application_name`` describes the holder,
    and takes ``pg_try_advisory_lock(key)`` with ``key`` a stable 64-bit hash of
    ``"devarch:" + stack``; release unlocks and closes it. The lock belongs to that session, so a
    crashed holder's lock disappears with its connection. Everyone sharing the database (a team)
    shares the locks. ``holder()`` reads the holder from ``pg_locks`` and ``pg_stat_activity``.
    """

    #: Seconds between attempts while waiting for a held lock.
    poll_interval = 0.1

    def __init__(self, url: str, *, connect_timeout: float = 10) -> None:
        self._dsn = url
        self.url = safe_url(url)
        self._connect_timeout = connect_timeout

    @staticmethod
    def key(stack: str) -> int:
        """Return the advisory lock key of a stack."""
        return advisory_key(f"devarch:{stack}")

    def _connect(self, application_name: str) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=max(1, int(self._connect_timeout)),
                application_name=application_name,
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.url} for a lock: {exc}"
            ) from None

    def _holder(self, conn: psycopg.Connection[Any], stack: str) -> str | None:
        key = self.key(stack)
        row = conn.execute(_HOLDER_SQL, ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
        return None if row is None else str(row[0] or "unknown holder")

    def _take(self, conn: psycopg.Connection[Any], stack: str, timeout: float | None) -> None:
        key = self.key(stack)
        deadline = time.monotonic() + (timeout or 0)
        try:
            while True:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                if row is not None and row[0]:
                    return
                if timeout is None or time.monotonic() >= deadline:
                    raise StackLockedError(stack, self._holder(conn, stack) or "unknown holder")
                time.sleep(min(self.poll_interval, max(deadline - time.monotonic(), 0)))
        except psycopg.Error as exc:
            raise StoreError(f"cannot lock stack {stack} on {self.url}: {exc}") from exc

    @contextmanager
    def _acquire(self, stack: str, holder: str, timeout: float | None) -> Iterator[None]:
        conn = self._connect(_application_name(holder))
        try:
            self._take(conn, stack, timeout)
            try:
                yield
            finally:
                # Closing the session releases the lock too; unlocking first says so explicitly.
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (self.key(stack),))
        finally:
            conn.close()

    def acquire(
        self, stack: str, *, holder: str, timeout: float | None = None
    ) -> AbstractContextManager[None]:
        """Hold the stack's lock for the block; ``StackLockedError`` naming the holder if taken."""
        return self._acquire(stack, holder, timeout)

    def holder(self, stack: str) -> str | None:
        """Who holds the stack's lock (its session's ``application_name``), or None."""
        conn = self._connect("devarch lock probe")
        try:
            return self._holder(conn, stack)
        except psycopg.Error as exc:
            raise StoreError(f"cannot read locks on {self.url}: {exc}") from exc
        finally:
            conn.close()

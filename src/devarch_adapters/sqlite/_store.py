"""``SqliteStore``: the embedded default store, one SQLite file (WAL, foreign keys, migrations)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import weakref
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from devarch_adapters._sqlstore import dump_json, open_session, pending_migrations
from devarch_adapters.sqlite._lock import make_private_dir
from devarch_core.errors import DevarchError, StoreError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from devarch_core.ports import StoreSession

__all__ = ["MIGRATIONS", "SqliteStore"]

#: Versioned schema migrations, applied in order on open. Never edit one that has shipped.
MIGRATIONS: Final[tuple[tuple[int, str], ...]] = (
    (
        1,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE stacks (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            network TEXT,
            enabled INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE instances (
            id TEXT PRIMARY KEY,
            stack_id TEXT NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            container_name TEXT NOT NULL UNIQUE,
            template TEXT NOT NULL,
            template_version TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            enabled INTEGER NOT NULL DEFAULT 1,
            overrides TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL DEFAULT '',
            UNIQUE (stack_id, name)
        );
        CREATE TABLE wires (
            stack_id TEXT NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
            consumer TEXT NOT NULL,
            import_name TEXT NOT NULL,
            provider TEXT NOT NULL,
            export_name TEXT,
            PRIMARY KEY (stack_id, consumer, import_name)
        );
        CREATE TABLE secrets (
            stack_id TEXT NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
            instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            sealed BLOB NOT NULL,
            PRIMARY KEY (instance_id, name)
        );
        CREATE INDEX secrets_stack_id ON secrets (stack_id);
        CREATE TABLE applied (
            instance_id TEXT PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
            config_hash TEXT NOT NULL,
            config TEXT NOT NULL,
            applied_at TEXT NOT NULL
        );
        CREATE TABLE port_allocations (
            instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
            container_port INTEGER NOT NULL,
            protocol TEXT NOT NULL,
            host_ip TEXT NOT NULL,
            host_port INTEGER NOT NULL,
            PRIMARY KEY (instance_id, container_port, protocol),
            UNIQUE (host_ip, host_port, protocol)
        )
        """,
    ),
    (
        2,
        # Named engines, the engine each stack is bound to, and host ports unique per engine
        # (docs/engines.md). SQLite cannot drop a UNIQUE constraint: the table is rebuilt.
        """
        CREATE TABLE engines (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            endpoint TEXT NOT NULL DEFAULT '',
            context TEXT NOT NULL DEFAULT '',
            host TEXT NOT NULL DEFAULT '',
            options TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL DEFAULT ''
        );
        ALTER TABLE stacks ADD COLUMN engine TEXT REFERENCES engines(name);
        CREATE TABLE port_allocations_v2 (
            instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
            container_port INTEGER NOT NULL,
            protocol TEXT NOT NULL,
            host_ip TEXT NOT NULL,
            host_port INTEGER NOT NULL,
            engine TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (instance_id, container_port, protocol),
            UNIQUE (engine, host_ip, host_port, protocol)
        );
        INSERT INTO port_allocations_v2
            (instance_id, container_port, protocol, host_ip, host_port, engine)
            SELECT instance_id, container_port, protocol, host_ip, host_port, ''
            FROM port_allocations;
        DROP TABLE port_allocations;
        ALTER TABLE port_allocations_v2 RENAME TO port_allocations
        """,
    ),
)


class _SqliteDriver:
    """The :class:`~devarch_adapters._sqlstore.Driver` for one sqlite3 connection."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(sql, params).fetchall())

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    def json_param(self, value: object) -> object:
        return dump_json(value)

    def json_value(self, raw: object) -> Any:  # noqa: ANN401 - JSON is any plain data
        return json.loads(str(raw))

    def lock_table(self, table: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already serializes write transactions."""

    def violation(self, exc: Exception) -> str | None:
        if isinstance(exc, sqlite3.IntegrityError):
            text = str(exc)
            if text.startswith("UNIQUE constraint failed"):
                return "unique"
            if "FOREIGN KEY" in text:
                return "foreign_key"
        return None


class _Connection:
    """A thread's kept connection and the process that opened it (weakly referable)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.close()


#: Connections a forked child inherited from its parent: kept, never used or closed.
_INHERITED: list[_Connection] = []


def _path_from(path_or_url: str | os.PathLike[str]) -> Path:
    text = os.fspath(path_or_url)
    if text.startswith("sqlite://"):
        rest = text.removeprefix("sqlite://")
        if not rest.startswith("/") or rest in ("/", "/:memory:"):
            raise StoreError(
                f"unsupported SQLite store URL {text!r}: use sqlite:///absolute/path/devarch.db"
            )
        return Path(rest)
    if "://" in text:
        raise StoreError(f"not a SQLite store URL: {text!r}")
    return Path(text).expanduser().absolute()


class SqliteStore:
    """The :class:`~devarch_core.ports.Store` in one SQLite file.

    ``path_or_url`` is ``sqlite:///abs/path/devarch.db`` or a file path. Opening creates the
    parent directory (mode 0700) and the file (0600) if needed, switches to WAL and applies
    pending migrations. Each thread keeps one connection for its transactions, each starting
    with ``BEGIN IMMEDIATE``: writers from any thread or process serialize, waiting up to
    ``busy_timeout`` seconds for each other instead of failing at once. Transactions do not nest.
    """

    def __init__(self, path_or_url: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = _path_from(path_or_url)
        self.url = f"sqlite://{self.path}"
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._closed = False
        #: Every thread's open connection (a thread's goes when the thread ends), for close().
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._prepare_files()
        with self._connect() as conn:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open SQLite store {self.url}: {exc}") from exc
        self._migrate()

    def _prepare_files(self) -> None:
        parent = self.path.parent
        try:
            make_private_dir(parent)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise StoreError(f"cannot create SQLite store {self.url}: {exc}") from exc

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own, closed at the end (opening the store uses one)."""
        conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,  # close() may close it from another thread
            )
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.url}: {exc}") from exc
        return conn

    def _connection(self) -> _Connection:
        """The calling thread's connection, opened on first use and kept for the next one.

        Opening a connection per transaction cost ~10 ms each time: the last connection to close
        checkpoints and deletes the WAL, the next one recreates it. A connection made before a
        ``fork`` is never used (nor closed) by the child: it opens its own.
        """
        held: _Connection | None = getattr(self._local, "conn", None)
        if held is not None and held.pid == os.getpid() and not held.closed:
            return held
        if held is not None and held.pid != os.getpid():
            _INHERITED.append(held)  # the parent's: closing it here could disturb the parent
        held = _Connection(self._open())
        self._local.conn = held
        with self._lock:
            self._connections.add(held)
        return held

    def _drop(self, held: _Connection) -> None:
        """Close a connection and forget it (this thread opens a new one if it needs one)."""
        held.close()
        if getattr(self._local, "conn", None) is held:
            self._local.conn = None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a ``BEGIN IMMEDIATE`` transaction; driver errors become ``StoreError``."""
        if self._closed:
            raise StoreError(f"the store {self.url} is closed")
        if getattr(self._local, "active", False):
            raise StoreError("transactions do not nest; use the session you already have")
        self._local.active = True
        held = self._connection()
        conn = held.conn
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot start a transaction on {self.url}: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except DevarchError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.url} failed: {exc}") from exc
        finally:
            self._local.active = False
            if self._closed or conn.in_transaction:
                # Closed meanwhile, or a failed ROLLBACK: never reuse a connection mid-transaction.
                self._drop(held)

    def _migrate(self) -> None:
        with self._transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            current = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0
            for version, script in pending_migrations(MIGRATIONS, current, self.url):
                # One statement at a time: executescript() would commit behind our back.
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at)"
                    " VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                    (version,),
                )

    def transaction(self) -> AbstractContextManager[StoreSession]:
        """Open one transaction; commit on normal exit, roll back on exception."""
        return open_session(self._transaction(), _SqliteDriver)

    def schema_version(self) -> int:
        """Return the applied migration version (read from the database)."""
        with self._transaction() as conn:
            return int(conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0])

    def close(self) -> None:
        """Refuse further transactions and close the idle connections. Idempotent.

        A transaction running in another thread finishes; its connection closes when it ends.
        """
        self._closed = True
        with self._lock:
            idle = [h for h in self._connections if not h.closed and not h.conn.in_transaction]
        for held in idle:
            if held.pid == os.getpid():
                held.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self.url!r})"

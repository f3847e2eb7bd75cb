"""``PostgresStore``: the shared team store on PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from devarch_adapters._sqlstore import open_session, pending_migrations
from devarch_core.errors import DevarchError, StoreError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from devarch_core.ports import StoreSession

__all__ = ["MIGRATIONS", "PostgresStore", "advisory_key", "safe_url"]

#: Versioned schema migrations, applied in order on open. Never edit one that has shipped.
#: Text keys use the "C" collation so lists sort by code point, exactly like the other stores.
MIGRATIONS: Final[tuple[tuple[int, str], ...]] = (
    (
        1,
        """
        CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE stacks (
            id TEXT COLLATE "C" PRIMARY KEY,
            name TEXT COLLATE "C" NOT NULL UNIQUE,
            description TEXT NOT NULL DEFAULT '',
            network TEXT,
            enabled BOOLEAN NOT NULL DEFAULT TRUE,
            created_at TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE instances (
            id TEXT COLLATE "C" PRIMARY KEY,
            stack_id TEXT COLLATE "C" NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
            name TEXT COLLATE "C" NOT NULL,
            container_name TEXT COLLATE "C" NOT NULL UNIQUE,
            template TEXT NOT NULL,
            template_version TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            enabled BOOLEAN NOT NULL DEFAULT TRUE,
            overrides JSONB NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL DEFAULT '',
            UNIQUE (stack_id, name)
        );
        CREATE TABLE wires (
            stack_id TEXT COLLATE "C" NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
            consumer TEXT COLLATE "C" NOT NULL,
            import_name TEXT COLLATE "C" NOT NULL,
            provider TEXT NOT NULL,
            export_name TEXT,
            PRIMARY KEY (stack_id, consumer, import_name)
        );
        CREATE TABLE secrets (
            stack_id TEXT COLLATE "C" NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
            instance_id TEXT COLLATE "C" NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
            name TEXT COLLATE "C" NOT NULL,
            sealed BYTEA NOT NULL,
            PRIMARY KEY (instance_id, name)
        );
        CREATE INDEX secrets_stack_id ON secrets (stack_id);
        CREATE TABLE applied (
            instance_id TEXT COLLATE "C" PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
            config_hash TEXT NOT NULL,
            config JSONB NOT NULL,
            applied_at TEXT NOT NULL
        );
        CREATE TABLE port_allocations (
            instance_id TEXT COLLATE "C" NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
            container_port INTEGER NOT NULL,
            protocol TEXT COLLATE "C" NOT NULL,
            host_ip TEXT NOT NULL,
            host_port INTEGER NOT NULL,
            PRIMARY KEY (instance_id, container_port, protocol),
            UNIQUE (host_ip, host_port, protocol)
        );
        """,
    ),
    (
        2,
        # Named engines, the engine each stack is bound to, and host ports unique per engine
        # (docs/engines.md).
        """
        CREATE TABLE engines (
            name TEXT COLLATE "C" PRIMARY KEY,
            kind TEXT NOT NULL,
            endpoint TEXT NOT NULL DEFAULT '',
            context TEXT NOT NULL DEFAULT '',
            host TEXT NOT NULL DEFAULT '',
            options JSONB NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL DEFAULT ''
        );
        ALTER TABLE stacks ADD COLUMN engine TEXT COLLATE "C" REFERENCES engines(name);
        ALTER TABLE port_allocations ADD COLUMN engine TEXT COLLATE "C" NOT NULL DEFAULT '';
        ALTER TABLE port_allocations
            DROP CONSTRAINT port_allocations_host_ip_host_port_protocol_key;
        ALTER TABLE port_allocations ADD CONSTRAINT port_allocations_engine_host_port_key
            UNIQUE (engine, host_ip, host_port, protocol);
        """,
    ),
)


def advisory_key(text: str) -> int:
    """Return a stable signed 64-bit ``pg_advisory_lock`` key (the first 8 bytes of SHA-256)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def safe_url(url: str) -> str:
    """``postgresql://user@host:port/db``: the location without the password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreError(f"not a PostgreSQL URL: {exc}") from None
    user = f"{info['user']}@" if info.get("user") else ""
    host = str(info.get("host") or "localhost")
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname') or ''}"


class _PostgresDriver:
    """The :class:`~devarch_adapters._sqlstore.Driver` for one psycopg connection."""

    errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def query(self, sql_text: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        cur = self._conn.execute(sql_text.replace("?", "%s"), params or None)
        return list(cur.fetchall())

    def run(self, sql_text: str, params: Sequence[object] = ()) -> int:
        cur = self._conn.execute(sql_text.replace("?", "%s"), params or None)
        return cur.rowcount

    def json_param(self, value: object) -> object:
        return Jsonb(value)

    def json_value(self, raw: object) -> Any:  # noqa: ANN401 - JSON is any plain data
        return raw  # psycopg parses jsonb

    def lock_table(self, table: str) -> None:
        """Lock ``table`` in ``SHARE ROW EXCLUSIVE`` mode until the transaction ends.

        It conflicts with itself and with every INSERT/UPDATE/DELETE (cascades included), not
        with plain reads.
        """
        self._conn.execute(
            sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(sql.Identifier(table))
        )

    def violation(self, exc: Exception) -> str | None:
        if isinstance(exc, pgerrors.UniqueViolation):
            return "unique"
        if isinstance(exc, pgerrors.ForeignKeyViolation):
            return "foreign_key"
        return None


class PostgresStore:
    """The :class:`~devarch_core.ports.Store` in a PostgreSQL database, in ``schema``.

    Opening connects, creates ``schema`` if needed and applies pending migrations under a
    transaction-scoped advisory lock, so processes opening the store at once migrate it once.

    One connection is kept and guarded by a ``threading.Lock``: a devarch process makes many
    short transactions, and paying a connection set-up and authentication round trip for each
    costs more than serializing this process's own transactions, which the store's row locks and
    constraints would mostly serialize anyway. Other processes use their own connections. A
    broken connection is dropped and the next transaction reconnects. Transactions do not nest.
    """

    def __init__(self, url: str, *, schema: str = "public", connect_timeout: float = 10) -> None:
        self._dsn = url
        self.schema = schema
        self.url = safe_url(url) + ("" if schema == "public" else f"?schema={schema}")
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._local = threading.local()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        self._migrate()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        try:
            conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=max(1, int(self._connect_timeout)),
                application_name="devarch store",
            )
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the PostgreSQL store {self.url}: {exc}") from None
        self._conn = conn
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise StoreError(f"the store {self.url} is closed")
        if getattr(self._local, "active", False):
            raise StoreError("transactions do not nest; use the session you already have")
        self._local.active = True
        try:
            with self._lock:
                conn = self._connection()
                try:
                    conn.execute("BEGIN")
                    try:
                        yield conn
                        conn.execute("COMMIT")
                    except BaseException:
                        if not conn.closed and not conn.broken:
                            with contextlib.suppress(psycopg.Error):
                                conn.execute("ROLLBACK")
                        raise
                except DevarchError:
                    raise
                except psycopg.Error as exc:
                    if conn.broken:
                        conn.close()
                    raise StoreError(f"PostgreSQL store {self.url} failed: {exc}") from exc
        finally:
            self._local.active = False

    def _migrate(self) -> None:
        with self._transaction() as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                (advisory_key(f"devarch:migrate:{self.schema}"),),
            )
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
            current = int(row[0]) if row else 0
            for version, script in pending_migrations(MIGRATIONS, current, self.url):
                conn.execute(script.encode())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))

    def transaction(self) -> AbstractContextManager[StoreSession]:
        """Open one transaction; commit on normal exit, roll back on exception."""
        return open_session(self._transaction(), _PostgresDriver)

    def schema_version(self) -> int:
        """Return the applied migration version (read from the database)."""
        with self._transaction() as conn:
            row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
            return int(row[0]) if row and row[0] is not None else 0

    def close(self) -> None:
        """Close the kept connection and refuse further transactions. Idempotent."""
        self._closed = True
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

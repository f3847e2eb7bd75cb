"""The Store contract against PostgreSQL (a fresh schema per test, dropped afterwards)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from devarch_adapters.postgres import PostgresStore
from devarch_adapters.postgres._store import MIGRATIONS
from devarch_core.errors import StoreError
from devarch_core.testing.contracts import StoreContract

#: The schema version a fresh store has.
LATEST = MIGRATIONS[-1][0]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from devarch_core.ports import Store

pytestmark = pytest.mark.postgres


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pg_schema(postgres_url: str, unique: str) -> Iterator[str]:
    schema = f"devarch_{unique}"
    yield schema
    drop_schema(postgres_url, schema)


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def make_store(self, postgres_url: str, pg_schema: str) -> Iterator[Callable[[], Store]]:
        opened: list[PostgresStore] = []

        def make() -> Store:
            store = PostgresStore(postgres_url, schema=pg_schema)
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()


def test_url_hides_the_password(postgres_url: str, pg_schema: str) -> None:
    """The store's url names user, host and database but never the password."""
    store = PostgresStore(postgres_url, schema=pg_schema)
    try:
        assert store.url.startswith("postgresql://devarch@127.0.0.1:5432/devarch_test")
        assert ":devarch@" not in store.url
        assert store.schema_version() == LATEST
    finally:
        store.close()


def test_an_unreachable_server_is_a_store_error_naming_the_host_not_the_password() -> None:
    """A refused connection raises StoreError with the host and without the password."""
    with pytest.raises(StoreError) as err:
        PostgresStore("postgresql://u:sekret-pw@127.0.0.1:1/nodb", connect_timeout=2)
    assert "127.0.0.1" in str(err.value)
    assert "sekret-pw" not in str(err.value)


def test_concurrent_opens_migrate_once(postgres_url: str, pg_schema: str) -> None:
    """Stores opened at the same time on a fresh schema all succeed; one migration is recorded."""
    import threading  # noqa: PLC0415

    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            PostgresStore(postgres_url, schema=pg_schema).close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT version FROM {}.schema_migrations").format(sql.Identifier(pg_schema))
        ).fetchall()
    assert rows == [(v,) for v, _ in MIGRATIONS]


def test_a_reconnect_follows_a_dropped_connection(postgres_url: str, pg_schema: str) -> None:
    """If the server ends the kept connection, the next transaction after the failure reconnects."""
    store = PostgresStore(postgres_url, schema=pg_schema)
    try:
        with store.transaction() as tx:
            tx.set_meta("k", "v")
        assert store._conn is not None
        pid = store._conn.info.backend_pid
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreError), store.transaction() as tx:
            tx.get_meta("k")
        with store.transaction() as tx:
            assert tx.get_meta("k") == "v"
    finally:
        store.close()

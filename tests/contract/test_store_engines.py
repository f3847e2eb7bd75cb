"""Engine records, stacks bound to engines and host ports unique per engine, in every store.

Also: stores made before engines existed (schema version 1) upgrade in place, keeping their data.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from devarch_adapters.postgres import PostgresStore
from devarch_adapters.postgres import _store as pg_store
from devarch_adapters.sqlite import SqliteStore
from devarch_adapters.sqlite import _store as sqlite_store
from devarch_core.errors import ConflictError, NotFoundError, PortConflictError
from devarch_core.model import Engine, Instance, PortAllocation, Stack
from devarch_core.testing import InMemoryStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from devarch_core.ports import Store, StoreSession


def _drop(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str
) -> Iterator[Callable[[], Store]]:
    """A factory of one store of each kind (reopening the same database)."""
    if request.param == "memory":
        store = InMemoryStore()
        yield lambda: store
        return
    if request.param == "sqlite":
        yield lambda: SqliteStore(tmp_path / "devarch.db")
        return
    url: str = request.getfixturevalue("postgres_url")
    schema = f"devarch_{unique}"
    opened: list[PostgresStore] = []

    def make() -> Store:
        opened.append(PostgresStore(url, schema=schema))
        return opened[-1]

    yield make
    for s in opened:
        s.close()
    _drop(url, schema)


def _stack_with_port(tx: StoreSession, name: str, engine: str | None, port: int) -> None:
    tx.add_stack(Stack(id=f"s-{name}", name=name, engine=engine))
    tx.add_instance(
        Instance(
            id=f"i-{name}",
            stack_id=f"s-{name}",
            stack=name,
            name="web",
            template="t",
            template_version="1",
        )
    )
    tx.put_port_allocation(
        f"i-{name}",
        PortAllocation(
            stack=name, instance="web", container_port=80, protocol="tcp", host_port=port
        ),
    )


def test_engines_are_stored_listed_and_removed(make_store: Callable[[], Store]) -> None:
    """Engine records round-trip; one with stacks bound to it cannot be removed."""
    store = make_store()
    one = Engine(name="one", endpoint="unix:///s", host="h", options={"verify": "true"})
    with store.transaction() as tx:
        tx.put_engine(one)
        tx.put_engine(Engine(name="two", kind="podman", endpoint="tcp://h:1"))
        tx.add_stack(Stack(id="s1", name="a", engine="one"))
    with store.transaction() as tx:
        assert tx.get_engine("one") == one
        assert [e.name for e in tx.list_engines()] == ["one", "two"]
        assert tx.get_stack("a") == Stack(id="s1", name="a", engine="one")
        with pytest.raises(ConflictError, match="a"):
            tx.delete_engine("one")
        tx.delete_engine("two")
        assert tx.get_engine("two") is None


def test_host_ports_are_unique_per_engine(make_store: Callable[[], Store]) -> None:
    """The same host port is fine on two engines, refused on one; rebinding takes ports along."""
    store = make_store()
    with store.transaction() as tx:
        tx.put_engine(Engine(name="one", endpoint="unix:///s"))
        tx.put_engine(Engine(name="two", endpoint="tcp://h:1"))
        _stack_with_port(tx, "a", "one", 18080)
        _stack_with_port(tx, "b", "two", 18080)
    with store.transaction() as tx, pytest.raises(PortConflictError):
        _stack_with_port(tx, "c", "one", 18080)
    with store.transaction() as tx:
        b = tx.get_stack("b")
        assert b is not None
        with pytest.raises(PortConflictError):
            tx.update_stack(Stack(id=b.id, name="b", engine="one"))
        with pytest.raises(NotFoundError):
            tx.update_stack(Stack(id=b.id, name="b", engine="nowhere"))
        assert tx.get_stack("b") == b
    with store.transaction() as tx:
        tx.delete_stack("s-a")
        tx.update_stack(Stack(id="s-b", name="b", engine="one"))
    with store.transaction() as tx, pytest.raises(PortConflictError):
        _stack_with_port(tx, "d", "one", 18080)


#: A version-1 store's rows, written with plain SQL (the sessions speak the current schema).
V1_ROWS = (
    "INSERT INTO stacks (id, name) VALUES ('s-a', 'a')",
    (
        "INSERT INTO instances (id, stack_id, name, container_name, template, template_version)"
        " VALUES ('i-a', 's-a', 'web', 'devarch-a-web', 't', '1')"
    ),
    (
        "INSERT INTO port_allocations (instance_id, container_port, protocol, host_ip, host_port)"
        " VALUES ('i-a', 80, 'tcp', '127.0.0.1', 18080)"
    ),
)


def _v1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_store, "MIGRATIONS", sqlite_store.MIGRATIONS[:1])
        old = SqliteStore(tmp_path / "devarch.db")
        assert old.schema_version() == 1
        old.close()
    with sqlite3.connect(tmp_path / "devarch.db") as conn:
        for statement in V1_ROWS:
            conn.execute(statement)


def test_a_version_1_sqlite_store_upgrades_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stacks and host ports of a store made before engines survive the upgrade, unbound."""
    _v1(tmp_path, monkeypatch)
    store = SqliteStore(tmp_path / "devarch.db")
    assert store.schema_version() == sqlite_store.MIGRATIONS[-1][0]
    with store.transaction() as tx:
        assert tx.get_stack("a") == Stack(id="s-a", name="a")
        assert [a.host_port for a in tx.list_port_allocations()] == [18080]
        tx.put_engine(Engine(name="one", endpoint="unix:///s"))
        tx.update_stack(Stack(id="s-a", name="a", engine="one"))


def test_a_version_1_postgres_store_upgrades_in_place(
    postgres_url: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PostgreSQL schema upgrades in place too: data kept, ports unique per engine."""
    schema = f"devarch_{unique}"
    try:
        with monkeypatch.context() as patch:
            patch.setattr(pg_store, "MIGRATIONS", pg_store.MIGRATIONS[:1])
            PostgresStore(postgres_url, schema=schema).close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            for statement in V1_ROWS:
                conn.execute(statement.encode())
        store = PostgresStore(postgres_url, schema=schema)
        assert store.schema_version() == pg_store.MIGRATIONS[-1][0]
        with store.transaction() as tx:
            assert tx.get_stack("a") == Stack(id="s-a", name="a")
            assert [a.host_port for a in tx.list_port_allocations()] == [18080]
            tx.put_engine(Engine(name="one", endpoint="unix:///s"))
            tx.put_engine(Engine(name="two", endpoint="tcp://h:1"))
            tx.update_stack(Stack(id="s-a", name="a", engine="one"))
            _stack_with_port(tx, "b", "two", 18080)
        store.close()
    finally:
        _drop(postgres_url, schema)

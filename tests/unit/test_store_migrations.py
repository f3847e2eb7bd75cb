"""The SQL stores' migrations: applied once, and a store newer than this devarch is refused."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from devarch_adapters._sqlstore import pending_migrations
from devarch_adapters.sqlite import SqliteStore
from devarch_adapters.sqlite._store import MIGRATIONS
from devarch_core.errors import StoreError

if TYPE_CHECKING:
    from pathlib import Path


def test_pending_migrations_are_those_above_the_current_version() -> None:
    steps = ((1, "a"), (2, "b"), (3, "c"))
    assert pending_migrations(steps, 0, "db") == list(steps)
    assert pending_migrations(steps, 2, "db") == [(3, "c")]
    assert pending_migrations(steps, 3, "db") == []


def test_a_store_newer_than_this_devarch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "devarch.db"
    store = SqliteStore(path)
    assert store.schema_version() == MIGRATIONS[-1][0]
    store.close()
    newer = MIGRATIONS[-1][0] + 1
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'now')", (newer,)
        )
    with pytest.raises(StoreError, match=rf"schema version {newer}, newer than this devarch"):
        SqliteStore(path)


def test_reopening_a_store_applies_nothing_again(tmp_path: Path) -> None:
    path = tmp_path / "devarch.db"
    SqliteStore(path).close()
    reopened = SqliteStore(path)
    assert reopened.schema_version() == MIGRATIONS[-1][0]
    with reopened.transaction() as tx:
        assert tx.list_stacks() == []
    reopened.close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [v for v, _ in MIGRATIONS]

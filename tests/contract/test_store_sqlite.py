"""The Store contract against the embedded SQLite store, plus what is SQLite-specific."""

from __future__ import annotations

import sqlite3
import stat
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.sqlite import SqliteStore
from devarch_adapters.sqlite._store import MIGRATIONS
from devarch_core.errors import StoreError
from devarch_core.testing.contracts import StoreContract
from devarch_core.testing.contracts._store import make_stack

#: The schema version a fresh store has.
LATEST = MIGRATIONS[-1][0]

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from devarch_core.ports import Store


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Callable[[], Store]:
        url = f"sqlite://{tmp_path}/home/devarch.db"
        return lambda: SqliteStore(url)


def test_opening_creates_a_private_directory_and_file(tmp_path: Path) -> None:
    """The parent directory is created 0700 and the database file 0600, in WAL mode."""
    store = SqliteStore(f"sqlite://{tmp_path}/a/b/devarch.db")
    assert store.url == f"sqlite://{tmp_path}/a/b/devarch.db"
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b" / "devarch.db").stat().st_mode) == 0o600
    with sqlite3.connect(tmp_path / "a" / "b" / "devarch.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = conn.execute("SELECT version FROM schema_migrations").fetchall()
    assert versions == [(v,) for v, _ in MIGRATIONS]
    store.close()


def test_a_plain_path_is_accepted(tmp_path: Path) -> None:
    """A file path works as well as a ``sqlite:///`` URL."""
    store = SqliteStore(tmp_path / "devarch.db")
    assert store.url == f"sqlite://{tmp_path}/devarch.db"
    assert store.schema_version() == LATEST


def test_reopening_does_not_migrate_twice(tmp_path: Path) -> None:
    """Migrations are recorded; a second open applies nothing."""
    SqliteStore(tmp_path / "devarch.db").close()
    store = SqliteStore(tmp_path / "devarch.db")
    assert store.schema_version() == LATEST


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database migrated by a newer devarch is refused with StoreError."""
    SqliteStore(tmp_path / "devarch.db").close()
    with sqlite3.connect(tmp_path / "devarch.db") as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'later')")
    with pytest.raises(StoreError, match="newer"):
        SqliteStore(tmp_path / "devarch.db")


@pytest.mark.parametrize("url", ["sqlite://relative.db", "sqlite:///:memory:", "postgresql://x/y"])
def test_unusable_urls_are_refused(url: str) -> None:
    """Only absolute file URLs (or paths) open a SQLite store."""
    with pytest.raises(StoreError):
        SqliteStore(url)


def test_an_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    """A database that cannot be created raises StoreError, not an OSError."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError):
        SqliteStore(blocker / "sub" / "devarch.db")


def test_a_locked_database_waits_then_fails_as_store_error(tmp_path: Path) -> None:
    """A writer blocked longer than the busy timeout gets StoreError naming the store."""
    store = SqliteStore(tmp_path / "devarch.db", busy_timeout=0.2)
    with sqlite3.connect(tmp_path / "devarch.db", isolation_level=None) as other:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match=r"devarch\.db"), store.transaction() as tx:
            tx.add_stack(make_stack("shop"))
        other.execute("ROLLBACK")
    with store.transaction() as tx:
        assert tx.list_stacks() == []

"""The StackLock contract against PostgreSQL session advisory locks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devarch_adapters.postgres import PostgresStackLock
from devarch_core.testing.contracts import LockContract

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.ports import StackLock

pytestmark = pytest.mark.postgres


class TestPostgresStackLock(LockContract):
    @pytest.fixture
    def make_lock(self, postgres_url: str) -> Callable[[], StackLock]:
        return lambda: PostgresStackLock(postgres_url)

    @pytest.fixture
    def child_setup(self, postgres_url: str) -> str:
        return (
            "from devarch_adapters.postgres import PostgresStackLock\n"
            f"lock = PostgresStackLock({postgres_url!r})"
        )


def test_holder_is_the_application_name_of_the_locking_session(
    postgres_url: str, unique: str
) -> None:
    """The holder reads ``devarch <holder> pid N@host`` from pg_stat_activity."""
    import os  # noqa: PLC0415

    lock = PostgresStackLock(postgres_url)
    with lock.acquire(f"{unique}-shop", holder="alice-apply"):
        described = lock.holder(f"{unique}-shop")
    assert described is not None
    assert described.startswith("devarch alice-apply pid ")
    assert f"pid {os.getpid()}@" in described


def test_a_long_holder_is_cut_to_what_postgresql_keeps(postgres_url: str, unique: str) -> None:
    """A holder description longer than 63 bytes is shortened but keeps the pid and host."""
    import os  # noqa: PLC0415

    lock = PostgresStackLock(postgres_url)
    with lock.acquire(f"{unique}-shop", holder="x" * 200 + "é"):
        described = lock.holder(f"{unique}-shop")
    assert described is not None
    assert len(described) <= 63
    assert f"pid {os.getpid()}" in described

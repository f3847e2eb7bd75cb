"""The StackLock contract against the OS file lock used with the SQLite store."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.sqlite import FileStackLock
from devarch_core.testing.contracts import LockContract

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from devarch_core.ports import StackLock


class TestFileStackLock(LockContract):
    @pytest.fixture
    def lock_dir(self, tmp_path: Path) -> Path:
        return tmp_path / "home" / "locks"

    @pytest.fixture
    def make_lock(self, lock_dir: Path) -> Callable[[], StackLock]:
        return lambda: FileStackLock(lock_dir)

    @pytest.fixture
    def child_setup(self, lock_dir: Path) -> str:
        return (
            "from devarch_adapters.sqlite import FileStackLock\n"
            f"lock = FileStackLock({str(lock_dir)!r})"
        )


def test_lock_files_are_private_and_name_the_holder_process(tmp_path: Path) -> None:
    """The lock directory is 0700, the file 0600, and the holder text names pid and host."""
    lock = FileStackLock(tmp_path / "locks")
    with lock.acquire("shop", holder="alice-apply"):
        text = (tmp_path / "locks" / "shop.lock").read_text()
        assert text.startswith("alice-apply (pid ")
        assert f"pid {os.getpid()} on " in text
    assert stat.S_IMODE((tmp_path / "locks").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "locks" / "shop.lock").stat().st_mode) == 0o600


def test_a_stale_description_in_a_free_lock_file_is_not_a_holder(tmp_path: Path) -> None:
    """``holder()`` trusts the lock, not the file: text left in an unlocked file means free."""
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "shop.lock").write_text("crashed (pid 1 on nowhere by nobody)")
    lock = FileStackLock(tmp_path / "locks")
    assert lock.holder("shop") is None
    with lock.acquire("shop", holder="me"):
        pass


def test_holder_of_a_never_locked_stack_creates_nothing(tmp_path: Path) -> None:
    """Asking about a stack that was never locked neither fails nor creates files."""
    lock = FileStackLock(tmp_path / "locks")
    assert lock.holder("shop") is None
    assert not (tmp_path / "locks").exists()

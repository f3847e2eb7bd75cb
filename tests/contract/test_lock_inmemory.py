"""The StackLock contract against the in-memory fake (threads only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.contract.lock_contract import LockContract

from devarch_core.testing import InMemoryStackLock

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.ports import StackLock


class TestInMemoryStackLock(LockContract):
    @pytest.fixture
    def make_lock(self) -> Callable[[], StackLock]:
        shared = InMemoryStackLock()
        return lambda: shared

"""The StackLock contract against the in-memory fake (threads only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devarch_core.testing import InMemoryStackLock
from devarch_core.testing.contracts import LockContract

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.ports import StackLock


class TestInMemoryStackLock(LockContract):
    @pytest.fixture
    def make_lock(self) -> Callable[[], StackLock]:
        shared = InMemoryStackLock()
        return lambda: shared

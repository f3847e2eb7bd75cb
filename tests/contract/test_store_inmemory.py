"""The Store contract against the in-memory fake."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pytest

from devarch_core.testing import InMemoryStore
from devarch_core.testing.contracts import StoreContract

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.ports import Store


class TestInMemoryStore(StoreContract):
    persistent: ClassVar[bool] = False

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        return InMemoryStore

"""The contract test suites of devarch's ports, for anyone writing an adapter.

One suite per port, written once against the port and run against the in-memory fakes and every
real adapter (SQLite, PostgreSQL, Docker, Podman). Subclass a suite in a ``test_*.py`` file and
override its fixture; every test of the suite then runs against your adapter::

    import pytest
    from devarch_core.testing.contracts import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def make_store(self, tmp_path):
            return lambda: MyStore(tmp_path / "state")

This package needs pytest (``pip install pytest``); ``devarch_core`` itself never imports it.
See docs/adapters.md for each suite's fixtures.
"""

from devarch_core.testing.contracts._lock import LockContract
from devarch_core.testing.contracts._runtime import EngineRuntimeContract, Made, RuntimeContract
from devarch_core.testing.contracts._store import StoreContract

__all__ = ["EngineRuntimeContract", "LockContract", "Made", "RuntimeContract", "StoreContract"]

"""In-memory fakes of devarch's ports, so code built on devarch can be tested without an engine.

Each fake passes the same contract test suite as the real adapters
(:mod:`devarch_core.testing.contracts`, which needs pytest and is not imported from here).
"""

from devarch_core.testing._misc import (
    FakeConfigFiles,
    FakeEngineConnector,
    FakePortProbe,
    InMemoryKeys,
    ManualClock,
    fake_devarch,
)
from devarch_core.testing._runtime import FakeRuntime
from devarch_core.testing._secrets import reveal_secret
from devarch_core.testing._store import InMemoryStackLock, InMemoryStore

__all__ = [
    "FakeConfigFiles",
    "FakeEngineConnector",
    "FakePortProbe",
    "FakeRuntime",
    "InMemoryKeys",
    "InMemoryStackLock",
    "InMemoryStore",
    "ManualClock",
    "fake_devarch",
    "reveal_secret",
]

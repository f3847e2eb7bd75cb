"""The facade: :class:`Devarch`, every use case behind one object.

The use cases live in :mod:`devarch_core.usecases`, one module per area (stacks, instances,
secrets, wires, apply, manifests), chained as mixins; this module only wires in the adapters.
Each use case runs in one store transaction, so a refused call leaves the store as it was. Adapters come in through the constructor (see ``devarch_adapters.connect`` for
the composition root that builds them from configuration).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from devarch_core.catalog import Catalog
from devarch_core.hostports import DEFAULT_RANGE
from devarch_core.ports import (
    Clock,
    ConfigFiles,
    KeyProvider,
    PortProbe,
    Reporter,
    Runtime,
    StackLock,
    Store,
)
from devarch_core.reporting import NullReporter
from devarch_core.secrets import SecretBox
from devarch_core.usecases.apply import ApplyResult, DownResult, InstanceStatus
from devarch_core.usecases.manifests import ManifestCases
from devarch_core.usecases.stacks import StackSummary

__all__ = ["ApplyResult", "Devarch", "DownResult", "InstanceStatus", "StackSummary", "SystemClock"]

OWNER_KEY = "owner_id"


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """UTC now."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep()``."""
        time.sleep(seconds)


class Devarch(ManifestCases):
    """The devarch facade: stacks, instances, wires, secrets, plan/apply, compose.

    Build it with ``devarch_adapters.connect()`` or pass your own adapters (any object that
    satisfies the ports in :mod:`devarch_core.ports`; fakes are in :mod:`devarch_core.testing`).
    """

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        keys: KeyProvider,
        runtime: Runtime | None = None,
        lock: StackLock | None = None,
        config_files: ConfigFiles | None = None,
        port_probe: PortProbe | None = None,
        clock: Clock | None = None,
        reporter: Reporter | None = None,
        port_range: tuple[int, int] = DEFAULT_RANGE,
        health_timeout: float = 120.0,
        parallelism: int = 8,
        runtime_problem: str | None = None,
        runtime_auto: bool = False,
        runtime_note: str | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.runtime = runtime
        self.lock = lock
        self.config_files = config_files
        self.port_probe = port_probe
        self.clock = clock or SystemClock()
        self.reporter = reporter or NullReporter()
        self.port_range = port_range
        self.health_timeout = health_timeout
        self.parallelism = parallelism
        self._keys = keys
        self.secrets = SecretBox(keys, mac_key=self._mac_key)
        self._owner = None
        self._runtime_problem = runtime_problem
        self._engine_info = None
        self._held_locks = {}
        #: True when the engine was picked automatically (``DEVARCH_RUNTIME=auto``): then a stack
        #: applied on another engine is refused instead of planned against this one.
        self.runtime_auto = runtime_auto
        #: Why this engine was picked, when that is worth saying (e.g. Docker did not answer).
        self.runtime_note = runtime_note
        #: The configuration this facade was built from, when built by ``devarch_adapters.connect``.
        self.settings = None

"""What every use-case service is built from: one :class:`Context`, built once by the facade.

It holds the unit of work, the ports and the settings the services share, and builds the services
that other services call (keys, secrets, engine access, stack locks, planner, applier) on their
first use, once per context, so each of those is one object however many services read it.
A service takes the context as its first (often only) constructor argument and reads what it
needs from it (``self._ctx.uow``, ``self._ctx.planner``). See docs/architecture.md#services.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

import attrs

from devarch_core.catalog import Catalog
from devarch_core.health import poll_interval, wait_healthy
from devarch_core.hostports import DEFAULT_RANGE
from devarch_core.manifest import Lockfile
from devarch_core.model import Engine
from devarch_core.ports import (
    Clock,
    ConfigFiles,
    EngineConnector,
    KeyProvider,
    PortProbe,
    Reporter,
    Runtime,
    StackLock,
)
from devarch_core.usecases._helpers import UnitOfWork
from devarch_core.usecases.apply import ApplyService
from devarch_core.usecases.engines import EngineAccess, StackLocks
from devarch_core.usecases.keys import KeyService
from devarch_core.usecases.planner import PlanService
from devarch_core.usecases.secrets import SecretService

if TYPE_CHECKING:
    from devarch_core.spec import Healthcheck

__all__ = ["Context", "built_once"]

_T = TypeVar("_T")


class built_once(Generic[_T]):  # noqa: N801 - used as a decorator, like functools.cached_property
    """A service built on its first use, once per owner, under the owner's ``_build_lock``.

    Like ``functools.cached_property`` (the built service is stored in the owner's ``__dict__``,
    so later reads skip this descriptor and an assignment replaces it), but two threads asking at
    once get the same service: services hold state (stack locks held, engines opened) that must
    not be split between two copies.
    """

    def __init__(self, build: Callable[[Any], _T]) -> None:
        self._build = build
        self._name = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> _T | Self:
        if obj is None:
            return self
        cache: dict[str, Any] = obj.__dict__
        lock: threading.RLock = cache["_build_lock"]
        with lock:
            if self._name not in cache:
                cache[self._name] = self._build(obj)
        value: _T = cache[self._name]
        return value


@attrs.frozen(slots=False, eq=False, kw_only=True)
class Context:
    """The unit of work, the shared ports and settings, and the shared services (built lazily)."""

    uow: UnitOfWork
    catalog: Catalog
    clock: Clock
    reporter: Reporter
    key_provider: KeyProvider
    #: The engine of the caller's environment and how it was chosen (see ``EngineAccess``).
    runtime: Runtime | None = None
    runtime_problem: str | None = None
    runtime_auto: bool = False
    runtime_note: str | None = None
    connector: EngineConnector | None = None
    engine: str | None = None
    default_engine: Engine | None = None
    lock: StackLock | None = None
    config_files: ConfigFiles | None = None
    port_probe: PortProbe | None = None
    port_range: tuple[int, int] = DEFAULT_RANGE
    health_timeout: float = 120.0
    parallelism: int | None = None
    #: A stack's lockfile as it is now (the manifest service's): apply's lockfile policy.
    lock_stack: Callable[[str], Lockfile]
    _build_lock: threading.RLock = attrs.field(factory=threading.RLock, init=False, repr=False)

    def wait_healthy(
        self, runtime: Runtime, container: str, instance: str, check: Healthcheck | None
    ) -> None:
        """Wait for ``container`` to be healthy (apply, start, restart), polled per its ``check``.

        Within the health timeout, on the context's clock, reporting to its reporter
        (:func:`devarch_core.health.wait_healthy`).
        """
        interval = poll_interval(check.interval if check else None)
        wait_healthy(
            runtime,
            self.clock,
            container,
            instance=instance,
            timeout=self.health_timeout,
            interval=interval,
            reporter=self.reporter,
        )

    @built_once
    def keys(self) -> KeyService:
        """The store's key: sealing, rotation, the secret box."""
        return KeyService(self)

    @built_once
    def engines(self) -> EngineAccess:
        """The engine each stack lives on."""
        return EngineAccess(self)

    @built_once
    def locks(self) -> StackLocks:
        """The stack lock, held at most once per thread and stack."""
        return StackLocks(self, self.lock)

    @built_once
    def secrets(self) -> SecretService:
        """Secret values, sealed with the store's key."""
        return SecretService(self)

    @built_once
    def planner(self) -> PlanService:
        """Desired state, plan, compose preview, graph."""
        return PlanService(self)

    @built_once
    def applier(self) -> ApplyService:
        """Apply, down, status."""
        return ApplyService(self)

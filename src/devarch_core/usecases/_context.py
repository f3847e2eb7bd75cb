"""What every use-case service is built from: one :class:`Context`, built once by the facade.

It holds the unit of work, the ports and the settings the services share, and builds every service
(:meth:`Context.service`) on its first use, once per context, so each is one object however many
services and facade methods read it; the ones other services call also have a name here (keys,
secrets, engine access, stack locks, planner, applier). A service (:class:`Service`) takes the
context as its only constructor argument and reads what it needs from it (``self._ctx.uow``,
``self._ctx.planner``). See docs/architecture.md#services.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Self, TypeVar, cast, overload

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
from devarch_core.usecases._helpers import Service, UnitOfWork
from devarch_core.usecases.apply import ApplyService
from devarch_core.usecases.engines import EngineAccess, StackLocks
from devarch_core.usecases.keys import KeyService
from devarch_core.usecases.planner import PlanService
from devarch_core.usecases.secrets import SecretService

if TYPE_CHECKING:
    from devarch_core.spec import Healthcheck

__all__ = ["Context", "Derived", "EngineChoice", "built_once"]

_S = TypeVar("_S", bound=Service)
_O = TypeVar("_O")
_T = TypeVar("_T")


class Derived(Generic[_O, _T]):
    """A read-only attribute of an ``_O`` object, worked out from it on each read (:meth:`read`).

    The base of :class:`built_once` here and of the facade's settings (``Devarch.catalog`` reads
    its context's): mypy sees the value's type, ``help()`` the attribute's docstring.
    """

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: _O, owner: type | None = None) -> _T: ...
    def __get__(self, obj: _O | None, owner: type | None = None) -> _T | Self:
        if obj is None:
            return self
        return self.read(obj)

    def read(self, obj: _O) -> _T:
        """The attribute's value on ``obj``."""
        raise NotImplementedError


class built_once(Derived["Context", _S]):  # noqa: N801 - a declaration, like cached_property
    """A context attribute naming one shared service: ``planner = built_once(PlanService)``.

    Reading it is :meth:`Context.service` of that class: built on first use, once per context,
    so the services that read it share one object.
    """

    def __init__(self, kind: type[_S]) -> None:
        self._kind = kind
        self.__doc__ = kind.__doc__

    def read(self, obj: Context) -> _S:
        """``obj.service(kind)``."""
        return obj.service(self._kind)


@attrs.frozen(kw_only=True)
class EngineChoice:
    """The engine the caller's environment selects, and how the composition root chose it.

    ``EngineAccess`` reads it to find each stack's engine (docs/engines.md): a stack bound to a
    named engine uses that one whatever this says.
    """

    #: The engine the environment selects; None when there is none (``problem`` says why).
    runtime: Runtime | None = None
    #: Why no engine is configured, as the composition root found it.
    problem: str | None = None
    #: True when picked automatically (``DEVARCH_RUNTIME=auto``): then a stack applied on
    #: another engine is refused instead of planned against this one.
    auto: bool = False
    #: Why this engine was picked, when that is worth saying (e.g. Docker did not answer).
    note: str | None = None
    #: Opens the store's named engines; None: only ``runtime`` is reachable.
    connector: EngineConnector | None = None
    #: The named engine the caller selected (``--engine``, ``DEVARCH_ENGINE``).
    selected: str | None = None
    #: The record of ``runtime`` (a Docker context's endpoint, or the environment's).
    default: Engine | None = None


@attrs.frozen(slots=False, eq=False, kw_only=True)
class Context:
    """The unit of work, the shared ports and settings, and the shared services (built lazily)."""

    uow: UnitOfWork
    catalog: Catalog
    clock: Clock
    reporter: Reporter
    key_provider: KeyProvider
    #: The engine of the caller's environment and how it was chosen (``EngineAccess`` reads it).
    engine_choice: EngineChoice = attrs.field(factory=EngineChoice)
    lock: StackLock | None = None
    config_files: ConfigFiles | None = None
    port_probe: PortProbe | None = None
    port_range: tuple[int, int] = DEFAULT_RANGE
    health_timeout: float = 120.0
    parallelism: int | None = None
    #: A stack's lockfile as it is now (the manifest service's): apply's lockfile policy.
    lock_stack: Callable[[str], Lockfile]
    _build_lock: threading.RLock = attrs.field(factory=threading.RLock, init=False, repr=False)
    _services: dict[type[Service], Service] = attrs.field(factory=dict, init=False, repr=False)

    @property
    def runtime(self) -> Runtime | None:
        """The engine of the caller's environment (``engine_choice.runtime``), or None."""
        return self.engine_choice.runtime

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

    def service(self, kind: type[_S]) -> _S:
        """The context's one ``kind`` service, built as ``kind(self)`` on its first use.

        Built under the context's lock, so two threads asking at once get the same object:
        services hold state (stack locks held, engines opened) that must not be split in two.
        """
        found = self._services.get(kind)
        if found is None:
            with self._build_lock:
                found = self._services.get(kind)
                if found is None:
                    found = self._services[kind] = kind(self)
        return cast("_S", found)

    # The services other services call, by name (``self._ctx.planner``).
    keys = built_once(KeyService)
    engines = built_once(EngineAccess)
    locks = built_once(StackLocks)
    secrets = built_once(SecretService)
    planner = built_once(PlanService)
    applier = built_once(ApplyService)

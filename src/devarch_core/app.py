"""The facade: :class:`Devarch` composes the use-case services and delegates to them.

The use cases are plain services in :mod:`devarch_core.usecases`, one module per area (stacks,
instances, wires, secrets, keys, planner, apply, manifests, lifecycle). Each takes one
:class:`~devarch_core.usecases._context.Context` (the unit of work: one store transaction per use
case, so a refused call leaves the store as it was; the shared ports and settings; every
service, built there on its first use, once). This module builds the context from the adapters
given to the constructor (``devarch_adapters.connect`` is the composition root that builds those
from configuration); a CLI command then builds the one or two services it needs. The facade's
settings (``catalog``, ``runtime``, ...) read the context's; it holds no rule of its own. See
docs/architecture.md#layers.

A facade method that only hands its arguments to a service is declared with :func:`_forward`
(``apply = _forward(ApplyService, ApplyService.apply)``): its signature and docstring are the
service method's, written once there, and mypy, ``help()``, notebooks and the API docs see them.
A method is written out here only when the facade adds something (a property, a lifecycle hook,
a different return type).
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Literal,
    ParamSpec,
    Self,
    TypeVar,
    overload,
)

from devarch_core.hostports import DEFAULT_RANGE
from devarch_core.reporting import NullReporter
from devarch_core.usecases._context import Context, Derived, EngineChoice
from devarch_core.usecases._helpers import Service, UnitOfWork, template_for
from devarch_core.usecases.apply import ApplyResult, ApplyService, DownResult, InstanceStatus
from devarch_core.usecases.engines import EngineAccess, EngineService, EngineSummary, StackLocks
from devarch_core.usecases.instances import InstanceService
from devarch_core.usecases.keys import KeyService
from devarch_core.usecases.lifecycle import LifecycleResult, LifecycleService
from devarch_core.usecases.manifests import ManifestService
from devarch_core.usecases.planner import PlanService
from devarch_core.usecases.secrets import SecretService
from devarch_core.usecases.stacks import StackService, StackSummary
from devarch_core.usecases.wires import WireService

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from devarch_core import ports
    from devarch_core._svg import SvgGraph
    from devarch_core.catalog import Catalog
    from devarch_core.model import Engine, Instance
    from devarch_core.secrets import SecretBox
    from devarch_core.template import Template

__all__ = [
    "ApplyResult",
    "Devarch",
    "DownResult",
    "EngineSummary",
    "InstanceStatus",
    "LifecycleResult",
    "StackSummary",
    "SystemClock",
]


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


_S = TypeVar("_S", bound=Service)
_T = TypeVar("_T")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _forward(
    service: type[_S], method: Callable[Concatenate[_S, _P], _R]
) -> Callable[Concatenate[Devarch, _P], _R]:
    """A facade method that calls ``method`` on the facade's ``service`` (built on first use).

    The result carries ``method``'s signature (for mypy, through the ParamSpec) and its name and
    docstring (``functools.wraps``, for ``help()``, ``inspect.signature`` and the API docs). The
    call looks the method up on the service object, so a patched service method is the one run.
    """
    name = method.__name__

    @functools.wraps(method)
    def forward(self: Devarch, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        bound: Callable[_P, _R] = getattr(self._ctx.service(service), name)
        return bound(*args, **kwargs)

    forward.__qualname__ = f"Devarch.{name}"
    forward.__module__ = __name__
    return forward


class _InContext(Derived["Devarch", _T]):
    """A facade attribute that reads the context's setting (one copy, there).

    The setting of the same name, or the one at ``path`` (``"engine_choice.note"``).
    """

    def __init__(self, path: str = "") -> None:
        self._path = path

    def __set_name__(self, owner: type, name: str) -> None:
        self._path = self._path or name

    def read(self, obj: Devarch) -> _T:
        """The setting, as the context holds it."""
        value: Any = obj._ctx  # noqa: SLF001 - the facade of this class
        for part in self._path.split("."):
            value = getattr(value, part)
        found: _T = value
        return found


class Devarch:
    """The devarch facade: stacks, instances, wires, secrets, plan/apply, compose.

    Build it with ``devarch_adapters.connect()`` or pass your own adapters (any object that
    satisfies the ports in :mod:`devarch_core.ports`; fakes are in :mod:`devarch_core.testing`).
    Use it as a context manager, or call :meth:`close`, to release the store's connections.
    """

    # -- the settings it was built with: kept once, in the context the services read ------------
    catalog: _InContext[Catalog] = _InContext()
    runtime: _InContext[ports.Runtime | None] = _InContext()
    lock: _InContext[ports.StackLock | None] = _InContext()
    config_files: _InContext[ports.ConfigFiles | None] = _InContext()
    port_probe: _InContext[ports.PortProbe | None] = _InContext()
    clock: _InContext[ports.Clock] = _InContext()
    reporter: _InContext[ports.Reporter] = _InContext()
    port_range: _InContext[tuple[int, int]] = _InContext()
    health_timeout: _InContext[float] = _InContext()
    parallelism: _InContext[int | None] = _InContext()
    #: True when the engine was picked automatically (``DEVARCH_RUNTIME=auto``): then a stack
    #: applied on another engine is refused instead of planned against this one.
    runtime_auto: _InContext[bool] = _InContext("engine_choice.auto")
    #: Why this engine was picked, when that is worth saying (e.g. Docker did not answer).
    runtime_note: _InContext[str | None] = _InContext("engine_choice.note")
    #: Why no engine is configured (``runtime`` is None), as the composition root found it.
    runtime_problem: _InContext[str | None] = _InContext("engine_choice.problem")
    #: Opens named engines (``devarch_adapters.connect`` gives one; None: only ``runtime``).
    connector: _InContext[ports.EngineConnector | None] = _InContext("engine_choice.connector")

    def __init__(
        self,
        *,
        store: ports.Store,
        catalog: Catalog,
        keys: ports.KeyProvider,
        runtime: ports.Runtime | None = None,
        lock: ports.StackLock | None = None,
        config_files: ports.ConfigFiles | None = None,
        port_probe: ports.PortProbe | None = None,
        clock: ports.Clock | None = None,
        reporter: ports.Reporter | None = None,
        port_range: tuple[int, int] = DEFAULT_RANGE,
        health_timeout: float = 120.0,
        parallelism: int | None = None,
        runtime_problem: str | None = None,
        runtime_auto: bool = False,
        runtime_note: str | None = None,
        connector: ports.EngineConnector | None = None,
        engine: str | None = None,
        default_engine: Engine | None = None,
    ) -> None:
        clock = clock or SystemClock()
        self.store = store
        #: The configuration this facade was built from, when built by ``devarch_adapters.connect``.
        self.settings: object | None = None
        self._keys = keys
        self._closed = False
        self._uow = UnitOfWork(store, clock)
        #: What every service is built from: the unit of work, the ports and settings (the
        #: attributes above read them there), and the services (each built on first use).
        self._ctx = Context(
            uow=self._uow,
            catalog=catalog,
            clock=clock,
            reporter=reporter or NullReporter(),
            key_provider=keys,
            engine_choice=EngineChoice(
                runtime=runtime,
                problem=runtime_problem,
                auto=runtime_auto,
                note=runtime_note,
                connector=connector,
                selected=engine,
                default=default_engine,
            ),
            lock=lock,
            config_files=config_files,
            port_probe=port_probe,
            port_range=port_range,
            health_timeout=health_timeout,
            parallelism=parallelism,
            lock_stack=self.lock_stack,
        )
        # The services are built on first use (``Context.service``): a CLI command uses one or
        # two of them, and each is built once, from the same context.

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the store, and the runtime and lock when they hold resources; idempotent.

        Each adapter with a ``close()`` method is closed once (the store first); the facade
        should not be used afterwards.
        """
        if self._closed:
            return
        self._closed = True
        seen: set[int] = set()
        for adapter in (self.store, self.runtime, self.lock, self.connector):
            closer = getattr(adapter, "close", None)
            if adapter is None or id(adapter) in seen or not callable(closer):
                continue
            seen.add(id(adapter))
            closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- identity and engine ---------------------------------------------------------------------
    @property
    def secrets(self) -> SecretBox:
        """The secret box: seals and opens values, keyed hashes for plans (never a plaintext)."""
        return self._ctx.keys.box

    @property
    def owner(self) -> str:
        """The store's identity, written into every resource's ``devarch.owner`` label."""
        return self._uow.owner

    def template_for(self, instance: Instance) -> Template:
        """The catalog template an instance was made from (its pinned version)."""
        return template_for(self.catalog, instance)

    stack_engine = _forward(EngineAccess, EngineAccess.stack_engine)

    def _require_runtime(self) -> ports.Runtime:
        """The runtime, or ``EngineError`` saying how to configure one (the plugin's guard)."""
        return self._ctx.engines.require()

    locked = _forward(StackLocks, StackLocks.locked)

    # -- stacks ------------------------------------------------------------------------------
    create_stack = _forward(StackService, StackService.create_stack)
    get_stack = _forward(StackService, StackService.get_stack)
    list_stacks = _forward(StackService, StackService.list_stacks)
    show_stack = _forward(StackService, StackService.show_stack)
    update_stack = _forward(StackService, StackService.update_stack)
    set_stack_enabled = _forward(StackService, StackService.set_stack_enabled)
    delete_stack = _forward(StackService, StackService.delete_stack)
    clone_stack = _forward(StackService, StackService.clone_stack)

    # -- instances ---------------------------------------------------------------------------
    add_instance = _forward(InstanceService, InstanceService.add_instance)
    list_instances = _forward(InstanceService, InstanceService.list_instances)
    get_instance = _forward(InstanceService, InstanceService.get_instance)
    show_instance = _forward(InstanceService, InstanceService.show_instance)
    update_instance = _forward(InstanceService, InstanceService.update_instance)
    set_overrides = _forward(InstanceService, InstanceService.set_overrides)
    unset_override = _forward(InstanceService, InstanceService.unset_override)
    remove_instance = _forward(InstanceService, InstanceService.remove_instance)
    duplicate_instance = _forward(InstanceService, InstanceService.duplicate_instance)
    rename_instance = _forward(InstanceService, InstanceService.rename_instance)
    effective = _forward(InstanceService, InstanceService.effective)

    # -- wires -------------------------------------------------------------------------------
    list_wires = _forward(WireService, WireService.list_wires)
    add_wire = _forward(WireService, WireService.add_wire)
    remove_wire = _forward(WireService, WireService.remove_wire)
    import_choices = _forward(WireService, WireService.import_choices)

    # -- secrets -----------------------------------------------------------------------------
    set_secret = _forward(SecretService, SecretService.set_secret)
    unset_secret = _forward(SecretService, SecretService.unset_secret)
    list_secrets = _forward(SecretService, SecretService.list_secrets)

    # -- keys --------------------------------------------------------------------------------
    rotate_key = _forward(KeyService, KeyService.rotate_key)
    finish_key_rotation = _forward(KeyService, KeyService.finish_key_rotation)
    check_key = _forward(KeyService, KeyService.check_key)

    # -- planner -----------------------------------------------------------------------------
    plan = _forward(PlanService, PlanService.plan)
    compose = _forward(PlanService, PlanService.compose)

    # Written out: a forwarded overloaded method would keep only its first overload for mypy.
    @overload
    def graph(self, stack: str, *, fmt: Literal["svg"]) -> SvgGraph: ...
    @overload
    def graph(self, stack: str, *, fmt: Literal["mermaid", "dot"] = "mermaid") -> str: ...
    @overload
    def graph(self, stack: str, *, fmt: str) -> str | SvgGraph: ...
    def graph(self, stack: str, *, fmt: str = "mermaid") -> str | SvgGraph:
        """The stack's wiring graph as Mermaid or DOT text, or an SVG drawing (``fmt="svg"``)."""
        return self._ctx.planner.graph(stack, fmt=fmt)

    # -- apply -------------------------------------------------------------------------------
    apply = _forward(ApplyService, ApplyService.apply)
    down = _forward(ApplyService, ApplyService.down)
    down_report = _forward(ApplyService, ApplyService.down_report)
    status = _forward(ApplyService, ApplyService.status)

    # -- instance lifecycle (docs/lifecycle.md) ----------------------------------------------
    logs = _forward(LifecycleService, LifecycleService.logs)
    start = _forward(LifecycleService, LifecycleService.start)
    stop = _forward(LifecycleService, LifecycleService.stop)
    restart = _forward(LifecycleService, LifecycleService.restart)
    running_container = _forward(LifecycleService, LifecycleService.running_container)

    # -- manifests ---------------------------------------------------------------------------
    export_manifest = _forward(ManifestService, ManifestService.export_manifest)
    export_yaml = _forward(ManifestService, ManifestService.export_yaml)
    import_manifest = _forward(ManifestService, ManifestService.import_manifest)
    import_yaml = _forward(ManifestService, ManifestService.import_yaml)
    lock_stack = _forward(ManifestService, ManifestService.lock_stack)
    check_lock = _forward(ManifestService, ManifestService.check_lock)
    init_stack = _forward(ManifestService, ManifestService.init_stack)
    preview_init = _forward(ManifestService, ManifestService.preview_init)

    # -- engines (docs/engines.md) ---------------------------------------------------------
    list_engines = _forward(EngineService, EngineService.list_engines)
    add_engine = _forward(EngineService, EngineService.add_engine)
    remove_engine = _forward(EngineService, EngineService.remove_engine)
    use_engine = _forward(EngineService, EngineService.use_engine)
    engine_of = _forward(EngineService, EngineService.engine_of)
    move_stack = _forward(EngineService, EngineService.move_stack)

    def engine_runtime(self, engine: Engine) -> ports.Runtime:
        """The runtime of an engine record (for doctor and tools; opened once)."""
        return self._ctx.engines.runtime_for(engine)

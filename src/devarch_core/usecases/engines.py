"""Which engine a use case talks to, the stack lock, and who owns an engine object.

:class:`EngineAccess` picks the runtime for a stack (refusing to switch engines behind the
user's back) and :class:`StackLocks` holds a stack's lock once per thread. Both are small
services the plan, apply and stack services are given.
"""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen

from devarch_core import _convert, naming
from devarch_core.errors import (
    ApplyError,
    ConflictError,
    EngineError,
    NotFoundError,
    Problem,
    ValidationError,
)
from devarch_core.model import ENGINE_KINDS, Engine
from devarch_core.usecases._helpers import STACK_ENGINE_KEY, Service, stack_of
from devarch_core.usecases.rules import pinned_ports

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from devarch_core.engine import EngineInfo
    from devarch_core.model import Stack
    from devarch_core.ports import Runtime, StackLock, StoreSession
    from devarch_core.usecases._context import Context
    from devarch_core.usecases.apply import MoveResult

__all__ = [
    "DEFAULT_ENGINE_KEY",
    "EngineAccess",
    "EngineService",
    "EngineSummary",
    "StackLocks",
    "check_engine",
    "default_holder",
    "holder_of",
    "same_engine",
]


def default_holder() -> str:
    """A description of this process for lock messages."""
    import getpass  # noqa: PLC0415 - kept off the import of every use case
    import socket  # noqa: PLC0415

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"pid {os.getpid()} on {socket.gethostname()} by {user}"


def holder_of(labels: Mapping[str, str], owner: str) -> tuple[str, str]:
    """Who owns an engine object, in words, and what to add to the advice.

    ``owner`` is this store's identity. devarch never advises removing what another devarch
    store owns: that would break the other store's stack.
    """
    if labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY:
        return (
            "was not created by devarch",
            "if it is yours and unused, remove or rename it; otherwise ",
        )
    other = labels.get(naming.LABEL_OWNER, "?")
    stack = labels.get(naming.LABEL_STACK_NAME, "?")
    if other != owner:
        return (
            f"belongs to another devarch store (owner {other}, its stack {stack})",
            "devarch never touches another store's objects: ",
        )
    stack_id = labels.get(naming.LABEL_STACK_ID, "?")
    return (
        f"belongs to another stack of this store (stack {stack}, id {stack_id})",
        "`devarch doctor` lists leftovers; ",
    )


#: Store metadata key of the engine new stacks are bound to (``devarch engine use``).
DEFAULT_ENGINE_KEY = "default_engine"


def same_engine(a: Engine, b: Engine) -> bool:
    """True when two records name one engine (kind, endpoint, context and machine)."""
    return (a.kind, a.endpoint, a.context, a.host) == (b.kind, b.endpoint, b.context, b.host)


class EngineAccess(Service):
    """The engine each stack lives on: the one it is bound to, else the one selected for it.

    A stack is bound to a named engine (:class:`~devarch_core.model.Engine`) at its first apply
    and from then on is planned, applied, inspected and torn down there, whatever the caller's
    environment selects (docs/engines.md). An unbound stack uses, in order: the engine named by
    the caller (``selected``: ``--engine``, ``DEVARCH_ENGINE``), the store's default engine
    (``devarch engine use``), the caller's environment (``default``: ``--context``,
    ``DOCKER_CONTEXT``, ``DOCKER_HOST``, ``DEVARCH_RUNTIME``). Binding to an environment engine
    the store does not know yet records it under its kind's name.
    """

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        runtime, default = ctx.runtime, ctx.engine_choice.default
        if default is None and runtime is not None:
            endpoint = str(getattr(runtime, "endpoint", "") or "")
            default = Engine(name=runtime.name, kind=runtime.name, endpoint=endpoint)
        #: The engine the caller's environment names (the record of ``runtime``).
        self.default = default
        self._info: dict[int, EngineInfo] = {}
        #: Answers being asked in the background (:meth:`prefetch_info`): thread, result box.
        self._pending: dict[int, tuple[threading.Thread, list[EngineInfo | BaseException]]] = {}
        self._info_lock = threading.Lock()

    def prefetch_info(self, runtime: Runtime) -> None:
        """Start asking ``runtime`` for its info in the background; :meth:`info` takes it.

        The engine's info answer is among its slowest (``docker info``); a plan asks for it
        while it reads the store and the catalog. An error is raised by :meth:`info`, where
        the answer is used, never here.
        """
        key = id(runtime)
        with self._info_lock:
            if key in self._info or key in self._pending:
                return
            box: list[EngineInfo | BaseException] = []

            def ask() -> None:
                try:
                    box.append(runtime.info())
                except BaseException as exc:  # noqa: BLE001 - raised again by info()
                    box.append(exc)

            thread = threading.Thread(target=ask, name="devarch-engine-info", daemon=True)
            self._pending[key] = (thread, box)
        thread.start()

    def require(self) -> Runtime:
        """The runtime; ``EngineError`` saying how to configure one when there is none."""
        if self._ctx.runtime is None:
            why = self._ctx.engine_choice.problem or "no container engine configured"
            raise EngineError(
                f"this command needs a container engine ({why}): set DEVARCH_RUNTIME=docker|podman "
                "(or --runtime; Python: runtime=) and start Docker or Podman, or name an engine "
                "of the store with --engine (`devarch engine list`)"
            )
        return self._ctx.runtime

    def info(self, runtime: Runtime) -> EngineInfo:
        """What the engine can enforce and how many CPUs it has (asked once per engine)."""
        key = id(runtime)
        with self._info_lock:
            pending = self._pending.pop(key, None)
        if pending is not None:
            thread, box = pending
            thread.join()
            answer = box[0]
            if isinstance(answer, BaseException):
                raise answer
            self._info[key] = answer
        if key not in self._info:
            self._info[key] = runtime.info()
        return self._info[key]

    @staticmethod
    def kind(runtime: Runtime) -> str:
        """``docker`` or ``podman``: the adapter's name (no request to the engine).

        The composition root picks the Podman adapter for a Podman socket, also behind
        DOCKER_HOST, so the name tells the engines apart.
        """
        return runtime.name

    def stack_engine(self, name: str) -> str | None:
        """The engine kind a stack was last applied on (``docker``, ``podman``), or None."""
        with self._ctx.uow.transaction() as tx:
            stack = stack_of(tx, name)
            return tx.get_meta(STACK_ENGINE_KEY + stack.id) or None

    # -- which engine ---------------------------------------------------------------------------
    def lookup(self, tx: StoreSession, name: str) -> Engine:
        """The engine record called ``name``; ``NotFoundError`` naming the known ones."""
        engine = tx.get_engine(name)
        if engine is None:
            known = ", ".join(e.name for e in tx.list_engines()) or "none yet"
            raise NotFoundError(
                "engine", name, hint=f"known engines: {known}; add one with `devarch engine add`"
            )
        return engine

    def target(self, tx: StoreSession, stack: Stack | None = None) -> Engine:
        """The engine record ``stack`` uses (bound), or a new stack would be bound to."""
        if stack is not None and stack.engine:
            selected = self._ctx.engine_choice.selected
            if selected and selected != stack.engine:
                msg = (
                    f"stack {stack.name} is bound to engine {stack.engine}, not {selected}: "
                    f"move it with `devarch stack move {stack.name} --engine {selected}`, or "
                    "drop --engine/DEVARCH_ENGINE for this stack"
                )
                raise EngineError(msg)
            return self.lookup(tx, stack.engine)
        if self._ctx.engine_choice.selected:
            return self.lookup(tx, self._ctx.engine_choice.selected)
        default_name = tx.get_meta(DEFAULT_ENGINE_KEY)
        if default_name:
            return self.lookup(tx, default_name)
        if self.default is None:
            self.require()
            raise EngineError("no container engine configured")  # pragma: no cover
        known = next((e for e in tx.list_engines() if same_engine(e, self.default)), None)
        return known or self.default

    def engine_of(self, name: str) -> Engine:
        """The engine record stack ``name`` uses, or would be bound to at its first apply."""
        with self._ctx.uow.transaction() as tx:
            return self.target(tx, stack_of(tx, name))

    def runtime_for(self, engine: Engine, *, stack: str | None = None) -> Runtime:
        """The runtime of an engine record (the environment's own when it is that engine)."""
        if (
            self._ctx.runtime is not None
            and self.default is not None
            and same_engine(engine, self.default)
        ):
            return self._ctx.runtime
        if self._ctx.engine_choice.connector is None:
            whose = f"stack {stack} is bound to engine" if stack else "engine"
            msg = (
                f"{whose} {engine.name} ({engine.where}), which cannot be opened here: no "
                "engine connector is configured (Python: Devarch(connector=...))"
            )
            raise EngineError(msg)
        return self._ctx.engine_choice.connector.open(engine)

    def record(self, runtime: Runtime, stack: Stack) -> None:
        """Bind ``stack`` to the engine it is applied on (recording an environment engine)."""
        kind = self.kind(runtime)
        with self._ctx.uow.transaction() as tx:
            if tx.get_meta(STACK_ENGINE_KEY + stack.id) != kind:
                tx.set_meta(STACK_ENGINE_KEY + stack.id, kind)
            current = stack_of(tx, stack.name)
            if current.engine:
                return
            engine = self.target(tx, current)
            stored = tx.get_engine(engine.name)
            if stored is None or not same_engine(stored, engine):
                engine = self._register(tx, engine)
            tx.update_stack(attrs.evolve(current, engine=engine.name))

    def _register(self, tx: StoreSession, engine: Engine) -> Engine:
        """Record an environment engine under its name, or ``name-2``... when that is taken."""
        taken = {e.name for e in tx.list_engines()}
        name, n = engine.name, 1
        while name in taken:
            n += 1
            name = f"{engine.name}-{n}"
        engine = attrs.evolve(engine, name=name, created_at=self._ctx.uow.now())
        tx.put_engine(engine)
        return engine

    def for_stack(self, stack: Stack) -> Runtime:
        """The engine to use for ``stack``: its bound engine, else the one selected for it.

        For an unbound stack applied before engines were named (its engine kind recorded) and
        an engine picked automatically that is another one, planning there would show every
        instance absent and apply would build a second copy: refuse, naming the stack's engine.
        """
        with self._ctx.uow.transaction() as tx:
            current = tx.get_stack(stack.name) or stack
            engine = self.target(tx, current)
            recorded = tx.get_meta(STACK_ENGINE_KEY + stack.id)
        if (
            current.engine
            or self._ctx.engine_choice.selected
            or self.default is None
            or not same_engine(engine, self.default)
        ):
            return self.runtime_for(engine, stack=stack.name)
        runtime = self.require()
        if not self._ctx.engine_choice.auto or not recorded or recorded == self.kind(runtime):
            return runtime
        current_kind = self.kind(runtime)
        why = f": {self._ctx.engine_choice.note}" if self._ctx.engine_choice.note else ""
        msg = (
            f"stack {stack.name} lives on {recorded} (it was applied there), but devarch picked "
            f"{current_kind} automatically{why}. Start {recorded} and select it with "
            f"`--runtime {recorded}` or DEVARCH_RUNTIME={recorded}; `--runtime {current_kind}` "
            f"uses {current_kind} for this stack on purpose"
        )
        raise EngineError(msg)


class StackLocks(Service):
    """The stack lock (port), held at most once per thread and stack."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.lock: StackLock | None = ctx.lock
        #: Stacks whose lock this facade holds (see :meth:`locked`): stack -> thread id.
        self._held: dict[str, int] = {}

    def locked(
        self, stack: str, *, timeout: float | None = None, holder: str | None = None
    ) -> AbstractContextManager[None]:
        """Hold the stack's lock for the block (``StackLockedError`` at once if another holds it).

        ``apply``, ``down`` and ``delete_stack`` called inside the block, from the same thread, use
        this hold instead of taking the lock again. A front end takes it *before* planning, so a
        second apply is refused before it shows a plan the first one is about to change.
        """
        return self._hold_existing(stack, holder or default_holder(), timeout)

    @contextmanager
    def _hold_existing(self, stack: str, holder: str, timeout: float | None) -> Iterator[None]:
        with self._ctx.uow.transaction() as tx:
            stack_of(tx, stack)  # a missing stack is NotFoundError, not a lock file for nothing
        with self.hold(stack, holder, timeout):
            yield

    @contextmanager
    def hold(self, stack: str, holder: str, timeout: float | None) -> Iterator[None]:
        """Take the stack's lock unless this thread already holds it."""
        if self.lock is None:
            raise ApplyError("no stack lock configured", step="lock")
        me = threading.get_ident()
        if self._held.get(stack) == me:
            yield  # this thread already holds it (inside ``locked``)
            return
        with self.lock.acquire(stack, holder=holder, timeout=timeout):
            self._held[stack] = me
            try:
                yield
            finally:
                self._held.pop(stack, None)


@frozen(kw_only=True)
class EngineSummary:
    """An engine record, whether it is the store's default, and the stacks bound to it."""

    engine: Engine
    default: bool = False
    stacks: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = _convert.unstructure(self)
        return data


_SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://")


def check_engine(engine: Engine) -> None:
    """``ValidationError`` naming every problem of a new engine record (``engines.NAME.field``)."""
    where = f"engines.{engine.name}"
    problems = []
    try:
        naming.validate_name(engine.name, kind="engine")
    except ValidationError as exc:
        problems.append(Problem(f"{where}.name", str(exc)))
    if engine.kind not in ENGINE_KINDS:
        problems.append(
            Problem(
                f"{where}.kind", f"kind {engine.kind!r} must be one of {', '.join(ENGINE_KINDS)}"
            )
        )
    if bool(engine.endpoint) == bool(engine.context):
        problems.append(
            Problem(where, "give exactly one of an endpoint (unix://, tcp://, ssh://) or a context")
        )
    elif engine.endpoint and not engine.endpoint.startswith(_SCHEMES):
        problems.append(
            Problem(
                f"{where}.endpoint",
                f"endpoint {engine.endpoint!r} must start with {', '.join(_SCHEMES)}",
            )
        )
    if problems:
        raise ValidationError(problems, what="invalid engine")


class EngineService(Service):
    """Named engines: list, add, remove, the store's default, and moving a stack between them."""

    def list_engines(self) -> list[EngineSummary]:
        """Every engine of the store with the stacks bound to it, by name."""
        with self._ctx.uow.transaction() as tx:
            default = tx.get_meta(DEFAULT_ENGINE_KEY) or ""
            stacks = tx.list_stacks()
            return [
                EngineSummary(
                    engine=e,
                    default=e.name == default,
                    stacks=tuple(s.name for s in stacks if s.engine == e.name),
                )
                for e in tx.list_engines()
            ]

    def add_engine(self, engine: Engine) -> Engine:
        """Record a new engine; ``ConflictError`` if the name is taken."""
        check_engine(engine)
        engine = attrs.evolve(engine, created_at=engine.created_at or self._ctx.uow.now())
        with self._ctx.uow.transaction() as tx:
            if tx.get_engine(engine.name) is not None:
                raise ConflictError(f"engine {engine.name} already exists")
            tx.put_engine(engine)
        return engine

    def remove_engine(self, name: str) -> None:
        """Forget an engine; ``ConflictError`` while stacks are bound to it."""
        with self._ctx.uow.transaction() as tx:
            self._ctx.engines.lookup(tx, name)
            tx.delete_engine(name)
            if tx.get_meta(DEFAULT_ENGINE_KEY) == name:
                tx.set_meta(DEFAULT_ENGINE_KEY, "")

    def use_engine(self, name: str | None) -> None:
        """Make ``name`` the engine new stacks are bound to (None: the caller's environment)."""
        with self._ctx.uow.transaction() as tx:
            if name is not None:
                self._ctx.engines.lookup(tx, name)
            tx.set_meta(DEFAULT_ENGINE_KEY, name or "")

    def engine_of(self, stack: str) -> Engine:
        """The engine a stack is bound to, or would be bound to at its first apply."""
        return self._ctx.engines.engine_of(stack)

    def move_stack(
        self,
        name: str,
        engine: str,
        *,
        volumes: bool = False,
        lock_timeout: float | None = None,
        holder: str | None = None,
    ) -> MoveResult:
        """Move a stack to another engine: down where it runs, then up there, under its lock.

        The new engine must answer before anything is removed. The stack's host ports move with
        it; one taken on the new engine is allocated again by the plan. Named volumes stay on the
        old engine unless ``volumes`` (their data does not move). If the apply on the new engine
        fails, the stack stays bound there with nothing running on the old one: fix the cause
        and ``apply`` again.
        """
        with self._ctx.uow.transaction() as tx:
            stack = stack_of(tx, name)
            target = self._ctx.engines.lookup(tx, engine)
            source = self._ctx.engines.target(tx, stack) if stack.engine else None
        if stack.engine == target.name:
            msg = f"stack {name} is already bound to engine {target.name}"
            raise ValidationError(msg, what="nothing to move")
        new_runtime = self._ctx.engines.runtime_for(target)
        self._ctx.engines.info(new_runtime)  # the new engine answers before anything is removed
        old_runtime = self._ctx.engines.runtime_for(source) if source is not None else None
        with self._ctx.locks.hold(
            name, holder or "devarch stack move " + default_holder(), lock_timeout
        ):
            down = None
            if old_runtime is not None:
                down = self._ctx.applier.teardown(stack, volumes=volumes, runtime=old_runtime)
            with self._ctx.uow.transaction() as tx:
                current = stack_of(tx, name)
                self._drop_taken_ports(tx, current, target.name)
                tx.update_stack(attrs.evolve(current, engine=target.name))
                for inst in tx.list_instances(current.id):
                    tx.delete_applied(inst.id)
            applied = self._ctx.applier.apply(name, lock_timeout=lock_timeout, holder=holder)
        from devarch_core.usecases.apply import MoveResult  # noqa: PLC0415 - apply imports this module

        return MoveResult(
            stack=name,
            source=source.name if source is not None else None,
            target=target.name,
            down=down,
            applied=applied,
        )

    @staticmethod
    def _drop_taken_ports(tx: StoreSession, stack: Stack, engine: str) -> None:
        """Forget the stack's allocated host ports (the new engine's plan picks anew).

        An allocated port was chosen free on the old engine's host; it means nothing on the new
        one. Pinned ports stay (the user asked for them) unless a stack on ``engine`` holds one:
        then the plan reports the clash.
        """
        taken = {
            (a.host_ip, a.host_port, a.protocol)
            for s in tx.list_stacks()
            if s.engine == engine and s.id != stack.id
            for a in tx.list_port_allocations(s.id)
        }
        ids = {inst.name: inst for inst in tx.list_instances(stack.id)}
        pinned = {(i, a.key) for inst in ids.values() for i, a in pinned_ports(stack, inst)}
        for a in tx.list_port_allocations(stack.id):
            inst = ids.get(a.instance)
            if inst is None:
                continue
            if (inst.id, a.key) not in pinned or (a.host_ip, a.host_port, a.protocol) in taken:
                tx.delete_port_allocation(inst.id, a.container_port, a.protocol)

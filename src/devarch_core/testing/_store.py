"""In-memory fakes of the ``Store`` and ``StackLock`` ports (:mod:`devarch_core.ports`).

They keep the promises of the real adapters (the same contract suite runs against them): a
transaction works on a deep copy of the state that replaces the committed state only when the
block exits normally; names and host ports are unique as the SQL stores enforce them, with the
same ``ConflictError`` messages; values come back through the same row conversions as the SQL
stores' (``devarch_core._convert.row``/``structure_row``; applied configs via JSON).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from devarch_core._convert import row, structure_row
from devarch_core.errors import (
    ConflictError,
    NotFoundError,
    PortConflictError,
    StackLockedError,
    StoreError,
    ValidationError,
)
from devarch_core.model import Engine, Instance, PortAllocation, Stack, Wire
from devarch_core.ports import AppliedRecord, SealedSecret

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devarch_core.ports import StoreSession

__all__ = ["InMemoryStackLock", "InMemoryStore"]

_PortKey = tuple[str, int, str]  # (instance_id, container_port, protocol)


@attrs.define
class _State:
    stacks: dict[str, Stack] = attrs.field(factory=dict)  # by id
    instances: dict[str, Instance] = attrs.field(factory=dict)  # by id
    # by (stack_id, consumer, import)
    wires: dict[tuple[str, str, str], Wire] = attrs.field(factory=dict)
    secrets: dict[tuple[str, str], SealedSecret] = attrs.field(factory=dict)  # (instance_id, name)
    applied: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # instance_id -> row
    ports: dict[_PortKey, tuple[str, int]] = attrs.field(factory=dict)  # -> (host_ip, host_port)
    meta: dict[str, str] = attrs.field(factory=dict)
    engines: dict[str, Engine] = attrs.field(factory=dict)  # by name


_Row = TypeVar("_Row")


def _existing(table: dict[str, _Row], row_id: str, kind: str, name: str) -> _Row:
    """The stored row with ``row_id``, or ``NotFoundError`` naming the ``kind`` and ``name``."""
    old = table.get(row_id)
    if old is None:
        raise NotFoundError(kind, name)
    return old


class _Session:
    """One transaction on a private copy of the state."""

    def __init__(self, state: _State) -> None:
        self._s = state
        self._open = True

    def _check(self) -> _State:
        if not self._open:
            raise StoreError("the transaction is over; open a new one with store.transaction()")
        return self._s

    def _end(self) -> None:
        self._open = False

    # -- stacks ----------------------------------------------------------------------------------
    def get_stack(self, name: str) -> Stack | None:
        return next((s for s in self._check().stacks.values() if s.name == name), None)

    def list_stacks(self) -> list[Stack]:
        return sorted(self._check().stacks.values(), key=lambda s: s.name)

    def add_stack(self, stack: Stack) -> None:
        s = self._check()
        if self.get_stack(stack.name) is not None:
            raise ConflictError(f"stack {stack.name} already exists")
        if stack.id in s.stacks:
            raise ConflictError(f"stack id {stack.id} already exists")
        s.stacks[stack.id] = structure_row(row(stack), Stack)

    def update_stack(self, stack: Stack) -> None:
        s = self._check()
        old = _existing(s.stacks, stack.id, "stack", stack.name)
        if old.name != stack.name:
            raise ValidationError(
                f"stack {old.name} cannot be renamed to {stack.name}; "
                "clone it and delete the original",
                what="invalid stack update",
            )
        if stack.engine is not None and stack.engine not in s.engines:
            raise NotFoundError("engine", stack.engine)
        if stack.engine != old.engine:
            self._check_ports_on(stack.id, stack.engine)
        s.stacks[stack.id] = structure_row(row(stack), Stack)

    def _engine_of(self, instance_id: str) -> str:
        s = self._check()
        return s.stacks[s.instances[instance_id].stack_id].engine or ""

    def _check_ports_on(self, stack_id: str, engine: str | None) -> None:
        """``PortConflictError`` if a host port of the stack is taken on ``engine``."""
        s = self._check()
        for key, (host_ip, host_port) in s.ports.items():
            if s.instances[key[0]].stack_id != stack_id:
                continue
            for other_key, other in s.ports.items():
                if (
                    s.instances[other_key[0]].stack_id != stack_id
                    and self._engine_of(other_key[0]) == (engine or "")
                    and (other[0], other[1], other_key[2]) == (host_ip, host_port, key[2])
                ):
                    holder = s.instances[other_key[0]]
                    raise PortConflictError(
                        f"host port {host_ip}:{host_port}/{key[2]} is already allocated to "
                        f"instance {holder.name} of stack {holder.stack} on engine {engine}"
                    )

    def delete_stack(self, stack_id: str) -> None:
        s = self._check()
        if s.stacks.pop(stack_id, None) is None:
            return
        for instance in [i for i in s.instances.values() if i.stack_id == stack_id]:
            self.delete_instance(instance.id)
        s.wires = {k: v for k, v in s.wires.items() if k[0] != stack_id}
        s.secrets = {k: v for k, v in s.secrets.items() if v.stack_id != stack_id}

    # -- instances -------------------------------------------------------------------------------
    def list_instances(self, stack_id: str) -> list[Instance]:
        return sorted(
            (i for i in self._check().instances.values() if i.stack_id == stack_id),
            key=lambda i: i.name,
        )

    def get_instance(self, stack_id: str, name: str) -> Instance | None:
        found = (
            i for i in self._check().instances.values() if i.stack_id == stack_id and i.name == name
        )
        return next(found, None)

    def _normalized(self, instance: Instance) -> Instance:
        stack = self._check().stacks.get(instance.stack_id)
        if stack is None:
            raise NotFoundError("stack", instance.stack or instance.stack_id)
        # The instance travels through its row form (overrides as data), as the SQL stores keep it.
        return structure_row({**row(instance), "stack": stack.name}, Instance)

    def _check_instance_unique(self, instance: Instance) -> None:
        s = self._check()
        for other in s.instances.values():
            if (
                other.id != instance.id
                and other.stack_id == instance.stack_id
                and other.name == instance.name
            ):
                raise ConflictError(
                    f"instance {instance.name} already exists in stack {instance.stack}"
                )
        wanted = instance.container_name
        for other in s.instances.values():
            if other.id != instance.id and other.container_name == wanted:
                raise ConflictError(
                    f"container name {wanted} is already used by "
                    f"instance {other.name} of stack {other.stack}"
                )

    def add_instance(self, instance: Instance) -> None:
        s = self._check()
        instance = self._normalized(instance)
        self._check_instance_unique(instance)
        if instance.id in s.instances:
            raise ConflictError(f"instance id {instance.id} already exists")
        s.instances[instance.id] = instance

    def update_instance(self, instance: Instance) -> None:
        s = self._check()
        old = _existing(s.instances, instance.id, "instance", instance.name)
        if old.stack_id != instance.stack_id:
            raise ValidationError(
                f"instance {old.name} cannot move to another stack", what="invalid instance update"
            )
        instance = self._normalized(instance)
        self._check_instance_unique(instance)
        s.instances[instance.id] = instance

    def delete_instance(self, instance_id: str) -> None:
        s = self._check()
        if s.instances.pop(instance_id, None) is None:
            return
        s.secrets = {k: v for k, v in s.secrets.items() if k[0] != instance_id}
        s.applied.pop(instance_id, None)
        s.ports = {k: v for k, v in s.ports.items() if k[0] != instance_id}

    def find_container_name(self, container_name: str) -> tuple[str, str] | None:
        for i in self._check().instances.values():
            if i.container_name == container_name:
                return (i.stack, i.name)
        return None

    # -- wires -----------------------------------------------------------------------------------
    def list_wires(self, stack_id: str) -> list[Wire]:
        wires = [w for k, w in self._check().wires.items() if k[0] == stack_id]
        return sorted(wires, key=lambda w: (w.consumer, w.import_name))

    def put_wire(self, stack_id: str, wire: Wire) -> None:
        s = self._check()
        if stack_id not in s.stacks:
            raise NotFoundError("stack", stack_id)
        s.wires[(stack_id, wire.consumer, wire.import_name)] = wire

    def delete_wire(self, stack_id: str, consumer: str, import_name: str) -> bool:
        return self._check().wires.pop((stack_id, consumer, import_name), None) is not None

    # -- secrets ---------------------------------------------------------------------------------
    def list_secrets(self, stack_id: str | None = None) -> list[SealedSecret]:
        found = [
            v for v in self._check().secrets.values() if stack_id is None or v.stack_id == stack_id
        ]
        return sorted(found, key=lambda v: (v.instance_id, v.name))

    def put_secret(self, secret: SealedSecret) -> None:
        s = self._check()
        if secret.stack_id not in s.stacks:
            raise NotFoundError("stack", secret.stack_id)
        if secret.instance_id not in s.instances:
            raise NotFoundError("instance", secret.instance_id)
        s.secrets[(secret.instance_id, secret.name)] = structure_row(row(secret), SealedSecret)

    def delete_secret(self, stack_id: str, instance_id: str, name: str) -> bool:
        s = self._check()
        found = s.secrets.get((instance_id, name))
        if found is None or found.stack_id != stack_id:
            return False
        del s.secrets[(instance_id, name)]
        return True

    def lock_secrets(self) -> None:
        self._check()  # transactions are serialized: holding one is holding the lock

    # -- applied ---------------------------------------------------------------------------------
    def get_applied(self, instance_id: str) -> AppliedRecord | None:
        stored = self._check().applied.get(instance_id)
        if stored is None:
            return None
        columns = {**stored, "instance_id": instance_id, "config": json.loads(stored["config"])}
        return structure_row(columns, AppliedRecord)

    def list_applied(self, stack_id: str) -> list[AppliedRecord]:
        s = self._check()
        ids = sorted(i for i, inst in s.instances.items() if inst.stack_id == stack_id)
        return [r for i in ids if (r := self.get_applied(i)) is not None]

    def put_applied(self, record: AppliedRecord) -> None:
        s = self._check()
        if record.instance_id not in s.instances:
            raise NotFoundError("instance", record.instance_id)
        try:
            config = json.dumps(dict(record.config), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"applied config of instance {record.instance_id} is not JSON data: {exc}"
            ) from exc
        s.applied[record.instance_id] = {
            "config_hash": record.config_hash,
            "config": config,
            "applied_at": record.applied_at,
        }

    def delete_applied(self, instance_id: str) -> None:
        self._check().applied.pop(instance_id, None)

    # -- ports -----------------------------------------------------------------------------------
    def list_port_allocations(self, stack_id: str | None = None) -> list[PortAllocation]:
        s = self._check()
        found = []
        for (instance_id, cport, proto), (host_ip, host_port) in s.ports.items():
            instance = s.instances[instance_id]
            if stack_id is not None and instance.stack_id != stack_id:
                continue
            columns = {
                "stack": instance.stack,
                "instance": instance.name,
                "container_port": cport,
                "protocol": proto,
                "host_port": host_port,
                "host_ip": host_ip,
            }
            found.append(structure_row(columns, PortAllocation))
        return sorted(found, key=lambda a: (a.stack, a.instance, a.container_port, a.protocol))

    def put_port_allocation(self, instance_id: str, allocation: PortAllocation) -> None:
        s = self._check()
        if instance_id not in s.instances:
            raise NotFoundError("instance", instance_id)
        key = (instance_id, allocation.container_port, allocation.protocol)
        for other_key, (host_ip, host_port) in s.ports.items():
            if other_key == key or self._engine_of(other_key[0]) != self._engine_of(instance_id):
                continue
            if (host_ip, host_port, other_key[2]) == (
                allocation.host_ip,
                allocation.host_port,
                allocation.protocol,
            ):
                other = s.instances[other_key[0]]
                raise PortConflictError(
                    f"host port {host_ip}:{host_port}/{allocation.protocol} is already "
                    f"allocated to instance {other.name} of stack {other.stack} "
                    f"(container port {other_key[1]}/{other_key[2]})"
                )
        s.ports[key] = (allocation.host_ip, allocation.host_port)

    def delete_port_allocation(self, instance_id: str, container_port: int, protocol: str) -> None:
        self._check().ports.pop((instance_id, container_port, protocol), None)

    # -- engines ---------------------------------------------------------------------------------
    def list_engines(self) -> list[Engine]:
        return sorted(self._check().engines.values(), key=lambda e: e.name)

    def get_engine(self, name: str) -> Engine | None:
        return self._check().engines.get(name)

    def put_engine(self, engine: Engine) -> None:
        self._check().engines[engine.name] = engine

    def delete_engine(self, name: str) -> None:
        s = self._check()
        users = sorted(st.name for st in s.stacks.values() if st.engine == name)
        if users:
            raise ConflictError(
                f"engine {name} still has stacks bound to it ({', '.join(users)}); "
                f"move them first (`devarch stack move STACK --engine OTHER`)"
            )
        s.engines.pop(name, None)

    # -- meta ------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        return self._check().meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._check().meta[key] = value


class InMemoryStore:
    """A :class:`~devarch_core.ports.Store` kept in process memory, for tests and experiments.

    Transactions are serialized (like ``BEGIN IMMEDIATE``) and do not nest: opening one inside
    another on the same thread raises ``StoreError`` instead of deadlocking.
    """

    url = "memory://"

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._closed = False

    @contextmanager
    def _transaction(self) -> Iterator[StoreSession]:
        if self._closed:
            raise StoreError("the store is closed")
        if getattr(self._local, "active", False):
            raise StoreError("transactions do not nest; use the session you already have")
        with self._lock:
            self._local.active = True
            session = _Session(copy.deepcopy(self._state))
            try:
                yield session
                self._state = session._s  # noqa: SLF001 - commit: the working copy becomes the state
            finally:
                session._end()  # noqa: SLF001
                self._local.active = False

    def transaction(self) -> AbstractContextManager[StoreSession]:
        """Open one transaction; commit on normal exit, discard the copy on exception."""
        return self._transaction()

    def schema_version(self) -> int:
        """Return 1: an in-memory store has nothing to migrate."""
        return 1

    def close(self) -> None:
        """Refuse further transactions. Idempotent."""
        self._closed = True


class InMemoryStackLock:
    """A thread-safe :class:`~devarch_core.ports.StackLock` for one process.

    Not re-entrant: a second acquire of the same stack fails even from the holding thread,
    exactly as a second process would.
    """

    #: Seconds between checks while waiting with a timeout (the condition also wakes on release).
    poll_interval = 0.05

    def __init__(self) -> None:
        self._held: dict[str, str] = {}
        self._cond = threading.Condition()

    @contextmanager
    def _acquire(self, stack: str, holder: str, timeout: float | None) -> Iterator[None]:
        deadline = time.monotonic() + (timeout or 0)
        with self._cond:
            while stack in self._held:
                remaining = deadline - time.monotonic()
                if timeout is None or remaining <= 0:
                    raise StackLockedError(stack, self._held[stack])
                self._cond.wait(min(remaining, self.poll_interval))
            self._held[stack] = holder
        try:
            yield
        finally:
            with self._cond:
                del self._held[stack]
                self._cond.notify_all()

    def acquire(
        self, stack: str, *, holder: str, timeout: float | None = None
    ) -> AbstractContextManager[None]:
        """Hold the stack's lock for the block; ``StackLockedError`` naming the holder if taken."""
        return self._acquire(stack, holder, timeout)

    def holder(self, stack: str) -> str | None:
        """Who holds the stack's lock, or None."""
        with self._cond:
            return self._held.get(stack)

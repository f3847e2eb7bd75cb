"""The ports through which the pure core talks to the world. Adapters implement them.

Every port has an in-memory implementation in :mod:`devarch_core.testing` and a contract test
suite (``tests/contract``) that the fake and each real adapter pass. Docstrings are contracts:
they say what is guaranteed, what is idempotent, and which ``DevarchError`` is raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from attrs import frozen

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from datetime import datetime

    from devarch_core import engine
    from devarch_core.model import Engine, Instance, PortAllocation, Stack, Wire

__all__ = [
    "AppliedRecord",
    "Clock",
    "ConfigFiles",
    "EngineConnector",
    "KeyProvider",
    "KeySet",
    "LogIterator",
    "PortProbe",
    "Reporter",
    "Runtime",
    "SealedSecret",
    "StackLock",
    "Store",
    "StoreSession",
    "UpdatingRuntime",
]


@frozen(kw_only=True)
class AppliedRecord:
    """The effective config devarch last applied to an instance (secrets as keyed hashes)."""

    instance_id: str
    config_hash: str
    #: Plain data of the applied effective config, field path -> {"value": ..., "source": ...}.
    config: Mapping[str, object]
    applied_at: str


@frozen(kw_only=True)
class SealedSecret:
    """A sealed secret as stored: only ciphertext (see :class:`devarch_core.secrets.SecretBox`)."""

    stack_id: str
    instance_id: str
    name: str
    sealed: bytes


class StoreSession(Protocol):
    """One transaction on the store.

    Everything is committed at once when the ``Store.transaction()`` block exits normally and
    rolled back if it raises.

    Names are unique as follows, enforced by the store itself (so two sessions racing cannot both
    win): stack names across the store; instance names within a stack; container names
    (``devarch-{stack}-{instance}``) across the store; host ports per host IP and engine (the
    engine a stack is bound to; unbound stacks share one).
    A violation raises ``ConflictError``. Lists are sorted by name.

    A refused write changes nothing and leaves the transaction usable (the caller may catch the
    error and go on); if the error escapes the block, the whole transaction rolls back. A write
    whose parent is missing (an instance's or wire's stack; a secret's, applied record's or port
    allocation's instance) raises ``NotFoundError``. Names derived from ids (``Instance.stack``,
    ``PortAllocation.stack``/``instance``) are informational on writes: reads report the
    store's current names. Using a session after its block ended raises ``StoreError``.
    """

    # -- stacks ------------------------------------------------------------------------------
    def get_stack(self, name: str) -> Stack | None:
        """The stack called ``name``, or None."""
        ...

    def list_stacks(self) -> list[Stack]:
        """Every stack, by name."""
        ...

    def add_stack(self, stack: Stack) -> None:
        """Insert a stack; ``ConflictError`` if the name is taken."""
        ...

    def update_stack(self, stack: Stack) -> None:
        """Replace the stack with the same id; ``NotFoundError`` if absent.

        Its name never changes: a different name raises ``ValidationError``. A new ``engine``
        takes its host port allocations along (``PortConflictError`` if one is taken there) and
        must name an engine record (``NotFoundError``).
        """
        ...

    def delete_stack(self, stack_id: str) -> None:
        """Delete the stack and everything it owns. Idempotent.

        That is its instances, wires, secrets, applied records and port allocations. Its name can
        be reused afterwards.
        """
        ...

    # -- instances ---------------------------------------------------------------------------
    def list_instances(self, stack_id: str) -> list[Instance]:
        """The stack's instances, by name."""
        ...

    def get_instance(self, stack_id: str, name: str) -> Instance | None:
        """The instance called ``name`` in the stack, or None."""
        ...

    def add_instance(self, instance: Instance) -> None:
        """Insert an instance; ``ConflictError`` if its name or container name is taken.

        The instance name must be free in the stack, the container name anywhere in the store (the
        error names the other stack).
        """
        ...

    def update_instance(self, instance: Instance) -> None:
        """Replace the instance with the same id (a rename is allowed; uniqueness as for add).

        ``NotFoundError`` if absent; ``ValidationError`` if ``stack_id`` differs (no moves).
        """
        ...

    def delete_instance(self, instance_id: str) -> None:
        """Delete the instance with its secrets, applied record and port allocations. Idempotent."""
        ...

    def find_container_name(self, container_name: str) -> tuple[str, str] | None:
        """``(stack, instance)`` of the instance whose container is called so, or None."""
        ...

    # -- wires -------------------------------------------------------------------------------
    def list_wires(self, stack_id: str) -> list[Wire]:
        """The stack's explicit wires, by (consumer, import)."""
        ...

    def put_wire(self, stack_id: str, wire: Wire) -> None:
        """Insert or replace the wire for (consumer, import_name)."""
        ...

    def delete_wire(self, stack_id: str, consumer: str, import_name: str) -> bool:
        """Delete one wire; False if there was none."""
        ...

    # -- secrets (ciphertext only) -----------------------------------------------------------
    def list_secrets(self, stack_id: str | None = None) -> list[SealedSecret]:
        """Sealed secrets of a stack (or of the whole store), by (instance_id, name)."""
        ...

    def put_secret(self, secret: SealedSecret) -> None:
        """Insert or replace one sealed secret."""
        ...

    def delete_secret(self, stack_id: str, instance_id: str, name: str) -> bool:
        """Delete one secret; False if there was none."""
        ...

    def lock_secrets(self) -> None:
        """Hold the store's secret lock until this transaction ends.

        While it is held no other transaction writes or deletes a secret (nor takes this lock),
        and what this transaction reads afterwards is the latest committed state. Sealing
        transactions take it before reading the store's key id, so a key rotation and a
        concurrent ``set_secret`` never interleave. Stores that serialize every write
        transaction already keep this promise and may do nothing.
        """
        ...

    # -- applied state -----------------------------------------------------------------------
    def get_applied(self, instance_id: str) -> AppliedRecord | None:
        """The last applied record of an instance, or None."""
        ...

    def list_applied(self, stack_id: str) -> list[AppliedRecord]:
        """The applied records of a stack's instances, by instance id (one read, not one each)."""
        ...

    def put_applied(self, record: AppliedRecord) -> None:
        """Insert or replace the applied record of ``record.instance_id``.

        ``config`` must be JSON data (``StoreError`` otherwise) and reads back as parsed JSON
        (lists, not tuples).
        """
        ...

    def delete_applied(self, instance_id: str) -> None:
        """Forget what was applied for an instance. Idempotent."""
        ...

    # -- host ports --------------------------------------------------------------------------
    def list_port_allocations(self, stack_id: str | None = None) -> list[PortAllocation]:
        """Allocations of a stack (or of the whole store), by (stack, instance, port)."""
        ...

    def put_port_allocation(self, instance_id: str, allocation: PortAllocation) -> None:
        """Insert or replace the allocation of (instance, container port, protocol).

        ``ConflictError`` naming the owner if another instance on the same engine (its stack's
        ``engine``) holds that host port.
        """
        ...

    def delete_port_allocation(self, instance_id: str, container_port: int, protocol: str) -> None:
        """Forget one allocation. Idempotent."""
        ...

    # -- engines -----------------------------------------------------------------------------
    def list_engines(self) -> list[Engine]:
        """Every engine record, by name."""
        ...

    def get_engine(self, name: str) -> Engine | None:
        """The engine called ``name``, or None."""
        ...

    def put_engine(self, engine: Engine) -> None:
        """Insert or replace the engine record called ``engine.name``."""
        ...

    def delete_engine(self, name: str) -> None:
        """Forget an engine; ``ConflictError`` naming a stack still bound to it. Idempotent."""
        ...

    # -- store metadata ----------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A metadata value (e.g. the store's owner id), or None."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace a metadata value."""
        ...


@runtime_checkable
class Store(Protocol):
    """Durable state: stacks, instances, wires, sealed secrets, applied records, port pins."""

    #: A human-readable location without credentials (``sqlite:///home/u/.devarch/devarch.db``).
    url: str

    def transaction(self) -> AbstractContextManager[StoreSession]:
        """Open one transaction; commit on normal exit, roll back on exception.

        Driver errors surface as ``StoreError``; uniqueness violations as ``ConflictError``.
        Transactions do not nest: opening one inside another on the same thread raises
        ``StoreError`` (instead of deadlocking). Transactions from several threads serialize.
        """
        ...

    def schema_version(self) -> int:
        """The applied migration version (migrations run automatically on open)."""
        ...

    def close(self) -> None:
        """Release connections. Idempotent."""
        ...


@runtime_checkable
class Runtime(Protocol):
    """A container engine.

    Operations are by engine name; the core decides which resources it may touch (only those
    labelled ``devarch.managed_by=devarch`` with its own ``devarch.owner``).

    Engine errors surface as ``EngineError`` with the engine's message; an unreachable engine as
    ``EngineError`` naming the endpoint. A name already taken raises ``ConflictError``.

    Optional attribute: ``lists_health = True`` says :meth:`list_containers` reports each
    container's health as :meth:`health` would (``status`` then asks no container one by one).
    """

    #: ``docker``, ``podman`` or ``fake``.
    name: str

    def info(self) -> engine.EngineInfo:
        """Which engine, version, endpoint and capabilities; ``EngineError`` if unreachable."""
        ...

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> engine.NetworkInfo:
        """Create the bridge network with DNS if absent, else return it.

        Idempotent and safe when callers race: all of them get the same network.
        """
        ...

    def remove_network(self, name: str) -> bool:
        """Remove a network; False if it did not exist."""
        ...

    def list_networks(self, labels: Mapping[str, str]) -> list[engine.NetworkInfo]:
        """Networks carrying all ``labels``."""
        ...

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> engine.VolumeInfo:
        """Create the named volume if absent, else return it. Idempotent."""
        ...

    def remove_volume(self, name: str) -> bool:
        """Remove a volume; False if it did not exist."""
        ...

    def list_volumes(self, labels: Mapping[str, str]) -> list[engine.VolumeInfo]:
        """Volumes carrying all ``labels``."""
        ...

    def list_containers(self, labels: Mapping[str, str]) -> list[engine.ContainerInfo]:
        """Containers in any state carrying all ``labels``, by name."""
        ...

    def inspect_container(self, name: str) -> engine.ContainerInfo | None:
        """One container, or None."""
        ...

    def create_container(self, spec: engine.ContainerSpec) -> engine.ContainerInfo:
        """Create (not start) a container joined to ``spec.network`` with ``spec.aliases``.

        ``ConflictError`` if the name is taken. The only place secret values are revealed.
        """
        ...

    def start_container(self, name: str) -> None:
        """Start a container; no-op if it runs.

        Port clashes surface as ``EngineError``; ``NotFoundError`` if there is no such container.
        """
        ...

    def stop_container(self, name: str, timeout: float | None = None) -> None:
        """Stop with a grace period of ``timeout`` seconds, then kill. No-op if stopped or gone.

        Without ``timeout``, the container's own grace period (``stop_grace_period``, else 10 s).
        """
        ...

    def remove_container(self, name: str) -> bool:
        """Force-remove a container (not its named volumes); False if it did not exist."""
        ...

    def inspect_image(self, ref: str) -> engine.ImageInfo | None:
        """A local image, or None."""
        ...

    def pull_image(self, ref: str) -> engine.ImageInfo:
        """Pull an image; ``EngineError`` if it cannot be had."""
        ...

    def health(self, name: str) -> engine.HealthStatus:
        """Current health; runs the check once where the engine does not schedule it (Podman).

        ``none`` without a healthcheck, ``starting`` until the first result; ``NotFoundError`` if
        there is no such container.
        """
        ...

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> LogIterator:
        """The lines a container wrote (stdout and stderr, each line with its stream and time).

        ``tail`` keeps only the last N lines written so far (None: all of them; 0: none).
        Without ``follow`` the iterator ends after what is there now; with it, it then yields
        new lines as they are written, until the container stops or the iterator is closed.
        ``NotFoundError`` (at the call) if there is no such container. See docs/lifecycle.md.
        """
        ...


@runtime_checkable
class LogIterator(Protocol):
    """An iterator of :class:`~devarch_core.engine.LogLine` that can be ended early.

    ``close()`` ends it and releases its connection; it may be called from another thread
    while ``next()`` waits for a line (that ``next()`` then stops), and more than once.
    """

    def __iter__(self) -> LogIterator: ...

    def __next__(self) -> engine.LogLine: ...

    def close(self) -> None:
        """End the iteration and release what it holds; idempotent, thread-safe."""
        ...


@runtime_checkable
class UpdatingRuntime(Protocol):
    """A Runtime that changes an existing container's definition in place (Docker Swarm).

    Apply then updates a changed instance with :meth:`update_container` instead of stopping,
    removing and re-creating its container; the engine replaces the running task itself
    (rolling, health-aware). An optional capability: apply checks for it with ``isinstance``.
    """

    def update_container(self, spec: engine.ContainerSpec) -> engine.ContainerInfo:
        """Make the container called ``spec.name`` match ``spec``, keeping it (and its id).

        Returns once the new definition runs (healthy when it has a healthcheck);
        ``EngineError`` if the engine rolled it back. Absent, it is created (not started).
        """
        ...


class StackLock(Protocol):
    """One apply per stack at a time, across processes (and machines sharing a PostgreSQL store).

    A crashed holder never leaves the stack locked: locks die with their process/session.
    """

    def acquire(
        self, stack: str, *, holder: str, timeout: float | None = None
    ) -> AbstractContextManager[None]:
        """Hold the lock for the block.

        Without ``timeout`` fail at once, else wait up to ``timeout`` seconds; then raise
        ``StackLockedError`` naming the current holder.

        ``holder`` describes the caller (``devarch apply``); adapters add where it runs (pid,
        host), so the holder reported to others contains it (PostgreSQL keeps 63 bytes).
        Not re-entrant: a second acquire of a held stack fails even in the same process.
        """
        ...

    def holder(self, stack: str) -> str | None:
        """Who holds the lock now (None if free); used by doctor and error messages."""
        ...


@frozen(kw_only=True)
class KeySet:
    """What a :class:`KeyProvider` holds: the current key and, during a rotation, the next one.

    ``current`` is None when no key exists yet (or it was lost); ``staged`` is None unless a key
    rotation is under way or was interrupted (see docs/secrets.md, "The key file").
    """

    current: bytes | None
    staged: bytes | None = None

    def present(self) -> list[bytes]:
        """The keys present, the current one first."""
        return [k for k in (self.current, self.staged) if k is not None]


class KeyProvider(Protocol):
    """The 32-byte secret key, and the next key while a rotation runs.

    Rotation is crash-safe in three steps: :meth:`stage_key` makes the new key durable beside the
    current one, the caller re-seals the store under it (one transaction), then
    :meth:`promote_staged_key` makes it the only key. Until the last step both keys are offered.
    """

    def location(self) -> str:
        """Where the key lives (a path), for messages."""
        ...

    def read_keys(self) -> KeySet:
        """The keys present now; never creates one.

        ``SecretError`` naming the location if one exists but is unreadable or malformed.
        """
        ...

    def create_key(self) -> bytes:
        """Create the current key if there is none (racing creators agree on one); return it.

        The facade calls this only for a store that holds no sealed value and no key id.
        """
        ...

    def stage_key(self, key: bytes) -> None:
        """Durably keep ``key`` as the next key; ``SecretError`` if one is already staged."""
        ...

    def promote_staged_key(self) -> None:
        """Atomically make the staged key the current one (the old key is dropped). Idempotent.

        ``SecretError`` if the current key's place holds something the provider must not
        replace (e.g. a symbolic link).
        """
        ...

    def discard_staged_key(self) -> None:
        """Forget the staged key (a rotation rolled back). Idempotent."""
        ...

    def rotation_lock(self, *, wait: bool = True) -> AbstractContextManager[bool]:
        """Hold the rotation lock for the block; yield whether it is held.

        With ``wait`` False it yields False at once when another holder has it. The lock dies
        with its holder.
        """
        ...


class ConfigFiles(Protocol):
    """Materializes instance config files on the host, under one directory per instance."""

    def write(self, stack: str, instance: str, files: Mapping[str, tuple[str, int]]) -> str:
        """Atomically make the instance directory hold exactly ``files``; return its host path.

        ``files`` maps relative paths to (content, mode); the path returned is absolute. A path
        escaping the directory (``..``, absolute, through a symlink) raises ``ValidationError``;
        on failure nothing partial stays.
        """
        ...

    def host_path(self, stack: str, instance: str) -> str:
        """The absolute host directory for the instance (it may not exist yet)."""
        ...

    def remove(self, stack: str, instance: str | None = None) -> None:
        """Remove an instance's directory (or the whole stack's). Idempotent."""
        ...


class EngineConnector(Protocol):
    """Opens the runtime of a named engine record (docs/engines.md)."""

    def open(self, engine: Engine) -> Runtime:
        """The runtime for ``engine``, opened once and reused; building it touches no network.

        ``EngineError`` when the record cannot be used from here (an unknown Docker context, a
        ``unix://`` engine of another machine, a kind without an adapter).
        """
        ...


class PortProbe(Protocol):
    """Asks the host whether a port is free."""

    def is_free(self, host_ip: str, port: int, protocol: str = "tcp") -> bool:
        """True if nothing on the host is bound to ``host_ip:port``."""
        ...


class Clock(Protocol):
    """Time, so the core has no clock of its own."""

    def now(self) -> datetime:
        """The current UTC time."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for durations."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait."""
        ...


class Reporter(Protocol):
    """Progress hooks.

    Every method is optional to act on; see :class:`devarch_core.reporting.NullReporter`.
    """

    def phase_started(self, phase: str, total: int = 0) -> None:
        """A phase begins with ``total`` steps.

        Phases are ``network``, ``config``, ``images``, ``containers``...
        """
        ...

    def phase_finished(self, phase: str, seconds: float) -> None:
        """A phase ended after ``seconds``."""
        ...

    def step(self, phase: str, item: str, status: str) -> None:
        """One item of a phase changed status (``creating``, ``started``, ``healthy``...)."""
        ...

    def warning(self, message: str) -> None:
        """Something the user should know that does not stop the operation."""
        ...

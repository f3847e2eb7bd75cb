"""What the use-case services share: the unit of work, store keys, and lookups that fail clearly.

Plain functions, :class:`UnitOfWork`, and :class:`Service` (the one base of every service: it
holds the context); no service inherits from another.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from devarch_core import naming
from devarch_core.errors import ConflictError, NotFoundError, ValidationError
from devarch_core.secrets import SecretSlot

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devarch_core.catalog import Catalog
    from devarch_core.model import Instance, Stack
    from devarch_core.ports import Clock, Store, StoreSession
    from devarch_core.template import Template
    from devarch_core.usecases._context import Context

__all__ = [
    "KEY_ID",
    "MAC_KEY",
    "MAC_SLOT",
    "OWNER_KEY",
    "STACK_ENGINE_KEY",
    "Service",
    "UnitOfWork",
    "check_container_name",
    "claim_instance_name",
    "claim_network",
    "instance_of",
    "network_problem",
    "new_id",
    "sealed_sample",
    "stack_of",
    "template_for",
]

OWNER_KEY = "owner_id"
#: Store metadata key of the sealed HMAC key used for keyed hashes of secrets.
MAC_KEY = "secret_hash_key"
MAC_SLOT = SecretSlot("store", "meta", MAC_KEY)
#: Store metadata key of the id of the key that seals the store's values (``secrets.key_id``):
#: a check value, never the key. See docs/secrets.md, "The key file".
KEY_ID = "secret_key_id"

#: Store metadata key prefix (+ stack id): the engine kind the stack was last applied on.
STACK_ENGINE_KEY = "stack_engine:"


def new_id() -> str:
    """A new record id: the 32 hex digits of a random UUID (``uuid`` is imported on first use)."""
    import uuid  # noqa: PLC0415 - not on the path of a command that creates nothing

    return uuid.uuid4().hex


class Service:
    """A use-case service: it reads what it needs (unit of work, ports, services) from ``ctx``.

    Services are built by :meth:`Context.service <devarch_core.usecases._context.Context.service>`,
    once per context.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx


class UnitOfWork:
    """One store transaction per use case, the time it is written at, the store's identity.

    Every service takes one: ``with uow.transaction() as tx`` is all or nothing, so a refused
    call leaves the store as it was.
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._owner: str | None = None

    @contextmanager
    def transaction(self) -> Iterator[StoreSession]:
        """One store transaction (committed when the block ends without an exception)."""
        with self.store.transaction() as tx:
            yield tx

    def now(self) -> str:
        """The timestamp written into records (``created_at``, ``applied_at``...)."""
        return self.clock.now().isoformat(timespec="seconds")

    @property
    def owner(self) -> str:
        """The store's identity, written into every resource's ``devarch.owner`` label."""
        if self._owner is None:
            with self.transaction() as tx:
                owner = tx.get_meta(OWNER_KEY)
                if owner is None:
                    owner = new_id()[:12]
                    tx.set_meta(OWNER_KEY, owner)
            self._owner = owner
        return self._owner


def sealed_sample(tx: StoreSession) -> tuple[SecretSlot, bytes] | None:
    """One sealed value of the store (the hash key, else a secret), or None if it holds none."""
    mac = tx.get_meta(MAC_KEY)
    if mac is not None:
        return MAC_SLOT, bytes.fromhex(mac)
    for sealed in tx.list_secrets(None):
        return SecretSlot(sealed.stack_id, sealed.instance_id, sealed.name), sealed.sealed
    return None


def template_for(catalog: Catalog, instance: Instance) -> Template:
    """The catalog template an instance was made from (its pinned version)."""
    return catalog.get(instance.template, instance.template_version)


def stack_of(tx: StoreSession, name: str) -> Stack:
    """The stack called ``name``; ``NotFoundError`` naming how to list them."""
    stack = tx.get_stack(name)
    if stack is None:
        raise NotFoundError("stack", name, hint="`devarch stack list` shows the stacks")
    return stack


def instance_of(tx: StoreSession, stack: Stack, name: str) -> Instance:
    """The instance ``name`` of ``stack``; ``NotFoundError`` listing the stack's instances."""
    instance = tx.get_instance(stack.id, name)
    if instance is None:
        names = ", ".join(i.name for i in tx.list_instances(stack.id)) or "none"
        raise NotFoundError(
            "instance", f"{stack.name}/{name}", hint=f"instances of {stack.name}: {names}"
        )
    return instance


def claim_instance_name(tx: StoreSession, stack: Stack, name: str) -> None:
    """Refuse an instance name taken in the stack, or whose container name is taken anywhere."""
    if tx.get_instance(stack.id, name) is not None:
        raise ConflictError(f"instance {name!r} already exists in stack {stack.name!r}")
    check_container_name(tx, stack.name, name)


def network_problem(tx: StoreSession, stack: str, network: str | None) -> str | None:
    """Why stack ``stack`` cannot have network ``network`` (None: its default name), or None.

    Network names are unique across the store: a custom name equal to another stack's network
    (custom or default ``devarch-{name}-net``), and a default name equal to another stack's
    custom network, would make two stacks share one network.
    """
    wanted = naming.network_name(stack, network)
    for other in tx.list_stacks():
        if other.name == stack or other.network_name != wanted:
            continue
        if network is None:
            return (
                f"the default network {wanted} of stack {stack} is the custom network of "
                f"stack {other.name!r}; give stack {stack} another network (--network NAME) "
                f"or change the network of stack {other.name}"
            )
        kind = "custom" if other.network else "default"
        return (
            f"network {wanted} is already the {kind} network of stack {other.name!r}; "
            "choose another name"
        )
    return None


def claim_network(tx: StoreSession, stack: str, network: str | None) -> None:
    """Refuse a network name another stack of the store uses (``ConflictError``)."""
    problem = network_problem(tx, stack, network)
    if problem is not None:
        raise ConflictError(problem)


def check_container_name(tx: StoreSession, stack: str, instance: str) -> None:
    """Refuse a container name that is too long or held by another stack/instance of the store."""
    name = naming.container_name(stack, instance)
    if len(name) > naming.MAX_NAME_LENGTH:
        raise ValidationError(
            f"container name {name!r} would be {len(name)} characters; stack + instance names "
            f"must fit {naming.MAX_NAME_LENGTH - len('devarch--')} characters together",
            what="invalid instance name",
        )
    holder = tx.find_container_name(name)
    if holder is not None and holder != (stack, instance):
        raise ConflictError(
            f"container name {name} is already used by stack {holder[0]!r} (instance "
            f"{holder[1]!r}); choose another instance or stack name"
        )

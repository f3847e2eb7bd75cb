"""What every use case needs: the adapters, one transaction at a time, lookups that fail clearly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from devarch_core import naming
from devarch_core.catalog import Catalog
from devarch_core.engine import EngineInfo
from devarch_core.errors import ConflictError, EngineError, NotFoundError, SecretError, ValidationError
from devarch_core.model import Instance, Stack
from devarch_core.ports import (
    Clock,
    ConfigFiles,
    KeyProvider,
    PortProbe,
    Reporter,
    Runtime,
    StackLock,
    Store,
    StoreSession,
)
from devarch_core.secrets import SecretBox, SecretSlot
from devarch_core.template import Template

__all__ = ["MAC_KEY", "MAC_SLOT", "OWNER_KEY", "UseCaseBase"]

OWNER_KEY = "owner_id"
#: Store metadata key of the sealed HMAC key used for keyed hashes of secrets.
MAC_KEY = "secret_hash_key"
MAC_SLOT = SecretSlot("store", "meta", MAC_KEY)


class UseCaseBase:
    """The adapters and plumbing shared by the use-case mixins (set up by ``Devarch.__init__``)."""

    store: Store
    catalog: Catalog
    runtime: Runtime | None
    lock: StackLock | None
    config_files: ConfigFiles | None
    port_probe: PortProbe | None
    clock: Clock
    reporter: Reporter
    port_range: tuple[int, int]
    health_timeout: float
    parallelism: int
    secrets: SecretBox
    settings: object | None
    _keys: KeyProvider
    _owner: str | None
    _runtime_problem: str | None
    _engine_info: EngineInfo | None

    def _now(self) -> str:
        return self.clock.now().isoformat(timespec="seconds")

    @contextmanager
    def _tx(self) -> Iterator[StoreSession]:
        with self.store.transaction() as tx:
            yield tx

    @property
    def owner(self) -> str:
        """The store's identity, written into every resource's ``devarch.owner`` label."""
        if self._owner is None:
            with self._tx() as tx:
                owner = tx.get_meta(OWNER_KEY)
                if owner is None:
                    owner = uuid.uuid4().hex[:12]
                    tx.set_meta(OWNER_KEY, owner)
            self._owner = owner
        return self._owner

    def _mac_key(self) -> bytes:
        """The store's HMAC key for keyed hashes of secrets: 32 random bytes, sealed in the store's
        metadata under the encryption key (so it is re-sealed, not changed, by a key rotation)."""
        with self._tx() as tx:
            sealed = tx.get_meta(MAC_KEY)
            if sealed is None:
                key = os.urandom(32)
                tx.set_meta(MAC_KEY, self.secrets.seal(MAC_SLOT, key.hex()).hex())
                return key
        try:
            return bytes.fromhex(self.secrets.open(MAC_SLOT, bytes.fromhex(sealed)).reveal())
        except SecretError as exc:
            msg = (
                f"this store's secrets were sealed with another key ({exc}); everyone who shares a "
                "store must share its key file: copy secret.key from the machine that created the "
                "store into DEVARCH_HOME"
            )
            raise SecretError(msg) from None

    def _require_runtime(self) -> Runtime:
        if self.runtime is None:
            why = self._runtime_problem or "no container engine configured"
            raise EngineError(
                f"this command needs a container engine ({why}): set DEVARCH_RUNTIME=docker|podman "
                "(or --runtime; Python: runtime=) and start Docker or Podman"
            )
        return self.runtime

    @staticmethod
    def _stack(tx: StoreSession, name: str) -> Stack:
        stack = tx.get_stack(name)
        if stack is None:
            raise NotFoundError("stack", name, hint="`devarch stack list` shows the stacks")
        return stack

    @staticmethod
    def _instance(tx: StoreSession, stack: Stack, name: str) -> Instance:
        instance = tx.get_instance(stack.id, name)
        if instance is None:
            names = ", ".join(i.name for i in tx.list_instances(stack.id)) or "none"
            raise NotFoundError("instance", f"{stack.name}/{name}", hint=f"instances of {stack.name}: {names}")
        return instance

    def _claim_instance_name(self, tx: StoreSession, stack: Stack, name: str) -> None:
        """Refuse an instance name taken in the stack, or whose container name is taken anywhere."""
        if tx.get_instance(stack.id, name) is not None:
            raise ConflictError(f"instance {name!r} already exists in stack {stack.name!r}")
        self._check_container_name(tx, stack.name, name)

    @staticmethod
    def _network_problem(tx: StoreSession, stack: str, network: str | None) -> str | None:
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

    def _claim_network(self, tx: StoreSession, stack: str, network: str | None) -> None:
        """Refuse a network name another stack of the store uses (``ConflictError``)."""
        problem = self._network_problem(tx, stack, network)
        if problem is not None:
            raise ConflictError(problem)

    def _check_container_name(self, tx: StoreSession, stack: str, instance: str) -> None:
        name = naming.container_name(stack, instance)
        if len(name) > naming.MAX_NAME_LENGTH:
            raise ValidationError(
                f"container name {name!r} would be {len(name)} characters; stack + instance names must fit "
                f"{naming.MAX_NAME_LENGTH - len('devarch--')} characters together",
                what="invalid instance name",
            )
        holder = tx.find_container_name(name)
        if holder is not None and holder != (stack, instance):
            raise ConflictError(
                f"container name {name} is already used by stack {holder[0]!r} (instance {holder[1]!r}); "
                "choose another instance or stack name"
            )

    def template_for(self, instance: Instance) -> Template:
        """The catalog template an instance was made from (its pinned version)."""
        return self.catalog.get(instance.template, instance.template_version)


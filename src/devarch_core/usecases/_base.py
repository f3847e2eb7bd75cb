"""What every use case needs: the adapters, one transaction at a time, lookups that fail clearly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from devarch_core import naming
from devarch_core.catalog import Catalog
from devarch_core.engine import EngineInfo
from devarch_core.errors import (
    ConflictError,
    EngineError,
    NotFoundError,
    SecretError,
    ValidationError,
)
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
from devarch_core.secrets import SecretBox, SecretSlot, key_id, sealed_key_id
from devarch_core.template import Template

__all__ = [
    "KEY_ID",
    "MAC_KEY",
    "MAC_SLOT",
    "OWNER_KEY",
    "STACK_ENGINE_KEY",
    "UseCaseBase",
    "sealed_sample",
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


def sealed_sample(tx: StoreSession) -> tuple[SecretSlot, bytes] | None:
    """One sealed value of the store (the hash key, else a secret), or None if it holds none."""
    mac = tx.get_meta(MAC_KEY)
    if mac is not None:
        return MAC_SLOT, bytes.fromhex(mac)
    for sealed in tx.list_secrets(None):
        return SecretSlot(sealed.stack_id, sealed.instance_id, sealed.name), sealed.sealed
    return None


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
    #: Stacks whose lock this facade holds (see ``ApplyCases.locked``): stack -> thread id.
    _held_locks: dict[str, int]
    runtime_auto: bool
    runtime_note: str | None

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
        """The store's HMAC key for keyed hashes of secrets.

        32 random bytes, sealed in the store's metadata under the encryption key (so it is
        re-sealed, not changed, by a key rotation).
        """
        with self._tx() as tx:
            sealed = tx.get_meta(MAC_KEY)
            if sealed is None:
                key = os.urandom(32)
                tx.set_meta(MAC_KEY, self._seal(tx, MAC_SLOT, key.hex()).hex())
                return key
            self._store_key(tx)  # refuses a key that does not match; records it in an old store
        return bytes.fromhex(self.secrets.open(MAC_SLOT, bytes.fromhex(sealed)).reveal())

    # -- the store's key ---------------------------------------------------------------------
    def _seal(self, tx: StoreSession, slot: SecretSlot, value: str) -> bytes:
        """Seal ``value`` under the key this store records (the only way the facade seals)."""
        return self.secrets.seal(slot, value, key=self._store_key(tx))

    def _store_key(self, tx: StoreSession) -> bytes:
        """The key that seals this store's values, checked against the key id the store records.

        Takes the store's secret lock first, so a concurrent key rotation cannot switch keys
        between this read and the caller's write. A store without a key id records one now: a
        fresh store the current key (created if there is none); a store sealed before key ids
        existed the key that opens its values. ``SecretError`` for a missing key while the store
        holds sealed values, and for a key that does not match: a new key is never made then.
        """
        tx.lock_secrets()
        recorded = tx.get_meta(KEY_ID)
        if recorded is not None:
            key = self.secrets.key_by_id(recorded)
            if key is None:
                raise SecretError(self._key_mismatch(recorded))
            return key
        sample = sealed_sample(tx)
        if sample is None:
            key = self.secrets.current_key() or self._create_key()
        else:
            key = self._key_opening(*sample)
        tx.set_meta(KEY_ID, key_id(key))
        return key

    def _create_key(self) -> bytes:
        key = self._keys.create_key()
        self.secrets.reload()
        return key

    def _key_opening(self, slot: SecretSlot, blob: bytes) -> bytes:
        """The offered key that opens ``blob``; ``SecretError`` if none does."""
        for key in self.secrets.offered_keys():
            try:
                self.secrets.open(slot, blob, key=key)
            except SecretError:
                continue
            return key
        raise SecretError(self._key_mismatch(sealed_key_id(blob)))

    def _key_mismatch(self, recorded: str | None) -> str:
        """Explain a key that is missing or does not match the store, and how to fix it."""
        where = self._keys.location()
        sealed = f"key id {recorded}" if recorded else "another key"
        fix = (
            "restore secret.key from a backup, or copy it from the machine that created the "
            "store (everyone who shares a store must share its key file)"
        )
        ids = [key_id(k) for k in self.secrets.offered_keys()]
        if not ids:
            return (
                f"the key file {where} is missing, but this store holds values sealed with "
                f"{sealed}; devarch does not create a new key for it (the old values could never "
                f"be read again): {fix}"
            )
        return (
            f"the key file {where} (key id {', '.join(ids)}) does not match this store, whose "
            f"values are sealed with {sealed}; a different key can never open them: {fix}"
        )

    def _require_runtime(self) -> Runtime:
        if self.runtime is None:
            why = self._runtime_problem or "no container engine configured"
            raise EngineError(
                f"this command needs a container engine ({why}): set DEVARCH_RUNTIME=docker|podman "
                "(or --runtime; Python: runtime=) and start Docker or Podman"
            )
        return self.runtime

    @staticmethod
    def _engine_kind(runtime: Runtime) -> str:
        """``docker`` or ``podman``: the adapter's name (no request to the engine).

        The composition root picks the Podman adapter for a Podman socket, also behind
        DOCKER_HOST, so the name tells the engines apart.
        """
        return runtime.name

    def stack_engine(self, name: str) -> str | None:
        """The engine kind a stack was last applied on (``docker``, ``podman``), or None."""
        with self._tx() as tx:
            stack = self._stack(tx, name)
            return tx.get_meta(STACK_ENGINE_KEY + stack.id) or None

    def _record_engine(self, runtime: Runtime, stack: Stack) -> None:
        kind = self._engine_kind(runtime)
        with self._tx() as tx:
            if tx.get_meta(STACK_ENGINE_KEY + stack.id) != kind:
                tx.set_meta(STACK_ENGINE_KEY + stack.id, kind)

    def _runtime_for(self, stack: Stack) -> Runtime:
        """The engine to use for ``stack``; refuses to switch engines behind the user's back.

        A stack lives on the engine it was applied on. When the engine was picked automatically
        and is another one, planning there would show every instance absent and apply would build
        a second copy of the stack: refuse, naming the stack's engine and how to select it. An
        engine chosen explicitly (``--runtime``, ``DEVARCH_RUNTIME``) is the user's decision.
        """
        runtime = self._require_runtime()
        if not self.runtime_auto:
            return runtime
        with self._tx() as tx:
            recorded = tx.get_meta(STACK_ENGINE_KEY + stack.id)
        if not recorded:
            return runtime
        current = self._engine_kind(runtime)
        if recorded == current:
            return runtime
        why = f": {self.runtime_note}" if self.runtime_note else ""
        msg = (
            f"stack {stack.name} lives on {recorded} (it was applied there), but devarch picked "
            f"{current} automatically{why}. Start {recorded} and select it with "
            f"`--runtime {recorded}` or DEVARCH_RUNTIME={recorded}; `--runtime {current}` uses "
            f"{current} for this stack on purpose"
        )
        raise EngineError(msg)

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


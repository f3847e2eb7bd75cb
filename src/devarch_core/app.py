"""The use cases, behind one facade: :class:`Devarch`.

Each method is one use case and runs in one store transaction, so a refused call leaves the
store as it was. Adapters come in through the constructor (see ``devarch_adapters.connect`` for
the composition root that builds them from configuration).
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import attrs
from attrs import frozen

from devarch_core import naming
from devarch_core.catalog import Catalog
from devarch_core.desired import container_spec, network_labels, spec_hash, volume_labels
from devarch_core.engine import ContainerInfo, ContainerSpec, EngineInfo
from devarch_core.errors import (
    ApplyError,
    ConflictError,
    DevarchError,
    EngineError,
    NotFoundError,
    StalePlanError,
    ValidationError,
    WiringError,
)
from devarch_core.hostports import DEFAULT_RANGE, PortRequest, allocate_ports
from devarch_core.manifest_cases import ManifestCases
from devarch_core.merge import EffectiveConfig, flatten_service, resolve
from devarch_core.model import Instance, PortAllocation, Stack, Wire
from devarch_core.overrides import Overrides
from devarch_core.spec import Resources
from devarch_core.planning import DesiredInstance, Plan, PlanDiagnostic, compute_plan, explain_staleness
from devarch_core.ports import (
    AppliedRecord,
    Clock,
    ConfigFiles,
    KeyProvider,
    PortProbe,
    Reporter,
    Runtime,
    SealedSecret,
    StackLock,
    Store,
    StoreSession,
)
from devarch_core.reporting import NullReporter
from devarch_core.secrets import REDACTED, Secret, SecretBox, SecretSlot
from devarch_core.template import Template
from devarch_core.compose import compose_items, render_compose, render_instance
from devarch_core.wiring import (
    WiringNode,
    dependency_edges,
    dependency_waves,
    injections_for,
    solve_wiring,
    wiring_graph,
)

__all__ = ["ApplyResult", "Devarch", "InstanceStatus", "StackSummary", "SystemClock"]

OWNER_KEY = "owner_id"
MAC_KEY = "secret_hash_key"
MAC_SLOT = SecretSlot("store", "meta", MAC_KEY)


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


@frozen(kw_only=True)
class StackSummary:
    """A stack with counts, for listings."""

    stack: Stack
    instances: int
    enabled_instances: int
    running: int | None = None

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.stack.name,
            "description": self.stack.description,
            "network": self.stack.network_name,
            "enabled": self.stack.enabled,
            "instances": self.instances,
            "enabled_instances": self.enabled_instances,
            "running": self.running,
        }


@frozen(kw_only=True)
class InstanceStatus:
    """What the engine says about one instance's container."""

    instance: str
    container: str
    enabled: bool
    state: str
    health: str = "none"
    ports: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        return attrs.asdict(self, recurse=True, value_serializer=lambda _i, _a, v: list(v) if isinstance(v, tuple) else v)


@frozen(kw_only=True)
class ApplyResult:
    """What an apply did, with per-phase timings in seconds."""

    stack: str
    plan: Plan
    timings: Mapping[str, float]

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        return {"stack": self.stack, "plan": self.plan.to_data(), "timings": {k: round(v, 3) for k, v in self.timings.items()}}


@frozen(kw_only=True)
class _Desired:
    """Everything a plan is computed from (internal)."""

    stack: Stack
    instances: tuple[Instance, ...]
    items: tuple[DesiredInstance, ...]
    diagnostics: tuple[PlanDiagnostic, ...]
    wiring: tuple[Mapping[str, Any], ...]
    waves: tuple[tuple[str, ...], ...]
    observed: tuple[ContainerInfo, ...]
    new_ports: tuple[tuple[str, PortAllocation], ...]
    inputs: Mapping[str, str]


def _merge_override_data(current: dict[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a manifest-form override delta onto existing override data (keyed, not wholesale)."""
    merged = dict(current)
    keyed_lists = {"ports": ("container", "protocol"), "volumes": ("target",), "config_files": ("path",)}
    for key, value in delta.items():
        if key in ("environment", "labels") and isinstance(value, Mapping):
            merged[key] = {**merged.get(key, {}), **value}
        elif key == "resources" and isinstance(value, Mapping):
            res = {**merged.get(key, {}), **value}
            merged[key] = {k: v for k, v in res.items() if v is not None}
        elif key == "secrets" and isinstance(value, list):
            merged[key] = sorted(set(merged.get(key, [])) | set(value))
        elif key in keyed_lists and isinstance(value, list):
            fields = keyed_lists[key]

            def item_key(item: object, fields: tuple[str, ...] = fields) -> tuple[object, ...]:
                if isinstance(item, Mapping):
                    return tuple(item.get(f, "tcp" if f == "protocol" else None) for f in fields)
                return (item,)

            rows = {item_key(i): i for i in merged.get(key, [])}
            for item in value:
                rows[item_key(item)] = item
            merged[key] = list(rows.values())
        elif key in ("domains", "depends_on") and isinstance(value, list):
            name_key = "domain" if key == "domains" else "instance"

            def set_key(item: object, name_key: str = name_key) -> object:
                return item.get(name_key) if isinstance(item, Mapping) else item

            rows2 = {set_key(i): i for i in merged.get(key, [])}
            for item in value:
                rows2[set_key(item)] = item
            merged[key] = list(rows2.values())
        else:
            merged[key] = value
    return merged


def _unset_override_data(current: dict[str, Any], field: str) -> dict[str, Any]:
    """Remove one override (``environment.FOO``, ``ports.5432/tcp``, ``image``...) so it inherits again."""
    data = dict(current)
    top, _, rest = field.partition(".")
    if top not in data:
        raise NotFoundError("override", field, hint="`devarch instance show` lists the instance's overrides")
    if not rest:
        del data[top]
        return data
    value = data[top]
    if isinstance(value, Mapping):
        if rest not in value:
            raise NotFoundError("override", field)
        data[top] = {k: v for k, v in value.items() if k != rest}
    elif isinstance(value, list):

        def matches(item: object) -> bool:
            if isinstance(item, Mapping):
                if top == "ports":
                    return f"{item.get('container')}/{item.get('protocol', 'tcp')}" in (rest, f"{rest}/tcp")
                ident = item.get({"volumes": "target", "config_files": "path", "domains": "domain", "depends_on": "instance"}.get(top, ""))
                return str(ident) == rest
            return str(item) == rest

        kept = [i for i in value if not matches(i)]
        if len(kept) == len(value):
            raise NotFoundError("override", field)
        data[top] = kept
    else:
        raise NotFoundError("override", field)
    if not data[top]:
        del data[top]
    return data


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
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.runtime = runtime
        self.lock = lock
        self.config_files = config_files
        self.port_probe = port_probe
        self.clock: Clock = clock or SystemClock()
        self.reporter: Reporter = reporter or NullReporter()
        self.port_range = port_range
        self.health_timeout = health_timeout
        self.parallelism = parallelism
        self._keys = keys
        self.secrets = SecretBox(keys, mac_key=self._mac_key)
        self._owner: str | None = None
        self._runtime_problem = runtime_problem
        self._engine_info: EngineInfo | None = None
        #: The configuration this facade was built from, when built by ``devarch_adapters.connect``.
        self.settings: object | None = None

    # -- plumbing ---------------------------------------------------------------------------
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
        return bytes.fromhex(self.secrets.open(MAC_SLOT, bytes.fromhex(sealed)).reveal())

    def _require_runtime(self) -> Runtime:
        if self.runtime is None:
            raise EngineError(self._runtime_problem or "no container engine configured; set DEVARCH_RUNTIME or pass runtime=")
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

    # -- stacks -----------------------------------------------------------------------------
    def create_stack(self, name: str, *, description: str = "", network: str | None = None) -> Stack:
        """Create an empty stack; ``ConflictError`` if the name is taken."""
        naming.validate_name(name, kind="stack")
        if network is not None:
            naming.validate_name(network, kind="network")
        now = self._now()
        stack = Stack(id=uuid.uuid4().hex, name=name, description=description, network=network, created_at=now, updated_at=now)
        with self._tx() as tx:
            if tx.get_stack(name) is not None:
                raise ConflictError(f"stack {name!r} already exists")
            tx.add_stack(stack)
        return stack

    def get_stack(self, name: str) -> Stack:
        """One stack."""
        with self._tx() as tx:
            return self._stack(tx, name)

    def list_stacks(self, *, with_runtime: bool = True) -> list[StackSummary]:
        """Every stack with instance counts (and running counts when an engine answers)."""
        with self._tx() as tx:
            rows = [(s, tx.list_instances(s.id)) for s in tx.list_stacks()]
        running: dict[str, int] | None = None
        if with_runtime and self.runtime is not None:
            try:
                containers = self.runtime.list_containers({naming.LABEL_MANAGED_BY: naming.MANAGED_BY, naming.LABEL_OWNER: self.owner})
            except DevarchError:
                containers = None
            if containers is not None:
                running = {}
                for c in containers:
                    if c.running:
                        sid = c.labels.get(naming.LABEL_STACK_ID, "")
                        running[sid] = running.get(sid, 0) + 1
        return [
            StackSummary(
                stack=s,
                instances=len(insts),
                enabled_instances=sum(1 for i in insts if i.enabled),
                running=None if running is None else running.get(s.id, 0),
            )
            for s, insts in rows
        ]

    def show_stack(self, name: str) -> dict[str, Any]:
        """A stack with its instances, wires and last applied times (plain data)."""
        with self._tx() as tx:
            stack = self._stack(tx, name)
            instances = tx.list_instances(stack.id)
            wires = tx.list_wires(stack.id)
            applied = {i.name: tx.get_applied(i.id) for i in instances}
        return {
            "name": stack.name,
            "description": stack.description,
            "network": stack.network_name,
            "enabled": stack.enabled,
            "created_at": stack.created_at,
            "instances": [
                {
                    "name": i.name,
                    "template": f"{i.template}@{i.template_version}",
                    "enabled": i.enabled,
                    "description": i.description,
                    "container": i.container_name,
                    "last_applied": applied[i.name].applied_at if applied[i.name] else None,
                }
                for i in instances
            ],
            "wires": [attrs.asdict(w) for w in wires],
        }

    def update_stack(self, name: str, *, description: str | None = None, network: str | None = None) -> Stack:
        """Change a stack's description or custom network name (the name itself never changes)."""
        if network is not None:
            naming.validate_name(network, kind="network")
        with self._tx() as tx:
            stack = self._stack(tx, name)
            changes: dict[str, Any] = {"updated_at": self._now()}
            if description is not None:
                changes["description"] = description
            if network is not None:
                changes["network"] = network
            stack = attrs.evolve(stack, **changes)
            tx.update_stack(stack)
        return stack

    def set_stack_enabled(self, name: str, enabled: bool) -> Stack:
        """Enable or disable a stack (a disabled stack plans to remove its containers)."""
        with self._tx() as tx:
            stack = attrs.evolve(self._stack(tx, name), enabled=enabled, updated_at=self._now())
            tx.update_stack(stack)
        return stack

    def delete_stack(self, name: str, *, keep_volumes: bool = False) -> None:
        """Delete a stack: its containers, network and volumes (when an engine is configured), then its definition."""
        stack = self.get_stack(name)
        if self.runtime is not None:
            self._teardown(stack, remove_volumes=not keep_volumes)
        if self.config_files is not None:
            self.config_files.remove(stack.name)
        with self._tx() as tx:
            tx.delete_stack(stack.id)

    def clone_stack(self, source: str, name: str, *, description: str | None = None) -> Stack:
        """Copy a stack under a new name: instances, overrides, wires and secrets (re-sealed for the new slots)."""
        naming.validate_name(name, kind="stack")
        with self._tx() as tx:
            src = self._stack(tx, source)
            if tx.get_stack(name) is not None:
                raise ConflictError(f"stack {name!r} already exists")
            now = self._now()
            new = attrs.evolve(
                src,
                id=uuid.uuid4().hex,
                name=name,
                network=None,
                description=src.description if description is None else description,
                created_at=now,
                updated_at=now,
            )
            tx.add_stack(new)
            id_map = {}
            for inst in tx.list_instances(src.id):
                self._check_container_name(tx, name, inst.name)
                copy = attrs.evolve(inst, id=uuid.uuid4().hex, stack_id=new.id, stack=name, created_at=now, updated_at=now)
                tx.add_instance(copy)
                id_map[inst.id] = copy.id
            for wire in tx.list_wires(src.id):
                tx.put_wire(new.id, wire)
            for sealed in tx.list_secrets(src.id):
                value = self.secrets.open(SecretSlot(src.id, sealed.instance_id, sealed.name), sealed.sealed)
                new_id = id_map[sealed.instance_id]
                tx.put_secret(
                    SealedSecret(
                        stack_id=new.id,
                        instance_id=new_id,
                        name=sealed.name,
                        sealed=self.secrets.seal(SecretSlot(new.id, new_id, sealed.name), value.reveal()),
                    )
                )
        return new

    # -- instances --------------------------------------------------------------------------
    def add_instance(
        self,
        stack: str,
        name: str,
        template: str,
        *,
        version: str | None = None,
        description: str = "",
        enabled: bool = True,
        overrides: Mapping[str, Any] | Overrides | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> Instance:
        """Instantiate a template in a stack (optionally with overrides and secret values)."""
        naming.validate_name(name, kind="instance")
        tmpl = self.catalog.get(template, version)
        parsed = overrides if isinstance(overrides, Overrides) else Overrides.from_data(overrides or {}, "overrides")
        parsed, plain_secrets = self._split_secrets(tmpl, parsed)
        plain_secrets.update(secrets or {})
        with self._tx() as tx:
            st = self._stack(tx, stack)
            self._claim_instance_name(tx, st, name)
            self._check_merge(tmpl, parsed, st, name)
            now = self._now()
            instance = Instance(
                id=uuid.uuid4().hex,
                stack_id=st.id,
                stack=st.name,
                name=name,
                template=tmpl.name,
                template_version=tmpl.version,
                description=description,
                enabled=enabled,
                overrides=parsed,
                created_at=now,
                updated_at=now,
            )
            tx.add_instance(instance)
            for var, value in sorted(plain_secrets.items()):
                self._put_secret(tx, st, instance, var, value)
        return instance

    @staticmethod
    def _check_merge(template: Template, overrides: Overrides, stack: Stack, name: str) -> None:
        """Refuse overrides whose merged result is invalid (e.g. a reservation above the limit),
        before they are written rather than at the next plan."""
        probe = Instance(
            id="check", stack_id=stack.id, stack=stack.name, name=name, template=template.name,
            template_version=template.version, overrides=overrides,
        )  # fmt: skip
        resolve(template, overrides, stack=stack, instance=probe)

    def _split_secrets(self, template: Template, overrides: Overrides) -> tuple[Overrides, dict[str, str]]:
        """Move values of secret variables out of the overrides (they are sealed in the store instead)."""
        secret_names = set(template.secrets) | set(overrides.secrets)
        plain = {k: v for k, v in overrides.environment.items() if k in secret_names and v is not None}
        if not plain:
            return overrides, {}
        env = {k: v for k, v in overrides.environment.items() if k not in plain}
        return attrs.evolve(overrides, environment=env), plain

    def _put_secret(self, tx: StoreSession, stack: Stack, instance: Instance, name: str, value: str) -> None:
        slot = SecretSlot(stack.id, instance.id, name)
        tx.put_secret(SealedSecret(stack_id=stack.id, instance_id=instance.id, name=name, sealed=self.secrets.seal(slot, value)))

    def list_instances(self, stack: str) -> list[Instance]:
        """A stack's instances, by name."""
        with self._tx() as tx:
            return tx.list_instances(self._stack(tx, stack).id)

    def get_instance(self, stack: str, name: str) -> Instance:
        """One instance."""
        with self._tx() as tx:
            return self._instance(tx, self._stack(tx, stack), name)

    def show_instance(self, stack: str, name: str) -> dict[str, Any]:
        """An instance with every override and its secret names (plain data, no secret values)."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, name)
            secret_names = sorted(s.name for s in tx.list_secrets(st.id) if s.instance_id == inst.id)
        return {
            "stack": inst.stack,
            "name": inst.name,
            "template": inst.template,
            "template_version": inst.template_version,
            "description": inst.description,
            "enabled": inst.enabled,
            "container": inst.container_name,
            "overrides": inst.overrides.to_data(),
            "secrets": secret_names,
        }

    def update_instance(self, stack: str, name: str, *, description: str | None = None, enabled: bool | None = None) -> Instance:
        """Change an instance's description or enabled flag."""
        with self._tx() as tx:
            inst = self._instance(tx, self._stack(tx, stack), name)
            changes: dict[str, Any] = {"updated_at": self._now()}
            if description is not None:
                changes["description"] = description
            if enabled is not None:
                changes["enabled"] = enabled
            inst = attrs.evolve(inst, **changes)
            tx.update_instance(inst)
        return inst

    def set_overrides(self, stack: str, name: str, delta: Mapping[str, Any]) -> Instance:
        """Merge an override delta (manifest form) into an instance's overrides, by key.

        Values of secret variables are sealed in the store, never kept in the overrides.
        """
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, name)
            merged = _merge_override_data(inst.overrides.to_data(), delta)
            parsed = Overrides.from_data(merged, f"instances.{name}.overrides")
            parsed, plain = self._split_secrets(self.template_for(inst), parsed)
            self._check_merge(self.template_for(inst), parsed, st, name)
            inst = attrs.evolve(inst, overrides=parsed, updated_at=self._now())
            tx.update_instance(inst)
            for var, value in sorted(plain.items()):
                self._put_secret(tx, st, inst, var, value)
        return inst

    def unset_override(self, stack: str, name: str, field: str) -> Instance:
        """Drop one override so the field inherits again (``environment.FOO``, ``ports.5432/tcp``, ``image``)."""
        with self._tx() as tx:
            inst = self._instance(tx, self._stack(tx, stack), name)
            data = _unset_override_data(inst.overrides.to_data(), field)
            inst = attrs.evolve(inst, overrides=Overrides.from_data(data), updated_at=self._now())
            tx.update_instance(inst)
        return inst

    def remove_instance(self, stack: str, name: str) -> None:
        """Delete an instance (and the wires that name it); its container goes at the next apply."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, name)
            for wire in tx.list_wires(st.id):
                if name in (wire.consumer, wire.provider):
                    tx.delete_wire(st.id, wire.consumer, wire.import_name)
            tx.delete_instance(inst.id)

    def duplicate_instance(self, stack: str, name: str, new_name: str) -> Instance:
        """Copy an instance (overrides and secrets) under a new name in the same stack."""
        naming.validate_name(new_name, kind="instance")
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, name)
            self._claim_instance_name(tx, st, new_name)
            now = self._now()
            copy = attrs.evolve(inst, id=uuid.uuid4().hex, name=new_name, created_at=now, updated_at=now)
            # Pinned host ports cannot be shared: the copy gets its own allocation.
            ports = tuple(attrs.evolve(p, host=None) if p.host is not None else p for p in copy.overrides.ports)
            copy = attrs.evolve(copy, overrides=attrs.evolve(copy.overrides, ports=ports))
            tx.add_instance(copy)
            for sealed in tx.list_secrets(st.id):
                if sealed.instance_id == inst.id:
                    value = self.secrets.open(SecretSlot(st.id, inst.id, sealed.name), sealed.sealed)
                    self._put_secret(tx, st, copy, sealed.name, value.reveal())
        return copy

    def rename_instance(self, stack: str, name: str, new_name: str) -> Instance:
        """Rename an instance (its id, secrets and port pins stay; wires follow)."""
        naming.validate_name(new_name, kind="instance")
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, name)
            self._claim_instance_name(tx, st, new_name)
            renamed = attrs.evolve(inst, name=new_name, updated_at=self._now())
            tx.update_instance(renamed)
            for wire in tx.list_wires(st.id):
                if name in (wire.consumer, wire.provider):
                    tx.delete_wire(st.id, wire.consumer, wire.import_name)
                    tx.put_wire(
                        st.id,
                        attrs.evolve(
                            wire,
                            consumer=new_name if wire.consumer == name else wire.consumer,
                            provider=new_name if wire.provider == name else wire.provider,
                        ),
                    )
            for alloc in tx.list_port_allocations(st.id):
                if alloc.instance == name:
                    tx.put_port_allocation(inst.id, attrs.evolve(alloc, instance=new_name))
        return renamed

    # -- secrets ----------------------------------------------------------------------------
    def set_secret(self, stack: str, instance: str, name: str, value: str) -> None:
        """Seal a secret environment value for an instance (it wins over template and wires)."""
        if not name or "=" in name:
            raise ValidationError(f"{name!r} is not a valid environment variable name", what="invalid secret name")
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, instance)
            self._put_secret(tx, st, inst, name, value)

    def unset_secret(self, stack: str, instance: str, name: str) -> None:
        """Forget a secret value (the variable falls back to the template or wires)."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, instance)
            if not tx.delete_secret(st.id, inst.id, name):
                raise NotFoundError("secret", f"{stack}/{instance}/{name}")

    def list_secrets(self, stack: str) -> list[dict[str, str]]:
        """Secret names per instance (never values)."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            names = {i.id: i.name for i in tx.list_instances(st.id)}
            return [{"instance": names.get(s.instance_id, s.instance_id), "name": s.name} for s in tx.list_secrets(st.id)]

    def _open_secrets(self, tx: StoreSession, stack: Stack) -> dict[str, dict[str, Secret]]:
        opened: dict[str, dict[str, Secret]] = {}
        for sealed in tx.list_secrets(stack.id):
            slot = SecretSlot(stack.id, sealed.instance_id, sealed.name)
            opened.setdefault(sealed.instance_id, {})[sealed.name] = self.secrets.open(slot, sealed.sealed)
        return opened

    def rotate_key(self, new_key: bytes) -> int:
        """Re-seal every secret under ``new_key`` in one transaction, then switch the key file.

        Returns how many secrets were re-sealed.
        """
        self.secrets.keyed_hash("")  # make sure the hash key exists before re-sealing it
        with self._tx() as tx:
            count = 0
            for sealed in tx.list_secrets(None):
                slot = SecretSlot(sealed.stack_id, sealed.instance_id, sealed.name)
                value = self.secrets.open(slot, sealed.sealed)
                tx.put_secret(attrs.evolve(sealed, sealed=self.secrets.seal(slot, value.reveal(), key=new_key)))
                count += 1
            mac = tx.get_meta(MAC_KEY)
            if mac is not None:
                plain = self.secrets.open(MAC_SLOT, bytes.fromhex(mac)).reveal()
                tx.set_meta(MAC_KEY, self.secrets.seal(MAC_SLOT, plain, key=new_key).hex())
        # Switch the key only once the re-sealed values are committed: a failed transaction
        # leaves both the store and the key file as they were.
        self._keys.replace_key(new_key)
        self.secrets = SecretBox(self._keys, mac_key=self._mac_key)
        return count

    # -- wires ------------------------------------------------------------------------------
    def list_wires(self, stack: str) -> list[Wire]:
        """A stack's explicit wires."""
        with self._tx() as tx:
            return tx.list_wires(self._stack(tx, stack).id)

    def add_wire(self, stack: str, consumer: str, import_name: str, provider: str, *, export: str | None = None) -> Wire:
        """Pin a provider for one import of a consumer (replaces an earlier pin for that import)."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            cons = self._instance(tx, st, consumer)
            prov = self._instance(tx, st, provider)
            if cons.id == prov.id:
                raise ValidationError(f"{consumer} cannot be wired to itself", what="invalid wire")
            imp = next((i for i in self.template_for(cons).imports if i.name == import_name), None)
            if imp is None:
                names = ", ".join(i.name for i in self.template_for(cons).imports) or "none"
                raise NotFoundError("import", f"{consumer}.{import_name}", hint=f"imports of {consumer}: {names}")
            exports = [e for e in self.template_for(prov).exports if e.type == imp.type and (export is None or e.name == export)]
            if not exports:
                raise ValidationError(
                    f"{provider} exports no {imp.type!r} contract" + (f" named {export!r}" if export else ""),
                    what="invalid wire",
                )
            wire = Wire(consumer=consumer, import_name=import_name, provider=provider, export_name=export)
            tx.put_wire(st.id, wire)
        return wire

    def remove_wire(self, stack: str, consumer: str, import_name: str) -> None:
        """Drop an explicit wire (auto-wiring applies again)."""
        with self._tx() as tx:
            if not tx.delete_wire(self._stack(tx, stack).id, consumer, import_name):
                raise NotFoundError("wire", f"{stack}: {consumer}.{import_name}")

    # -- effective config -------------------------------------------------------------------
    def _resolve_stack(self, tx: StoreSession, stack: Stack) -> tuple[
        list[Instance], dict[str, EffectiveConfig], list[PlanDiagnostic], list[dict[str, Any]], list[list[str]]
    ]:
        """Effective configs of every enabled instance (wired), diagnostics and dependency waves."""
        instances = tx.list_instances(stack.id)
        secrets = self._open_secrets(tx, stack)
        templates = {i.name: self.template_for(i) for i in instances}
        by_name = {i.name: i for i in instances}
        active = [i.name for i in instances if i.enabled and stack.enabled]
        base = {
            name: resolve(templates[name], by_name[name].overrides, stack=stack, instance=by_name[name], secrets=secrets.get(by_name[name].id))
            for name in active
        }
        nodes = [
            WiringNode(
                name=i.name,
                enabled=i.name in base,
                template=templates[i.name],
                depends_on=base[i.name].service.depends_on if i.name in base else None,
            )
            for i in instances
        ]
        wiring = solve_wiring(nodes, tx.list_wires(stack.id), stack=stack.name)
        diagnostics = [
            PlanDiagnostic(severity=d.severity, code=d.code, message=d.message, instance=d.consumer) for d in wiring.diagnostics
        ]
        for name, eff in base.items():
            for dep in eff.service.depends_on:
                if dep not in by_name:
                    diagnostics.append(
                        PlanDiagnostic(
                            severity="error",
                            code="unknown-dependency",
                            instance=name,
                            message=f"{name} depends on {dep!r}, which is not an instance of stack {stack.name}",
                        )
                    )
        edges = dependency_edges(nodes, wiring)
        try:
            waves = dependency_waves(edges)
        except WiringError:
            waves = [sorted(edges)]  # the cycle is already a diagnostic; keep planning to show it
        effective: dict[str, EffectiveConfig] = {}
        for wave in waves:
            for name in wave:
                environments = {n: (effective.get(n) or base[n]).service.environment for n in base}
                containers = {n: by_name[n].container_name for n in base}
                try:
                    injections = injections_for(name, nodes, wiring, containers=containers, environments=environments, stack=stack.name)
                except (WiringError, KeyError) as exc:
                    diagnostics.append(PlanDiagnostic(severity="error", code="wiring", instance=name, message=str(exc)))
                    injections = []
                effective[name] = resolve(
                    templates[name],
                    by_name[name].overrides,
                    stack=stack,
                    instance=by_name[name],
                    injections=injections,
                    secrets=secrets.get(by_name[name].id),
                )
        rows = [w.to_data() for w in wiring.wires]
        return instances, effective, diagnostics, rows, [list(w) for w in waves]

    def effective(self, stack: str, name: str) -> EffectiveConfig:
        """An instance's effective config: template + wires + overrides, each value with its source."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, name)
            if not (inst.enabled and st.enabled):
                secrets = self._open_secrets(tx, st).get(inst.id)
                return resolve(self.template_for(inst), inst.overrides, stack=st, instance=inst, secrets=secrets)
            _, effective, _, _, _ = self._resolve_stack(tx, st)
        return effective[name]

    # -- plan -------------------------------------------------------------------------------
    def _fields(self, eff: EffectiveConfig, spec: ContainerSpec | None = None) -> dict[str, Any]:
        """Flat fields for diffs: secrets as keyed hashes, published ports with their host port."""
        fields = flatten_service(eff.service)
        for published in spec.ports if spec is not None else ():
            key = f"ports.{published.container}/{published.protocol}"
            if isinstance(fields.get(key), dict):
                fields[key] = {**fields[key], "host": published.host_port}
        for name in eff.secret_env:
            value = eff.service.environment[name]
            if isinstance(value, Secret):
                fields[f"environment.{name}"] = self.secrets.keyed_hash(value.reveal())
        return fields

    def _desired(self, stack_name: str, *, observe: bool = True) -> _Desired:
        """Desired state; without ``observe`` (compose previews) the engine and host are not asked."""
        runtime = self._require_runtime() if observe else None
        owner = self.owner
        with self._tx() as tx:
            stack = self._stack(tx, stack_name)
            instances, effective, diagnostics, wiring_rows, waves = self._resolve_stack(tx, stack)
            existing = self._all_allocations(tx, stack.name)
        observed = (
            runtime.list_containers(
                {naming.LABEL_MANAGED_BY: naming.MANAGED_BY, naming.LABEL_OWNER: owner, naming.LABEL_STACK_ID: stack.id}
            )
            if runtime is not None
            else []
        )
        own_bound = [(p.host_ip, p.host_port) for c in observed if c.running for p in c.ports]
        requests = [
            PortRequest(
                stack=stack.name,
                instance=eff.instance,
                instance_id=eff.instance_id,
                key=port.key,
                container_port=port.container,
                protocol=port.protocol,
                host_ip=port.host_ip,
                pinned=port.host,
            )
            for eff in effective.values()
            for port in eff.service.ports
            if port.publish
        ]
        probe = self.port_probe if observe else None
        resolution = allocate_ports(requests, existing, probe=probe, own_bound=own_bound, port_range=self.port_range)
        diagnostics.extend(resolution.diagnostics)
        if runtime is not None:
            diagnostics.extend(self._resource_diagnostics(runtime, effective))
        items = []
        for name in sorted(effective):
            eff = effective[name]
            config_dir = self.config_files.host_path(stack.name, name) if self.config_files and eff.service.config_files else None
            try:
                spec = container_spec(eff, owner=owner, allocations=resolution.chosen.get(eff.instance_id, {}), config_dir=config_dir)
            except ValidationError as exc:
                diagnostics.append(PlanDiagnostic(severity="error", code="invalid", instance=name, message=str(exc)))
                continue
            files = [[f.path, f.mode, f.content] for f in eff.service.config_files]
            config_hash = spec_hash(spec, self.secrets.keyed_hash, extra=files)
            spec = attrs.evolve(spec, labels={**spec.labels, naming.LABEL_CONFIG_HASH: config_hash})
            new_ports = {a.key: a.host_port for i_id, a in resolution.new if i_id == eff.instance_id}
            items.append(
                DesiredInstance(
                    effective=eff,
                    spec=spec,
                    config_hash=config_hash,
                    fields=self._fields(eff, spec),
                    depends_on=eff.service.depends_on,
                    new_ports=new_ports,
                )
            )
        return _Desired(
            stack=stack,
            instances=tuple(instances),
            items=tuple(items),
            diagnostics=tuple(diagnostics),
            wiring=tuple(wiring_rows),
            waves=tuple(tuple(w) for w in waves),
            observed=tuple(observed),
            new_ports=resolution.new,
            inputs={f"template {i.template}@{i.template_version}": self.template_for(i).content_hash for i in instances},
        )

    def _resource_diagnostics(self, runtime: Runtime, effective: Mapping[str, EffectiveConfig]) -> list[PlanDiagnostic]:
        """Warnings for limits the engine cannot enforce and CPU limits above the host's CPUs."""
        wanted = {name: eff.service.resources for name, eff in effective.items() if eff.service.resources}
        if not wanted:
            return []
        if self._engine_info is None:
            self._engine_info = runtime.info()
        info = self._engine_info
        found = []
        for name, res in sorted(wanted.items()):
            for field in Resources.FIELDS:
                if getattr(res, field) is not None and field not in info.enforces:
                    found.append(
                        PlanDiagnostic(
                            severity="warning",
                            code="limit-not-enforced",
                            instance=name,
                            message=f"{name}: {info.engine} cannot enforce {field} here; it is recorded but has no effect",
                        )
                    )
            for field in ("cpu_limit", "cpu_reservation"):
                value = getattr(res, field)
                if value is not None and info.cpus and value > info.cpus:
                    # Docker refuses a CPU limit above the host's CPUs at create; Podman accepts it.
                    refused = info.engine == "docker" and field == "cpu_limit"
                    found.append(
                        PlanDiagnostic(
                            severity="error" if refused else "warning",
                            code="cpus-above-host",
                            instance=name,
                            message=f"{name}: {field} {value} is more than the {info.cpus} CPUs of the engine's host"
                            + ("; Docker refuses it" if refused else ""),
                        )
                    )
        return found

    @staticmethod
    def _all_allocations(tx: StoreSession, planned: str) -> list[tuple[str, PortAllocation]]:
        """Every host port the store knows as taken: recorded allocations, plus ports pinned by
        enabled instances of other stacks that have not been applied yet (so two stacks pinning
        one port conflict at plan time, whichever applies first)."""
        ids: dict[tuple[str, str], str] = {}
        pinned: list[tuple[str, PortAllocation]] = []
        for st in tx.list_stacks():
            for inst in tx.list_instances(st.id):
                ids[(st.name, inst.name)] = inst.id
                if st.name == planned or not (st.enabled and inst.enabled):
                    continue
                pinned.extend(
                    (
                        inst.id,
                        PortAllocation(
                            stack=st.name,
                            instance=inst.name,
                            container_port=port.container,
                            protocol=port.protocol,
                            host_port=port.host,
                            host_ip=port.host_ip or "127.0.0.1",
                        ),
                    )
                    for port in inst.overrides.ports
                    if port.host is not None and not port.remove and port.publish is not False
                )
        recorded = [(ids.get((a.stack, a.instance), f"{a.stack}/{a.instance}"), a) for a in tx.list_port_allocations(None)]
        known = {(i, a.key) for i, a in recorded}
        return recorded + [(i, a) for i, a in pinned if (i, a.key) not in known]

    def _make_plan(self, desired: _Desired) -> Plan:
        with self._tx() as tx:
            applied = {item.effective.instance_id: tx.get_applied(item.effective.instance_id) for item in desired.items}
        return compute_plan(
            stack=desired.stack.name,
            desired=desired.items,
            observed=desired.observed,
            applied={k: v for k, v in applied.items() if v is not None},
            diagnostics=desired.diagnostics,
            wiring=desired.wiring,
            extra_basis=desired.inputs,
        )

    def plan(self, stack: str) -> Plan:
        """The plan for a stack: what apply would change, with diagnostics and a staleness token."""
        return self._make_plan(self._desired(stack))

    # -- apply ------------------------------------------------------------------------------
    def apply(self, stack: str, plan: Plan | None = None, *, lock_timeout: float | None = None, holder: str | None = None) -> ApplyResult:
        """Execute a plan under the stack's lock (planning first when none is given).

        Refuses a stale plan (``StalePlanError``) and a plan with errors (``WiringError``/``ApplyError``).
        """
        runtime = self._require_runtime()
        if self.lock is None:
            raise ApplyError("no stack lock configured", step="lock")
        who = holder or default_holder()
        with self.lock.acquire(stack, holder=who, timeout=lock_timeout):
            timings: dict[str, float] = {}
            start = self.clock.monotonic()
            desired = self._desired(stack)
            current = self._make_plan(desired)
            timings["plan"] = self.clock.monotonic() - start
            if plan is not None and plan.token != current.token:
                raise StalePlanError(stack, explain_staleness(plan, current))
            if current.errors:
                detail = "; ".join(d.message for d in current.errors)
                raise WiringError(f"cannot apply stack {stack}: {detail}")
            if current.actions:
                self._execute(runtime, desired, current, timings)
            else:
                self._record_applied(desired, set())
        return ApplyResult(stack=stack, plan=current, timings=timings)

    @contextmanager
    def _phase(self, name: str, timings: dict[str, float], total: int = 0) -> Iterator[None]:
        self.reporter.phase_started(name, total)
        start = self.clock.monotonic()
        try:
            yield
        finally:
            elapsed = self.clock.monotonic() - start
            timings[name] = elapsed
            self.reporter.phase_finished(name, elapsed)

    def _execute(self, runtime: Runtime, desired: _Desired, plan: Plan, timings: dict[str, float]) -> None:  # noqa: C901, PLR0912, PLR0915
        stack = desired.stack
        owner = self.owner
        items = {d.effective.instance: d for d in desired.items}
        acting = {a.instance: a for a in plan.actions}
        if desired.items:
            with self._phase("network", timings, 1):
                try:
                    runtime.ensure_network(stack.network_name, network_labels(stack.name, stack.id, owner))
                except DevarchError as exc:
                    raise ApplyError(f"network {stack.network_name}: {exc}", step="network") from exc
        if desired.new_ports:
            with self._tx() as tx:
                for instance_id, alloc in desired.new_ports:
                    tx.put_port_allocation(instance_id, alloc)
        to_build = [items[a.instance] for a in plan.actions if a.action in ("add", "modify") and a.instance in items]
        with_files = [d for d in to_build if d.effective.service.config_files]
        if with_files and self.config_files is not None:
            with self._phase("config", timings, len(with_files)):
                for item in with_files:
                    files = {f.path.lstrip("/"): (f.content, f.mode) for f in item.effective.service.config_files}
                    try:
                        self.config_files.write(stack.name, item.effective.instance, files)
                    except DevarchError as exc:
                        raise ApplyError(f"config files of {item.effective.instance}: {exc}", step="config", instance=item.effective.instance) from exc
                    self.reporter.step("config", item.effective.instance, "written")
        images = sorted({d.spec.image for d in to_build})
        if images:
            with self._phase("images", timings, len(images)):
                for image in images:
                    if runtime.inspect_image(image) is None:
                        self.reporter.step("images", image, "pulling")
                        try:
                            runtime.pull_image(image)
                        except DevarchError as exc:
                            raise ApplyError(f"image {image}: {exc}", step="images") from exc
                    self.reporter.step("images", image, "present")
        removals = [a for a in plan.actions if a.action == "remove"]
        done: set[str] = set()
        with self._phase("containers", timings, len(plan.actions)):
            pool = ThreadPoolExecutor(max_workers=self.parallelism)
            try:
                if removals:
                    list(pool.map(lambda a: self._remove(runtime, a.container, a.instance), removals))
                    done.update(a.instance for a in removals)
                needed_health = {dep for d in desired.items for dep in d.depends_on}
                for wave in desired.waves:
                    batch = [name for name in wave if name in acting and acting[name].action != "remove"]
                    errors: list[BaseException] = []
                    futures = {name: pool.submit(self._converge, runtime, items[name], acting[name].action) for name in batch}
                    for name, future in futures.items():
                        exc = future.exception()
                        if exc is not None:
                            errors.append(exc)
                        else:
                            done.add(name)
                    if errors:
                        first = errors[0]
                        self._record_applied(desired, done)
                        if isinstance(first, DevarchError):
                            raise first
                        raise ApplyError(str(first), step="containers") from first
                    waiting = [n for n in wave if n in needed_health and n in items and items[n].spec.healthcheck is not None]
                    if waiting:
                        list(pool.map(lambda n: self._wait_healthy(runtime, items[n]), waiting))
            finally:
                pool.shutdown(wait=True)
        self._record_applied(desired, done)

    def _remove(self, runtime: Runtime, container: str, instance: str) -> None:
        self.reporter.step("containers", instance, "removing")
        runtime.stop_container(container, timeout=10)
        runtime.remove_container(container)
        self.reporter.step("containers", instance, "removed")

    def _converge(self, runtime: Runtime, item: DesiredInstance, action: str) -> None:
        name = item.effective.instance
        container = item.spec.name
        try:
            if action == "start":
                self.reporter.step("containers", name, "starting")
                runtime.start_container(container)
                self.reporter.step("containers", name, "started")
                return
            existing = runtime.inspect_container(container)
            if existing is not None:
                if existing.labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY or existing.labels.get(naming.LABEL_OWNER) != self.owner:
                    raise ConflictError(
                        f"a container named {container} exists and is not managed by this devarch store; "
                        "devarch never touches it — remove or rename it yourself"
                    )
                self.reporter.step("containers", name, "recreating")
                runtime.stop_container(container, timeout=10)
                runtime.remove_container(container)
            owner = self.owner
            for mount in item.spec.mounts:
                if mount.type == "volume" and mount.source:
                    runtime.ensure_volume(mount.source, volume_labels(item.effective, owner))
            self.reporter.step("containers", name, "creating")
            runtime.create_container(item.spec)
            runtime.start_container(container)
            self.reporter.step("containers", name, "started")
        except DevarchError as exc:
            self.reporter.step("containers", name, "failed")
            message = _redact(str(exc), item.spec.environment.values())
            if message != str(exc):
                # The engine quoted a secret: keep it out of the message and the exception chain.
                raise ApplyError(f"{name}: {message}", step="containers", instance=name) from None
            raise ApplyError(f"{name}: {message}", step="containers", instance=name) from exc

    def _wait_healthy(self, runtime: Runtime, item: DesiredInstance) -> None:
        name = item.effective.instance
        deadline = self.clock.monotonic() + self.health_timeout
        # Poll at a fixed short interval: the engine turns a service healthy within its own
        # check interval, and a backing-off poll would notice it late (measured in benchmarks/).
        interval = item.spec.healthcheck.interval if item.spec.healthcheck else None
        delay = min(0.2, float(interval) / 2) if interval else 0.2
        self.reporter.step("health", name, "waiting")
        while True:
            status = runtime.health(item.spec.name)
            if status in ("healthy", "none"):
                self.reporter.step("health", name, "healthy")
                return
            if status == "unhealthy":
                raise ApplyError(f"{name} is unhealthy; see `docker logs {item.spec.name}`", step="health", instance=name)
            if self.clock.monotonic() > deadline:
                raise ApplyError(f"{name} did not become healthy within {self.health_timeout:.0f}s", step="health", instance=name)
            self.clock.sleep(delay)

    def _record_applied(self, desired: _Desired, done: set[str]) -> None:
        now = self._now()
        desired_ids = {d.effective.instance_id for d in desired.items}
        with self._tx() as tx:
            for item in desired.items:
                if item.effective.instance in done or tx.get_applied(item.effective.instance_id) is None:
                    if item.effective.instance not in done and not any(
                        c.name == item.spec.name and c.labels.get(naming.LABEL_CONFIG_HASH) == item.config_hash for c in desired.observed
                    ):
                        continue
                    tx.put_applied(
                        AppliedRecord(instance_id=item.effective.instance_id, config_hash=item.config_hash, config=dict(item.fields), applied_at=now)
                    )
            for inst in desired.instances:
                if inst.id not in desired_ids and inst.name in done:
                    tx.delete_applied(inst.id)

    # -- compose and graph -------------------------------------------------------------------
    def compose(self, stack: str, instance: str | None = None, *, reveal_secrets: bool = False, project: str | None = None) -> str:
        """The stack (or one instance) as a Compose file with the same names devarch uses.

        Secrets are ``***`` unless ``reveal_secrets`` (then the file holds plaintext: handle it
        like the secret it is). Host ports are the ones devarch allocated or would allocate.
        """
        desired = self._desired(stack, observe=False)
        errors = [d for d in desired.diagnostics if d.severity == "error" and d.code != "port-in-use"]
        if errors:
            raise WiringError(f"cannot render stack {stack}: " + "; ".join(d.message for d in errors))
        items = compose_items((d.effective.instance, d.spec, d.depends_on) for d in desired.items)
        labels = network_labels(desired.stack.name, desired.stack.id, self.owner)
        if instance is not None:
            item = next((i for i in items if i.name == instance), None)
            if item is None:
                raise NotFoundError("enabled instance", f"{stack}/{instance}")
            return render_instance(item, network_labels=labels, project=project, reveal_secrets=reveal_secrets)
        return render_compose(
            desired.stack.name, desired.stack.network_name, items, network_labels=labels, project=project, reveal_secrets=reveal_secrets
        )

    def graph(self, stack: str, *, fmt: str = "mermaid") -> str:
        """The stack's wiring graph as Mermaid or DOT text."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            instances = tx.list_instances(st.id)
            nodes = [WiringNode(name=i.name, enabled=i.enabled and st.enabled, template=self.template_for(i)) for i in instances]
            plan = solve_wiring(nodes, tx.list_wires(st.id), stack=st.name)
        return wiring_graph(nodes, plan, fmt=fmt, stack=st.name)  # type: ignore[arg-type]

    # -- down / status ----------------------------------------------------------------------
    def _teardown(self, stack: Stack, *, remove_volumes: bool) -> int:
        runtime = self._require_runtime()
        owner = self.owner
        labels = {naming.LABEL_MANAGED_BY: naming.MANAGED_BY, naming.LABEL_OWNER: owner, naming.LABEL_STACK_ID: stack.id}
        containers = runtime.list_containers(labels)
        if containers:
            with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
                list(pool.map(lambda c: self._remove(runtime, c.name, c.labels.get(naming.LABEL_INSTANCE_NAME, c.name)), containers))
        for network in runtime.list_networks(labels):
            runtime.remove_network(network.name)
        if remove_volumes:
            for volume in runtime.list_volumes(labels):
                runtime.remove_volume(volume.name)
        return len(containers)

    def down(self, stack: str, *, volumes: bool = False, lock_timeout: float | None = None) -> int:
        """Remove a stack's containers and network (and named volumes if asked); keep its definition.

        Returns how many containers were removed.
        """
        st = self.get_stack(stack)
        if self.lock is None:
            raise ApplyError("no stack lock configured", step="lock")
        with self.lock.acquire(stack, holder="devarch down " + default_holder(), timeout=lock_timeout):
            removed = self._teardown(st, remove_volumes=volumes)
            with self._tx() as tx:
                for inst in tx.list_instances(st.id):
                    tx.delete_applied(inst.id)
        return removed

    def status(self, stack: str) -> list[InstanceStatus]:
        """Each instance's container state, health and published ports."""
        runtime = self._require_runtime()
        with self._tx() as tx:
            st = self._stack(tx, stack)
            instances = tx.list_instances(st.id)
        observed = {
            c.name: c
            for c in runtime.list_containers(
                {naming.LABEL_MANAGED_BY: naming.MANAGED_BY, naming.LABEL_OWNER: self.owner, naming.LABEL_STACK_ID: st.id}
            )
        }
        rows = []
        for inst in instances:
            c = observed.pop(inst.container_name, None)
            rows.append(
                InstanceStatus(
                    instance=inst.name,
                    container=inst.container_name,
                    enabled=inst.enabled,
                    state=c.state if c else "absent",
                    health=runtime.health(c.name) if c and c.running else "none",
                    ports=tuple(f"{p.host_ip}:{p.host_port}->{p.container}/{p.protocol}" for p in (c.ports if c else ())),
                )
            )
        for name, c in sorted(observed.items()):
            rows.append(InstanceStatus(instance=c.labels.get(naming.LABEL_INSTANCE_NAME, name), container=name, enabled=False, state=f"orphan ({c.state})"))
        return rows


def _redact(text: str, values: Iterable[object]) -> str:
    """Replace every secret value (and its escaped forms) in ``text`` by ``***``.

    A value is replaced where it stands on its own (quoted, after ``=``, between spaces), not
    inside a longer name: a password ``devarch`` must not turn ``devarch-shop-db`` into ``***-shop-db``.
    """
    for value in values:
        if isinstance(value, Secret) and value.reveal():
            plain = value.reveal()
            for form in {plain, repr(plain)[1:-1], plain.encode("unicode_escape").decode("ascii", "replace")}:
                if form:
                    text = re.sub(rf"(?<![\w.-]){re.escape(form)}(?![\w.-])", REDACTED, text)
    return text


def default_holder() -> str:
    """A description of this process for lock messages."""
    import getpass  # noqa: PLC0415
    import os  # noqa: PLC0415

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"pid {os.getpid()} on {socket.gethostname()} by {user}"


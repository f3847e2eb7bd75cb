"""Stack use cases: create, list, show, update, enable/disable, delete, clone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen

from devarch_core import _convert, naming
from devarch_core._jsonforms import stack_data
from devarch_core._parsing import checked_description
from devarch_core.errors import (
    ConflictError,
    DevarchError,
    NotFoundError,
)
from devarch_core.model import Stack
from devarch_core.ownership import owned_by
from devarch_core.ports import (
    SealedSecret,
)
from devarch_core.secrets import SecretSlot
from devarch_core.usecases._helpers import (
    STACK_ENGINE_KEY,
    Service,
    check_container_name,
    claim_network,
    new_id,
    stack_of,
)
from devarch_core.usecases.engines import default_holder
from devarch_core.usecases.rules import refuse_rule_problems, without_host_pins, written_from

if TYPE_CHECKING:
    from devarch_core.ports import Runtime

__all__ = ["StackService", "StackSummary"]


@frozen(kw_only=True)
class StackSummary(_convert.Unstructured):
    """A stack with counts, for listings."""

    stack: Stack
    instances: int
    enabled_instances: int
    running: int | None = None


class StackService(Service):
    """Stacks: named, isolated groups of instances.

    Ports: the catalog, the store's key (clones re-seal secrets), the engine and the stack lock
    (delete tears the stack down through :class:`ApplyService`), the config files.
    """

    def create_stack(
        self,
        name: str,
        *,
        description: str = "",
        network: str | None = None,
        engine: str | None = None,
    ) -> Stack:
        """Create an empty stack; ``ConflictError`` if the name is taken.

        ``engine`` binds it to a named engine at once (else its first apply binds it).
        """
        naming.validate_name(name, kind="stack")
        description = checked_description(description)
        if network is not None:
            naming.validate_name(network, kind="network")
        now = self._ctx.uow.now()
        stack = Stack(
            id=new_id(),
            name=name,
            description=description,
            network=network,
            created_at=now,
            updated_at=now,
            engine=engine,
        )
        with self._ctx.uow.transaction() as tx:
            if tx.get_stack(name) is not None:
                raise ConflictError(f"stack {name!r} already exists")
            if engine is not None and tx.get_engine(engine) is None:
                raise NotFoundError("engine", engine, hint="`devarch engine list` shows them")
            claim_network(tx, name, network)
            tx.add_stack(stack)
        return stack

    def _runtimes(self, stacks: list[Stack]) -> list[Runtime]:
        """The distinct engines the stacks live on that can be opened (for running counts)."""
        found: dict[int, Runtime] = {}
        if self._ctx.runtime is not None:
            found[id(self._ctx.runtime)] = self._ctx.runtime
        for stack in stacks:
            if not stack.engine:
                continue
            try:
                runtime = self._ctx.engines.for_stack(stack)
            except DevarchError:
                continue
            found.setdefault(id(runtime), runtime)
        return list(found.values())

    def get_stack(self, name: str) -> Stack:
        """One stack."""
        with self._ctx.uow.transaction() as tx:
            return stack_of(tx, name)

    def list_stacks(self, *, with_runtime: bool = True) -> list[StackSummary]:
        """Every stack with instance counts (and running counts when an engine answers)."""
        with self._ctx.uow.transaction() as tx:
            rows = [(s, tx.list_instances(s.id)) for s in tx.list_stacks()]
        running: dict[str, int] | None = None
        runtimes = self._runtimes([s for s, _ in rows]) if with_runtime else []
        for runtime in runtimes:
            try:
                containers = runtime.list_containers(owned_by(self._ctx.uow.owner))
            except DevarchError:
                continue
            running = running if running is not None else {}
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
        with self._ctx.uow.transaction() as tx:
            stack = stack_of(tx, name)
            instances = tx.list_instances(stack.id)
            wires = tx.list_wires(stack.id)
            records = {r.instance_id: r for r in tx.list_applied(stack.id)}
            applied = {i.name: records.get(i.id) for i in instances}
        # ``stack show`` has never shown when the stack was last updated.
        fields = {k: v for k, v in stack_data(stack).items() if k != "updated_at"}
        return {
            **fields,
            "instances": [
                {
                    "name": i.name,
                    "template": f"{i.template}@{i.template_version}",
                    "enabled": i.enabled,
                    "description": i.description,
                    "container": i.container_name,
                    "last_applied": record.applied_at if (record := applied[i.name]) else None,
                }
                for i in instances
            ],
            "wires": [attrs.asdict(w) for w in wires],
        }

    def update_stack(
        self, name: str, *, description: str | None = None, network: str | None = None
    ) -> Stack:
        """Change a stack's description or custom network name (the name itself never changes)."""
        if network is not None:
            naming.validate_name(network, kind="network")
        if description is not None:
            description = checked_description(description)
        with self._ctx.uow.transaction() as tx:
            stack = stack_of(tx, name)
            changes: dict[str, Any] = {"updated_at": self._ctx.uow.now()}
            if description is not None:
                changes["description"] = description
            if network is not None:
                claim_network(tx, name, network)
                changes["network"] = network
            stack = attrs.evolve(stack, **changes)
            tx.update_stack(stack)
        return stack

    def set_stack_enabled(self, name: str, enabled: bool) -> Stack:
        """Enable or disable a stack (a disabled stack plans to remove its containers)."""
        with self._ctx.uow.transaction() as tx:
            current = stack_of(tx, name)
            stack = attrs.evolve(current, enabled=enabled, updated_at=self._ctx.uow.now())
            if enabled and not current.enabled:
                # Its instances' pins start to count: check them as the plan will.
                instances = tx.list_instances(stack.id)
                written = [written_from(self._ctx.catalog, stack, i) for i in instances]
                names = {i.name for i in instances}
                refuse_rule_problems(tx, stack, written, names, what=f"cannot enable stack {name}")
            tx.update_stack(stack)
        return stack

    def delete_stack(
        self, name: str, *, keep_volumes: bool = False, lock_timeout: float | None = None
    ) -> None:
        """Delete a stack: its containers, network, volumes (with an engine), then its definition.

        Runs under the stack's lock, like apply and down: while an apply runs it fails at once with
        ``StackLockedError`` (or waits up to ``lock_timeout`` seconds) and deletes nothing.
        """
        self.get_stack(name)
        if self._ctx.locks.lock is None:
            self._delete_stack(name, keep_volumes=keep_volumes)
            return
        with self._ctx.locks.hold(name, "devarch stack delete " + default_holder(), lock_timeout):
            self._delete_stack(name, keep_volumes=keep_volumes)

    def _delete_stack(self, name: str, *, keep_volumes: bool) -> None:
        stack = self.get_stack(name)  # read again under the lock: an apply may have just finished
        if self._ctx.runtime is not None or stack.engine:
            self._ctx.applier.teardown(stack, volumes=not keep_volumes)
        if self._ctx.config_files is not None:
            self._ctx.config_files.remove(stack.name)
        with self._ctx.uow.transaction() as tx:
            tx.delete_stack(stack.id)
            if tx.get_meta(STACK_ENGINE_KEY + stack.id):
                tx.set_meta(STACK_ENGINE_KEY + stack.id, "")

    def clone_stack(self, source: str, name: str, *, description: str | None = None) -> Stack:
        """Copy a stack under a new name (host ports are not copied).

        Copy a stack under a new name: instances, overrides, wires and secrets (re-sealed for the
        new slots). Host ports are not copied: pinned ones are dropped so devarch allocates the
        clone its own at its first plan (a host port belongs to one instance of the store).
        """
        naming.validate_name(name, kind="stack")
        if description is not None:
            description = checked_description(description)
        with self._ctx.uow.transaction() as tx:
            src = stack_of(tx, source)
            if tx.get_stack(name) is not None:
                raise ConflictError(f"stack {name!r} already exists")
            claim_network(tx, name, None)
            now = self._ctx.uow.now()
            new = attrs.evolve(
                src,
                id=new_id(),
                name=name,
                network=None,
                description=src.description if description is None else description,
                created_at=now,
                updated_at=now,
            )
            tx.add_stack(new)
            id_map = {}
            copies = []
            for inst in tx.list_instances(src.id):
                check_container_name(tx, name, inst.name)
                # Host ports are store-wide: the clone gets its own (as `instance duplicate` does).
                copy = attrs.evolve(
                    inst,
                    id=new_id(),
                    stack_id=new.id,
                    stack=name,
                    created_at=now,
                    updated_at=now,
                    overrides=without_host_pins(inst.overrides),
                )
                tx.add_instance(copy)
                copies.append(copy)
                id_map[inst.id] = copy.id
            refuse_rule_problems(
                tx,
                new,
                [written_from(self._ctx.catalog, new, c) for c in copies],
                {c.name for c in copies},
                what=f"cannot clone stack {source} as {name}",
            )
            for wire in tx.list_wires(src.id):
                tx.put_wire(new.id, wire)
            box = self._ctx.keys.box
            for sealed in tx.list_secrets(src.id):
                value = box.open(SecretSlot(src.id, sealed.instance_id, sealed.name), sealed.sealed)
                copy_id = id_map[sealed.instance_id]
                tx.put_secret(
                    SealedSecret(
                        stack_id=new.id,
                        instance_id=copy_id,
                        name=sealed.name,
                        sealed=self._ctx.keys.seal(
                            tx, SecretSlot(new.id, copy_id, sealed.name), value.reveal()
                        ),
                    )
                )
        return new

"""Instance use cases: add, show, override (set/unset), duplicate, rename, remove, effective.

:class:`InstanceService`; the effective config of an enabled instance comes from the one-pass
resolution of its stack (:mod:`devarch_core.usecases.resolution`).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs

from devarch_core import naming
from devarch_core._parsing import checked_description
from devarch_core.errors import (
    Problem,
    ValidationError,
)
from devarch_core.fields import merge_override_data, unset_override_data
from devarch_core.model import Instance, Stack
from devarch_core.overrides import Overrides
from devarch_core.usecases._helpers import (
    Service,
    claim_instance_name,
    instance_of,
    new_id,
    stack_of,
    template_for,
)
from devarch_core.usecases.resolution import resolve_instance, resolve_stack
from devarch_core.usecases.rules import (
    WrittenInstance,
    check_instance_rules,
    refuse_rule_problems,
    split_secrets,
    stack_names,
    without_host_pins,
    written,
    written_depends_on,
)
from devarch_core.wiring import dependency_problems

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from devarch_core.merge import EffectiveConfig
    from devarch_core.ports import StoreSession

__all__ = ["InstanceService", "WrittenInstance", "without_host_pins"]


def _merge_override_data(current: dict[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a manifest-form override delta onto existing override data (keyed, not wholesale)."""
    return merge_override_data(current, delta)


def _unset_override_data(current: dict[str, Any], field: str) -> dict[str, Any]:
    """Remove one override (``environment.FOO``, ``ports.5432/tcp``, ``image``...)."""
    return unset_override_data(current, field)


class InstanceService(Service):
    """Instances and their copy-on-write overrides (ports: the catalog; secrets are sealed)."""

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
        description = checked_description(description)
        tmpl = self._ctx.catalog.get(template, version)
        parsed = (
            overrides
            if isinstance(overrides, Overrides)
            else Overrides.from_data(overrides or {}, "overrides")
        )
        parsed, plain_secrets = split_secrets(tmpl, parsed)
        plain_secrets.update(secrets or {})
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            claim_instance_name(tx, st, name)
            instance_id = new_id()
            item = written(tmpl, parsed, st, name, instance_id=instance_id, enabled=enabled)
            names = stack_names(tx, st, parsed, name)
            refuse_rule_problems(tx, st, [item], names, what=f"cannot add instance {name}")
            now = self._ctx.uow.now()
            instance = Instance(
                id=instance_id,
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
                self._ctx.secrets.put(tx, st, instance, var, value)
        return instance

    def list_instances(self, stack: str) -> list[Instance]:
        """A stack's instances, by name."""
        with self._ctx.uow.transaction() as tx:
            return tx.list_instances(stack_of(tx, stack).id)

    def get_instance(self, stack: str, name: str) -> Instance:
        """One instance."""
        with self._ctx.uow.transaction() as tx:
            return instance_of(tx, stack_of(tx, stack), name)

    def show_instance(self, stack: str, name: str) -> dict[str, Any]:
        """An instance with every override and its secret names (plain data, no secret values)."""
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            inst = instance_of(tx, st, name)
            secret_names = sorted(
                s.name for s in tx.list_secrets(st.id) if s.instance_id == inst.id
            )
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

    def update_instance(
        self, stack: str, name: str, *, description: str | None = None, enabled: bool | None = None
    ) -> Instance:
        """Change an instance's description or enabled flag."""
        if description is not None:
            description = checked_description(description)
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            inst = instance_of(tx, st, name)
            changes: dict[str, Any] = {"updated_at": self._ctx.uow.now()}
            if description is not None:
                changes["description"] = description
            if enabled is not None:
                changes["enabled"] = enabled
            if enabled and not inst.enabled:
                # Its pins start to count: check them as the plan will.
                enabled_inst = attrs.evolve(inst, **changes)
                check_instance_rules(
                    tx, self._ctx.catalog, st, enabled_inst, what=f"cannot enable instance {name}"
                )
            inst = attrs.evolve(inst, **changes)
            tx.update_instance(inst)
        return inst

    def set_overrides(self, stack: str, name: str, delta: Mapping[str, Any]) -> Instance:
        """Merge an override delta (manifest form) into an instance's overrides, by key.

        Values of secret variables are sealed in the store, never kept in the overrides.
        """
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            inst = instance_of(tx, st, name)
            merged = _merge_override_data(inst.overrides.to_data(), delta)
            parsed = Overrides.from_data(merged, f"instances.{name}.overrides")
            parsed, plain = split_secrets(template_for(self._ctx.catalog, inst), parsed)
            inst = attrs.evolve(inst, overrides=parsed, updated_at=self._ctx.uow.now())
            check_instance_rules(
                tx, self._ctx.catalog, st, inst, what=f"cannot change instance {name}"
            )
            tx.update_instance(inst)
            for var, value in sorted(plain.items()):
                self._ctx.secrets.put(tx, st, inst, var, value)
        return inst

    def unset_override(self, stack: str, name: str, field: str) -> Instance:
        """Drop one override so the field inherits again.

        ``field`` is a path such as ``environment.FOO``, ``ports.5432/tcp`` or ``image``.
        """
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            inst = instance_of(tx, st, name)
            data = _unset_override_data(inst.overrides.to_data(), field)
            inst = attrs.evolve(
                inst, overrides=Overrides.from_data(data), updated_at=self._ctx.uow.now()
            )
            # Unsetting can bring back a template value (a pinned port, a depends_on entry).
            check_instance_rules(
                tx, self._ctx.catalog, st, inst, what=f"cannot unset {field} of instance {name}"
            )
            tx.update_instance(inst)
        return inst

    def remove_instance(self, stack: str, name: str) -> None:
        """Delete an instance (and the wires that name it); its container goes at the next apply."""
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            inst = instance_of(tx, st, name)
            # A depends_on entry naming a missing instance is refused when written (and by the
            # plan): refuse to make one by removing the instance it names.
            others = [i for i in tx.list_instances(st.id) if i.id != inst.id]
            remaining = {i.name for i in others}
            problems = [
                Problem(
                    f"instances.{other.name}.overrides.depends_on",
                    f"{message}; remove the entry first: "
                    f"`devarch instance unset {st.name} {other.name} depends_on.{name}`",
                )
                for other in others
                for message in dependency_problems(
                    other.name, [d for d in written_depends_on(other.overrides) if d == name],
                    remaining, stack=st.name,
                )
            ]  # fmt: skip
            if problems:
                raise ValidationError(problems, what=f"cannot remove instance {name}")
            for wire in tx.list_wires(st.id):
                if name in (wire.consumer, wire.provider):
                    tx.delete_wire(st.id, wire.consumer, wire.import_name)
            tx.delete_instance(inst.id)

    @contextmanager
    def _to_new_name(
        self, stack: str, name: str, new_name: str
    ) -> Iterator[tuple[StoreSession, Stack, Instance]]:
        """A transaction holding instance ``name`` and ``new_name`` (valid and claimed)."""
        naming.validate_name(new_name, kind="instance")
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            inst = instance_of(tx, st, name)
            claim_instance_name(tx, st, new_name)
            yield tx, st, inst

    def duplicate_instance(self, stack: str, name: str, new_name: str) -> Instance:
        """Copy an instance (overrides and secrets) under a new name in the same stack."""
        with self._to_new_name(stack, name, new_name) as (tx, st, inst):
            now = self._ctx.uow.now()
            copy = attrs.evolve(inst, id=new_id(), name=new_name, created_at=now, updated_at=now)
            # Pinned host ports cannot be shared: the copy gets its own allocation.
            copy = attrs.evolve(copy, overrides=without_host_pins(copy.overrides))
            tx.add_instance(copy)
            for var, value in self._ctx.secrets.open_instance(tx, st, inst).items():
                self._ctx.secrets.put(tx, st, copy, var, value.reveal())
        return copy

    def rename_instance(self, stack: str, name: str, new_name: str) -> Instance:
        """Rename an instance (its id, secrets and port pins stay; wires follow)."""
        with self._to_new_name(stack, name, new_name) as (tx, st, inst):
            renamed = attrs.evolve(inst, name=new_name, updated_at=self._ctx.uow.now())
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
            # depends_on entries follow the rename, as wires do.
            for other in tx.list_instances(st.id):
                current = other.overrides.depends_on
                if name in current:
                    deps = {new_name if k == name else k: v for k, v in current.items()}
                    overrides = attrs.evolve(other.overrides, depends_on=deps)
                    tx.update_instance(attrs.evolve(other, overrides=overrides))
        return renamed

    def effective(self, stack: str, name: str) -> EffectiveConfig:
        """An instance's effective config: template + wires + overrides, each with its source."""
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            inst = instance_of(tx, st, name)
            secrets = self._ctx.secrets.open_all(tx, st)
            if not (inst.enabled and st.enabled):
                return resolve_instance(self._ctx.catalog, st, inst, secrets.get(inst.id))
            resolved = resolve_stack(tx, self._ctx.catalog, st, secrets)
        return resolved.effective[name]

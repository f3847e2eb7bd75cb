"""Instance use cases: add, show, override (set/unset), duplicate, rename, remove; effective config."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs

from devarch_core import naming
from devarch_core._parsing import checked_description
from devarch_core.errors import (
    NotFoundError,
    WiringError,
)
from devarch_core.merge import EffectiveConfig, resolve
from devarch_core.model import Instance, Stack
from devarch_core.overrides import Overrides
from devarch_core.planning import (
    PlanDiagnostic,
)
from devarch_core.ports import (
    StoreSession,
)
from devarch_core.secrets import SecretSlot
from devarch_core.template import Template
from devarch_core.usecases.secrets import SecretCases
from devarch_core.wiring import (
    WiringNode,
    dependency_edges,
    dependency_waves,
    injections_for,
    solve_wiring,
)

__all__ = ["InstanceCases"]

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


class InstanceCases(SecretCases):
    """Instances and their copy-on-write overrides. (A mixin of :class:`~devarch_core.app.Devarch`.)"""

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
        description = checked_description(description)
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
        if description is not None:
            description = checked_description(description)
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

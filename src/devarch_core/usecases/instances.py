"""Instance use cases: add, show, override (set/unset), duplicate, rename, remove; effective config."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import attrs
from attrs import frozen

from devarch_core import naming
from devarch_core._parsing import checked_description
from devarch_core.errors import (
    PortConflictError,
    Problem,
    ValidationError,
    WiringError,
)
from devarch_core.fields import merge_override_data, unset_override_data
from devarch_core.hostports import PortRequest, pin_conflicts
from devarch_core.merge import EffectiveConfig, resolve
from devarch_core.model import Instance, PortAllocation, Stack
from devarch_core.overrides import Overrides
from devarch_core.planning import (
    PlanDiagnostic,
)
from devarch_core.ports import (
    StoreSession,
)
from devarch_core.secrets import SecretSlot
from devarch_core.spec import config_file_overlaps
from devarch_core.template import Template
from devarch_core.usecases.secrets import SecretCases
from devarch_core.wiring import (
    WiringNode,
    dependency_edges,
    dependency_problems,
    dependency_waves,
    injections_for,
    solve_wiring,
)

__all__ = ["InstanceCases", "WrittenInstance", "without_host_pins"]


@frozen(kw_only=True)
class WrittenInstance:
    """An instance about to be written, as the write-time rules see it."""

    name: str
    instance_id: str
    enabled: bool
    overrides: Overrides
    #: Merged template + overrides (without wires: they add no pins, files or depends_on entries
    #: the user wrote).
    effective: EffectiveConfig
    #: Where the instance is written, for problem paths: ``instances.web``.
    path: str
    #: Host ports to record for container ports (``5432/tcp`` -> (host, path)), e.g. manifest pins.
    pins: Mapping[str, tuple[int, str]] = attrs.field(factory=dict)


def _written_depends_on(overrides: Overrides, merged: Sequence[str] = ()) -> list[str]:
    """The ``depends_on`` entries the write rules check.

    Those the user's overrides add (a forward reference in a template's own entries is the
    plan's to report), plus ``merged`` (the effective ones, at plan).
    """
    added = [dep for dep, on in overrides.depends_on.items() if on]
    return [*added, *(d for d in merged if d not in added)]


def without_host_pins(overrides: Overrides) -> Overrides:
    """The overrides with every pinned host port dropped (devarch allocates new ones).

    What a copy of an instance gets, since two instances cannot publish one host port.
    """
    ports = []
    for port in overrides.ports:
        if port.host is None:
            ports.append(port)
            continue
        unpinned = attrs.evolve(port, host=None)
        if unpinned.host_ip is not None or unpinned.publish is not None:
            ports.append(unpinned)
    return attrs.evolve(overrides, ports=tuple(ports))


def _merge_override_data(current: dict[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a manifest-form override delta onto existing override data (keyed, not wholesale)."""
    return merge_override_data(current, delta)


def _unset_override_data(current: dict[str, Any], field: str) -> dict[str, Any]:
    """Remove one override (``environment.FOO``, ``ports.5432/tcp``, ``image``...)."""
    return unset_override_data(current, field)


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
            instance_id = uuid.uuid4().hex
            written = self._written(
                tmpl, parsed, st, name, instance_id=instance_id, enabled=enabled
            )
            names = {i.name for i in tx.list_instances(st.id)} | {name}
            self._refuse_rule_problems(tx, st, [written], names, what=f"cannot add instance {name}")
            now = self._now()
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
                self._put_secret(tx, st, instance, var, value)
        return instance

    @staticmethod
    def _written(
        template: Template,
        overrides: Overrides,
        stack: Stack,
        name: str,
        *,
        instance_id: str,
        enabled: bool,
    ) -> WrittenInstance:
        """Refuse overrides whose merged result is invalid (e.g. a reservation above the limit),
        before they are written rather than at the next plan; the instance for the write rules."""
        probe = Instance(
            id=instance_id, stack_id=stack.id, stack=stack.name, name=name, template=template.name,
            template_version=template.version, overrides=overrides,
        )  # fmt: skip
        effective = resolve(template, overrides, stack=stack, instance=probe)
        return WrittenInstance(
            name=name,
            instance_id=instance_id,
            enabled=enabled,
            overrides=overrides,
            effective=effective,
            path=f"instances.{name}",
        )

    def _check_instance_rules(
        self, tx: StoreSession, stack: Stack, inst: Instance, *, what: str
    ) -> None:
        """The write rules for one stored instance as it is about to be (overrides, enabled)."""
        written = self._written(
            self.template_for(inst),
            inst.overrides,
            stack,
            inst.name,
            instance_id=inst.id,
            enabled=inst.enabled,
        )
        names = {i.name for i in tx.list_instances(stack.id)}
        self._refuse_rule_problems(tx, stack, [written], names, what=what)

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
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, name)
            changes: dict[str, Any] = {"updated_at": self._now()}
            if description is not None:
                changes["description"] = description
            if enabled is not None:
                changes["enabled"] = enabled
            if enabled and not inst.enabled:
                # Its pins start to count: check them as the plan will.
                enabled_inst = attrs.evolve(inst, **changes)
                self._check_instance_rules(
                    tx, st, enabled_inst, what=f"cannot enable instance {name}"
                )
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
            inst = attrs.evolve(inst, overrides=parsed, updated_at=self._now())
            self._check_instance_rules(tx, st, inst, what=f"cannot change instance {name}")
            tx.update_instance(inst)
            for var, value in sorted(plain.items()):
                self._put_secret(tx, st, inst, var, value)
        return inst

    def unset_override(self, stack: str, name: str, field: str) -> Instance:
        """Drop one override so the field inherits again (``environment.FOO``, ``ports.5432/tcp``, ``image``)."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, name)
            data = _unset_override_data(inst.overrides.to_data(), field)
            inst = attrs.evolve(inst, overrides=Overrides.from_data(data), updated_at=self._now())
            # Unsetting can bring back a template value (a pinned port, a depends_on entry).
            self._check_instance_rules(
                tx, st, inst, what=f"cannot unset {field} of instance {name}"
            )
            tx.update_instance(inst)
        return inst

    def remove_instance(self, stack: str, name: str) -> None:
        """Delete an instance (and the wires that name it); its container goes at the next apply."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, name)
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
                    other.name, [d for d in _written_depends_on(other.overrides) if d == name],
                    remaining, stack=st.name,
                )
            ]  # fmt: skip
            if problems:
                raise ValidationError(problems, what=f"cannot remove instance {name}")
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
            copy = attrs.evolve(copy, overrides=without_host_pins(copy.overrides))
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
            # depends_on entries follow the rename, as wires do.
            for other in tx.list_instances(st.id):
                current = other.overrides.depends_on
                if name in current:
                    deps = {new_name if k == name else k: v for k, v in current.items()}
                    overrides = attrs.evolve(other.overrides, depends_on=deps)
                    tx.update_instance(attrs.evolve(other, overrides=overrides))
        return renamed

    @staticmethod
    def _all_allocations(tx: StoreSession, planned: str) -> list[tuple[str, PortAllocation]]:
        """Every host port the store knows as taken.

        Every host port the store knows as taken: recorded allocations, plus ports pinned by
        enabled instances of other stacks that have not been applied yet (so two stacks pinning
        one port conflict at plan time, whichever applies first).
        """
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
        recorded = [
            (ids.get((a.stack, a.instance), f"{a.stack}/{a.instance}"), a)
            for a in tx.list_port_allocations(None)
        ]
        known = {(i, a.key) for i, a in recorded}
        return recorded + [(i, a) for i, a in pinned if (i, a.key) not in known]

    def _rule_problems(  # noqa: C901 - one rule after the other
        self,
        tx: StoreSession,
        stack: Stack,
        written: Sequence[WrittenInstance],
        instances: Collection[str],
        *,
        replaced: Collection[str] = (),
    ) -> tuple[list[Problem], list[Problem]]:
        """What plan or apply would refuse in ``written``, with the path of each value.

        What plan or apply would refuse in ``written`` (instances about to be stored in
        ``stack``, whose instances will then be ``instances``), with the path of each value.

        The same rule functions the plan calls: config file paths that overlap, ``depends_on``
        entries that are missing or the instance itself, host port pins that clash with each
        other or with another instance of the store. Pins count as the plan counts them: only
        for enabled instances of enabled stacks (so a disabled stack may share a pin with an
        enabled one, and enabling it checks again). ``replaced`` names this stack's instances
        that the write removes (their allocations no longer count). Returns the problems and,
        apart, the host port clashes.
        """
        problems: list[Problem] = []
        for w in written:
            problems.extend(
                Problem(f"{w.path}.overrides.config_files", m)
                for m in config_file_overlaps(f.path for f in w.effective.service.config_files)
            )
            problems.extend(
                Problem(f"{w.path}.overrides.depends_on", m)
                for m in dependency_problems(
                    w.name, _written_depends_on(w.overrides), instances, stack=stack.name
                )
            )
        if not stack.enabled:
            return problems, []
        names = {w.name for w in written}
        requests: list[PortRequest] = []
        paths: dict[tuple[str, str], str] = {}
        for w in written:
            if not w.enabled:
                continue
            keys = set()
            for port in w.effective.service.ports:
                if not port.publish or port.host is None:
                    continue
                keys.add(port.key)
                index = next(
                    (
                        i
                        for i, p in enumerate(w.overrides.ports)
                        if p.key == port.key and p.host is not None
                    ),
                    None,
                )
                paths[(w.name, port.key)] = (
                    f"{w.path}.overrides.ports[{index}].host"
                    if index is not None
                    else f"{w.path}.template (ports {port.key})"
                )
                requests.append(
                    PortRequest(
                        stack=stack.name,
                        instance=w.name,
                        instance_id=w.instance_id,
                        key=port.key,
                        container_port=port.container,
                        protocol=port.protocol,
                        host_ip=port.host_ip,
                        pinned=port.host,
                    )
                )
            for key, (host, path) in sorted(w.pins.items()):
                if key in keys:
                    continue
                number, _, proto = key.partition("/")
                paths[(w.name, key)] = path
                requests.append(
                    PortRequest(
                        stack=stack.name,
                        instance=w.name,
                        instance_id=w.instance_id,
                        key=key,
                        container_port=int(number),
                        protocol=proto or "tcp",
                        host_ip="127.0.0.1",
                        pinned=host,
                    )
                )
        existing = [
            (iid, a)
            for iid, a in self._all_allocations(tx, stack.name)
            if not (a.stack == stack.name and a.instance in replaced)
        ]
        for inst in tx.list_instances(stack.id):
            if inst.name in names or not inst.enabled:
                continue
            existing.extend(
                (
                    inst.id,
                    PortAllocation(
                        stack=stack.name,
                        instance=inst.name,
                        container_port=p.container,
                        protocol=p.protocol,
                        host_port=p.host,
                        host_ip=p.host_ip or "127.0.0.1",
                    ),
                )
                for p in inst.overrides.ports
                if p.host is not None and not p.remove and p.publish is not False
            )
        ports = [
            Problem(paths[(req.instance, req.key)], message)
            for req, message in pin_conflicts(requests, existing)
        ]
        return problems, ports

    def _refuse_rule_problems(
        self,
        tx: StoreSession,
        stack: Stack,
        written: Sequence[WrittenInstance],
        instances: Collection[str],
        *,
        what: str,
        replaced: Collection[str] = (),
        error: type[ValidationError] = ValidationError,
    ) -> None:
        """Raise the error for :meth:`_rule_problems` (port clashes: ``PortConflictError``)."""
        problems, ports = self._rule_problems(tx, stack, written, instances, replaced=replaced)
        if problems:
            raise error([*problems, *ports], what=what)
        if ports:
            raise PortConflictError(ports, what=what)

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
            diagnostics.extend(
                PlanDiagnostic(
                    severity="error", code="unknown-dependency", instance=name, message=message
                )
                # The merge drops a self dependency; the rule reports the entry the user wrote.
                for message in dependency_problems(
                    name,
                    _written_depends_on(by_name[name].overrides, eff.service.depends_on),
                    by_name,
                    stack=stack.name,
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

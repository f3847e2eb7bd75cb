"""Use cases around ``devarch.yml`` and ``devarch.lock``: export, import, lock, init.

:class:`ManifestService` keeps the manifest rules in one file; it imports through the same write
rules as the instance service and applies through the plan and apply services.

See docs/manifest.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import attrs
from attrs import frozen

from devarch_core import _convert, naming
from devarch_core._parsing import short_repr, shorten
from devarch_core.errors import (
    DevarchError,
    ManifestError,
    NotFoundError,
    PortConflictError,
    Problem,
    StackLockedError,
    StalePlanError,
    ValidationError,
    WiringError,
)
from devarch_core.hostports import PortRequest
from devarch_core.lockpolicy import image_moved as _image_moved
from devarch_core.lockpolicy import lockfile_divergence
from devarch_core.manifest import InstanceSpec, LockedInstance, Lockfile, Manifest
from devarch_core.model import Instance, PortAllocation, Stack, Wire
from devarch_core.planning import Action, FieldChange, Plan
from devarch_core.ports import AppliedRecord, SealedSecret
from devarch_core.rendering import render_import
from devarch_core.secrets import Secret, SecretSlot
from devarch_core.usecases import rules
from devarch_core.usecases._helpers import (
    Service,
    network_problem,
    new_id,
    stack_of,
    template_for,
)
from devarch_core.usecases.apply import ApplyResult
from devarch_core.usecases.planner import refuse_plan_errors
from devarch_core.wiring import WiringNode, solve_wiring

if TYPE_CHECKING:
    from devarch_core.ports import Runtime, StoreSession
    from devarch_core.template import Template
    from devarch_core.usecases.rules import WrittenInstance

__all__ = [
    "ImportResult",
    "InitCancelledError",
    "InitInputs",
    "InitPreview",
    "InitResult",
    "ManifestService",
]

MANIFEST_SOURCE = "manifest"
#: Added when host ports pinned by a manifest's ``pins:`` block clash (e.g. a manifest exported
#: from another stack, imported under a new name).
PINS_ADVICE = (
    "the pins: block records the host ports devarch allocated for the stack the manifest was "
    "exported from; delete the block, or import with --no-pins (Python: ignore_pins=True) so "
    "devarch allocates free ports"
)


@frozen(kw_only=True)
class ImportResult(_convert.Unstructured):
    """What an import did (or would do, with ``dry_run``), in the plan's diff format."""

    stack: str
    created: bool
    actions: tuple[Action, ...]
    warnings: tuple[str, ...] = ()
    applied: bool = True

    @property
    def has_changes(self) -> bool:
        """True if the import changed (or would change) the store."""
        return self.created or bool(self.actions)

    def render_text(self) -> str:
        """Human-readable preview (:func:`devarch_core.rendering.render_import`)."""
        return render_import(self)


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, path))
        else:
            out[path] = value
    return out


def _instance_view(spec: InstanceSpec) -> dict[str, Any]:
    """What an import compares per instance (secret values never; only their names)."""
    data = spec.to_data()
    data.pop("pins", None)
    return _flat(data)


def _lockfile_warnings(stack: str, divergence: list[str], *, strict: bool) -> list[str]:
    """A stack's divergence from its lockfile as warnings; with ``strict``, refused."""
    if divergence and strict:
        raise ManifestError(
            [Problem("devarch.lock", d) for d in divergence],
            what=f"stack {stack} diverges from its lockfile",
        )
    return [f"lockfile: {d}" for d in divergence]


@frozen(kw_only=True)
class _StackSnapshot:
    stack: Stack
    instances: tuple[Instance, ...]
    wires: tuple[Wire, ...]
    secrets: tuple[SealedSecret, ...]
    applied: tuple[AppliedRecord, ...]
    allocations: tuple[tuple[str, PortAllocation], ...]


class InitCancelledError(DevarchError):
    """``init`` was not confirmed; nothing was changed."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        super().__init__(f"init of stack {stack} cancelled; nothing was changed")


@frozen(kw_only=True)
class _InitOutcome(_convert.Unstructured):
    """What ``init`` and its preview both report: the import first, then a plan (or none)."""

    imported: ImportResult

    def _plan(self) -> Plan | None:
        raise NotImplementedError

    @property
    def changed(self) -> bool:
        """True if init changed (a preview: would change) the store or the engine.

        A preview can tell only as far as its plan goes: none when the import would change
        something.
        """
        plan = self._plan()
        return self.imported.has_changes or (plan is not None and plan.has_changes)


@frozen(kw_only=True)
class InitResult(_InitOutcome):
    """What ``init`` did: the import, the apply, and the lockfile to write."""

    applied: ApplyResult
    lockfile: Lockfile
    warnings: tuple[str, ...] = ()

    def _plan(self) -> Plan:
        return self.applied.plan


@frozen(kw_only=True)
class InitPreview(_InitOutcome):
    """What ``init`` would do (:meth:`ManifestService.preview_init`); nothing was changed."""

    #: The plan, when the import would change nothing (otherwise the plan depends on the import,
    #: which a preview does not write).
    plan: Plan | None = None
    warnings: tuple[str, ...] = ()

    def _plan(self) -> Plan | None:
        return self.plan


class InitInputs(TypedDict, total=False):
    """Besides the manifest, what ``init`` reads: the keyword arguments init and its preview share.

    :meth:`ManifestService.init_stack` names them in its signature (with ``lock_timeout`` and
    ``confirm``); :meth:`ManifestService.preview_init` takes them as ``**inputs``.
    """

    #: The stack's devarch.lock: host ports for unpinned instances; divergence is reported.
    lockfile: Lockfile | None
    #: Refuse a divergence from the lockfile (or from ``pins.image``) instead of warning.
    strict: bool
    #: A value for each ``${secret:NAME}`` the store does not hold yet, by ``NAME``.
    secret_values: Mapping[str, str] | None
    #: Environment variables: ``DEVARCH_SECRET_NAME`` gives ``${secret:NAME}`` first.
    environ: Mapping[str, str] | None


class ManifestService(Service):
    """Export/import/lock/init use cases.

    Ports: the catalog, the engine (image digests; init applies), the store's key (secrets in a
    manifest are sealed). Init plans and applies through the plan and apply services.
    """

    @property
    def runtime(self) -> Runtime | None:
        """The configured engine, if any (image digests; init needs one)."""
        return self._ctx.runtime

    def _stack_runtime(self, stack: Stack) -> Runtime | None:
        """Where a stack's images are: its bound engine, else the configured one (or None).

        Image ids differ between engines: a lockfile or an export of a stack bound to another
        engine than the caller's environment names records that engine's (docs/engines.md).
        """
        if stack.engine:
            return self._ctx.engines.for_stack(stack)
        return self.runtime

    def template_for(self, instance: Instance) -> Template:
        """The catalog template an instance was made from (its pinned version)."""
        return template_for(self._ctx.catalog, instance)

    def plan(self, stack: str) -> Plan:
        """The stack's plan (see :meth:`PlanService.plan`)."""
        return self._ctx.planner.plan(stack)

    def apply(
        self, stack: str, plan: Plan | None = None, *, lock_timeout: float | None = None
    ) -> ApplyResult:
        """Apply the stack (see :meth:`ApplyService.apply`)."""
        return self._ctx.applier.apply(stack, plan, lock_timeout=lock_timeout)

    # -- export -----------------------------------------------------------------------------
    def export_manifest(self, stack: str, *, digests: bool = False) -> Manifest:
        """A stack as a manifest: overrides, explicit wires, host port pins, secret placeholders."""
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            instances = tx.list_instances(st.id)
            secrets = tx.list_secrets(st.id)
            wires = tx.list_wires(st.id)
            allocations = tx.list_port_allocations(st.id)
        runtime = self._stack_runtime(st) if digests else None
        specs = []
        for inst in instances:
            names = sorted(s.name for s in secrets if s.instance_id == inst.id)
            pinned = {p.key for p in inst.overrides.ports if p.host is not None}
            pins = {
                a.key: a.host_port
                for a in allocations
                if a.instance == inst.name and a.key not in pinned
            }
            digest = None
            if runtime is not None:
                image = (
                    self.template_for(inst).service.image
                    if inst.overrides.image is None
                    else inst.overrides.image
                )
                info = runtime.inspect_image(image)
                digest = (info.digest or info.id) if info else None
            specs.append(
                InstanceSpec(
                    name=inst.name,
                    template=inst.template,
                    template_version=inst.template_version,
                    description=inst.description,
                    enabled=inst.enabled,
                    overrides=attrs.evolve(inst.overrides, secret_refs={}),
                    secret_refs={n: inst.overrides.secret_refs.get(n, n) for n in names},
                    port_pins=pins,
                    image_digest=digest,
                )
            )
        return Manifest(
            stack=st.name,
            description=st.description,
            network=st.network,
            instances=tuple(specs),
            wires=tuple(wires),
        )

    def export_yaml(self, stack: str, *, digests: bool = False) -> str:
        """``devarch.yml`` text of a stack (deterministic), its first line the schema modeline."""
        from devarch_core._schemaparts import with_modeline  # noqa: PLC0415 - a leaf module

        return with_modeline("manifest", self.export_manifest(stack, digests=digests).to_yaml())

    # -- import -----------------------------------------------------------------------------
    def import_manifest(  # noqa: C901, PLR0912, PLR0915 - validation first, then one transaction
        self,
        manifest: Manifest,
        *,
        prune: bool = False,
        dry_run: bool = False,
        secret_values: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        lockfile: Lockfile | None = None,
        parse_problems: Sequence[Problem] = (),
        ignore_pins: bool = False,
    ) -> ImportResult:
        """Create or update the manifest's stack in one transaction, after validating everything.

        ``${secret:NAME}`` keeps an existing secret of the instance, else takes
        ``environ["DEVARCH_SECRET_NAME"]``, else ``secret_values[NAME]``; every missing secret is
        reported at once. With ``prune`` instances the file no longer has are removed. A
        ``lockfile`` supplies host ports for instances the manifest does not pin. Returns the
        changes in the plan's diff format; with ``dry_run`` nothing is written. With
        ``ignore_pins`` the manifest's ``pins:`` block (host ports, image digests) is ignored.

        Every rule plan and apply enforce on what is written is checked here first (see
        docs/manifest.md): nothing is written when one fails.
        """
        if ignore_pins:
            manifest = attrs.evolve(
                manifest,
                instances=tuple(
                    attrs.evolve(s, port_pins={}, image_digest=None) for s in manifest.instances
                ),
            )
        secret_values = secret_values or {}
        environ = environ or {}
        problems: list[Problem] = list(parse_problems)
        warnings: list[str] = []
        templates = {}
        for spec in manifest.instances:
            path = f"instances.{spec.name}"
            try:
                tmpl = self._ctx.catalog.get(spec.template, spec.template_version)
            except NotFoundError as exc:
                if spec.template_version is not None:
                    try:
                        tmpl = self._ctx.catalog.get(spec.template)
                    except NotFoundError:
                        problems.append(Problem(f"{path}.template", str(exc)))
                        continue
                    warnings.append(
                        f"{path}: template {spec.template} {spec.template_version} is not in "
                        f"the catalog; using {tmpl.version}"
                    )
                else:
                    problems.append(Problem(f"{path}.template", str(exc)))
                    continue
            templates[spec.name] = tmpl
            name = naming.container_name(manifest.stack, spec.name)
            if len(name) > naming.MAX_NAME_LENGTH:
                limit = naming.MAX_NAME_LENGTH
                message = f"container name {shorten(name)} is longer than {limit} characters"
                problems.append(Problem(path, message))
        manifest, given = self._seal_plain_secrets(manifest, templates)
        by_name = {s.name: s for s in manifest.instances}
        for i, wire in enumerate(manifest.wires):
            path = manifest.wire_path(i)
            cons = templates.get(wire.consumer)
            prov = templates.get(wire.provider) if wire.provider is not None else None
            if cons is None or (prov is None and wire.provider is not None):
                continue
            imp = next((x for x in cons.imports if x.name == wire.import_name), None)
            if prov is None:  # provider: null leaves an optional import unwired
                if imp is None:
                    missing = f"{wire.consumer} ({cons.name}) has no import {wire.import_name!r}"
                    problems.append(Problem(f"{path}.import", missing))
                elif imp.required:
                    what = f"{wire.import_name!r} is a required import of {cons.name}"
                    problems.append(
                        Problem(f"{path}.provider", what + "; it cannot be left unwired")
                    )
                continue
            if imp is None:
                shown = short_repr(wire.import_name)
                message = f"{wire.consumer} ({cons.name}) has no import {shown}"
                problems.append(Problem(f"{path}.import", message))
            elif not any(
                e.type == imp.type and (wire.export_name in (None, e.name)) for e in prov.exports
            ):
                shown = short_repr(imp.type)
                message = f"{wire.provider} ({prov.name}) exports no {shown} contract"
                problems.append(Problem(f"{path}.provider", message))
            if wire.consumer == wire.provider:
                problems.append(Problem(path, f"{wire.consumer} cannot be wired to itself"))
        image_runtime = self._image_runtime(manifest.stack)  # asked outside the transaction
        with self._ctx.uow.transaction() as tx:
            existing_stack = tx.get_stack(manifest.stack)
            existing = (
                {i.name: i for i in tx.list_instances(existing_stack.id)} if existing_stack else {}
            )
            sealed_now = (
                {(s.instance_id, s.name): s for s in tx.list_secrets(existing_stack.id)}
                if existing_stack
                else {}
            )
            existing_secrets = set(sealed_now)
            if existing_stack is None or existing_stack.network != manifest.network:
                clash = network_problem(tx, manifest.stack, manifest.network)
                if clash is not None:
                    problems.append(Problem("stack.network", clash))
            secret_plan: dict[str, dict[str, str | None]] = {}
            for spec in manifest.instances:
                current = existing.get(spec.name)
                for var, secret_name in spec.secret_refs.items():
                    path = f"instances.{spec.name}.overrides.environment.{var}"
                    env_key = f"DEVARCH_SECRET_{secret_name}"
                    value: str | None
                    if var in given.get(spec.name, {}):
                        # A plain value in the file: sealed, unless the store already holds it.
                        value = given[spec.name][var]
                        held = sealed_now.get((current.id, var)) if current is not None else None
                        if held is not None and self._ctx.keys.box.open(
                            SecretSlot(held.stack_id, held.instance_id, var), held.sealed
                        ) == Secret(value):
                            value = None
                    elif current is not None and (current.id, var) in existing_secrets:
                        value = None  # keep the existing secret
                    elif env_key in environ:
                        value = environ[env_key]
                    elif secret_name in secret_values:
                        value = secret_values[secret_name]
                    else:
                        problems.append(
                            Problem(
                                path,
                                f"secret {secret_name} has no value: set {env_key} or pass "
                                f"--secret {secret_name}=VALUE",
                            )
                        )
                        continue
                    secret_plan.setdefault(spec.name, {})[var] = value
                if spec.name not in existing:
                    container = naming.container_name(manifest.stack, spec.name)
                    holder = tx.find_container_name(container)
                    if holder is not None and holder[0] != manifest.stack:
                        problems.append(
                            Problem(
                                f"instances.{spec.name}",
                                f"container name {container} is already used by stack "
                                f"{holder[0]!r} (instance {holder[1]!r})",
                            )
                        )
            # validate merges (e.g. reservation above limit once layered), then the rules plan and
            # apply enforce (config file paths, depends_on, host port pins): one function for each.
            probe_stack = existing_stack or Stack(id="probe", name=manifest.stack)
            pins: dict[str, dict[str, int]] = {}
            written = []
            for spec in manifest.instances:
                wanted = (
                    dict(lockfile.instances[spec.name].ports)
                    if lockfile and spec.name in lockfile.instances
                    else {}
                )
                wanted.update(spec.port_pins)
                if wanted:
                    pins[spec.name] = wanted
                known = templates.get(spec.name)
                if known is None:
                    continue
                current = existing.get(spec.name)
                try:
                    item = rules.written(
                        known,
                        spec.overrides,
                        probe_stack,
                        spec.name,
                        instance_id=current.id if current else f"new:{spec.name}",
                        enabled=spec.enabled,
                    )
                except ValidationError as exc:
                    problems.extend(
                        Problem(
                            f"instances.{spec.name}.overrides" + (f".{p.path}" if p.path else ""),
                            p.message,
                        )
                        for p in exc.problems
                    )
                    continue
                where = {
                    key: (
                        host,
                        f"instances.{spec.name}.pins.ports.{key}"
                        if key in spec.port_pins
                        else f"devarch.lock: instances.{spec.name}.ports.{key}",
                    )
                    for key, host in wanted.items()
                }
                written.append(attrs.evolve(item, pins=where))
            names = set(by_name) if prune else set(by_name) | set(existing)
            replaced = set(existing) - set(by_name) if prune else set()
            rule_problems, port_problems = rules.rule_problems(
                tx, probe_stack, written, names, replaced=replaced
            )
            problems.extend(rule_problems)
            if not problems and not port_problems:
                # A manifest is a whole stack: its wiring must solve as the plan solves it.
                kept = [existing[n] for n in sorted(names) if n not in by_name]
                problems.extend(
                    self._wiring_problems(manifest, templates, written, kept, probe_stack)
                )
            if any(".pins.ports." in p.path for p in port_problems):
                port_problems.append(Problem("", PINS_ADVICE))
            if port_problems and not problems:
                raise PortConflictError(port_problems, what=f"cannot import stack {manifest.stack}")
            problems.extend(port_problems)
            if problems:
                raise ManifestError(problems, what=f"cannot import stack {shorten(manifest.stack)}")

            warnings.extend(self._pinned_image_warnings(manifest, image_runtime))

            # -- the preview ------------------------------------------------------------------
            actions: list[Action] = []
            for spec in manifest.instances:
                tmpl = templates[spec.name]
                new_spec = attrs.evolve(spec, template_version=tmpl.version)
                current = existing.get(spec.name)
                new_view = _instance_view(new_spec)
                if current is None:
                    changes = tuple(
                        FieldChange(field=k, new=v, source=MANIFEST_SOURCE, forces_recreate=False)
                        for k, v in new_view.items()
                    )
                    actions.append(
                        Action(
                            action="add",
                            instance=spec.name,
                            container=naming.container_name(manifest.stack, spec.name),
                            changes=changes,
                        )
                    )
                    continue
                old_view = _instance_view(
                    InstanceSpec(
                        name=current.name, template=current.template,
                        template_version=current.template_version, description=current.description,
                        enabled=current.enabled, overrides=current.overrides,
                        secret_refs={
                            n: current.overrides.secret_refs.get(n, n)
                            for (iid, n) in existing_secrets
                            if iid == current.id
                        },
                    )
                )  # fmt: skip
                changes = tuple(
                    FieldChange(
                        field=k,
                        old=old_view.get(k),
                        new=new_view.get(k),
                        source=MANIFEST_SOURCE,
                        forces_recreate=False,
                    )
                    for k in sorted(set(old_view) | set(new_view))
                    if old_view.get(k) != new_view.get(k)
                )
                changed_secrets = any(
                    v is not None for v in secret_plan.get(spec.name, {}).values()
                )
                if changed_secrets:
                    changes = (
                        *changes,
                        FieldChange(
                            field="secrets",
                            old="***",
                            new="***",
                            source=MANIFEST_SOURCE,
                            forces_recreate=False,
                        ),
                    )
                if changes:
                    actions.append(
                        Action(
                            action="modify",
                            instance=spec.name,
                            container=current.container_name,
                            changes=changes,
                        )
                    )
            if prune:
                for name, current in sorted(existing.items()):
                    if name not in by_name:
                        actions.append(
                            Action(action="remove", instance=name, container=current.container_name)
                        )
            created = existing_stack is None
            stack_changed = existing_stack is not None and (
                existing_stack.description != manifest.description
                or existing_stack.network != manifest.network
            )
            if stack_changed:
                actions.insert(
                    0,
                    Action(
                        action="modify",
                        instance="(stack)",
                        container=naming.network_name(manifest.stack, manifest.network),
                        changes=(
                            FieldChange(
                                field="description",
                                old=existing_stack.description if existing_stack else None,
                                new=manifest.description,
                                source=MANIFEST_SOURCE,
                                forces_recreate=False,
                            ),
                        ),
                    ),
                )
            result = ImportResult(
                stack=manifest.stack,
                created=created,
                actions=tuple(actions),
                warnings=tuple(warnings),
                applied=not dry_run,
            )
            if dry_run:
                return result
            self._write_import(
                tx, manifest, existing_stack, existing, templates, secret_plan, pins, prune=prune
            )
        return result

    def _wiring_problems(
        self,
        manifest: Manifest,
        templates: Mapping[str, Template],
        written: Sequence[WrittenInstance],
        kept: Sequence[Instance],
        stack: Stack,
    ) -> list[Problem]:
        """The wiring errors the plan would report for the imported stack.

        The wiring errors the plan would report for the imported stack (a required import
        without a provider, an ambiguous one, a cycle), from the same solver the plan runs.
        """
        effective = {w.name: w.effective.service.depends_on for w in written}
        nodes = [
            WiringNode(
                name=spec.name,
                enabled=spec.enabled and stack.enabled,
                template=templates[spec.name],
                depends_on=effective.get(spec.name),
            )
            for spec in manifest.instances
            if spec.name in templates
        ] + [
            WiringNode(
                name=i.name, enabled=i.enabled and stack.enabled, template=self.template_for(i)
            )
            for i in kept
        ]
        wiring = solve_wiring(nodes, manifest.wires, stack=manifest.stack)
        return [
            Problem(f"instances.{d.consumer}" if d.consumer else "wires", d.message)
            for d in wiring.diagnostics
            if d.is_error
        ]

    def _write_import(  # noqa: C901, PLR0912, PLR0917 - one write per part of the manifest
        self,
        tx: StoreSession,
        manifest: Manifest,
        stack: Stack | None,
        existing: Mapping[str, Instance],
        templates: Mapping[str, Any],
        secret_plan: Mapping[str, Mapping[str, str | None]],
        pins: Mapping[str, Mapping[str, int]],
        *,
        prune: bool,
    ) -> None:
        now = self._ctx.uow.now()
        if stack is None:
            stack = Stack(
                id=new_id(),
                name=manifest.stack,
                description=manifest.description,
                network=manifest.network,
                created_at=now,
                updated_at=now,
            )
            tx.add_stack(stack)
        elif stack.description != manifest.description or stack.network != manifest.network:
            stack = attrs.evolve(
                stack, description=manifest.description, network=manifest.network, updated_at=now
            )
            tx.update_stack(stack)
        ids = {}
        for spec in manifest.instances:
            tmpl = templates[spec.name]
            current = existing.get(spec.name)
            refs = {var: name for var, name in spec.secret_refs.items() if var != name}
            overrides = attrs.evolve(spec.overrides, secret_refs=refs)
            spec = attrs.evolve(spec, overrides=overrides)  # noqa: PLW2901
            if current is None:
                inst = Instance(
                    id=new_id(), stack_id=stack.id, stack=stack.name, name=spec.name,
                    template=tmpl.name, template_version=tmpl.version, description=spec.description,
                    enabled=spec.enabled, overrides=spec.overrides, created_at=now, updated_at=now,
                )  # fmt: skip
                tx.add_instance(inst)
            else:
                before = (
                    current.template, current.template_version, current.description,
                    current.enabled, current.overrides,
                )  # fmt: skip
                after = (tmpl.name, tmpl.version, spec.description, spec.enabled, spec.overrides)
                inst = attrs.evolve(
                    current, template=tmpl.name, template_version=tmpl.version,
                    description=spec.description, enabled=spec.enabled, overrides=spec.overrides,
                    updated_at=now if before != after else current.updated_at,
                )  # fmt: skip
                if inst != current:
                    tx.update_instance(inst)
            ids[spec.name] = inst.id
            for var, value in secret_plan.get(spec.name, {}).items():
                if value is not None:
                    self._ctx.secrets.put(tx, stack, inst, var, value)
            for key, host in pins.get(spec.name, {}).items():
                pin = PortRequest.of_pin(
                    key, host, stack=stack.name, instance=spec.name, instance_id=inst.id
                )
                tx.put_port_allocation(inst.id, pin.allocation())
        if prune:
            for name, current in existing.items():
                if name not in ids:
                    tx.delete_instance(current.id)
        current_wires = {(w.consumer, w.import_name): w for w in tx.list_wires(stack.id)}
        wanted = {(w.consumer, w.import_name): w for w in manifest.wires}
        for consumer, import_name in current_wires:
            if (consumer, import_name) not in wanted:
                tx.delete_wire(stack.id, consumer, import_name)
        for wire_key, wire in wanted.items():
            if current_wires.get(wire_key) != wire:
                tx.put_wire(stack.id, wire)

    def _seal_plain_secrets(
        self, manifest: Manifest, templates: Mapping[str, Template]
    ) -> tuple[Manifest, dict[str, dict[str, str]]]:
        """Take plain values of secret variables out of the manifest's overrides.

        A variable is secret when its template lists it in ``secrets`` or the overrides do
        (``overrides.secrets``). Its value is sealed in the store like ``instance set`` does and
        the instance reads it as a ``${secret:VAR}`` placeholder, so it is never kept in the
        overrides, compared in plain or exported. Returns the manifest without those values and
        ``{instance: {variable: value}}``.
        """
        given: dict[str, dict[str, str]] = {}
        specs = []
        for spec in manifest.instances:
            tmpl = templates.get(spec.name)
            if tmpl is None:
                specs.append(spec)
                continue
            overrides, plain = rules.split_secrets(tmpl, spec.overrides)
            if plain:
                given[spec.name] = plain
                refs = {**spec.secret_refs, **{var: var for var in plain}}
                spec = attrs.evolve(  # noqa: PLW2901
                    spec, overrides=overrides, secret_refs=dict(sorted(refs.items()))
                )
            specs.append(spec)
        return attrs.evolve(manifest, instances=tuple(specs)), given

    def import_yaml(
        self,
        /,  # so ``**options`` cannot take ``self`` (the facade forwards this signature)
        text: str | bytes,
        *,
        origin: str = "devarch.yml",
        **options: Any,  # noqa: ANN401
    ) -> ImportResult:
        """Parse ``devarch.yml`` text and import it (see :meth:`import_manifest`)."""
        manifest, problems = Manifest.check(Manifest.load(text, origin))
        if manifest is None or not manifest.stack:
            raise ManifestError(problems, what=f"invalid manifest {origin}")
        return self.import_manifest(manifest, parse_problems=problems, **options)

    # -- lockfile ---------------------------------------------------------------------------
    def lock_stack(self, stack: str) -> Lockfile:
        """The stack's lockfile as it is now: template hashes, images (engine ids), host ports."""
        manifest = self.export_manifest(stack)
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            instances = tx.list_instances(st.id)
            allocations = tx.list_port_allocations(st.id)
        locked = {}
        image_ids: dict[str, str | None] = {}
        runtime = self._stack_runtime(st)
        for inst in instances:
            tmpl = self.template_for(inst)
            image = inst.overrides.image or tmpl.service.image
            if image not in image_ids:
                info = runtime.inspect_image(image) if runtime is not None else None
                image_ids[image] = (info.digest or info.id) if info else None
            locked[inst.name] = LockedInstance(
                template=tmpl.name,
                template_version=tmpl.version,
                template_hash=tmpl.content_hash,
                image=image,
                image_digest=image_ids[image],
                ports={a.key: a.host_port for a in allocations if a.instance == inst.name},
            )
        return Lockfile(stack=st.name, manifest_hash=manifest.content_hash, instances=locked)

    def check_lock(self, stack: str, lockfile: Lockfile) -> list[str]:
        """How the stack diverges from a lockfile (empty when it matches)."""
        return lockfile_divergence(lockfile, self.lock_stack(stack))

    def init_stack(  # noqa: C901 - the refusals, each with its rollback
        self,
        manifest: Manifest,
        *,
        lockfile: Lockfile | None = None,
        strict: bool = False,
        secret_values: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        lock_timeout: float | None = None,
        confirm: Callable[[ImportResult, Plan], bool] | None = None,
    ) -> InitResult:
        """From a manifest (and lockfile) to a running stack: import, check the lock, apply, lock.

        Running it twice changes nothing: the import reports no changes and the plan is empty.
        With ``strict`` a divergence from the lockfile (template content, image, host ports) is
        refused before anything runs; otherwise it is returned as a warning.

        Atomic up to the engine: when the apply is refused before it touches the engine (no
        engine, an invalid manifest, wiring or host port errors in the plan, a lockfile
        divergence with ``strict``, another session applying, ``confirm`` saying no) the import
        is rolled back and the store is as it was. Once the engine was touched, a failure keeps
        the import and says so (:meth:`preview_init` changes nothing). ``confirm`` is given the
        import's changes and the plan before anything is applied (only when something would
        change); its refusal, or an error it raises, rolls the import back.
        """
        if self._ctx.runtime is None and not self._ctx.engine_choice.selected:
            # Refuse before the import writes anything, unless the stack is bound to a named
            # engine or the store has a default one (``target`` says how to configure one).
            with self._ctx.uow.transaction() as tx:
                self._ctx.engines.target(tx, tx.get_stack(manifest.stack))
        self._refuse_pinned_images(manifest, strict=strict)
        if lockfile is not None and strict:
            # Refuse before the import writes anything: a refused init leaves the store as it was.
            self.import_manifest(
                manifest,
                secret_values=secret_values,
                environ=environ,
                lockfile=lockfile,
                dry_run=True,
            )
            _lockfile_warnings(
                manifest.stack, self._manifest_divergence(manifest, lockfile), strict=True
            )
        before = self._stack_snapshot(manifest.stack)
        rolled_back = (
            f"\n(init changed nothing: the import of stack {manifest.stack} was rolled back)"
        )
        imported = self.import_manifest(
            manifest, secret_values=secret_values, environ=environ, lockfile=lockfile
        )
        warnings = list(imported.warnings)
        try:
            if lockfile is not None:
                divergence = self.check_lock(manifest.stack, lockfile)
                warnings.extend(_lockfile_warnings(manifest.stack, divergence, strict=strict))
            plan = self.plan(manifest.stack)
            refuse_plan_errors(manifest.stack, plan)
            if (
                confirm is not None
                and (imported.has_changes or plan.has_changes)
                and not confirm(imported, plan)
            ):
                raise InitCancelledError(manifest.stack)
        except DevarchError as exc:
            # Refused before the engine was touched: undo the import.
            self._restore_stack(manifest.stack, before)
            if imported.has_changes and not isinstance(exc, InitCancelledError):
                exc.message += rolled_back
            raise
        try:
            applied = self.apply(manifest.stack, plan, lock_timeout=lock_timeout)
        except (StackLockedError, StalePlanError, WiringError, PortConflictError) as exc:
            # Refused under the lock, before the engine was touched: undo the import.
            self._restore_stack(manifest.stack, before)
            if imported.has_changes:
                exc.message += rolled_back
            raise
        except DevarchError as exc:
            if imported.has_changes:
                exc.message += (
                    f"\n(the import was kept: stack {manifest.stack} is stored as the manifest "
                    "describes it; "
                    f"fix the cause, then run `devarch apply {manifest.stack}` or init again)"
                )
            raise
        return InitResult(
            imported=imported,
            applied=applied,
            lockfile=self.lock_stack(manifest.stack),
            warnings=tuple(warnings),
        )

    def preview_init(self, manifest: Manifest, **inputs: Unpack[InitInputs]) -> InitPreview:
        """What :meth:`init_stack` would do, changing nothing (``init --dry-run``).

        Takes init's own keyword arguments (:class:`InitInputs`: ``lockfile``, ``strict``,
        ``secret_values``, ``environ``); those that only matter when something runs
        (``lock_timeout``, ``confirm``) it does not take. Refuses what init would refuse before
        it imports (an invalid manifest, with ``strict`` a divergence from the lockfile or from
        ``pins.image``); otherwise returns the import's changes, the lockfile divergence as
        warnings, and the plan when the import changes nothing.
        """
        unknown = sorted(set(inputs) - InitInputs.__optional_keys__)
        if unknown:  # as a written-out signature would, for callers mypy does not check
            msg = f"preview_init() got an unexpected keyword argument {unknown[0]!r}"
            raise TypeError(msg)
        lockfile = inputs.get("lockfile")
        strict = inputs.get("strict", False)
        secret_values = inputs.get("secret_values")
        environ = inputs.get("environ")
        self._refuse_pinned_images(manifest, strict=strict)
        preview = self.import_manifest(
            manifest, secret_values=secret_values, environ=environ, lockfile=lockfile, dry_run=True
        )
        warnings = [*preview.warnings]
        if lockfile is not None:
            divergence = self._manifest_divergence(manifest, lockfile)
            warnings.extend(_lockfile_warnings(manifest.stack, divergence, strict=strict))
        plan = None
        if not preview.has_changes and self.runtime is not None:
            plan = self.plan(manifest.stack)
        return InitPreview(imported=preview, plan=plan, warnings=tuple(warnings))

    def _refuse_pinned_images(self, manifest: Manifest, *, strict: bool) -> None:
        """With ``strict``, refuse ``pins.image`` digests the engine's images do not match."""
        runtime = self._image_runtime(manifest.stack) if strict else None
        if strict and (pinned := self._pinned_image_warnings(manifest, runtime)):
            raise ManifestError(
                [Problem(p.partition(": ")[0], p.partition(": ")[2]) for p in pinned],
                what=f"stack {manifest.stack} diverges from the image digests its manifest pins",
            )

    def _stack_snapshot(self, name: str) -> _StackSnapshot | None:
        """Everything the store holds for one stack (to undo an import), or None if absent."""
        with self._ctx.uow.transaction() as tx:
            stack = tx.get_stack(name)
            if stack is None:
                return None
            instances = tx.list_instances(stack.id)
            ids = {i.name: i.id for i in instances}
            records = {r.instance_id: r for r in tx.list_applied(stack.id)}
            return _StackSnapshot(
                stack=stack,
                instances=tuple(instances),
                wires=tuple(tx.list_wires(stack.id)),
                secrets=tuple(tx.list_secrets(stack.id)),
                applied=tuple(records[i.id] for i in instances if i.id in records),
                allocations=tuple(
                    (ids[a.instance], a)
                    for a in tx.list_port_allocations(stack.id)
                    if a.instance in ids
                ),
            )

    def _restore_stack(self, name: str, snapshot: _StackSnapshot | None) -> None:
        """Put one stack back as :meth:`_stack_snapshot` saw it (delete it if it was absent)."""
        with self._ctx.uow.transaction() as tx:
            current = tx.get_stack(name)
            if current is not None:
                tx.delete_stack(current.id)
            if snapshot is None:
                return
            tx.add_stack(snapshot.stack)
            for inst in snapshot.instances:
                tx.add_instance(inst)
            for wire in snapshot.wires:
                tx.put_wire(snapshot.stack.id, wire)
            for sealed in snapshot.secrets:
                tx.put_secret(sealed)
            for record in snapshot.applied:
                tx.put_applied(record)
            for instance_id, alloc in snapshot.allocations:
                tx.put_port_allocation(instance_id, alloc)

    def _manifest_divergence(self, manifest: Manifest, lockfile: Lockfile) -> list[str]:
        """What of a lockfile a manifest would break, judged before importing it.

        Compares the stack, the instances, template content, images and their engine digests,
        and host ports the manifest pins.
        """
        if lockfile.stack != manifest.stack:
            return [f"the lockfile is for stack {lockfile.stack!r}, not {manifest.stack!r}"]
        specs = {s.name: s for s in manifest.instances}
        runtime = self._image_runtime(manifest.stack)
        problems = [
            f"{name} is in the lockfile but not in the stack"
            for name in sorted(set(lockfile.instances) - set(specs))
        ]
        for name, spec in sorted(specs.items()):
            old = lockfile.instances.get(name)
            if old is None:
                problems.append(f"{name} is not in the lockfile")
                continue
            try:
                tmpl = self._ctx.catalog.get(spec.template, spec.template_version)
            except NotFoundError:
                tmpl = self._ctx.catalog.get(spec.template)
            if old.template_hash != tmpl.content_hash:
                problems.append(
                    f"{name}: template {tmpl.name}@{tmpl.version} changed "
                    f"({old.template_hash[:19]} → {tmpl.content_hash[:19]})"
                )
            image = spec.overrides.image or tmpl.service.image
            if old.image != image:
                problems.append(f"{name}: image {old.image} → {image}")
            elif old.image_digest and (
                moved := _image_moved(image, self._engine_digest(image, runtime), old.image_digest)
            ):
                problems.append(f"{name}: {moved}")
            pins = dict(spec.port_pins)
            pins.update({p.key: p.host for p in spec.overrides.ports if p.host is not None})
            problems.extend(
                f"{name}: host port for {key} is {pins[key]}, locked {old.ports[key]}"
                for key in sorted(set(pins) & set(old.ports))
                if pins[key] != old.ports[key]
            )
        return problems

    def _image_runtime(self, name: str) -> Runtime | None:
        """The engine with stack ``name``'s images: bound, else configured; None if none answers.

        For the digest checks of an import: a stack already bound to an engine is compared with
        that engine's images, not with those of the caller's environment.
        """
        with self._ctx.uow.transaction() as tx:
            stack = tx.get_stack(name)
        if stack is None or not stack.engine:
            return self.runtime
        try:
            return self._ctx.engines.for_stack(stack)
        except DevarchError:
            return None

    @staticmethod
    def _engine_digest(image: str, runtime: Runtime | None) -> str | None:
        """The engine's digest (or id) of an image, None when absent or no engine answers."""
        if runtime is None:
            return None
        try:
            info = runtime.inspect_image(image)
        except DevarchError:
            return None
        return (info.digest or info.id) if info else None

    def _pinned_image_warnings(self, manifest: Manifest, runtime: Runtime | None) -> list[str]:
        """``pins.image`` digests the engine's image does not match, as the lockfile check says."""
        found = []
        for spec in manifest.instances:
            if not spec.image_digest:
                continue
            try:
                tmpl = self._ctx.catalog.get(spec.template, spec.template_version)
            except NotFoundError:
                continue
            image = spec.overrides.image or tmpl.service.image
            moved = _image_moved(
                image, self._engine_digest(image, runtime), spec.image_digest, "pinned"
            )
            if moved:
                found.append(f"instances.{spec.name}.pins.image: {moved}")
        return found

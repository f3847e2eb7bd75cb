"""The write-time rules: what plan or apply would refuse, checked before a value is stored.

Functions over a store session; the instance, stack and manifest services call them, and the
plan calls the same rule functions (``dependency_problems``, ``pin_conflicts``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs
from attrs import frozen

from devarch_core.errors import PortConflictError, Problem, ValidationError
from devarch_core.hostports import PortRequest, pin_conflicts
from devarch_core.merge import EffectiveConfig, resolve
from devarch_core.model import Instance, PortAllocation, Stack
from devarch_core.overrides import Overrides
from devarch_core.spec import config_file_overlaps
from devarch_core.usecases._helpers import template_for
from devarch_core.wiring import dependency_problems

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from devarch_core.catalog import Catalog
    from devarch_core.ports import StoreSession
    from devarch_core.template import Template

__all__ = [
    "WrittenInstance",
    "all_allocations",
    "check_instance_rules",
    "pinned_ports",
    "refuse_rule_problems",
    "rule_problems",
    "split_secrets",
    "stack_names",
    "without_host_pins",
    "written",
    "written_depends_on",
]


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


def written_depends_on(overrides: Overrides, merged: Sequence[str] = ()) -> list[str]:
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


def split_secrets(template: Template, overrides: Overrides) -> tuple[Overrides, dict[str, str]]:
    """Move values of secret variables out of the overrides (they are sealed in the store)."""
    secret_names = set(template.secrets) | set(overrides.secrets)
    plain = {k: v for k, v in overrides.environment.items() if k in secret_names and v is not None}
    if not plain:
        return overrides, {}
    env = {k: v for k, v in overrides.environment.items() if k not in plain}
    return attrs.evolve(overrides, environment=env), plain


def written(
    template: Template,
    overrides: Overrides,
    stack: Stack,
    name: str,
    *,
    instance_id: str,
    enabled: bool,
) -> WrittenInstance:
    """The instance for the write rules; refuses overrides whose merged result is invalid.

    (E.g. a reservation above the limit), before they are written rather than at the next plan.
    """
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


def written_from(catalog: Catalog, stack: Stack, instance: Instance) -> WrittenInstance:
    """:func:`written` for an instance as stored (or about to be)."""
    return written(
        template_for(catalog, instance),
        instance.overrides,
        stack,
        instance.name,
        instance_id=instance.id,
        enabled=instance.enabled,
    )


def check_instance_rules(
    tx: StoreSession, catalog: Catalog, stack: Stack, inst: Instance, *, what: str
) -> None:
    """The write rules for one stored instance as it is about to be (overrides, enabled)."""
    names = stack_names(tx, stack, inst.overrides, inst.name)
    refuse_rule_problems(tx, stack, [written_from(catalog, stack, inst)], names, what=what)


def stack_names(tx: StoreSession, stack: Stack, overrides: Overrides, name: str) -> set[str]:
    """The stack's instance names with ``name``, as :func:`rule_problems` needs them.

    Only its ``depends_on`` check reads them: when the overrides add no entry, the stack's
    instances are not loaded (``{name}`` is enough).
    """
    if not written_depends_on(overrides):
        return {name}
    return {i.name for i in tx.list_instances(stack.id)} | {name}


def _pinned(stack: Stack, inst: Instance) -> list[tuple[str, PortAllocation]]:
    """The host ports an instance's overrides pin, as allocations."""
    owner = {"stack": stack.name, "instance": inst.name, "instance_id": inst.id}
    found = []
    for port in inst.overrides.ports:
        if port.host is None or port.remove or port.publish is False:
            continue
        pin = PortRequest.of_pin(port.key, port.host, host_ip=port.host_ip, **owner)
        found.append((inst.id, pin.allocation()))
    return found


def pinned_ports(stack: Stack, inst: Instance) -> list[tuple[str, PortAllocation]]:
    """The host ports an instance's overrides pin, as ``(instance id, allocation)``."""
    return _pinned(stack, inst)


def all_allocations(
    tx: StoreSession,
    planned: str,
    planned_instances: Sequence[Instance] | None = None,
    *,
    engine: str | None = None,
) -> list[tuple[str, PortAllocation]]:
    """Every host port the store knows as taken (on ``engine``, when given).

    Recorded allocations, plus ports pinned by enabled instances of other stacks that have not
    been applied yet (so two stacks pinning one port conflict at plan time, whichever applies
    first). Host ports are per engine: with ``engine`` (the planned stack's), stacks bound to
    another engine are left out; unbound stacks count everywhere (they may land on it). Without
    ``engine`` the planned stack's own binding is used, or every stack when it has none.
    ``planned_instances``: the instances of stack ``planned`` when the caller has them
    already (read in the same transaction), so they are not loaded twice.
    """
    if engine is None:
        own = tx.get_stack(planned)
        engine = own.engine if own is not None else None
    ids: dict[tuple[str, str], str] = {}
    pinned: list[tuple[str, PortAllocation]] = []
    elsewhere: set[str] = set()
    for st in tx.list_stacks():
        if engine is not None and st.engine is not None and st.engine != engine:
            elsewhere.add(st.name)
            continue
        given = planned_instances if st.name == planned else None
        for inst in tx.list_instances(st.id) if given is None else given:
            ids[(st.name, inst.name)] = inst.id
            if st.name == planned or not (st.enabled and inst.enabled):
                continue
            pinned.extend(_pinned(st, inst))
    recorded = [
        (ids.get((a.stack, a.instance), f"{a.stack}/{a.instance}"), a)
        for a in tx.list_port_allocations(None)
        if a.stack not in elsewhere
    ]
    known = {(i, a.key) for i, a in recorded}
    return recorded + [(i, a) for i, a in pinned if (i, a.key) not in known]


def _port_requests(
    stack: Stack, w: WrittenInstance, paths: dict[tuple[str, str], str]
) -> list[PortRequest]:
    """The host ports ``w`` pins (its effective ports, then its ``pins``), with their paths."""
    requests = []
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
            PortRequest.of_port(port, stack=stack.name, instance=w.name, instance_id=w.instance_id)
        )
    for key, (host, path) in sorted(w.pins.items()):
        if key in keys:
            continue
        pin = PortRequest.of_pin(
            key, host, stack=stack.name, instance=w.name, instance_id=w.instance_id
        )
        paths[(w.name, pin.key)] = path
        requests.append(pin)
    return requests


def rule_problems(
    tx: StoreSession,
    stack: Stack,
    written: Sequence[WrittenInstance],
    instances: Collection[str],
    *,
    replaced: Collection[str] = (),
) -> tuple[list[Problem], list[Problem]]:
    """What plan or apply would refuse in ``written``, with the path of each value.

    ``written`` are instances about to be stored in ``stack``, whose instances will then be
    ``instances``. The same rule functions the plan calls: config file paths that overlap,
    ``depends_on`` entries that are missing or the instance itself, host port pins that clash
    with each other or with another instance of the store. Pins count as the plan counts them:
    only for enabled instances of enabled stacks (so a disabled stack may share a pin with an
    enabled one, and enabling it checks again). ``replaced`` names this stack's instances that
    the write removes (their allocations no longer count). Returns the problems and, apart, the
    host port clashes.
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
                w.name, written_depends_on(w.overrides), instances, stack=stack.name
            )
        )
    if not stack.enabled:
        return problems, []
    names = {w.name for w in written}
    requests: list[PortRequest] = []
    paths: dict[tuple[str, str], str] = {}
    for w in written:
        if w.enabled:
            requests.extend(_port_requests(stack, w, paths))
    if all(req.pinned is None for req in requests):
        # Nothing pinned, nothing can clash (pin_conflicts ignores unpinned requests): do not
        # load every instance of the store to find the taken ports.
        return problems, []
    existing = [
        (iid, a)
        for iid, a in all_allocations(tx, stack.name)
        if not (a.stack == stack.name and a.instance in replaced)
    ]
    for inst in tx.list_instances(stack.id):
        if inst.name in names or not inst.enabled:
            continue
        existing.extend(_pinned(stack, inst))
    ports = [
        Problem(paths[(req.instance, req.key)], message)
        for req, message in pin_conflicts(requests, existing)
    ]
    return problems, ports


def refuse_rule_problems(
    tx: StoreSession,
    stack: Stack,
    written: Sequence[WrittenInstance],
    instances: Collection[str],
    *,
    what: str,
    replaced: Collection[str] = (),
    error: type[ValidationError] = ValidationError,
) -> None:
    """Raise the error for :func:`rule_problems` (port clashes: ``PortConflictError``)."""
    problems, ports = rule_problems(tx, stack, written, instances, replaced=replaced)
    if problems:
        raise error([*problems, *ports], what=what)
    if ports:
        raise PortConflictError(ports, what=what)

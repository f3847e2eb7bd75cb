"""The data path's first half in one pass: wiring on declared contracts, then one merge each.

1. The wiring solver runs on what the templates declare (exports, imports) and on each enabled
   instance's declared ``depends_on`` (template + user overrides): nothing it needs comes from a
   merged result.
2. Instances are resolved in dependency order (waves), each exactly once, with the injections
   of its wires. A provider is resolved before its consumers, so ``${env.X}`` in an export reads
   the provider's effective environment (its own wires included).

Wires stay :class:`~devarch_core.wiring.ResolvedWire` values until the plan is written out. See
docs/architecture.md#data-path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from attrs import frozen

from devarch_core.errors import WiringError
from devarch_core.merge import EffectiveConfig, WireInjection, resolve
from devarch_core.model import Instance
from devarch_core.planning import PlanDiagnostic
from devarch_core.usecases._helpers import template_for
from devarch_core.usecases.rules import written_depends_on
from devarch_core.wiring import (
    ResolvedWire,
    WiringNode,
    WiringPlan,
    dependency_edges,
    dependency_problems,
    dependency_waves,
    injections_for,
    solve_wiring,
)

if TYPE_CHECKING:
    from devarch_core.catalog import Catalog
    from devarch_core.model import Stack
    from devarch_core.overrides import Overrides
    from devarch_core.ports import StoreSession
    from devarch_core.secrets import Secret
    from devarch_core.spec import EnvValue
    from devarch_core.template import Template

__all__ = ["ResolvedStack", "declared_depends_on", "resolve_instance", "resolve_stack"]


@frozen(kw_only=True)
class ResolvedStack:
    """A stack's enabled instances resolved with their wires, and what the solver found."""

    instances: tuple[Instance, ...]
    #: Enabled instance name -> its effective config (template + wires + user), in wave order
    #: (the order host ports are allocated in).
    effective: Mapping[str, EffectiveConfig]
    diagnostics: tuple[PlanDiagnostic, ...]
    wiring: WiringPlan
    #: Instances that can start together, dependencies first.
    waves: tuple[tuple[str, ...], ...]


def declared_depends_on(template: Template, overrides: Overrides, name: str) -> tuple[str, ...]:
    """An instance's ``depends_on`` from its template and its overrides (no wires), sorted.

    The merge's rule for that field restricted to the declared layers: template entries, plus
    the entries the user adds, minus those the user removes, never the instance itself. The
    wiring solver needs it before anything is merged (wires add their own edges).
    """
    deps = set(template.service.depends_on)
    for dep, on in overrides.depends_on.items():
        if on:
            deps.add(dep)
        else:
            deps.discard(dep)
    deps.discard(name)
    return tuple(sorted(deps))


def resolve_instance(
    catalog: Catalog,
    stack: Stack,
    instance: Instance,
    secrets: Mapping[str, Secret] | None,
) -> EffectiveConfig:
    """An instance merged without wires (a disabled instance's effective config)."""
    return resolve(
        template_for(catalog, instance),
        instance.overrides,
        stack=stack,
        instance=instance,
        secrets=secrets,
    )


def resolve_stack(
    tx: StoreSession,
    catalog: Catalog,
    stack: Stack,
    secrets: Mapping[str, Mapping[str, Secret]],
) -> ResolvedStack:
    """Wire the stack on its declared contracts, then resolve each enabled instance once.

    ``secrets`` are the stack's opened secret values (instance id -> variable -> value).
    """
    instances = tx.list_instances(stack.id)
    templates = {i.name: template_for(catalog, i) for i in instances}
    by_name = {i.name: i for i in instances}
    active = [i.name for i in instances if i.enabled and stack.enabled]
    declared = {
        name: declared_depends_on(templates[name], by_name[name].overrides, name) for name in active
    }
    nodes = [
        WiringNode(
            name=i.name,
            enabled=i.name in declared,
            template=templates[i.name],
            depends_on=declared.get(i.name),
        )
        for i in instances
    ]
    wiring = solve_wiring(nodes, tx.list_wires(stack.id), stack=stack.name)
    diagnostics = [
        PlanDiagnostic(severity=d.severity, code=d.code, message=d.message, instance=d.consumer)
        for d in wiring.diagnostics
    ]
    for name in active:
        diagnostics.extend(
            PlanDiagnostic(
                severity="error", code="unknown-dependency", instance=name, message=message
            )
            # The merge drops a self dependency; the rule reports the entry the user wrote.
            for message in dependency_problems(
                name,
                written_depends_on(by_name[name].overrides, declared[name]),
                by_name,
                stack=stack.name,
            )
        )
    edges = dependency_edges(nodes, wiring)
    try:
        waves = dependency_waves(edges)
    except WiringError:
        waves = [sorted(edges)]  # the cycle is already a diagnostic; keep planning to show it
    containers = {name: by_name[name].container_name for name in active}
    effective: dict[str, EffectiveConfig] = {}
    unwired: dict[str, EffectiveConfig] = {}

    def environment(provider: str) -> Mapping[str, EnvValue]:
        """A provider's effective environment; resolved first, except on a dependency cycle."""
        if provider in effective:
            return effective[provider].service.environment
        if provider not in unwired:  # only on a cycle, which the plan reports as an error
            inst = by_name[provider]
            unwired[provider] = resolve_instance(catalog, stack, inst, secrets.get(inst.id))
        return unwired[provider].service.environment

    # Each consumer's wires and the nodes by name, found once (not by a scan per consumer).
    wires_into: dict[str, list[ResolvedWire]] = {}
    for wire in wiring.wires:
        wires_into.setdefault(wire.consumer, []).append(wire)
    nodes_by_name = {n.name: n for n in nodes}
    rendered: dict[tuple[object, ...], WireInjection] = {}
    for wave in waves:
        for name in wave:
            into = WiringPlan(wires=tuple(wires_into.get(name, ())))
            providers = {w.provider for w in into.wires if w.provider in containers}
            try:
                injections = injections_for(
                    name,
                    nodes_by_name,
                    into,
                    containers=containers,
                    environments={p: environment(p) for p in sorted(providers)},
                    stack=stack.name,
                    rendered=rendered,
                )
            except (WiringError, KeyError) as exc:
                diagnostics.append(
                    PlanDiagnostic(severity="error", code="wiring", instance=name, message=str(exc))
                )
                injections = []
            inst = by_name[name]
            effective[name] = resolve(
                templates[name],
                inst.overrides,
                stack=stack,
                instance=inst,
                injections=injections,
                secrets=secrets.get(inst.id),
            )
    return ResolvedStack(
        instances=tuple(instances),
        effective=effective,
        diagnostics=tuple(diagnostics),
        wiring=wiring,
        waves=tuple(tuple(w) for w in waves),
    )

"""The wiring solver: which provider satisfies each import, and the start order.

Pure and deterministic: it takes the instances of one stack (their templates and enabled flags) and
the explicit wires the user pinned, and computes the wires planning uses, with diagnostics for
what cannot be wired. Planning never writes wires; it calls :func:`solve_wiring` every time.

- :func:`solve_wiring` auto-wires each import of each enabled consumer to the single enabled
  instance of the stack (never itself) exporting the import's type, validates explicit wires, and
  reports ``missing``, ``ambiguous``, ``invalid-wire`` and ``cycle`` diagnostics.
- :func:`render_injection` turns one resolved wire into the environment it injects into the
  consumer (``${host}``, ``${port}``, ``${protocol}``, ``${env.NAME}``), keeping secrets secret.
- :func:`dependency_waves` orders instances in waves that can start in parallel, and names a cycle.
- Drawing the wiring (Mermaid, DOT) is :func:`devarch_core.rendering.wiring_graph`.

See docs/architecture.md#wiring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import attrs
from attrs import frozen

from devarch_core import _convert
from devarch_core._parsing import short_repr
from devarch_core.errors import WiringError
from devarch_core.merge import WireInjection
from devarch_core.secrets import Secret
from devarch_core.template import Template

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, MutableMapping

    from devarch_core.model import Wire
    from devarch_core.spec import EnvValue
    from devarch_core.template import Export, Import

__all__ = [
    "Diagnostic",
    "DiagnosticCode",
    "ResolvedWire",
    "Severity",
    "WiringNode",
    "WiringPlan",
    "dependency_problems",
    "dependency_waves",
    "find_cycles",
    "injections_for",
    "render_injection",
    "solve_wiring",
]

Severity = Literal["error", "warning", "info"]
DiagnosticCode = Literal["missing", "ambiguous", "invalid-wire", "cycle", "cycle-skipped"]

_VALUE_REF = re.compile(r"\$\{([^}]*)\}")
#: Shown in hints when the caller did not say which stack is being solved.
_STACK_PLACEHOLDER = "STACK"


def _name_set(names: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if names is None else tuple(sorted(set(names)))


@frozen(kw_only=True)
class WiringNode:
    """One instance of the stack as the solver sees it: its name, enabled flag and template."""

    name: str
    enabled: bool = True
    template: Template
    #: Instances it depends on besides its wires (template + user ``depends_on``); ``None`` means
    #: the template's own ``depends_on``. Only used to detect dependency cycles.
    depends_on: tuple[str, ...] | None = attrs.field(default=None, converter=_name_set)

    @property
    def dependencies(self) -> tuple[str, ...]:
        """Non-wire dependencies (never itself)."""
        deps = self.template.service.depends_on if self.depends_on is None else self.depends_on
        return tuple(d for d in deps if d != self.name)

    def export(self, name: str) -> Export | None:
        """Return the export called ``name``, if any."""
        return next((e for e in self.template.exports if e.name == name), None)

    def import_(self, name: str) -> Import | None:
        """Return the import called ``name``, if any."""
        return next((i for i in self.template.imports if i.name == name), None)

    def exports_of_type(self, kind: str) -> tuple[Export, ...]:
        """Return the exports whose contract type is ``kind``."""
        return tuple(e for e in self.template.exports if e.type == kind)


@frozen
class ResolvedWire(_convert.Unstructured):
    """A wire planning uses: a consumer's import satisfied by one export of a provider.

    Built positionally in the solver (``ResolvedWire(consumer, import, provider, export,
    explicit=...)``): the order is the wire's own, consumer side first.
    """

    consumer: str
    import_name: str
    provider: str
    export_name: str
    #: ``True`` when the user pinned it, ``False`` when the solver chose it.
    explicit: bool


@frozen(kw_only=True)
class Diagnostic(_convert.Unstructured):
    """Something the solver could not wire, or a wire it refuses."""

    severity: Severity
    code: DiagnosticCode
    consumer: str
    import_name: str
    message: str
    #: Providers that could satisfy the import (``ambiguous``), or the instances of a ``cycle``.
    candidates: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        """Whether it blocks apply."""
        return self.severity == "error"

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


@frozen(kw_only=True)
class WiringPlan(_convert.Unstructured):
    """The wires of a stack and the diagnostics of what could not be wired, in a stable order."""

    wires: tuple[ResolvedWire, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def ok(self) -> bool:
        """No diagnostic is an error: apply may proceed."""
        return not self.errors

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """The diagnostics that block apply."""
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """The diagnostics that do not block apply (warnings and infos)."""
        return tuple(d for d in self.diagnostics if not d.is_error)

    def wires_of(self, consumer: str) -> tuple[ResolvedWire, ...]:
        """Return the wires into ``consumer``, by import name."""
        return tuple(w for w in self.wires if w.consumer == consumer)

    def wire(self, consumer: str, import_name: str) -> ResolvedWire | None:
        """Return the wire satisfying one import, if any."""
        return next(
            (w for w in self.wires if w.consumer == consumer and w.import_name == import_name), None
        )

    def raise_for_errors(self) -> None:
        """Raise ``WiringError`` listing every error diagnostic, if there is any."""
        errors = self.errors
        if not errors:
            return
        if len(errors) == 1:
            raise WiringError(errors[0].message)
        lines = "\n".join(f"  - {d.message}" for d in errors)
        raise WiringError(f"wiring has {len(errors)} errors:\n{lines}")


def _severity(required: bool) -> Severity:
    return "error" if required else "warning"


def _hint(stack: str | None, consumer: str, import_name: str, provider: str) -> str:
    return f"devarch wire add {stack or _STACK_PLACEHOLDER} {consumer} {import_name} {provider}"


def _describe_import(consumer: str, imp: Import) -> str:
    kind = "required import" if imp.required else "optional import"
    return f"{consumer}: {kind} {short_repr(imp.name)} (type {imp.type})"


@frozen
class _ExportIndex:
    """The stack's exports by contract type, built once per solve (not once per import).

    ``enabled``: type -> ``(provider, export)`` of every enabled instance, in the order of the
    nodes given to the solver and of each template's exports (the order a scan of every node
    finds them in); ``disabled``: type -> the disabled instances exporting it.
    """

    enabled: Mapping[str, Sequence[tuple[str, str]]]
    disabled: Mapping[str, Sequence[str]]

    @classmethod
    def of(cls, nodes: Iterable[WiringNode]) -> _ExportIndex:
        enabled: dict[str, list[tuple[str, str]]] = {}
        disabled: dict[str, list[str]] = {}
        for node in nodes:
            if node.enabled:
                for export in node.template.exports:
                    enabled.setdefault(export.type, []).append((node.name, export.name))
            else:
                for kind in dict.fromkeys(e.type for e in node.template.exports):
                    disabled.setdefault(kind, []).append(node.name)
        return cls(enabled, disabled)


def _auto_wire(
    node: WiringNode,
    imp: Import,
    index: _ExportIndex,
    stack: str | None,
) -> ResolvedWire | Diagnostic:
    matches = [m for m in index.enabled.get(imp.type, ()) if m[0] != node.name]
    if len(matches) == 1:
        provider, export = matches[0]
        return ResolvedWire(node.name, imp.name, provider, export, explicit=False)
    if not matches:
        return _missing(node, imp, index)
    return _ambiguous(node, imp, matches, stack)


def _missing(node: WiringNode, imp: Import, index: _ExportIndex) -> Diagnostic:
    disabled = sorted(o for o in index.disabled.get(imp.type, ()) if o != node.name)
    note = ""
    if disabled:
        verb = "is" if len(disabled) == 1 else "are"
        note = f" ({', '.join(disabled)} would, but {verb} disabled)"
    advice = (
        f"add an instance whose template exports {imp.type}, or enable one"
        if imp.required
        else "it stays unwired"
    )
    return _import_diagnostic(
        "missing",
        node,
        imp,
        f"{_describe_import(node.name, imp)} has no provider: "
        f"no other enabled instance exports {imp.type}{note}; {advice}",
    )


def _ambiguous(
    node: WiringNode, imp: Import, matches: Sequence[tuple[str, str]], stack: str | None
) -> Diagnostic:
    providers = sorted({p for p, _ in matches})
    hint = _hint(stack, node.name, imp.name, "PROVIDER")
    if len(providers) == len(matches):
        candidates = tuple(providers)
        how = f"wire one explicitly: {hint} (PROVIDER one of {', '.join(candidates)})"
    else:  # one instance exports the type several times: the export must be named too
        candidates = tuple(sorted(f"{p}.{e}" for p, e in matches))
        how = f"wire one explicitly, naming the export: {hint} (one of {', '.join(candidates)})"
    return _import_diagnostic(
        "ambiguous",
        node,
        imp,
        f"{_describe_import(node.name, imp)} is ambiguous: {len(candidates)} candidates "
        f"export {imp.type}: {', '.join(candidates)}; {how}",
        candidates=candidates,
    )


def _import_diagnostic(
    code: DiagnosticCode,
    node: WiringNode,
    imp: Import,
    message: str,
    candidates: tuple[str, ...] = (),
) -> Diagnostic:
    """A finding about one import of ``node``: an error if the import is required."""
    return Diagnostic(
        severity=_severity(imp.required),
        code=code,
        consumer=node.name,
        import_name=imp.name,
        message=message,
        candidates=candidates,
    )


def _invalid(wire: Wire, problems: Sequence[str], *, label: str = "") -> Diagnostic:
    if not label:
        label = f"wire {wire.consumer}.{wire.import_name} -> {wire.provider or 'none'}"
        if wire.export_name:
            label += f".{wire.export_name}"
    return Diagnostic(
        severity="error",
        code="invalid-wire",
        consumer=wire.consumer,
        import_name=wire.import_name,
        message=f"{label} is invalid: {'; '.join(problems)}",
    )


def _check_names(wire: Wire, by_name: Mapping[str, WiringNode]) -> list[str]:
    """Check that the consumer, its import and the provider exist and differ."""
    consumer = by_name.get(wire.consumer)
    problems: list[str] = []
    if consumer is None:
        problems.append(f"consumer {short_repr(wire.consumer)} is not an instance of the stack")
    if wire.provider is None or wire.provider not in by_name:
        problems.append(f"provider {short_repr(wire.provider)} is not an instance of the stack")
    if wire.provider == wire.consumer:
        problems.append(f"{wire.consumer} cannot be wired to itself")
    if consumer is not None and consumer.import_(wire.import_name) is None:
        known = ", ".join(i.name for i in consumer.template.imports) or "none"
        problems.append(
            f"{wire.consumer} (template {consumer.template.name}) has no import "
            f"{short_repr(wire.import_name)} (imports: {known})"
        )
    return problems


def _pick_export(wire: Wire, imp: Import, provider: WiringNode) -> Export | str:
    """Return the provider's export the wire uses, or what is wrong."""
    if wire.export_name is not None:
        export = provider.export(wire.export_name)
        if export is None:
            known = ", ".join(e.name for e in provider.template.exports) or "none"
            shown = short_repr(wire.export_name)
            return f"{wire.provider} has no export {shown} (exports: {known})"
        if export.type != imp.type:
            return (
                f"export {short_repr(wire.export_name)} of {wire.provider} "
                f"is of type {export.type}, not {imp.type}"
            )
        return export
    exports = provider.exports_of_type(imp.type)
    if not exports:
        return f"{wire.provider} (template {provider.template.name}) exports no {imp.type} contract"
    if len(exports) > 1:
        names = ", ".join(e.name for e in exports)
        return f"{wire.provider} exports {imp.type} several times ({names}); name the export"
    return exports[0]


def _check_unwired(wire: Wire, by_name: Mapping[str, WiringNode]) -> Diagnostic | None:
    """Validate an explicit "leave this import unwired" (``provider`` ``None``)."""
    consumer = by_name.get(wire.consumer)
    label = f"import {wire.consumer}.{wire.import_name} left unwired"
    if consumer is None:
        return _invalid(
            wire, [f"consumer {wire.consumer!r} is not an instance of the stack"], label=label
        )
    imp = consumer.import_(wire.import_name)
    if imp is None:
        known = ", ".join(i.name for i in consumer.template.imports) or "none"
        problem = (
            f"{wire.consumer} (template {consumer.template.name}) has no import "
            f"{wire.import_name!r} (imports: {known})"
        )
        return _invalid(wire, [problem], label=label)
    if imp.required and consumer.enabled:
        return _invalid(
            wire,
            [f"{imp.name!r} is a required import; wire it to a provider instead"],
            label=label,
        )
    return None


def _check_explicit(
    wire: Wire, by_name: Mapping[str, WiringNode]
) -> ResolvedWire | Diagnostic | None:
    """Validate one explicit wire; ``None`` when its consumer is disabled (the wire is dormant)."""
    if wire.provider is None:
        return _check_unwired(wire, by_name)
    problems = _check_names(wire, by_name)
    if problems:
        return _invalid(wire, problems)
    consumer, provider = by_name[wire.consumer], by_name[wire.provider or ""]
    imp = consumer.import_(wire.import_name)
    if imp is None or not consumer.enabled:  # imp is never None here: _check_names saw it
        return None
    export = _pick_export(wire, imp, provider)
    if isinstance(export, str):
        problems.append(export)
    if not provider.enabled:
        problems.append(f"provider {wire.provider} is disabled")
    if problems or isinstance(export, str):
        return _invalid(wire, problems)
    return ResolvedWire(wire.consumer, wire.import_name, wire.provider, export.name, explicit=True)


def _explicit_wires(
    explicit: Sequence[Wire], by_name: Mapping[str, WiringNode]
) -> tuple[dict[tuple[str, str], ResolvedWire], list[Diagnostic], set[tuple[str, str]]]:
    """Validate the explicit wires: the wires they give, their diagnostics, the imports they pin."""
    wires: dict[tuple[str, str], ResolvedWire] = {}
    diagnostics: list[Diagnostic] = []
    pinned: set[tuple[str, str]] = set()
    grouped: dict[tuple[str, str], list[Wire]] = {}
    for wire in explicit:
        grouped.setdefault((wire.consumer, wire.import_name), []).append(wire)
    for key, group in sorted(grouped.items()):
        pinned.add(key)
        if len(group) > 1:
            providers = ", ".join(
                sorted(
                    (w.provider or "none") + (f".{w.export_name}" if w.export_name else "")
                    for w in group
                )
            )
            problem = (
                f"the import has {len(group)} explicit wires ({providers}); "
                "keep one (devarch wire rm ...)"
            )
            diagnostics.append(_invalid(group[0], [problem], label=f"import {key[0]}.{key[1]}"))
            continue
        result = _check_explicit(group[0], by_name)
        if isinstance(result, ResolvedWire):
            wires[key] = result
        elif isinstance(result, Diagnostic):
            diagnostics.append(result)
    return wires, diagnostics, pinned


def solve_wiring(
    nodes: Sequence[WiringNode],
    explicit: Sequence[Wire] = (),
    *,
    stack: str | None = None,
) -> WiringPlan:
    """Compute the wires of a stack and diagnose what cannot be wired.

    Each import of each enabled consumer is satisfied by its explicit wire when it has one (an
    invalid explicit wire is an ``invalid-wire`` error and is never replaced by a guess), otherwise
    by the single enabled instance of the stack, other than the consumer, exporting the import's
    type. No candidate is ``missing`` and several are ``ambiguous``: errors for required imports,
    warnings for optional ones. An explicit wire whose ``provider`` is ``None`` leaves an optional
    import unwired on purpose. An optional import is never auto-wired when the wire would close a
    dependency cycle (an ``info`` ``cycle-skipped`` diagnostic says so); optional imports are
    auto-wired after the required ones, in (consumer, import) order. A dependency cycle through
    wires and ``depends_on`` is a ``cycle`` error whose message names a command for each link.
    ``stack`` only appears in hints (``devarch wire add STACK ...``). Pure and
    deterministic: wires and diagnostics are sorted by (consumer, import).
    """
    by_name: dict[str, WiringNode] = {}
    for node in nodes:
        if node.name in by_name:
            raise WiringError(
                f"instance {short_repr(node.name)} is given twice to the wiring solver"
            )
        by_name[node.name] = node
    wires, diagnostics, pinned = _explicit_wires(explicit, by_name)
    index = _ExportIndex.of(nodes)
    optional: list[ResolvedWire] = []
    for node in sorted(by_name.values(), key=lambda n: n.name):
        if not node.enabled:
            continue
        for imp in node.template.imports:
            if (node.name, imp.name) in pinned:
                continue
            auto = _auto_wire(node, imp, index, stack)
            if isinstance(auto, Diagnostic):
                diagnostics.append(auto)
            elif imp.required:
                wires[(node.name, imp.name)] = auto
            else:
                optional.append(auto)
    diagnostics.extend(_add_optional(wires, optional, by_name, stack))
    ordered = tuple(wires[k] for k in sorted(wires))
    diagnostics.extend(_cycle_diagnostics(by_name, ordered, stack))
    diagnostics.sort(key=lambda d: (d.consumer, d.import_name, d.code, d.message))
    return WiringPlan(wires=ordered, diagnostics=tuple(diagnostics))


def dependency_problems(
    name: str, depends_on: Iterable[str], instances: Collection[str], *, stack: str
) -> list[str]:
    """Why ``name``'s ``depends_on`` entries cannot be used.

    Why ``name``'s ``depends_on`` entries cannot be used: an entry that is not an instance of
    the stack, or the instance itself. The one rule: the plan and every write of a
    ``depends_on`` override call it.
    """
    found = []
    for dep in depends_on:
        if dep == name:
            found.append(f"{name} depends on itself; remove {dep!r} from its depends_on")
        elif dep not in instances:
            found.append(f"{name} depends on {dep!r}, which is not an instance of stack {stack}")
    return found


def dependency_edges(nodes: Sequence[WiringNode], plan: WiringPlan) -> dict[str, tuple[str, ...]]:
    """Each enabled instance -> the enabled instances it depends on (``depends_on`` and wires)."""
    enabled = {n.name for n in nodes if n.enabled}
    edges: dict[str, set[str]] = {n.name: set(n.dependencies) & enabled for n in nodes if n.enabled}
    for wire in plan.wires:
        if wire.consumer in edges and wire.provider in enabled:
            edges[wire.consumer].add(wire.provider)
    return {name: tuple(sorted(deps - {name})) for name, deps in sorted(edges.items())}


def _add_optional(
    wires: dict[tuple[str, str], ResolvedWire],
    optional: Sequence[ResolvedWire],
    by_name: Mapping[str, WiringNode],
    stack: str | None,
) -> list[Diagnostic]:
    """Add the optional auto-wires to ``wires`` that close no cycle; say why the others do not.

    They come last, in (consumer, import) order: an optional import is never worth a stack that
    cannot start.
    """
    skipped = []
    # One graph, grown by each wire added (not rebuilt per optional import): the same edges
    # dependency_edges() would give for the wires so far.
    graph = _normalize(
        dependency_edges(list(by_name.values()), WiringPlan(wires=tuple(wires.values())))
    )
    for auto in optional:
        path = _shortest_path(graph, auto.provider, auto.consumer)
        if path is None:
            wires[(auto.consumer, auto.import_name)] = auto
            if auto.consumer in graph and auto.provider in graph and auto.provider != auto.consumer:
                graph[auto.consumer].add(auto.provider)
        else:
            skipped.append(_cycle_skipped(auto, path, stack))
    return skipped


def _path(edges: Mapping[str, Iterable[str]], start: str, goal: str) -> list[str] | None:
    """The shortest dependency path ``start -> ... -> goal`` (``None`` if there is none)."""
    return _shortest_path(_normalize(edges), start, goal)


def _shortest_path(graph: Mapping[str, set[str]], start: str, goal: str) -> list[str] | None:
    """:func:`_path` on a graph already normalized."""
    if start not in graph or goal not in graph:
        return None
    parents: dict[str, str] = {start: start}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            if node == goal:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return list(reversed(path))
            for dep in sorted(graph[node]):
                if dep not in parents:
                    parents[dep] = node
                    following.append(dep)
        frontier = following
    return None


def _cycle_skipped(auto: ResolvedWire, path: Sequence[str], stack: str | None) -> Diagnostic:
    through = " -> ".join((auto.consumer, *path))
    command = _hint(stack, auto.consumer, auto.import_name, "PROVIDER")
    return Diagnostic(
        severity="info",
        code="cycle-skipped",
        consumer=auto.consumer,
        import_name=auto.import_name,
        message=(
            f"{auto.consumer}: optional import {auto.import_name!r} is left unwired: wiring it to "
            f"{auto.provider} would make a dependency cycle ({through}); wire it yourself with "
            f"`{command}` or silence this with "
            f"`devarch wire add {stack or _STACK_PLACEHOLDER} {auto.consumer} "
            f"{auto.import_name} --none`"
        ),
        candidates=(auto.provider,),
    )


def _link_advice(
    consumer: WiringNode,
    provider: str,
    wire: ResolvedWire | None,
    stack: str | None,
) -> str:
    """How to cut the dependency ``consumer -> provider``, as a command the user can run."""
    name = stack or _STACK_PLACEHOLDER
    link = f"{consumer.name} -> {provider}"
    ways: list[str] = []
    if wire is not None:
        imp = consumer.import_(wire.import_name)
        if imp is not None and not imp.required:
            ways.append(f"`devarch wire add {name} {consumer.name} {wire.import_name} --none`")
        else:
            ways.append(
                f"wire the required import {wire.import_name!r} to another provider "
                f"(`{_hint(stack, consumer.name, wire.import_name, 'PROVIDER')}`)"
            )
    if provider in consumer.dependencies:
        ways.append(f"`devarch instance set {name} {consumer.name} depends_on=-{provider}`")
    return f"{link}: " + " and ".join(ways)


def _cycle_diagnostics(
    by_name: Mapping[str, WiringNode],
    wires: Sequence[ResolvedWire],
    stack: str | None = None,
) -> list[Diagnostic]:
    edges = dependency_edges(list(by_name.values()), WiringPlan(wires=tuple(wires)))
    via = {(w.consumer, w.provider): w for w in wires}
    diagnostics = []
    for cycle in find_cycles(edges):
        path = " -> ".join((*cycle, cycle[0]))
        links = [
            _link_advice(by_name[a], b, via.get((a, b)), stack)
            for a, b in zip(cycle, (*cycle[1:], cycle[0]), strict=True)
        ]
        first = via.get((cycle[0], cycle[1]))
        diagnostics.append(
            Diagnostic(
                severity="error",
                code="cycle",
                consumer=cycle[0],
                import_name=first.import_name if first is not None else "",
                message=(
                    f"dependency cycle: {path} (each depends on the next through a wire or "
                    f"depends_on); break one link: {'; '.join(links)}; or disable one of them"
                ),
                candidates=tuple(sorted(cycle)),
            )
        )
    return diagnostics


def _normalize(edges: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Known instances -> their known dependencies (unknown ones and self-loops dropped)."""
    known = set(edges)
    return {name: {d for d in deps if d in known and d != name} for name, deps in edges.items()}


def find_cycles(edges: Mapping[str, Iterable[str]]) -> list[tuple[str, ...]]:
    """One cycle per group of mutually dependent instances, each starting at its smallest name.

    ``edges`` maps an instance to what it depends on; dependencies on instances that are not keys
    are ignored. A cycle ``("api", "web")`` means api depends on web and web depends on api.
    """
    graph = _normalize(edges)
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
        reach[start] = seen
    cycles: list[tuple[str, ...]] = []
    done: set[str] = set()
    for start in sorted(graph):
        if start in done or start not in reach[start]:
            continue
        component = {n for n in reach[start] if start in reach[n]}
        done |= component
        cycles.append(_cycle_from(start, graph, component))
    return cycles


def _cycle_from(start: str, graph: Mapping[str, set[str]], component: set[str]) -> tuple[str, ...]:
    """Find the shortest cycle through ``start`` in its component, smallest names first."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for dep in sorted(graph[node] & component):
                if dep == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return tuple(reversed(path))
                if dep not in parents:
                    parents[dep] = node
                    following.append(dep)
        frontier = following
    msg = f"{start} is not on a cycle"  # pragma: no cover - callers pass a cyclic component
    raise AssertionError(msg)  # pragma: no cover


def dependency_waves(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Group instances into waves that can start in parallel, dependencies first.

    ``edges`` maps each instance to what it depends on (``depends_on`` and wires). The first wave
    holds the instances with no dependency, each later wave those whose dependencies are all in
    earlier waves; each wave is sorted. Dependencies on instances that are not keys (unknown or
    disabled) are ignored: callers report them. A cycle raises ``WiringError`` naming it in order
    (``api -> web -> api``: api depends on web, which depends on api).
    """
    graph = _normalize(edges)
    placed: set[str] = set()
    waves: list[list[str]] = []
    remaining = set(graph)
    while remaining:
        wave = sorted(n for n in remaining if graph[n] <= placed)
        if not wave:
            cycles = find_cycles({n: graph[n] for n in remaining})
            described = "; ".join(" -> ".join((*c, c[0])) for c in cycles)
            noun = "cycle" if len(cycles) == 1 else "cycles"
            raise WiringError(f"dependency {noun}: {described}")
        waves.append(wave)
        placed.update(wave)
        remaining.difference_update(wave)
    return waves


def _expand(
    text: str,
    *,
    wire: ResolvedWire,
    export: Export,
    container: str,
    env: Mapping[str, EnvValue],
    variable: str,
    stack: str | None,
) -> EnvValue:
    simple = {"host": container, "protocol": export.protocol}
    simple |= {"name": wire.provider, "instance": wire.provider}
    if export.port is not None:
        simple["port"] = str(export.port)
    if stack is not None:
        simple["stack"] = stack
    where = (
        f"{variable} of export {short_repr(export.name)} of {wire.provider} "
        f"(wired into {wire.consumer})"
    )
    secret = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal secret
        ref = match.group(1)
        if ref in simple:
            return simple[ref]
        if ref == "port":
            raise WiringError(f"{where} uses ${{port}}, but the export has no port")
        if not ref.startswith("env."):
            raise WiringError(f"{where} uses unknown reference ${{{ref}}}")
        name = ref.removeprefix("env.")
        if name not in env:
            raise WiringError(
                f"provider {wire.provider} has no environment variable {name}, needed by {where}"
            )
        value = env[name]
        if isinstance(value, Secret):
            secret = True
            return value.reveal()
        return value

    expanded = _VALUE_REF.sub(substitute, text)
    return Secret(expanded) if secret else expanded


def render_injection(
    wire: ResolvedWire,
    consumer_import: Import,
    provider_export: Export,
    provider_container: str,
    provider_env: Mapping[str, EnvValue],
    *,
    stack: str | None = None,
) -> WireInjection:
    """Render the environment one wire injects into its consumer (user overrides still win).

    Value templates expand ``${host}`` to ``provider_container`` (its name on the stack network),
    ``${port}`` to the export's container port (never a host port), ``${protocol}``,
    ``${name}``/``${instance}`` to the provider instance and ``${env.NAME}`` to the provider's
    effective environment; a value that reads a :class:`Secret` is a ``Secret`` itself. Variable
    names go through :meth:`Import.target_name` (rename, then prefix). A ``${env.NAME}`` the
    provider does not have raises ``WiringError`` naming the provider and the variable.
    """
    if consumer_import.name != wire.import_name or provider_export.name != wire.export_name:
        raise WiringError(
            f"wire {wire.consumer}.{wire.import_name} -> {wire.provider}.{wire.export_name} "
            f"rendered with import {short_repr(consumer_import.name)} "
            f"and export {short_repr(provider_export.name)}"
        )
    environment: dict[str, EnvValue] = {}
    for variable, text in provider_export.env.items():
        environment[consumer_import.target_name(variable)] = _expand(
            text,
            wire=wire,
            export=provider_export,
            container=provider_container,
            env=provider_env,
            variable=variable,
            stack=stack,
        )
    return WireInjection(
        provider=wire.provider,
        import_name=wire.import_name,
        environment=dict(sorted(environment.items())),
    )


def injections_for(
    consumer: str,
    nodes: Sequence[WiringNode] | Mapping[str, WiringNode],
    plan: WiringPlan,
    *,
    containers: Mapping[str, str],
    environments: Mapping[str, Mapping[str, EnvValue]],
    stack: str | None = None,
    rendered: MutableMapping[tuple[object, ...], WireInjection] | None = None,
) -> list[WireInjection]:
    """Render every wire into ``consumer``, in import order, for :func:`devarch_core.merge.resolve`.

    ``containers`` maps provider instances to their container names and ``environments`` to their
    effective environments. Two imports injecting the same variable raise ``WiringError``: give
    one of them a ``prefix`` or a ``rename``. ``nodes`` may be given by name (a mapping), so a
    caller rendering every consumer of a large stack builds that mapping once. ``rendered`` is
    a memo a caller may share between the consumers of one resolution (while the environments
    it passes stay alive): a wire's injection depends on its provider (container, environment),
    export and import only, so consumers wired alike reuse it.
    """
    by_name = nodes if isinstance(nodes, Mapping) else {n.name: n for n in nodes}
    injections: list[WireInjection] = []
    injected_by: dict[str, str] = {}
    for wire in plan.wires_of(consumer):
        imp = by_name[wire.consumer].import_(wire.import_name)
        export = by_name[wire.provider].export(wire.export_name)
        if imp is None or export is None:
            raise WiringError(
                f"wire {wire.consumer}.{wire.import_name} -> {wire.provider}.{wire.export_name} "
                "does not match the templates"
            )
        # The provider's environment by identity: on a dependency cycle a provider may be
        # rendered from its unwired environment first, from its effective one later.
        env = environments[wire.provider]
        key = (wire.provider, containers[wire.provider], id(env), id(imp), id(export))
        injection = rendered.get(key) if rendered is not None else None
        if injection is None:
            injection = render_injection(
                wire,
                imp,
                export,
                containers[wire.provider],
                env,
                stack=stack,
            )
            if rendered is not None:  # only a success: an error names its consumer
                rendered[key] = injection
        for name in injection.environment:
            if name in injected_by:
                raise WiringError(
                    f"{consumer}: imports {short_repr(injected_by[name])} and "
                    f"{short_repr(wire.import_name)} both inject {name}; "
                    "give one of them a prefix or a rename"
                )
            injected_by[name] = wire.import_name
        injections.append(injection)
    return injections

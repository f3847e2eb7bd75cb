"""The wiring of a stack drawn as Mermaid (``graph LR``) or Graphviz DOT text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from devarch_core._parsing import short_repr

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from devarch_core.template import Import
    from devarch_core.wiring import Diagnostic, WiringNode, WiringPlan

__all__ = ["wiring_graph"]


#: Words Mermaid's flowchart parser reads as syntax; a node id equal to one gets a prefix.
_MERMAID_KEYWORDS = frozenset(
    {"end", "graph", "flowchart", "subgraph", "direction", "style", "class", "classdef", "click"}
    | {"linkstyle", "call", "href", "default"}
)


def _mermaid_id(name: str) -> str:
    # Instance names are lowercase DNS labels (no '_'), so '-' -> '_' stays one-to-one, and
    # uppercase ids (placeholders, prefixed keywords) never collide with an instance.
    ident = name.replace("-", "_")
    return f"N_{ident}" if ident in _MERMAID_KEYWORDS else ident


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unwired(nodes: Sequence[WiringNode], plan: WiringPlan) -> list[tuple[Diagnostic, Import]]:
    """List the imports of enabled consumers left without a wire, with the diagnostic saying why."""
    by_name = {n.name: n for n in nodes}
    out = []
    for diagnostic in plan.diagnostics:
        node = by_name.get(diagnostic.consumer)
        if diagnostic.code == "cycle" or node is None or not node.enabled:
            continue
        imp = node.import_(diagnostic.import_name)
        if imp is not None and plan.wire(node.name, imp.name) is None:
            out.append((diagnostic, imp))
    return out


def _placeholder_label(diagnostic: Diagnostic, imp: Import) -> str:
    if diagnostic.code == "ambiguous":
        return f"ambiguous {imp.type}: {' | '.join(diagnostic.candidates)}"
    if diagnostic.code == "invalid-wire":
        return f"invalid wire ({imp.type})"
    if diagnostic.code == "cycle-skipped":
        return f"not wired: {imp.type} of {' | '.join(diagnostic.candidates)} would make a cycle"
    return f"missing {imp.type}"


def wiring_graph(
    nodes: Sequence[WiringNode],
    plan: WiringPlan,
    *,
    fmt: Literal["mermaid", "dot"] = "mermaid",
    stack: str = "stack",
) -> str:
    """Draw the wiring as Mermaid (``graph LR``) or Graphviz DOT text, deterministically.

    Arrows go from a consumer to its provider, labelled ``import: type``; explicit wires are drawn
    bold. Imports left unwired (missing, ambiguous, invalid) are dashed arrows to a placeholder
    node; disabled instances are drawn dashed.
    """
    ordered = sorted(nodes, key=lambda n: n.name)
    by_name = {n.name: n for n in ordered}
    types = {
        (w.consumer, w.import_name): imp.type
        for w in plan.wires
        if w.consumer in by_name and (imp := by_name[w.consumer].import_(w.import_name)) is not None
    }
    unwired = _unwired(ordered, plan)
    if fmt == "mermaid":
        return _mermaid(ordered, plan, types, unwired)
    if fmt == "dot":
        return _dot(ordered, plan, types, unwired, stack)
    msg = f"unknown graph format {short_repr(fmt)}; use mermaid or dot"
    raise ValueError(msg)


def _mermaid(
    nodes: Sequence[WiringNode],
    plan: WiringPlan,
    types: Mapping[tuple[str, str], str],
    unwired: Sequence[tuple[Diagnostic, Import]],
) -> str:
    lines = ["graph LR"]
    for node in nodes:
        suffix = ", disabled" if not node.enabled else ""
        label = _mermaid_text(f"{node.name} ({node.template.name}{suffix})")
        lines.append(f'  {_mermaid_id(node.name)}["{label}"]')
    for wire in plan.wires:
        label = _mermaid_text(
            f"{wire.import_name}: {types.get((wire.consumer, wire.import_name), '?')}"
        )
        arrow = "==>" if wire.explicit else "-->"
        lines.append(
            f"  {_mermaid_id(wire.consumer)} {arrow}|{label}| {_mermaid_id(wire.provider)}"
        )
    for number, (diagnostic, imp) in enumerate(unwired, start=1):
        placeholder = f"UNWIRED_{number}"
        lines.append(f'  {placeholder}(["{_mermaid_text(_placeholder_label(diagnostic, imp))}"])')
        label = _mermaid_text(f"{imp.name}: {imp.type}")
        lines.append(f"  {_mermaid_id(diagnostic.consumer)} -.->|{label}| {placeholder}")
        lines.append(f"  class {placeholder} {'unwired' if diagnostic.is_error else 'optional'}")
    disabled = [_mermaid_id(n.name) for n in nodes if not n.enabled]
    if disabled:
        lines.append(f"  class {','.join(disabled)} disabled")
    lines.append("  classDef disabled stroke-dasharray: 5 5,color:#888")
    if unwired:
        lines.append("  classDef unwired stroke:#c00,stroke-dasharray: 5 5,color:#c00")
        lines.append("  classDef optional stroke:#888,stroke-dasharray: 5 5,color:#888")
    return "\n".join(lines) + "\n"


def _dot(
    nodes: Sequence[WiringNode],
    plan: WiringPlan,
    types: Mapping[tuple[str, str], str],
    unwired: Sequence[tuple[Diagnostic, Import]],
    stack: str,
) -> str:
    lines = [f"digraph {_dot_text(stack)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for node in nodes:
        style = ", style=dashed, fontcolor=gray" if not node.enabled else ""
        label = f"{node.name} ({node.template.name})"
        lines.append(f"  {_dot_text(node.name)} [label={_dot_text(label)}{style}];")
    for wire in plan.wires:
        label = f"{wire.import_name}: {types.get((wire.consumer, wire.import_name), '?')}"
        style = ", style=bold" if wire.explicit else ""
        edge = f"{_dot_text(wire.consumer)} -> {_dot_text(wire.provider)}"
        lines.append(f"  {edge} [label={_dot_text(label)}{style}];")
    for diagnostic, imp in unwired:
        placeholder = _dot_text(f"{diagnostic.consumer}/{imp.name}?")
        color = "red" if diagnostic.is_error else "gray"
        lines.append(
            f"  {placeholder} [label={_dot_text(_placeholder_label(diagnostic, imp))}, "
            f"shape=ellipse, style=dashed, color={color}, fontcolor={color}];"
        )
        label = f"{imp.name}: {imp.type}"
        edge = f"{_dot_text(diagnostic.consumer)} -> {placeholder}"
        lines.append(f"  {edge} [label={_dot_text(label)}, style=dashed, color={color}];")
    lines.append("}")
    return "\n".join(lines) + "\n"

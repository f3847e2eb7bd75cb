"""The wiring graph drawn as SVG in pure Python, for notebooks (no graphviz needed).

One box per instance (its name and template; dashed and grey when disabled), one arrow per wire
from the consumer to its provider, labelled with the import name (bold when the user pinned the
wire). Imports left unwired are listed under their consumer's box in red. The layout is layered:
an instance that provides to nobody sits in the rightmost column, each consumer one column left
of its furthest provider, so arrows run left to right like Mermaid's ``graph LR``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from attrs import frozen

from devarch_core.display import printable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from devarch_core.wiring import WiringNode, WiringPlan

__all__ = ["SvgGraph", "wiring_svg"]

_CHAR = 7.2  # average glyph width of 12px sans-serif, for box sizes
_BOX_H = 44
_ROW_GAP = 28
_COL_GAP = 150
_PAD = 20
_UNWIRED_LINE = 14


@frozen
class SvgGraph:
    """An SVG drawing; Jupyter shows it inline (``_repr_svg_``), ``.svg`` is the document text."""

    svg: str

    def _repr_svg_(self) -> str:
        return self.svg

    def __str__(self) -> str:
        return self.svg


def _text(value: str) -> str:
    return escape(printable(value, newlines=False))


def _columns(names: Sequence[str], edges: Mapping[str, set[str]]) -> dict[str, int]:
    """Column 0 for instances providing to nobody, else one more than the deepest provider."""
    depth: dict[str, int] = {}

    def visit(name: str, seen: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        providers = [p for p in edges.get(name, ()) if p not in seen and p != name]
        value = 1 + max((visit(p, seen | {name}) for p in providers), default=-1)
        depth[name] = value
        return value

    for name in names:
        visit(name, frozenset())
    return depth


@frozen(kw_only=True)
class _Layout:
    boxes: dict[str, tuple[float, float, float, float]]
    width: float
    height: float


def _layout(
    names: Sequence[str],
    labels: Mapping[str, tuple[str, str]],
    edges: Mapping[str, set[str]],
    extra_lines: Mapping[str, int],
) -> _Layout:
    depth = _columns(names, edges)
    columns = max(depth.values(), default=0) + 1
    width = {n: max(90.0, _CHAR * max(map(len, labels[n])) + 24) for n in names}
    col_width = [
        max((width[n] for n in names if depth[n] == c), default=90.0) for c in range(columns)
    ]
    # consumers left, providers right: depth c is drawn at position columns-1-c
    x_of_col: dict[int, float] = {}
    x = float(_PAD)
    for position in range(columns):
        col = columns - 1 - position
        x_of_col[col] = x
        x += col_width[col] + _COL_GAP
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for col in range(columns):
        y = float(_PAD + 24)
        for name in (n for n in names if depth[n] == col):
            height = _BOX_H + _UNWIRED_LINE * extra_lines.get(name, 0)
            boxes[name] = (x_of_col[col], y, width[name], height)
            y += height + _ROW_GAP
    total_w = x - _COL_GAP + _PAD if names else 2 * _PAD + 200
    total_h = max((b[1] + b[3] for b in boxes.values()), default=float(_PAD + 30)) + _PAD
    return _Layout(boxes=boxes, width=total_w, height=total_h)


def _wire_svg(
    consumer: tuple[float, float, float, float],
    provider: tuple[float, float, float, float],
    label: str,
    *,
    explicit: bool,
) -> str:
    x1, y1, w1, h1 = consumer
    x2, y2, w2, h2 = provider
    start = (x1 + w1, y1 + h1 / 2) if x2 > x1 else (x1, y1 + h1 / 2)
    end = (x2, y2 + h2 / 2) if x2 > x1 else (x2 + w2, y2 + h2 / 2)
    weight = "2.5" if explicit else "1.2"
    return (
        f'<g class="wire"><line x1="{start[0]:.1f}" y1="{start[1]:.1f}" x2="{end[0]:.1f}" '
        f'y2="{end[1]:.1f}" stroke="#444" stroke-width="{weight}" marker-end="url(#arrow)"/>'
        f'<text x="{(start[0] + end[0]) / 2:.1f}" y="{(start[1] + end[1]) / 2 - 4:.1f}" '
        f'text-anchor="middle" fill="#225">{_text(label)}</text></g>'
    )


def _node_svg(
    name: str,
    box: tuple[float, float, float, float],
    subtitle: str,
    unwired: Sequence[str],
    *,
    enabled: bool,
) -> str:
    bx, by, bw, bh = box
    style = 'stroke="#333" fill="#eef4ff"'
    if not enabled:
        style = 'stroke="#888" fill="#f4f4f4" stroke-dasharray="5 5"'
    middle = f"{bx + bw / 2:.1f}"
    lines = [
        f'<g class="node" id={quoteattr("node-" + name)}>',
        f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw:.1f}" height="{bh:.1f}" rx="6" {style}/>',
        (
            f'<text x="{middle}" y="{by + 18:.1f}" text-anchor="middle" '
            f'font-weight="bold">{_text(name)}</text>'
        ),
        (
            f'<text x="{middle}" y="{by + 34:.1f}" text-anchor="middle" fill="#555">'
            f"{_text(subtitle)}</text>"
        ),
    ]
    lines.extend(
        f'<text x="{middle}" y="{by + 34 + _UNWIRED_LINE * number:.1f}" '
        f'text-anchor="middle" fill="#c00">{_text(text)}</text>'
        for number, text in enumerate(unwired, start=1)
    )
    lines.append("</g>")
    return "".join(lines)


_ARROW = (
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
    'markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
    'fill="#444"/></marker></defs>'
)


def wiring_svg(nodes: Sequence[WiringNode], plan: WiringPlan, *, stack: str = "stack") -> SvgGraph:
    """Draw the stack's instances and wires as a standalone SVG document, deterministically."""
    ordered = sorted(nodes, key=lambda n: n.name)
    names = [n.name for n in ordered]
    known = set(names)
    wires = [w for w in plan.wires if w.consumer in known and w.provider in known]
    edges: dict[str, set[str]] = {}
    for wire in wires:
        edges.setdefault(wire.consumer, set()).add(wire.provider)
    unwired: dict[str, list[str]] = {}
    for diag in plan.diagnostics:
        if diag.consumer in known:
            unwired.setdefault(diag.consumer, []).append(f"{diag.import_name}: {diag.code}")
    subtitles = {n.name: n.template.name + ("" if n.enabled else ", disabled") for n in ordered}
    labels = {name: (name, subtitles[name]) for name in names}
    layout = _layout(names, labels, edges, {k: len(v) for k, v in unwired.items()})
    size = f"{layout.width:.0f}", f"{layout.height:.0f}"
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{size[0]}" height="{size[1]}" '
            f'viewBox="0 0 {size[0]} {size[1]}" font-family="sans-serif" font-size="12">'
        ),
        f"<title>{_text(f'wiring of stack {stack}')}</title>",
        _ARROW,
        f'<text x="{_PAD}" y="{_PAD + 4}" font-weight="bold">{_text(f"stack {stack}")}</text>',
    ]
    if not names:
        parts.append(f'<text x="{_PAD}" y="{_PAD + 30}">(no instances)</text>')
    parts.extend(
        _wire_svg(
            layout.boxes[w.consumer], layout.boxes[w.provider], w.import_name, explicit=w.explicit
        )
        for w in wires
    )
    parts.extend(
        _node_svg(
            n.name,
            layout.boxes[n.name],
            subtitles[n.name],
            unwired.get(n.name, ()),
            enabled=n.enabled,
        )
        for n in ordered
    )
    parts.append("</svg>")
    return SvgGraph("\n".join(parts) + "\n")

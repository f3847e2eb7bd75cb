"""A plan as human-readable text with ``+ ~ - >`` markers and optional ANSI colour."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from devarch_core.display import printable

if TYPE_CHECKING:
    from devarch_core.planning import Plan
    from devarch_core.usecases.manifests import ImportResult

__all__ = ["format_value", "render_import", "render_plan"]

_SYMBOL = {"add": "+", "modify": "~", "remove": "-", "start": ">"}
_COLOUR = {"add": "\x1b[32m", "modify": "\x1b[33m", "remove": "\x1b[31m", "start": "\x1b[36m"}
_RESET = "\x1b[0m"


def format_value(value: object) -> str:
    """One field value as the plan shows it: JSON, ``(none)`` for a missing value."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _line(text: str) -> str:
    """One line of the plan: control characters (newlines too) shown escaped."""
    return printable(text, newlines=False)


def render_plan(plan: Plan, *, colour: bool = False) -> str:
    """Human-readable plan with ``+ ~ - >`` markers (ANSI colour when ``colour``).

    Control characters in names, values and messages are shown escaped
    (:func:`devarch_core.display.printable`); the only escapes sent are the colours.
    """
    lines = []
    if not plan.actions:
        lines.append(
            f"Stack {plan.stack}: no changes. The running containers match the configuration."
        )
    else:
        lines.append(f"Plan for stack {plan.stack}: {plan.summary()}.")
        lines.append("")
        for action in plan.actions:
            head = f"  {_SYMBOL[action.action]} {action.instance} ({action.container})"
            if action.reason:
                head += f"  # {action.reason}"
            head = _line(head)
            lines.append(f"{_COLOUR[action.action]}{head}{_RESET}" if colour else head)
            for change in action.changes:
                arrow = f"{format_value(change.old)} → {format_value(change.new)}"
                flag = (
                    "  [forces recreate]"
                    if change.forces_recreate and action.action == "modify"
                    else ""
                )
                lines.append(_line(f"      {change.field}: {arrow}  ({change.source}){flag}"))
    if plan.wiring:
        lines.append("")
        lines.append("Wiring:")
        for wire in plan.wiring:
            how = "explicit" if wire.get("explicit") else "auto"
            lines.append(
                _line(f"  {wire['consumer']}.{wire['import']} → {wire['provider']} ({how})")
            )
    if plan.diagnostics:
        lines.append("")
        lines.append("Diagnostics:")
        # A diagnostic may run over several lines; it never carries a control character.
        lines.extend(printable(f"  {diag.severity}: {diag.message}") for diag in plan.diagnostics)
    return "\n".join(lines) + "\n"


def render_import(result: ImportResult) -> str:
    """What a manifest import did (or would do), with ``+ ~ -`` markers per instance."""
    verb = "Imported" if result.applied else "Would import"
    lines = [f"{verb} stack {result.stack}" + (" (new)" if result.created else "") + ":"]
    if not result.actions:
        lines.append("  no changes to instances")
    for action in result.actions:
        symbol = _SYMBOL.get(action.action, "?") if action.action != "start" else "?"
        lines.append(f"  {symbol} {action.instance}")
        lines.extend(f"      {c.field}: {c.old!r} → {c.new!r}" for c in action.changes)
    lines.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines) + "\n"

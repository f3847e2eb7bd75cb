"""Text and JSON rendering for the CLI: tables, YAML blocks, error documents.

Pure functions from values to strings; the CLI decides where they go (stdout or stderr).
Every cell and one-line field goes through :func:`devarch_core.display.printable` (newlines
escaped too, so a value cannot fake a row), and the CLI passes whole outputs through it again
on their way out, so no control character of a description, name or value reaches a terminal.
JSON always comes from the objects' own ``to_data()`` (or the facade's plain dicts), so the
library and the CLI never disagree on a field name.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from devarch_core import _jsonforms
from devarch_core.display import printable

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from devarch_core.app import InstanceStatus, StackSummary
    from devarch_core.merge import EffectiveConfig
    from devarch_core.model import Instance, Stack, Wire
    from devarch_core.planning import Plan
    from devarch_core.template import Template

__all__ = [
    "dump_json",
    "effective_text",
    "error_data",
    "explain_rows",
    "instance_data",
    "instance_text",
    "line",
    "stack_data",
    "stack_text",
    "status_rows",
    "table",
    "template_data",
    "to_yaml",
    "value_text",
    "wire_data",
]


def dump_json(data: object) -> str:
    """Indented JSON with a trailing newline (non-ASCII kept readable, controls escaped)."""
    return printable(json.dumps(data, indent=2, ensure_ascii=False, default=str), json=True) + "\n"


def line(value: object) -> str:
    """One value as one printable line (controls and newlines escaped)."""
    return printable(value_text(value), newlines=False)


def to_yaml(data: object) -> str:
    """Block-style YAML, keys in their given order."""
    import yaml  # noqa: PLC0415 - only the commands that print YAML pay for it

    return yaml.safe_dump(
        data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1_000_000
    )


def value_text(value: object) -> str:
    """One value on one line: strings as they are, everything else as compact JSON."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    text_rows = [[line(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *text_rows]:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def apply_summary(plan: Plan) -> str:
    """``2 added, 1 changed, 0 removed, 0 started`` for a plan that was applied."""
    done = {"add": "added", "modify": "changed", "remove": "removed", "start": "started"}
    counts = {kind: sum(1 for a in plan.actions if a.action == kind) for kind in done}
    return ", ".join(f"{counts[kind]} {word}" for kind, word in done.items())


def error_data(exc: BaseException, exit_code: int) -> dict[str, Any]:
    """Build the ``--json`` error document: ``{"error": {"type", "message", "exit_code"...}}``."""
    body: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc), "exit_code": exit_code}
    problems = getattr(exc, "problems", None)
    if problems:
        body["problems"] = [{"path": p.path, "message": p.message} for p in problems]
    suggestion = getattr(exc, "suggestion", None)
    if suggestion:
        body["suggestion"] = suggestion
    moved = getattr(exc, "moved", None)
    if moved:
        body["moved"] = list(moved)
    for key in ("step", "instance", "holder"):
        value = getattr(exc, key, None)
        if isinstance(value, str):
            body[key] = value
    return {"error": body}


# -- stacks --------------------------------------------------------------------------------------


def stack_data(stack: Stack) -> dict[str, Any]:
    """JSON form of a :class:`~devarch_core.model.Stack`."""
    return _jsonforms.stack_data(stack)


def stack_list_text(summaries: Sequence[StackSummary]) -> str:
    """``stack list`` as a table."""
    if not summaries:
        return "No stacks yet. Create one with `devarch stack create NAME`.\n"
    rows = [
        (
            s.stack.name,
            "yes" if s.stack.enabled else "no",
            f"{s.enabled_instances}/{s.instances}",
            "-" if s.running is None else str(s.running),
            s.stack.network_name,
            s.stack.description,
        )
        for s in summaries
    ]
    return table(("NAME", "ENABLED", "INSTANCES", "RUNNING", "NETWORK", "DESCRIPTION"), rows)


def stack_text(data: Mapping[str, Any]) -> str:
    """``stack show`` from :meth:`Devarch.show_stack`'s plain data."""
    lines = [
        f"Stack:       {line(data['name'])}",
        f"Description: {line(data.get('description') or '-')}",
        f"Network:     {line(data['network'])}",
        f"Enabled:     {'yes' if data['enabled'] else 'no'}",
        f"Engine:      {line(data.get('engine') or '- (bound at its first apply)')}",
        f"Created:     {data.get('created_at') or '-'}",
        "",
    ]
    instances = data.get("instances", [])
    if instances:
        rows = [
            (
                i["name"],
                i["template"],
                "yes" if i["enabled"] else "no",
                i["container"],
                i.get("last_applied") or "never",
                i.get("description", ""),
            )
            for i in instances
        ]
        lines.append(
            table(
                ("INSTANCE", "TEMPLATE", "ENABLED", "CONTAINER", "LAST APPLIED", "DESCRIPTION"),
                rows,
            ).rstrip("\n")
        )
    else:
        lines.append(
            f"No instances. Add one with `devarch instance add {data['name']} NAME TEMPLATE`."
        )
    wires = data.get("wires", [])
    if wires:
        lines.append("")
        lines.append("Explicit wires:")
        lines.extend(
            line(
                f"  {w['consumer']}.{w['import_name']} → {w['provider'] or '(left unwired)'}"
                + (f" (export {w['export_name']})" if w.get("export_name") else "")
            )
            for w in wires
        )
    return "\n".join(lines) + "\n"


# -- instances -----------------------------------------------------------------------------------


def instance_data(instance: Instance) -> dict[str, Any]:
    """JSON form of an :class:`~devarch_core.model.Instance` (overrides in manifest form)."""
    return _jsonforms.instance_data(instance)


def instance_list_text(stack: str, instances: Sequence[Instance]) -> str:
    """``instance list`` as a table."""
    if not instances:
        return f"Stack {stack} has no instances; `devarch instance add {stack} NAME TEMPLATE`.\n"
    rows = [
        (
            i.name,
            f"{i.template}@{i.template_version}",
            "yes" if i.enabled else "no",
            str(len(i.overrides.to_data())),
            i.container_name,
            i.description,
        )
        for i in instances
    ]
    return table(("NAME", "TEMPLATE", "ENABLED", "OVERRIDES", "CONTAINER", "DESCRIPTION"), rows)


def instance_text(data: Mapping[str, Any]) -> str:
    """``instance show`` from :meth:`Devarch.show_instance`'s plain data."""
    lines = [
        f"Instance:    {line(data['stack'])}/{line(data['name'])}",
        f"Template:    {line(data['template'])}@{line(data['template_version'])}",
        f"Container:   {line(data['container'])}",
        f"Enabled:     {'yes' if data['enabled'] else 'no'}",
        f"Description: {line(data.get('description') or '-')}",
        f"Secrets:     {line(', '.join(data.get('secrets', [])) or '-')}",
    ]
    overrides = data.get("overrides") or {}
    if overrides:
        lines.append("Overrides:")
        lines.extend("  " + line for line in to_yaml(overrides).splitlines())
    else:
        lines.append("Overrides:   none (inherits everything from the template)")
    return "\n".join(lines) + "\n"


def explain_rows(effective: EffectiveConfig) -> list[dict[str, Any]]:
    """``(field, value, source)`` rows of an effective config as JSON objects (secrets ``***``)."""
    return [{"field": f, "value": v, "source": s} for f, v, s in effective.explain()]


#: The narrowest VALUE column ``--explain`` truncates to, however narrow the terminal.
_MIN_VALUE_WIDTH = 20


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``…`` when it was longer."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def effective_text(effective: EffectiveConfig, *, explain: bool, width: int = 100) -> str:
    """Render an effective config: YAML of the service, or a field | value | source table.

    The table fits ``width`` columns: long values are cut with ``…`` (``--json`` and the YAML
    form show them whole), so one long command does not pad every row to its length.
    """
    head = line(f"# {effective.stack}/{effective.instance} ({effective.template_ref})") + "\n"
    if explain:
        rows = [(line(f), line(v), line(s)) for f, v, s in effective.explain()]
        field_width = max([len("FIELD"), *(len(f) for f, _, _ in rows)])
        source_width = max([len("SOURCE"), *(len(s) for _, _, s in rows)])
        room = max(width - field_width - source_width - 4, _MIN_VALUE_WIDTH)
        fitted = [(f, shorten(v, room), s) for f, v, s in rows]
        return head + table(("FIELD", "VALUE", "SOURCE"), fitted)
    return head + to_yaml(effective.service.to_data())


# -- wires, status, catalog ----------------------------------------------------------------------


def wire_data(wire: Wire) -> dict[str, Any]:
    """JSON form of an explicit :class:`~devarch_core.model.Wire`."""
    return {
        "consumer": wire.consumer,
        "import": wire.import_name,
        "provider": wire.provider,
        "export": wire.export_name,
    }


def wire_list_text(stack: str, wires: Sequence[Wire]) -> str:
    """``wire list`` as a table."""
    if not wires:
        return (
            f"Stack {stack} has no explicit wires; imports are wired automatically "
            f"(`devarch plan {stack}` shows the wiring).\n"
        )
    rows = [
        (w.consumer, w.import_name, w.provider or "(left unwired)", w.export_name or "-")
        for w in wires
    ]
    return table(("CONSUMER", "IMPORT", "PROVIDER", "EXPORT"), rows)


def status_rows(statuses: Sequence[InstanceStatus]) -> str:
    """``status`` as a table."""
    if not statuses:
        return "No instances.\n"
    from devarch_core.rendering import status  # noqa: PLC0415 - not on every command's path

    return table(tuple(h.upper() for h in status.STATUS_HEADERS), status.status_rows(statuses))


def template_data(template: Template) -> dict[str, Any]:
    """Describe a catalog entry for ``catalog list --json``."""
    return {
        "name": template.name,
        "version": template.version,
        "description": template.description,
        "origin": template.origin,
        "hash": template.content_hash,
        "exports": [e.type for e in template.exports],
        "imports": [i.type for i in template.imports],
    }


def catalog_text(templates: Sequence[Template]) -> str:
    """``catalog list`` as a table."""
    rows = [
        (
            t.name,
            t.version,
            ",".join(sorted({e.type for e in t.exports})) or "-",
            ",".join(sorted({i.type for i in t.imports})) or "-",
            t.description,
        )
        for t in templates
    ]
    return table(("NAME", "VERSION", "EXPORTS", "IMPORTS", "DESCRIPTION"), rows)

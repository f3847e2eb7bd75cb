"""Jupyter rich display: the plan, a stack's status and an effective config as tables.

The values call these from their ``_repr_html_``/``_repr_markdown_`` methods, importing this
module on first display, so the core's import stays light. Every piece of text is escaped
(HTML entities; ``|`` and HTML in Markdown cells), control characters are shown as escapes
(:func:`devarch_core.display.printable`), and secret values are ``***``: an effective config's
secret environment variables are redacted by name, and any :class:`~devarch_core.secrets.Secret`
that reaches a cell is shown as ``***`` too.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from devarch_core.display import printable
from devarch_core.rendering.status import STATUS_HEADERS, status_rows
from devarch_core.secrets import REDACTED, Secret

if TYPE_CHECKING:
    from collections.abc import Sequence

    from devarch_core.merge import EffectiveConfig
    from devarch_core.planning import Plan
    from devarch_core.usecases.apply import InstanceStatus

__all__ = [
    "effective_html",
    "effective_markdown",
    "plan_html",
    "plan_markdown",
    "status_html",
    "status_markdown",
]

Row = tuple[object, ...]
_SYMBOL = {"add": "+", "modify": "~", "remove": "-", "start": ">"}


def cell_text(value: object) -> str:
    """One cell's plain text: secrets ``***``, ``None`` as ``-``, JSON for lists and maps."""
    if isinstance(value, Secret):
        return REDACTED
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=_redacted_default)
    return printable(text, newlines=False)


def _redacted_default(value: object) -> str:
    return REDACTED if isinstance(value, Secret) else str(value)


def html_table(caption: str, headers: Sequence[str], rows: Sequence[Row]) -> str:
    """An escaped HTML table with a caption (an empty table says so in one row)."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = [
        "<tr>" + "".join(f"<td>{esc(cell_text(v))}</td>" for v in row) + "</tr>" for row in rows
    ] or [f'<tr><td colspan="{len(headers)}">(none)</td></tr>']
    return (
        f'<table class="devarch">\n<caption style="text-align:left">{esc(caption)}</caption>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"
    )


def _md(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("`", "\\`")


def markdown_table(caption: str, headers: Sequence[str], rows: Sequence[Row]) -> str:
    """A GitHub-flavoured Markdown table under a bold caption, every cell escaped."""
    lines = [f"**{_md(caption)}**", ""]
    if not rows:
        return "\n".join([*lines, "(none)"]) + "\n"
    lines.append("| " + " | ".join(_md(h) for h in headers) + " |")
    lines.append("|" + "---|" * len(headers))
    lines.extend("| " + " | ".join(_md(cell_text(v)) for v in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


# -- the plan ------------------------------------------------------------------------------------
_PLAN_HEADERS = ("", "action", "instance", "container", "field", "old", "new", "source", "note")


def _plan_rows(plan: Plan) -> list[Row]:
    rows: list[Row] = []
    for action in plan.actions:
        first: Row = (_SYMBOL.get(action.action, "?"), action.action, action.instance)
        first += (action.container,)
        if not action.changes:
            rows.append((*first, "", "", "", "", action.reason))
        for number, change in enumerate(action.changes):
            lead = first if number == 0 else ("", "", "", "")
            note = "forces recreate" if change.forces_recreate and action.action == "modify" else ""
            if number == 0 and action.reason:
                note = f"{action.reason}; {note}" if note else action.reason
            rows.append((*lead, change.field, change.old, change.new, change.source, note))
    return rows


def _plan_parts(plan: Plan) -> list[tuple[str, Sequence[str], Sequence[Row]]]:
    title = (
        f"Plan for stack {plan.stack}: {plan.summary()}"
        if plan.actions
        else f"Stack {plan.stack}: no changes"
    )
    parts: list[tuple[str, Sequence[str], Sequence[Row]]] = [
        (title, _PLAN_HEADERS, _plan_rows(plan))
    ]
    if plan.wiring:
        wires: list[Row] = [
            (
                w.get("consumer"),
                w.get("import"),
                w.get("provider"),
                w.get("export"),
                "explicit" if w.get("explicit") else "auto",
            )
            for w in plan.wiring
        ]
        parts.append(("Wiring", ("consumer", "import", "provider", "export", "how"), wires))
    if plan.diagnostics:
        diags: list[Row] = [(d.severity, d.code, d.instance, d.message) for d in plan.diagnostics]
        parts.append(("Diagnostics", ("severity", "code", "instance", "message"), diags))
    return parts


def plan_html(plan: Plan) -> str:
    """The plan as HTML: actions with one row per changed field, wiring, diagnostics."""
    return "\n".join(html_table(*part) for part in _plan_parts(plan))


def plan_markdown(plan: Plan) -> str:
    """The plan as Markdown tables."""
    return "\n".join(markdown_table(*part) for part in _plan_parts(plan))


# -- status --------------------------------------------------------------------------------------
def _status_caption(stack: str | None) -> str:
    return f"Status of stack {stack}" if stack else "Status"


def status_html(rows: Sequence[InstanceStatus], stack: str | None = None) -> str:
    """A stack's status as an HTML table."""
    return html_table(_status_caption(stack), STATUS_HEADERS, status_rows(rows))


def status_markdown(rows: Sequence[InstanceStatus], stack: str | None = None) -> str:
    """A stack's status as a Markdown table."""
    return markdown_table(_status_caption(stack), STATUS_HEADERS, status_rows(rows))


# -- effective config ----------------------------------------------------------------------------
def _effective_rows(effective: EffectiveConfig) -> list[Row]:
    rows: list[Row] = []
    for field, value, source in effective.explain():
        name = field.removeprefix("environment.")
        secret = field.startswith("environment.") and name in effective.secret_env
        rows.append((field, REDACTED if secret else _plain(value), source))
    return rows


def _plain(value: Any) -> Any:  # noqa: ANN401 - any flattened field value
    return REDACTED if isinstance(value, Secret) else value


def _effective_caption(effective: EffectiveConfig) -> str:
    disabled = "" if effective.enabled else ", disabled"
    return (
        f"{effective.stack}/{effective.instance} ({effective.template_ref}{disabled}): "
        f"container {effective.container_name} on {effective.network}"
    )


def effective_html(effective: EffectiveConfig) -> str:
    """An effective config as an HTML table: field, value, source."""
    caption = _effective_caption(effective)
    return html_table(caption, ("field", "value", "source"), _effective_rows(effective))


def effective_markdown(effective: EffectiveConfig) -> str:
    """An effective config as a Markdown table: field, value, source."""
    caption = _effective_caption(effective)
    return markdown_table(caption, ("field", "value", "source"), _effective_rows(effective))

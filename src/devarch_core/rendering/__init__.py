"""Presentation: plans as text, wiring as Mermaid or DOT, as pure functions over core values.

The planner and the wiring solver return data; turning it into something a person reads lives
here, so the CLI, notebooks and a web adapter draw the same thing from the same values.
``Plan.render_text()``, ``Devarch.graph()`` and the status tables delegate to these functions.
See docs/architecture.md#layers.
"""

from __future__ import annotations

from devarch_core.rendering.graph import wiring_graph
from devarch_core.rendering.plan import format_value, render_import, render_plan
from devarch_core.rendering.status import STATUS_HEADERS, status_rows

__all__ = [
    "STATUS_HEADERS",
    "format_value",
    "render_import",
    "render_plan",
    "status_rows",
    "wiring_graph",
]

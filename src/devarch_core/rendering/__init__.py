"""Presentation: plans as text, wiring as Mermaid or DOT, as pure functions over core values.

The planner and the wiring solver return data; turning it into something a person reads lives
here, so the CLI, notebooks and a web adapter draw the same thing from the same values.
``Plan.render_text()`` and ``Devarch.graph()`` delegate to these functions.
See docs/architecture.md#layers.
"""

from __future__ import annotations

from devarch_core.rendering.graph import wiring_graph
from devarch_core.rendering.plan import format_value, render_import, render_plan

__all__ = ["format_value", "render_import", "render_plan", "wiring_graph"]

"""Presentation lives in ``devarch_core.rendering``; the planner and the solver return data."""

from __future__ import annotations

import inspect

from devarch_core import planning, wiring
from devarch_core.planning import Action, FieldChange, Plan, PlanDiagnostic
from devarch_core.rendering import format_value, render_import, render_plan
from devarch_core.usecases.manifests import ImportResult

PLAN = Plan(
    stack="shop",
    token="t",
    actions=(
        Action(action="remove", instance="old", container="devarch-shop-old", reason="gone"),
        Action(
            action="modify",
            instance="db",
            container="devarch-shop-db",
            reason="configuration changed",
            changes=(
                FieldChange(field="image", old="postgres:15", new="postgres:16", source="user"),
                FieldChange(field="environment.X", old=None, new=[1, 2], forces_recreate=False),
            ),
        ),
        Action(action="start", instance="web", container="devarch-shop-web", reason="exited"),
    ),
    diagnostics=(PlanDiagnostic(severity="warning", code="w", message="careful"),),
    wiring=({"consumer": "web", "import": "db", "provider": "db", "explicit": True},),
)

EXPECTED = (
    "Plan for stack shop: 0 to add, 1 to change, 1 to remove, 1 to start.\n"
    "\n"
    "  - old (devarch-shop-old)  # gone\n"
    "  ~ db (devarch-shop-db)  # configuration changed\n"
    '      image: "postgres:15" → "postgres:16"  (user)  [forces recreate]\n'
    "      environment.X: (none) → [1, 2]  (template)\n"
    "  > web (devarch-shop-web)  # exited\n"
    "\n"
    "Wiring:\n"
    "  web.db → db (explicit)\n"
    "\n"
    "Diagnostics:\n"
    "  warning: careful\n"
)


def test_plan_text_is_the_rendering_function() -> None:
    """``Plan.render_text`` and ``str(plan)`` delegate to ``render_plan``, byte for byte."""
    assert render_plan(PLAN) == EXPECTED
    assert PLAN.render_text() == EXPECTED
    assert str(PLAN) == EXPECTED
    coloured = render_plan(PLAN, colour=True)
    assert coloured == PLAN.render_text(colour=True)
    assert "\x1b[31m  - old (devarch-shop-old)  # gone\x1b[0m\n" in coloured
    assert "\x1b[33m  ~ db" in coloured
    assert "\x1b[36m  > web" in coloured


def test_empty_plan_text() -> None:
    """A plan without actions says so."""
    text = render_plan(Plan(stack="s", token="t"))
    assert text == "Stack s: no changes. The running containers match the configuration.\n"


def test_format_value() -> None:
    """Values are shown as JSON; a missing one as ``(none)``."""
    assert format_value(None) == "(none)"
    assert format_value("a") == '"a"'
    assert format_value({"b": 1, "a": "é"}) == '{"a": "é", "b": 1}'


def test_planner_and_solver_hold_no_presentation() -> None:
    """No ANSI escape, Mermaid or DOT drawing is left in the planner or the wiring solver."""
    for module in (planning, wiring):
        source = inspect.getsource(module)
        for marker in ("\\x1b", "graph LR", "digraph", "classDef"):
            assert marker not in source, (module.__name__, marker)
    assert not hasattr(wiring, "wiring_graph")


def test_import_text() -> None:
    """An import preview: verb, new marker, ``+ ~ -`` per instance (``?`` otherwise), warnings."""
    result = ImportResult(
        stack="shop",
        created=True,
        applied=False,
        actions=(
            Action(
                action="add",
                instance="db",
                container="c",
                changes=(FieldChange(field="image", new="pg"),),
            ),
            Action(action="start", instance="odd", container="c"),
        ),
        warnings=("w1",),
    )
    expected = (
        "Would import stack shop (new):\n  + db\n      image: None → 'pg'\n  ? odd\nwarning: w1\n"
    )
    assert render_import(result) == expected
    assert result.render_text() == expected
    empty = ImportResult(stack="s", created=False, actions=())
    assert render_import(empty) == "Imported stack s:\n  no changes to instances\n"

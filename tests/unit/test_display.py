"""``printable``: the one escaping function every human rendering uses (issue 11 item 14)."""

from __future__ import annotations

import json

from devarch_core.display import printable
from devarch_core.planning import Action, FieldChange, Plan, PlanDiagnostic


def test_printable_escapes_controls_and_bidi_but_keeps_plain_text():
    """ESC, CR, BEL, TAB, C1 and bidi marks become visible escapes; ordinary text is unchanged."""
    escaped = "a\\x1b[31mb\\rc\\x07d\\te\\x9bf\\u202eg"
    assert printable("a\x1b[31mb\rc\x07d\te\x9bf\u202eg") == escaped
    assert printable("plain: é → ü, 日本") == "plain: é → ü, 日本"
    assert printable("one\ntwo") == "one\ntwo"
    assert printable("one\ntwo", newlines=False) == "one\\ntwo"


def test_printable_json_form_stays_valid_json():
    """In JSON text the escapes are ``u`` escapes, so the document still parses to the value."""
    document = json.dumps({"d": "x\x9by\u202ez"}, ensure_ascii=False)
    assert json.loads(printable(document, json=True)) == {"d": "x\x9by\u202ez"}
    assert "\x9b" not in printable(document, json=True)


def test_plan_text_escapes_fields_but_keeps_its_own_colours():
    """A coloured plan sends only its colour sequences; values, reasons and messages are escaped."""
    plan = Plan(
        stack="s",
        token="t",
        actions=(
            Action(
                action="add",
                instance="web",
                container="devarch-s-web",
                reason="new\x1b]0;x\x07",
                changes=(FieldChange(field="environment.X", new="a\x9b2Jb\u202e"),),
            ),
        ),
        diagnostics=(PlanDiagnostic(severity="warning", code="c", message="m\rm"),),
    )
    text = plan.render_text(colour=True)
    assert text.count("\x1b") == 2  # the green and the reset around the action line
    assert "\x1b[32m" in text
    for raw in ("\x07", "\x9b", "\u202e", "\r", "\x1b]"):
        assert raw not in text
    assert "new\\x1b]0;x\\x07" in text

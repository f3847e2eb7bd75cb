"""Apply and compose refuse a plan with errors through one rule (``planner.refuse_errors``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devarch_core.errors import PortConflictError, WiringError
from devarch_core.planning import PlanDiagnostic
from devarch_core.usecases.planner import refuse_errors

if TYPE_CHECKING:
    from devarch_core.app import Devarch


def _cycle(devarch: Devarch) -> None:
    devarch.create_stack("s")
    devarch.add_instance("s", "a", "bb-db")
    devarch.add_instance("s", "b", "bb-db", overrides={"depends_on": ["a"]})
    devarch.set_overrides("s", "a", {"depends_on": ["b"]})


def test_compose_refuses_a_plan_error_as_apply_does(devarch: Devarch) -> None:
    """The same error class and message shape, with the verb each one refuses."""
    _cycle(devarch)
    with pytest.raises(WiringError, match=r"^cannot render stack s: .*cycle") as rendered:
        devarch.compose("s")
    with pytest.raises(WiringError, match=r"^cannot apply stack s: ") as applied:
        devarch.apply("s")
    assert str(rendered.value).split(": ", 1)[1] == str(applied.value).split(": ", 1)[1]


def _diag(code: str, message: str) -> PlanDiagnostic:
    return PlanDiagnostic(severity="error", code=code, instance="web", message=message)


def test_port_clashes_alone_are_a_port_conflict() -> None:
    """Only port clashes: ``PortConflictError`` with one problem each; otherwise WiringError."""
    clashes = [_diag("port-conflict", "8080 taken"), _diag("port-in-use", "9090 in use")]
    with pytest.raises(PortConflictError, match="cannot render stack s") as caught:
        refuse_errors(clashes, "cannot render stack s")
    assert [p.message for p in caught.value.problems] == ["8080 taken", "9090 in use"]
    with pytest.raises(WiringError, match=r"^cannot apply stack s: 8080 taken; no provider$"):
        refuse_errors([clashes[0], _diag("unwired", "no provider")], "cannot apply stack s")
    refuse_errors([], "cannot apply stack s")  # nothing found: nothing refused

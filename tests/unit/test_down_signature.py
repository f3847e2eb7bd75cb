"""``down`` is ``down_report`` counted: one parameter list, written once, seen everywhere."""

from __future__ import annotations

import inspect
import typing

from devarch_core.app import Devarch
from devarch_core.usecases.apply import ApplyService


def test_down_has_down_reports_parameters_and_returns_a_count() -> None:
    """mypy, help(), inspect and the API docs see the real parameters, not ``*args``."""
    report = inspect.signature(ApplyService.down_report)
    for down in (ApplyService.down, Devarch.down):
        sig = inspect.signature(down)
        assert list(sig.parameters) == list(report.parameters)
        assert sig.parameters["volumes"].kind is inspect.Parameter.KEYWORD_ONLY
        assert sig.parameters["ordered"].default is False
        assert typing.get_type_hints(down)["return"] is int
        assert down.__name__ == "down"
        assert (down.__doc__ or "").startswith("Remove a stack's containers")
    assert Devarch.down.__qualname__ == "Devarch.down"


def test_down_counts_what_down_report_removed(devarch: Devarch) -> None:
    """Same arguments through, the number of removed containers back."""
    devarch.create_stack("s")
    devarch.add_instance("s", "a", "bb-db")
    devarch.add_instance("s", "b", "bb-db")
    devarch.apply("s")
    assert devarch.down("s", volumes=True, ordered=True) == 2
    assert devarch.down("s") == 0

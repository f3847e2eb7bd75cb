"""A stack's JSON form is written once in the core; ``stack show`` and the CLI use it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from devarch_adapters.cli._render import instance_data as cli_instance_data
from devarch_adapters.cli._render import stack_data as cli_stack_data
from devarch_core._jsonforms import instance_data, stack_data
from devarch_core.model import Stack
from devarch_core.usecases.stacks import StackSummary

if TYPE_CHECKING:
    from devarch_core.app import Devarch


def test_stack_data_keys_and_values(devarch: Devarch) -> None:
    stack = devarch.create_stack("shop", description="the shop")
    data = stack_data(stack)
    assert list(data) == [
        "name",
        "description",
        "network",
        "enabled",
        "created_at",
        "updated_at",
        "engine",
    ]
    assert data["network"] == "devarch-shop-net"
    assert data["description"] == "the shop"
    assert cli_stack_data(stack) == data


def test_show_stack_has_the_same_fields_but_updated_at_then_instances_and_wires(
    devarch: Devarch,
) -> None:
    stack = devarch.create_stack("shop")
    shown = devarch.show_stack("shop")
    assert list(shown) == [
        "name",
        "description",
        "network",
        "enabled",
        "created_at",
        "engine",
        "instances",
        "wires",
    ]
    assert {k: v for k, v in stack_data(stack).items() if k != "updated_at"} == {
        k: shown[k] for k in list(shown)[:6]
    }


def test_instance_data_keys_and_values(devarch: Devarch) -> None:
    devarch.create_stack("shop")
    instance = devarch.add_instance("shop", "db", "bb-db")
    data = instance_data(instance)
    assert list(data) == [
        "stack",
        "name",
        "template",
        "template_version",
        "description",
        "enabled",
        "container",
        "overrides",
    ]
    assert data["container"] == "devarch-shop-db"
    assert data["overrides"] == instance.overrides.to_data()
    assert cli_instance_data(instance) == data


def test_stack_summary_json_keys_in_order() -> None:
    summary = StackSummary(stack=Stack(id="1", name="shop"), instances=2, enabled_instances=1)
    assert list(summary.to_data().items()) == [
        ("name", "shop"),
        ("description", ""),
        ("network", "devarch-shop-net"),
        ("enabled", True),
        ("instances", 2),
        ("enabled_instances", 1),
        ("running", None),
    ]

"""Store rows of plain classes are built without cattrs, exactly as the converter builds them.

Every case is built both ways: the direct builder of ``structure_row`` and the row converter.
The values (or the error type and text) must be the same.
"""

from __future__ import annotations

from typing import Any

import pytest

from devarch_core import _convert
from devarch_core.model import Engine, Instance, PortAllocation, Stack, Wire
from devarch_core.overrides import Overrides
from devarch_core.ports import AppliedRecord, SealedSecret

STACK = {"id": "s1", "name": "shop", "description": "d", "network": None, "enabled": 1}
INSTANCE = {
    "id": "i1",
    "stack_id": "s1",
    "stack": "shop",
    "name": "db",
    "template": "postgres",
    "template_version": "16.4",
    "enabled": 0,
    "overrides": {"environment": {"A": "1"}, "image": "postgres:17"},
}

CASES: list[tuple[type, dict[str, Any]]] = [
    (Stack, STACK),
    (Stack, {**STACK, "network": "custom", "engine": "e1", "created_at": "t"}),
    (Stack, {"id": "s1", "name": "shop"}),  # defaults
    (Stack, {**STACK, "enabled": True}),
    (Stack, {**STACK, "name": 5}),  # wrong type
    (Stack, {**STACK, "name": True}),
    (Stack, {**STACK, "extra": "x"}),  # unknown column
    (Stack, {"name": "shop"}),  # a required column missing
    (Instance, INSTANCE),
    (Instance, {**INSTANCE, "overrides": Overrides(image="x")}),
    (Instance, {**INSTANCE, "overrides": {}}),
    (Instance, {**INSTANCE, "overrides": {"no_such_field": 1}}),
    (Instance, {**INSTANCE, "overrides": "not a mapping"}),
    (Wire, {"consumer": "web", "import_name": "db", "provider": None}),
    (Wire, {"consumer": "web", "import_name": "db", "provider": "pg", "export_name": "x"}),
    (Wire, {"consumer": "web", "import_name": "db", "provider": 3}),
    (
        PortAllocation,
        {"stack": "s", "instance": "i", "container_port": 5432, "protocol": "tcp", "host_port": 1},
    ),
    (
        PortAllocation,
        {"stack": "s", "instance": "i", "container_port": True, "protocol": "tcp", "host_port": 1},
    ),
    (
        PortAllocation,
        {"stack": "s", "instance": "i", "container_port": "1", "protocol": "tcp", "host_port": 1},
    ),
    (Engine, {"name": "e1", "kind": "docker", "endpoint": "unix:///x", "options": {}}),
    (Engine, {"name": "e1", "options": {"verify": "true", "ca_cert": "/c"}}),
    (Engine, {"name": "e1", "options": {"verify": 1}}),
    (Engine, {"name": "e1", "options": "x"}),
    (SealedSecret, {"stack_id": "s", "instance_id": "i", "name": "P", "sealed": b"\x01"}),
    (
        SealedSecret,
        {"stack_id": "s", "instance_id": "i", "name": "P", "sealed": memoryview(b"\x01\x02")},
    ),
    (SealedSecret, {"stack_id": "s", "instance_id": "i", "name": "P", "sealed": "text"}),
    (
        AppliedRecord,
        {"instance_id": "i", "config_hash": "h", "config": {"a": 1}, "applied_at": "t"},
    ),
]


def _outcome(build: Any, data: dict[str, Any], cls: type) -> tuple[str, object]:
    try:
        value = build(dict(data), cls)
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return ("error", (type(exc).__name__, str(exc)))
    return ("value", value)


@pytest.mark.parametrize(("cls", "data"), CASES)
def test_the_direct_builder_agrees_with_the_converter(cls: type, data: dict[str, Any]) -> None:
    """Same value, or the same error, as ``_row_converter().structure``."""
    slow = _outcome(lambda d, c: _convert._row_converter().structure(d, c), data, cls)
    fast = _outcome(_convert.structure_row, data, cls)
    assert fast == slow


def test_the_plain_classes_are_built_directly() -> None:
    """The store's plain rows have a direct builder; a row with free-form data does not."""
    for cls in (Stack, Instance, Wire, PortAllocation, Engine, SealedSecret):
        assert _convert._fast_row(cls) is not None, cls
    assert _convert._fast_row(AppliedRecord) is None


def test_a_bool_column_is_a_bool() -> None:
    """SQLite's 0/1 arrive as bools, as through the converter."""
    stack = _convert.structure_row(STACK, Stack)
    assert stack.enabled is True
    inst = _convert.structure_row(INSTANCE, Instance)
    assert inst.enabled is False
    assert inst.overrides == Overrides.from_data(INSTANCE["overrides"])

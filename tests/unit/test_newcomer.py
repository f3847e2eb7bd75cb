"""Papercuts a new user meets (issue 11 item 29): ``print(plan)``, ``connect(catalog=)``, demo."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters import connect
from devarch_core.planning import Action, FieldChange, Plan
from devarch_core.testing import FakeRuntime

if TYPE_CHECKING:
    from types import ModuleType

CATALOG = Path(__file__).resolve().parents[2] / "examples" / "catalog"


def _plan() -> Plan:
    changes = tuple(FieldChange(field=f"environment.V{i}", new="x" * 40) for i in range(40))
    return Plan(
        stack="shop",
        token="t" * 32,
        actions=(
            Action(action="add", instance="web", container="devarch-shop-web", changes=changes),
        ),
    )


def test_str_of_a_plan_is_its_text_and_repr_is_one_short_line():
    """``print(plan)`` shows the text rendering; ``repr`` stays a short summary."""
    plan = _plan()
    assert str(plan) == plan.render_text()
    assert str(plan).startswith("Plan for stack shop: 1 to add")
    assert repr(plan) == "<Plan shop: 1 to add, 0 to change, 0 to remove, 0 to start>"


@pytest.mark.parametrize("as_type", [str, Path])
def test_connect_takes_one_catalog_directory_as_a_string_or_path(tmp_path, as_type):
    """``connect(catalog="dir")`` is one directory, not one path per character."""
    devarch = connect(home=tmp_path / "home", runtime="none", catalog=as_type(str(CATALOG)))
    try:
        assert getattr(devarch.settings, "catalog_paths", None) == (CATALOG,)
        assert devarch.catalog.get("bb-web").name == "bb-web"
    finally:
        getattr(devarch.store, "close", lambda: None)()


def _demo_prepare() -> ModuleType:  # scripts/ is no package: load the helper from its file
    path = Path(__file__).resolve().parents[2] / "scripts" / "demo_prepare.py"
    spec = importlib.util.spec_from_file_location("demo_prepare", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_takes_a_stack_name_and_leaves_another_stores_stack_alone(tmp_path, capsys):
    """demo_prepare renames the example stack, and refuses a name another store's stack uses."""
    demo = _demo_prepare()
    engine = FakeRuntime(images={"devarch-test/busybox:latest": "sha256:busybox"})

    def store(name: str):
        return lambda: connect(home=tmp_path / name, runtime=engine, catalog=CATALOG)

    other = store("other-home")()
    other.import_yaml(demo.EXAMPLE.read_text(encoding="utf-8"))
    other.apply("shop")
    before = sorted(c.name for c in engine.list_containers({}))
    # the demo's own store must not touch the other store's "shop"
    assert demo.main(["shop", str(tmp_path / "out1")], connect=store("demo-home")) == 1
    assert "another devarch store" in capsys.readouterr().err
    assert not (tmp_path / "out1").exists()
    # another name is fine, and so is the same store running its own demo again
    assert demo.main(["shop2", str(tmp_path / "out2")], connect=store("demo-home")) == 0
    assert "name: shop2" in (tmp_path / "out2" / "devarch.yml").read_text()
    assert demo.main(["shop", str(tmp_path / "out3")], connect=store("other-home")) == 0
    assert sorted(c.name for c in engine.list_containers({})) == before
    assert demo.main(["Bad Name", str(tmp_path / "out4")], connect=store("demo-home")) == 1

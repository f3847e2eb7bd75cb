"""Wiring and ownership as plan and apply see them.

Diagnostics block apply, wire changes show their source, and apply never adopts resources it did
not create.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.errors import ConflictError, WiringError
from devarch_core.testing import FakeRuntime, fake_devarch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog_dirs([EXAMPLES])


@pytest.fixture
def devarch(catalog):
    return fake_devarch(catalog, images={IMAGE: "sha256:1"})


def test_a_changed_provider_value_shows_in_the_consumer_plan_with_the_wire_source(devarch):
    """Changing what db exports (its user) modifies web with source ``wire:db`` for DB_USER."""
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    devarch.add_instance("s", "web", "bb-web")
    devarch.apply("s")
    devarch.set_overrides("s", "db", {"environment": {"POSTGRES_USER": "shop"}})
    plan = devarch.plan("s")
    web = next(a for a in plan.actions if a.instance == "web")
    assert web.action == "modify"
    change = next(c for c in web.changes if c.field == "environment.DB_USER")
    assert (change.old, change.new, change.source) == ("app", "shop", "wire:db")
    db = next(a for a in plan.actions if a.instance == "db")
    assert next(c for c in db.changes if c.field == "environment.POSTGRES_USER").source == "user"


def test_a_missing_required_import_blocks_apply_and_creates_nothing(devarch):
    """``web`` needs a postgres provider: with none the plan shows a ``missing`` error; no apply."""
    devarch.create_stack("s")
    devarch.add_instance("s", "web", "bb-web")
    plan = devarch.plan("s")
    [error] = plan.errors
    assert error.code == "missing"
    assert "postgres" in error.message
    with pytest.raises(WiringError, match="postgres"):
        devarch.apply("s")
    runtime = devarch.runtime
    assert isinstance(runtime, FakeRuntime)
    assert runtime.calls_to("create_container") == []


def test_two_providers_are_ambiguous_until_an_explicit_wire_picks_one(devarch):
    """Two databases make web's import ambiguous (naming both); an explicit wire resolves it."""
    devarch.create_stack("s")
    devarch.add_instance("s", "db1", "bb-db")
    devarch.add_instance("s", "db2", "bb-db")
    devarch.add_instance("s", "web", "bb-web")
    [error] = devarch.plan("s").errors
    assert error.code == "ambiguous"
    assert "db1" in error.message
    assert "db2" in error.message
    assert "devarch wire add" in error.message
    devarch.add_wire("s", "web", "db", "db2")
    plan = devarch.plan("s")
    assert plan.errors == ()
    assert {
        "consumer": "web",
        "import": "db",
        "provider": "db2",
        "export": "db",
        "explicit": True,
    } in plan.wiring
    devarch.apply("s")
    assert devarch.effective("s", "web").service.environment["DB_HOST"] == "devarch-s-db2"


def test_a_dependency_cycle_is_an_error_naming_the_cycle(devarch):
    """``db`` depending on ``web`` wired to ``db`` is a cycle that the plan names; apply refuses."""
    devarch.create_stack("s")
    devarch.add_instance("s", "web", "bb-web")
    devarch.add_instance("s", "db", "bb-db", overrides={"depends_on": ["web"]})
    errors = [d for d in devarch.plan("s").errors if d.code == "cycle"]
    assert errors
    assert "db" in errors[0].message
    assert "web" in errors[0].message
    with pytest.raises(WiringError):
        devarch.apply("s")


def test_wiring_never_crosses_stacks(devarch):
    """The same templates in two stacks each wire to their own stack's database."""
    for stack in ("a", "b"):
        devarch.create_stack(stack)
        devarch.add_instance(stack, "db", "bb-db")
        devarch.add_instance(stack, "web", "bb-web")
    assert devarch.effective("a", "web").service.environment["DB_HOST"] == "devarch-a-db"
    assert devarch.effective("b", "web").service.environment["DB_HOST"] == "devarch-b-db"
    assert devarch.effective("a", "web").service.environment["DB_PORT"] == "5432"


def test_apply_never_adopts_a_network_it_did_not_create(devarch):
    """A network with the stack's name but without this store's labels is refused, not joined."""
    runtime = devarch.runtime
    assert isinstance(runtime, FakeRuntime)
    runtime.ensure_network("devarch-s-net", {"team": "someone-else"})
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    errors = [d for d in devarch.plan("s").errors if d.code == "network-conflict"]
    assert len(errors) == 1
    assert "devarch-s-net already exists and was not created by devarch" in errors[0].message
    with pytest.raises(ConflictError, match="devarch-s-net") as failed:
        devarch.apply("s")
    assert "--network" in str(failed.value)
    assert runtime.calls_to("create_container") == []
    assert runtime.calls_to("ensure_network") == ["devarch-s-net"]  # only the test's own call
    assert devarch.lock.holder("s") is None


def test_apply_never_adopts_a_volume_of_another_owner(devarch, catalog):
    """A volume named like the instance's but owned by another store is refused."""
    other = fake_devarch(catalog, images={IMAGE: "sha256:1"}, runtime=devarch.runtime)
    other.create_stack("s")
    other.add_instance("s", "db", "bb-db")
    other.apply("s")
    other.down("s")
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    [conflict] = devarch.plan("s").errors
    assert conflict.code == "volume-conflict"
    assert f"another devarch store (owner {other.owner}" in conflict.message
    with pytest.raises(ConflictError, match="devarch-s-db-data"):
        devarch.apply("s")

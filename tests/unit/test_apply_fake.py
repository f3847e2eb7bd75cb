"""Plan and apply on the in-memory fakes: order, failures, removals, host ports, plan JSON, secrets.

The facade is built from ``devarch_core.testing`` fakes and the example busybox catalog, so these
tests run in milliseconds and can inject engine failures the real engines cannot.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import attrs
import pytest

from devarch_core.errors import ApplyError, PortConflictError, StackLockedError
from devarch_core.overrides import PortOverride
from devarch_core.planning import Plan
from devarch_core.testing import (
    FakeRuntime,
    InMemoryStackLock,
    InMemoryStore,
    fake_devarch,
)

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

IMAGE = "devarch-test/busybox:latest"
SECRET = "s3cr3t-Pa55word"


def make(
    catalog: Catalog, *, busy: tuple[int, ...] = (), store: InMemoryStore | None = None
) -> Devarch:
    """Build a facade on fresh fakes (or on a shared ``store``)."""
    return fake_devarch(catalog, images={IMAGE: "sha256:1"}, busy=busy, store=store)


def runtime_of(devarch: Devarch) -> FakeRuntime:
    """Return the facade's fake runtime."""
    assert isinstance(devarch.runtime, FakeRuntime)
    return devarch.runtime


def lock_of(devarch: Devarch) -> InMemoryStackLock:
    """Return the facade's in-memory lock."""
    assert isinstance(devarch.lock, InMemoryStackLock)
    return devarch.lock


@pytest.fixture
def devarch(catalog: Catalog) -> Devarch:
    """Build a facade with stack ``shop``: db (bb-db), cache (bb-cache) and web (bb-web)."""
    d = make(catalog)
    d.create_stack("shop")
    d.add_instance("shop", "web", "bb-web")
    d.add_instance("shop", "db", "bb-db")
    d.add_instance("shop", "cache", "bb-cache")
    return d


def kinds(plan: Plan) -> list[tuple[str, str]]:
    """Return ``(action, instance)`` pairs of a plan."""
    return [(a.action, a.instance) for a in plan.actions]


def host_ports(devarch: Devarch, stack: str) -> dict[str, tuple[str, ...]]:
    """Return each instance's published ``host:port->container`` strings."""
    return {row.instance: row.ports for row in devarch.status(stack)}


def test_apply_creates_providers_before_their_consumers(devarch: Devarch) -> None:
    """Db and cache are created and started before web, which imports both."""
    devarch.apply("shop")
    rt = runtime_of(devarch)
    created = rt.calls_to("create_container")
    assert sorted(created[:2]) == ["devarch-shop-cache", "devarch-shop-db"]
    assert created[2:] == ["devarch-shop-web"]
    started = [(op, t) for op, t in rt.calls if op in ("start_container", "create_container")]
    web_created = started.index(("create_container", "devarch-shop-web"))
    assert ("start_container", "devarch-shop-db") in started[:web_created]
    assert ("start_container", "devarch-shop-cache") in started[:web_created]
    assert rt.calls.index(("ensure_network", "devarch-shop-net")) < rt.calls.index(
        ("create_container", created[0])
    )


def test_after_apply_a_new_plan_is_empty(devarch: Devarch) -> None:
    """Apply converges: the next plan has no actions, and applying again does nothing."""
    devarch.apply("shop")
    assert devarch.plan("shop").actions == ()
    calls = len(runtime_of(devarch).calls_to("create_container"))
    assert devarch.apply("shop").plan.actions == ()
    assert len(runtime_of(devarch).calls_to("create_container")) == calls


def test_a_failing_create_raises_apply_error_naming_the_instance_and_leaves_no_lock(
    devarch: Devarch,
) -> None:
    """An engine failure creating web is an ApplyError about web; the lock is released."""
    runtime_of(devarch).fail_next("create_container", "disk full", target="devarch-shop-web")
    with pytest.raises(ApplyError, match=r"^web: .*disk full") as caught:
        devarch.apply("shop")
    assert caught.value.instance == "web"
    assert caught.value.step == "containers"
    assert lock_of(devarch).holder("shop") is None


def test_re_applying_after_a_failed_apply_converges(devarch: Devarch) -> None:
    """After a failed create, the next plan adds only what is missing and apply converges."""
    runtime_of(devarch).fail_next("create_container", target="devarch-shop-web")
    with pytest.raises(ApplyError):
        devarch.apply("shop")
    assert kinds(devarch.plan("shop")) == [("add", "web")]
    devarch.apply("shop")
    assert devarch.plan("shop").actions == ()
    assert [r.state for r in devarch.status("shop")] == ["running"] * 3


def test_a_failing_start_leaves_no_lock_and_re_apply_starts_it(devarch: Devarch) -> None:
    """An engine failure starting db stops the apply (web is never created); re-apply converges."""
    runtime_of(devarch).fail_next("start_container", target="devarch-shop-db")
    with pytest.raises(ApplyError, match="db"):
        devarch.apply("shop")
    assert lock_of(devarch).holder("shop") is None
    assert "devarch-shop-web" not in runtime_of(devarch).calls_to("create_container")
    assert ("start", "db") in kinds(devarch.plan("shop"))
    devarch.apply("shop")
    assert devarch.plan("shop").actions == ()


def test_a_removed_instance_is_planned_as_remove(devarch: Devarch) -> None:
    """Deleting an instance plans ``remove`` for its container; apply removes it."""
    devarch.apply("shop")
    devarch.remove_instance("shop", "cache")
    plan = devarch.plan("shop")
    assert ("remove", "cache") in kinds(plan)
    assert next(a for a in plan.actions if a.action == "remove").container == "devarch-shop-cache"
    devarch.apply("shop")
    assert runtime_of(devarch).inspect_container("devarch-shop-cache") is None
    assert devarch.plan("shop").actions == ()


def test_a_disabled_instance_is_planned_as_remove(devarch: Devarch) -> None:
    """Disabling an instance plans ``remove`` for its container; enabling it again plans ``add``."""
    devarch.apply("shop")
    devarch.update_instance("shop", "cache", enabled=False)
    plan = devarch.plan("shop")
    assert ("remove", "cache") in kinds(plan)
    devarch.apply("shop")
    assert runtime_of(devarch).inspect_container("devarch-shop-cache") is None
    devarch.update_instance("shop", "cache", enabled=True)
    assert ("add", "cache") in kinds(devarch.plan("shop"))


def test_host_ports_are_sticky_across_down_and_apply(devarch: Devarch) -> None:
    """After down, another stack's apply, and apply again, each instance keeps its host ports."""
    devarch.apply("shop")
    before = host_ports(devarch, "shop")
    assert all(before.values())
    assert devarch.down("shop") == 3
    devarch.create_stack("blog")
    devarch.add_instance("blog", "db", "bb-db")
    devarch.apply("blog")
    taken = {p.split("->")[0] for p in host_ports(devarch, "blog")["db"]}
    assert taken.isdisjoint({p.split("->")[0] for ports in before.values() for p in ports})
    devarch.apply("shop")
    assert host_ports(devarch, "shop") == before


def pin_behind_the_back(devarch: Devarch, stack: str, name: str, container: int, host: int) -> None:
    """Store a host port pin without the write-time rules (as an older devarch could have)."""
    with devarch.store.transaction() as tx:
        st = tx.get_stack(stack)
        assert st is not None
        inst = tx.get_instance(st.id, name)
        assert inst is not None
        ports = (*inst.overrides.ports, PortOverride(container=container, host=host))
        tx.update_instance(attrs.evolve(inst, overrides=attrs.evolve(inst.overrides, ports=ports)))


def test_a_pinned_host_port_already_allocated_in_another_stack_is_a_plan_error_naming_both(
    catalog: Catalog,
) -> None:
    """A port pinned in stack B that stack A's db holds is refused, and a plan error.

    A port pinned in stack B that stack A's db holds is refused when written, and (if a store
    holds it anyway) is a plan error naming both owners that apply refuses as a port conflict.
    """
    devarch = make(catalog)
    pin = {"ports": [{"container": 5432, "host": 25432}]}
    devarch.create_stack("a")
    devarch.add_instance("a", "db", "bb-db", overrides=pin)
    devarch.apply("a")
    devarch.create_stack("b")
    with pytest.raises(PortConflictError, match="a/db") as caught:
        devarch.add_instance("b", "db", "bb-db", overrides=pin)
    assert caught.value.problems[0].path == "instances.db.overrides.ports[0].host"
    assert devarch.show_stack("b")["instances"] == []
    devarch.add_instance("b", "db", "bb-db")
    pin_behind_the_back(devarch, "b", "db", 5432, 25432)
    plan = devarch.plan("b")
    conflicts = [d for d in plan.errors if d.code == "port-conflict"]
    assert len(conflicts) == 1
    assert "25432" in conflicts[0].message
    assert "a/db" in conflicts[0].message
    assert "b/db" in conflicts[0].message
    with pytest.raises(PortConflictError, match="25432"):
        devarch.apply("b")
    assert runtime_of(devarch).inspect_container("devarch-b-db") is None


def test_a_host_port_pinned_by_two_stacks_before_any_apply_is_a_plan_error_naming_both(
    catalog: Catalog,
) -> None:
    """Two stacks pinning the same host port conflict at plan time even before either applies."""
    devarch = make(catalog)
    pin = {"ports": [{"container": 5432, "host": 25432}]}
    devarch.create_stack("a")
    devarch.add_instance("a", "db", "bb-db", overrides=pin)
    devarch.create_stack("b")
    with pytest.raises(PortConflictError, match="a/db"):
        devarch.add_instance("b", "db", "bb-db", overrides=pin)
    devarch.add_instance("b", "db", "bb-db")
    pin_behind_the_back(devarch, "b", "db", 5432, 25432)
    for stack in ("a", "b"):
        messages = [d.message for d in devarch.plan(stack).errors if d.code == "port-conflict"]
        assert len(messages) == 1
        assert "a/db" in messages[0]
        assert "b/db" in messages[0]
    with pytest.raises(PortConflictError, match="25432"):
        devarch.apply("a")


def test_a_host_port_pinned_by_two_instances_of_one_stack_is_a_plan_error_naming_both(
    catalog: Catalog,
) -> None:
    """Two instances of one stack pinning one host port get an error naming both."""
    devarch = make(catalog)
    devarch.create_stack("a")
    devarch.add_instance(
        "a", "db", "bb-db", overrides={"ports": [{"container": 5432, "host": 25432}]}
    )
    with pytest.raises(PortConflictError, match="a/db"):
        devarch.add_instance(
            "a", "cache", "bb-cache", overrides={"ports": [{"container": 6379, "host": 25432}]}
        )
    devarch.add_instance("a", "cache", "bb-cache")
    pin_behind_the_back(devarch, "a", "cache", 6379, 25432)
    messages = [d.message for d in devarch.plan("a").errors if d.code == "port-conflict"]
    assert len(messages) == 1
    assert "a/cache" in messages[0]
    assert "a/db" in messages[0]


def test_a_pinned_host_port_bound_by_another_process_is_a_plan_error(catalog: Catalog) -> None:
    """A pinned port the probe reports busy is a ``port-in-use`` error; apply creates nothing."""
    devarch = make(catalog, busy=(25432,))
    devarch.create_stack("a")
    devarch.add_instance(
        "a", "db", "bb-db", overrides={"ports": [{"container": 5432, "host": 25432}]}
    )
    plan = devarch.plan("a")
    in_use = [d for d in plan.errors if d.code == "port-in-use"]
    assert len(in_use) == 1
    assert "25432" in in_use[0].message
    assert "a/db" in in_use[0].message
    with pytest.raises(PortConflictError):
        devarch.apply("a")
    assert runtime_of(devarch).calls_to("create_container") == []
    assert lock_of(devarch).holder("a") is None


def test_an_allocated_host_port_skips_ports_bound_by_other_processes(catalog: Catalog) -> None:
    """Allocation never picks a port the probe reports busy."""
    devarch = make(catalog, busy=(20000, 20001))
    devarch.create_stack("a")
    devarch.add_instance("a", "db", "bb-db")
    devarch.apply("a")
    assert host_ports(devarch, "a")["db"] == ("127.0.0.1:20002->5432/tcp",)


def test_plan_json_round_trips(devarch: Devarch) -> None:
    """``Plan.from_json(p.to_json()) == p`` with adds, modifies, removes, diagnostics, wiring."""
    first = devarch.plan("shop")
    assert first.actions
    assert first.wiring
    assert Plan.from_json(first.to_json()) == first
    devarch.apply("shop")
    devarch.set_overrides("shop", "web", {"environment": {"APP_TITLE": "shop"}})
    devarch.update_instance("shop", "cache", enabled=False)
    second = devarch.plan("shop")
    assert {a.action for a in second.actions} == {"modify", "remove"}
    assert second.diagnostics
    assert Plan.from_json(second.to_json()) == second


def test_secrets_never_appear_in_plan_json_or_text(catalog: Catalog) -> None:
    """A secret value and values derived from it appear only as ``***`` in plan JSON and text."""
    devarch = make(catalog)
    devarch.create_stack("shop")
    devarch.add_instance("shop", "db", "bb-db", secrets={"POSTGRES_PASSWORD": SECRET})
    devarch.add_instance("shop", "web", "bb-web")
    plan = devarch.plan("shop")
    text = plan.to_json() + plan.render_text()
    assert SECRET not in text
    changes = {c.field: c for a in plan.actions for c in a.changes}
    assert changes["environment.POSTGRES_PASSWORD"].new == "***"
    assert changes["environment.DB_PASSWORD"].new == "***"
    devarch.apply("shop")
    devarch.set_overrides("shop", "db", {"environment": {"POSTGRES_PASSWORD": SECRET + "2"}})
    plan = devarch.plan("shop")
    text = plan.to_json() + plan.render_text()
    assert SECRET not in text
    assert kinds(plan) == [("modify", "db"), ("modify", "web")]
    data = json.loads(plan.to_json())
    db_changes = {c["field"]: c for c in data["actions"][0]["changes"]}
    assert db_changes["environment.POSTGRES_PASSWORD"]["old"] == "***"
    assert db_changes["environment.POSTGRES_PASSWORD"]["new"] == "***"


def test_a_stale_plan_is_refused_and_changes_nothing(devarch: Devarch) -> None:
    """An override changed after planning makes apply(plan) stale; no container is made."""
    from devarch_core.errors import StalePlanError  # noqa: PLC0415

    plan = devarch.plan("shop")
    devarch.set_overrides("shop", "db", {"environment": {"POSTGRES_DB": "other"}})
    with pytest.raises(StalePlanError, match="configuration of db changed"):
        devarch.apply("shop", plan)
    assert runtime_of(devarch).calls_to("create_container") == []
    assert lock_of(devarch).holder("shop") is None


def test_a_busy_sticky_host_port_keeps_the_instance_in_the_plan(catalog: Catalog) -> None:
    """An allocated (not pinned) port that another process holds is an error on a planned add.

    The instance is never silently left out of the adds: the plan shows ``+ db`` and a
    ``port-in-use`` error that names the command showing the holder.
    """
    devarch = make(catalog)
    devarch.create_stack("a")
    devarch.add_instance("a", "db", "bb-db")
    devarch.apply("a")
    port = int(host_ports(devarch, "a")["db"][0].split(":")[1].split("-")[0])
    devarch.down("a")
    probe = devarch.port_probe
    assert probe is not None
    probe.busy.add(port)  # type: ignore[attr-defined]
    plan = devarch.plan("a")
    assert [(a.action, a.instance) for a in plan.actions] == [("add", "db")]
    in_use = [d for d in plan.errors if d.code == "port-in-use"]
    assert len(in_use) == 1
    assert f"ss -ltnp 'sport = :{port}'" in in_use[0].message
    assert not [d for d in plan.errors if d.code == "invalid"]


def test_apply_and_down_inside_locked_use_the_held_lock(devarch: Devarch) -> None:
    """``locked`` holds the stack lock once; apply and down inside it do not deadlock or fail."""
    with devarch.locked("shop", holder="front end"):
        assert lock_of(devarch).holder("shop") is not None
        devarch.apply("shop")
        devarch.down("shop")
    assert lock_of(devarch).holder("shop") is None


def test_delete_stack_takes_the_stack_lock(devarch: Devarch) -> None:
    """While another session holds the lock, delete fails with StackLockedError and keeps all."""
    devarch.apply("shop")
    lock = lock_of(devarch)
    with lock.acquire("shop", holder="pid 1 on elsewhere"):
        with pytest.raises(StackLockedError) as caught:
            devarch.delete_stack("shop")
        assert "pid 1 on elsewhere" in str(caught.value)
        with pytest.raises(StackLockedError):
            devarch.apply("shop")
    assert devarch.get_stack("shop").name == "shop"
    assert {r.state for r in devarch.status("shop")} == {"running"}
    devarch.delete_stack("shop")
    assert runtime_of(devarch).list_containers({}) == []

"""Objects of other owners on a shared engine, and a stack's network changed (on the fakes).

Two stores (two DEVARCH_HOMEs) share one engine: a stack of the second store named like one of
the first collides with its network and containers. The second store's plan names the owner,
apply refuses before touching anything, and ``down`` removes nothing of the other store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devarch_adapters.doctor import run_doctor
from devarch_core.errors import ConflictError, EngineError
from devarch_core.testing import (
    FakeEngineConnector,
    FakeRuntime,
    InMemoryKeys,
    InMemoryStore,
    fake_devarch,
)

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

IMAGE = "devarch-test/busybox:latest"


def _runtime(devarch: Devarch) -> FakeRuntime:
    assert isinstance(devarch.runtime, FakeRuntime)
    return devarch.runtime


def test_a_same_named_stack_of_another_store_is_a_plan_conflict(catalog: Catalog) -> None:
    """The plan names the other owner, apply creates nothing, nothing advises removing."""
    first = fake_devarch(catalog, images={IMAGE: "sha256:1"})
    second = fake_devarch(catalog, images={IMAGE: "sha256:1"}, runtime=first.runtime)
    assert first.owner != second.owner
    for devarch in (first, second):
        devarch.create_stack("twin")
        devarch.add_instance("twin", "db", "bb-db")
    first.apply("twin")
    runtime = _runtime(first)
    created = len(runtime.calls_to("create_container"))

    plan = second.plan("twin")
    codes = sorted(d.code for d in plan.errors)
    assert codes == ["container-conflict", "network-conflict", "volume-conflict"]
    for diag in plan.errors:
        assert first.owner in diag.message, diag.message
        assert "remove" not in diag.message, diag.message
    [add] = plan.actions
    assert add.action == "add"
    assert add.reason.startswith("conflict: devarch-twin-db already exists")
    assert first.owner in add.reason

    with pytest.raises(ConflictError, match=first.owner):
        second.apply("twin")
    assert len(runtime.calls_to("create_container")) == created
    assert runtime.calls_to("ensure_network") == ["devarch-twin-net"]  # the first store's only

    result = second.down_report("twin")
    assert result.containers == ()
    assert result.networks == ()
    assert "removed nothing" in result.describe()
    assert first.owner in result.describe()
    assert {r.state for r in first.status("twin")} == {"running"}


def test_a_renamed_network_is_removed_at_the_next_apply(catalog: Catalog) -> None:
    """``stack update --network``: apply moves the containers and removes the old network.

    The plan warns about it and doctor reports it as a leftover until then.
    """
    devarch = fake_devarch(catalog, images={IMAGE: "sha256:1"})
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    devarch.apply("s")
    runtime = _runtime(devarch)
    devarch.update_stack("s", network="s-custom")

    orphans = next(c for c in run_doctor(devarch) if c.name == "orphans")
    assert orphans.status == "warn"
    assert "network devarch-s-net (stack s now uses s-custom)" in orphans.message

    plan = devarch.plan("s")
    assert [d.code for d in plan.diagnostics if d.code == "old-network"] == ["old-network"]
    devarch.apply("s")
    assert [n.name for n in runtime.list_networks({})] == ["s-custom"]
    assert not [d for d in devarch.plan("s").diagnostics if d.code == "old-network"]
    orphans = next(c for c in run_doctor(devarch) if c.name == "orphans")
    assert orphans.status == "pass"


def _engine(name: str) -> FakeRuntime:
    runtime = FakeRuntime(images={IMAGE: "sha256:1"})
    runtime.name = name
    return runtime


def test_a_stack_bound_to_an_engine_is_never_planned_on_another(catalog: Catalog) -> None:
    """A stack applied on one engine is bound to it: another facade's engine never touches it.

    Without a way to open the stack's engine, plan, apply, status, down and delete refuse, naming
    the engine the stack is bound to; with one (a connector), they act on that engine.
    """
    store = InMemoryStore()
    keys = InMemoryKeys()
    docker_rt = _engine("docker")
    docker = fake_devarch(catalog, store=store, keys=keys, runtime=docker_rt)
    docker.create_stack("s")
    docker.add_instance("s", "db", "bb-db")
    docker.apply("s")
    assert docker.stack_engine("s") == "docker"
    assert docker.get_stack("s").engine == "docker"
    podman = fake_devarch(
        catalog,
        store=store,
        keys=keys,
        runtime=_engine("podman"),
        runtime_auto=True,
        runtime_note="Docker did not answer",
    )
    for call in (
        lambda: podman.plan("s"),
        lambda: podman.apply("s"),
        lambda: podman.status("s"),
        lambda: podman.down("s"),
        lambda: podman.delete_stack("s"),
    ):
        with pytest.raises(EngineError) as caught:
            call()
        assert "stack s is bound to engine docker" in str(caught.value)
    assert podman.get_stack("s").name == "s"
    assert _runtime(podman).calls_to("create_container") == []
    assert {r.state for r in docker.status("s")} == {"running"}

    podman.create_stack("new")
    podman.add_instance("new", "db", "bb-db")
    assert [a.action for a in podman.plan("new").actions] == ["add"]

    connector = FakeEngineConnector({"docker": docker_rt})
    other = fake_devarch(
        catalog, store=store, keys=keys, runtime=_engine("podman"), connector=connector
    )
    assert other.plan("s").actions == ()
    assert {r.state for r in other.status("s")} == {"running"}
    assert connector.opened
    docker.delete_stack("s")
    assert docker.stack_engine("new") is None

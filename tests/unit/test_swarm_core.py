"""The core's Swarm hooks on the in-memory fakes: in-place updates and every-interface ports.

An engine that changes a container in place (``UpdatingRuntime``, Swarm) gets ``update_container``
for a changed instance instead of stop/remove/create; an engine that publishes on every interface
(``EngineInfo.binds_host_ip`` False) publishes only ports with an explicit host, with a warning.
Also the composition root's ``DEVARCH_RUNTIME=swarm`` and the adapter's mapping helpers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.bootstrap import Settings, open_runtime
from devarch_adapters.filesystem import load_catalog_dirs
from devarch_adapters.swarm import SwarmRuntime
from devarch_adapters.swarm.runtime import _restart_policy, _same_template, _state
from devarch_core.engine import ContainerInfo, ContainerSpec, EngineInfo
from devarch_core.errors import EngineError
from devarch_core.ports import UpdatingRuntime
from devarch_core.testing import FakeRuntime, fake_devarch

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"


class UpdatingFake(FakeRuntime):
    """A fake that updates in place: it records the update and keeps the container's id."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.updated: list[str] = []
        self.removed: list[str] = []

    def update_container(self, spec: ContainerSpec) -> ContainerInfo:
        self.updated.append(spec.name)
        old = self.inspect_container(spec.name)
        assert old is not None
        super().remove_container(spec.name)
        self.create_container(spec)
        self.start_container(spec.name)
        info = self.inspect_container(spec.name)
        assert info is not None
        return info

    def remove_container(self, name: str) -> bool:
        self.removed.append(name)
        return super().remove_container(name)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_dirs([EXAMPLES])


def test_a_changed_instance_is_updated_in_place_on_an_updating_runtime(catalog):
    """Apply calls update_container for the modified instance and removes nothing."""
    runtime = UpdatingFake(images={IMAGE: "sha256:1"})
    assert isinstance(runtime, UpdatingRuntime)
    assert not isinstance(FakeRuntime(), UpdatingRuntime)
    devarch = fake_devarch(catalog, runtime=runtime)
    devarch.create_stack("shop")
    devarch.add_instance("shop", "db", "bb-db")
    devarch.add_instance("shop", "web", "bb-web")
    devarch.apply("shop")
    assert runtime.updated == []
    devarch.set_overrides("shop", "web", {"environment": {"APP_TITLE": "new"}})
    result = devarch.apply("shop")
    assert [(a.action, a.instance) for a in result.plan.actions] == [("modify", "web")]
    assert runtime.updated == ["devarch-shop-web"]
    assert runtime.removed == []
    assert devarch.plan("shop").actions == ()


def every_interface_devarch(catalog: Catalog, **ports: list[str]) -> Devarch:
    info = EngineInfo(engine="swarm", version="1", endpoint="memory://swarm", binds_host_ip=False)
    runtime = FakeRuntime(images={IMAGE: "sha256:1"}, engine_info=info)
    devarch = fake_devarch(catalog, runtime=runtime, port_range=(41000, 41099))
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    devarch.add_instance("s", "web", "bb-web", overrides={"ports": ports.get("web", [])})
    return devarch


def test_only_explicit_ports_are_published_where_the_engine_binds_every_interface(catalog):
    """No host: not published (info); a host: published with a warning naming every interface."""
    devarch = every_interface_devarch(catalog, web=["41050:8080"])
    plan = devarch.plan("s")
    found = {(d.code, d.instance, d.severity) for d in plan.diagnostics}
    assert ("port-not-published", "db", "info") in found
    assert ("port-on-every-interface", "web", "warning") in found
    warning = next(d for d in plan.diagnostics if d.code == "port-on-every-interface")
    assert "41050" in warning.message
    assert "every interface" in warning.message
    devarch.apply("s")
    rows = {row.instance: row for row in devarch.status("s")}
    assert rows["db"].host_ports == ()
    assert rows["web"].host_port(8080) == 41050


def test_ports_are_allocated_as_usual_where_the_engine_binds_one_address(catalog):
    """On Docker (binds_host_ip True) an unpinned port is still allocated and published."""
    devarch = fake_devarch(catalog, images={IMAGE: "sha256:1"}, port_range=(41100, 41199))
    devarch.create_stack("d")
    devarch.add_instance("d", "db", "bb-db")
    plan = devarch.plan("d")
    assert not [d for d in plan.diagnostics if d.code.startswith("port-")]
    devarch.apply("d")
    assert devarch.status("d")[0].host_port(5432) is not None


def test_devarch_runtime_swarm_is_accepted_and_names_an_unreachable_manager(tmp_path, monkeypatch):
    """DEVARCH_RUNTIME=swarm selects the Swarm adapter at DEVARCH_SWARM_HOST."""
    assert Settings.from_env({"DEVARCH_RUNTIME": "swarm"}, home=tmp_path).runtime == "swarm"
    monkeypatch.setenv("DEVARCH_SWARM_HOST", f"unix://{tmp_path}/none.sock")
    runtime, why = open_runtime("swarm")
    assert runtime is None
    assert why is not None
    assert "no swarm manager reachable" in why
    assert "none.sock" in why


def test_the_endpoint_mode_is_checked_and_explained():
    """An unknown mode is refused; a remote manager uses dnsrr and says why."""
    with pytest.raises(EngineError, match="auto, vip or dnsrr"):
        SwarmRuntime("tcp://127.0.0.1:1", endpoint_mode="fast")
    remote = SwarmRuntime("tcp://manager:2376")
    assert remote.endpoint_mode == "dnsrr"
    assert "remote" in remote.endpoint_mode_reason
    assert SwarmRuntime("tcp://manager:2376", endpoint_mode="vip").endpoint_mode == "vip"


def test_service_states_map_to_container_states():
    """0 replicas: created until a task existed, then exited; 1 replica: the task's state."""
    zero = {"Spec": {"Mode": {"Replicated": {"Replicas": 0}}}}
    one = {"Spec": {"Mode": {"Replicated": {"Replicas": 1}}}}

    def task(state: str, index: int = 1) -> dict[str, object]:
        return {"DesiredState": "running", "Status": {"State": state}, "Version": {"Index": index}}

    assert _state(zero, []) == "created"
    assert _state(zero, [task("shutdown")]) == "exited"
    assert _state(one, [task("running")]) == "running"
    assert _state(one, [task("starting")]) == "running"
    assert _state(one, [task("pending")]) == "created"
    assert _state(one, [task("complete")]) == "exited"
    assert _state(one, [task("failed", 1), task("running", 2)]) == "running"


def test_restart_policies_and_template_comparison():
    """Docker's restart names map to Swarm conditions; the API's Runtime key is ignored."""
    assert _restart_policy(None)["Condition"] == "none"
    on_failure = _restart_policy("on-failure:3")
    assert (on_failure["Condition"], on_failure["MaxAttempts"]) == ("on-failure", 3)
    assert _restart_policy("unless-stopped")["Condition"] == "any"
    template = {"ContainerSpec": {"Image": "x"}, "Runtime": "container"}
    assert _same_template({"ContainerSpec": {"Image": "x"}}, template)
    assert not _same_template({"ContainerSpec": {"Image": "y"}}, template)

"""End to end on a single-node Docker Swarm (the third dockerd of .ci/setup-engines.sh).

Two stacks from the same templates run as services on their own overlay networks: wiring reaches
the stack's own provider, the other stack's services do not resolve, a changed instance is
updated in place (same service, new task) while the other stack is untouched, down of one stack
leaves the other running, and an apply killed with SIGKILL converges when applied again.
Placement: this machine runs one swarm node (a second dockerd joined as a worker would need a
network namespace with its own address and overlay traffic between the two; see docs/swarm.md),
so the constraints are tested on one node.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from tests.integration.conftest import EXAMPLES, ROOT, port_range

from devarch_adapters.doctor import run_doctor
from devarch_adapters.swarm import PLACEMENT_LABEL, SwarmRuntime
from devarch_core.testing.contracts._runtime import wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from devarch_core.app import Devarch

pytestmark = pytest.mark.swarm

APPLY = """
import sys
from devarch_adapters import connect
from devarch_adapters.swarm import SwarmRuntime
home, url, catalog, stack, low, high = sys.argv[1:]
devarch = connect(home=home, runtime=SwarmRuntime(url), catalog=[catalog],
                  port_range=(int(low), int(high)), health_timeout=60.0)
devarch.apply(stack)
"""


def _states(devarch: Devarch, stack: str) -> dict[str, tuple[str, str]]:
    return {row.instance: (row.state, row.health) for row in devarch.status(stack)}


class Swarm:
    """A facade on the swarm plus a docker SDK client on the manager."""

    def __init__(self, home: Path, url: str, prefix: str) -> None:
        import docker  # noqa: PLC0415 - only integration tests need the SDK

        from devarch_adapters import connect  # noqa: PLC0415

        self.home, self.url, self.prefix = home, url, prefix
        self.window = port_range()
        self.runtime = SwarmRuntime(url)
        self.devarch: Devarch = connect(
            home=home,
            runtime=self.runtime,
            catalog=[str(EXAMPLES)],
            port_range=self.window,
            health_timeout=60.0,
        )
        self.client: Any = docker.DockerClient(base_url=url, timeout=60)

    def service(self, stack: str, instance: str) -> dict[str, Any]:
        data: dict[str, Any] = self.client.api.inspect_service(f"devarch-{stack}-{instance}")
        return data

    def task_container(self, stack: str, instance: str) -> Any:
        """The running task container of an instance's service (one node: it is local)."""
        name = f"devarch-{stack}-{instance}"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            for task in self.client.api.tasks(filters={"service": name}):
                status = task["Status"]
                if status["State"] == "running" and task["DesiredState"] == "running":
                    return self.client.containers.get(status["ContainerStatus"]["ContainerID"])
            time.sleep(0.2)
        pytest.fail(f"{name} has no running task")

    def sh(self, stack: str, instance: str, script: str) -> tuple[int, str]:
        result = self.task_container(stack, instance).exec_run(["sh", "-c", script])
        return result.exit_code, result.output.decode(errors="replace")

    def close(self) -> None:
        for summary in self.devarch.list_stacks(with_runtime=False):
            if summary.stack.name.startswith(self.prefix):
                with contextlib.suppress(Exception):
                    self.devarch.delete_stack(summary.stack.name)
        for service in self.client.api.services():
            if service["Spec"]["Name"].startswith(f"devarch-{self.prefix}"):
                with contextlib.suppress(Exception):
                    self.runtime.remove_container(service["Spec"]["Name"])
        for network in self.client.networks.list():
            if network.name.startswith(f"devarch-{self.prefix}"):
                with contextlib.suppress(Exception):
                    network.remove()
        for volume in self.client.volumes.list():
            if volume.name.startswith(f"devarch-{self.prefix}"):
                with contextlib.suppress(Exception):
                    volume.remove(force=True)
        self.client.close()
        self.runtime.close()
        self.devarch.store.close()


@pytest.fixture(scope="module")
def swarm(swarm_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    found = Swarm(tmp_path_factory.mktemp("home"), swarm_url, f"s{uuid.uuid4().hex[:6]}")
    yield found
    found.close()


@pytest.fixture(scope="module")
def stacks(swarm: Swarm) -> tuple[str, str]:
    """Stacks A and B, each db + web from the same templates, applied on the swarm."""
    devarch = swarm.devarch
    names = (f"{swarm.prefix}a", f"{swarm.prefix}b")
    for name in names:
        devarch.create_stack(name)
        devarch.add_instance(name, "db", "bb-db")
        devarch.add_instance(name, "web", "bb-web")
    for name in names:
        devarch.apply(name)
    return names


def test_instances_are_services_with_labels_on_their_own_overlay_network(swarm, stacks):
    """Services devarch-{stack}-{instance} carry the identity labels and join the stack's network.

    The labels are on the service and on its task; the network is the attachable overlay
    devarch-{stack}-net.
    """
    for stack in stacks:
        stack_id = swarm.devarch.get_stack(stack).id
        net = swarm.client.networks.get(f"devarch-{stack}-net")
        assert net.attrs["Driver"] == "overlay"
        assert net.attrs["Attachable"] is True
        for instance in ("db", "web"):
            service = swarm.service(stack, instance)
            assert service["Spec"]["Labels"]["devarch.stack_id"] == stack_id
            assert service["Spec"]["EndpointSpec"]["Mode"] == swarm.runtime.endpoint_mode
            task = swarm.task_container(stack, instance)
            assert task.labels["devarch.stack_id"] == stack_id
            assert task.labels["devarch.instance"] == instance
        healthy = {"db": ("running", "healthy"), "web": ("running", "healthy")}
        assert wait_for(lambda: _states(swarm.devarch, stack) == healthy, deadline=60)  # noqa: B023
        rows = {row.instance: row for row in swarm.devarch.status(stack)}
        assert all(row.ports == () for row in rows.values())  # nothing published by default
        assert swarm.devarch.plan(stack).actions == ()


def test_the_secret_is_a_swarm_secret_not_env_in_the_service_spec(swarm, stacks):
    """POSTGRES_PASSWORD reaches the db process but is in neither the service nor the task spec."""
    stack = stacks[0]
    spec = json.dumps(swarm.service(stack, "db"))
    assert "POSTGRES_PASSWORD=" not in spec
    assert "POSTGRES_PASSWORD" in spec  # the secret's file name
    code, out = swarm.sh(stack, "db", "tr '\\0' '\\n' < /proc/1/environ")
    assert code == 0
    assert "POSTGRES_PASSWORD=" in out


def test_wiring_reaches_the_own_stack_over_the_overlay_and_not_the_other(swarm, stacks):
    """Web reaches its own db by the wired host; the other stack's db does not resolve."""
    a, b = stacks
    code, env = swarm.sh(a, "web", "cat /www/env.txt")
    assert code == 0, env
    host = dict(line.split("=", 1) for line in env.split()).get("DB_HOST")
    assert host
    # Swarm's service discovery is eventually consistent: a name may take a moment to resolve.
    tries: list[tuple[int, str]] = []

    def reached() -> bool:
        code, out = swarm.sh(a, "web", f"nc -w 3 {host} 5432 </dev/null")
        tries.append((code, out.strip()))
        return tries[-1] == (0, "ok")

    assert wait_for(reached, deadline=30, every=1), tries
    for other in (f"devarch-{b}-db",):
        code, out = swarm.sh(a, "web", f"nc -w 3 {other} 5432 </dev/null")
        assert code != 0, out
        assert "ok" not in out


def test_a_change_updates_only_that_service_in_place(swarm, stacks):
    """A changed env override is a rolling update of one service: same id, new task, B untouched."""
    a, b = stacks
    devarch = swarm.devarch
    before_a = swarm.service(a, "web")
    before_db = swarm.service(a, "db")
    before_b = {i: swarm.service(b, i)["Version"]["Index"] for i in ("db", "web")}
    old_task = swarm.task_container(a, "web").id
    devarch.set_overrides(a, "web", {"environment": {"APP_TITLE": "updated"}})
    plan = devarch.plan(a)
    assert [(x.action, x.instance) for x in plan.actions] == [("modify", "web")]
    devarch.apply(a, plan)
    after = swarm.service(a, "web")
    assert after["ID"] == before_a["ID"]
    assert after["Version"]["Index"] > before_a["Version"]["Index"]
    assert swarm.service(a, "db")["Version"] == before_db["Version"]
    assert {i: swarm.service(b, i)["Version"]["Index"] for i in ("db", "web")} == before_b
    assert swarm.task_container(a, "web").id != old_task
    code, out = swarm.sh(a, "web", "cat /www/index.html")
    assert "updated" in out, (code, out)
    assert devarch.plan(a).actions == ()


def test_down_of_one_stack_leaves_the_other_running(swarm, stacks):
    """Down of A removes A's services (and network); B's keep running and healthy."""
    a, b = stacks
    swarm.devarch.down(a)
    names = {s["Spec"]["Name"] for s in swarm.client.api.services()}
    assert f"devarch-{a}-web" not in names
    assert f"devarch-{a}-db" not in names
    assert _states(swarm.devarch, b) == {
        "db": ("running", "healthy"),
        "web": ("running", "healthy"),
    }
    swarm.devarch.apply(a)  # and A comes back
    assert swarm.devarch.plan(a).actions == ()


def test_an_apply_killed_with_sigkill_converges_when_applied_again(swarm):
    """SIGKILL while apply waits on db's health; the next apply converges to one task each."""
    devarch = swarm.devarch
    stack = f"{swarm.prefix}k"
    devarch.create_stack(stack)
    slow = (
        "trap 'exit 0' TERM INT; sleep 4 & wait; "
        "mkdir -p /var/lib/bb-db && nc -ll -p 5432 -e echo ok & wait"
    )
    devarch.add_instance(stack, "db", "bb-db", overrides={"command": ["sh", "-c", slow]})
    devarch.add_instance(stack, "web", "bb-web")
    low, high = swarm.window
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [str(swarm.home), swarm.url, str(EXAMPLES), stack, str(low), str(high)]
    proc = subprocess.Popen([sys.executable, "-c", APPLY, *args], env=env)
    try:
        end = time.monotonic() + 90
        while not swarm.client.api.services(filters={"name": f"devarch-{stack}-db"}):
            assert proc.poll() is None, "apply ended before db was created"
            assert time.monotonic() < end, "apply never created db"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    devarch.apply(stack, lock_timeout=None)
    assert devarch.plan(stack).actions == ()
    services = [
        s["Spec"]["Name"]
        for s in swarm.client.api.services()
        if s["Spec"]["Name"].startswith(f"devarch-{stack}-")
    ]
    assert sorted(services) == [f"devarch-{stack}-db", f"devarch-{stack}-web"]
    healthy = {"db": ("running", "healthy"), "web": ("running", "healthy")}
    assert wait_for(lambda: _states(devarch, stack) == healthy, deadline=60), _states(
        devarch, stack
    )


def test_placement_pins_a_stateful_instance_and_follows_an_explicit_constraint(swarm, stacks):
    """The db (a named volume) is pinned to its node; a placement label becomes the constraint."""
    b = stacks[1]
    node = swarm.runtime.node_id()
    placement = swarm.service(b, "db")["Spec"]["TaskTemplate"].get("Placement") or {}
    assert placement.get("Constraints") == [f"node.id=={node}"]
    assert not (swarm.service(b, "web")["Spec"]["TaskTemplate"].get("Placement") or {}).get(
        "Constraints"
    )
    stack = f"{swarm.prefix}p"
    devarch = swarm.devarch
    devarch.create_stack(stack)
    devarch.add_instance(
        stack,
        "cache",
        "bb-cache",
        overrides={"labels": {PLACEMENT_LABEL: "node.role==manager; node.platform.os==linux"}},
    )
    devarch.apply(stack)
    constraints = swarm.service(stack, "cache")["Spec"]["TaskTemplate"]["Placement"]["Constraints"]
    assert constraints == ["node.role==manager", "node.platform.os==linux"]
    # A constraint no node meets: the new task is never scheduled; apply says why, and the
    # service is rolled back to the task that runs.
    before = swarm.task_container(stack, "cache").id
    devarch.set_overrides(stack, "cache", {"labels": {PLACEMENT_LABEL: "node.labels.none==x"}})
    with pytest.raises(Exception, match="no suitable node"):
        devarch.apply(stack)
    assert swarm.task_container(stack, "cache").id == before


def test_an_explicit_host_port_is_published_with_a_warning(swarm):
    """A port with a host is published (on every interface, warned); one without is not."""
    devarch = swarm.devarch
    stack = f"{swarm.prefix}w"
    devarch.create_stack(stack)
    port = swarm.window[1]
    devarch.add_instance(stack, "web", "bb-web", overrides={"ports": [f"{port}:8080"]})
    devarch.add_instance(stack, "db", "bb-db")
    plan = devarch.plan(stack)
    codes = {(d.code, d.instance) for d in plan.diagnostics}
    assert ("port-on-every-interface", "web") in codes
    assert ("port-not-published", "db") in codes
    devarch.apply(stack)
    rows = {row.instance: row for row in devarch.status(stack)}
    assert rows["web"].host_port(8080) == port
    assert rows["db"].host_port(5432) is None
    assert [(s, p.host_port) for s, p in swarm.runtime.exposed({"devarch.stack": stack})] == [
        (f"devarch-{stack}-web", port)
    ]
    checks = {c.name: c for c in run_doctor(devarch)}
    assert checks["swarm-endpoint-mode"].status == "pass"
    assert f"endpoint mode {swarm.runtime.endpoint_mode}" in checks["swarm-endpoint-mode"].message
    assert checks["swarm-exposed"].status == "warn"
    assert f"devarch-{stack}-web {port}->8080/tcp" in checks["swarm-exposed"].message

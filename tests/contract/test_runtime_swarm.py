"""SwarmRuntime passes the Runtime contract against a single-node Docker Swarm.

The probes differ from the plain engines' (a "container" is a service here): the environment is
read from the task's PID 1 (secret values are exported there by the wrapper, never put in the
service spec), limits from the task container, reachability from a one-shot service.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import TEST_IMAGE

from devarch_adapters.swarm import SwarmRuntime
from devarch_core.engine import ContainerSpec, PublishedPort
from devarch_core.errors import EngineError, NotFoundError
from devarch_core.secrets import Secret
from devarch_core.testing.contracts import EngineRuntimeContract
from devarch_core.testing.contracts._runtime import HTTP_PORT, HTTPD, Made, free_port, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devarch_core.ports import Runtime

pytestmark = pytest.mark.swarm


@pytest.fixture(scope="module")
def swarm_runtime(swarm_url: str) -> Iterator[SwarmRuntime]:
    """One runtime (one client) for the module, as an application would hold it."""
    runtime = SwarmRuntime(swarm_url)
    yield runtime
    runtime.close()


def task_container(engine: Any, name: str) -> str:
    """The id of the running task container of service ``name`` (on this single node)."""

    def running() -> str | None:
        for task in engine.api.tasks(filters={"service": name}):
            status = task.get("Status") or {}
            if status.get("State") == "running" and task.get("DesiredState") == "running":
                return str(status["ContainerStatus"]["ContainerID"])
        return None

    found = wait_for(running, deadline=60)
    assert found, f"service {name} has no running task"
    return str(found)


class TestSwarmRuntime(EngineRuntimeContract):
    image = TEST_IMAGE

    @pytest.fixture
    def engine_url(self, swarm_url: str) -> str:
        return swarm_url

    @pytest.fixture
    def runtime(self, swarm_runtime: SwarmRuntime) -> SwarmRuntime:
        return swarm_runtime

    def environment_of(self, runtime: Runtime, name: str) -> dict[str, str]:
        runtime.start_container(name)
        cid = task_container(self._engine, name)
        run = self._engine.api.exec_create(cid, ["cat", "/proc/1/environ"])
        raw = self._engine.api.exec_start(run["Id"]).decode()
        return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)

    def limits_of(self, runtime: Runtime, name: str) -> dict[str, int]:
        """Limits as the task container has them; reservations as the scheduler holds them.

        Swarm reserves CPU for scheduling instead of weighting it, so ``CpuShares`` is read back
        from the reservation in Docker's units (1024 per CPU).
        """
        resources = self._engine.api.inspect_service(name)["Spec"]["TaskTemplate"]["Resources"]
        limits, reserved = resources.get("Limits") or {}, resources.get("Reservations") or {}
        runtime.start_container(name)
        host = self._engine.api.inspect_container(task_container(self._engine, name))["HostConfig"]
        assert host["NanoCpus"] == limits["NanoCPUs"]
        assert host["Memory"] == limits["MemoryBytes"]
        return {
            "NanoCpus": host["NanoCpus"],
            "CpuShares": reserved["NanoCPUs"] * 1024 // 1_000_000_000,
            "Memory": host["Memory"],
            "MemoryReservation": reserved["MemoryBytes"],
        }

    def reaches(self, runtime: Runtime, made: Made, *, network: str, host: str) -> str | None:
        name = f"{network}-client-{len(made.containers)}"
        command = ("sh", "-c", f"timeout 5 wget -qO- http://{host}:{HTTP_PORT}/")
        spec = ContainerSpec(name=name, image=self.image, command=command, network=network)
        made.containers.append(name)
        runtime.create_container(spec)
        runtime.start_container(name)

        def finished() -> dict[str, Any] | None:
            for task in self._engine.api.tasks(filters={"service": name}):
                if task["Status"]["State"] in {"complete", "failed", "rejected"}:
                    return dict(task["Status"])
            return None

        status = wait_for(finished, deadline=60)
        assert status, f"client {name} did not finish"
        cid = status["ContainerStatus"]["ContainerID"]
        output = self._engine.api.logs(cid, stdout=True, stderr=False).decode().strip()
        runtime.remove_container(name)
        return output if status.get("ContainerStatus", {}).get("ExitCode") == 0 else None

    def say(self, runtime: Runtime, name: str, text: str, stream: str = "stdout") -> None:  # noqa: ARG002
        """Write a line to the task's log (the contract's log cases, where the port has logs)."""
        fd = 2 if stream == "stderr" else 1
        command = ["sh", "-c", f"echo '{text}' > /proc/1/fd/{fd}"]
        cid = task_container(self._engine, name)
        self._engine.api.exec_start(self._engine.api.exec_create(cid, command)["Id"])

    # -- Swarm specifics -------------------------------------------------------------------------
    def test_info_detects_the_swarm(self, runtime):
        """A swarm manager is reported as swarm; it cannot bind one host address."""
        info = runtime.info()
        assert info.engine == "swarm"
        assert info.binds_host_ip is False
        assert runtime.endpoint_mode in {"vip", "dnsrr"}
        assert f"endpoint-mode={runtime.endpoint_mode}" in info.security

    def test_a_service_per_container_with_labels_on_service_and_task(
        self, runtime, made, unique, labels, network
    ):
        """The container is a service of that name; its labels are on the service and the task."""
        spec = self.spec(f"{unique}-svc", network, labels)
        self.create(runtime, made, spec)
        runtime.start_container(spec.name)
        service = self._engine.api.inspect_service(spec.name)
        assert service["Spec"]["Labels"] == labels
        cid = task_container(self._engine, spec.name)
        task_labels = self._engine.api.inspect_container(cid)["Config"]["Labels"]
        assert labels.items() <= task_labels.items()
        assert service["Spec"]["EndpointSpec"]["Mode"] == runtime.endpoint_mode

    def test_secret_values_are_swarm_secrets_not_env(self, runtime, made, unique, labels, network):
        """A secret env value is a Swarm secret: not in the service spec nor the container env."""
        value = f"pw-{unique}-x"
        spec = self.spec(
            f"{unique}-sec", network, labels, environment={"PASSWORD": Secret(value), "A": "b"}
        )
        self.create(runtime, made, spec)
        assert value not in json.dumps(self._engine.api.inspect_service(spec.name))
        assert self.environment_of(runtime, spec.name)["PASSWORD"] == value
        cid = task_container(self._engine, spec.name)
        assert value not in json.dumps(self._engine.api.inspect_container(cid))
        secrets = self._engine.api.secrets(filters={"label": f"devarch.swarm.service={spec.name}"})
        assert len(secrets) == 1
        runtime.remove_container(spec.name)
        assert (
            self._engine.api.secrets(filters={"label": f"devarch.swarm.service={spec.name}"}) == []
        )

    def test_a_port_is_published_on_every_interface(self, runtime, made, unique, labels, network):
        """A published port answers on the node's every address (Swarm cannot bind one)."""
        port = free_port()
        spec = self.spec(
            f"{unique}-pub",
            network,
            labels,
            command=HTTPD,
            environment={"HELLO": "pub"},
            ports=(PublishedPort(container=HTTP_PORT, host_port=port),),
        )
        self.create(runtime, made, spec)
        runtime.start_container(spec.name)
        info = runtime.inspect_container(spec.name)
        assert info is not None
        assert [(p.host_ip, p.host_port) for p in info.ports] == [("0.0.0.0", port)]  # noqa: S104
        assert runtime.exposed(labels) == [(spec.name, info.ports[0])]

    def test_update_rolls_the_task_instead_of_recreating(
        self, runtime, made, unique, labels, network
    ):
        """update_container keeps the service (same id) and replaces its task with the new spec."""
        spec = self.spec(f"{unique}-upd", network, labels, environment={"V": "1"})
        self.create(runtime, made, spec)
        runtime.start_container(spec.name)
        before = runtime.inspect_container(spec.name)
        first = task_container(self._engine, spec.name)
        updated = runtime.update_container(
            self.spec(f"{unique}-upd", network, labels, environment={"V": "2"})
        )
        assert updated.id == before.id
        assert updated.running
        second = task_container(self._engine, spec.name)
        assert second != first
        assert self.environment_of(runtime, spec.name)["V"] == "2"

    def test_a_failing_update_rolls_back(self, runtime, made, unique, labels, network):
        """An update whose task cannot run raises EngineError and the old task keeps running."""
        spec = self.spec(f"{unique}-rb", network, labels)
        self.create(runtime, made, spec)
        runtime.start_container(spec.name)
        broken = self.spec(f"{unique}-rb", network, labels, command=("sh", "-c", "exit 3"))
        began = time.monotonic()
        with pytest.raises(EngineError, match="rolled back"):
            runtime.update_container(broken)
        assert time.monotonic() - began < 120
        info = runtime.inspect_container(spec.name)
        assert info is not None
        assert info.running

    def test_the_task_container_is_found_for_logs_and_exec(
        self, runtime, made, unique, labels, network
    ):
        """task_container_id names the running task's container; none before the first start."""
        spec = self.spec(f"{unique}-tc", network, labels)
        self.create(runtime, made, spec)
        assert runtime.task_container_id(spec.name) is None
        runtime.start_container(spec.name)
        assert runtime.task_container_id(spec.name) == task_container(self._engine, spec.name)
        with pytest.raises(NotFoundError):
            runtime.task_container_id(f"{unique}-nobody")

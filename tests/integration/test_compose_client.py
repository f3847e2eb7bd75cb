"""A rendered stack runs under a real Compose client with devarch's names.

See docs/architecture.md#data-path.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import TEST_IMAGE, unavailable

from devarch_core import naming
from devarch_core.compose import compose_items, render_compose
from devarch_core.desired import container_spec, identity_labels, volume_labels
from devarch_core.merge import resolve
from devarch_core.model import Instance, PortAllocation, Stack
from devarch_core.overrides import Overrides
from devarch_core.template import Template

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.docker, pytest.mark.compose]

OWNER = "compose-client-test"
HEALTH_WAIT = 45.0

SERVER = Template.from_data(
    {
        "name": "web",
        "version": "1",
        "service": {
            "image": TEST_IMAGE,
            "command": [
                "sh",
                "-c",
                (
                    'echo "$GREETING from $(hostname)" > /www/index.html; '
                    "exec httpd -f -p 8080 -h /www"
                ),
            ],
            "environment": {"GREETING": "hello", "LITERAL": "a$b${c}"},
            "ports": ["8080"],
            "volumes": ["www:/www"],
            "domains": ["web.local.test"],
            "healthcheck": {
                "test": [
                    "CMD-SHELL",
                    "timeout 2 wget -q -O- http://127.0.0.1:8080/ | grep -q $GREETING",
                ],
                "interval": "1s",
                "timeout": "3s",
                "retries": 30,
            },
            "resources": {"memory_limit": "64m", "cpu_limit": "0.5"},
        },
        "secrets": [],
    }
)
CLIENT = Template.from_data(
    {
        "name": "client",
        "version": "1",
        "service": {
            "image": TEST_IMAGE,
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            "depends_on": ["server"],
            "healthcheck": {
                "test": ["CMD-SHELL", "timeout 2 wget -q -O- http://server:8080/ | grep -q hello"],
                "interval": "1s",
                "timeout": "3s",
                "retries": 30,
            },
            "resources": {"memory_limit": "32m"},
        },
    }
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _compose(
    project: str, file: Path, docker_url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": docker_url, "COMPOSE_INTERACTIVE_NO_CLI": "1"}
    return subprocess.run(
        ["docker-compose", "--no-ansi", "-p", project, "-f", str(file), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def engine(docker_url: str) -> Iterator[Any]:
    """Give a Docker SDK client for inspecting what the compose client created."""
    import docker  # noqa: PLC0415 - only this integration test needs the SDK

    if shutil.which("docker-compose") is None:
        unavailable("docker-compose", "not on PATH; install Debian's docker-compose")
    client = docker.DockerClient(base_url=docker_url, timeout=30)
    yield client
    client.close()


def _render(stack_name: str, host_port: int) -> tuple[str, dict[str, Any]]:
    stack = Stack(id=f"id-{stack_name}", name=stack_name)
    effectives = {}
    for name, template in (("server", SERVER), ("client", CLIENT)):
        instance = Instance(
            id=f"id-{stack_name}-{name}",
            stack_id=stack.id,
            stack=stack.name,
            name=name,
            template=template.name,
            template_version=template.version,
        )
        effectives[name] = resolve(template, Overrides(), stack=stack, instance=instance)
    allocation = PortAllocation(
        stack=stack.name,
        instance="server",
        container_port=8080,
        protocol="tcp",
        host_port=host_port,
    )
    specs = {
        name: container_spec(
            eff,
            owner=OWNER,
            allocations={"8080/tcp": allocation} if name == "server" else {},
            config_dir=None,
        )
        for name, eff in effectives.items()
    }
    items = compose_items((n, specs[n], effectives[n].service.depends_on) for n in specs)
    return render_compose(stack.name, stack.network_name, items), effectives


def _wait_healthy(engine: Any, names: list[str]) -> dict[str, Any]:
    deadline = time.monotonic() + HEALTH_WAIT
    while True:
        containers = {name: engine.containers.get(name) for name in names}
        health = {
            n: c.attrs["State"].get("Health", {}).get("Status") for n, c in containers.items()
        }
        if all(status == "healthy" for status in health.values()):
            return containers
        if time.monotonic() > deadline:
            pytest.fail(f"containers not healthy after {HEALTH_WAIT}s: {health}")
        time.sleep(0.5)


@pytest.fixture
def deployed(engine, docker_url, unique, tmp_path) -> Iterator[dict[str, Any]]:
    """Write the rendered two-service stack to a file; tear it down with ``down -v`` afterwards."""
    host_port = _free_port()
    text, effectives = _render(unique, host_port)
    file = tmp_path / "compose.yml"
    file.write_text(text)
    project = f"{unique}-compose"
    yield {"project": project, "file": file, "host_port": host_port, "effectives": effectives}
    down = _compose(project, file, docker_url, "down", "-v", "--timeout", "2")
    if down.returncode != 0:  # leave nothing behind even if the client failed
        for name in ("server", "client"):
            for container in engine.containers.list(
                all=True, filters={"name": naming.container_name(unique, name)}
            ):
                container.remove(force=True, v=True)
        for volume in engine.volumes.list(filters={"label": f"{naming.LABEL_STACK_NAME}={unique}"}):
            volume.remove(force=True)
        for network in engine.networks.list(names=[naming.network_name(unique)]):
            network.remove()
        pytest.fail(f"docker-compose down failed: {down.stderr}")


def test_compose_client_runs_the_rendered_stack_with_devarch_names(
    engine, deployed, docker_url, unique
):
    """docker-compose accepts the file and creates devarch's containers, network and volume."""
    project, file, host_port = deployed["project"], deployed["file"], deployed["host_port"]
    effectives = deployed["effectives"]

    config = _compose(project, file, docker_url, "config")
    assert config.returncode == 0, config.stderr
    up = _compose(project, file, docker_url, "up", "-d")
    assert up.returncode == 0, up.stderr
    server_name = naming.container_name(unique, "server")
    client_name = naming.container_name(unique, "client")
    containers = _wait_healthy(engine, [server_name, client_name])

    for name, container in containers.items():
        instance = name.rsplit("-", 1)[1]
        assert container.name == name
        assert container.status == "running"
        expected = identity_labels(effectives[instance], OWNER)
        assert {k: container.labels.get(k) for k in expected} == expected
        networks = container.attrs["NetworkSettings"]["Networks"]
        assert list(networks) == [naming.network_name(unique)]

    server = containers[server_name]
    assert "LITERAL=a$b${c}" in server.attrs["Config"]["Env"]
    host_config = server.attrs["HostConfig"]
    assert host_config["Memory"] == 64 * 1024**2
    assert host_config["NanoCpus"] == 500_000_000
    assert host_config["PortBindings"]["8080/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": str(host_port)}
    ]

    client = containers[client_name]
    for alias in ("server", "web.local.test"):
        code, out = client.exec_run(["timeout", "5", "wget", "-q", "-O-", f"http://{alias}:8080/"])
        assert code == 0, out
        assert out.decode().startswith("hello from ")

    url = f"http://127.0.0.1:{host_port}/"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read().decode().startswith("hello from ")

    volume = engine.volumes.get(naming.volume_name(unique, "server", "www"))
    expected_volume = volume_labels(effectives["server"], OWNER)
    assert {k: volume.attrs["Labels"].get(k) for k in expected_volume} == expected_volume
    network = engine.networks.get(naming.network_name(unique))
    assert network.attrs["Labels"][naming.LABEL_OWNER] == OWNER

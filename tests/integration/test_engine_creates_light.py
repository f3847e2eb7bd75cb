"""A cold create on a local socket (network, volume, container, start) never loads the docker SDK.

Run in a fresh process against the real engine (Docker and Podman), then checked from outside
with the SDK: what the engine made from the hand-built bodies is what the spec asked for.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import docker
import docker.errors
import pytest

CODE = """
import json, sys
from decimal import Decimal
from devarch_adapters.docker import DockerRuntime
from devarch_adapters.podman import PodmanRuntime
from devarch_core.engine import ContainerSpec, Mount, PublishedPort
from devarch_core.secrets import Secret
from devarch_core.spec import Healthcheck, Resources

rt = (PodmanRuntime if KIND == "podman" else DockerRuntime)(URL)
network = rt.ensure_network(NAME, {"devarch.test": NAME})
assert rt.ensure_network(NAME, {"devarch.test": NAME}).id == network.id
volume = rt.ensure_volume(NAME + "-data", {"devarch.test": NAME})
assert rt.ensure_volume(NAME + "-data", {"devarch.test": NAME}).name == volume.name
spec = ContainerSpec(
    name=NAME + "-c",
    image="devarch-test/busybox:latest",
    network=NAME,
    aliases=("web", "www"),
    environment={"PLAIN": "a b", "PASSWORD": Secret("s3cret")},
    labels={"devarch.test": NAME},
    ports=(PublishedPort(container=80, host_port=0 + PORT),),
    mounts=(
        Mount(type="volume", source=NAME + "-data", target="/data"),
        Mount(type="tmpfs", source=None, target="/scratch"),
    ),
    healthcheck=Healthcheck(test=("CMD", "true"), interval=Decimal("0.5"), retries=2),
    resources=Resources(memory_limit=64 * 1024 * 1024, cpu_limit=Decimal("0.5")),
    command=("sleep", "300"),
    user="65534",
    working_dir="/data",
    restart="on-failure:2",
    stop_signal="SIGINT",
    stop_grace_period=Decimal("1.5"),
    init=True,
)
rt.create_container(spec)
rt.start_container(spec.name)
assert rt.inspect_container(spec.name).state == "running"
loaded = sorted(m for m in ("docker", "docker.errors", "requests", "urllib3") if m in sys.modules)
print(json.dumps(loaded))
"""


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("podman", marks=pytest.mark.podman),
    ],
)
def test_a_cold_create_sends_what_the_spec_asks_without_the_sdk(
    kind: str, request: pytest.FixtureRequest, unique: str
) -> None:
    url: str = request.getfixturevalue(f"{kind}_url")
    name = f"{unique}-cold"
    port = 20000 + int(unique[1:5], 16) % 20000
    code = (
        CODE.replace("KIND", repr(kind))
        .replace("URL", repr(url))
        .replace("NAME", repr(name))
        .replace("PORT", str(port))
    )
    client = docker.DockerClient(base_url=url)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == [], "no SDK module loaded"
        data = client.api.inspect_container(f"{name}-c")
        config, host = data["Config"], data["HostConfig"]
        assert {"PLAIN=a b", "PASSWORD=s3cret"} <= set(config["Env"])
        assert config["Cmd"] == ["sleep", "300"]
        assert (config["User"], config["WorkingDir"]) == ("65534", "/data")
        # Podman reports the signal by number
        assert config["StopSignal"] in ("SIGINT", "2")
        assert config["StopTimeout"] == 2
        assert config["Healthcheck"]["Test"] == ["CMD", "true"]
        assert config["Healthcheck"]["Interval"] == 500_000_000
        assert config["Labels"]["devarch.test"] == name
        assert host["Init"] is True
        assert (host["Memory"], host["NanoCpus"]) == (64 * 1024 * 1024, 500_000_000)
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        assert host["PortBindings"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        mounts = {m["Destination"]: m for m in data["Mounts"]}
        assert mounts["/data"]["Name"] == f"{name}-data"
        aliases = data["NetworkSettings"]["Networks"][name]["Aliases"]
        assert {"web", "www"} <= set(aliases)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(f"{name}-c", force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_network(name)
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_volume(f"{name}-data")
        client.close()

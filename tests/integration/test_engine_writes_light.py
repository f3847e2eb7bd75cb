"""A teardown on a local socket stops and removes without loading the docker SDK."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.docker

CODE = """
import sys, time
from devarch_adapters.docker import DockerRuntime
rt = DockerRuntime(URL)
rt.start_container(NAME)
assert rt.inspect_container(NAME).state == "running"
began = time.monotonic()
rt.stop_container(NAME)
took = time.monotonic() - began
assert rt.inspect_container(NAME).state == "exited"
assert rt.remove_container(NAME) is True
assert rt.remove_container(NAME) is False
rt.stop_container(NAME)  # gone: nothing to do
loaded = sorted(m for m in ("docker", "docker.errors", "requests", "urllib3") if m in sys.modules)
print(loaded, round(took))
"""


def test_stop_start_remove_on_a_local_socket_do_not_import_the_sdk(
    docker_url: str, unique: str
) -> None:
    """Start, stop (its own 2 s grace period, then the kill), remove: no SDK module loaded."""
    if not docker_url.startswith("unix://"):
        pytest.skip("the light path serves local sockets only")
    import docker  # noqa: PLC0415 - the test's own client makes the container

    client = docker.DockerClient(base_url=docker_url)
    name = f"{unique}-light"
    client.api.create_container(
        "devarch-test/busybox:latest", command=["sleep", "300"], name=name, stop_timeout=2
    )
    try:
        code = CODE.replace("URL", repr(docker_url)).replace("NAME", repr(name))
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[] 2", "sleep ignores SIGTERM: its 2 s grace, then kill"
        assert time.monotonic() - began < 30
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(name, force=True)
        client.close()

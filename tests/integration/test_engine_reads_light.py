"""Reads on a local engine socket load neither the docker SDK nor requests (fast CLI start)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.docker

CODE = """
import sys
from devarch_adapters.docker import DockerRuntime
rt = DockerRuntime("unix:///var/run/docker.sock")
info = rt.info()
rt.list_containers({"devarch.owner": "nobody-at-all"})
rt.list_networks({})
rt.list_volumes({"devarch.owner": "nobody-at-all"})
assert rt.inspect_container("devarch-surely-absent-container") is None
assert rt.inspect_image("devarch-test/busybox:latest") is not None
loaded = sorted(m for m in ("docker", "docker.errors", "requests", "urllib3") if m in sys.modules)
print(info.engine, loaded)
"""


def test_reads_on_a_local_socket_do_not_import_the_docker_sdk(docker_url: str) -> None:
    """info, listings and inspects answer without importing docker, requests or urllib3."""
    if not docker_url.startswith("unix://"):
        pytest.skip("the light read path serves local sockets only")
    done = subprocess.run(
        [sys.executable, "-c", CODE.replace("unix:///var/run/docker.sock", docker_url)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "docker []"

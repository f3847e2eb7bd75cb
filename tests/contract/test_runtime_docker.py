"""DockerRuntime passes the Runtime contract against a real Docker Engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.conftest import TEST_IMAGE

from devarch_adapters.docker import DockerRuntime
from devarch_core.errors import EngineError
from devarch_core.testing.contracts import EngineRuntimeContract

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def docker_runtime(docker_url: str) -> Iterator[DockerRuntime]:
    """One runtime (one client) for the module, as an application would hold it."""
    runtime = DockerRuntime(docker_url)
    yield runtime
    runtime.close()


class TestDockerRuntime(EngineRuntimeContract):
    image = TEST_IMAGE

    @pytest.fixture
    def engine_url(self, docker_url: str) -> str:
        return docker_url

    @pytest.fixture
    def runtime(self, docker_runtime: DockerRuntime) -> DockerRuntime:
        return docker_runtime

    def test_info_detects_docker(self, runtime):
        """A Docker Engine is reported as docker with its capabilities."""
        info = runtime.info()
        assert info.engine == "docker"
        assert info.memory > 0


def test_an_unreachable_engine_is_an_engine_error_naming_it(tmp_path):
    """A socket nobody listens on gives EngineError with the endpoint, not a driver exception."""
    url = f"unix://{tmp_path}/no-engine.sock"
    runtime = DockerRuntime(url, timeout=5)
    with pytest.raises(EngineError, match=r"no-engine\.sock"):
        runtime.info()


def test_ensure_network_keeps_the_oldest_of_duplicates(docker_runtime, docker_url, unique):
    """Same-named networks left by a race collapse to the oldest one."""
    import docker  # noqa: PLC0415

    name = f"{unique}-dup"
    client = docker.DockerClient(base_url=docker_url)
    try:
        first = client.api.create_network(name, driver="bridge", check_duplicate=False)["Id"]
        client.api.create_network(name, driver="bridge", check_duplicate=False)
        assert docker_runtime.ensure_network(name, {}).id == first
        assert [n["Id"] for n in client.api.networks(names=[name]) if n["Name"] == name] == [first]
    finally:
        docker_runtime.remove_network(name)
        client.close()

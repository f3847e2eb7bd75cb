"""DockerRuntime passes the Runtime contract against a real Docker Engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.contract.runtime_contract import EngineRuntimeContract

from devarch_adapters.docker import DockerRuntime

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

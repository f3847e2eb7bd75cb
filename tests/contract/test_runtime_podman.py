"""PodmanRuntime passes the Runtime contract against Podman's Docker-compatible socket."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.conftest import TEST_IMAGE

from devarch_adapters.podman import PodmanRuntime, find_podman_socket, podman_socket_candidates
from devarch_core.testing.contracts import EngineRuntimeContract

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.podman
ALL_LIMITS = {"cpu_limit", "cpu_reservation", "memory_limit", "memory_reservation"}


@pytest.fixture(scope="module")
def podman_runtime(podman_url: str) -> Iterator[PodmanRuntime]:
    """One runtime (one client) for the module, as an application would hold it."""
    runtime = PodmanRuntime(podman_url)
    yield runtime
    runtime.close()


class TestPodmanRuntime(EngineRuntimeContract):
    image = TEST_IMAGE

    @pytest.fixture
    def engine_url(self, podman_url: str) -> str:
        return podman_url

    @pytest.fixture
    def runtime(self, podman_runtime: PodmanRuntime) -> PodmanRuntime:
        return podman_runtime

    def test_info_detects_podman(self, runtime):
        """Podman is reported as podman, with what it can enforce here."""
        info = runtime.info()
        assert info.engine == "podman"
        assert info.version.startswith(("4.", "5."))


def test_socket_candidates_follow_the_environment():
    """CONTAINER_HOST, a podman DOCKER_HOST, the rootless and the rootful socket, in that order."""
    env = {
        "CONTAINER_HOST": "unix:///tmp/a.sock",
        "DOCKER_HOST": "unix:///run/user/1000/podman/podman.sock",
        "XDG_RUNTIME_DIR": "/run/user/1000",
    }
    assert podman_socket_candidates(env) == [
        "unix:///tmp/a.sock",
        "unix:///run/user/1000/podman/podman.sock",
        "unix:///run/podman/podman.sock",
    ]
    assert "unix:///var/run/docker.sock" not in podman_socket_candidates(
        {"DOCKER_HOST": "unix:///var/run/docker.sock"}
    )


def test_find_podman_socket_returns_the_first_that_answers(podman_url, tmp_path):
    """Sockets that do not exist or do not answer are skipped."""
    env = {"CONTAINER_HOST": f"unix://{tmp_path}/missing.sock", "XDG_RUNTIME_DIR": str(tmp_path)}
    assert podman_url == "unix:///run/podman/podman.sock"  # the rootful socket of this machine
    assert find_podman_socket(env) == podman_url


def test_discovered_runtime_reaches_podman(podman_url, monkeypatch):
    """PodmanRuntime() without a URL finds the socket on first use."""
    monkeypatch.setenv("CONTAINER_HOST", podman_url)
    runtime = PodmanRuntime()
    try:
        assert runtime.info().endpoint == podman_url
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("host", "rootless", "expected"),
    [
        ({"cgroupVersion": "v1", "cgroupControllers": ["cpu", "memory"]}, False, ALL_LIMITS),
        ({"cgroupVersion": "v1", "cgroupControllers": []}, True, set()),
        (
            {"cgroupVersion": "v2", "cgroupControllers": ["memory", "pids"]},
            True,
            {"memory_limit", "memory_reservation"},
        ),
        (
            {"cgroupVersion": "v2", "cgroupControllers": ["cpu", "memory"]},
            True,
            ALL_LIMITS - {"cpu_reservation"},
        ),
    ],
)
def test_enforced_limits_follow_rootless_mode_and_cgroups(host, rootless, expected):
    """Limits Podman cannot apply (no cgroups, undelegated controllers) are not claimed."""
    assert PodmanRuntime._podman_enforces(host, rootless=rootless) == expected

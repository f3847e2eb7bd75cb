"""Shared fixtures: reaching the real engines and stores, and fresh unique names.

Under CI=true an integration test may not skip: a missing engine is a failure (see DEVELOPERS).
Locally, without the engine, such tests skip with the reason.
"""

from __future__ import annotations

import os
import uuid

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: The local busybox image built by .ci/setup-engines.sh (no registry is reachable).
TEST_IMAGE = os.environ.get("DEVARCH_TEST_IMAGE", "devarch-test/busybox:latest")
DOCKER_URL = os.environ.get("DEVARCH_TEST_DOCKER_URL", "unix:///var/run/docker.sock")
PODMAN_URL = os.environ.get("DEVARCH_TEST_PODMAN_URL", "unix:///run/podman/podman.sock")
#: The single-node swarm's manager (a third dockerd, see .ci/setup-engines.sh).
SWARM_URL = os.environ.get("DEVARCH_TEST_SWARM_URL", "unix:///run/devarch-swarm/docker.sock")
POSTGRES_URL = os.environ.get(
    "DEVARCH_TEST_POSTGRES_URL", "postgresql://devarch:devarch@127.0.0.1:5432/devarch_test"
)


def unavailable(what: str, why: object) -> None:
    """Skip locally, fail under CI: integration tests never silently skip in CI."""
    message = f"{what} is not available: {why}"
    if CI:
        pytest.fail(message + " (CI=true: integration tests may not skip)")
    pytest.skip(message)


def _ping_engine(url: str, what: str) -> None:
    import docker  # noqa: PLC0415 - only integration tests need the SDK

    try:
        client = docker.DockerClient(base_url=url, timeout=10)
        client.ping()
        client.images.get(TEST_IMAGE)
        client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means the engine is not usable
        unavailable(what, f"{url}: {exc}; run `bash .ci/setup-engines.sh`")


@pytest.fixture(scope="session")
def docker_url() -> str:
    """URL of a running Docker Engine holding the test image."""
    _ping_engine(DOCKER_URL, "Docker Engine")
    return DOCKER_URL


@pytest.fixture(scope="session")
def podman_url() -> str:
    """URL of Podman's Docker-compatible socket holding the test image."""
    _ping_engine(PODMAN_URL, "Podman socket")
    return PODMAN_URL


@pytest.fixture(scope="session")
def swarm_url() -> str:
    """URL of an active single-node swarm manager holding the test image."""
    _ping_engine(SWARM_URL, "Docker Swarm manager")
    return SWARM_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a PostgreSQL database the tests may use."""
    import psycopg  # noqa: PLC0415

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        unavailable("PostgreSQL", f"{exc}; run `bash .ci/setup-engines.sh`")
    return POSTGRES_URL


@pytest.fixture
def unique() -> str:
    """A fresh name prefix so leftovers of earlier runs never interfere."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def devarch_home(tmp_path: os.PathLike[str]) -> str:
    """An empty DEVARCH_HOME for one test."""
    return os.path.join(tmp_path, "devarch-home")  # noqa: PTH118

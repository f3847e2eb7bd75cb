"""The example catalog's templates really run on the local busybox image.

Each template's command starts in Docker (with TEST_IMAGE, the only image available offline) and
its healthcheck test command exits 0 once the service is up: the demo and the end-to-end tests
rely on both.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.filesystem import load_catalog_dirs

if TYPE_CHECKING:
    from devarch_core.spec import ServiceSpec

#: Same default as tests/conftest.py (the local busybox image built by .ci/setup-engines.sh).
TEST_IMAGE = os.environ.get("DEVARCH_TEST_IMAGE", "devarch-test/busybox:latest")
pytestmark = pytest.mark.docker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
CATALOG = load_catalog_dirs([EXAMPLES])
TEMPLATES = CATALOG.list()


@pytest.fixture
def docker_client(docker_url):
    import docker  # noqa: PLC0415 - only these tests need the SDK

    client = docker.DockerClient(base_url=docker_url, timeout=30)
    yield client
    client.close()


def _environment(spec: ServiceSpec, extra: dict[str, str]) -> dict[str, str]:
    env = {k: str(v) for k, v in spec.environment.items()}
    return {**env, **extra}


def _run(client, spec: ServiceSpec, name: str, env: dict[str, str]):
    return client.containers.run(
        TEST_IMAGE,
        command=list(spec.command or ()),
        name=name,
        environment=env,
        labels={"devarch.test": name},
        detach=True,
    )


def _healthcheck_exit_code(container, spec: ServiceSpec) -> int:
    assert spec.healthcheck is not None
    test = list(spec.healthcheck.test)
    kind, args = test[0], test[1:]
    cmd = ["sh", "-c", args[0]] if kind == "CMD-SHELL" else args
    code: int = container.exec_run(cmd).exit_code
    return code


def _wait_healthy(container, spec: ServiceSpec, deadline: float = 10.0) -> int:
    end = time.monotonic() + deadline
    code = -1
    while time.monotonic() < end:
        container.reload()
        assert container.status in ("created", "running"), container.logs().decode()
        if container.status == "running":
            code = _healthcheck_exit_code(container, spec)
            if code == 0:
                return code
        time.sleep(0.2)
    return code


def test_the_example_catalog_has_the_four_busybox_templates():
    """The example catalog holds bb-db, bb-cache, bb-web and bb-worker, all on the test image."""
    assert CATALOG.names() == ["bb-cache", "bb-db", "bb-web", "bb-worker"]
    for template in TEMPLATES:
        assert template.service.image == "devarch-test/busybox:latest"
        assert template.service.healthcheck is not None


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.name for t in TEMPLATES])
def test_each_example_template_starts_and_passes_its_healthcheck(docker_client, unique, template):
    """The template's command keeps running and its healthcheck command exits 0 within seconds."""
    spec = template.service
    env = _environment(spec, {"DB_HOST": "db", "DB_PORT": "5432", "REDIS_HOST": "cache"})
    container = _run(docker_client, spec, f"{unique}-{template.name}", env)
    try:
        assert _wait_healthy(container, spec) == 0, container.logs().decode()
        time.sleep(0.5)
        container.reload()
        assert container.status == "running", container.logs().decode()
        # A listener must keep serving after its first connection (healthchecks repeat).
        assert _healthcheck_exit_code(container, spec) == 0
        assert _healthcheck_exit_code(container, spec) == 0
    finally:
        container.remove(force=True)


def test_example_templates_stop_promptly_on_sigterm(docker_client, unique):
    """Every example container exits within a second of `docker stop` (no 10-second kill wait)."""
    containers = [
        _run(docker_client, t.service, f"{unique}-{t.name}", _environment(t.service, {}))
        for t in TEMPLATES
    ]
    try:
        for container, template in zip(containers, TEMPLATES, strict=True):
            assert _wait_healthy(container, template.service) == 0
        for container in containers:
            started = time.monotonic()
            container.stop(timeout=10)
            assert time.monotonic() - started < 3
            container.reload()
            assert container.attrs["State"]["ExitCode"] == 0
    finally:
        for container in containers:
            container.remove(force=True)


def test_bb_web_serves_a_page_naming_its_wired_database(docker_client, unique):
    """bb-web's page and env.txt show the DB_* variables wiring injects, without the password."""
    spec = CATALOG.get("bb-web").service
    env = _environment(
        spec, {"DB_HOST": "devarch-s-db", "DB_PORT": "5432", "DB_PASSWORD": "hunter2"}
    )
    container = _run(docker_client, spec, f"{unique}-bb-web", env)
    try:
        assert _wait_healthy(container, spec) == 0
        page = container.exec_run(["wget", "-q", "-O", "-", "http://127.0.0.1:8080/"]).output
        assert b"database: devarch-s-db:5432" in page
        listing = container.exec_run(["cat", "/www/env.txt"]).output.decode()
        assert "DB_HOST=devarch-s-db" in listing
        assert "hunter2" not in listing
    finally:
        container.remove(force=True)


def test_bb_db_healthcheck_fails_when_nothing_listens(docker_client, unique):
    """bb-db's healthcheck really checks the port: it fails in a container without the server."""
    spec = CATALOG.get("bb-db").service
    container = docker_client.containers.run(
        TEST_IMAGE, command=["sleep", "30"], name=f"{unique}-idle", detach=True
    )
    try:
        assert _healthcheck_exit_code(container, spec) != 0
    finally:
        container.remove(force=True)

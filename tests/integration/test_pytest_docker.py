"""pytest-docker on a devarch stack: ``devarch_compose_file`` feeds ``docker_compose_file``.

A pytester project (the plugin example's devarch.yml) uses pytest-docker's ``docker_services``
with Debian's docker-compose 1.29 as the compose command; its test waits with
``wait_until_responsive`` on the host port ``port_for`` reports, then reads the web app, which
must see its database through the wire. Afterwards nothing of the run is left: no container,
network or volume of the stack, no stack in the plugin's store, no compose file.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.conftest import unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.docker, pytest.mark.compose]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "data" / "plugin"
CATALOG = ROOT / "examples" / "catalog"

CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def docker_compose_command():
    return "docker-compose"  # Debian's docker-compose 1.29


@pytest.fixture(scope="session")
def docker_setup():
    # pytest-docker's default, "up --build --wait", is Compose v2's: 1.29 prints its help for
    # --wait and exits 0 without starting anything.
    return ["up --build -d"]


@pytest.fixture(scope="session")
def docker_compose_file(devarch_compose_file):
    return devarch_compose_file
"""

TEST = """
import os
import stat
import urllib.request
from pathlib import Path


def fetch(url):
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.read().decode()


def responds(url):
    try:
        fetch(url)
    except OSError:
        return False
    return True


def test_the_stack_answers_on_its_published_port(docker_services, docker_ip, docker_compose_file):
    port = docker_services.port_for("web", 8080)
    url = f"http://{docker_ip}:{port}/"
    docker_services.wait_until_responsive(check=lambda: responds(url), timeout=90.0, pause=0.5)
    assert "plugin-demo" in fetch(url)
    env = fetch(url + "env.txt")
    assert "DB_HOST=devarch-plugdemo-" in env and "-compose-db" in env, env
    text = Path(docker_compose_file).read_text()
    assert "'***'" not in text  # the containers need the secret values
    assert "\\nname:" not in text and not text.startswith("name:")  # 1.29 refuses it
    assert stat.S_IMODE(os.stat(docker_compose_file).st_mode) == 0o600
    Path(os.environ["RECORD"]).write_text(str(docker_compose_file) + "\\n" + str(port))
"""


@pytest.fixture
def engine(docker_url: str) -> Iterator[Any]:
    import docker  # noqa: PLC0415 - only this integration test needs the SDK

    if shutil.which("docker-compose") is None:
        unavailable("docker-compose", "not on PATH; install Debian's docker-compose")
    client = docker.DockerClient(base_url=docker_url, timeout=30)
    yield client
    client.close()


def test_pytest_docker_brings_up_a_devarch_rendered_stack_with_docker_compose(
    pytester: pytest.Pytester,
    engine: Any,
    docker_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID", "PYTEST_XDIST_WORKER_COUNT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_HOST", docker_url)
    record = tmp_path / "record.txt"
    monkeypatch.setenv("RECORD", str(record))
    home = tmp_path / "plugin-home"
    shutil.copy(EXAMPLE / "devarch.yml", pytester.path / "devarch.yml")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_services=TEST)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        f"--devarch-home={home}",
        f"--devarch-catalog={CATALOG}",
        timeout=600,
    )
    result.assert_outcomes(passed=1)
    compose_file, port = record.read_text().splitlines()
    assert not Path(compose_file).exists()  # it held secret values
    # The port pytest-docker saw is one devarch allocated from the home's window.
    from devarch_adapters.pytest_plugin import port_window  # noqa: PLC0415

    low, high = port_window(home)
    assert low <= int(port) <= high
    # pytest-docker's `down -v` removed the containers, network and volume; the run's end
    # removed the stack definition.
    api = engine.api  # the low-level API: listing must not inspect other tests' containers
    labelled = {"label": "devarch.stack"}
    leftovers = [
        *(c["Labels"] for c in api.containers(all=True, filters=labelled)),
        *(n.get("Labels") or {} for n in api.networks(filters=labelled)),
        *(v.get("Labels") or {} for v in api.volumes(filters=labelled).get("Volumes") or []),
    ]
    stacks = {labels.get("devarch.stack", "") for labels in leftovers}
    assert [s for s in stacks if s.startswith("plugdemo-") and "-compose" in s] == []
    with sqlite3.connect(home / "devarch.db") as conn:
        assert conn.execute("SELECT name FROM stacks").fetchall() == []

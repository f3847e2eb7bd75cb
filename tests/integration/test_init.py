"""``devarch init`` on a real Docker Engine: from devarch.yml to a running stack in one command.

Runs the CLI in-process (``main(argv)``) with an empty ``--home``, the example busybox catalog
and a copy of ``examples/shop/devarch.yml`` renamed to a ``unique`` stack. Every home the test
used deletes the stack at the end (containers, network, volumes), also when the test fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devarch_adapters.cli import main
from devarch_core.manifest import Lockfile

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
CATALOG = str(ROOT / "examples" / "catalog")
SHOP = ROOT / "examples" / "shop" / "devarch.yml"
INSTANCES = ("cache", "db", "web", "worker")

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def client(docker_url: str) -> Iterator[Any]:
    """A docker SDK client on the test engine."""
    import docker  # noqa: PLC0415 - only integration tests need the SDK

    c = docker.DockerClient(base_url=docker_url, timeout=60)
    yield c
    c.close()


@pytest.fixture
def homes(
    docker_url: str,
    tmp_path: Path,
    unique: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[str], Cli]]:
    """``homes("a")`` → a CLI runner on home ``tmp_path/a``; each home's stack is deleted after."""
    monkeypatch.setenv("DOCKER_HOST", docker_url)
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.delenv("DEVARCH_CATALOG_PATH", raising=False)
    used: list[Cli] = []

    def make(name: str) -> Cli:
        home = str(tmp_path / name)

        def run(*args: str) -> tuple[int, str, str]:
            capsys.readouterr()
            argv = ["--home", home, "--catalog", CATALOG, "--runtime", "docker", "--no-color"]
            code = main([*argv, *args])
            out, err = capsys.readouterr()
            return code, out, err

        used.append(run)
        return run

    yield make
    for run in used:
        run("stack", "delete", f"{unique}-shop", "--yes")


@pytest.fixture
def manifest(tmp_path: Path, unique: str) -> Path:
    """A copy of examples/shop/devarch.yml whose stack is named ``{unique}-shop``."""
    project = tmp_path / "project"
    project.mkdir()
    path = project / "devarch.yml"
    text = SHOP.read_text(encoding="utf-8")
    assert "  name: shop\n" in text
    path.write_text(text.replace("  name: shop\n", f"  name: {unique}-shop\n"), encoding="utf-8")
    return path


def _wait_healthy(client: Any, names: list[str], timeout: float = 60) -> dict[str, Any]:
    """Wait until every container runs and reports healthy; return them by name."""
    deadline = time.monotonic() + timeout
    while True:
        containers = {n: client.containers.get(n) for n in names}
        states = {n: c.attrs["State"] for n, c in containers.items()}
        if all(
            s["Running"] and s.get("Health", {}).get("Status") == "healthy" for s in states.values()
        ):
            return containers
        if time.monotonic() > deadline:
            summary = {
                n: (s["Status"], s.get("Health", {}).get("Status")) for n, s in states.items()
            }
            pytest.fail(f"containers not healthy after {timeout}s: {summary}")
        time.sleep(0.5)


def _host_ports(containers: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Each container's published ``{"5432/tcp": host port}``."""
    result = {}
    for name, container in containers.items():
        container.reload()
        bindings = container.attrs["NetworkSettings"]["Ports"] or {}
        result[name] = {k: int(v[0]["HostPort"]) for k, v in bindings.items() if v}
    return result


def test_init_brings_the_stack_up_writes_the_lockfile_and_is_idempotent(
    homes: Callable[[str], Cli], manifest: Path, client: Any, unique: str
) -> None:
    """``init`` runs every container healthy and writes devarch.lock; a second init is a no-op."""
    stack = f"{unique}-shop"
    names = [f"devarch-{stack}-{i}" for i in INSTANCES]
    cli = homes("home")
    code, out, err = cli("init", str(manifest), "--yes")
    assert code == 0, err
    assert f"Stack {stack} is up" in out
    containers = _wait_healthy(client, names)
    lock_path = manifest.with_name("devarch.lock")
    lock = Lockfile.parse(lock_path.read_text(encoding="utf-8"))
    assert lock.stack == stack
    assert sorted(lock.instances) == list(INSTANCES)
    for inst in INSTANCES:
        assert lock.instances[inst].image == "devarch-test/busybox:latest"
        assert lock.instances[inst].image_digest
    published = _host_ports(containers)
    for inst in ("cache", "db", "web"):
        assert published[f"devarch-{stack}-{inst}"] == dict(lock.instances[inst].ports)
    ids = {n: c.id for n, c in containers.items()}
    lock_text = lock_path.read_text(encoding="utf-8")

    code, out, err = cli("init", str(manifest), "--yes")
    assert code == 0, err
    assert "no changes" in out
    assert {n: client.containers.get(n).id for n in names} == ids
    assert lock_path.read_text(encoding="utf-8") == lock_text


def test_init_on_a_fresh_home_with_the_lockfile_keeps_the_host_ports(
    homes: Callable[[str], Cli], manifest: Path, client: Any, unique: str
) -> None:
    """After down, stack delete and a new home, init with devarch.lock keeps the host ports."""
    stack = f"{unique}-shop"
    names = [f"devarch-{stack}-{i}" for i in INSTANCES]
    first = homes("first")
    code, _, err = first("init", str(manifest), "--yes")
    assert code == 0, err
    before = _host_ports(_wait_healthy(client, names))
    lock = Lockfile.parse(manifest.with_name("devarch.lock").read_text(encoding="utf-8"))

    assert first("down", stack)[0] == 0
    assert client.containers.list(all=True, filters={"name": f"devarch-{stack}-"}) == []
    code, _, err = first("stack", "delete", stack, "--yes")
    assert code == 0, err

    second = homes("second")
    code, _, err = second("init", str(manifest), "--yes")
    assert code == 0, err
    assert "warning" not in err
    after = _host_ports(_wait_healthy(client, names))
    assert after == before
    relocked = Lockfile.parse(manifest.with_name("devarch.lock").read_text(encoding="utf-8"))
    assert {k: v.ports for k, v in relocked.instances.items()} == {
        k: v.ports for k, v in lock.instances.items()
    }

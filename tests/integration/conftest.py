"""Fixtures for end-to-end tests: a connected Devarch per engine and store, cleaned up afterwards.

``make_devarch(engine, store_url=None)`` returns a facade built by ``devarch_adapters.connect``
with ``home=tmp_path``, the example busybox catalog and a runtime object for the engine. Every
stack whose name starts with the test's ``unique`` prefix is deleted at teardown (even when the
test failed), and any leftover engine resource with that prefix is force-removed as a last resort.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from devarch_core.app import Devarch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "catalog"
ENGINES = ("docker", "podman")

EngineClient = Callable[[str], Any]


def runtime_for(engine: str, url: str) -> Any:
    """Return the runtime adapter object for ``engine`` at ``url``."""
    if engine == "docker":
        from devarch_adapters.docker import DockerRuntime  # noqa: PLC0415

        return DockerRuntime(url)
    if engine == "podman":
        podman = pytest.importorskip(
            "devarch_adapters.podman", reason="the Podman adapter is not written yet"
        )
        return podman.PodmanRuntime(url)
    msg = f"unknown engine {engine!r}"
    raise ValueError(msg)


def port_range() -> tuple[int, int]:
    """Pick a random 200-port window, so tests with separate stores rarely race for a port."""
    base = random.randrange(30000, 59800, 200)  # noqa: S311 - not cryptographic
    return (base, base + 199)


@pytest.fixture(scope="module")
def engine_url(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``engine_url("docker")`` → the engine's socket URL (skips/fails like the base fixtures)."""

    def get(engine: str) -> str:
        url: str = request.getfixturevalue(f"{engine}_url")
        return url

    return get


@pytest.fixture(scope="module")
def engine_client(engine_url: Callable[[str], str]) -> Iterator[EngineClient]:
    """``engine_client("podman")`` → a docker SDK client on that engine's socket."""
    import docker  # noqa: PLC0415 - only integration tests need the SDK

    clients: dict[str, Any] = {}

    def get(engine: str) -> Any:
        if engine not in clients:
            clients[engine] = docker.DockerClient(base_url=engine_url(engine), timeout=60)
        return clients[engine]

    yield get
    for client in clients.values():
        client.close()


def _force_cleanup(client: Any, prefix: str) -> None:
    """Remove containers, networks and volumes named ``devarch-{prefix}*`` left behind."""
    stem = f"devarch-{prefix}"
    for container in client.containers.list(all=True, filters={"name": stem}):
        if container.name.startswith(stem):
            with contextlib.suppress(Exception):
                container.remove(force=True)
    for network in client.networks.list(names=[stem]):
        if network.name.startswith(stem):
            with contextlib.suppress(Exception):
                network.remove()
    for volume in client.volumes.list():
        if volume.name.startswith(stem):
            with contextlib.suppress(Exception):
                volume.remove(force=True)


class DevarchFactory:
    """Builds connected facades and deletes the stacks named with ``prefix`` when closed."""

    def __init__(
        self, home: Path, prefix: str, engine_url: Callable[[str], str], engine_client: EngineClient
    ) -> None:
        self.home = home
        self.prefix = prefix
        self.engine_url = engine_url
        self.engine_client = engine_client
        self.window = port_range()
        self.made: list[tuple[str, Devarch]] = []

    def __call__(self, engine: str, store_url: str | None = None, **options: Any) -> Devarch:
        """Connect a facade to ``engine`` (and ``store_url``, else SQLite under ``home``)."""
        from devarch_adapters import connect  # noqa: PLC0415

        options.setdefault("port_range", self.window)
        options.setdefault("health_timeout", 60.0)
        devarch = connect(
            home=self.home,
            store=store_url,
            runtime=runtime_for(engine, self.engine_url(engine)),
            catalog=[str(EXAMPLES)],
            **options,
        )
        self.made.append((engine, devarch))
        return devarch

    def close(self) -> None:
        """Delete every stack named with the prefix, then force-remove leftovers on the engines."""
        problems = []
        for _engine, devarch in self.made:
            try:
                names = [s.stack.name for s in devarch.list_stacks(with_runtime=False)]
            except Exception as exc:  # noqa: BLE001 - teardown must go on
                problems.append(f"list stacks: {exc}")
                continue
            for name in names:
                if name.startswith(self.prefix):
                    try:
                        devarch.delete_stack(name)
                    except Exception as exc:  # noqa: BLE001 - keep cleaning the rest
                        problems.append(f"delete_stack({name}): {exc}")
        for engine in {engine for engine, _ in self.made}:
            _force_cleanup(self.engine_client(engine), self.prefix)
        for _engine, devarch in self.made:
            with contextlib.suppress(Exception):
                devarch.store.close()
        if problems:
            # Teardown problems are reported but never mask the test's own result.
            print("make_devarch teardown:", *problems, sep="\n  ")  # noqa: T201


@pytest.fixture
def make_devarch(
    tmp_path: Path, unique: str, engine_url: Callable[[str], str], engine_client: EngineClient
) -> Iterator[DevarchFactory]:
    """Build connected facades: ``make_devarch(engine, store_url=None, **options)``.

    Stacks must be named with the ``unique`` prefix: those are deleted at teardown, even when
    the test fails.
    """
    factory = DevarchFactory(tmp_path / "home", unique, engine_url, engine_client)
    yield factory
    factory.close()


def stack_containers(client: Any, stack_id: str) -> list[Any]:
    """Every container (any state) labelled for ``stack_id`` on the engine behind ``client``."""
    return list(client.containers.list(all=True, filters={"label": f"devarch.stack_id={stack_id}"}))


def exec_sh(container: Any, script: str) -> tuple[int, str]:
    """Run ``sh -c script`` in a running container: (exit code, combined output)."""
    result = container.exec_run(["sh", "-c", script])
    return result.exit_code, result.output.decode(errors="replace")


@pytest.fixture(scope="module")
def make_module_devarch(
    tmp_path_factory: pytest.TempPathFactory,
    engine_url: Callable[[str], str],
    engine_client: EngineClient,
) -> Iterator[DevarchFactory]:
    """Like ``make_devarch`` for a whole module: its ``prefix`` attribute names the stacks."""
    factory = DevarchFactory(
        tmp_path_factory.mktemp("home"), f"m{uuid.uuid4().hex[:8]}", engine_url, engine_client
    )
    yield factory
    factory.close()

"""Two stacks built from the same templates run side by side on a real engine without touching.

Parametrized over Docker and Podman: distinct container names, networks, volumes and host ports;
a container reaches its sibling by instance name but cannot reach the other stack (by name or
by IP); wiring injects the stack's own names; deleting one stack leaves the other running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from tests.integration.conftest import ENGINES, exec_sh, stack_containers

if TYPE_CHECKING:
    from tests.integration.conftest import DevarchFactory, EngineClient

    from devarch_core.app import Devarch

pytestmark = [pytest.mark.docker, pytest.mark.podman]

PODMAN_VOLUME_FILTER_BUG = (
    "bug in devarch_adapters/docker/runtime.py list_volumes on Podman 4.3: the engine ORs "
    "several label filters, so delete_stack(A) also removes volumes of every other devarch stack"
)


def _two_stacks(devarch: Devarch, unique: str) -> tuple[str, str]:
    names = (f"{unique}a", f"{unique}b")
    for name in names:
        devarch.create_stack(name)
        devarch.add_instance(name, "db", "bb-db")
        devarch.add_instance(name, "web", "bb-web")
    for name in names:
        devarch.apply(name)
    return names


def _ip_on(container: Any, network: str) -> str:
    container.reload()
    ip: str = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    assert ip, f"{container.name} has no address on {network}"
    return ip


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Parametrize over the engines."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def running(engine: str, make_module_devarch: DevarchFactory) -> tuple[Devarch, str, str]:
    """Stacks A and B, each db + web from the same templates, running (shared, read-only)."""
    devarch = make_module_devarch(engine)
    a, b = _two_stacks(devarch, f"{make_module_devarch.prefix}{engine[0]}")
    return devarch, a, b


def test_two_stacks_from_the_same_templates_get_distinct_names_networks_volumes_and_ports(
    running: tuple[Devarch, str, str], engine: str, engine_client: EngineClient
) -> None:
    """Each stack's containers, network and volume carry its own name; host ports differ."""
    devarch, a, b = running
    client = engine_client(engine)
    for stack in (a, b):
        for instance in ("db", "web"):
            container = client.containers.get(f"devarch-{stack}-{instance}")
            assert container.status == "running"
            assert container.labels["devarch.stack_id"] == devarch.get_stack(stack).id
            assert f"devarch-{stack}-net" in container.attrs["NetworkSettings"]["Networks"]
        assert client.networks.get(f"devarch-{stack}-net").name == f"devarch-{stack}-net"
        volume = client.volumes.get(f"devarch-{stack}-db-data")
        assert volume.attrs["Labels"]["devarch.stack_id"] == devarch.get_stack(stack).id
        mounts = client.containers.get(f"devarch-{stack}-db").attrs["Mounts"]
        assert [m["Name"] for m in mounts if m["Type"] == "volume"] == [f"devarch-{stack}-db-data"]
    ports = {stack: {p for row in devarch.status(stack) for p in row.ports} for stack in (a, b)}
    host_ports = {stack: {p.split("->")[0] for p in found} for stack, found in ports.items()}
    assert len(host_ports[a]) == 2
    assert len(host_ports[b]) == 2
    assert host_ports[a].isdisjoint(host_ports[b])


def test_a_container_reaches_its_sibling_by_instance_name(
    running: tuple[Devarch, str, str], engine: str, engine_client: EngineClient
) -> None:
    """Inside stack A, ``db`` and ``web`` resolve to A's containers and answer over TCP."""
    _, a, _ = running
    client = engine_client(engine)
    web = client.containers.get(f"devarch-{a}-web")
    db = client.containers.get(f"devarch-{a}-db")
    code, out = exec_sh(web, "nc -w 2 db 5432 </dev/null")
    assert (code, out.strip()) == (0, "ok")
    code, out = exec_sh(db, "timeout 5 wget -qO- http://web:8080/env.txt")
    assert code == 0, out
    assert f"DB_HOST=devarch-{a}-db" in out.splitlines()


def test_a_container_cannot_reach_the_other_stack_by_name_or_ip(
    running: tuple[Devarch, str, str], engine: str, engine_client: EngineClient
) -> None:
    """From stack A, B's db neither resolves by its container name nor answers on its IP."""
    _, a, b = running
    client = engine_client(engine)
    web_a = client.containers.get(f"devarch-{a}-web")
    db_b = client.containers.get(f"devarch-{b}-db")
    ip_b = _ip_on(db_b, f"devarch-{b}-net")
    # Control: B's db answers on that IP from inside B, so a failure from A is isolation.
    code, out = exec_sh(
        client.containers.get(f"devarch-{b}-web"), f"nc -w 2 {ip_b} 5432 </dev/null"
    )
    assert (code, out.strip()) == (0, "ok")
    code, out = exec_sh(web_a, f"nc -w 2 devarch-{b}-db 5432 </dev/null")
    assert code != 0, out
    assert "ok" not in out
    code, out = exec_sh(web_a, f"nc -w 2 {ip_b} 5432 </dev/null")
    assert code != 0, out
    assert "ok" not in out


def test_wiring_injects_each_stacks_own_provider_names(
    running: tuple[Devarch, str, str], engine: str, engine_client: EngineClient
) -> None:
    """The web container of each stack got DB_HOST of its own stack's db and the container port."""
    _, a, b = running
    client = engine_client(engine)
    for stack in (a, b):
        web = client.containers.get(f"devarch-{stack}-web")
        code, out = exec_sh(web, "cat /www/env.txt")
        assert code == 0, out
        lines = out.splitlines()
        assert f"DB_HOST=devarch-{stack}-db" in lines
        assert "DB_PORT=5432" in lines
        env = dict(item.split("=", 1) for item in web.attrs["Config"]["Env"])
        assert env["DB_HOST"] == f"devarch-{stack}-db"


def test_deleting_one_stack_leaves_the_other_running(
    engine: str,
    make_devarch: DevarchFactory,
    unique: str,
    engine_client: EngineClient,
) -> None:
    """delete_stack(A) removes A's resources and keeps B's containers running and B's network."""
    devarch = make_devarch(engine)
    a, b = _two_stacks(devarch, unique)
    client = engine_client(engine)
    b_id = devarch.get_stack(b).id
    a_id = devarch.get_stack(a).id
    devarch.delete_stack(a)
    assert stack_containers(client, a_id) == []
    assert client.networks.list(names=[f"devarch-{a}-net"]) == []
    containers = stack_containers(client, b_id)
    assert sorted(c.name for c in containers) == [f"devarch-{b}-db", f"devarch-{b}-web"]
    assert all(c.status == "running" for c in containers)
    assert [n.name for n in client.networks.list(names=[f"devarch-{b}-net"])] == [
        f"devarch-{b}-net"
    ]
    assert client.volumes.get(f"devarch-{b}-db-data").name == f"devarch-{b}-db-data"
    code, out = exec_sh(client.containers.get(f"devarch-{b}-web"), "nc -w 2 db 5432 </dev/null")
    assert (code, out.strip()) == (0, "ok")


def test_deleting_one_stack_keeps_the_volumes_of_a_stack_that_is_down(
    engine: str,
    make_devarch: DevarchFactory,
    unique: str,
    engine_client: EngineClient,
) -> None:
    """A stack taken down keeps its named volume when another stack is deleted."""
    devarch = make_devarch(engine)
    a, b = f"{unique}a", f"{unique}b"
    for name in (a, b):
        devarch.create_stack(name)
        devarch.add_instance(name, "db", "bb-db")
        devarch.apply(name)
    devarch.down(b)
    client = engine_client(engine)
    assert client.volumes.get(f"devarch-{b}-db-data").name == f"devarch-{b}-db-data"
    devarch.delete_stack(a)
    assert [v.name for v in client.volumes.list() if v.name.startswith(f"devarch-{unique}")] == [
        f"devarch-{b}-db-data"
    ]

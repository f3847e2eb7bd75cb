"""Writes on a local socket go through the standard-library client, errors translated as before.

A fake engine on a unix socket answers as Docker or Podman do (409 for a taken name, Podman's
compat API 500 "already exists", 404); the runtime must send the hand-built bodies, never load
the docker SDK's client, open a fresh connection for every write, and raise the same devarch
errors with the engine's message as when the SDK carried these requests.
"""

from __future__ import annotations

import json
import re
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

import pytest

from devarch_adapters.docker import DockerRuntime, _bodies
from devarch_adapters.podman import PodmanRuntime
from devarch_core.engine import ContainerSpec
from devarch_core.errors import ConflictError, EngineError
from devarch_core.secrets import Secret

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

Answer = tuple[int, object]


class _Engine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(path, _Handler)
        #: (connection number, request number on it, method, path, query, decoded body)
        self.seen: list[tuple[int, int, str, str, str, Any]] = []
        self.routes: dict[tuple[str, str], Callable[[Any], Answer]] = {}
        self.connections = 0
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Engine

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1
            self.number = self.server.connections
        self.count = 0

    def address_string(self) -> str:
        return "fake"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def _answer(self) -> None:
        self.count += 1
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        path, _, query = self.path.partition("?")
        path = re.sub(r"^/v1\.\d+(?=/)", "", path)  # the SDK's versioned paths
        with self.server.lock:
            self.server.seen.append((self.number, self.count, self.command, path, query, body))
        route = self.server.routes.get((self.command, path))
        status, data = route(body) if route else (404, {"message": f"no route {path}"})
        out = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_DELETE = _answer  # noqa: N815 - the base's names


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[_Engine]:
    server = _Engine(str(tmp_path / "engine.sock"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _runtime(engine: _Engine, cls: type[DockerRuntime] = DockerRuntime) -> DockerRuntime:
    return cls(f"unix://{engine.server_address}", timeout=5)


SPEC = ContainerSpec(
    name="devarch-s-db",
    image="postgres:16",
    network="devarch-s",
    aliases=("db",),
    environment={"POSTGRES_PASSWORD": Secret("hunter2")},
    labels={"devarch.stack": "s"},
)


def _writes(engine: _Engine) -> list[tuple[int, int, str, str, str, Any]]:
    return [s for s in engine.seen if s[2] != "GET"]


def test_create_posts_the_built_body_on_a_fresh_connection(engine: _Engine) -> None:
    engine.routes["POST", "/containers/create"] = lambda _: (201, {"Id": "abc", "Warnings": []})
    engine.routes["GET", "/_ping"] = lambda _: (200, "OK")
    runtime = _runtime(engine)
    try:
        runtime._read("/_ping")  # a keep-alive connection exists
        info = runtime.create_container(SPEC)
        runtime.create_container(SPEC)
    finally:
        runtime.close()
    assert info.id == "abc"
    assert info.state == "created"
    writes = _writes(engine)
    assert [(w[2], w[3], w[4]) for w in writes] == [
        ("POST", "/containers/create", "name=devarch-s-db")
    ] * 2
    assert writes[0][5] == _bodies.container_body(SPEC, proxy_env={})
    assert "POSTGRES_PASSWORD=hunter2" in writes[0][5]["Env"]
    # every write is the first request of its own connection (never sent twice on a stale one)
    assert [w[1] for w in writes] == [1, 1]
    assert len({w[0] for w in writes}) == 2
    assert runtime._client is None, "the docker SDK client was never made"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (409, 'Conflict. The container name "/devarch-s-db" is already in use by container "1"'),
        (500, "creating container storage: the container name is already in use by 1"),
    ],
)
def test_a_taken_name_is_a_conflict_with_the_engines_message(
    engine: _Engine, status: int, message: str
) -> None:
    engine.routes["POST", "/containers/create"] = lambda _: (status, {"message": message})
    runtime = _runtime(engine)
    with pytest.raises(ConflictError) as caught:
        runtime.create_container(SPEC)
    assert str(caught.value) == f"container name devarch-s-db is already taken: {message}"
    assert "hunter2" not in str(caught.value)


def test_another_create_error_is_an_engine_error_with_its_message(engine: _Engine) -> None:
    engine.routes["POST", "/containers/create"] = lambda _: (
        404,
        {"message": "No such image: postgres:16"},
    )
    with pytest.raises(EngineError) as caught:
        _runtime(engine).create_container(SPEC)
    assert not isinstance(caught.value, ConflictError)
    assert str(caught.value) == "create container devarch-s-db: No such image: postgres:16"


NETWORK: dict[str, object] = {
    "Id": "n1",
    "Name": "devarch-s",
    "Labels": {"devarch.stack": "s"},
    "Created": "1",
}


@pytest.mark.parametrize(
    "refusal",
    [
        (409, {"message": "network with name devarch-s already exists"}),
        (500, {"message": "network name devarch-s already used: network already exists"}),
    ],
)
def test_ensure_network_rereads_a_network_created_meanwhile(
    engine: _Engine, refusal: Answer
) -> None:
    listed: list[list[dict[str, object]]] = [[], [NETWORK]]
    engine.routes["GET", "/networks"] = lambda _: (200, listed.pop(0))
    engine.routes["POST", "/networks/create"] = lambda _: refusal
    network = _runtime(engine).ensure_network("devarch-s", {"devarch.stack": "s"})
    assert (network.id, network.name) == ("n1", "devarch-s")
    (write,) = _writes(engine)
    assert write[5] == _bodies.network_body(
        "devarch-s", {"devarch.stack": "s"}, {"driver": "bridge"}
    )


def test_ensure_network_keeps_the_oldest_of_twins(engine: _Engine) -> None:
    twin = NETWORK | {"Id": "n2", "Created": "2"}
    engine.routes["GET", "/networks"] = lambda _: (200, [twin, NETWORK])
    engine.routes["DELETE", "/networks/n2"] = lambda _: (204, "")
    assert _runtime(engine).ensure_network("devarch-s", {}).id == "n1"
    assert [(w[2], w[3]) for w in _writes(engine)] == [("DELETE", "/networks/n2")]


def test_ensure_network_reports_another_refusal(engine: _Engine) -> None:
    engine.routes["GET", "/networks"] = lambda _: (200, [])
    engine.routes["POST", "/networks/create"] = lambda _: (
        500,
        {"message": "could not find an available, non-overlapping IPv4 address pool"},
    )
    with pytest.raises(EngineError) as caught:
        _runtime(engine).ensure_network("devarch-s", {})
    assert str(caught.value) == (
        "ensure network devarch-s: could not find an available, non-overlapping IPv4 address pool"
    )


def test_ensure_volume_reads_an_existing_one_on_conflict(engine: _Engine) -> None:
    engine.routes["POST", "/volumes/create"] = lambda _: (
        500,
        {"message": "volume with name devarch-s-data already exists: volume already exists"},
    )
    engine.routes["GET", "/volumes/devarch-s-data"] = lambda _: (
        200,
        {"Name": "devarch-s-data", "Labels": {"devarch.stack": "other"}},
    )
    volume = _runtime(engine).ensure_volume("devarch-s-data", {"devarch.stack": "s"})
    assert volume.labels == {"devarch.stack": "other"}
    (write,) = _writes(engine)
    assert write[5] == _bodies.volume_body("devarch-s-data", {"devarch.stack": "s"})


def test_remove_volume_absent_and_in_use(engine: _Engine) -> None:
    engine.routes["DELETE", "/volumes/gone"] = lambda _: (404, {"message": "no such volume"})
    engine.routes["DELETE", "/volumes/used"] = lambda _: (
        409,
        {"message": "remove used: volume is in use - [abc]"},
    )
    runtime = _runtime(engine)
    assert runtime.remove_volume("gone") is False
    with pytest.raises(EngineError, match=r"^remove volume used: remove used: volume is in use"):
        runtime.remove_volume("used")


def test_podman_rejoins_the_network_with_the_aliases(engine: _Engine) -> None:
    engine.routes["POST", "/containers/create"] = lambda _: (201, {"Id": "abc"})
    engine.routes["POST", "/networks/devarch-s/disconnect"] = lambda _: (200, "")
    engine.routes["POST", "/networks/devarch-s/connect"] = lambda _: (200, "")
    runtime = _runtime(engine, PodmanRuntime)
    runtime.create_container(SPEC)
    writes = _writes(engine)
    assert [w[3] for w in writes] == [
        "/containers/create",
        "/networks/devarch-s/disconnect",
        "/networks/devarch-s/connect",
    ]
    assert "Aliases" not in writes[0][5]["NetworkingConfig"]["EndpointsConfig"]["devarch-s"]
    assert writes[1][5] == {"Container": "abc"}
    assert writes[2][5] == {"Container": "abc", "EndpointConfig": {"Aliases": ["db"]}}
    assert runtime._client is None


def test_podman_reports_a_refused_reconnect(engine: _Engine) -> None:
    engine.routes["POST", "/containers/create"] = lambda _: (201, {"Id": "abc"})
    engine.routes["POST", "/networks/devarch-s/disconnect"] = lambda _: (
        500,
        {"message": "container abc is not connected to network devarch-s"},
    )
    with pytest.raises(EngineError) as caught:
        _runtime(engine, PodmanRuntime).create_container(SPEC)
    assert str(caught.value) == (
        "set aliases of devarch-s-db on devarch-s: container abc is not connected to network "
        "devarch-s"
    )


class _SdkRuntime(DockerRuntime):
    """The runtime as on a ``tcp://`` engine: every request through the docker SDK."""

    def _wire(self) -> None:
        return None


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (409, 'Conflict. The container name "/devarch-s-db" is already in use', ConflictError),
        (404, "No such image: postgres:16", EngineError),
    ],
)
def test_without_the_wire_the_sdk_sends_the_same_body_and_errors_read_the_same(
    engine: _Engine, status: int, message: str, error: type[EngineError]
) -> None:
    """A remote engine (SDK transport): the same create body; the same error texts."""
    engine.routes["GET", "/version"] = lambda _: (200, {"ApiVersion": "1.41", "Version": "20"})
    answers = [(201, {"Id": "abc"}), (status, {"message": message})]
    engine.routes["POST", "/containers/create"] = lambda _: answers.pop(0)
    runtime = _runtime(engine, _SdkRuntime)
    try:
        assert runtime.create_container(SPEC).id == "abc"
        with pytest.raises(error) as caught:
            runtime.create_container(SPEC)
        wire = _runtime(engine)
        answers.append((status, {"message": message}))
        with pytest.raises(error) as over_wire:
            wire.create_container(SPEC)
    finally:
        runtime.close()
    assert type(caught.value) is type(over_wire.value)
    assert str(caught.value) == str(over_wire.value)
    assert message in str(caught.value)
    creates = [w for w in _writes(engine) if w[3] == "/containers/create"]
    assert creates[0][4] == "name=devarch-s-db"
    assert creates[0][5] == _bodies.container_body(SPEC, proxy_env=runtime._proxy_environment())
    assert creates[0][5] == creates[2][5]


def test_without_the_wire_network_and_volume_creates_read_the_same(engine: _Engine) -> None:
    engine.routes["GET", "/version"] = lambda _: (200, {"ApiVersion": "1.41", "Version": "20"})
    listed: list[list[dict[str, object]]] = [[], [NETWORK]]
    engine.routes["GET", "/networks"] = lambda _: (200, listed.pop(0))
    engine.routes["POST", "/networks/create"] = lambda _: (
        409,
        {"message": "network with name devarch-s already exists"},
    )
    engine.routes["POST", "/volumes/create"] = lambda _: (201, {"Name": "v", "Labels": {"a": "b"}})
    runtime = _runtime(engine, _SdkRuntime)
    try:
        assert runtime.ensure_network("devarch-s", {"devarch.stack": "s"}).id == "n1"
        assert runtime.ensure_volume("v", {"a": "b"}).labels == {"a": "b"}
    finally:
        runtime.close()
    bodies = {w[3]: w[5] for w in _writes(engine)}
    assert bodies["/networks/create"] == _bodies.network_body(
        "devarch-s", {"devarch.stack": "s"}, {"driver": "bridge"}
    )
    assert bodies["/volumes/create"] == _bodies.volume_body("v", {"a": "b"})


NET = {"Id": "n1", "Name": "devarch-s-net", "Labels": {}, "Created": "2026-01-01T00:00:00Z"}


def _network_routes(engine: _Engine, refusals: int, attached: dict[str, Any]) -> None:
    """A network the engine refuses to remove ``refusals`` times ("has active endpoints")."""
    left = [refusals]

    def delete(_: object) -> Answer:
        if left[0] > 0:
            left[0] -= 1
            return 403, {"message": "error while removing network: has active endpoints"}
        return 204, ""

    engine.routes["GET", "/networks"] = lambda _: (200, [NET])
    engine.routes["GET", "/networks/n1"] = lambda _: (200, {**NET, "Containers": attached})
    engine.routes["DELETE", "/networks/n1"] = delete


def test_a_network_still_releasing_its_endpoints_is_removed_on_a_later_try(
    engine: _Engine,
) -> None:
    """Refused with "active endpoints" while no container is attached: tried again, removed."""
    _network_routes(engine, refusals=2, attached={})
    runtime = _runtime(engine)
    try:
        assert runtime.remove_network("devarch-s-net") is True
    finally:
        runtime.close()
    assert [s[3] for s in _writes(engine)] == ["/networks/n1"] * 3


def test_a_container_still_attached_to_the_network_is_named(engine: _Engine) -> None:
    """A container joined by hand keeps the network: the error names it, with no retry loop."""
    _network_routes(engine, refusals=99, attached={"c0ffee": {"Name": "someone-elses"}})
    runtime = _runtime(engine)
    try:
        with pytest.raises(EngineError, match="containers still attached to it: someone-elses"):
            runtime.remove_network("devarch-s-net")
    finally:
        runtime.close()
    assert len(_writes(engine)) == 1

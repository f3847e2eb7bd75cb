"""The engine socket client speaks HTTP/1.1 itself (``http.client`` is no longer imported).

A scripted server on a unix socket answers as the Docker and Podman APIs do: ``Content-Length``,
chunked and close-delimited bodies, keep-alive, idle connections closed by the engine, errors.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.docker import _wire
from devarch_adapters.docker._wire import WireClient, WireError, WireProtocolError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

Reply = Callable[[bytes], bytes | None]


class _Server:
    """Answers each request on a unix socket with ``reply(request)``.

    None closes the connection without an answer, as does ``Connection: close`` after it.
    """

    def __init__(self, path: str, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.connections = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        self._sock.listen(8)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                request, _, buffer = buffer.partition(b"\r\n\r\n")
                self.requests.append(request)
                answer = self.reply(request)
                if answer is None:
                    return
                conn.sendall(answer)
                if b"Connection: close" in answer:
                    return

    def close(self) -> None:
        self._sock.close()


Serve = Callable[[Reply], tuple[_Server, WireClient]]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    servers: list[_Server] = []
    clients: list[WireClient] = []

    def start(reply: Reply) -> tuple[_Server, WireClient]:
        path = str(tmp_path / f"s{len(servers)}.sock")
        server = _Server(path, reply)
        client = WireClient(path, 5.0)
        servers.append(server)
        clients.append(client)
        return server, client

    yield start
    for client in clients:
        client.close_thread()
    for server in servers:
        server.close()


def _json(status: str, data: object, *, extra: str = "") -> bytes:
    body = json.dumps(data).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def test_json_answers_are_decoded_on_one_keep_alive_connection(serve: Serve) -> None:
    """Two GETs, one connection; the request line, Host and query are what the engine expects."""
    server, client = serve(lambda _req: _json("200 OK", [{"Id": "a"}]))
    assert client.get("/containers/json", {"all": "1", "filters": '{"a":["b"]}'}) == [{"Id": "a"}]
    assert client.get("/version") == [{"Id": "a"}]
    assert server.connections == 1
    first = server.requests[0].decode()
    query = "all=1&filters=%7B%22a%22%3A%5B%22b%22%5D%7D"
    assert first.startswith(f"GET /containers/json?{query} HTTP/1.1\r\n")
    assert "Host: localhost" in first
    assert "Content-Length" not in first


def test_chunked_and_close_delimited_bodies(serve: Serve) -> None:
    """A chunked body (with an extension and a trailer), then one that ends with the connection."""
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\n[1, \r\n3\r\n2]\n\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    server, client = serve(lambda _req: chunked)
    assert client.get("/a") == [1, 2]
    assert client.get("/a") == [1, 2]
    assert server.connections == 1
    _, closing = serve(lambda _req: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nOK")
    assert closing.get("/_ping") == "OK"


def test_a_write_says_its_body_is_empty_and_goes_on_a_fresh_connection(serve: Serve) -> None:
    """POST sends ``Content-Length: 0``; a 204 answer has no body."""
    server, client = serve(lambda _req: b"HTTP/1.1 204 No Content\r\n\r\n")
    assert client.request("POST", "/containers/x/stop", {"t": "1"}) == ""
    assert client.request("DELETE", "/containers/x") == ""
    assert server.connections == 2
    assert b"Content-Length: 0" in server.requests[0]
    assert b"Content-Length" not in server.requests[1]


def test_an_error_status_raises_wire_error_with_the_engine_message(serve: Serve) -> None:
    """404 and 500 carry the engine's ``message``; the connection stays usable."""
    _, client = serve(lambda _req: _json("404 Not Found", {"message": "No such container: x"}))
    with pytest.raises(WireError) as caught:
        client.get("/containers/x/json")
    assert caught.value.status == 404
    assert caught.value.explanation == "No such container: x"
    _, text = serve(lambda _req: b"HTTP/1.1 500 Server Error\r\nContent-Length: 4\r\n\r\nboom")
    with pytest.raises(WireError, match="boom"):
        text.get("/x")


def test_an_idle_connection_the_engine_closed_is_retried_once_for_a_get(serve: Serve) -> None:
    """The engine drops a kept-alive connection: the GET is sent again on a new one."""
    answers = iter([_json("200 OK", 1), None, _json("200 OK", 2)])
    server, client = serve(lambda _req: next(answers))
    assert client.get("/a") == 1
    assert client.get("/b") == 2
    assert server.connections == 2


def test_broken_answers_raise_wire_protocol_error(serve: Serve) -> None:
    """Not HTTP, a bad length, a body cut short: refused, never half-read as data."""
    _, garbage = serve(lambda _req: b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(WireProtocolError, match="not an HTTP answer"):
        garbage.get("/a")
    _, bad_length = serve(lambda _req: b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
    with pytest.raises(WireProtocolError, match="Content-Length"):
        bad_length.get("/a")
    short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc"
    _, cut_client = serve(lambda _req: short)
    with pytest.raises(WireProtocolError, match="cut short"):
        cut_client.get("/a")


def test_an_answer_over_the_limit_is_refused(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than ``MAX_BODY`` bytes: ``WireError`` rather than memory filled."""
    monkeypatch.setattr(_wire, "MAX_BODY", 8)
    _, client = serve(lambda _req: _json("200 OK", "0123456789"))
    with pytest.raises(WireError, match="larger than 8 bytes"):
        client.get("/a")
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\n01234\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
    )
    _, in_chunks = serve(lambda _req: chunked)
    with pytest.raises(WireError, match="larger than 8 bytes"):
        in_chunks.get("/a")


def test_the_wire_client_does_not_import_http_client() -> None:
    """The point of it: ``http.client`` (with email, ssl...) stays out of a CLI read."""
    code = (
        "import sys; import devarch_adapters.docker, devarch_adapters.podman; "
        "print(sorted(m for m in ('http.client', 'email', 'ssl') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"

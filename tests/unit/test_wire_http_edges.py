"""The engine socket client against answers at the edges of HTTP/1.1 (a scripted unix server).

Review of ``devarch_adapters.docker._wire``: interim 1xx answers, answers cut short in their
head, signed or odd lengths, chunks longer than they say, trailers, error bodies that are not
the JSON they claim, timeouts, bytes that are not UTF-8, URLs with control characters.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

import pytest
from tests.unit.test_wire_http import _json, serve

from devarch_adapters.docker._wire import WireClient, WireError, WireProtocolError

if TYPE_CHECKING:
    from pathlib import Path

    from tests.unit.test_wire_http import Serve

__all__ = ["serve"]  # the fixture, shared with test_wire_http


@pytest.mark.parametrize("interim", ["100 Continue", "102 Processing", "103 Early Hints"])
def test_interim_answers_are_skipped_and_the_next_request_gets_its_own(
    serve: Serve, interim: str
) -> None:
    """A 1xx answer is followed by the real one; it must not become the next request's."""
    answers = iter([1, 2])

    def reply(_req: bytes) -> bytes:
        head = f"HTTP/1.1 {interim}\r\nLink: </x>; rel=preload\r\n\r\n".encode()
        return head + _json("200 OK", next(answers))

    server, client = serve(reply)
    assert client.get("/a") == 1
    assert client.get("/b") == 2
    assert server.connections == 1


def test_no_body_for_204_304_and_head_and_the_connection_is_reused(serve: Serve) -> None:
    answers = iter(
        [
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n",
            _json("200 OK", {"ok": True}),
        ]
    )
    server, client = serve(lambda _req: next(answers))
    assert client.get("/a") == ""
    assert client.get("/b") == ""  # its Content-Length is of the resource, not of a body
    assert server.connections == 1
    assert client.request("HEAD", "/c") == ""  # not a GET: on a fresh connection
    assert client.get("/d") == {"ok": True}  # the HEAD's connection, in step
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK",  # the status line, then the end
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",  # no empty line
        b"HTTP/1.1 200 OK\r\nContent-Type: appl",  # in a header
    ],
)
def test_an_answer_cut_short_in_its_head_is_refused(tmp_path: Path, answer: bytes) -> None:
    """Before: read as a 200 with an empty, close-delimited body (``""`` returned as data)."""
    path = str(tmp_path / "short.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(2)

    def answer_and_close() -> None:
        for _ in range(2):  # a GET cut short is not retried, but allow it
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answer)

    thread = threading.Thread(target=answer_and_close, daemon=True)
    thread.start()
    client = WireClient(path, 5.0)
    try:
        with pytest.raises(WireProtocolError, match="cut short"):
            client.get("/a")
    finally:
        client.close_thread()
        listener.close()


@pytest.mark.parametrize("length", ["-1", "+2", "1_0", "2, 2", "0x2"])
def test_a_content_length_that_is_not_plain_digits_is_refused(serve: Serve, length: str) -> None:
    """``-1`` read to the end of a kept-alive connection (a hang until the timeout)."""
    answer = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n{{}}".encode()
    _, client = serve(lambda _req: answer)
    client._timeout = 2.0
    with pytest.raises(WireProtocolError, match="Content-Length"):
        client.get("/a")


@pytest.mark.parametrize("size", [b"-1", b"+2", b"0x2", b"1_0", b""])
def test_a_chunk_size_that_is_not_hex_digits_is_refused(serve: Serve, size: bytes) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\n{}\r\n0\r\n\r\n"
    )
    _, client = serve(lambda _req: answer)
    client._timeout = 2.0
    with pytest.raises(WireProtocolError, match="chunk size"):
        client.get("/a")


def test_a_chunk_longer_than_its_size_is_refused(serve: Serve) -> None:
    """Before: the extra bytes were skipped as if they were the CRLF (data silently lost)."""
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[1,2]\r\n0\r\n\r\n"
    _, client = serve(lambda _req: answer)
    with pytest.raises(WireProtocolError, match="longer than its size"):
        client.get("/a")


def test_chunk_extensions_and_several_trailers_keep_the_connection_in_step(serve: Serve) -> None:
    answers = iter([b"[1]", b"[2]"])

    def reply(_req: bytes) -> bytes:
        body = next(answers)
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + f"{len(body):x};name=value;x\r\n".encode()
            + body
            + b"\r\n0;end\r\nX-A: 1\r\nX-B: 2\r\n\r\n"
        )

    server, client = serve(reply)
    assert client.get("/a") == [1]
    assert client.get("/b") == [2]
    assert server.connections == 1


def test_endless_trailers_are_refused(serve: Serve) -> None:
    trailers = b"".join(b"X-%d: y\r\n" % i for i in range(200))
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + trailers + b"\r\n"
    _, client = serve(lambda _req: answer)
    with pytest.raises(WireProtocolError, match="trailers"):
        client.get("/a")


def test_header_line_and_count_limits(serve: Serve) -> None:
    long_line = b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n"
    _, client = serve(lambda _req: long_line)
    with pytest.raises(WireProtocolError, match="too long"):
        client.get("/a")
    many = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n"
    _, other = serve(lambda _req: many)
    with pytest.raises(WireProtocolError, match="headers"):
        other.get("/a")


@pytest.mark.parametrize("status", ["404 Not Found", "500 Internal Server Error"])
def test_an_error_body_that_is_not_the_json_it_claims_is_still_a_wire_error(
    serve: Serve, status: str
) -> None:
    """Before: ``JSONDecodeError``, so a 404 no longer read as "absent"."""
    answer = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n"
        "page not found"
    ).encode()
    _, client = serve(lambda _req: answer)
    with pytest.raises(WireError) as caught:
        client.get("/containers/x/json")
    assert caught.value.status == int(status.split(maxsplit=1)[0])
    assert caught.value.explanation == "page not found"


def test_bytes_that_are_not_utf8_do_not_break_the_answer(serve: Serve) -> None:
    body = b"caf\xe9 \xff"
    answer = (
        b"HTTP/1.1 500 Oops\r\nX-Name: caf\xe9\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    _, client = serve(lambda _req: answer)
    with pytest.raises(WireError) as caught:
        client.get("/a")
    assert caught.value.explanation == "caf\ufffd \ufffd"


def test_a_url_with_control_characters_is_never_sent(serve: Serve) -> None:
    """As ``http.client``: a space or CRLF in the path would smuggle a request line in."""
    server, client = serve(lambda _req: _json("200 OK", 1))
    for path in ("/a b", "/a\r\nX-Evil: 1", "/a\x00"):
        with pytest.raises(ValueError, match="control characters"):
            client.get(path)
    assert server.requests == []


def test_a_write_is_never_sent_twice_when_the_engine_drops_it(serve: Serve) -> None:
    server, client = serve(lambda _req: None)
    with pytest.raises(ConnectionResetError):
        client.request("POST", "/containers/x/stop")
    assert len(server.requests) == 1
    with pytest.raises(ConnectionResetError):
        client.get("/a")
    assert len(server.requests) == 3  # a GET: once more on a fresh connection, then given up


def test_an_engine_that_does_not_answer_times_out(tmp_path: Path) -> None:
    path = str(tmp_path / "mute.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    client = WireClient(path, 0.3)
    try:
        with pytest.raises(TimeoutError):
            client.get("/a")
    finally:
        client.close_thread()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()

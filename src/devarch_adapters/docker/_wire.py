"""Engine API requests over a unix socket with the standard library alone.

Why this exists beside the docker SDK: the SDK pulls in requests and urllib3, which cost a fresh
``devarch`` process more time (about 60-150 ms on a loaded 2-core machine) than everything a
no-op ``apply`` or a ``status`` asks the engine, and about as much as a cold ``apply`` spends
creating a network. So on a local socket every request of ``apply``, ``down`` and ``status`` goes
through this client: the reads, the stops and removes, and the creates (container, network,
volume) with JSON bodies built by :mod:`devarch_adapters.docker._bodies`. The SDK is imported only
to pull an image or follow logs; a ``tcp://`` or ``ssh://`` engine (TLS, ssh) uses the SDK for
everything.

Each thread keeps one keep-alive connection (a connection is not thread-safe; apply reads from
its worker threads). HTTP/1.1 is spoken by :class:`_UnixConnection`, not ``http.client``.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["WireClient", "WireError", "WireProtocolError", "socket_path"]

#: Longest body read from the engine for one answer (a list of thousands of containers is
#: a few MB); more is refused instead of filling memory.
MAX_BODY = 256 * 1024 * 1024
#: Longest status or header line, and most header lines, read (as ``http.client`` limits them).
_MAX_LINE = 65536
_MAX_HEADERS = 100
#: Methods whose request says it has an empty body (``Content-Length: 0``), as ``http.client``.
_BODY_METHODS = ("POST", "PUT", "PATCH")
_HEX_DIGITS = b"0123456789abcdefABCDEF"
#: What ``http.client`` refuses in a URL (a space or line break would end the request line).
_CONTROL = re.compile("[\x00-\x20\x7f]")


def socket_path(url: str) -> str | None:
    """The socket path of a ``unix://`` engine URL; None for any other scheme."""
    if not url.startswith("unix://"):
        return None
    path = url.removeprefix("unix://")
    return path if path.startswith("/") else None


class WireError(Exception):
    """The engine answered with an HTTP error: ``status`` and the engine's own message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.explanation = message


class WireProtocolError(Exception):
    """The engine's answer is not HTTP/1.x as this client reads it (a broken answer)."""


class _DisconnectedError(ConnectionResetError):
    """The engine closed the connection before answering (an idle keep-alive one, mostly)."""


class _Answer:
    """One HTTP answer: status, reason, headers (lower-case names) and the body read."""

    def __init__(self, status: int, reason: str, headers: dict[str, str]) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = b""
        self.will_close = False

    def getheader(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _UnixConnection:
    """One keep-alive HTTP/1.1 connection to a unix socket (the standard library's ``socket``).

    ``http.client`` would do, but importing it (with ``email``, ``ssl`` and more) cost a fresh
    ``devarch`` process more than the requests of a no-op ``apply``. This reads what the engine
    API answers: a status line, headers, and a body of ``Content-Length`` bytes, in chunks
    (``Transfer-Encoding: chunked``) or up to the end of the connection.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self._path = path
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self._file: Any = None

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self._file = sock.makefile("rb")

    def close(self) -> None:
        file, sock = self._file, self.sock
        self._file = self.sock = None
        if file is not None:
            file.close()
        if sock is not None:
            sock.close()

    def exchange(self, method: str, url: str, limit: int, payload: bytes | None = None) -> _Answer:
        """Send a request (``payload``: a JSON body); the answer, its body read up to ``limit``."""
        if self.sock is None:
            self.connect()
        assert self.sock is not None  # noqa: S101 - connect() set it
        if _CONTROL.search(url):  # as http.client: no request line or header smuggled in
            msg = f"URL can't contain control characters or spaces: {url[:80]!r}"
            raise ValueError(msg)
        head = [f"{method} {url} HTTP/1.1", "Host: localhost", "Accept-Encoding: identity"]
        if payload is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        elif method in _BODY_METHODS:
            head.append("Content-Length: 0")
        head.append("Accept: application/json")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("ascii") + (payload or b""))
        while True:
            answer = self._head()
            # 100 Continue, 102 Processing, 103 Early Hints...: interim answers without a body,
            # the real one follows (left unread, it would be the next request's answer).
            if not 100 <= answer.status < 200 or answer.status == 101:  # noqa: PLR2004
                break
        self._body(answer, method, limit)
        return answer

    def _line(self) -> bytes:
        line: bytes = self._file.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            msg = "answer line too long"
            raise WireProtocolError(msg)
        return line

    def _whole_line(self, where: str) -> bytes:
        """A line that ends with its newline: the connection ending in it cut the answer short."""
        line = self._line()
        if not line.endswith(b"\n"):
            msg = f"answer cut short in {where}"
            raise WireProtocolError(msg)
        return line

    def _head(self) -> _Answer:
        line = self._line()
        if not line:
            msg = "Remote end closed connection without response"  # http.client's words
            raise _DisconnectedError(msg)
        if not line.endswith(b"\n"):
            msg = "answer cut short in its status line"
            raise WireProtocolError(msg)
        version, _, rest = line.decode("iso-8859-1").rstrip("\r\n").partition(" ")
        status, _, reason = rest.partition(" ")
        code = int(status) if status.isdigit() else 0
        if not version.startswith("HTTP/1.") or not 100 <= code <= 999:  # noqa: PLR2004
            msg = f"not an HTTP answer: {line[:80]!r}"
            raise WireProtocolError(msg)
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            raw = self._whole_line("its headers")
            if raw in (b"\r\n", b"\n"):
                break
            name, sep, value = raw.decode("iso-8859-1").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        else:
            msg = f"more than {_MAX_HEADERS} headers"
            raise WireProtocolError(msg)
        answer = _Answer(code, reason.strip(), headers)
        connection = headers.get("connection", "").lower()
        answer.will_close = "close" in connection or (
            version == "HTTP/1.0" and "keep-alive" not in connection
        )
        return answer

    def _body(self, answer: _Answer, method: str, limit: int) -> None:
        if method == "HEAD" or answer.status in (204, 304) or answer.status < 200:  # noqa: PLR2004
            return
        if "chunked" in answer.headers.get("transfer-encoding", "").lower():
            answer.body = self._chunked(limit)
            return
        length = answer.headers.get("content-length")
        if length is None:
            answer.will_close = True
            answer.body = self._file.read(limit)
            return
        if not length.isdigit() or not length.isascii():  # no sign, no "5, 5", no underscores
            msg = f"bad Content-Length {length[:40]!r}"
            raise WireProtocolError(msg)
        size = int(length)
        body: bytes = self._file.read(min(size, limit))
        if len(body) < min(size, limit):
            msg = f"answer cut short: {len(body)} of {size} bytes"
            raise WireProtocolError(msg)
        if size > limit:
            answer.will_close = True  # the rest is never read: this connection is done
        answer.body = body

    def _chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self._line()
            digits = line.split(b";", 1)[0].strip()
            if not digits or digits.strip(_HEX_DIGITS):  # no sign, no 0x, no underscores
                msg = f"bad chunk size {line[:40]!r}"
                raise WireProtocolError(msg)
            size = int(digits, 16)
            if size == 0:
                for _ in range(_MAX_HEADERS + 1):  # trailers, up to the empty line
                    if self._whole_line("its trailers") in (b"\r\n", b"\n"):
                        return b"".join(parts)
                msg = f"more than {_MAX_HEADERS} trailers"
                raise WireProtocolError(msg)
            want = min(size, limit - total)  # never more than the limit in memory
            chunk: bytes = self._file.read(want)
            if len(chunk) < want:
                msg = "answer cut short in a chunk"
                raise WireProtocolError(msg)
            parts.append(chunk)
            total += want
            if total >= limit:  # the caller refuses it and drops the connection
                return b"".join(parts)
            if self._line() not in (b"\r\n", b"\n"):  # the CRLF after the chunk
                msg = "chunk longer than its size"
                raise WireProtocolError(msg)


def _error(response: _Answer, kind: str, text: str) -> WireError:
    """The error answer as a ``WireError`` with the engine's ``message``.

    Always one with its status (a 404 means "absent" to callers), even when the body is not
    the JSON its ``Content-Type`` says.
    """
    data: Any = None
    if "json" in kind and text.strip():
        with contextlib.suppress(ValueError):
            data = json.loads(text)
    message = data.get("message") if isinstance(data, dict) else None
    return WireError(response.status, str(message or text.strip() or response.reason))


class WireClient:
    """Requests to the engine at a unix socket ``path``; JSON bodies sent, JSON answers decoded.

    Raises :class:`WireError` for an HTTP error status (404 included: callers tell "absent"
    from it), ``OSError`` when the socket does not answer, :class:`WireProtocolError` for a
    broken answer.
    """

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> _UnixConnection:
        conn: _UnixConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _UnixConnection(self.path, self._timeout)
            self._local.conn = conn
        return conn

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:  # noqa: ANN401 - the engine's JSON
        """GET ``path`` (with query ``params``); the decoded JSON body (text if not JSON)."""
        return self.request("GET", path, params)

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
        body: object = None,
    ) -> Any:  # noqa: ANN401 - the engine's JSON
        """Send a request; the decoded JSON answer (text; ``""`` when empty).

        ``body`` (when not None) is sent as JSON. ``timeout`` (seconds) replaces the client's
        for this request only.
        """
        url = path + ("?" + urllib.parse.urlencode(params) if params else "")
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        # A GET on a keep-alive connection the engine closed while idle is sent again on a
        # fresh one; a write is never sent twice, so it always goes on a fresh connection.
        attempts = (1, 2) if method == "GET" else (2,)
        if method != "GET":
            self.close_thread()
        for attempt in attempts:
            conn = self._connection()
            try:
                conn.timeout = self._timeout if timeout is None else timeout
                if conn.sock is not None:
                    conn.sock.settimeout(conn.timeout)
                response = conn.exchange(method, url, MAX_BODY + 1, payload)
                answer = response.body
            except (_DisconnectedError, BrokenPipeError, ConnectionResetError):
                # The engine closed an idle keep-alive connection: once more on a fresh one.
                self.close_thread()
                if attempt == 2:  # noqa: PLR2004 - the second attempt
                    raise
                continue
            except BaseException:
                self.close_thread()
                raise
            break
        if len(answer) > MAX_BODY:
            self.close_thread()
            raise WireError(response.status, f"answer larger than {MAX_BODY} bytes")
        if response.will_close:
            self.close_thread()
        text = answer.decode("utf-8", "replace")
        kind = response.getheader("Content-Type") or ""
        if response.status >= 400:  # noqa: PLR2004 - HTTP error statuses
            raise _error(response, kind, text)
        return json.loads(text) if "json" in kind and text.strip() else text

    def close_thread(self) -> None:
        """Close this thread's connection (the next request opens a new one)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

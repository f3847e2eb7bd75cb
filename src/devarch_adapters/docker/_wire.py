"""Engine API requests over a unix socket with the standard library alone.

Why this exists beside the docker SDK: the SDK pulls in requests and urllib3, which cost a fresh
``devarch`` process more time (about 60-150 ms on a loaded 2-core machine) than everything a
no-op ``apply`` or a ``status`` asks the engine, and about as much as a cold ``apply`` spends
creating a network. So on a local socket every request of ``apply``, ``down`` and ``status`` goes
through this client: the reads, the stops and removes, and the creates (container, network,
volume) with JSON bodies built by :mod:`devarch_adapters.docker._bodies`. The SDK is imported only
to pull an image or follow logs; a ``tcp://`` or ``ssh://`` engine (TLS, ssh) uses the SDK for
everything.

Each thread keeps one keep-alive connection (``http.client`` connections are not thread-safe;
apply reads from its worker threads).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["WireClient", "WireError", "socket_path"]

#: Longest body read from the engine for one answer (a list of thousands of containers is
#: a few MB); more is refused instead of filling memory.
MAX_BODY = 256 * 1024 * 1024


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


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class WireClient:
    """Requests to the engine at a unix socket ``path``; JSON bodies sent, JSON answers decoded.

    Raises :class:`WireError` for an HTTP error status (404 included: callers tell "absent"
    from it), ``OSError`` when the socket does not answer, ``http.client.HTTPException`` for a
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
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
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
                conn.request(method, url, body=payload, headers=headers)
                response = conn.getresponse()
                answer = response.read(MAX_BODY + 1)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The engine closed an idle keep-alive connection: once more on a fresh one.
                self.close_thread()
                if attempt == 2:  # noqa: PLR2004 - the second attempt
                    raise
                continue
            except BaseException:
                self.close_thread()
                raise
            break
        if response.will_close or len(answer) > MAX_BODY:
            self.close_thread()
        return self._answer(response, answer)

    @staticmethod
    def _answer(response: http.client.HTTPResponse, body: bytes) -> Any:  # noqa: ANN401
        """The decoded answer; ``WireError`` for an error status or an oversized body."""
        if len(body) > MAX_BODY:
            raise WireError(response.status, f"answer larger than {MAX_BODY} bytes")
        text = body.decode("utf-8", "replace")
        kind = response.getheader("Content-Type") or ""
        data: Any = json.loads(text) if "json" in kind and text.strip() else text
        if response.status >= 400:  # noqa: PLR2004 - HTTP error statuses
            message = data.get("message") if isinstance(data, dict) else None
            raise WireError(response.status, str(message or text.strip() or response.reason))
        return data

    def close_thread(self) -> None:
        """Close this thread's connection (the next request opens a new one)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

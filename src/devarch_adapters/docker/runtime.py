"""The Docker Engine behind the Runtime port: the Engine API, on a local socket without the SDK.

Speed matters (apply is compared with docker-compose): a create is one request whose JSON body
(host config and endpoint config included) is built locally by
:mod:`devarch_adapters.docker._bodies`, and results are assembled from what was sent or listed
instead of inspecting again. On a local socket every request of ``apply``, ``down`` and
``status`` (reads, creates, starts, stops, removes) goes through
:mod:`devarch_adapters.docker._wire` (standard library only), so none of them imports the docker
SDK and requests nor negotiates an API version; the SDK is loaded to pull an image or read logs,
and carries every request to a ``tcp://`` or ``ssh://`` engine (TLS, ssh), one client shared by
every thread.

Driver errors are translated here, at the edge: an unreachable engine or a refused operation is
an ``EngineError`` carrying the engine's message; a name taken at create is a ``ConflictError``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import re
import socket
import sys
import threading
import time
import urllib.parse
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from devarch_adapters.docker import _bodies
from devarch_adapters.docker._wire import WireClient, WireError, WireProtocolError, socket_path
from devarch_core.engine import (
    ContainerInfo,
    ContainerSpec,
    EngineInfo,
    HealthStatus,
    ImageInfo,
    LogLine,
    NetworkInfo,
    PublishedPort,
    VolumeInfo,
)
from devarch_core.errors import (
    ConflictError,
    DevarchError,
    EngineError,
    NotFoundError,
    Problem,
    ValidationError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    import docker
    from docker.api.client import APIClient

    from devarch_core.engine import LogStream

__all__ = ["DEFAULT_DOCKER_URL", "DockerRuntime"]

#: Connections the shared client keeps open to the engine: enough for a teardown that stops every
#: container of a stack at once (docker-py's default of 10 would open and discard extra ones).
MAX_CONNECTIONS = 64

DEFAULT_DOCKER_URL: Final = "unix:///var/run/docker.sock"
_HEALTH: Final[Mapping[str, HealthStatus]] = {
    "healthy": "healthy",
    "unhealthy": "unhealthy",
    "starting": "starting",
}
_STATUS_HEALTH: Final = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_CREATED: Final = re.compile(r"^(?P<base>[^.Z+]*)(?:\.(?P<frac>\d+))?(?P<tz>.*)$")
_ALL_LIMITS: Final = frozenset(
    {"cpu_limit", "cpu_reservation", "memory_limit", "memory_reservation"}
)


def _redact_url(url: str) -> str:
    """Drop a password from an endpoint URL (``tcp://u:p@h`` -> ``tcp://u@h``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _sdk_loaded() -> bool:
    """True once the docker SDK is imported (before that no exception can be one of its own)."""
    return "docker.errors" in sys.modules


def _explain(exc: BaseException) -> str:
    """Return the engine's own message for a driver exception."""
    if isinstance(exc, WireError):
        return exc.explanation
    if _sdk_loaded():
        import docker.errors  # noqa: PLC0415 - the SDK is loaded on the first write

        if isinstance(exc, docker.errors.APIError) and exc.explanation:
            return str(exc.explanation)
    return str(exc) or type(exc).__name__


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status of an engine's error answer (wire or SDK), None for other errors."""
    if isinstance(exc, WireError):
        return exc.status
    if _sdk_loaded():
        import docker.errors  # noqa: PLC0415

        if isinstance(exc, docker.errors.APIError):
            return exc.status_code
    return None


def _unreachable(exc: BaseException, endpoint: str) -> str:
    """Say in words why the engine at ``endpoint`` did not answer (never a driver's repr).

    The docker SDK and requests wrap the OS error several times
    (``('Connection aborted.', FileNotFoundError(2, ...))``): find it in the chain.
    """
    path = urllib.parse.urlsplit(endpoint).path if endpoint.startswith("unix:") else ""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, FileNotFoundError) and path:
            return f"no engine socket at {path} (is the engine running?)"
        if isinstance(item, PermissionError):
            where = f"socket {path}" if path else endpoint
            return f"permission denied on the {where} (is your user allowed to use it?)"
        if isinstance(item, ConnectionRefusedError):
            return f"connection refused at {endpoint} (is the engine running?)"
        if isinstance(item, TimeoutError | socket.timeout):
            return f"no answer from {endpoint} within the timeout"
        todo.extend([item.__cause__, item.__context__, *item.args])
    text = _explain(exc)
    if "Connection aborted" in text or "Connection refused" in text or "Errno" in text:
        return f"no answer from {endpoint} (is the engine running?)"
    return text


def _is_name_conflict(exc: BaseException) -> bool:
    """Tell a name conflict: Docker answers 409, Podman's compat API 500 "already ..."."""
    text = _explain(exc).lower()
    return _status_of(exc) == 409 or "already in use" in text or "already exists" in text  # noqa: PLR2004


def _quoted(args: tuple[str, ...]) -> list[str]:
    """Path arguments quoted as the SDK quotes them."""
    return [urllib.parse.quote(arg, safe="/:") for arg in args]


def _podman_version(version: Mapping[str, Any]) -> str | None:
    """Podman's version from a ``/version`` answer; None when the engine is Docker."""
    components = {c.get("Name", ""): c.get("Version", "") for c in version.get("Components") or ()}
    return next((v for n, v in components.items() if "podman" in n.lower()), None)


def _filter_params(labels: Mapping[str, str]) -> dict[str, str]:
    """Query parameters selecting objects by ``labels`` (none for no labels)."""
    if not labels:
        return {}
    wanted = [f"{key}={value}" for key, value in sorted(labels.items())]
    return {"filters": json.dumps({"label": wanted})}


def _has_labels(have: Mapping[str, str] | None, want: Mapping[str, str]) -> bool:
    """True if ``have`` carries every ``key=value`` of ``want``."""
    have = have or {}
    return all(have.get(k) == v for k, v in want.items())


def _http_client_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``http.client.HTTPException`` (without importing ``http.client``)."""
    module = sys.modules.get("http.client")
    return module is not None and isinstance(exc, module.HTTPException)


def _sdk_answer(api: Any, response: Any) -> Any:  # noqa: ANN401 - the SDK's untyped objects
    """An SDK response's decoded answer (JSON, else text); the SDK's error for an error status."""
    api._raise_for_status(response)  # noqa: SLF001 - the SDK's own check, as its methods use
    kind = response.headers.get("Content-Type") or ""
    return response.json() if "json" in kind and response.content else response.text


def _created_key(created: str) -> tuple[str, str, str]:
    """Sort key of an engine timestamp; fractions padded so ``.5`` sorts after ``.123``."""
    match = _CREATED.match(created or "")
    if match is None:  # pragma: no cover - the pattern matches any text
        return (created, "", "")
    return (match["base"], (match["frac"] or "").ljust(9, "0"), match["tz"])


def _health(status: object, configured: bool) -> HealthStatus:
    if isinstance(status, str) and status in _HEALTH:
        return _HEALTH[status]
    # A created container with a healthcheck has no status yet (Docker: no Health, Podman: "").
    return "starting" if configured else "none"


def _has_healthcheck(config: Mapping[str, Any]) -> bool:
    test = (config.get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def _inspect_ports(attrs: Mapping[str, Any]) -> tuple[PublishedPort, ...]:
    """Return an inspected container's published ports: live bindings, else configured ones."""
    bindings = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    if not any(bindings.values()):
        bindings = (attrs.get("HostConfig") or {}).get("PortBindings") or {}
    ports: dict[tuple[int, str, int], PublishedPort] = {}
    for key, hosts in sorted(bindings.items()):
        number, _, proto = key.partition("/")
        for host in hosts or ():
            if not host.get("HostPort"):
                continue
            port = PublishedPort(
                container=int(number),
                protocol="udp" if proto == "udp" else "tcp",
                host_ip=host.get("HostIp") or "0.0.0.0",  # noqa: S104 - what an empty HostIp means
                host_port=int(host["HostPort"]),
            )
            ports.setdefault((port.container, port.protocol, port.host_port), port)
    return tuple(ports.values())


def _summary_ports(items: list[Mapping[str, Any]]) -> tuple[PublishedPort, ...]:
    """Return a listed container's published ports (IPv4 and IPv6 rows count once)."""
    ports: dict[tuple[int, str, int], PublishedPort] = {}
    for item in items:
        if not item.get("PublicPort"):
            continue
        port = PublishedPort(
            container=int(item["PrivatePort"]),
            protocol="udp" if item.get("Type") == "udp" else "tcp",
            host_ip=item.get("IP") or "0.0.0.0",  # noqa: S104 - what an empty IP means
            host_port=int(item["PublicPort"]),
        )
        ports.setdefault((port.container, port.protocol, port.host_port), port)
    return tuple(sorted(ports.values(), key=lambda p: (p.container, p.protocol, p.host_port)))


#: Stream ids of the engine's multiplexed log frames (8-byte header: id, 3 zero bytes, length).
_FRAME_STREAMS: Final[Mapping[int, LogStream]] = {0: "stdout", 1: "stdout", 2: "stderr"}
_FRAME_HEADER: Final = 8


class _LogLines:
    """Lines of one container's log response (a :class:`~devarch_core.ports.LogIterator`).

    A reader thread makes the request and turns frames into lines: Podman sends no response
    headers to a follower until the container writes, so the caller must not wait on the
    request itself. Frames are split into lines per stream (a long line arrives in several
    frames); each frame starts with its timestamp. ``close()`` ends the iteration at once and
    shuts the connection down (a request still waiting for its headers ends when the engine
    answers: the container writes or stops).
    """

    def __init__(
        self,
        runtime: DockerRuntime,
        name: str,
        url: str,
        params: Mapping[str, Any],
        *,
        tty: bool,
        follow: bool,
    ) -> None:
        self._runtime = runtime
        self._name = name
        self._tty = tty
        self._closed = threading.Event()
        self._queue: queue.SimpleQueue[LogLine | BaseException | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._response: Any = None
        self._sockets: list[Any] = []
        self._partial: dict[LogStream, tuple[str | None, str]] = {}
        self._decoders = {"stdout": _decoder(), "stderr": _decoder()}
        threading.Thread(
            target=self._pump, args=(url, params, follow), daemon=True, name=f"logs-{name}"
        ).start()

    def __iter__(self) -> _LogLines:
        return self

    def __next__(self) -> LogLine:
        if self._closed.is_set():
            raise StopIteration
        item = self._queue.get()
        if item is None or self._closed.is_set():
            self._closed.set()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        """Stop reading and release the connection (from any thread; idempotent)."""
        self._closed.set()
        self._queue.put(None)
        with self._lock:
            sockets, response = self._sockets, self._response
        for sock in sockets:
            with contextlib.suppress(OSError, AttributeError, ValueError):
                sock.shutdown(socket.SHUT_RDWR)
        if response is not None:
            with contextlib.suppress(Exception):
                response.close()

    # -- the reader thread -------------------------------------------------------------------
    def _open(self, url: str, params: Mapping[str, Any], follow: bool) -> Any:  # noqa: ANN401
        """Make the request; keep its response and socket for :meth:`close`."""
        api: Any = self._runtime.api  # the SDK's own helpers, untyped in the stub
        # A follower waits as long as the container is quiet: no read timeout.
        extra = {"timeout": None} if follow else {}
        response = api._get(url, params=params, stream=True, **extra)  # noqa: SLF001
        import docker.errors  # noqa: PLC0415 - the SDK loads on first use (module docstring)

        try:
            api._raise_for_status(response)  # noqa: SLF001
        except docker.errors.NotFound as exc:
            raise NotFoundError("container", self._name) from exc
        sock = api._get_raw_response_socket(response)  # noqa: SLF001
        if follow:
            api._disable_socket_timeout(sock)  # noqa: SLF001
        with self._lock:
            self._response = response
            self._sockets = [s for s in (sock, getattr(sock, "_sock", None)) if s]
        return response

    def _pump(self, url: str, params: Mapping[str, Any], follow: bool) -> None:
        try:
            with self._runtime._errors(f"logs of {self._name}"):  # noqa: SLF001 - same adapter
                raw = self._open(url, params, follow).raw
                while not self._closed.is_set():
                    frame = self._read_frame(raw)
                    if frame is None:
                        break
                    for line in self._feed(*frame):
                        self._queue.put(line)
                for line in self._flush():
                    self._queue.put(line)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer
            if not self._closed.is_set():
                if not isinstance(exc, DevarchError):
                    exc = EngineError(f"logs of {self._name}: {_explain(exc)}")
                self._queue.put(exc)
        finally:
            self._queue.put(None)
            with self._lock:
                response = self._response
            if response is not None:
                with contextlib.suppress(Exception):
                    response.close()

    @staticmethod
    def _read(raw: Any, size: int) -> bytes:  # noqa: ANN401 - urllib3's response
        data = b""
        while len(data) < size:
            chunk = raw.read(size - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def _read_frame(self, raw: Any) -> tuple[LogStream, bytes] | None:  # noqa: ANN401
        if self._tty:
            chunk = raw.read1(65536) if hasattr(raw, "read1") else raw.read(4096)
            return ("stdout", chunk) if chunk else None
        while True:
            header = self._read(raw, _FRAME_HEADER)
            if len(header) < _FRAME_HEADER:
                return None
            length = int.from_bytes(header[4:8], "big")
            if not length:
                continue
            data = self._read(raw, length)
            if not data:
                return None
            return _FRAME_STREAMS.get(header[0], "stdout"), data

    def _feed(self, stream: LogStream, data: bytes) -> list[LogLine]:
        text = self._decoders[stream].decode(data)
        stamp, buffered = self._partial.pop(stream, (None, ""))
        out = []
        if self._tty:  # one stream; every line starts with its timestamp
            lines = (buffered + text).split("\n")
            self._partial[stream] = (None, lines.pop())
            for line in lines:
                stamp_of, _, rest = line.partition(" ")
                out.append(_line(stream, stamp_of, rest))
            return out
        frame_stamp, _, text = text.partition(" ")
        lines = (buffered + text).split("\n")
        last = lines.pop()
        for line in lines:
            out.append(_line(stream, stamp or frame_stamp, line))
            stamp = None
        if last:
            self._partial[stream] = (stamp or frame_stamp, last)
        return out

    def _flush(self) -> list[LogLine]:
        out = [
            _line(stream, stamp, text)
            for stream, (stamp, text) in sorted(self._partial.items())
            if text
        ]
        self._partial.clear()
        return out


def _line(stream: LogStream, stamp: str | None, text: str) -> LogLine:
    return LogLine(text=text.removesuffix("\r"), stream=stream, timestamp=stamp or None)


def _decoder() -> Any:  # noqa: ANN401 - codecs.IncrementalDecoder
    import codecs  # noqa: PLC0415

    return codecs.getincrementaldecoder("utf-8")(errors="replace")


#: Seconds a network removal is retried while the engine releases the endpoints of containers
#: just removed (it answers "has active endpoints" though none is attached any more).
NETWORK_RELEASE_WAIT: Final = 5.0
#: The engine's grace period when a container sets none.
_DEFAULT_STOP_TIMEOUT = 10


def point_docker_cli(environ: dict[str, str], url: str) -> None:
    """Point a docker CLI's environment at ``url`` only (``devarch exec`` on a named engine).

    ``DOCKER_HOST`` is set; the caller's context and TLS settings are dropped (they name another
    engine).
    """
    environ["DOCKER_HOST"] = url
    for name in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS"):
        environ.pop(name, None)


class DockerRuntime:
    """The Docker Engine (or any engine speaking its API) as a :class:`~devarch_core.ports.Runtime`.

    ``base_url`` is an engine URL (``unix:///var/run/docker.sock``, ``tcp://host:2376``,
    ``ssh://user@host``); ``None`` reads the environment like the docker CLI (``DOCKER_HOST``,
    ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``). The client connects on first use, so building a
    runtime never touches the network. ``timeout`` bounds each request in seconds (pulls and stops
    are given the time they need).
    """

    name = "docker"
    #: The container listing carries each container's health (``Up 3s (healthy)``), so
    #: ``status`` needs no inspect per container.
    lists_health = True

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 60,
        tls: docker.tls.TLSConfig | None = None,
        use_ssh_client: bool = False,
    ) -> None:
        self._base_url = base_url
        self._timeout = timeout
        #: ``docker.tls.TLSConfig`` for a ``tcp://`` engine; ``use_ssh_client`` shells out to
        #: ``ssh`` for ``ssh://`` instead of paramiko.
        self._tls = tls
        self._use_ssh_client = use_ssh_client
        self._client: docker.DockerClient | None = None
        self._client_lock = threading.Lock()
        # Callers in one process (parallel applies, threads) ensure a network one at a time, so
        # they never create same-named twins; across processes devarch's per-stack lock does.
        self._network_lock = threading.Lock()
        self.endpoint = _redact_url(base_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL)
        self._url = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL
        self._wire_client: WireClient | None = None
        self._version: dict[str, Any] | None = None
        self._proxy_env: dict[str, str] | None = None

    # -- plumbing ----------------------------------------------------------------------------
    def _engine_url(self) -> str:
        """The engine's URL (as given, or from ``DOCKER_HOST``, or the local socket)."""
        return self._url

    def _wire(self) -> WireClient | None:
        """The standard-library client for reads on a local socket; None for other engines."""
        if self._wire_client is None:
            path = socket_path(self._engine_url())
            if path is not None:
                self._wire_client = WireClient(path, self._timeout)
        return self._wire_client

    def _read(
        self,
        template: str,
        *args: str,
        params: Mapping[str, str] | None = None,
        versioned: bool = True,
    ) -> Any:  # noqa: ANN401 - the engine's JSON answer
        """GET an Engine API path (``template`` formatted with URL-quoted ``args``).

        On a local socket through the wire client (the engine's current API version), else
        through the SDK (the negotiated version; ``versioned=False`` for libpod paths). Errors
        are the caller's to translate (inside :meth:`_errors`); :func:`_status_of` tells 404.
        """
        wire = self._wire()
        if wire is not None:
            return wire.get(template.format(*_quoted(args)), params)
        api: Any = self.api  # the SDK's own GET helpers, private and untyped in the stub
        url = api._url(template, *args, versioned_api=versioned)  # noqa: SLF001
        return _sdk_answer(api, api._get(url, params=params))  # noqa: SLF001

    def _write(
        self,
        method: str,
        template: str,
        *args: str,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send a write without a body (stop, start, remove).

        Through the wire client on a local socket, else the SDK. ``timeout`` bounds this request
        (a stop waits its grace period).
        """
        wire = self._wire()
        if wire is not None:
            wire.request(method, template.format(*_quoted(args)), params, timeout=timeout)
            return
        api: Any = self.api  # the SDK's own request helpers, private and untyped in the stub
        url = api._url(template, *args)  # noqa: SLF001
        send = api._post if method == "POST" else api._delete  # noqa: SLF001
        extra = {} if timeout is None else {"timeout": timeout}
        api._raise_for_status(send(url, params=params, **extra))  # noqa: SLF001

    def _post(
        self,
        template: str,
        *args: str,
        body: object,
        params: Mapping[str, str] | None = None,
    ) -> Any:  # noqa: ANN401 - the engine's JSON answer
        """POST a JSON ``body`` (a create, a network connect); the engine's decoded answer.

        Through the wire client on a local socket (a fresh connection: never sent twice), else
        the SDK. Errors are the caller's to translate, as for :meth:`_read`.
        """
        wire = self._wire()
        if wire is not None:
            return wire.request("POST", template.format(*_quoted(args)), params, body=body)
        api: Any = self.api  # the SDK's own request helpers, private and untyped in the stub
        url = api._url(template, *args)  # noqa: SLF001
        return _sdk_answer(api, api._post_json(url, data=body, params=params))  # noqa: SLF001

    def _read_missing(
        self, template: str, *args: str, params: Mapping[str, str] | None = None
    ) -> Any:  # noqa: ANN401 - the engine's JSON answer
        """Like :meth:`_read`; None when the engine answers 404 (no such object)."""
        try:
            return self._read(template, *args, params=params)
        except Exception as exc:
            if _status_of(exc) == 404:  # noqa: PLR2004 - HTTP Not Found
                return None
            raise

    @property
    def client(self) -> docker.DockerClient:
        """The shared docker SDK client, created (and the API version negotiated) on first use."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    import docker  # noqa: PLC0415 - the SDK is loaded on the first write
                    import docker.errors  # noqa: PLC0415
                    import requests  # noqa: PLC0415

                    timeout = math.ceil(self._timeout)
                    try:
                        if self._base_url is None:
                            self._client = docker.from_env(
                                timeout=timeout, max_pool_size=MAX_CONNECTIONS
                            )
                        else:
                            self._client = docker.DockerClient(
                                base_url=self._base_url,
                                timeout=timeout,
                                max_pool_size=MAX_CONNECTIONS,
                                tls=self._tls or False,
                                use_ssh_client=self._use_ssh_client,
                            )
                    except (
                        docker.errors.DockerException,
                        requests.exceptions.RequestException,
                        OSError,
                    ) as exc:
                        raise EngineError(
                            f"cannot reach the container engine at {self.endpoint}: "
                            f"{_unreachable(exc, self.endpoint)}"
                        ) from exc
                    except Exception as exc:
                        # paramiko's own errors (authentication, host key) on ssh:// engines.
                        if not self.endpoint.startswith("ssh://"):
                            raise
                        raise EngineError(
                            f"cannot reach the container engine at {self.endpoint} over ssh: "
                            f"{_explain(exc)}"
                        ) from exc
        return self._client

    @property
    def api(self) -> APIClient:
        """The low-level API client of :attr:`client`."""
        return self.client.api

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate driver exceptions raised in the block into devarch errors."""
        try:
            yield
        except WireError as exc:
            raise EngineError(f"{action}: {_explain(exc)}") from exc
        except (ConnectionError, FileNotFoundError, PermissionError, TimeoutError) as exc:
            raise EngineError(
                f"{action}: cannot reach the container engine at {self.endpoint}: "
                f"{_unreachable(exc, self.endpoint)}"
            ) from exc
        except (WireProtocolError, json.JSONDecodeError) as exc:
            raise EngineError(
                f"{action}: the container engine at {self.endpoint} failed: {exc}"
            ) from exc
        except Exception as exc:
            if _http_client_error(exc):  # only once something loaded http.client (the SDK)
                raise EngineError(
                    f"{action}: the container engine at {self.endpoint} failed: {exc}"
                ) from exc
            translated = self._sdk_error(action, exc)
            if translated is None:
                raise
            raise translated from exc

    def _sdk_error(self, action: str, exc: Exception) -> EngineError | None:
        """A docker SDK or requests exception as an ``EngineError``; None for any other."""
        if not _sdk_loaded():
            return None
        import docker.errors  # noqa: PLC0415
        import requests  # noqa: PLC0415

        if isinstance(exc, docker.errors.APIError):
            return EngineError(f"{action}: {_explain(exc)}")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return EngineError(
                f"{action}: cannot reach the container engine at {self.endpoint}: "
                f"{_unreachable(exc, self.endpoint)}"
            )
        if isinstance(exc, requests.exceptions.RequestException):
            return EngineError(f"{action}: the container engine at {self.endpoint} failed: {exc}")
        if isinstance(exc, docker.errors.DockerException):
            return EngineError(f"{action}: {self.endpoint}: {_explain(exc)}")
        return None

    def close(self) -> None:
        """Close the client's connections. Idempotent."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._wire_client is not None:
                self._wire_client.close_thread()

    # -- engine ------------------------------------------------------------------------------
    def info(self) -> EngineInfo:
        """Engine kind (Docker, or Podman behind a compatible socket), version and capabilities."""
        version = self._version_data()
        with self._errors("engine info"):
            info = self._read("/info")
        podman = _podman_version(version)
        security = tuple(
            dict(part.split("=", 1) for part in opt.split(",") if "=" in part).get("name", opt)
            for opt in info.get("SecurityOptions") or ()
        )
        return EngineInfo(
            engine="podman" if podman is not None else "docker",
            version=podman or str(version.get("Version", "")),
            endpoint=self.endpoint,
            rootless=bool(info.get("Rootless")) or "rootless" in security,
            cpus=int(info.get("NCPU") or 1),
            memory=int(info.get("MemTotal") or 0),
            enforces=self._enforces(info),
            security=security,
        )

    def _version_data(self) -> dict[str, Any]:
        """The engine's ``/version`` answer, asked once (it does not change while it runs)."""
        if self._version is None:
            with self._errors("engine info"):
                self._version = dict(self._read("/version"))
        return self._version

    def probe(self) -> str:
        """``docker`` or ``podman``: which engine answers here, in one request.

        ``EngineError`` naming the endpoint when none answers. The composition root probes with
        this instead of :meth:`info` (two requests more on Podman).
        """
        return "podman" if _podman_version(self._version_data()) is not None else "docker"

    def _enforces(self, info: Mapping[str, Any]) -> frozenset[str]:
        """Resource fields the engine says it can apply (``docker info`` capability flags)."""
        enforced = set(_ALL_LIMITS)
        if info.get("CpuCfsQuota") is False:
            enforced.discard("cpu_limit")
        if info.get("CPUShares") is False:
            enforced.discard("cpu_reservation")
        if info.get("MemoryLimit") is False:
            enforced -= {"memory_limit", "memory_reservation"}
        return frozenset(enforced)

    # -- networks ----------------------------------------------------------------------------
    def _networks_named(self, name: str) -> list[dict[str, Any]]:
        """Networks called exactly ``name`` (the engine's filter also matches substrings)."""
        found = self._read("/networks", params={"filters": json.dumps({"name": [name]})})
        return [n for n in found if n.get("Name") == name]

    def _network_info(self, data: Mapping[str, Any]) -> NetworkInfo:
        return NetworkInfo(id=data["Id"], name=data["Name"], labels=data.get("Labels") or {})

    def _network_options(self) -> dict[str, Any]:
        """Driver arguments of a new network (a bridge here; Swarm overrides it)."""
        return {"driver": "bridge"}

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> NetworkInfo:
        """Return the bridge network ``name``, creating it if absent.

        Race-safe: callers in this process are serialized; a create refused because the name
        exists re-reads it; if the engine still let two racers (other processes) create
        same-named networks (Docker's duplicate check is best effort), every caller keeps the
        oldest and removes the others.
        """
        with self._network_lock, self._errors(f"ensure network {name}"):
            existing = self._networks_named(name)
            if not existing:
                body = _bodies.network_body(name, labels, self._network_options())
                try:
                    self._post("/networks/create", body=body)
                except Exception as exc:
                    if _status_of(exc) is None or not _is_name_conflict(exc):
                        raise
                existing = self._networks_named(name)
            if not existing:
                raise EngineError(f"ensure network {name}: created but not listed by the engine")
            keep, *duplicates = sorted(
                existing, key=lambda n: (_created_key(n.get("Created", "")), n["Id"])
            )
            for duplicate in duplicates:
                # Another racer may have removed it already; every racer returns `keep`.
                try:
                    self._write("DELETE", "/networks/{0}", duplicate["Id"])
                except Exception as exc:
                    if _status_of(exc) is None:
                        raise
            return self._network_info(keep)

    def remove_network(self, name: str) -> bool:
        """Remove the network(s) called ``name``; False if there was none.

        Right after the last container on it was removed, the engine may still refuse ("has
        active endpoints") while it releases that container's endpoint: the removal is tried
        again while the network lists no container, for up to :data:`NETWORK_RELEASE_WAIT`
        seconds. A container still attached (one devarch did not create, joined by hand) is
        named in the error instead.
        """
        with self._errors(f"remove network {name}"):
            networks = self._networks_named(name)
            for network in networks:
                self._remove_network_id(name, network["Id"])
            return bool(networks)

    def _remove_network_id(self, name: str, network_id: str) -> None:
        deadline = time.monotonic() + NETWORK_RELEASE_WAIT
        while True:
            try:
                self._write("DELETE", "/networks/{0}", network_id)
            except Exception as exc:
                status = _status_of(exc)
                if status == 404:  # noqa: PLR2004 - already gone
                    return
                if status is None or "active endpoints" not in _explain(exc):
                    raise
                data = self._read_missing("/networks/{0}", network_id)
                if data is None:
                    return
                attached = sorted(
                    str(c.get("Name") or cid[:12])
                    for cid, c in (data.get("Containers") or {}).items()
                )
                if attached:
                    msg = (
                        f"remove network {name}: containers still attached to it: "
                        f"{', '.join(attached)} (disconnect them: docker network disconnect "
                        f"{name} CONTAINER)"
                    )
                    raise EngineError(msg) from None
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
            else:
                return

    def list_networks(self, labels: Mapping[str, str]) -> list[NetworkInfo]:
        """Networks carrying all ``labels``, by name."""
        with self._errors("list networks"):
            found = self._read("/networks", params=_filter_params(labels))
        return sorted(
            (self._network_info(n) for n in found if _has_labels(n.get("Labels"), labels)),
            key=lambda n: (n.name, n.id),
        )

    # -- volumes -----------------------------------------------------------------------------
    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> VolumeInfo:
        """Create the local volume if absent, else return it (with its first labels)."""
        with self._errors(f"ensure volume {name}"):
            try:
                data = self._post("/volumes/create", body=_bodies.volume_body(name, labels))
            except Exception as exc:
                if _status_of(exc) is None or not _is_name_conflict(exc):
                    raise
                data = self._read("/volumes/{0}", name)
        return VolumeInfo(name=data["Name"], labels=data.get("Labels") or {})

    def remove_volume(self, name: str) -> bool:
        """Remove a volume; False if absent; ``EngineError`` while a container uses it."""
        with self._errors(f"remove volume {name}"):
            try:
                self._write("DELETE", "/volumes/{0}", name)
            except Exception as exc:
                if _status_of(exc) == 404:  # noqa: PLR2004 - no such volume
                    return False
                raise
        return True

    def list_volumes(self, labels: Mapping[str, str]) -> list[VolumeInfo]:
        """Volumes carrying all ``labels``, by name."""
        with self._errors("list volumes"):
            found = self._read("/volumes", params=_filter_params(labels)).get("Volumes") or []
        # Podman 4.3 ORs several label filters on volumes (Docker ANDs them): filter here too,
        # or a stack's teardown would remove other stacks' volumes.
        return sorted(
            (
                VolumeInfo(name=v["Name"], labels=v.get("Labels") or {})
                for v in found
                if _has_labels(v.get("Labels"), labels)
            ),
            key=lambda v: v.name,
        )

    # -- containers --------------------------------------------------------------------------
    def _container_info(self, data: Mapping[str, Any]) -> ContainerInfo:
        """Build a ContainerInfo from an inspect result."""
        config = data.get("Config") or {}
        state = data.get("State") or {}
        return ContainerInfo(
            id=data["Id"],
            name=str(data.get("Name", "")).lstrip("/"),
            image=config.get("Image") or data.get("Image", ""),
            labels=config.get("Labels") or {},
            state=state.get("Status", "unknown"),
            health=_health((state.get("Health") or {}).get("Status"), _has_healthcheck(config)),
            ports=_inspect_ports(data),
            networks=tuple(sorted((data.get("NetworkSettings") or {}).get("Networks") or {})),
        )

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        """Containers in any state carrying all ``labels``, by name (one request, no inspects).

        Health comes from the listing's status text; Podman does not put it there, so it reads
        ``none`` there: ask :meth:`health` for the authoritative value.
        """
        with self._errors("list containers"):
            found = self._read("/containers/json", params={"all": "1", **_filter_params(labels)})
        result = []
        for item in found:
            if not _has_labels(item.get("Labels"), labels):
                continue  # engines differ on combining label filters: never trust them alone
            match = _STATUS_HEALTH.search(item.get("Status") or "")
            status = match.group(1).removeprefix("health: ") if match else None
            result.append(
                ContainerInfo(
                    id=item["Id"],
                    name=(item.get("Names") or ["/"])[0].lstrip("/"),
                    image=item.get("Image", ""),
                    labels=item.get("Labels") or {},
                    state=item.get("State", "unknown"),
                    health=_health(status, configured=False),
                    ports=_summary_ports(item.get("Ports") or []),
                    networks=tuple(
                        sorted((item.get("NetworkSettings") or {}).get("Networks") or {})
                    ),
                )
            )
        return sorted(result, key=lambda c: c.name)

    def inspect_container(self, name: str) -> ContainerInfo | None:
        """Return one container, or None."""
        with self._errors(f"inspect container {name}"):
            data = self._read_missing("/containers/{0}/json", name)
        return None if data is None else self._container_info(data)

    def _proxy_environment(self) -> dict[str, str]:
        """The docker client's configured proxy variables, read once (see ``_bodies``)."""
        if self._proxy_env is None:
            self._proxy_env = _bodies.proxy_environment(
                self._base_url or os.environ.get("DOCKER_HOST")
            )
        return self._proxy_env

    def _create(self, spec: ContainerSpec, *, aliases: bool = True) -> str:
        """Create the container; return its id. ``ConflictError`` if the name is taken."""
        body = _bodies.container_body(spec, aliases=aliases, proxy_env=self._proxy_environment())
        with self._errors(f"create container {spec.name}"):
            try:
                created = self._post("/containers/create", body=body, params={"name": spec.name})
            except Exception as exc:
                if _status_of(exc) is not None and _is_name_conflict(exc):
                    raise ConflictError(
                        f"container name {spec.name} is already taken: {_explain(exc)}"
                    ) from exc
                raise
        return str(created["Id"])

    def _created_info(self, spec: ContainerSpec, container_id: str) -> ContainerInfo:
        """Describe a fresh container from its spec (saves an inspect)."""
        return ContainerInfo(
            id=container_id,
            name=spec.name,
            image=spec.image,
            labels=spec.labels,
            state="created",
            health="starting"
            if spec.healthcheck and spec.healthcheck.test[:1] != ("NONE",)
            else "none",
            ports=spec.ports,
            networks=(spec.network,),
        )

    def create_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create (not start) the container in one request; secret env values are revealed here."""
        return self._created_info(spec, self._create(spec))

    def start_container(self, name: str) -> None:
        """Start a container (no-op if running); ``NotFoundError`` if absent."""
        with self._errors(f"start container {name}"):
            try:
                self._write("POST", "/containers/{0}/start", name)
            except Exception as exc:
                if _status_of(exc) == 404 and "no such container" in _explain(exc).lower():  # noqa: PLR2004
                    raise NotFoundError("container", name) from exc
                raise

    def stop_container(self, name: str, timeout: float | None = None) -> None:
        """Stop with a grace period of ``timeout`` seconds (rounded up), then kill.

        Without ``timeout`` the container's own grace period is used (its ``StopTimeout``, set
        from ``stop_grace_period`` at create; the engine's 10 s otherwise). It is read first and
        passed explicitly, so the request's own timeout covers a long grace period.
        """
        with self._errors(f"stop container {name}"):
            try:
                if timeout is None:
                    data = self._read("/containers/{0}/json", name)
                    timeout = (data.get("Config") or {}).get("StopTimeout")
                    timeout = _DEFAULT_STOP_TIMEOUT if timeout is None else timeout
                grace = math.ceil(timeout)
                self._write(
                    "POST",
                    "/containers/{0}/stop",
                    name,
                    params={"t": str(grace)},
                    timeout=grace + self._timeout,
                )
            except Exception as exc:
                if _status_of(exc) != 404:  # noqa: PLR2004 - already gone
                    raise

    def remove_container(self, name: str) -> bool:
        """Force-remove a container (not its named volumes); False if it did not exist."""
        with self._errors(f"remove container {name}"):
            try:
                self._write("DELETE", "/containers/{0}", name, params={"force": "1", "v": "0"})
            except Exception as exc:
                status = _status_of(exc)
                if status == 404:  # noqa: PLR2004 - no such container
                    return False
                if status is None or "already in progress" not in _explain(exc):
                    raise
        return True

    # -- images ------------------------------------------------------------------------------
    def inspect_image(self, ref: str) -> ImageInfo | None:
        """Return a local image, or None; ``digest`` is its first repo digest (``sha256:...``)."""
        with self._errors(f"inspect image {ref}"):
            data = self._read_missing("/images/{0}/json", ref)
        if data is None:
            return None
        digests = data.get("RepoDigests") or []
        return ImageInfo(
            ref=ref, id=data["Id"], digest=digests[0].partition("@")[2] or None if digests else None
        )

    def pull_image(self, ref: str) -> ImageInfo:
        """Pull ``ref`` (tag ``latest`` if none); ``EngineError`` with the registry's message."""
        import docker.utils  # noqa: PLC0415 - the SDK is loaded on the first write

        repository, tag = docker.utils.parse_repository_tag(ref)
        with self._errors(f"pull image {ref}"):
            for event in self.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if isinstance(event, dict) and event.get("error"):
                    raise EngineError(f"pull image {ref}: {event['error']}")
        image = self.inspect_image(ref)
        if image is None:
            raise EngineError(
                f"pull image {ref}: the engine reported success but has no such image"
            )
        return image

    # -- logs --------------------------------------------------------------------------------
    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> _LogLines:
        """The container's log lines with their stream and timestamp (see the port).

        One request, read as it arrives; ``NotFoundError`` if there is no such container.
        """
        if tail is not None and tail < 0:
            raise ValueError(f"tail must be 0 or more, not {tail}")
        import docker.errors  # noqa: PLC0415 - the SDK is loaded on first use

        with self._errors(f"logs of {name}"):
            try:
                data = self.api.inspect_container(name)
            except docker.errors.NotFound as exc:
                raise NotFoundError("container", name) from exc
            params = {
                "stdout": 1,
                "stderr": 1,
                "timestamps": 1,
                "follow": int(follow),
                "tail": "all" if tail is None else str(tail),
            }
            api: Any = self.api  # ``_url`` is untyped in the stub
            url = api._url("/containers/{0}/logs", data["Id"])  # noqa: SLF001 - no public form
        tty = bool((data.get("Config") or {}).get("Tty"))
        return _LogLines(self, name, url, params, tty=tty, follow=follow)

    # -- exec (the CLI's `devarch exec`) ---------------------------------------------------------
    def exec_command(
        self,
        container: str,
        command: Sequence[str],
        *,
        tty: bool,
        user: str | None = None,
        workdir: str | None = None,
        env: Sequence[str] = (),
    ) -> tuple[list[str], dict[str, str]]:
        """The engine CLI's ``exec`` invocation for this engine: ``(argv, environment)``.

        ``devarch exec`` runs the engine's own CLI rather than the exec API: a terminal session
        needs raw mode, window resizes, stdin forwarding, signal and detach-key handling, all of
        which ``docker exec`` already does right (the SDK has none of it for a TTY). The CLI is
        pointed at this runtime's endpoint. Variables given as ``KEY=VALUE`` are passed through
        the environment (``-e KEY``), so values never show in the process list. stdin is always
        attached (``-i``), as with ``docker compose exec``.
        """
        environ = dict(os.environ)
        flags = self._exec_flags(
            container, command, tty=tty, user=user, workdir=workdir, env=env, environ=environ
        )
        return self._exec_cli(flags, environ), environ

    def _exec_cli(self, flags: list[str], environ: dict[str, str]) -> list[str]:
        """The argv running ``exec`` ``flags`` with the engine CLI against this runtime.

        ``environ`` is the CLI's environment, pointed at this runtime when it is a named engine.
        """
        import shutil  # noqa: PLC0415 - only for exec (shutil pulls in bz2, lzma...)

        binary = shutil.which("docker")
        if binary is None:
            raise EngineError(
                "devarch exec runs `docker exec`, but the docker CLI is not on PATH; install it"
            )
        if self._base_url is None:
            return [binary, *flags]
        # A named engine: the CLI reaches exactly this endpoint with this runtime's TLS
        # material, never the caller's context or TLS settings (they name another engine).
        point_docker_cli(environ, self._base_url)
        return [binary, *self._tls_flags(), *flags]

    def _tls_flags(self) -> list[str]:
        """The docker CLI's global TLS options for this runtime's ``TLSConfig`` (none without)."""
        tls = self._tls
        if tls is None:
            return []
        flags = ["--tlsverify"] if tls.verify else ["--tls"]
        if tls.ca_cert:
            flags.append(f"--tlscacert={tls.ca_cert}")
        if tls.cert:
            cert, key = tls.cert
            flags += [f"--tlscert={cert}", f"--tlskey={key}"]
        return flags

    @staticmethod
    def _exec_flags(
        container: str,
        command: Sequence[str],
        *,
        tty: bool,
        user: str | None,
        workdir: str | None,
        env: Sequence[str],
        environ: dict[str, str],
    ) -> list[str]:
        flags = ["exec", "-i"] + (["-t"] if tty else [])
        if user:
            flags += ["-u", user]
        if workdir:
            flags += ["-w", workdir]
        for item in env:
            key, sep, value = item.partition("=")
            if not key:
                raise ValidationError([Problem("--env", "expected KEY=VALUE")])
            if sep:
                environ[key] = value
            flags += ["-e", key]
        return [*flags, "--", container, *command]

    # -- health ------------------------------------------------------------------------------
    def health(self, name: str) -> HealthStatus:
        """``State.Health.Status`` (the engine runs the checks); ``NotFoundError`` if absent."""
        with self._errors(f"health of {name}"):
            data = self._read_missing("/containers/{0}/json", name)
        if data is None:
            raise NotFoundError("container", name)
        return self._container_info(data).health

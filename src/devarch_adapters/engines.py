"""Opening named engines: endpoints (``unix://``, ``tcp://`` + TLS, ``ssh://``), Docker contexts.

Docker contexts are read with the docker SDK's context support (``docker.context.ContextAPI``):
the current context of ``~/.docker/config.json``, ``DOCKER_CONTEXT`` or ``--context``.
See docs/engines.md.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from devarch_core.errors import EngineError
from devarch_core.model import Engine

if TYPE_CHECKING:
    from collections.abc import Mapping

    from docker.tls import TLSConfig

    from devarch_core.ports import Runtime

__all__ = ["DockerEngineConnector", "context_engine", "current_context", "this_host"]


def this_host() -> str:
    """The name of this machine (what a ``unix://`` engine record belongs to)."""
    return socket.gethostname()


def current_context(environ: Mapping[str, str]) -> str | None:
    """The Docker context named by ``DOCKER_CONTEXT``, else the current one when not ``default``."""
    name = environ.get("DOCKER_CONTEXT")
    if name:
        return name
    if _current_context_name() == "default":
        # The usual case, read without the docker SDK (importing ``docker.context`` imports
        # the whole SDK, paramiko included: about 0.15 s of every CLI command).
        return None
    from docker.context import ContextAPI  # noqa: PLC0415 - driver loaded on demand

    try:
        current = ContextAPI.get_current_context().Name
    except Exception:  # noqa: BLE001 - an unreadable config means "no context"
        return None
    return None if current in (None, "default") else str(current)


def _current_context_name() -> str:
    """``currentContext`` of the docker CLI's config file, read as the docker SDK reads it.

    The same file (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``, else
    ``~/.dockercfg``: the first that exists) and the same fallbacks (``default`` when there is no
    file, or it is unreadable or not a JSON object with that key) as
    ``docker.context.config.get_current_context_name``; like the SDK it reads the process
    environment.
    """
    config_dir = os.environ.get("DOCKER_CONFIG")
    home = Path("~").expanduser()
    candidates = [
        *([Path(config_dir) / "config.json"] if config_dir else []),
        home / ".docker" / "config.json",
        home / ".dockercfg",
    ]
    path = next((c for c in candidates if c.exists()), None)
    if path is None:
        return "default"
    try:
        with path.open(encoding="utf-8") as f:
            name = json.load(f).get("currentContext", "default")
    except Exception:  # noqa: BLE001 - the SDK's own fallback
        return "default"
    return name if isinstance(name, str) else str(name)


def _resolve_context(name: str) -> tuple[str, dict[str, str]]:
    """The endpoint and TLS options of a Docker context; ``EngineError`` if unknown."""
    from docker.context import ContextAPI  # noqa: PLC0415
    from docker.errors import ContextException  # noqa: PLC0415

    try:
        context = ContextAPI.get_context(name)
    except ContextException as exc:
        raise EngineError(f"Docker context {name!r} cannot be read: {exc}") from exc
    if context is None:
        raise EngineError(f"no Docker context {name!r} (`docker context ls` lists them)")
    options: dict[str, str] = {}
    tls = context.TLSConfig
    if tls is not None:
        if tls.ca_cert:
            options["ca_cert"] = str(tls.ca_cert)
        if tls.cert:
            options["client_cert"], options["client_key"] = (str(p) for p in tls.cert)
        options["verify"] = "true" if tls.verify else "false"
    host = str(context.Host or "")
    # The SDK reports a tcp:// context as http(s)://; TLS comes from the context's own material.
    scheme, sep, rest = host.partition("://")
    if sep and scheme in ("http", "https"):
        host = f"tcp://{rest}"
    return host, options


def context_engine(name: str, *, kind: str = "docker") -> Engine:
    """An engine record for a Docker context (its endpoint resolved now, for messages)."""
    endpoint, _ = _resolve_context(name)
    host = this_host() if endpoint.startswith(("unix://", "npipe://")) else ""
    return Engine(name=name, kind=kind, context=name, host=host)


class DockerEngineConnector:
    """Opens Docker and Podman engines from their records, once each (an ``EngineConnector``)."""

    def __init__(self, *, timeout: float = 60) -> None:
        self._timeout = timeout
        self._open: dict[str, Runtime] = {}
        self._lock = threading.Lock()

    def open(self, engine: Engine) -> Runtime:
        """The runtime of ``engine`` (see :class:`~devarch_core.ports.EngineConnector`)."""
        with self._lock:
            runtime = self._open.get(engine.name)
            if runtime is None:
                runtime = self._build(engine)
                self._open[engine.name] = runtime
            return runtime

    def _build(self, engine: Engine) -> Runtime:
        endpoint, options = engine.endpoint, dict(engine.options)
        if engine.context:
            endpoint, found = _resolve_context(engine.context)
            options = {**found, **options}
        if endpoint.startswith("unix://") and engine.host and engine.host != this_host():
            msg = (
                f"engine {engine.name} is the socket {endpoint} on machine {engine.host}, not on "
                f"this one ({this_host()}): add a tcp:// or ssh:// engine for that machine, or "
                "move the stack"
            )
            raise EngineError(msg)
        tls = _tls(options) if endpoint.startswith("tcp://") else None
        ssh_client = options.get("ssh_client") == "true"
        if engine.kind == "podman":
            from devarch_adapters.podman import PodmanRuntime  # noqa: PLC0415

            return PodmanRuntime(endpoint, timeout=self._timeout)
        if engine.kind == "docker":
            from devarch_adapters.docker import DockerRuntime  # noqa: PLC0415

            return DockerRuntime(
                endpoint, timeout=self._timeout, tls=tls, use_ssh_client=ssh_client
            )
        if engine.kind == "swarm":
            from devarch_adapters.swarm import SwarmRuntime  # noqa: PLC0415

            # TLS and ssh options are not passed on: SwarmRuntime takes a plain endpoint
            # (a unix:// or tcp:// manager) for now; docs/swarm.md says so.
            return SwarmRuntime(endpoint, timeout=self._timeout)
        msg = f"engine {engine.name} is of kind {engine.kind}, which this devarch cannot drive yet"
        raise EngineError(msg)

    def close(self) -> None:
        """Close every runtime opened. Idempotent."""
        with self._lock:
            for runtime in self._open.values():
                closer = getattr(runtime, "close", None)
                if callable(closer):
                    closer()
            self._open.clear()


def _tls(options: Mapping[str, str]) -> TLSConfig | None:
    """A ``docker.tls.TLSConfig`` from an engine's TLS options, or None without any."""
    if not any(k in options for k in ("ca_cert", "client_cert", "client_key", "verify")):
        return None
    from docker.tls import TLSConfig  # noqa: PLC0415

    cert = options.get("client_cert")
    key = options.get("client_key")
    return TLSConfig(
        client_cert=(cert, key) if cert and key else None,
        ca_cert=options.get("ca_cert"),
        verify=options.get("verify", "true") != "false",
    )

"""Podman behind the Runtime port, through its Docker-compatible API socket.

Everything :class:`~devarch_adapters.docker.DockerRuntime` does works on Podman's compat API
except where Podman differs, handled here:

- socket discovery (:func:`find_podman_socket`);
- network aliases: the compat create ignores the endpoint config's aliases (Podman 4.3), so the
  container is created on its network, then disconnected and reconnected with its aliases;
- health: Podman schedules checks with systemd timers, which a service socket does not have, so
  :meth:`PodmanRuntime.health` runs the check once through the libpod API and reads the result;
- capabilities: which resource fields are enforced depends on rootless mode and the cgroup
  version and controllers that libpod reports.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import TYPE_CHECKING, Any, Final

import attrs

from devarch_adapters.docker import _bodies
from devarch_adapters.docker._wire import WireClient, WireError, WireProtocolError, socket_path
from devarch_adapters.docker.runtime import DockerRuntime, _status_of, point_docker_cli
from devarch_core.errors import EngineError, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import docker

    from devarch_core.engine import ContainerInfo, ContainerSpec, EngineInfo, HealthStatus

__all__ = ["ROOTFUL_SOCKET", "PodmanRuntime", "find_podman_socket", "podman_socket_candidates"]

ROOTFUL_SOCKET: Final = "unix:///run/podman/podman.sock"
#: The libpod API version prefix; 4.0.0 is understood by every Podman 4 and 5 service.
LIBPOD: Final = "/v4.0.0/libpod"
_PING_TIMEOUT: Final = 3
_HEALTH_VALUES: Final = frozenset({"healthy", "unhealthy", "starting"})


def podman_socket_candidates(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return where a Podman socket may be, in order of preference (without probing).

    ``CONTAINER_HOST``; ``DOCKER_HOST`` if it points at a Podman socket (its path says
    ``podman``); the rootless socket ``$XDG_RUNTIME_DIR/podman/podman.sock``; the rootful
    ``/run/podman/podman.sock``.
    """
    env = os.environ if environ is None else environ
    candidates: list[str] = []
    if env.get("CONTAINER_HOST"):
        candidates.append(env["CONTAINER_HOST"])
    docker_host = env.get("DOCKER_HOST", "")
    if "podman" in docker_host:
        candidates.append(docker_host)
    runtime_dir = env.get("XDG_RUNTIME_DIR") or (
        f"/run/user/{os.getuid()}" if hasattr(os, "getuid") else ""
    )
    if runtime_dir:
        candidates.append(f"unix://{runtime_dir}/podman/podman.sock")
    candidates.append(ROOTFUL_SOCKET)
    return list(dict.fromkeys(candidates))


def _answers(url: str) -> bool:
    """Tell whether an engine answers ``_ping`` at ``url`` (skip a missing unix socket fast)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "unix" and not os.path.exists(parts.path):  # noqa: PTH110 - a socket path
        return False
    path = socket_path(url)
    if path is not None:  # a local socket: asked without loading the docker SDK
        wire = WireClient(path, _PING_TIMEOUT)
        try:
            return str(wire.get("/_ping")).strip() == "OK"
        except (WireError, OSError, WireProtocolError, ValueError):
            return False
        finally:
            wire.close_thread()
    import docker  # noqa: PLC0415 - the SDK is loaded for remote engines only
    import docker.errors  # noqa: PLC0415
    import requests  # noqa: PLC0415

    try:
        client = docker.APIClient(base_url=url, version="1.41", timeout=_PING_TIMEOUT)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return False


def find_podman_socket(environ: Mapping[str, str] | None = None) -> str | None:
    """Return the first Podman socket URL that answers ``_ping``, or None.

    Candidates are tried in the order of :func:`podman_socket_candidates`.
    """
    return next((url for url in podman_socket_candidates(environ) if _answers(url)), None)


class PodmanRuntime(DockerRuntime):
    """Podman as a :class:`~devarch_core.ports.Runtime`, over its Docker-compatible socket.

    ``base_url`` None discovers the socket with :func:`find_podman_socket` (on first use, so
    building the runtime never touches the network); ``EngineError`` names the places tried.
    """

    name = "podman"
    #: Podman's listing has no health (and its checks run only when asked): see :meth:`health`.
    lists_health = False
    #: Set by ``open_runtime("auto")`` when Podman was picked because Docker did not answer.
    auto_note: str | None = None

    def __init__(self, base_url: str | None = None, *, timeout: float = 60) -> None:
        super().__init__(base_url or ROOTFUL_SOCKET, timeout=timeout)
        self._discover = base_url is None
        if self._discover:
            self.endpoint = "podman (socket not yet discovered)"

    def _engine_url(self) -> str:
        """The socket's URL, discovered on first use when no URL was given."""
        if self._discover:
            with self._client_lock:
                if self._discover:
                    found = find_podman_socket()
                    if found is None:
                        tried = ", ".join(podman_socket_candidates())
                        raise EngineError(
                            f"no Podman socket answers (tried {tried}); "
                            "start one with `podman system service`"
                        )
                    self._base_url = self._url = self.endpoint = found
                    self._discover = False
        return self._url

    @property
    def client(self) -> docker.DockerClient:
        """The shared client; the socket is discovered on first use when no URL was given."""
        self._engine_url()
        return super().client

    # -- engine ------------------------------------------------------------------------------
    def info(self) -> EngineInfo:
        """Return the compat info refined by what libpod says about rootless mode and cgroups."""
        base = super().info()
        with self._errors("podman info"):
            host = self._read(LIBPOD + "/info", versioned=False).get("host") or {}
        security = host.get("security") or {}
        rootless = bool(security.get("rootless", base.rootless))
        hints = set(base.security)
        if security.get("selinuxEnabled"):
            hints.add("selinux")
        if security.get("apparmorEnabled"):
            hints.add("apparmor")
        if rootless:
            hints.add("rootless")
        return attrs.evolve(
            base,
            engine="podman",
            rootless=rootless,
            enforces=base.enforces & self._podman_enforces(host, rootless=rootless),
            security=tuple(sorted(hints)),
        )

    @staticmethod
    def _podman_enforces(host: Mapping[str, Any], *, rootless: bool) -> frozenset[str]:
        """Resource fields Podman can apply here.

        Rootless on cgroups v1 has no cgroups at all. Otherwise a field needs its controller
        (``cpu``, ``memory``) in the container's cgroup; rootless on v2 gets only the controllers
        systemd delegates. CPU reservation maps to ``cpu.shares``/``cpu.weight``, which rootless
        Podman cannot set reliably, so it is reported as not enforced there.
        """
        version = str(host.get("cgroupVersion") or "")
        controllers = set(host.get("cgroupControllers") or ())
        if rootless and version == "v1":
            return frozenset()
        enforced = {"cpu_limit", "cpu_reservation", "memory_limit", "memory_reservation"}
        if controllers and "cpu" not in controllers:
            enforced -= {"cpu_limit", "cpu_reservation"}
        if controllers and "memory" not in controllers:
            enforced -= {"memory_limit", "memory_reservation"}
        if rootless:
            enforced.discard("cpu_reservation")
        return frozenset(enforced)

    # -- containers --------------------------------------------------------------------------
    def create_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create the container on its network, then re-join it with its aliases (see module)."""
        container_id = self._create(spec, aliases=False)
        if spec.aliases:
            with self._errors(f"set aliases of {spec.name} on {spec.network}"):
                self._post(
                    "/networks/{0}/disconnect",
                    spec.network,
                    body=_bodies.disconnect_body(container_id),
                )
                self._post(
                    "/networks/{0}/connect",
                    spec.network,
                    body=_bodies.connect_body(container_id, list(spec.aliases)),
                )
        return self._created_info(spec, container_id)

    # -- exec --------------------------------------------------------------------------------
    def _exec_cli(self, flags: list[str], environ: dict[str, str]) -> list[str]:
        """``podman --url SOCKET exec ...`` (the docker CLI on the same socket without podman).

        The podman CLI is pointed at the socket this runtime uses (discovered if need be), so
        it reaches the same containers, rootful or rootless.
        """
        if self._discover:
            self.client  # noqa: B018 - discovers the socket (sets _base_url)
        url = self._base_url or ROOTFUL_SOCKET
        import shutil  # noqa: PLC0415 - only for exec (shutil pulls in bz2, lzma...)

        podman = shutil.which("podman")
        if podman is not None:
            return [podman, "--url", url, *flags]
        docker_cli = shutil.which("docker")
        if docker_cli is None:
            raise EngineError(
                "devarch exec runs `podman exec` (or `docker exec` on the Podman socket), but "
                "neither CLI is on PATH; install podman"
            )
        point_docker_cli(environ, url)
        return [docker_cli, *flags]

    # -- health ------------------------------------------------------------------------------
    def health(self, name: str) -> HealthStatus:
        """Run the healthcheck once (Podman schedules none through its socket) and return it.

        A container without a healthcheck is ``none``; one that is not running reports its last
        recorded status. ``NotFoundError`` if the container does not exist.
        """
        with self._errors(f"health of {name}"):
            try:
                data = self._read(LIBPOD + "/containers/{0}/healthcheck", name, versioned=False)
            except Exception as exc:
                status = _status_of(exc)
                if status == 404:  # noqa: PLR2004 - HTTP Not Found
                    raise NotFoundError("container", name) from exc
                if status is None:
                    raise
            else:
                status = (data or {}).get("Status") if isinstance(data, dict) else None
                if status in _HEALTH_VALUES:
                    return status  # type: ignore[no-any-return]
        # 409: no healthcheck defined, or not running: the inspected state says which.
        return super().health(name)

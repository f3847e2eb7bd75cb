"""The Docker Engine behind the Runtime port, on the docker SDK's low-level API.

Speed matters (apply is compared with docker-compose): one client is shared by every thread, a
create is one request (host config and endpoint config are built locally), and results are
assembled from what was sent or listed instead of inspecting again.

Driver errors are translated here, at the edge: an unreachable engine or a refused operation is
an ``EngineError`` carrying the engine's message; a name taken at create is a ``ConflictError``.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import threading
import urllib.parse
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import docker
import docker.errors
import docker.types
import docker.utils
import requests

from devarch_core.engine import (
    ContainerInfo,
    ContainerSpec,
    EngineInfo,
    HealthStatus,
    ImageInfo,
    NetworkInfo,
    PublishedPort,
    VolumeInfo,
)
from devarch_core.errors import ConflictError, EngineError, NotFoundError
from devarch_core.secrets import Secret

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from docker.api.client import APIClient

    from devarch_core.spec import Healthcheck, Resources

__all__ = ["DEFAULT_DOCKER_URL", "DockerRuntime"]

#: Connections the shared client keeps open to the engine: enough for a teardown that stops every
#: container of a stack at once (docker-py's default of 10 would open and discard extra ones).
MAX_CONNECTIONS = 64

DEFAULT_DOCKER_URL: Final = "unix:///var/run/docker.sock"
#: CPU shares per reserved CPU: Docker's default weight of one container is 1024.
CPU_SHARES_PER_CPU: Final = 1024
_NANO: Final = Decimal(1_000_000_000)
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


def _explain(exc: BaseException) -> str:
    """Return the engine's own message for a driver exception."""
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc) or type(exc).__name__


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


def _is_name_conflict(exc: docker.errors.APIError) -> bool:
    """Tell a name conflict: Docker answers 409, Podman's compat API 500 "already ..."."""
    text = _explain(exc).lower()
    return exc.status_code == 409 or "already in use" in text or "already exists" in text  # noqa: PLR2004


def _label_filters(labels: Mapping[str, str]) -> dict[str, list[str]] | None:
    return (
        {"label": [f"{key}={value}" for key, value in sorted(labels.items())]} if labels else None
    )


def _has_labels(have: Mapping[str, str] | None, want: Mapping[str, str]) -> bool:
    """True if ``have`` carries every ``key=value`` of ``want``."""
    have = have or {}
    return all(have.get(k) == v for k, v in want.items())


def _nanos(seconds: Decimal | None) -> int | None:
    return None if seconds is None else int(seconds * _NANO)


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


#: The engine's grace period when a container sets none.
_DEFAULT_STOP_TIMEOUT = 10


def _restart_policy(restart: str | None) -> dict[str, Any] | None:
    if restart is None:
        return None
    name, _, count = restart.partition(":")
    policy: dict[str, Any] = {"Name": name}
    if count:
        policy["MaximumRetryCount"] = int(count)
    return policy


def _healthcheck(check: Healthcheck | None) -> dict[str, Any] | None:
    if check is None:
        return None
    data: dict[str, Any] = {"test": list(check.test)}
    for key in ("interval", "timeout", "start_period"):
        value = _nanos(getattr(check, key))
        if value is not None:
            data[key] = value
    if check.retries is not None:
        data["retries"] = check.retries
    return data


def _resources(resources: Resources) -> dict[str, Any]:
    """Host-config resource arguments.

    ``cpu_limit`` is a hard cap (``NanoCpus``). Docker has no CPU reservation outside Swarm, so
    ``cpu_reservation`` becomes a proportional weight: ``CpuShares`` = 1024 per reserved CPU
    (a container reserving 0.5 CPU gets half the default weight when CPUs are contended).
    ``memory_reservation`` is the soft limit reclaimed under memory pressure.
    """
    args: dict[str, Any] = {}
    if resources.cpu_limit is not None:
        args["nano_cpus"] = int(resources.cpu_limit * _NANO)
    if resources.cpu_reservation is not None:
        args["cpu_shares"] = max(2, int(resources.cpu_reservation * CPU_SHARES_PER_CPU))
    if resources.memory_limit is not None:
        args["mem_limit"] = resources.memory_limit
    if resources.memory_reservation is not None:
        args["mem_reservation"] = resources.memory_reservation
    return args


class DockerRuntime:
    """The Docker Engine (or any engine speaking its API) as a :class:`~devarch_core.ports.Runtime`.

    ``base_url`` is an engine URL (``unix:///var/run/docker.sock``, ``tcp://host:2376``,
    ``ssh://user@host``); ``None`` reads the environment like the docker CLI (``DOCKER_HOST``,
    ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``). The client connects on first use, so building a
    runtime never touches the network. ``timeout`` bounds each request in seconds (pulls and stops
    are given the time they need).
    """

    name = "docker"

    def __init__(self, base_url: str | None = None, *, timeout: float = 60) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._client: docker.DockerClient | None = None
        self._client_lock = threading.Lock()
        # Callers in one process (parallel applies, threads) ensure a network one at a time, so
        # they never create same-named twins; across processes devarch's per-stack lock does.
        self._network_lock = threading.Lock()
        self.endpoint = _redact_url(base_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL)

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def client(self) -> docker.DockerClient:
        """The shared docker SDK client, created (and the API version negotiated) on first use."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
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
                            )
                    except (
                        docker.errors.DockerException,
                        requests.exceptions.RequestException,
                    ) as exc:
                        raise EngineError(
                            f"cannot reach the container engine at {self.endpoint}: "
                            f"{_unreachable(exc, self.endpoint)}"
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
        except docker.errors.APIError as exc:
            raise EngineError(f"{action}: {_explain(exc)}") from exc
        except (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError) as exc:
            raise EngineError(
                f"{action}: cannot reach the container engine at {self.endpoint}: "
                f"{_unreachable(exc, self.endpoint)}"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise EngineError(
                f"{action}: the container engine at {self.endpoint} failed: {exc}"
            ) from exc
        except docker.errors.DockerException as exc:
            raise EngineError(f"{action}: {self.endpoint}: {_explain(exc)}") from exc

    def close(self) -> None:
        """Close the client's connections. Idempotent."""
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- engine ------------------------------------------------------------------------------
    def info(self) -> EngineInfo:
        """Engine kind (Docker, or Podman behind a compatible socket), version and capabilities."""
        with self._errors("engine info"):
            version = self.api.version()
            info = self.api.info()
        components = {
            c.get("Name", ""): c.get("Version", "") for c in version.get("Components") or ()
        }
        podman = next((v for n, v in components.items() if "podman" in n.lower()), None)
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
        return [n for n in self.api.networks(names=[name]) if n.get("Name") == name]

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
                try:
                    self.api.create_network(
                        name, labels=dict(labels), check_duplicate=True, **self._network_options()
                    )
                except docker.errors.APIError as exc:
                    if not _is_name_conflict(exc):
                        raise
                existing = self._networks_named(name)
            if not existing:
                raise EngineError(f"ensure network {name}: created but not listed by the engine")
            keep, *duplicates = sorted(
                existing, key=lambda n: (_created_key(n.get("Created", "")), n["Id"])
            )
            for duplicate in duplicates:
                # Another racer may have removed it already; every racer returns `keep`.
                with contextlib.suppress(docker.errors.APIError):
                    self.api.remove_network(duplicate["Id"])
            return self._network_info(keep)

    def remove_network(self, name: str) -> bool:
        """Remove the network(s) called ``name``; False if there was none."""
        with self._errors(f"remove network {name}"):
            networks = self._networks_named(name)
            for network in networks:
                try:
                    self.api.remove_network(network["Id"])
                except docker.errors.NotFound:
                    continue
            return bool(networks)

    def list_networks(self, labels: Mapping[str, str]) -> list[NetworkInfo]:
        """Networks carrying all ``labels``, by name."""
        with self._errors("list networks"):
            found = self.api.networks(filters=_label_filters(labels))
        return sorted(
            (self._network_info(n) for n in found if _has_labels(n.get("Labels"), labels)),
            key=lambda n: (n.name, n.id),
        )

    # -- volumes -----------------------------------------------------------------------------
    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> VolumeInfo:
        """Create the local volume if absent, else return it (with its first labels)."""
        with self._errors(f"ensure volume {name}"):
            try:
                data = self.api.create_volume(name, driver="local", labels=dict(labels))
            except docker.errors.APIError as exc:
                if not _is_name_conflict(exc):
                    raise
                data = self.api.inspect_volume(name)
        return VolumeInfo(name=data["Name"], labels=data.get("Labels") or {})

    def remove_volume(self, name: str) -> bool:
        """Remove a volume; False if absent; ``EngineError`` while a container uses it."""
        with self._errors(f"remove volume {name}"):
            try:
                self.api.remove_volume(name)
            except docker.errors.NotFound:
                return False
        return True

    def list_volumes(self, labels: Mapping[str, str]) -> list[VolumeInfo]:
        """Volumes carrying all ``labels``, by name."""
        with self._errors("list volumes"):
            found = self.api.volumes(filters=_label_filters(labels)).get("Volumes") or []
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
            found = self.api.containers(all=True, filters=_label_filters(labels))
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
            try:
                data = self.api.inspect_container(name)
            except docker.errors.NotFound:
                return None
        return self._container_info(data)

    def _create_args(self, spec: ContainerSpec, *, aliases: bool = True) -> dict[str, Any]:
        """Keyword arguments of the low-level ``create_container`` call (built without requests)."""
        api = self.api
        bindings: dict[str, list[tuple[str, int]]] = {}
        for port in spec.ports:
            bindings.setdefault(f"{port.container}/{port.protocol}", []).append(
                (port.host_ip, port.host_port)
            )
        mounts = [
            docker.types.Mount(
                target=m.target, source=m.source or "", type=m.type, read_only=m.read_only
            )
            for m in spec.mounts
        ]
        host_config = api.create_host_config(
            network_mode=spec.network,
            port_bindings={k: v[0] if len(v) == 1 else v for k, v in bindings.items()} or None,
            mounts=mounts or None,
            restart_policy=_restart_policy(spec.restart),
            init=spec.init,
            **_resources(spec.resources),
        )
        endpoint = api.create_endpoint_config(
            aliases=list(spec.aliases) if aliases and spec.aliases else None
        )
        environment = {
            k: v.reveal() if isinstance(v, Secret) else v for k, v in spec.environment.items()
        }
        return {
            "image": spec.image,
            "name": spec.name,
            "command": list(spec.command) if spec.command is not None else None,
            "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
            "environment": environment,
            "labels": dict(spec.labels),
            "working_dir": spec.working_dir,
            "user": spec.user,
            "ports": [(p.container, p.protocol) for p in spec.ports] or None,
            "healthcheck": _healthcheck(spec.healthcheck),
            "stop_signal": spec.stop_signal,
            "stop_timeout": (
                None if spec.stop_grace_period is None else math.ceil(spec.stop_grace_period)
            ),
            "host_config": host_config,
            # The stub types one EndpointConfig; the SDK takes {network: EndpointConfig}.
            "networking_config": api.create_networking_config({spec.network: endpoint}),  # type: ignore[arg-type]
            "detach": True,
        }

    def _create(self, spec: ContainerSpec, *, aliases: bool = True) -> str:
        """Create the container; return its id. ``ConflictError`` if the name is taken."""
        with self._errors(f"create container {spec.name}"):
            try:
                created = self.api.create_container(**self._create_args(spec, aliases=aliases))
            except docker.errors.APIError as exc:
                if _is_name_conflict(exc):
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
                self.api.start(name)
            except docker.errors.NotFound as exc:
                if "no such container" in _explain(exc).lower():
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
                    config = self.api.inspect_container(name).get("Config") or {}
                    timeout = config.get("StopTimeout")
                    timeout = _DEFAULT_STOP_TIMEOUT if timeout is None else timeout
                self.api.stop(name, timeout=math.ceil(timeout))
            except docker.errors.NotFound:
                return

    def remove_container(self, name: str) -> bool:
        """Force-remove a container (not its named volumes); False if it did not exist."""
        with self._errors(f"remove container {name}"):
            try:
                self.api.remove_container(name, force=True, v=False)
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as exc:
                if "already in progress" not in _explain(exc):
                    raise
        return True

    # -- images ------------------------------------------------------------------------------
    def inspect_image(self, ref: str) -> ImageInfo | None:
        """Return a local image, or None; ``digest`` is its first repo digest (``sha256:...``)."""
        with self._errors(f"inspect image {ref}"):
            try:
                data = self.api.inspect_image(ref)  # type: ignore[no-untyped-call]  # untyped in the stub
            except docker.errors.NotFound:
                return None
        digests = data.get("RepoDigests") or []
        return ImageInfo(
            ref=ref, id=data["Id"], digest=digests[0].partition("@")[2] or None if digests else None
        )

    def pull_image(self, ref: str) -> ImageInfo:
        """Pull ``ref`` (tag ``latest`` if none); ``EngineError`` with the registry's message."""
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

    # -- health ------------------------------------------------------------------------------
    def health(self, name: str) -> HealthStatus:
        """``State.Health.Status`` (the engine runs the checks); ``NotFoundError`` if absent."""
        with self._errors(f"health of {name}"):
            try:
                data = self.api.inspect_container(name)
            except docker.errors.NotFound as exc:
                raise NotFoundError("container", name) from exc
        return self._container_info(data).health

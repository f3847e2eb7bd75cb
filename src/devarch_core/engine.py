"""Value types exchanged with container engines through the Runtime port."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs
from attrs import frozen

from devarch_core._parsing import sorted_text_map
from devarch_core.spec import EnvValue, Healthcheck, ProcessSettings, Resources

__all__ = [
    "ContainerInfo",
    "ContainerSpec",
    "EngineInfo",
    "HealthStatus",
    "ImageInfo",
    "LogLine",
    "Mount",
    "NetworkInfo",
    "PublishedPort",
    "VolumeInfo",
]

HealthStatus = Literal["healthy", "unhealthy", "starting", "none"]
LogStream = Literal["stdout", "stderr"]


@frozen(kw_only=True)
class PublishedPort:
    """A container port published on a host address."""

    container: int
    protocol: Literal["tcp", "udp"] = "tcp"
    host_ip: str = "127.0.0.1"
    host_port: int


@frozen(kw_only=True)
class Mount:
    """A mount in a container: a named volume (engine name), a host bind path, or a tmpfs."""

    type: Literal["volume", "bind", "tmpfs"]
    source: str | None
    target: str
    read_only: bool = False


@frozen(kw_only=True)
class ContainerSpec(ProcessSettings):
    """Everything an engine needs to create one container.

    Secret env values are revealed only by the adapter's create call. The process settings
    (:class:`~devarch_core.spec.ProcessSettings`: command, user, restart, stop grace period and
    signal, init) are the effective ones; ``None`` leaves the engine's default.
    """

    name: str
    image: str
    environment: Mapping[str, EnvValue] = attrs.field(factory=dict)
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=sorted_text_map)
    network: str
    aliases: tuple[str, ...] = ()
    ports: tuple[PublishedPort, ...] = ()
    mounts: tuple[Mount, ...] = ()
    healthcheck: Healthcheck | None = None
    resources: Resources = Resources()


@frozen(kw_only=True)
class ContainerInfo:
    """What an engine reports about a container."""

    id: str
    name: str
    image: str
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=sorted_text_map)
    #: Engine state: ``created``, ``running``, ``exited``, ``paused``, ``restarting``, ``dead``...
    state: str
    health: HealthStatus = "none"
    ports: tuple[PublishedPort, ...] = ()
    networks: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        """True while the container runs."""
        return self.state == "running"


@frozen(kw_only=True)
class NetworkInfo:
    """An engine network."""

    id: str
    name: str
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=sorted_text_map)


@frozen(kw_only=True)
class VolumeInfo:
    """An engine volume."""

    name: str
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=sorted_text_map)


@frozen(kw_only=True)
class ImageInfo:
    """A local image: its id and, when it came from a registry, its repo digest."""

    ref: str
    id: str
    digest: str | None = None


@frozen(kw_only=True)
class EngineInfo:
    """Which engine answers, where, and what it can enforce."""

    engine: Literal["docker", "podman", "swarm", "fake"]
    version: str
    endpoint: str
    rootless: bool = False
    cpus: int = 1
    memory: int = 0
    #: Resource fields the engine enforces (``cpu_limit``, ``memory_limit``...); others are
    #: reported as not enforced in the plan.
    enforces: frozenset[str] = frozenset(
        {"cpu_limit", "cpu_reservation", "memory_limit", "memory_reservation"}
    )
    #: Security hints for doctor (``selinux``, ``apparmor``...).
    security: tuple[str, ...] = ()
    #: Whether a published port binds only the host address asked for. False on Docker Swarm,
    #: which publishes on every interface of the node (see docs/swarm.md): ports are then
    #: reported with host address ``0.0.0.0``.
    binds_host_ip: bool = True


@frozen(kw_only=True)
class LogLine:
    """One line a container wrote, as ``Runtime.logs`` and ``Devarch.logs`` yield it.

    ``text`` has no line end; bytes that are not UTF-8 are replaced (U+FFFD).
    """

    text: str
    stream: LogStream = "stdout"
    #: When the engine recorded the line (RFC 3339 text as the engine gives it), or None.
    timestamp: str | None = None
    #: The instance that wrote it: set by ``Devarch.logs``, None from the runtime.
    instance: str | None = None

    def to_data(self) -> dict[str, str | None]:
        """JSON form."""
        return {
            "instance": self.instance,
            "stream": self.stream,
            "timestamp": self.timestamp,
            "text": self.text,
        }

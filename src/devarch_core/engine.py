"""Value types exchanged with container engines through the Runtime port."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import attrs
from attrs import frozen

from devarch_core._parsing import sorted_text_map
from devarch_core.spec import EnvValue, Healthcheck, Resources

__all__ = [
    "ContainerInfo",
    "ContainerSpec",
    "EngineInfo",
    "HealthStatus",
    "ImageInfo",
    "Mount",
    "NetworkInfo",
    "PublishedPort",
    "VolumeInfo",
]

HealthStatus = Literal["healthy", "unhealthy", "starting", "none"]


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
class ContainerSpec:
    """Everything an engine needs to create one container.

    Secret env values are revealed only by the adapter's create call.
    """

    name: str
    image: str
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    restart: str | None = None
    #: Seconds between the stop signal and the kill (the engine's ``StopTimeout``).
    stop_grace_period: Decimal | None = None
    stop_signal: str | None = None
    #: Run an init process as PID 1 (the engine's ``HostConfig.Init``).
    init: bool | None = None
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

"""An in-memory container engine with the semantics of the real ones (see ``Runtime``)."""

from __future__ import annotations

import hashlib
import itertools
import threading
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from devarch_core.engine import (
    ContainerInfo,
    ContainerSpec,
    EngineInfo,
    ImageInfo,
    LogLine,
    NetworkInfo,
    VolumeInfo,
)
from devarch_core.errors import ConflictError, EngineError, NotFoundError
from devarch_core.ownership import has_labels

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from devarch_core.engine import HealthStatus, LogStream, PublishedPort

__all__ = ["FakeRuntime"]

#: What the fake keeps by name and lists by label: its networks and volumes.
_Named = TypeVar("_Named", NetworkInfo, VolumeInfo)

_ANY_IP: Final = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - wildcard addresses, compared only


def normalize_ref(ref: str) -> str:
    """``busybox`` and ``busybox:latest`` are the same image; a digest ref stays as it is."""
    if "@" in ref:
        return ref
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last else f"{ref}:latest"


def _labels_text(labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def _clash(a: PublishedPort, b: PublishedPort) -> bool:
    if a.host_port != b.host_port or a.protocol != b.protocol:
        return False
    return a.host_ip == b.host_ip or a.host_ip in _ANY_IP or b.host_ip in _ANY_IP


@attrs.define
class _Container:
    id: str
    spec: ContainerSpec
    state: str = "created"
    started: bool = False
    log: list[LogLine] = attrs.field(factory=list)

    def info(self, health: HealthStatus) -> ContainerInfo:
        return ContainerInfo(
            id=self.id,
            name=self.spec.name,
            image=self.spec.image,
            labels=self.spec.labels,
            state=self.state,
            health=health,
            ports=self.spec.ports,
            networks=(self.spec.network,),
        )


@attrs.define(eq=False)
class _FakeLogs:
    """The fake's :class:`~devarch_core.ports.LogIterator`: reads a container's log list.

    Built as ``_FakeLogs(runtime, container, start, follow=...)``; ``start`` is the index of the
    first line to read. Following waits (on the runtime's condition) for new lines, the
    container to stop, or :meth:`close`.
    """

    _runtime: FakeRuntime
    _container: _Container
    _next: int
    _follow: bool = attrs.field(kw_only=True)
    _closed: bool = attrs.field(default=False, init=False)

    def __iter__(self) -> _FakeLogs:
        return self

    def __next__(self) -> LogLine:
        with self._runtime._changed:  # noqa: SLF001 - the runtime's own condition
            while True:
                if self._closed:
                    raise StopIteration
                log = self._container.log
                if self._next < len(log):
                    self._next += 1
                    return log[self._next - 1]
                current = self._runtime.current(self._container.spec.name)
                gone = current is not self._container
                if not self._follow or gone or self._container.state != "running":
                    raise StopIteration
                self._runtime._changed.wait()  # noqa: SLF001

    def close(self) -> None:
        """End the iteration (also while another thread waits in ``next()``)."""
        with self._runtime._changed:  # noqa: SLF001
            self._closed = True
            self._runtime._changed.notify_all()  # noqa: SLF001


class FakeRuntime:
    """An in-memory :class:`~devarch_core.ports.Runtime` for tests, thread-safe.

    It behaves like Docker where devarch can tell the difference:

    - names of containers and networks are unique (``ConflictError``); volume creation is
      idempotent; a container needs its network and a local image (``EngineError`` otherwise);
    - containers go ``created`` -> ``running`` -> ``exited``; starting a container whose host port
      another running container publishes raises ``EngineError`` ("port is already allocated");
    - removing a network with running containers, or a volume a container uses, raises
      ``EngineError``;
    - ``images`` are the local images (ref -> id); ``registry`` holds refs that :meth:`pull_image`
      can fetch; pulling anything else raises ``EngineError``;
    - health is ``none`` without a healthcheck, ``starting`` before the first start, then
      ``healthy`` unless a test said otherwise with :meth:`set_health`.

    Tests inspect :attr:`calls` (``(operation, target)`` tuples, in order, failed calls included),
    :meth:`spec` (what a container was created with, secrets unrevealed) and inject engine failures
    with :meth:`fail_next`.
    """

    name = "fake"

    def __init__(
        self,
        images: Mapping[str, str] | None = None,
        *,
        registry: Mapping[str, str] | None = None,
        engine_info: EngineInfo | None = None,
    ) -> None:
        self._lock = threading.RLock()
        #: Notified when a log line is written or a container stops (followers wait on it).
        self._changed = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._images: dict[str, ImageInfo] = {
            normalize_ref(k): ImageInfo(ref=k, id=v) for k, v in (images or {}).items()
        }
        self._registry: dict[str, str] = {normalize_ref(k): v for k, v in (registry or {}).items()}
        self._info = engine_info or EngineInfo(
            engine="fake", version="1.0", endpoint="memory://fake", cpus=4, memory=8 * 1024**3
        )
        self._networks: dict[str, NetworkInfo] = {}
        self._volumes: dict[str, VolumeInfo] = {}
        self._containers: dict[str, _Container] = {}
        self._health: dict[str, HealthStatus] = {}
        self._failures: list[tuple[str, str | None, str]] = []
        self._log_clock = itertools.count(1)
        #: Every call made, in order: ``(operation, target)``; target is a name, a ref, or the
        #: ``k=v,...`` labels of a list call (``""`` for ``info``).
        self.calls: list[tuple[str, str]] = []
        #: Container name -> the grace period (seconds) its last stop would have waited.
        self.stop_timeouts: dict[str, float] = {}

    # -- test controls -----------------------------------------------------------------------
    def fail_next(
        self, operation: str, message: str = "injected engine failure", *, target: str | None = None
    ) -> None:
        """Make the next ``operation`` (on ``target``, if given) raise ``EngineError(message)``."""
        with self._lock:
            self._failures.append((operation, target, message))

    def clear_failures(self) -> None:
        """Drop the injected failures no call has met yet.

        Apply starts each instance once its own dependencies are ready and nothing new after a
        failure, so which of several injected failures an apply meets can vary between runs.
        """
        with self._lock:
            self._failures.clear()

    def set_health(self, name: str, status: HealthStatus | None) -> None:
        """Force the health a running container with a healthcheck reports (``None`` resets it)."""
        with self._lock:
            if status is None:
                self._health.pop(name, None)
            else:
                self._health[name] = status

    def write_log(
        self, name: str, text: str, stream: LogStream = "stdout", *, timestamp: str | None = None
    ) -> None:
        """Make a container write lines (``text`` split at newlines), as if its process did.

        Timestamps default to a counter in RFC 3339 form, so lines of several containers sort
        in the order they were written. ``KeyError`` if there is no such container.
        """
        with self._changed:
            container = self._containers[name]
            for line in text.split("\n"):
                stamp = timestamp or f"2000-01-01T00:00:00.{next(self._log_clock):09d}Z"
                container.log.append(LogLine(text=line, stream=stream, timestamp=stamp))
            self._changed.notify_all()

    def current(self, name: str) -> object:
        """The record of the container called ``name`` now (None if absent); for log followers."""
        with self._lock:
            return self._containers.get(name)

    def add_image(self, ref: str, image_id: str) -> None:
        """Make an image local, as if it had been built or loaded."""
        with self._lock:
            self._images[normalize_ref(ref)] = ImageInfo(ref=ref, id=image_id)

    def spec(self, name: str) -> ContainerSpec:
        """Return the spec a container was created with; ``KeyError`` if there is none."""
        with self._lock:
            return self._containers[name].spec

    def calls_to(self, operation: str) -> list[str]:
        """Return the targets of every call of ``operation``, in order."""
        with self._lock:
            return [target for op, target in self.calls if op == operation]

    def resolve(self, container: str, host: str) -> str | None:
        """Return the running container that ``host`` names from ``container``, or None.

        Like the network's DNS: a running container's name or alias on the same network.
        """
        with self._lock:
            source = self._containers.get(container)
            if source is None or source.state != "running":
                return None
            for other in self._containers.values():
                same_net = other.spec.network == source.spec.network
                named = host == other.spec.name or host in other.spec.aliases
                if same_net and named and other.state == "running":
                    return other.spec.name
            return None

    def _enter(self, operation: str, target: str) -> None:
        """Record a call and raise an injected failure if one is due (caller holds the lock)."""
        self.calls.append((operation, target))
        for index, (op, wanted, message) in enumerate(self._failures):
            if op == operation and wanted in (None, target):
                del self._failures[index]
                raise EngineError(message)

    def _remove_unused(
        self,
        operation: str,
        objects: dict[str, Any],
        name: str,
        uses: Callable[[_Container], bool],
        refusal: Callable[[str], str],
    ) -> bool:
        """Remove ``objects[name]`` unless a container ``uses`` it (``EngineError``: ``refusal``).

        ``refusal`` gets the users' names, sorted and comma-separated, as the engine words it.
        """
        with self._lock:
            self._enter(operation, name)
            if name not in objects:
                return False
            users = sorted(c.spec.name for c in self._containers.values() if uses(c))
            if users:
                raise EngineError(refusal(", ".join(users)))
            del objects[name]
            return True

    def _ensure(
        self, operation: str, objects: dict[str, _Named], name: str, make: Callable[[], _Named]
    ) -> _Named:
        """``objects[name]``, made (under the lock) by ``make`` first when absent."""
        with self._lock:
            self._enter(operation, name)
            if name not in objects:
                objects[name] = make()
            return objects[name]

    def _labelled(
        self, operation: str, objects: dict[str, _Named], labels: Mapping[str, str]
    ) -> list[_Named]:
        """The ``objects`` carrying all ``labels``, by name."""
        with self._lock:
            self._enter(operation, _labels_text(labels))
            return [o for _, o in sorted(objects.items()) if has_labels(o.labels, labels)]

    def _container(self, name: str) -> _Container:
        """The container named ``name``; ``NotFoundError`` if absent (caller holds the lock)."""
        container = self._containers.get(name)
        if container is None:
            raise NotFoundError("container", name)
        return container

    def _new_id(self, kind: str, name: str) -> str:
        return hashlib.sha256(f"{kind}:{name}:{next(self._ids)}".encode()).hexdigest()

    def _health_of(self, container: _Container) -> HealthStatus:
        if container.spec.healthcheck is None:
            return "none"
        if not container.started:
            return "starting"
        return self._health.get(container.spec.name, "healthy")

    # -- Runtime -----------------------------------------------------------------------------
    def info(self) -> EngineInfo:
        """Return the configured engine info (``engine="fake"`` by default)."""
        with self._lock:
            self._enter("info", "")
            return self._info

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> NetworkInfo:
        """Create the network if absent, else return the existing one."""
        return self._ensure(
            "ensure_network",
            self._networks,
            name,
            lambda: NetworkInfo(id=self._new_id("network", name), name=name, labels=labels),
        )

    def remove_network(self, name: str) -> bool:
        """Remove a network; ``EngineError`` while running containers use it."""
        return self._remove_unused(
            "remove_network",
            self._networks,
            name,
            lambda c: c.spec.network == name and c.state == "running",
            lambda users: (
                f"error while removing network: network {name} has active endpoints ({users})"
            ),
        )

    def list_networks(self, labels: Mapping[str, str]) -> list[NetworkInfo]:
        """Networks carrying all ``labels``, by name."""
        return self._labelled("list_networks", self._networks, labels)

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> VolumeInfo:
        """Create the volume if absent, else return it (with its first labels, as Docker does)."""
        return self._ensure(
            "ensure_volume", self._volumes, name, lambda: VolumeInfo(name=name, labels=labels)
        )

    def remove_volume(self, name: str) -> bool:
        """Remove a volume; ``EngineError`` while a container (in any state) uses it."""
        return self._remove_unused(
            "remove_volume",
            self._volumes,
            name,
            lambda c: any(m.type == "volume" and m.source == name for m in c.spec.mounts),
            lambda users: f"remove {name}: volume is in use - [{users}]",
        )

    def list_volumes(self, labels: Mapping[str, str]) -> list[VolumeInfo]:
        """Volumes carrying all ``labels``, by name."""
        return self._labelled("list_volumes", self._volumes, labels)

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        """Containers in any state carrying all ``labels``, by name."""
        with self._lock:
            self._enter("list_containers", _labels_text(labels))
            return [
                c.info(self._health_of(c))
                for _, c in sorted(self._containers.items())
                if has_labels(c.spec.labels, labels)
            ]

    def inspect_container(self, name: str) -> ContainerInfo | None:
        """Return one container, or None."""
        with self._lock:
            self._enter("inspect_container", name)
            container = self._containers.get(name)
            return container.info(self._health_of(container)) if container else None

    def create_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create a container in state ``created``; named volumes it mounts are created too."""
        with self._lock:
            self._enter("create_container", spec.name)
            if spec.name in self._containers:
                other = self._containers[spec.name].id[:12]
                raise ConflictError(
                    f'Conflict. The container name "/{spec.name}" is already in use '
                    f'by container "{other}"'
                )
            if normalize_ref(spec.image) not in self._images:
                raise EngineError(f"No such image: {spec.image}")
            if spec.network not in self._networks:
                raise EngineError(f"network {spec.network} not found")
            for mount in spec.mounts:
                if mount.type == "volume" and mount.source and mount.source not in self._volumes:
                    self._volumes[mount.source] = VolumeInfo(name=mount.source)
            container = _Container(id=self._new_id("container", spec.name), spec=spec)
            self._containers[spec.name] = container
            return container.info(self._health_of(container))

    def start_container(self, name: str) -> None:
        """Start a container; ``EngineError`` if a host port it publishes is taken."""
        with self._lock:
            self._enter("start_container", name)
            container = self._container(name)
            if container.state == "running":
                return
            if container.spec.network not in self._networks:
                raise EngineError(f"network {container.spec.network} not found")
            for other in self._containers.values():
                if other is container or other.state != "running":
                    continue
                for port in container.spec.ports:
                    if any(_clash(port, theirs) for theirs in other.spec.ports):
                        raise EngineError(
                            f"driver failed programming external connectivity on endpoint {name}: "
                            f"Bind for {port.host_ip}:{port.host_port} failed: "
                            "port is already allocated"
                        )
            container.state = "running"
            container.started = True

    def stop_container(self, name: str, timeout: float | None = None) -> None:
        """Stop a container; no-op if it is not running or absent.

        Records the grace period a real engine would wait (:attr:`stop_timeouts`): ``timeout``,
        else the container's ``stop_grace_period``, else 10 s.
        """
        with self._lock:
            self._enter("stop_container", name)
            container = self._containers.get(name)
            if container is not None and container.state == "running":
                grace = container.spec.stop_grace_period
                if timeout is not None:
                    self.stop_timeouts[name] = float(timeout)
                else:
                    self.stop_timeouts[name] = 10.0 if grace is None else float(grace)
                container.state = "exited"
                self._changed.notify_all()

    def remove_container(self, name: str) -> bool:
        """Force-remove a container; False if it did not exist."""
        with self._lock:
            self._enter("remove_container", name)
            self._health.pop(name, None)
            removed = self._containers.pop(name, None) is not None
            self._changed.notify_all()
            return removed

    def inspect_image(self, ref: str) -> ImageInfo | None:
        """Return a local image, or None."""
        with self._lock:
            self._enter("inspect_image", ref)
            image = self._images.get(normalize_ref(ref))
            return attrs.evolve(image, ref=ref) if image else None

    def pull_image(self, ref: str) -> ImageInfo:
        """Fetch an image from the fake registry (or keep the local one)."""
        with self._lock:
            self._enter("pull_image", ref)
            key = normalize_ref(ref)
            if key in self._registry:
                image_id = self._registry[key]
                digest = "sha256:" + hashlib.sha256(f"{key}@{image_id}".encode()).hexdigest()
                self._images[key] = ImageInfo(ref=ref, id=image_id, digest=digest)
            if key not in self._images:
                raise EngineError(
                    f"pull access denied for {ref}, repository does not exist "
                    "or may require 'docker login'"
                )
            return attrs.evolve(self._images[key], ref=ref)

    def health(self, name: str) -> HealthStatus:
        """``none`` without a healthcheck; ``NotFoundError`` if the container does not exist."""
        with self._lock:
            self._enter("health", name)
            container = self._container(name)
            return self._health_of(container)

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> _FakeLogs:
        """The lines :meth:`write_log` wrote (the last ``tail``); ``NotFoundError`` if absent.

        Following ends when the container stops or is removed, or the iterator is closed.
        """
        with self._lock:
            self._enter("logs", name)
            if tail is not None and tail < 0:
                raise ValueError(f"tail must be 0 or more, not {tail}")
            container = self._container(name)
            start = 0 if tail is None else max(0, len(container.log) - tail)
            return _FakeLogs(self, container, start, follow=follow)

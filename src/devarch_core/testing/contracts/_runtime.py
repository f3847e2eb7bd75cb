"""The Runtime port's contract: one suite that the fake and every real engine adapter pass.

Subclass :class:`RuntimeContract` (an in-memory runtime: also provide the probes) or
:class:`EngineRuntimeContract` (an adapter talking to a real engine that speaks the Docker API,
probed through the docker SDK) and override the ``runtime`` fixture (and ``engine_url`` for the
latter). ``image`` names a local image with busybox's ``sh``, ``sleep``, ``httpd`` and ``wget``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import pytest

from devarch_core.engine import ContainerSpec, Mount, PublishedPort
from devarch_core.errors import ConflictError, EngineError, NotFoundError
from devarch_core.secrets import Secret
from devarch_core.spec import Healthcheck, Resources
from devarch_core.testing.contracts._threads import race

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from devarch_core.ports import Runtime

HTTP_PORT = 8080
#: Serves "hello-<alias>" on port 8080 so a client can tell it reached the right container.
HTTPD = (
    "sh",
    "-c",
    f'echo "hello-$HELLO" > /tmp/index.html && exec httpd -f -p {HTTP_PORT} -h /tmp',
)


def free_port() -> int:
    """Return a host port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], *, deadline: float = 30, every: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result or time.monotonic() > end:
            return result
        time.sleep(every)


class Made:
    """What a test created, removed at teardown: containers, then networks, then volumes."""

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.networks: list[str] = []
        self.volumes: list[str] = []

    def clean(self, runtime: Runtime) -> None:
        for name in reversed(self.containers):
            with contextlib.suppress(Exception):
                runtime.remove_container(name)
        for name in reversed(self.networks):
            with contextlib.suppress(Exception):
                runtime.remove_network(name)
        for name in reversed(self.volumes):
            with contextlib.suppress(Exception):
                runtime.remove_volume(name)


class RuntimeContract:
    """Behaviour every Runtime guarantees. Subclasses provide ``runtime`` and the probes."""

    #: A local image (no pull) with busybox's sh, sleep, httpd and wget; override to change it.
    image: ClassVar[str] = "busybox:latest"

    @pytest.fixture
    def unique(self) -> str:
        """A fresh name prefix, so leftovers of earlier runs never interfere."""
        return f"t{uuid.uuid4().hex[:8]}"

    @pytest.fixture
    def runtime(self) -> Runtime:
        raise NotImplementedError

    # -- probes an implementation provides ------------------------------------------------------
    def environment_of(self, runtime: Runtime, name: str) -> dict[str, str]:
        """Return the environment the engine gives the container (plain text)."""
        raise NotImplementedError

    def limits_of(self, runtime: Runtime, name: str) -> dict[str, int]:
        """Return the engine's NanoCpus, CpuShares, Memory and MemoryReservation."""
        raise NotImplementedError

    def reaches(self, runtime: Runtime, made: Made, *, network: str, host: str) -> str | None:
        """From a new container on ``network``, fetch ``http://host:8080/``; the body, or None."""
        raise NotImplementedError

    def say(self, runtime: Runtime, name: str, text: str, stream: str = "stdout") -> None:
        """Make the running container ``name`` write ``text`` and a newline to its log."""
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------------------
    @pytest.fixture
    def made(self, runtime: Runtime) -> Iterator[Made]:
        made = Made()
        yield made
        made.clean(runtime)

    @pytest.fixture
    def labels(self, unique: str) -> dict[str, str]:
        return {"devarch.test": unique}

    @pytest.fixture
    def network(self, runtime: Runtime, made: Made, unique: str, labels: dict[str, str]) -> str:
        name = f"{unique}-net"
        made.networks.append(name)
        runtime.ensure_network(name, labels)
        return name

    @classmethod
    def spec(cls, name: str, network: str, labels: dict[str, str], **changes: Any) -> ContainerSpec:
        values: dict[str, Any] = {
            "name": name,
            "image": cls.image,
            "command": ("sleep", "300"),
            "labels": labels,
            "network": network,
        }
        values.update(changes)
        return ContainerSpec(**values)

    @staticmethod
    def create(runtime: Runtime, made: Made, spec: ContainerSpec) -> None:
        made.containers.append(spec.name)
        runtime.create_container(spec)

    # -- engine --------------------------------------------------------------------------------
    def test_info_names_the_engine(self, runtime):
        """info() says which engine answers, where, and what it has."""
        info = runtime.info()
        assert info.engine == runtime.name
        assert info.version
        assert info.endpoint
        assert info.cpus >= 1
        assert info.enforces <= {
            "cpu_limit",
            "cpu_reservation",
            "memory_limit",
            "memory_reservation",
        }

    # -- networks ------------------------------------------------------------------------------
    def test_ensure_network_is_idempotent(self, runtime, made, unique, labels):
        """A second ensure returns the same network and creates no other."""
        name = f"{unique}-net"
        made.networks.append(name)
        first = runtime.ensure_network(name, labels)
        second = runtime.ensure_network(name, labels)
        assert first.id == second.id
        assert first.name == name
        assert first.labels == labels
        assert [n.name for n in runtime.list_networks(labels)] == [name]

    def test_ensure_network_is_race_safe(self, runtime, made, unique, labels):
        """Eight threads ensuring one name all get the same network, and only one exists."""
        name = f"{unique}-race"
        made.networks.append(name)
        ids: list[str] = []
        errors: list[BaseException] = []

        def ensure(_: int) -> None:
            try:
                ids.append(runtime.ensure_network(name, labels).id)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        race(8, ensure)
        assert errors == []
        assert len(set(ids)) == 1
        assert [n.id for n in runtime.list_networks(labels)] == ids[:1]

    def test_remove_network_says_whether_it_existed(self, runtime, made, unique, labels):
        """remove_network removes the network, then reports False."""
        name = f"{unique}-gone"
        made.networks.append(name)
        runtime.ensure_network(name, labels)
        assert runtime.remove_network(name) is True
        assert runtime.list_networks(labels) == []
        assert runtime.remove_network(name) is False

    def test_list_networks_filters_by_every_label(self, runtime, made, unique):
        """Only networks carrying all the labels asked for are listed."""
        made.networks += [f"{unique}-a", f"{unique}-b"]
        runtime.ensure_network(f"{unique}-a", {"devarch.test": unique, "devarch.stack": "a"})
        runtime.ensure_network(f"{unique}-b", {"devarch.test": unique, "devarch.stack": "b"})
        assert [n.name for n in runtime.list_networks({"devarch.test": unique})] == [
            f"{unique}-a",
            f"{unique}-b",
        ]
        only_b = runtime.list_networks({"devarch.test": unique, "devarch.stack": "b"})
        assert [n.name for n in only_b] == [f"{unique}-b"]

    def test_listing_without_labels_lists_everything(self, runtime, made, unique, labels):
        """An empty label filter lists every network and volume, labelled or not.

        The plan relies on it to find a same-named object of another owner (or of no devarch
        store) before it creates anything.
        """
        made.networks += [f"{unique}-plain-net", f"{unique}-own-net"]
        runtime.ensure_network(f"{unique}-plain-net", {})
        runtime.ensure_network(f"{unique}-own-net", labels)
        made.volumes += [f"{unique}-plain-vol", f"{unique}-own-vol"]
        runtime.ensure_volume(f"{unique}-plain-vol", {})
        runtime.ensure_volume(f"{unique}-own-vol", labels)
        networks = {n.name: n.labels for n in runtime.list_networks({})}
        volumes = {v.name: v.labels for v in runtime.list_volumes({})}
        assert networks[f"{unique}-own-net"] == labels
        assert f"{unique}-plain-net" in networks
        assert volumes[f"{unique}-own-vol"] == labels
        assert f"{unique}-plain-vol" in volumes

    # -- volumes -------------------------------------------------------------------------------
    def test_volumes_are_ensured_listed_and_removed(self, runtime, made, unique, labels):
        """ensure_volume is idempotent, list filters by labels, remove says if it existed."""
        name = f"{unique}-data"
        made.volumes.append(name)
        first = runtime.ensure_volume(name, labels)
        again = runtime.ensure_volume(name, labels)
        assert first == again
        assert first.name == name
        assert first.labels == labels
        assert [v.name for v in runtime.list_volumes(labels)] == [name]
        assert runtime.list_volumes({"devarch.test": f"{unique}-other"}) == []
        assert runtime.remove_volume(name) is True
        assert runtime.list_volumes(labels) == []
        assert runtime.remove_volume(name) is False

    def test_listing_requires_every_label(self, runtime, made, unique, labels):
        """Several labels filter as AND: a resource with only some of them is not listed.

        This holds for volumes and networks (Podman 4.3 ORs volume label filters; the adapter must
        not).
        """
        for suffix in ("a", "b"):
            name = f"{unique}-and-{suffix}"
            made.volumes.append(name)
            runtime.ensure_volume(name, {**labels, "devarch.test-stack": suffix})
            made.networks.append(name)
            runtime.ensure_network(name, {**labels, "devarch.test-stack": suffix})
        wanted = {**labels, "devarch.test-stack": "a"}
        assert [v.name for v in runtime.list_volumes(wanted)] == [f"{unique}-and-a"]
        assert [n.name for n in runtime.list_networks(wanted)] == [f"{unique}-and-a"]

    def test_volume_in_use_is_not_removed(self, runtime, made, unique, labels, network):
        """Removing a volume a container mounts is refused by the engine."""
        volume = f"{unique}-used"
        made.volumes.append(volume)
        runtime.ensure_volume(volume, labels)
        mount = Mount(type="volume", source=volume, target="/data")
        self.create(runtime, made, self.spec(f"{unique}-c", network, labels, mounts=(mount,)))
        with pytest.raises(EngineError):
            runtime.remove_volume(volume)

    # -- containers ----------------------------------------------------------------------------
    def test_create_refuses_a_taken_name(self, runtime, made, unique, labels, network):
        """Creating a second container with the same name raises ConflictError."""
        spec = self.spec(f"{unique}-c", network, labels)
        self.create(runtime, made, spec)
        with pytest.raises(ConflictError):
            runtime.create_container(spec)

    def test_create_start_inspect(self, runtime, made, unique, labels, network):
        """A created container is 'created'; started it runs with its labels, ports and network."""
        port = free_port()
        published = PublishedPort(container=HTTP_PORT, host_port=port)
        spec = self.spec(
            f"{unique}-web",
            network,
            labels,
            command=HTTPD,
            environment={"HELLO": "web"},
            ports=(published,),
        )
        made.containers.append(spec.name)
        created = runtime.create_container(spec)
        assert created.name == spec.name
        assert created.state == "created"
        assert not created.running
        inspected = runtime.inspect_container(spec.name)
        assert inspected is not None
        assert inspected.id == created.id
        assert inspected.state == "created"

        runtime.start_container(spec.name)
        runtime.start_container(spec.name)  # a no-op while it runs
        info = runtime.inspect_container(spec.name)
        assert info is not None
        assert info.running
        assert info.name == spec.name
        assert info.labels == labels
        # An engine that cannot bind one host address (Swarm) reports every interface instead.
        bound = published.host_ip if runtime.info().binds_host_ip else "0.0.0.0"  # noqa: S104
        assert info.ports == (attrs.evolve(published, host_ip=bound),)
        assert info.networks == (network,)
        assert info.health == "none"

    def test_inspect_of_an_absent_container_is_none(self, runtime, unique):
        """inspect_container returns None for a name nobody uses."""
        assert runtime.inspect_container(f"{unique}-nobody") is None

    def test_start_of_an_absent_container_is_not_found(self, runtime, unique):
        """Starting a container that does not exist raises NotFoundError."""
        with pytest.raises(NotFoundError):
            runtime.start_container(f"{unique}-nobody")

    def test_create_without_the_network_fails(self, runtime, made, unique, labels):
        """A container whose network does not exist cannot be created and started."""
        spec = self.spec(f"{unique}-c", f"{unique}-no-such-net", labels)
        made.containers.append(spec.name)
        with pytest.raises(EngineError):  # noqa: PT012 - Docker refuses at start, Podman at create
            runtime.create_container(spec)
            runtime.start_container(spec.name)

    def test_a_host_port_cannot_be_published_twice(self, runtime, made, unique, labels, network):
        """Starting a second container on a host port a running one publishes raises EngineError."""
        published = (PublishedPort(container=HTTP_PORT, host_port=free_port()),)
        first = self.spec(f"{unique}-a", network, labels, ports=published)
        second = self.spec(f"{unique}-b", network, labels, ports=published)
        self.create(runtime, made, first)
        self.create(runtime, made, second)
        runtime.start_container(first.name)
        with pytest.raises(EngineError):
            runtime.start_container(second.name)

    def test_stop_honours_the_grace_period(self, runtime, made, unique, labels, network):
        """stop_container with a short grace period stops a container ignoring SIGTERM quickly."""
        spec = self.spec(f"{unique}-c", network, labels)
        self.create(runtime, made, spec)
        runtime.start_container(spec.name)
        began = time.monotonic()
        runtime.stop_container(spec.name, timeout=1)
        assert time.monotonic() - began < 8
        info = runtime.inspect_container(spec.name)
        assert info is not None
        assert info.state == "exited"
        runtime.stop_container(spec.name, timeout=0)  # stopped: a no-op
        runtime.stop_container(f"{unique}-nobody", timeout=0)  # absent: a no-op

    def test_stop_without_timeout_waits_the_containers_own_grace_period(
        self, runtime, made, unique, labels, network
    ):
        """Without a timeout, stop waits the container's stop_grace_period (1s here), not 10s."""
        spec = self.spec(f"{unique}-g", network, labels, stop_grace_period=Decimal(1))
        self.create(runtime, made, spec)
        runtime.start_container(spec.name)
        began = time.monotonic()
        runtime.stop_container(spec.name)  # sleep as PID 1 ignores SIGTERM: only the kill stops it
        assert time.monotonic() - began < 8
        info = runtime.inspect_container(spec.name)
        assert info is not None
        assert info.state == "exited"

    def test_init_forwards_the_stop_signal(self, runtime, made, unique, labels, network):
        """With init and stop_signal SIGINT, sleep gets SIGINT from the init and ends at once.

        Without the init (or with the signal lost), the 30s grace period would run out first.
        """
        spec = self.spec(
            f"{unique}-i",
            network,
            labels,
            init=True,
            stop_signal="SIGINT",
            stop_grace_period=Decimal(30),
        )
        self.create(runtime, made, spec)  # Podman needs its init binary (package catatonit)
        runtime.start_container(spec.name)
        # A signal sent before the init has started its child is lost (then the 30 s grace
        # period runs out): let the process tree come up first, as it has in real use.
        time.sleep(1)
        began = time.monotonic()
        runtime.stop_container(spec.name)
        assert time.monotonic() - began < 8
        info = runtime.inspect_container(spec.name)
        assert info is not None
        assert info.state == "exited"

    def test_remove_container_says_whether_it_existed(self, runtime, made, unique, labels, network):
        """remove_container force-removes a running container, then reports False."""
        spec = self.spec(f"{unique}-c", network, labels)
        self.create(runtime, made, spec)
        runtime.start_container(spec.name)
        assert runtime.remove_container(spec.name) is True
        assert runtime.inspect_container(spec.name) is None
        assert runtime.remove_container(spec.name) is False

    def test_list_containers_returns_only_matching_labels(
        self, runtime, made, unique, labels, network
    ):
        """Containers in any state carrying all the labels are listed, by name; others are not."""
        self.create(
            runtime, made, self.spec(f"{unique}-b", network, {**labels, "devarch.stack": "x"})
        )
        self.create(
            runtime, made, self.spec(f"{unique}-a", network, {**labels, "devarch.stack": "x"})
        )
        self.create(
            runtime, made, self.spec(f"{unique}-c", network, {**labels, "devarch.stack": "y"})
        )
        runtime.start_container(f"{unique}-a")
        found = runtime.list_containers({**labels, "devarch.stack": "x"})
        assert [(c.name, c.state) for c in found] == [
            (f"{unique}-a", "running"),
            (f"{unique}-b", "created"),
        ]
        assert found[0].labels == {**labels, "devarch.stack": "x"}
        assert found[0].networks == (network,)
        assert len(runtime.list_containers(labels)) == 3
        assert runtime.list_containers({"devarch.test": f"{unique}-other"}) == []

    # -- images --------------------------------------------------------------------------------
    def test_inspect_image_of_the_test_image(self, runtime, unique):
        """inspect_image returns the id of a local image, None for an unknown one."""
        image = runtime.inspect_image(self.image)
        assert image is not None
        assert image.id.startswith("sha256:")
        assert runtime.inspect_image(f"devarch-test/{unique}:nope") is None

    def test_pull_of_a_nonexistent_image_fails(self, runtime):
        """Pulling an image nobody has raises EngineError."""
        with pytest.raises(EngineError):
            runtime.pull_image("devarch-test/does-not-exist:nope")

    # -- health --------------------------------------------------------------------------------
    def test_health_becomes_healthy(self, runtime, made, unique, labels, network):
        """A running container whose check passes reports healthy."""
        check = Healthcheck(
            test=("CMD", "true"), interval=Decimal(1), timeout=Decimal(5), retries=3
        )
        spec = self.spec(f"{unique}-c", network, labels, healthcheck=check)
        self.create(runtime, made, spec)
        runtime.start_container(spec.name)
        assert wait_for(lambda: runtime.health(spec.name) == "healthy", deadline=30)

    def test_health_is_none_without_a_healthcheck(self, runtime, made, unique, labels, network):
        """A container without a healthcheck reports none."""
        spec = self.spec(f"{unique}-c", network, labels)
        self.create(runtime, made, spec)
        runtime.start_container(spec.name)
        assert runtime.health(spec.name) == "none"

    def test_health_of_an_absent_container_is_not_found(self, runtime, unique):
        """Asking the health of a container that does not exist raises NotFoundError."""
        with pytest.raises(NotFoundError):
            runtime.health(f"{unique}-nobody")

    # -- logs ----------------------------------------------------------------------------------
    def _running(self, runtime: Runtime, made: Made, name: str, network: str, labels: Any) -> str:
        self.create(runtime, made, self.spec(name, network, labels))
        runtime.start_container(name)
        return name

    def test_logs_keep_order_streams_and_tail(self, runtime, made, unique, labels, network):
        """Lines come in order with their stream and a timestamp; tail keeps the last N."""
        name = self._running(runtime, made, f"{unique}-log", network, labels)
        self.say(runtime, name, "one")
        self.say(runtime, name, "two", "stderr")
        self.say(runtime, name, "three")

        def three() -> list[Any] | None:
            got = list(runtime.logs(name))
            return got if len(got) >= 3 else None

        lines = wait_for(three)
        assert [(x.text, x.stream) for x in lines] == [
            ("one", "stdout"),
            ("two", "stderr"),
            ("three", "stdout"),
        ]
        assert all(x.timestamp for x in lines)
        assert [x.text for x in runtime.logs(name, tail=2)] == ["two", "three"]
        assert list(runtime.logs(name, tail=0)) == []

    def test_logs_follow_sees_new_lines_and_ends_when_the_container_stops(
        self, runtime, made, unique, labels, network
    ):
        """A follower gets lines written after it started; it ends once the container stops."""
        name = self._running(runtime, made, f"{unique}-follow", network, labels)
        self.say(runtime, name, "before")
        wait_for(lambda: list(runtime.logs(name)))
        seen: list[str] = []
        stream = runtime.logs(name, follow=True, tail=0)
        reader = threading.Thread(target=lambda: seen.extend(x.text for x in stream), daemon=True)
        reader.start()
        time.sleep(0.3)
        self.say(runtime, name, "after")
        assert wait_for(lambda: "after" in seen, deadline=20)
        runtime.stop_container(name, timeout=0)
        reader.join(timeout=20)
        assert not reader.is_alive()
        assert seen == ["after"]

    def test_logs_close_ends_a_waiting_follower(self, runtime, made, unique, labels, network):
        """close() from another thread ends a follower waiting on a quiet container."""
        name = self._running(runtime, made, f"{unique}-quiet", network, labels)
        stream = runtime.logs(name, follow=True)
        done = threading.Event()

        def read() -> None:
            for _ in stream:
                pass
            done.set()

        threading.Thread(target=read, daemon=True).start()
        time.sleep(0.5)
        assert not done.is_set()
        stream.close()
        assert done.wait(20)
        stream.close()  # idempotent

    def test_logs_of_an_absent_container_are_not_found(self, runtime, unique):
        """Asking the logs of a container that does not exist raises NotFoundError at once."""
        with pytest.raises(NotFoundError):
            runtime.logs(f"{unique}-nobody")

    # -- what reaches the engine -----------------------------------------------------------------
    def test_secret_values_reach_the_container(self, runtime, made, unique, labels, network):
        """Secret environment values arrive in the container as plain text."""
        env = {"PLAIN": "visible", "PASSWORD": Secret("s3cret value")}
        spec = self.spec(f"{unique}-c", network, labels, environment=env)
        self.create(runtime, made, spec)
        seen = self.environment_of(runtime, spec.name)
        assert seen["PLAIN"] == "visible"
        assert seen["PASSWORD"] == "s3cret value"

    def test_resource_limits_reach_the_engine(self, runtime, made, unique, labels, network):
        """CPU and memory limits and reservations are given to the engine."""
        resources = Resources(
            cpu_limit=Decimal("0.5"),
            cpu_reservation=Decimal("0.25"),
            memory_limit=64 * 1024**2,
            memory_reservation=32 * 1024**2,
        )
        spec = self.spec(f"{unique}-c", network, labels, resources=resources)
        self.create(runtime, made, spec)
        assert self.limits_of(runtime, spec.name) == {
            "NanoCpus": 500_000_000,
            "CpuShares": 256,
            "Memory": 64 * 1024**2,
            "MemoryReservation": 32 * 1024**2,
        }

    def test_alias_resolves_on_the_same_network_only(self, runtime, made, unique, labels, network):
        """A network alias reaches the container from its network and not from another one."""
        server = self.spec(
            f"{unique}-srv",
            network,
            labels,
            command=HTTPD,
            environment={"HELLO": unique},
            aliases=("web",),
        )
        self.create(runtime, made, server)
        runtime.start_container(server.name)
        assert self.reaches(runtime, made, network=network, host="web") == f"hello-{unique}"

        other = f"{unique}-other-net"
        made.networks.append(other)
        runtime.ensure_network(other, labels)
        assert self.reaches(runtime, made, network=other, host="web") is None
        assert self.reaches(runtime, made, network=other, host=server.name) is None


class EngineRuntimeContract(RuntimeContract):
    """The contract for adapters over a real engine, probed through the docker SDK."""

    @pytest.fixture
    def engine_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def engine(self, engine_url: str) -> Iterator[Any]:
        import docker  # noqa: PLC0415 - only real-engine tests need the SDK

        client = docker.DockerClient(base_url=engine_url, timeout=60)
        yield client
        client.close()

    @pytest.fixture(autouse=True)
    def _bind_engine(self, engine: Any) -> None:
        self._engine = engine

    def environment_of(self, runtime: Runtime, name: str) -> dict[str, str]:  # noqa: ARG002
        env = self._engine.api.inspect_container(name)["Config"]["Env"] or []
        return dict(item.split("=", 1) for item in env)

    def limits_of(self, runtime: Runtime, name: str) -> dict[str, int]:  # noqa: ARG002
        host = self._engine.api.inspect_container(name)["HostConfig"]
        return {key: host[key] for key in ("NanoCpus", "CpuShares", "Memory", "MemoryReservation")}

    def reaches(self, runtime: Runtime, made: Made, *, network: str, host: str) -> str | None:
        name = f"{network}-client-{len(made.containers)}"
        command = ("sh", "-c", f"timeout 5 wget -qO- http://{host}:{HTTP_PORT}/")
        spec = ContainerSpec(name=name, image=self.image, command=command, network=network)
        made.containers.append(name)
        runtime.create_container(spec)
        runtime.start_container(name)
        status = self._engine.api.wait(name, timeout=30)
        output = self._engine.api.logs(name, stdout=True, stderr=False).decode().strip()
        runtime.remove_container(name)
        return output if status.get("StatusCode") == 0 else None

    def say(self, runtime: Runtime, name: str, text: str, stream: str = "stdout") -> None:  # noqa: ARG002
        fd = 2 if stream == "stderr" else 1
        command = ["sh", "-c", f"echo '{text}' > /proc/1/fd/{fd}"]
        exec_id = self._engine.api.exec_create(name, command)["Id"]
        self._engine.api.exec_start(exec_id)

"""FakeRuntime passes the Runtime contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.conftest import TEST_IMAGE

from devarch_core.engine import ContainerSpec
from devarch_core.errors import EngineError
from devarch_core.spec import Healthcheck
from devarch_core.testing import FakeRuntime
from devarch_core.testing.contracts import Made, RuntimeContract

if TYPE_CHECKING:
    from devarch_core.ports import Runtime


class TestFakeRuntime(RuntimeContract):
    image = TEST_IMAGE

    @pytest.fixture
    def runtime(self) -> FakeRuntime:
        return FakeRuntime(images={TEST_IMAGE: "sha256:" + "ab" * 32})

    def environment_of(self, runtime: Runtime, name: str) -> dict[str, str]:
        assert isinstance(runtime, FakeRuntime)
        env = runtime.spec(name).environment
        return {k: v if isinstance(v, str) else v.reveal() for k, v in env.items()}

    def limits_of(self, runtime: Runtime, name: str) -> dict[str, int]:
        assert isinstance(runtime, FakeRuntime)
        res = runtime.spec(name).resources
        assert res.cpu_limit is not None
        assert res.cpu_reservation is not None
        return {
            "NanoCpus": int(res.cpu_limit * 1_000_000_000),
            "CpuShares": int(res.cpu_reservation * 1024),
            "Memory": res.memory_limit or 0,
            "MemoryReservation": res.memory_reservation or 0,
        }

    def reaches(self, runtime: Runtime, made: Made, *, network: str, host: str) -> str | None:
        assert isinstance(runtime, FakeRuntime)
        client = f"{network}-client-{len(made.containers)}"
        made.containers.append(client)
        runtime.create_container(self.spec(client, network, {}))
        runtime.start_container(client)
        target = runtime.resolve(client, host)
        if target is None:
            return None
        return f"hello-{runtime.spec(target).environment.get('HELLO')}"

    def say(self, runtime: Runtime, name: str, text: str, stream: str = "stdout") -> None:
        assert isinstance(runtime, FakeRuntime)
        runtime.write_log(name, text, "stderr" if stream == "stderr" else "stdout")


class TestFakeRuntimeControls:
    """What tests of code using the fake can rely on beyond the contract."""

    @pytest.fixture
    def fake(self) -> FakeRuntime:
        fake = FakeRuntime(images={TEST_IMAGE: "sha256:" + "ab" * 32})
        fake.ensure_network("net", {})
        return fake

    def test_set_health_overrides_a_running_check(self, fake):
        """set_health makes a container with a healthcheck report what the test wants."""
        check = Healthcheck(test=("CMD", "true"))
        fake.create_container(
            ContainerSpec(name="db", image=TEST_IMAGE, network="net", healthcheck=check)
        )
        assert fake.health("db") == "starting"
        fake.start_container("db")
        assert fake.health("db") == "healthy"
        fake.set_health("db", "unhealthy")
        assert fake.health("db") == "unhealthy"
        fake.set_health("db", None)
        assert fake.health("db") == "healthy"

    def test_fail_next_injects_one_engine_error(self, fake):
        """fail_next makes exactly the next matching call raise EngineError with the message."""
        fake.create_container(ContainerSpec(name="a", image=TEST_IMAGE, network="net"))
        fake.create_container(ContainerSpec(name="b", image=TEST_IMAGE, network="net"))
        fake.fail_next("start_container", "boom", target="b")
        fake.start_container("a")
        with pytest.raises(EngineError, match="boom"):
            fake.start_container("b")
        fake.start_container("b")
        assert fake.calls_to("start_container") == ["a", "b", "b"]

    def test_calls_are_recorded_in_order(self, fake):
        """Every call is logged as (operation, target)."""
        fake.inspect_container("x")
        fake.list_containers({"k": "v"})
        assert fake.calls[-2:] == [("inspect_container", "x"), ("list_containers", "k=v")]

    def test_pull_fetches_from_the_registry_with_a_digest(self):
        """An image the fake registry has is pulled, becomes local and gets a digest."""
        fake_reg = FakeRuntime(registry={"postgres:16": "sha256:" + "cd" * 32})
        assert fake_reg.inspect_image("postgres:16") is None
        pulled = fake_reg.pull_image("postgres:16")
        assert pulled.digest is not None
        assert fake_reg.inspect_image("postgres:16") == pulled

    def test_create_needs_a_local_image(self, fake):
        """Creating from an image that is not local fails like a real engine."""
        with pytest.raises(EngineError, match="No such image"):
            fake.create_container(ContainerSpec(name="x", image="postgres:16", network="net"))

    def test_resolve_follows_names_aliases_and_networks(self, fake):
        """Resolve finds running containers by name or alias on the same network only."""
        fake.ensure_network("other", {})
        fake.create_container(
            ContainerSpec(name="srv", image=TEST_IMAGE, network="net", aliases=("web",))
        )
        fake.create_container(ContainerSpec(name="cli", image=TEST_IMAGE, network="net"))
        fake.create_container(ContainerSpec(name="far", image=TEST_IMAGE, network="other"))
        for name in ("cli", "far"):
            fake.start_container(name)
        assert fake.resolve("cli", "web") is None  # not running yet
        fake.start_container("srv")
        assert fake.resolve("cli", "web") == "srv"
        assert fake.resolve("cli", "srv") == "srv"
        assert fake.resolve("far", "web") is None

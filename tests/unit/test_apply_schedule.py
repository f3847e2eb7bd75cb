"""Apply starts a dependent the moment its own dependencies are ready, not when a wave is."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.errors import ApplyError
from devarch_core.testing import FakeRuntime, fake_devarch

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.engine import ContainerInfo, ContainerSpec, EngineInfo

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"


class SlowBaseRuntime(FakeRuntime):
    """Creating ``slow`` blocks until ``fast-app`` has been created (or 10 s pass)."""

    def __init__(self, slow: str, fast_app: str, *, fail_slow: bool = False) -> None:
        super().__init__(images={IMAGE: "sha256:1"})
        self.slow, self.fast_app, self.fail_slow = slow, fast_app, fail_slow
        self.app_created = threading.Event()

    def create_container(self, spec: ContainerSpec) -> ContainerInfo:
        if spec.name == self.slow:
            self.app_created.wait(timeout=10)
            if self.fail_slow:
                raise ApplyError("the slow base failed", step="containers")
        info = super().create_container(spec)
        if spec.name == self.fast_app:
            self.app_created.set()
        return info


def _stack(runtime: FakeRuntime) -> Devarch:
    devarch = fake_devarch(load_catalog_dirs([EXAMPLES]), runtime=runtime, health_timeout=5)
    devarch.create_stack("sched")
    for base in ("base-a", "base-b"):
        devarch.add_instance("sched", base, "bb-cache")
    for app, base in (("app-a", "base-a"), ("app-b", "base-b")):
        devarch.add_instance("sched", app, "bb-cache")
        devarch.set_overrides("sched", app, {"depends_on": [base]})
    return devarch


def test_a_dependent_starts_before_an_unrelated_slow_instance_of_its_wave_is_done() -> None:
    """app-b (needs only base-b) is created while base-a (same wave as base-b) is still busy."""
    runtime = SlowBaseRuntime("devarch-sched-base-a", "devarch-sched-app-b")
    devarch = _stack(runtime)
    devarch.apply("sched")
    assert runtime.app_created.is_set()
    created = runtime.calls_to("create_container")
    assert created.index("devarch-sched-app-b") < created.index("devarch-sched-base-a")
    # Dependencies still come first: app-a after base-a, app-b after base-b started.
    assert created.index("devarch-sched-base-a") < created.index("devarch-sched-app-a")
    started = runtime.calls_to("start_container")
    assert started.index("devarch-sched-base-b") < started.index("devarch-sched-app-b")
    assert not devarch.plan("sched").has_changes


def test_a_failed_instance_keeps_its_dependents_from_starting_and_records_the_others() -> None:
    """base-a fails: app-a is never created; what converged meanwhile is recorded."""
    runtime = SlowBaseRuntime("devarch-sched-base-a", "devarch-sched-app-b", fail_slow=True)
    devarch = _stack(runtime)
    with pytest.raises(ApplyError, match="slow base failed"):
        devarch.apply("sched")
    created = runtime.calls_to("create_container")
    assert "devarch-sched-app-a" not in created
    assert "devarch-sched-app-b" in created
    plan = devarch.plan("sched")
    assert sorted(a.instance for a in plan.actions if a.action == "add") == ["app-a", "base-a"]


class WideEngine(FakeRuntime):
    """A fake engine with 4 CPUs whose create returns only once 16 creates are in flight."""

    def __init__(self) -> None:
        super().__init__(images={IMAGE: "sha256:1"})
        self.barrier = threading.Barrier(16, timeout=10)

    def info(self) -> EngineInfo:
        return attrs.evolve(super().info(), cpus=4)

    def create_container(self, spec: ContainerSpec) -> ContainerInfo:
        self.barrier.wait()  # BrokenBarrierError when fewer run at once
        return super().create_container(spec)


def test_apply_runs_four_creates_per_engine_cpu_at_once_by_default() -> None:
    """4 CPUs: 16 independent instances are all created at the same time (not 8)."""
    runtime = WideEngine()
    devarch = fake_devarch(load_catalog_dirs([EXAMPLES]), runtime=runtime)
    devarch.create_stack("wide")
    for i in range(16):
        devarch.add_instance("wide", f"c{i:02d}", "bb-cache")
    devarch.apply("wide")
    assert not runtime.barrier.broken
    assert len(runtime.calls_to("create_container")) == 16


def test_a_cold_apply_lists_containers_instead_of_inspecting_each() -> None:
    """Plan and converge of 6 new instances: no inspect per container, a listing instead."""
    runtime = FakeRuntime(images={IMAGE: "sha256:1"})
    devarch = fake_devarch(load_catalog_dirs([EXAMPLES]), runtime=runtime)
    devarch.create_stack("cold")
    for i in range(6):
        devarch.add_instance("cold", f"c{i}", "bb-cache")
    runtime.calls.clear()
    devarch.apply("cold")
    assert runtime.calls_to("inspect_container") == []
    assert len(runtime.calls_to("create_container")) == 6
    # A changed instance is recreated from the listing too (stop, remove, create).
    devarch.set_overrides("cold", "c0", {"environment": {"X": "1"}})
    runtime.calls.clear()
    devarch.apply("cold")
    assert runtime.calls_to("inspect_container") == []
    assert runtime.calls_to("remove_container") == ["devarch-cold-c0"]
    assert runtime.calls_to("create_container") == ["devarch-cold-c0"]


def test_a_foreign_container_with_the_name_is_still_a_plan_error() -> None:
    """The listing finds another owner's container of the same name, as the inspect did."""
    runtime = FakeRuntime(images={IMAGE: "sha256:1"})
    other = fake_devarch(load_catalog_dirs([EXAMPLES]), runtime=runtime)
    other.create_stack("same")
    other.add_instance("same", "c", "bb-cache")
    other.apply("same")
    mine = fake_devarch(load_catalog_dirs([EXAMPLES]), runtime=runtime)
    mine.create_stack("same")
    mine.add_instance("same", "c", "bb-cache")
    codes = [d.code for d in mine.plan("same").errors]
    assert "container-conflict" in codes

"""Teardown stops every container of a stack at once (a stop mostly waits on the engine)."""

from __future__ import annotations

import threading
from pathlib import Path

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.testing import FakeRuntime, fake_devarch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"
COUNT = 12  # more than the 8 creates/starts apply runs at once by default


class BarrierRuntime(FakeRuntime):
    """A fake engine whose stop returns only once ``COUNT`` stops are in flight together."""

    def __init__(self) -> None:
        super().__init__(images={IMAGE: "sha256:1"})
        self.barrier = threading.Barrier(COUNT, timeout=10)

    def stop_container(self, name: str, timeout: float | None = None) -> None:
        self.barrier.wait()  # BrokenBarrierError when the stops run in smaller batches
        super().stop_container(name, timeout)


def test_down_stops_every_container_of_the_stack_at_once() -> None:
    """With 12 containers, all 12 stops are in flight together (none waits for a batch)."""
    runtime = BarrierRuntime()
    devarch = fake_devarch(load_catalog_dirs([EXAMPLES]), runtime=runtime)
    devarch.create_stack("wide")
    for i in range(COUNT):
        devarch.add_instance("wide", f"cache{i:02d}", "bb-cache")
    devarch.apply("wide")
    assert devarch.down("wide") == COUNT
    assert runtime.list_containers({}) == []
    assert not runtime.barrier.broken

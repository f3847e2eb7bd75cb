"""A plan asks the engine for its info in the background while it reads the store (issue 13).

``docker info`` is among the engine's slowest answers; the plan no longer waits for it after the
store and catalog reads. The answer, the number of requests and the errors stay the same.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.catalog import Catalog
from devarch_core.errors import EngineError
from devarch_core.testing import FakeRuntime, InMemoryStore, fake_devarch

if TYPE_CHECKING:
    from devarch_core.engine import EngineInfo

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"


class SlowInfo(FakeRuntime):
    """A fake engine whose info answer waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__(images={IMAGE: "sha256:1"})
        self.release = threading.Event()
        self.asked = threading.Event()

    def info(self) -> EngineInfo:
        self.asked.set()
        assert self.release.wait(30)
        return super().info()


def test_a_plan_asks_the_info_once_and_in_the_background() -> None:
    """The info request is on its way before the catalog is read, and asked only once."""
    runtime = SlowInfo()
    loaded = load_catalog_dirs([EXAMPLES])
    store = InMemoryStore()
    setup = fake_devarch(loaded, store=store, runtime=FakeRuntime())
    setup.create_stack("shop")
    setup.add_instance("shop", "db", "bb-db")
    seen: list[bool] = []

    def load() -> Catalog:
        # Read by the plan before it uses the info: the request is already out by then.
        seen.append(runtime.asked.wait(10))
        return loaded

    devarch = fake_devarch(Catalog.deferred(load), store=store, runtime=runtime)
    result: list[object] = []
    planning = threading.Thread(target=lambda: result.append(devarch.plan("shop")))
    planning.start()
    assert runtime.asked.wait(30)
    runtime.release.set()
    planning.join(30)
    assert len(result) == 1
    assert seen == [True]
    assert runtime.calls_to("info") == [""]
    devarch.plan("shop")
    assert runtime.calls_to("info") == [""]  # kept for the facade's life, as before


def test_an_info_failure_is_raised_by_the_plan_as_before() -> None:
    """The background request's error is the plan's error, with the engine's message."""
    runtime = FakeRuntime(images={IMAGE: "sha256:1"})
    devarch = fake_devarch(load_catalog_dirs([EXAMPLES]), runtime=runtime)
    devarch.create_stack("shop")
    devarch.add_instance("shop", "db", "bb-db")
    runtime.fail_next("info", "the engine is unwell")
    with pytest.raises(EngineError, match="the engine is unwell"):
        devarch.plan("shop")
    assert devarch.plan("shop").stack == "shop"  # asked again after a failure

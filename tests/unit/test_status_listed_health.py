"""``status`` takes health from the container listing when the engine puts it there."""

from __future__ import annotations

from pathlib import Path

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.testing import FakeRuntime, fake_devarch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"


class ListingRuntime(FakeRuntime):
    """A fake engine that, like Docker, reports health in its container listing."""

    lists_health = True


def _status_calls(runtime: FakeRuntime) -> tuple[list[str], list[str]]:
    devarch = fake_devarch(load_catalog_dirs([EXAMPLES]), runtime=runtime)
    devarch.create_stack("st")
    for i in range(3):
        devarch.add_instance("st", f"cache{i}", "bb-cache")
    devarch.apply("st")
    runtime.calls.clear()
    rows = devarch.status("st")
    return [r.health for r in rows], runtime.calls_to("health")


def test_an_engine_that_lists_health_is_not_asked_per_container() -> None:
    """One listing, no health call per container, and the same health values."""
    health, calls = _status_calls(ListingRuntime(images={IMAGE: "sha256:1"}))
    assert calls == []
    assert health == ["healthy", "healthy", "healthy"]


def test_an_engine_that_does_not_list_health_is_asked_per_running_container() -> None:
    """Podman's listing has no health: each running container is asked."""
    health, calls = _status_calls(FakeRuntime(images={IMAGE: "sha256:1"}))
    assert sorted(calls) == [f"devarch-st-cache{i}" for i in range(3)]
    assert health == ["healthy", "healthy", "healthy"]

"""Behaviour kept by the helpers that replaced copied code (issue 12: no duplicates in the core).

Each test pins what the code did before it was folded into one helper: the fake runtime's
refusals, the resource checks' wording, the keyed override deltas' manifest form, the text
scalars of the field table, and the contract suites' ``race`` helper.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from devarch_core._parsing import Problems
from devarch_core.engine import ContainerSpec, Mount
from devarch_core.errors import EngineError
from devarch_core.fields import FIELDS
from devarch_core.overrides import ConfigFileOverride, PortOverride, VolumeOverride
from devarch_core.spec import Resources
from devarch_core.testing import FakeRuntime
from devarch_core.testing.contracts._threads import race


def _runtime_with_user() -> FakeRuntime:
    runtime = FakeRuntime(images={"img": "sha256:1"})
    runtime.ensure_network("net", {})
    runtime.ensure_volume("data", {})
    spec = ContainerSpec(
        name="c1",
        image="img",
        network="net",
        mounts=(Mount(type="volume", source="data", target="/d"),),
    )
    runtime.create_container(spec)
    return runtime


def test_fake_runtime_refuses_to_remove_a_network_a_running_container_uses() -> None:
    runtime = _runtime_with_user()
    runtime.start_container("c1")
    with pytest.raises(EngineError, match=r"network net has active endpoints \(c1\)$"):
        runtime.remove_network("net")
    assert [n.name for n in runtime.list_networks({})] == ["net"]
    assert runtime.remove_network("absent") is False
    runtime.stop_container("c1")
    assert runtime.remove_network("net") is True  # a stopped container does not hold it


def test_fake_runtime_refuses_to_remove_a_volume_any_container_uses() -> None:
    runtime = _runtime_with_user()
    with pytest.raises(EngineError, match=r"^remove data: volume is in use - \[c1\]$"):
        runtime.remove_volume("data")
    runtime.remove_container("c1")
    assert runtime.remove_volume("data") is True
    assert runtime.remove_volume("data") is False
    assert ("remove_volume", "data") in runtime.calls


def test_resource_problems_name_both_values_in_canonical_units() -> None:
    res = Resources(
        cpu_limit=Decimal("0.50"),
        cpu_reservation=Decimal(1),
        memory_limit=256 * 2**20,
        memory_reservation=2**30,
    )
    assert res.problems() == [
        "cpu_reservation 1 is above cpu_limit 0.5",
        "memory_reservation 1g is above memory_limit 256m",
    ]
    assert res.to_data() == {
        "cpu_limit": "0.5",
        "cpu_reservation": "1",
        "memory_limit": "256m",
        "memory_reservation": "1g",
    }
    assert Resources(memory_limit=2**30).problems() == []


def test_keyed_override_deltas_write_their_key_then_only_what_is_set() -> None:
    assert PortOverride(container=80, host=8080).to_data() == {
        "container": 80,
        "host": 8080,
    }
    assert PortOverride(container=80, host=8080, remove=True).to_data() == {
        "container": 80,
        "remove": True,
    }
    assert VolumeOverride(target="/d", read_only=False).to_data() == {
        "target": "/d",
        "read_only": False,
    }
    assert ConfigFileOverride(path="/e/x", content="", mode=0o600).to_data() == {
        "path": "/e/x",
        "content": "",
        "mode": "0600",
    }
    assert ConfigFileOverride(path="/e/x", mode=0o600, remove=True).to_data() == {
        "path": "/e/x",
        "remove": True,
    }


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("image", "an image reference"),
        ("working_dir", "a path"),
        ("user", "a user"),
        ("restart", "a restart policy"),
    ],
)
def test_text_scalars_say_what_they_expect(name: str, what: str) -> None:
    field = next(f for f in FIELDS if f.name == name)
    problems = Problems()
    assert field.parse({name: [1]}, "services.web", problems) is None
    assert [(p.path, p.message) for p in problems.items] == [
        (f"services.web.{name}", f"expected {what}, got a list")
    ]
    problems = Problems()
    assert field.parse_override({name: [1]}, "overrides", problems) == {name: None}
    assert [(p.path, p.message) for p in problems.items] == [
        (f"overrides.{name}", "expected a string, got a list")
    ]


def test_race_releases_every_attempt_together() -> None:
    seen: list[int] = []
    guard = threading.Lock()
    started = threading.Barrier(4, timeout=10)

    def attempt(index: int) -> None:
        started.wait()  # only passes when all four run at once
        with guard:
            seen.append(index)

    race(4, attempt)
    assert sorted(seen) == [0, 1, 2, 3]

"""Ownership in the core: label selectors, "is this mine", orphans and old networks.

doctor, the pytest plugin and apply call :mod:`devarch_core.ownership`; here it runs on the fake
engine with two stores (owners) side by side.
"""

from __future__ import annotations

from devarch_core import naming
from devarch_core.engine import ContainerSpec
from devarch_core.ownership import (
    Orphan,
    find_orphans,
    has_labels,
    is_owned,
    managed_selector,
    owned_by,
    stale_networks,
)
from devarch_core.testing import FakeRuntime

MINE = "owner-a"
THEIRS = "owner-b"


def _labels(owner: str, stack_id: str, **more: str) -> dict[str, str]:
    return {**owned_by(owner, stack_id), naming.LABEL_STACK_NAME: "shop", **more}


def test_selectors_and_is_owned() -> None:
    """The selectors are devarch's labels; is_owned needs the manager, the owner and the stack."""
    assert managed_selector() == {naming.LABEL_MANAGED_BY: naming.MANAGED_BY}
    assert owned_by(MINE) == {naming.LABEL_MANAGED_BY: naming.MANAGED_BY, naming.LABEL_OWNER: MINE}
    assert owned_by(MINE, "s1")[naming.LABEL_STACK_ID] == "s1"
    labels = _labels(MINE, "s1")
    assert is_owned(labels, MINE)
    assert is_owned(labels, MINE, "s1")
    assert not is_owned(labels, MINE, "s2")
    assert not is_owned(labels, THEIRS)
    assert not is_owned({naming.LABEL_OWNER: MINE}, MINE)  # not managed by devarch
    assert has_labels({"a": "1", "b": "2"}, {"a": "1"})
    assert not has_labels({"a": "1"}, {"a": "1", "b": "2"})


def test_orphans_of_this_owner_on_the_fake_engine() -> None:
    """Objects of unknown stacks or instances are orphans; another owner's never are."""
    runtime = FakeRuntime(images={"img": "sha256:1"})
    runtime.ensure_network("devarch-shop-net", _labels(MINE, "s1"))
    runtime.ensure_network("devarch-shop-old", _labels(MINE, "s1"))  # renamed since
    runtime.ensure_network("devarch-gone-net", _labels(MINE, "s9"))
    runtime.ensure_network("devarch-theirs-net", _labels(THEIRS, "s9"))
    runtime.ensure_volume("devarch-gone-db-data", _labels(MINE, "s9"))
    runtime.ensure_volume("devarch-shop-db-data", _labels(MINE, "s1"))
    for name, owner, stack_id, instance_id in (
        ("devarch-shop-db", MINE, "s1", "i1"),
        ("devarch-shop-old", MINE, "s1", "i-removed"),
        ("devarch-gone-db", MINE, "s9", "i9"),
        ("devarch-theirs-db", THEIRS, "s9", "i9"),
    ):
        labels = _labels(owner, stack_id, **{naming.LABEL_INSTANCE_ID: instance_id})
        runtime.create_container(
            ContainerSpec(name=name, image="img", labels=labels, network="devarch-shop-net")
        )
    mine = owned_by(MINE)
    found = find_orphans(
        containers=runtime.list_containers(mine),
        networks=runtime.list_networks(mine),
        volumes=runtime.list_volumes(mine),
        network_of={"s1": "devarch-shop-net"},
        instance_ids={"i1"},
    )
    assert sorted(map(str, found)) == [
        "container devarch-gone-db",
        "container devarch-shop-old",
        "network devarch-gone-net",
        "network devarch-shop-old (stack shop now uses devarch-shop-net)",
        "volume devarch-gone-db-data",
    ]
    assert Orphan(kind="volume", name="devarch-gone-db-data") in found
    stale = stale_networks(runtime.list_networks(mine), {"s1": "devarch-shop-net"})
    assert [n.name for n in stale] == ["devarch-shop-old"]

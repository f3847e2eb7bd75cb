"""Ownership: which engine objects are devarch's, which are this store's, which are orphans.

devarch lists, stops, removes or adopts only objects that carry its labels **and** its owner (the
store's identity), so two stores on one engine never touch each other. The label selectors and
the orphan rules are here once; apply, doctor and the pytest plugin call them.
See docs/architecture.md#naming.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from attrs import frozen

from devarch_core import naming

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from devarch_core.engine import ContainerInfo, NetworkInfo, VolumeInfo

__all__ = [
    "Orphan",
    "find_orphans",
    "has_labels",
    "is_owned",
    "managed_selector",
    "owned_by",
    "stale_networks",
]


def managed_selector() -> dict[str, str]:
    """The label selector of every object devarch manages, of any owner."""
    return {naming.LABEL_MANAGED_BY: naming.MANAGED_BY}


def owned_by(owner: str, stack_id: str | None = None) -> dict[str, str]:
    """The labels that select what this store created (on one stack, when ``stack_id`` is given)."""
    labels = {**managed_selector(), naming.LABEL_OWNER: owner}
    if stack_id is not None:
        labels[naming.LABEL_STACK_ID] = stack_id
    return labels


def has_labels(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Whether an object's labels carry every label of a selector, as an engine filter would."""
    return all(labels.get(key) == value for key, value in selector.items())


def is_owned(labels: Mapping[str, str], owner: str, stack_id: str | None = None) -> bool:
    """Whether an object with these labels is this store's (and this stack's, when given)."""
    return has_labels(labels, owned_by(owner, stack_id))


@frozen(kw_only=True)
class Orphan:
    """An object of this store that belongs to no stack or instance, or a stack's old network."""

    kind: Literal["container", "network", "volume"]
    name: str
    #: For a stack's old network: ``stack NAME now uses NETWORK``; else empty.
    note: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" + (f" ({self.note})" if self.note else "")


def stale_networks(
    networks: Iterable[NetworkInfo], network_of: Mapping[str, str]
) -> list[NetworkInfo]:
    """Networks of a known stack that are not the stack's network now (it was renamed).

    ``network_of`` maps a stack id to its current network name. Such a network stays until the
    next apply or down removes it.
    """
    return [
        n
        for n in networks
        if (sid := n.labels.get(naming.LABEL_STACK_ID, "")) in network_of
        and n.name != network_of[sid]
    ]


def find_orphans(
    *,
    containers: Iterable[ContainerInfo],
    networks: Iterable[NetworkInfo],
    volumes: Iterable[VolumeInfo],
    network_of: Mapping[str, str],
    instance_ids: Collection[str],
) -> list[Orphan]:
    """Find the objects of this store that belong to no stack or instance, and old networks.

    The objects must already be selected with :func:`owned_by` (this owner only): an object of
    another store is never an orphan of this one. ``network_of`` maps every stack id of the store
    to its network name; ``instance_ids`` holds every instance id of the store.
    """
    networks = list(networks)
    stack_ids = set(network_of)
    found = [
        Orphan(kind="container", name=c.name)
        for c in containers
        if c.labels.get(naming.LABEL_STACK_ID) not in stack_ids
        or c.labels.get(naming.LABEL_INSTANCE_ID) not in instance_ids
    ]
    found += [
        Orphan(kind="network", name=n.name)
        for n in networks
        if n.labels.get(naming.LABEL_STACK_ID) not in stack_ids
    ]
    found += [
        Orphan(
            kind="network",
            name=n.name,
            note=(
                f"stack {n.labels.get(naming.LABEL_STACK_NAME, '?')} now uses "
                f"{network_of[n.labels[naming.LABEL_STACK_ID]]}"
            ),
        )
        for n in stale_networks(networks, network_of)
    ]
    found += [
        Orphan(kind="volume", name=v.name)
        for v in volumes
        if v.labels.get(naming.LABEL_STACK_ID) not in stack_ids
    ]
    return found

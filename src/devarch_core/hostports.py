"""Host port allocation: sticky, store-wide unique, checked against the host at plan time.

See docs/architecture.md#naming.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from attrs import frozen

from devarch_core.model import PortAllocation
from devarch_core.planning import PlanDiagnostic
from devarch_core.spec import DEFAULT_HOST_IP, PortSpec

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from devarch_core.ports import PortProbe

__all__ = ["PortRequest", "PortResolution", "allocate_ports", "holder_command", "pin_conflicts"]

DEFAULT_RANGE = (20000, 29999)


@frozen(kw_only=True)
class PortRequest:
    """One published container port of an enabled instance."""

    stack: str
    instance: str
    instance_id: str
    key: str
    container_port: int
    protocol: str
    host_ip: str
    #: A host port the user pinned, else None (devarch allocates).
    pinned: int | None = None

    @classmethod
    def of_port(cls, port: PortSpec, *, stack: str, instance: str, instance_id: str) -> PortRequest:
        """The request of an effective published port (pinned when it names a host port)."""
        return cls(
            stack=stack,
            instance=instance,
            instance_id=instance_id,
            key=port.key,
            container_port=port.container,
            protocol=port.protocol,
            host_ip=port.host_ip,
            pinned=port.host,
        )

    @classmethod
    def of_pin(
        cls,
        key: str,
        host: int,
        *,
        host_ip: str | None = None,
        stack: str,
        instance: str,
        instance_id: str,
    ) -> PortRequest:
        """The request of a host port recorded for a container port (``5432/tcp`` -> ``host``).

        ``key`` is a container port as ``pins.ports`` and lockfiles write it (``5432/tcp``,
        ``53/udp``; a bare number is tcp); ``host_ip`` defaults to 127.0.0.1.
        """
        number, _, proto = key.partition("/")
        port = PortSpec(
            container=int(number),
            protocol="udp" if proto == "udp" else "tcp",
            host=host,
            host_ip=host_ip or DEFAULT_HOST_IP,
        )
        return cls.of_port(port, stack=stack, instance=instance, instance_id=instance_id)

    def allocation(self, host_port: int | None = None) -> PortAllocation:
        """The allocation that satisfies this request with ``host_port`` (default: its pin)."""
        host_port = self.pinned if host_port is None else host_port
        if host_port is None:
            msg = f"no host port for {self.stack}/{self.instance} {self.key}"
            raise ValueError(msg)
        return PortAllocation(
            stack=self.stack,
            instance=self.instance,
            container_port=self.container_port,
            protocol=self.protocol,
            host_port=host_port,
            host_ip=self.host_ip,
        )


@frozen(kw_only=True)
class PortResolution:
    """Chosen host ports per instance id and key, the ones that are new, and problems found."""

    chosen: Mapping[str, Mapping[str, PortAllocation]]
    new: tuple[tuple[str, PortAllocation], ...]
    diagnostics: tuple[PlanDiagnostic, ...]


def holder_command(port: int, protocol: str = "tcp") -> str:
    """The shell command that shows which process holds ``port`` (listening sockets only)."""
    flags = "-lunp" if protocol == "udp" else "-ltnp"
    return f"ss {flags} 'sport = :{port}'"


def _owner(alloc: PortAllocation) -> str:
    return f"{alloc.stack}/{alloc.instance}"


def _request_order(req: PortRequest) -> tuple[str, str, int, str]:
    return (req.stack, req.instance, req.container_port, req.protocol)


def _taken(
    existing: Iterable[tuple[str, PortAllocation]],
) -> dict[tuple[int, str], tuple[str, PortAllocation]]:
    return {
        (alloc.host_port, alloc.protocol): (instance_id, alloc) for instance_id, alloc in existing
    }


def _clash(
    req: PortRequest,
    port: int,
    taken: Mapping[tuple[int, str], tuple[str, PortAllocation]],
    claimed: Mapping[tuple[int, str], PortRequest],
) -> str | None:
    """Why ``req`` cannot have host ``port`` (another owner holds or wants it), else None.

    The one rule for host port clashes: the plan (:func:`allocate_ports`) and every write of a
    pin (:func:`pin_conflicts`) use it.
    """
    holder = taken.get((port, req.protocol))
    if holder is not None and holder[0] != req.instance_id:
        return (
            f"host port {port}/{req.protocol} wanted by {req.stack}/{req.instance} "
            f"is already allocated to {_owner(holder[1])}; pin another port with "
            f"`devarch instance set {req.stack} {req.instance} port=HOST:{req.container_port}`"
        )
    other = claimed.get((port, req.protocol))
    if other is None:
        return None
    if other.instance_id == req.instance_id:
        return (
            f"host port {port}/{req.protocol} is pinned twice by {req.stack}/{req.instance} "
            f"(container ports {other.key} and {req.key}); "
            "one host port publishes one container port"
        )
    return (
        f"host port {port}/{req.protocol} is wanted by both "
        f"{other.stack}/{other.instance} and {req.stack}/{req.instance}"
    )


def pin_conflicts(
    requests: Sequence[PortRequest], existing: Iterable[tuple[str, PortAllocation]]
) -> list[tuple[PortRequest, str]]:
    """The pinned requests that clash with ``existing`` or with each other, and why.

    Used when pins are written (import, instance add/set, stack clone), with the same rule the
    plan applies; requests without a pin are ignored.
    """
    taken = _taken(existing)
    claimed: dict[tuple[int, str], PortRequest] = {}
    found = []
    for req in sorted(requests, key=_request_order):
        if req.pinned is None:
            continue
        clash = _clash(req, req.pinned, taken, claimed)
        if clash is not None:
            found.append((req, clash))
            continue
        claimed[(req.pinned, req.protocol)] = req
    return found


def allocate_ports(  # noqa: C901 - the rules read best in one place
    requests: Sequence[PortRequest],
    existing: Iterable[tuple[str, PortAllocation]],
    *,
    probe: PortProbe | None,
    own_bound: Iterable[tuple[str, int]] = (),
    port_range: tuple[int, int] = DEFAULT_RANGE,
) -> PortResolution:
    """Choose a host port for every request.

    ``existing`` holds every allocation in the store as ``(instance_id, allocation)``. A request
    keeps its instance's earlier allocation (sticky); a pinned port wanted by another instance, or
    bound by another process (``probe``), is an error naming both owners. ``own_bound`` lists host
    ports that this stack's own running containers publish (the probe sees them as busy).
    """
    by_instance: dict[tuple[str, str], PortAllocation] = {}
    taken: dict[tuple[int, str], tuple[str, PortAllocation]] = {}
    for instance_id, alloc in existing:
        by_instance[(instance_id, alloc.key)] = alloc
        taken[(alloc.host_port, alloc.protocol)] = (instance_id, alloc)
    own = {port for _, port in own_bound}
    chosen: dict[str, dict[str, PortAllocation]] = {}
    new: list[tuple[str, PortAllocation]] = []
    diagnostics: list[PlanDiagnostic] = []
    claimed: dict[tuple[int, str], PortRequest] = {}

    def busy_elsewhere(req: PortRequest, port: int) -> bool:
        return (
            port not in own
            and probe is not None
            and not probe.is_free(req.host_ip, port, req.protocol)
        )

    def keep(req: PortRequest, port: int) -> None:
        # A port that cannot be used now stays the instance's in the plan (the error blocks
        # apply): the instance is still planned, never silently left out of the adds.
        chosen.setdefault(req.instance_id, {})[req.key] = req.allocation(port)

    pending = []
    for req in sorted(requests, key=_request_order):
        previous = by_instance.get((req.instance_id, req.key))
        port = req.pinned if req.pinned is not None else (previous.host_port if previous else None)
        if port is None:
            pending.append(req)
            continue
        clash = _clash(req, port, taken, claimed)
        if clash is not None:
            diagnostics.append(
                PlanDiagnostic(
                    severity="error", code="port-conflict", instance=req.instance, message=clash
                )
            )
            keep(req, port)
            continue
        if busy_elsewhere(req, port):
            diagnostics.append(
                PlanDiagnostic(
                    severity="error",
                    code="port-in-use",
                    instance=req.instance,
                    message=(
                        f"host port {req.host_ip}:{port}/{req.protocol} "
                        f"for {req.stack}/{req.instance} "
                        "is already bound by another process; stop it "
                        f"(`{holder_command(port, req.protocol)}` shows it) or pin another port"
                    ),
                )
            )
            keep(req, port)
            continue
        claimed[(port, req.protocol)] = req
        alloc = req.allocation(port)
        chosen.setdefault(req.instance_id, {})[req.key] = alloc
        if previous is None or previous.host_port != port or previous.instance != req.instance:
            new.append((req.instance_id, alloc))
    candidate = port_range[0]
    for req in pending:
        while candidate <= port_range[1] and (
            (candidate, req.protocol) in taken
            or (candidate, req.protocol) in claimed
            or busy_elsewhere(req, candidate)
        ):
            candidate += 1
        if candidate > port_range[1]:
            diagnostics.append(
                PlanDiagnostic(
                    severity="error",
                    code="port-range-exhausted",
                    instance=req.instance,
                    message=f"no free host port left in {port_range[0]}-{port_range[1]} "
                    f"for {req.stack}/{req.instance} {req.key}",
                )
            )
            continue
        claimed[(candidate, req.protocol)] = req
        alloc = req.allocation(candidate)
        chosen.setdefault(req.instance_id, {})[req.key] = alloc
        new.append((req.instance_id, alloc))
        candidate += 1
    return PortResolution(chosen=chosen, new=tuple(new), diagnostics=tuple(diagnostics))

"""Port assignments as people type them, and published ports as people read them.

One reading of ``port=`` assignments for every caller (the CLI's ``instance set``, later a web
form): the Compose forms go through the same parser as a devarch.yml ``ports:`` entry, so the two
can never read the same text differently. And one way to show a published port,
``127.0.0.1:20001->5432/tcp``, for status, doctor and the pytest plugin.
See docs/architecture.md#naming.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from attrs import frozen

from devarch_core._parsing import Problems
from devarch_core.errors import Problem
from devarch_core.spec import parse_port

if TYPE_CHECKING:
    from devarch_core.engine import PublishedPort

__all__ = [
    "PORT_FORMS",
    "PORT_SWITCHES",
    "HostPort",
    "format_published",
    "parse_port_assignment",
    "parse_published",
]

PORT_SWITCHES = ("off", "on", "remove")
PORT_FORMS = "[[IP:]HOST:]CONTAINER[/PROTO] or CONTAINER[/PROTO]:off|on|remove"
_PUBLISHED = re.compile(r"^(?P<ip>.*):(?P<host>\d+)->(?P<container>\d+)/(?P<proto>tcp|udp)$")


@frozen(kw_only=True)
class HostPort:
    """A published port read back from :func:`format_published` text, with numbers as numbers."""

    host_ip: str
    host_port: int
    container: int
    protocol: str


def parse_port_assignment(value: str, where: str, problems: list[Problem]) -> dict[str, Any] | None:
    """Read a port assignment in Compose's order into a manifest-form port override.

    ``15432:5432`` pins host port 15432 to container port 5432, ``127.0.0.1:15432:5432`` also
    the host IP, ``5432`` or ``53/udp`` alone publishes on an automatic host port; a container
    port followed by ``:off``, ``:on`` or ``:remove`` switches publishing or drops the port.
    Problems are appended (with ``where`` as their path) and None returned.
    """
    head, sep, switch = value.rpartition(":")
    if sep and switch in PORT_SWITCHES:
        number, _, proto = head.partition("/")
        if not number.isdigit():
            problems.append(
                Problem(where, f"{value!r}: expected CONTAINER[/PROTO]:{switch} ({PORT_FORMS})")
            )
            return None
        delta: dict[str, Any] = {"container": int(number)}
        if proto:
            delta["protocol"] = proto
        if switch == "remove":
            delta["remove"] = True
        else:
            delta["publish"] = switch == "on"
        return delta
    found = Problems()
    spec = parse_port(value, where, found, keep_host=True)
    if spec is None or found.items:
        problems.extend(
            Problem(p.path, f"{value!r}: {p.message} (expected {PORT_FORMS})")
            for p in found.items or [Problem(where, "not a port")]
        )
        return None
    delta = {"container": spec.container}
    if spec.protocol != "tcp":
        delta["protocol"] = spec.protocol
    if spec.host is not None:
        delta["host"] = spec.host
    if value.partition("/")[0].count(":") >= 2:  # noqa: PLR2004 - IP:HOST:CONTAINER names the IP
        delta["host_ip"] = spec.host_ip
    return delta


def format_published(port: PublishedPort) -> str:
    """``127.0.0.1:20001->5432/tcp``: where a container port is published on the host."""
    return f"{port.host_ip}:{port.host_port}->{port.container}/{port.protocol}"


def parse_published(text: str) -> HostPort:
    """Read ``127.0.0.1:20001->5432/tcp`` (``ValueError`` when it is not that form)."""
    match = _PUBLISHED.match(text)
    if match is None:
        msg = f"not a published port (IP:HOST->CONTAINER/PROTO): {text!r}"
        raise ValueError(msg)
    return HostPort(
        host_ip=match["ip"],
        host_port=int(match["host"]),
        container=int(match["container"]),
        protocol=match["proto"],
    )

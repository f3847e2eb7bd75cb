"""Port assignments (``port=`` in the CLI) and published-port text, in the core."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devarch_core.engine import PublishedPort
from devarch_core.portspec import format_published, parse_port_assignment, parse_published

if TYPE_CHECKING:
    from devarch_core.errors import Problem


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("5432", {"container": 5432}),
        ("53/udp", {"container": 53, "protocol": "udp"}),
        ("15432:5432", {"container": 5432, "host": 15432}),
        ("127.0.0.1:15432:5432", {"container": 5432, "host": 15432, "host_ip": "127.0.0.1"}),
        ("5432:off", {"container": 5432, "publish": False}),
        ("53/udp:on", {"container": 53, "protocol": "udp", "publish": True}),
        ("5432:remove", {"container": 5432, "remove": True}),
    ],
)
def test_assignment_forms(text: str, delta: dict[str, object]) -> None:
    """Every form the CLI documents reads into the manifest's port override."""
    problems: list[Problem] = []
    assert parse_port_assignment(text, "instances.web.ports[0]", problems) == delta
    assert problems == []


@pytest.mark.parametrize("text", ["x:off", "http", "1:2:3:4", "99999"])
def test_bad_assignments_name_the_place_and_the_forms(text: str) -> None:
    """A bad assignment is a problem at ``where`` quoting the value and the expected forms."""
    problems: list[Problem] = []
    assert parse_port_assignment(text, "port", problems) is None
    assert problems
    assert all(p.path.startswith("port") and repr(text) in p.message for p in problems)
    assert all("CONTAINER" in p.message for p in problems)


def test_published_text_round_trips() -> None:
    """``127.0.0.1:20001->5432/tcp`` is how status shows a port; it reads back to numbers."""
    port = PublishedPort(container=5432, host_port=20001)
    text = format_published(port)
    assert text == "127.0.0.1:20001->5432/tcp"
    back = parse_published(text)
    assert (back.host_ip, back.host_port, back.container, back.protocol) == (
        "127.0.0.1",
        20001,
        5432,
        "tcp",
    )
    assert parse_published("[::1]:5353->53/udp").host_ip == "[::1]"
    with pytest.raises(ValueError, match="not a published port"):
        parse_published("5432/tcp")

"""``PortRequest.of_pin`` and ``allocation()``: one way from a recorded host port to an allocation.

A recorded host port is a ``pins.ports`` entry, a lockfile's port or a pinned override.
"""

from __future__ import annotations

import pytest

from devarch_core.hostports import PortRequest
from devarch_core.model import PortAllocation
from devarch_core.spec import PortSpec

WHERE = {"stack": "shop", "instance": "db", "instance_id": "i-1"}


def test_of_pin_is_the_request_of_the_same_pinned_port() -> None:
    pin = PortRequest.of_pin("5432/tcp", 20001, **WHERE)
    port = PortSpec(container=5432, host=20001)
    assert pin == PortRequest.of_port(port, **WHERE)
    assert (pin.key, pin.container_port, pin.protocol, pin.host_ip, pin.pinned) == (
        "5432/tcp",
        5432,
        "tcp",
        "127.0.0.1",
        20001,
    )


def test_of_pin_reads_udp_a_bare_number_and_a_host_ip() -> None:
    assert PortRequest.of_pin("53/udp", 20053, **WHERE).key == "53/udp"
    assert PortRequest.of_pin("80", 20080, **WHERE).key == "80/tcp"
    assert PortRequest.of_pin("80/tcp", 1, host_ip="0.0.0.0", **WHERE).host_ip == "0.0.0.0"  # noqa: S104
    assert PortRequest.of_pin("80/tcp", 1, host_ip=None, **WHERE).host_ip == "127.0.0.1"


def test_allocation_defaults_to_the_pin_and_refuses_an_unpinned_request() -> None:
    pin = PortRequest.of_pin("5432/tcp", 20001, **WHERE)
    expected = PortAllocation(
        stack="shop", instance="db", container_port=5432, protocol="tcp", host_port=20001
    )
    assert pin.allocation() == expected
    assert pin.allocation(20002).host_port == 20002
    unpinned = PortRequest.of_port(PortSpec(container=5432), **WHERE)
    with pytest.raises(ValueError, match="no host port for shop/db 5432/tcp"):
        unpinned.allocation()

"""The host-port probe: TIME-WAIT leftovers do not make a port taken, a listener does."""

from __future__ import annotations

import socket

import pytest

from devarch_adapters.probe import SocketPortProbe


def _time_wait_port() -> int:
    """A loopback port whose only socket left is in TIME-WAIT (the server side closed first).

    The listener sets ``SO_REUSEADDR`` as the engine's port forwarder does (docker-proxy is a Go
    program, and Go sets it on every listener); the TIME-WAIT socket inherits it.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = int(listener.getsockname()[1])
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the side that closes first keeps TIME-WAIT on the listening port
    client.recv(1)
    client.close()
    listener.close()
    return port


def test_a_port_left_in_time_wait_is_free() -> None:
    """After a connection to a published port, only TIME-WAIT remains: the engine can bind it."""
    port = _time_wait_port()
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with plain, pytest.raises(OSError, match="in use"):
        plain.bind(("127.0.0.1", port))  # a bind without SO_REUSEADDR is refused here
    assert SocketPortProbe().is_free("127.0.0.1", port, "tcp")


def test_a_listening_port_is_taken() -> None:
    """SO_REUSEADDR does not let the probe bind over a live listener."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])
        assert not SocketPortProbe().is_free("127.0.0.1", port, "tcp")
        assert not SocketPortProbe().is_free("0.0.0.0", port, "tcp")  # noqa: S104


def test_a_bound_udp_port_is_taken() -> None:
    """UDP is probed without SO_REUSEADDR, so a bound UDP socket makes the port taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        assert not SocketPortProbe().is_free("127.0.0.1", port, "udp")

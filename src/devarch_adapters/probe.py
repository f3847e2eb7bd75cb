"""Asks the host whether a port is free, by trying to bind it."""

from __future__ import annotations

import socket

from devarch_core.errors import ValidationError
from devarch_core.validators import check_host_ip

__all__ = ["SocketPortProbe"]


class SocketPortProbe:
    """A PortProbe that binds the address briefly (no connection is made).

    TCP binds with ``SO_REUSEADDR``, as the engine's port forwarder (``docker-proxy``,
    ``rootlessport``, conmon) does: connections left in ``TIME-WAIT`` after a container that
    published the port went away do not stop the engine from binding it, so they must not make
    the port look taken either. A socket that *listens* on the port still fails the bind.
    UDP binds without it: there ``SO_REUSEADDR`` would let two live sockets share the port.
    """

    def is_free(self, host_ip: str, port: int, protocol: str = "tcp") -> bool:
        """True if ``host_ip:port`` can be bound now."""
        # An IP literal only: a host name would be resolved through DNS on every probe. Stored
        # values are checked when written; this guards data written before that check existed.
        if host_ip:
            try:
                host_ip = check_host_ip(host_ip)
            except ValueError as exc:
                raise ValidationError(str(exc), what="invalid host ip") from None
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
        with socket.socket(family, kind) as sock:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host_ip or "0.0.0.0", port))  # noqa: S104 - "" means all interfaces, as an engine would bind
            except OSError:
                return False
        return True

"""A stack's status as table rows: the CLI's ``status`` table and the notebook's tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from devarch_core.usecases.apply import InstanceStatus

__all__ = ["STATUS_HEADERS", "status_rows"]

#: The columns of :func:`status_rows`.
STATUS_HEADERS = ("instance", "container", "state", "health", "ports")


def status_rows(statuses: Sequence[InstanceStatus]) -> list[tuple[str, str, str, str, str]]:
    """One row per instance: a disabled instance says so in its state, no ports show as ``-``.

    An orphan's state (``orphan ...``) is shown as it is: it has no instance to be disabled.
    """
    return [
        (
            s.instance,
            s.container,
            s.state if s.enabled or s.state.startswith("orphan") else f"{s.state} (disabled)",
            s.health,
            ", ".join(s.ports) or "-",
        )
        for s in statuses
    ]

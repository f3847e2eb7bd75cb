"""What ``Devarch.status()`` returns: a list of :class:`InstanceStatus` rows that notebooks show.

:class:`StatusReport` is a plain ``list`` (indexing, iteration, ``len`` and ``==`` with a list
behave as before) that also knows its stack and renders as a table in Jupyter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from devarch_core.usecases.apply import InstanceStatus

__all__ = ["StatusReport"]


class StatusReport(list["InstanceStatus"]):
    """Each instance's container state, health and host ports, in the stack's instance order."""

    def __init__(self, rows: Iterable[InstanceStatus] = (), *, stack: str | None = None) -> None:
        super().__init__(rows)
        #: The stack these rows describe (None when built by hand).
        self.stack = stack

    def instance(self, name: str) -> InstanceStatus:
        """The row of one instance; ``KeyError`` naming it if the stack has none by that name."""
        for row in self:
            if row.instance == name:
                return row
        raise KeyError(name)

    def _repr_html_(self) -> str:
        from devarch_core._notebook import status_html  # noqa: PLC0415 - loaded when displayed

        return status_html(self, self.stack)

    def _repr_markdown_(self) -> str:
        from devarch_core._notebook import status_markdown  # noqa: PLC0415 - loaded when displayed

        return status_markdown(self, self.stack)

"""devarch adapters: SQLite, PostgreSQL, Docker, Podman, filesystem, the CLI and the pytest plugin.

``connect()`` is the composition root: it builds a ready :class:`devarch_core.Devarch` from
arguments and ``DEVARCH_*`` variables. It is loaded on first use, so importing this package (as
pytest does for the plugin) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devarch_adapters.bootstrap import Settings, connect

__all__ = ["Settings", "connect"]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - lazy re-exports of the composition root
    if name in __all__:
        from devarch_adapters import bootstrap  # noqa: PLC0415

        return getattr(bootstrap, name)
    msg = f"module 'devarch_adapters' has no attribute {name!r}"
    raise AttributeError(msg)

"""devarch adapters: SQLite, PostgreSQL, Docker, Podman, filesystem and the CLI."""

from devarch_adapters.bootstrap import Settings, connect

__all__ = ["Settings", "connect"]

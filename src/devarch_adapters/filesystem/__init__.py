"""Filesystem adapters: catalog directories (and, later, config-file materialization, key file)."""

from devarch_adapters.filesystem.catalog_dirs import load_catalog_dirs

__all__ = ["load_catalog_dirs"]

"""User catalog directories: every ``*.yaml`` / ``*.yml`` file in a directory is one template."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devarch_core.catalog import Catalog, parse_template_text
from devarch_core.errors import Problem, TemplateError, ValidationError
from devarch_core.limits import MAX_FILE_BYTES

if TYPE_CHECKING:
    from collections.abc import MutableMapping, Sequence
    from pathlib import Path

    from devarch_core.template import Template

__all__ = ["load_catalog_dirs"]

_SUFFIXES = (".yaml", ".yml")


def load_catalog_dirs(
    paths: Sequence[Path], *, parsed: MutableMapping[str, Any] | None = None
) -> Catalog:
    """Read every template file in ``paths`` (sorted by name, not recursive) into one catalog.

    Later directories win over earlier ones on the same ``name@version`` (so
    ``builtin_catalog().merged(load_catalog_dirs(dirs))`` lets users override builtins). Within
    one directory, two files defining the same ``name@version`` differently are a
    ``ConflictError`` naming both. A missing directory, or a path that is not a directory, is a
    ``ValidationError`` naming it; an unreadable or invalid file is a ``TemplateError`` naming
    the file (and the line, for bad YAML). ``parsed``: parsed documents by the hash of their
    text (see :func:`devarch_core.catalog.parse_template_text`).
    """
    missing = [
        Problem(str(path), "is not a directory" if path.exists() else "does not exist")
        for path in paths
        if not path.is_dir()
    ]
    if missing:
        raise ValidationError(missing, what="catalog directory not usable")
    catalog = Catalog.empty()
    for directory in paths:
        files = sorted(p for p in directory.iterdir() if p.suffix in _SUFFIXES and p.is_file())
        catalog = catalog.merged(Catalog.from_templates(_load_file(path, parsed) for path in files))
    return catalog


def _load_file(path: Path, parsed: MutableMapping[str, Any] | None) -> Template:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # the parser refuses what is over the limit
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TemplateError(
            [Problem("", f"cannot be read: {reason}")], what=f"invalid template file {path}"
        ) from exc
    return parse_template_text(data, str(path), parsed=parsed)

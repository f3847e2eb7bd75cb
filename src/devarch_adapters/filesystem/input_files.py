"""Reading the files users hand to devarch (manifests, lockfiles, templates, compose files).

At most ``MAX_FILE_BYTES + 1`` bytes are read, so a huge file, ``/dev/zero`` or a FIFO fed
forever costs no more than the limit; the core's parsers refuse what is over it and decode the
bytes strictly as UTF-8 (docs/manifest.md, "Limits").
"""

from __future__ import annotations

from pathlib import Path

from devarch_core.errors import NotFoundError, ValidationError
from devarch_core.limits import MAX_FILE_BYTES

__all__ = ["read_input"]


def read_input(path: str | Path, what: str, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path`` (at most one byte over ``limit``, for the parser to refuse).

    A missing file is a ``NotFoundError``, any other failure to read a ``ValidationError``
    naming the file and the reason ("Is a directory", "Permission denied").
    """
    try:
        with Path(path).open("rb") as fh:
            return fh.read(limit + 1)
    except FileNotFoundError:
        raise NotFoundError(what, str(path)) from None
    except OSError as exc:
        raise ValidationError(
            f"cannot read {path}: {exc.strerror or exc}", what=f"unreadable {what}"
        ) from None

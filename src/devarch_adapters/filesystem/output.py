"""Files the user names on the command line (``-o FILE``): written whole, never through a link.

Every ``-o``/``--out``/``--lockfile`` write of the CLI goes through :func:`write_output`
(``export``, ``lock``, ``init --lockfile``, ``apply``'s lockfile refresh, ``compose``, ``plan
--out``, ``catalog import-compose --out``), so the rules are the same everywhere
(docs/secrets.md):

* the text goes to a fresh temporary file in the target's directory, created with ``O_EXCL``
  and ``O_NOFOLLOW`` and, for a private file, mode ``0600`` from the first byte; it is flushed to
  disk and then renamed over the target, so a reader sees the old file or the whole new one;
* a target that exists and is not a regular file (a symlink, a directory, a device node such as
  ``/dev/null``, a FIFO or a socket) is refused with a :class:`ValidationError` and left alone.
  The rename never follows a symlink either, should one appear between the check and the rename.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from devarch_core.errors import ValidationError

__all__ = ["check_output", "write_output"]

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse(path: Path, why: str) -> ValidationError:
    return ValidationError(f"{path}: {why}", what="cannot write the output file")


def _check(target: Path) -> None:
    try:
        info = target.lstat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _refuse(target, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise _refuse(
            target,
            f"exists and is {kind}; devarch writes only regular files (remove it or pick "
            "another path)",
        )


def check_output(path: str | os.PathLike[str]) -> None:
    """Refuse ``path`` now if :func:`write_output` would: before a long command writes it last."""
    _check(Path(path))


def write_output(path: str | os.PathLike[str], text: str, *, private: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; ``private`` files get mode ``0600``.

    Other files get ``0666`` less the umask, like any new file. Raises ``ValidationError`` when
    ``path`` exists and is not a regular file, or cannot be written (naming the path and why).
    """
    target = Path(path)
    _check(target)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o600 if private else 0o666)
    except OSError as exc:
        raise _refuse(target, f"cannot create a file in {tmp.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _refuse(target, exc.strerror or str(exc)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

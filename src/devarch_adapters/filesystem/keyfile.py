"""The secret key file: ``$DEVARCH_HOME/secret.key``, 32 random bytes, 0600 in a 0700 directory."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from devarch_core.errors import SecretError
from devarch_core.secrets import KEY_SIZE

__all__ = ["FileKeyProvider"]


class FileKeyProvider:
    """Loads (creating on first use) and atomically replaces the store's secret key."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load_key(self) -> bytes:
        """Return the key, created 0600 (directory 0700) if absent; ``SecretError`` if malformed."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return self._create()
        except OSError as exc:
            raise SecretError(f"cannot read the key file {self.path}: {exc.strerror}") from None
        if len(data) != KEY_SIZE:
            raise SecretError(
                f"the key file {self.path} holds {len(data)} bytes, not {KEY_SIZE}; "
                "restore it from a backup (secrets sealed with another key cannot be read)"
            )
        return data

    def _create(self) -> bytes:
        """Create the key file with all 32 bytes in it before it becomes visible under its name.

        The key is written to a private temporary file and hard-linked to ``secret.key``: the link
        is atomic and fails if the name exists, so processes racing on first use all end up with
        the one complete key (creating the file empty and then writing it let a racing reader see
        0 bytes and fail).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = os.urandom(KEY_SIZE)
        tmp = self._write_temporary(key)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return self.load_key()  # another process created it first: use theirs
        except OSError:
            # A filesystem without hard links: exclusive create, then write.
            return self._create_exclusive(key)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_directory(self.path.parent)
        return key

    def _create_exclusive(self, key: bytes) -> bytes:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.load_key()
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        return key

    def _write_temporary(self, key: bytes) -> Path:
        """Write ``key`` to a new 0600 file beside the key file (unique name) and sync it."""
        fd, name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        tmp = Path(name)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    def replace_key(self, key: bytes) -> None:
        """Write ``key`` to a temporary file (0600) and rename it over the old one."""
        if len(key) != KEY_SIZE:
            raise SecretError(f"a key must be {KEY_SIZE} bytes")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self._write_temporary(key)
        try:
            tmp.replace(self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_directory(self.path.parent)

    def permission_problems(self) -> list[str]:
        """List what is unsafe about the key file's and its directory's permissions (for doctor)."""
        problems = []
        if self.path.exists():
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                problems.append(f"{self.path} has mode {mode:04o}; run `chmod 600 {self.path}`")
        if self.path.parent.exists():
            mode = stat.S_IMODE(self.path.parent.stat().st_mode)
            if mode & 0o077:
                fix = f"chmod 700 {self.path.parent}"
                problems.append(f"{self.path.parent} has mode {mode:04o}; run `{fix}`")
        return problems


def _fsync_directory(path: Path) -> None:
    """Make a rename or link in ``path`` durable (best effort: not every platform allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

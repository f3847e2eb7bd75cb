"""The secret key file: ``$DEVARCH_HOME/secret.key``, 32 random bytes, 0600 in a 0700 directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from devarch_core.errors import SecretError
from devarch_core.secrets import KEY_SIZE

__all__ = ["FileKeyProvider"]


class FileKeyProvider:
    """Loads (creating on first use) and atomically replaces the store's secret key."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load_key(self) -> bytes:
        """The key; created with mode 0600 (directory 0700) if absent. ``SecretError`` if malformed."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return self._create()
        except OSError as exc:
            raise SecretError(f"cannot read the key file {self.path}: {exc.strerror}") from None
        if len(data) != KEY_SIZE:
            raise SecretError(
                f"the key file {self.path} holds {len(data)} bytes, not {KEY_SIZE}; restore it from a backup "
                "(secrets sealed with another key cannot be read)"
            )
        return data

    def _create(self) -> bytes:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = os.urandom(KEY_SIZE)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.load_key()  # another process created it first: use theirs
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key

    def replace_key(self, key: bytes) -> None:
        """Write ``key`` to a temporary file (0600) and rename it over the old one."""
        if len(key) != KEY_SIZE:
            raise SecretError(f"a key must be {KEY_SIZE} bytes")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(self.path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)

    def permission_problems(self) -> list[str]:
        """What is unsafe about the key file's and its directory's permissions (for doctor)."""
        problems = []
        if self.path.exists():
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                problems.append(f"{self.path} has mode {mode:04o}; run `chmod 600 {self.path}`")
        if self.path.parent.exists():
            mode = stat.S_IMODE(self.path.parent.stat().st_mode)
            if mode & 0o077:
                problems.append(f"{self.path.parent} has mode {mode:04o}; run `chmod 700 {self.path.parent}`")
        return problems

"""The secret key file: ``$DEVARCH_HOME/secret.key``, 32 random bytes, 0600 in a 0700 directory.

The rules (see docs/secrets.md, "The key file"): the key file must be a regular file of exactly
32 bytes, never a symbolic link, FIFO, device or directory; it is opened with ``O_NOFOLLOW`` and
``O_NONBLOCK`` and checked with ``fstat`` before a byte is read, and at most 33 bytes are read.
During a key rotation the next key waits in ``secret.key.next`` (same rules) until the store
has been re-sealed under it; ``secret.key.lock`` serializes rotations on this machine.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from devarch_core.errors import SecretError
from devarch_core.ports import KeySet
from devarch_core.secrets import KEY_SIZE

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["FileKeyProvider"]

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def _kind(mode: int) -> str:
    """Name a file type for an error message."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


_FIX = "the key file must be a regular file of exactly 32 bytes, mode 0600"


def read_key_file(path: Path) -> bytes | None:
    """Return the 32 bytes in ``path``, None if nothing is there; ``SecretError`` otherwise.

    Never follows a symbolic link (a dangling one included), never blocks on a FIFO, never reads
    more than 33 bytes: anything but a regular file of exactly 32 bytes is refused at once.
    """
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SecretError(f"cannot read the key file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(before.st_mode):
        # Refused before opening: opening a device can have side effects.
        hint = (
            "; replace the link by the file itself (`cp --remove-destination TARGET LINK`)"
            if stat.S_ISLNK(before.st_mode)
            else ""
        )
        raise SecretError(f"the key file {path} is {_kind(before.st_mode)}; {_FIX}{hint}")
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None  # removed in between (a rotation switched it): nothing there now
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise SecretError(f"the key file {path} is a symbolic link; {_FIX}") from None
        raise SecretError(f"cannot read the key file {path}: {exc.strerror}") from None
    try:
        data = _read_open_key(path, fd)
    except OSError as exc:
        raise SecretError(f"cannot read the key file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) != KEY_SIZE:
        held = f"more than {KEY_SIZE}" if len(data) > KEY_SIZE else str(len(data))
        raise SecretError(_size_message(path, held))
    return data


def _read_open_key(path: Path, fd: int) -> bytes:
    """Check with ``fstat`` that ``fd`` is a regular 32-byte file, then read at most 33 bytes."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise SecretError(f"the key file {path} is {_kind(info.st_mode)}; {_FIX}")
    if info.st_size != KEY_SIZE:
        raise SecretError(_size_message(path, str(info.st_size)))
    chunks: list[bytes] = []
    size = 0
    while size <= KEY_SIZE:
        chunk = os.read(fd, KEY_SIZE + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _size_message(path: Path, held: str) -> str:
    return (
        f"the key file {path} holds {held} bytes, not {KEY_SIZE}; "
        "restore it from a backup (secrets sealed with another key cannot be read)"
    )


class FileKeyProvider:
    """The :class:`~devarch_core.ports.KeyProvider` on ``secret.key`` (and ``secret.key.next``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.next_path = self.path.with_name(self.path.name + ".next")
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def location(self) -> str:
        """The key file's path, for messages."""
        return str(self.path)

    # -- reading ----------------------------------------------------------------------------------
    def read_keys(self) -> KeySet:
        """The current and the staged key; None for a file that is absent. Never creates one.

        The staged key is read first: a rotation that switches the files in between is then
        still seen with its new key under one of the two names.
        """
        staged = read_key_file(self.next_path)
        return KeySet(current=read_key_file(self.path), staged=staged)

    def load_key(self) -> bytes:
        """Return the current key, created 0600 (directory 0700) if absent; ``SecretError`` if bad.

        For standalone use; the facade decides itself whether a key may be created.
        """
        key = read_key_file(self.path)
        return key if key is not None else self.create_key()

    # -- creating -------------------------------------------------------------------------------
    def create_key(self) -> bytes:
        """Create the key file with all 32 bytes in it before it becomes visible under its name.

        The key is written to a private temporary file and hard-linked to ``secret.key``: the link
        is atomic, never follows a symlink and fails if the name exists, so processes racing on
        first use all end up with the one complete key. Returns the existing key if there is one.
        """
        existing = read_key_file(self.path)
        if existing is not None:
            return existing
        self._make_directory()
        key = os.urandom(KEY_SIZE)
        tmp = self._write_temporary(key, prefix=f".{self.path.name}.")
        try:
            os.link(tmp, self.path, follow_symlinks=False)
        except FileExistsError:
            return self._existing(self.path)  # another process created it first: use theirs
        except OSError:
            # A filesystem without hard links: exclusive create (O_EXCL never follows), then write.
            return self._create_exclusive(key)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_directory(self.path.parent)
        return key

    def _existing(self, path: Path) -> bytes:
        key = read_key_file(path)
        if key is None:
            raise SecretError(f"the key file {path} vanished while it was being created; retry")
        return key

    def _create_exclusive(self, key: bytes) -> bytes:
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self.path, flags, 0o600)
        except FileExistsError:
            return self._existing(self.path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        return key

    def _make_directory(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _write_temporary(self, key: bytes, *, prefix: str) -> Path:
        """Write ``key`` to a new 0600 file beside the key file (unique name) and sync it."""
        import tempfile  # noqa: PLC0415 - only when a key is written

        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=self.path.parent)
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

    # -- rotation ---------------------------------------------------------------------------------
    def stage_key(self, key: bytes) -> None:
        """Durably write ``key`` to ``secret.key.next`` (0600); refuse if that name is taken."""
        _check_size(key)
        self._make_directory()
        tmp = self._write_temporary(key, prefix=f".{self.next_path.name}.")
        try:
            os.link(tmp, self.next_path, follow_symlinks=False)
        except FileExistsError:
            raise SecretError(
                f"{self.next_path} already exists: another rotation is under way or was "
                "interrupted; run `devarch secret rotate-key --finish` first"
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_directory(self.path.parent)

    def promote_staged_key(self) -> None:
        """Atomically rename ``secret.key.next`` over ``secret.key`` (the old key is gone).

        Refuses (``SecretError``) when ``secret.key`` is not a regular file: a symlink would be
        replaced by a file and its target left on the old key.
        """
        if read_key_file(self.next_path) is None:
            return
        _refuse_non_regular(self.path)
        self.next_path.replace(self.path)
        _fsync_directory(self.path.parent)

    def discard_staged_key(self) -> None:
        """Remove ``secret.key.next`` (a rotation rolled back). Idempotent."""
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISREG(os.lstat(self.next_path).st_mode):
                raise SecretError(f"{self.next_path} is not a regular file; remove it yourself")
            self.next_path.unlink()
            _fsync_directory(self.path.parent)

    def _remove_stale_temporaries(self) -> None:
        """Remove staging files a crashed rotation left (only rotations write them, under lock)."""
        for leftover in self.path.parent.glob(f".{self.next_path.name}.*.tmp"):
            leftover.unlink(missing_ok=True)

    @contextmanager
    def rotation_lock(self, *, wait: bool = True) -> Iterator[bool]:
        """Hold ``secret.key.lock`` (an OS lock that dies with its holder); yield whether held.

        With ``wait=False`` it yields False at once when another process holds it.
        """
        self._make_directory()
        try:
            fd = os.open(
                self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            msg = f"cannot open the key lock {self.lock_path}: {exc.strerror}"
            raise SecretError(msg) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                # Only rotations write staging files, and only under this lock: any left now
                # are from a crashed one (they hold a key: do not leave them lying around).
                self._remove_stale_temporaries()
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def replace_key(self, key: bytes) -> None:
        """Write ``key`` to a temporary file (0600) and rename it over the old one.

        Refuses to replace anything but a regular file (a symlink, FIFO, device...).
        """
        _check_size(key)
        self._make_directory()
        _refuse_non_regular(self.path)
        tmp = self._write_temporary(key, prefix=f".{self.path.name}.")
        try:
            tmp.replace(self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_directory(self.path.parent)

    # -- doctor -----------------------------------------------------------------------------------
    def permission_problems(self) -> list[str]:
        """List what is unsafe about the key file's and its directory's permissions (for doctor)."""
        problems = []
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISREG(info.st_mode):
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                problems.append(f"{self.path} has mode {mode:04o}; run `chmod 600 {self.path}`")
        if self.path.parent.exists():
            mode = stat.S_IMODE(self.path.parent.stat().st_mode)
            if mode & 0o077:
                fix = f"chmod 700 {self.path.parent}"
                problems.append(f"{self.path.parent} has mode {mode:04o}; run `{fix}`")
        return problems


def _refuse_non_regular(path: Path) -> None:
    """``SecretError`` unless ``path`` is absent or a regular file.

    A rename would replace a symlink by a file and leave its target on the old key.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise SecretError(
            f"the key file {path} is {_kind(mode)}; devarch replaces only a regular file: "
            "put the key file itself in its place first"
        )


def _check_size(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise SecretError(f"a key must be {KEY_SIZE} bytes")


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

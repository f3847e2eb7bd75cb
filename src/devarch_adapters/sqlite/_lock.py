"""``FileStackLock``: one OS file lock (``flock``) per stack; dies with its process."""

from __future__ import annotations

import fcntl
import getpass
import os
import socket
import time
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from devarch_core.errors import StackLockedError, StoreError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["FileStackLock", "describe_process", "make_private_dir"]


def make_private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) and its parents if missing; safe when processes race.

    An existing directory keeps its mode: it may be shared on purpose.
    """
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    path.chmod(0o700)  # mkdir's mode is filtered by the umask


def describe_process() -> str:
    """``pid 123 on host by user``: where a lock holder runs."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = str(os.getuid())
    return f"pid {os.getpid()} on {socket.gethostname()} by {user}"


class FileStackLock:
    """A ``StackLock`` made of ``flock`` locks on ``{lock_dir}/{stack}.lock``.

    The lock is taken with ``LOCK_EX | LOCK_NB``; waiting (with a ``timeout``) polls every
    ``poll_interval`` seconds. After acquiring, the holder's description (``holder`` plus pid,
    host and user) is written into the file. The kernel releases an ``flock`` when its process
    dies, so a crashed holder never leaves the stack locked. Lock files are never deleted
    (unlinking a lock file races with a process that has just opened it). Locks are per open
    file, so two acquires in one process exclude each other as two processes do.
    """

    #: Seconds between attempts while waiting for a held lock.
    poll_interval = 0.05

    def __init__(self, lock_dir: str | os.PathLike[str]) -> None:
        self.lock_dir = Path(lock_dir)

    def _path(self, stack: str) -> Path:
        if not stack or "/" in stack or stack.startswith("."):
            raise StoreError(f"invalid stack name for a lock file: {stack!r}")
        return self.lock_dir / f"{stack}.lock"

    def _open(self, stack: str) -> int:
        try:
            make_private_dir(self.lock_dir)
            return os.open(self._path(stack), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file of stack {stack}: {exc}") from exc

    @staticmethod
    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _read_holder(self, fd: int) -> str:
        """The holder's description.

        The winner writes it just after locking, so a loser that lost the race by microseconds may
        find the file still empty: re-read briefly.
        """
        for _ in range(40):
            text = self._read(fd)
            if text:
                return text
            time.sleep(0.005)
        return "unknown holder"

    @staticmethod
    def _read(fd: int) -> str | None:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace").strip()
        return text or None

    @contextmanager
    def _acquire(self, stack: str, holder: str, timeout: float | None) -> Iterator[None]:
        fd = self._open(stack)
        try:
            deadline = time.monotonic() + (timeout or 0)
            while not self._try_lock(fd):
                if timeout is None or time.monotonic() >= deadline:
                    raise StackLockedError(stack, self._read_holder(fd))
                time.sleep(min(self.poll_interval, max(deadline - time.monotonic(), 0)))
            # Callers usually name the process already ("pid 12 on host by user"); add it otherwise.
            who = holder if f"pid {os.getpid()}" in holder else f"{holder} ({describe_process()})"
            description = who.encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, description, 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)  # holder() must not show a stale holder once released
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def acquire(
        self, stack: str, *, holder: str, timeout: float | None = None
    ) -> AbstractContextManager[None]:
        """Hold the stack's lock for the block; ``StackLockedError`` naming the holder if taken."""
        return self._acquire(stack, holder, timeout)

    def holder(self, stack: str) -> str | None:
        """Who holds the stack's lock, or None.

        Probes with a non-blocking lock that is released at once, so it reads the file only while
        someone really holds the lock (a stale description in the file is never reported).
        """
        path = self._path(stack)
        if not path.exists():
            return None
        fd = self._open(stack)
        try:
            if self._try_lock(fd):
                fcntl.flock(fd, fcntl.LOCK_UN)
                return None
            return self._read(fd) or "unknown holder"
        finally:
            os.close(fd)

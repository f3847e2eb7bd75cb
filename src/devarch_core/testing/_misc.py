"""Small in-memory fakes: key provider, config files, port probe and a manual clock."""

from __future__ import annotations

import os
import posixpath
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from devarch_core.errors import EngineError, SecretError, ValidationError
from devarch_core.ports import KeySet

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog
    from devarch_core.model import Engine
    from devarch_core.ports import Runtime, Store

__all__ = [
    "FakeConfigFiles",
    "FakeEngineConnector",
    "FakePortProbe",
    "InMemoryKeys",
    "ManualClock",
    "fake_devarch",
]


class FakeEngineConnector:
    """An :class:`~devarch_core.ports.EngineConnector` handing out given runtimes by engine name."""

    def __init__(self, runtimes: Mapping[str, Runtime] | None = None) -> None:
        self.runtimes: dict[str, Runtime] = dict(runtimes or {})
        #: Engine names opened, in order.
        self.opened: list[str] = []

    def open(self, engine: Engine) -> Runtime:
        """The runtime registered under ``engine.name``; ``EngineError`` when there is none."""
        self.opened.append(engine.name)
        runtime = self.runtimes.get(engine.name)
        if runtime is None:
            raise EngineError(f"engine {engine.name} ({engine.where}) does not answer")
        return runtime


class InMemoryKeys:
    """A KeyProvider holding a random 32-byte key (and a staged next key) in memory.

    ``missing=True`` gives a provider with no key yet (``create_key`` makes one), as a fresh or
    lost key file would be.
    """

    def __init__(self, key: bytes | None = None, *, missing: bool = False) -> None:
        self.key: bytes | None = None if missing else (key if key is not None else os.urandom(32))
        self.staged: bytes | None = None
        self._rotation = threading.Lock()

    def location(self) -> str:
        """Where the key lives: in memory."""
        return "(in-memory key)"

    def read_keys(self) -> KeySet:
        """The current and staged keys."""
        return KeySet(current=self.key, staged=self.staged)

    def load_key(self) -> bytes:
        """The key (created if missing)."""
        return self.create_key()

    def create_key(self) -> bytes:
        """Make a key if there is none; return the current key."""
        if self.key is None:
            self.key = os.urandom(32)
        return self.key

    def stage_key(self, key: bytes) -> None:
        """Keep ``key`` as the next key."""
        if self.staged is not None:
            raise SecretError("a staged key exists already: finish that rotation first")
        self.staged = key

    def promote_staged_key(self) -> None:
        """The staged key becomes the key."""
        if self.staged is not None:
            self.key, self.staged = self.staged, None

    def discard_staged_key(self) -> None:
        """Drop the staged key."""
        self.staged = None

    @contextmanager
    def rotation_lock(self, *, wait: bool = True) -> Iterator[bool]:
        """A process-local lock."""
        if not self._rotation.acquire(blocking=wait):
            yield False
            return
        try:
            yield True
        finally:
            self._rotation.release()

    def replace_key(self, key: bytes) -> None:
        """Switch to ``key``."""
        self.key = key


class FakeConfigFiles:
    """A ConfigFiles port that keeps files in a dict: ``files[(stack, instance)][relpath]``."""

    def __init__(self, root: str = "/devarch-home/stacks") -> None:
        self.root = root
        self.files: dict[tuple[str, str], dict[str, tuple[str, int]]] = {}
        self._lock = threading.Lock()

    def host_path(self, stack: str, instance: str) -> str:
        """``{root}/{stack}/{instance}``."""
        return posixpath.join(self.root, stack, instance)

    def write(self, stack: str, instance: str, files: Mapping[str, tuple[str, int]]) -> str:
        """Replace the instance's files; refuse paths escaping the directory."""
        for rel in files:
            norm = posixpath.normpath(rel)
            if rel.startswith("/") or norm.startswith("..") or norm == ".":
                raise ValidationError(
                    f"config file {rel!r} escapes the instance directory",
                    what="invalid config file",
                )
        with self._lock:
            self.files[(stack, instance)] = dict(files)
        return self.host_path(stack, instance)

    def remove(self, stack: str, instance: str | None = None) -> None:
        """Forget files of one instance or a whole stack."""
        with self._lock:
            for key in list(self.files):
                if key[0] == stack and (instance is None or key[1] == instance):
                    del self.files[key]


class FakePortProbe:
    """A PortProbe whose busy ports are set by the test."""

    def __init__(self, busy: Iterable[int] = ()) -> None:
        self.busy = set(busy)

    def is_free(self, host_ip: str, port: int, protocol: str = "tcp") -> bool:  # noqa: ARG002 - fake ignores ip/proto
        """False for ports in ``busy``."""
        return port not in self.busy


class ManualClock:
    """A Clock that only moves when told (``sleep`` advances it)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        """The current fake time."""
        return self._now

    def monotonic(self) -> float:
        """Fake monotonic seconds."""
        return self._mono

    def sleep(self, seconds: float) -> None:
        """Advance the clock instead of waiting."""
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self._mono += seconds
        self._now += timedelta(seconds=seconds)


def fake_devarch(
    catalog: Catalog,
    *,
    images: Mapping[str, str] | None = None,
    busy: Iterable[int] = (),
    store: Store | None = None,
    runtime: Runtime | None = None,
    keys: InMemoryKeys | None = None,
    **options: Any,  # noqa: ANN401 - passed to Devarch (port_range, health_timeout, parallelism...)
) -> Devarch:
    """A :class:`~devarch_core.app.Devarch` on in-memory fakes.

    For test code that uses devarch without any engine, store or files. ``images`` are the images
    the fake engine has (ref -> id); ``busy`` host ports the fake probe reports as taken by other
    processes.
    """
    from devarch_core.app import Devarch  # noqa: PLC0415 - the facade imports this module's siblings
    from devarch_core.testing._runtime import FakeRuntime  # noqa: PLC0415
    from devarch_core.testing._store import InMemoryStackLock, InMemoryStore  # noqa: PLC0415

    return Devarch(
        store=store or InMemoryStore(),
        catalog=catalog,
        keys=keys or InMemoryKeys(),
        runtime=runtime or FakeRuntime(images=images if images is not None else {}),
        lock=InMemoryStackLock(),
        config_files=FakeConfigFiles(),
        port_probe=FakePortProbe(busy=busy),
        clock=ManualClock(),
        **options,
    )

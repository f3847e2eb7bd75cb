"""Which engine a use case talks to, the stack lock, and who owns an engine object.

:class:`EngineAccess` picks the runtime for a stack (refusing to switch engines behind the
user's back) and :class:`StackLocks` holds a stack's lock once per thread. Both are small
services the plan, apply and stack services are given.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

from devarch_core import naming
from devarch_core.errors import ApplyError, EngineError
from devarch_core.usecases._helpers import STACK_ENGINE_KEY, stack_of

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from devarch_core.engine import EngineInfo
    from devarch_core.model import Stack
    from devarch_core.ports import Runtime, StackLock
    from devarch_core.usecases._helpers import UnitOfWork

__all__ = ["EngineAccess", "StackLocks", "default_holder", "holder_of"]


def default_holder() -> str:
    """A description of this process for lock messages."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"pid {os.getpid()} on {socket.gethostname()} by {user}"


def holder_of(labels: Mapping[str, str], owner: str) -> tuple[str, str]:
    """Who owns an engine object, in words, and what to add to the advice.

    ``owner`` is this store's identity. devarch never advises removing what another devarch
    store owns: that would break the other store's stack.
    """
    if labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY:
        return (
            "was not created by devarch",
            "if it is yours and unused, remove or rename it; otherwise ",
        )
    other = labels.get(naming.LABEL_OWNER, "?")
    stack = labels.get(naming.LABEL_STACK_NAME, "?")
    if other != owner:
        return (
            f"belongs to another devarch store (owner {other}, its stack {stack})",
            "devarch never touches another store's objects: ",
        )
    stack_id = labels.get(naming.LABEL_STACK_ID, "?")
    return (
        f"belongs to another stack of this store (stack {stack}, id {stack_id})",
        "`devarch doctor` lists leftovers; ",
    )


class EngineAccess:
    """The configured runtime (port), and the engine each stack lives on (recorded in the store)."""

    def __init__(
        self,
        uow: UnitOfWork,
        runtime: Runtime | None,
        *,
        problem: str | None = None,
        auto: bool = False,
        note: str | None = None,
    ) -> None:
        self._uow = uow
        self.runtime = runtime
        self.problem = problem
        self.auto = auto
        self.note = note
        self._info: EngineInfo | None = None

    def require(self) -> Runtime:
        """The runtime; ``EngineError`` saying how to configure one when there is none."""
        if self.runtime is None:
            why = self.problem or "no container engine configured"
            raise EngineError(
                f"this command needs a container engine ({why}): set DEVARCH_RUNTIME=docker|podman "
                "(or --runtime; Python: runtime=) and start Docker or Podman"
            )
        return self.runtime

    def info(self, runtime: Runtime) -> EngineInfo:
        """What the engine can enforce and how many CPUs it has (asked once)."""
        if self._info is None:
            self._info = runtime.info()
        return self._info

    @staticmethod
    def kind(runtime: Runtime) -> str:
        """``docker`` or ``podman``: the adapter's name (no request to the engine).

        The composition root picks the Podman adapter for a Podman socket, also behind
        DOCKER_HOST, so the name tells the engines apart.
        """
        return runtime.name

    def stack_engine(self, name: str) -> str | None:
        """The engine kind a stack was last applied on (``docker``, ``podman``), or None."""
        with self._uow.transaction() as tx:
            stack = stack_of(tx, name)
            return tx.get_meta(STACK_ENGINE_KEY + stack.id) or None

    def record(self, runtime: Runtime, stack: Stack) -> None:
        """Remember that ``stack`` lives on ``runtime``'s engine."""
        kind = self.kind(runtime)
        with self._uow.transaction() as tx:
            if tx.get_meta(STACK_ENGINE_KEY + stack.id) != kind:
                tx.set_meta(STACK_ENGINE_KEY + stack.id, kind)

    def for_stack(self, stack: Stack) -> Runtime:
        """The engine to use for ``stack``; refuses to switch engines behind the user's back.

        A stack lives on the engine it was applied on. When the engine was picked automatically
        and is another one, planning there would show every instance absent and apply would build
        a second copy of the stack: refuse, naming the stack's engine and how to select it. An
        engine chosen explicitly (``--runtime``, ``DEVARCH_RUNTIME``) is the user's decision.
        """
        runtime = self.require()
        if not self.auto:
            return runtime
        with self._uow.transaction() as tx:
            recorded = tx.get_meta(STACK_ENGINE_KEY + stack.id)
        if not recorded:
            return runtime
        current = self.kind(runtime)
        if recorded == current:
            return runtime
        why = f": {self.note}" if self.note else ""
        msg = (
            f"stack {stack.name} lives on {recorded} (it was applied there), but devarch picked "
            f"{current} automatically{why}. Start {recorded} and select it with "
            f"`--runtime {recorded}` or DEVARCH_RUNTIME={recorded}; `--runtime {current}` uses "
            f"{current} for this stack on purpose"
        )
        raise EngineError(msg)


class StackLocks:
    """The stack lock (port), held at most once per thread and stack."""

    def __init__(self, uow: UnitOfWork, lock: StackLock | None) -> None:
        self._uow = uow
        self.lock = lock
        #: Stacks whose lock this facade holds (see :meth:`locked`): stack -> thread id.
        self._held: dict[str, int] = {}

    @contextmanager
    def locked(
        self, stack: str, *, timeout: float | None = None, holder: str | None = None
    ) -> Iterator[None]:
        """Hold the stack's lock for the block (``StackLockedError`` at once if another holds it).

        ``apply``, ``down`` and ``delete_stack`` called inside the block, from the same thread, use
        this hold instead of taking the lock again. A front end takes it *before* planning, so a
        second apply is refused before it shows a plan the first one is about to change.
        """
        with self._uow.transaction() as tx:
            stack_of(tx, stack)  # a missing stack is NotFoundError, not a lock file for nothing
        with self.hold(stack, holder or default_holder(), timeout):
            yield

    @contextmanager
    def hold(self, stack: str, holder: str, timeout: float | None) -> Iterator[None]:
        """Take the stack's lock unless this thread already holds it."""
        if self.lock is None:
            raise ApplyError("no stack lock configured", step="lock")
        me = threading.get_ident()
        if self._held.get(stack) == me:
            yield  # this thread already holds it (inside ``locked``)
            return
        with self.lock.acquire(stack, holder=holder, timeout=timeout):
            self._held[stack] = me
            try:
                yield
            finally:
                self._held.pop(stack, None)

"""The StackLock port's contract: one suite, subclassed once per implementation.

A subclass overrides ``make_lock`` (a callable returning a handle on one shared lock space: two
handles must exclude each other as two processes would) and, for locks that work across
processes, ``child_setup`` (Python source that binds ``lock`` to such a handle in a child).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from typing import TYPE_CHECKING

import pytest

from devarch_core.errors import StackLockedError
from devarch_core.testing.contracts._threads import race

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.ports import StackLock

CHILD = """
import os, sys
from devarch_core.errors import StackLockedError
{setup}
stack, mode = sys.argv[1], sys.argv[2]
if mode == "race":
    print("ready", flush=True)
    sys.stdin.readline()
try:
    with lock.acquire(stack, holder=f"child-{{os.getpid()}}"):
        print("won", flush=True)
        sys.stdin.readline()  # hold until the parent says so (or closes stdin)
except StackLockedError as exc:
    print("locked", exc.holder, flush=True)
"""


def _refused_while_held(
    make_lock: Callable[[], StackLock], stack: str, *, holder: str, timeout: float | None = None
) -> tuple[StackLockedError, float]:
    """One handle holds ``stack`` as ``holder``; another is refused: (the error, seconds taken)."""
    first, second = make_lock(), make_lock()
    with first.acquire(stack, holder=holder):
        started = time.monotonic()
        with (
            pytest.raises(StackLockedError) as err,
            second.acquire(stack, holder="bob", timeout=timeout),
        ):
            pass
        return err.value, time.monotonic() - started


class LockContract:
    """Behaviour every ``StackLock`` implementation guarantees."""

    @pytest.fixture
    def make_lock(self) -> Callable[[], StackLock]:
        """Return a callable giving handles on one lock space (override this)."""
        raise NotImplementedError

    @pytest.fixture
    def child_setup(self) -> str | None:
        """Python source binding ``lock`` in a child process; None if the lock is in-process."""
        return None

    @pytest.fixture
    def lock(self, make_lock: Callable[[], StackLock]) -> StackLock:
        return make_lock()

    @pytest.fixture
    def unique(self) -> str:
        """A fresh name prefix, so leftovers of earlier runs never interfere."""
        return f"t{uuid.uuid4().hex[:8]}"

    @pytest.fixture
    def stack(self, unique: str) -> str:
        return f"{unique}-shop"

    def spawn(self, child_setup: str, stack: str, mode: str) -> subprocess.Popen[str]:
        code = CHILD.format(setup=textwrap.dedent(child_setup))
        return subprocess.Popen(
            [sys.executable, "-c", code, stack, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )

    # -- in-process behaviour --------------------------------------------------------------------
    def test_second_acquire_fails_at_once_naming_the_holder(
        self, make_lock: Callable[[], StackLock], stack: str
    ) -> None:
        """Without a timeout a held lock is refused immediately with the holder in the error."""
        error, waited = _refused_while_held(make_lock, stack, holder="alice-apply")
        assert waited < 2
        assert error.stack == stack
        assert error.holder is not None
        assert "alice-apply" in error.holder
        assert error.exit_code == 3
        assert f"stack {stack} is being applied by another session" in str(error)

    def test_different_stacks_do_not_block_each_other(self, lock: StackLock, stack: str) -> None:
        """Locks are per stack."""
        with lock.acquire(stack, holder="a"), lock.acquire(f"{stack}-other", holder="b"):
            pass

    def test_holder_tells_who_holds_the_lock(self, lock: StackLock, stack: str) -> None:
        """``holder()`` is None when free and describes the holder while held."""
        assert lock.holder(stack) is None
        with lock.acquire(stack, holder="alice-apply"):
            described = lock.holder(stack)
            assert described is not None
            assert "alice-apply" in described
        assert lock.holder(stack) is None

    def test_lock_can_be_taken_again_after_release(self, lock: StackLock, stack: str) -> None:
        """Releasing makes the lock available to the next acquirer."""
        for i in range(3):
            with lock.acquire(stack, holder=f"round-{i}"):
                pass

    def test_lock_is_released_when_the_block_raises(self, lock: StackLock, stack: str) -> None:
        """An exception in the block releases the lock and propagates."""

        class BoomError(Exception):
            pass

        with pytest.raises(BoomError), lock.acquire(stack, holder="a"):
            raise BoomError
        assert lock.holder(stack) is None
        with lock.acquire(stack, holder="b"):
            pass

    def test_timeout_waits_until_the_holder_releases(
        self, make_lock: Callable[[], StackLock], stack: str
    ) -> None:
        """With a timeout, an acquirer waits for the holder and then gets the lock."""
        holder_lock, waiter_lock = make_lock(), make_lock()
        held = threading.Event()

        def hold() -> None:
            with holder_lock.acquire(stack, holder="slow"):
                held.set()
                time.sleep(0.6)

        thread = threading.Thread(target=hold)
        thread.start()
        try:
            assert held.wait(10)
            started = time.monotonic()
            with waiter_lock.acquire(stack, holder="patient", timeout=15):
                waited = time.monotonic() - started
        finally:
            thread.join(15)
        assert 0.2 < waited < 15

    def test_timeout_expires_with_stack_locked_error(
        self, make_lock: Callable[[], StackLock], stack: str
    ) -> None:
        """A holder that outlasts the timeout makes the waiter fail after about that long."""
        error, waited = _refused_while_held(make_lock, stack, holder="alice", timeout=0.4)
        assert "alice" in str(error)
        assert 0.3 < waited < 5

    def test_ten_concurrent_threads_exactly_one_wins(
        self, make_lock: Callable[[], StackLock], stack: str
    ) -> None:
        """Ten threads trying at once without a timeout: one gets the lock, nine are refused."""
        handles = [make_lock() for _ in range(10)]
        losers_done = threading.Event()
        results: list[str] = []
        guard = threading.Lock()

        def attempt(i: int) -> None:
            try:
                with handles[i].acquire(stack, holder=f"thread-{i}"):
                    with guard:
                        results.append("won")
                    losers_done.wait(30)
            except StackLockedError:
                with guard:
                    results.append("locked")
                    if results.count("locked") == 9:
                        losers_done.set()

        race(len(handles), attempt)
        assert sorted(results) == ["locked"] * 9 + ["won"]

    # -- across processes ------------------------------------------------------------------------
    def test_ten_concurrent_processes_exactly_one_wins(
        self, child_setup: str | None, stack: str
    ) -> None:
        """Ten processes trying at once: one holds the lock, nine are refused naming the winner."""
        if child_setup is None:
            pytest.skip("an in-process lock")
        children = [self.spawn(child_setup, stack, "race") for _ in range(10)]
        try:
            for child in children:
                assert child.stdout is not None
                assert child.stdout.readline().strip() == "ready"
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            outcomes = []
            for child in children:
                assert child.stdout is not None
                outcomes.append(child.stdout.readline().strip())
            winners = [o for o in outcomes if o == "won"]
            losers = [o for o in outcomes if o.startswith("locked")]
            assert len(winners) == 1, outcomes
            assert len(losers) == 9, outcomes
            winner_pid = children[outcomes.index("won")].pid
            assert all(f"child-{winner_pid}" in o for o in losers), outcomes
        finally:
            for child in children:
                assert child.stdin is not None
                child.stdin.close()
            for child in children:
                child.wait(30)

    def test_a_killed_holder_leaves_no_lock(
        self, make_lock: Callable[[], StackLock], child_setup: str | None, stack: str
    ) -> None:
        """A holder process killed with SIGKILL cannot release; the lock still dies with it."""
        if child_setup is None:
            pytest.skip("an in-process lock")
        lock = make_lock()
        child = self.spawn(child_setup, stack, "hold")
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "won"
            with pytest.raises(StackLockedError) as err, lock.acquire(stack, holder="parent"):
                pass
            assert f"child-{child.pid}" in (err.value.holder or "")
            holder = lock.holder(stack)
            assert holder is not None
            assert f"child-{child.pid}" in holder
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
            with lock.acquire(stack, holder="parent", timeout=10):
                described = lock.holder(stack)
                assert described is not None
                assert "parent" in described
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
            assert child.stdin is not None
            child.stdin.close()
            assert child.stdout is not None
            child.stdout.close()

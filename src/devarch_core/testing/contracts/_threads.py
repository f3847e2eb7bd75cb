"""Running one attempt on several threads at once (the suites' race tests)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def race(count: int, attempt: Callable[[int], None], *, timeout: float = 60) -> None:
    """Call ``attempt(0)`` ... ``attempt(count - 1)`` on as many threads, released together.

    Returns once every thread has finished (or ``timeout`` seconds per thread have passed); the
    caller asserts on what the attempts recorded.
    """
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        attempt(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)

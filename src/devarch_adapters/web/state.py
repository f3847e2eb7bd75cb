"""What the server keeps between requests: the facade, the plans it showed, the running jobs.

Routes get these through Litestar dependencies (``devarch``, ``web``): see
:func:`devarch_adapters.web.app.create_app`. The shared facade serves every short request (the
store and the engine client are thread-safe; each store call is its own transaction); a long
operation (apply, down, init) gets a facade of its own whose reporter feeds that job's events.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from devarch_adapters.web.jobs import Jobs

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.app import Devarch
    from devarch_core.planning import Plan
    from devarch_core.ports import LogIterator, Reporter

__all__ = ["OpenStreams", "PlanCache", "WebConfig", "WebState"]

#: Builds a facade; the reporter (None: no progress) receives a long operation's events.


@attrs.frozen(kw_only=True)
class WebConfig:
    """How the server was started: where it listens, its token, where DEVARCH_HOME is."""

    host: str = "127.0.0.1"
    port: int = 8765
    token: str
    home: Path | None = None
    allow_remote: bool = False

    @property
    def url(self) -> str:
        """The server's base URL (IPv6 addresses in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


class PlanCache:
    """The last plans the server handed out, by (stack, token), so apply runs exactly that plan.

    Bounded: the oldest plan goes first. A token the cache no longer has is refused like a stale
    plan would be (plan again).
    """

    def __init__(self, size: int = 64) -> None:
        self._plans: OrderedDict[tuple[str, str], Plan] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, plan: Plan) -> None:
        """Remember a plan."""
        with self._lock:
            self._plans[plan.stack, plan.token] = plan
            self._plans.move_to_end((plan.stack, plan.token))
            while len(self._plans) > self._size:
                self._plans.popitem(last=False)

    def get(self, stack: str, token: str) -> Plan | None:
        """A plan given out for ``stack`` with ``token``, or None."""
        with self._lock:
            return self._plans.get((stack, token))


class OpenStreams:
    """The live streams being sent (engine log followers), so that Ctrl-C can end them at once.

    uvicorn waits for open responses before it exits, then cancels them with a traceback in the
    log; a follower of a quiet container never ends by itself. ``devarch serve`` calls
    :meth:`stop` on the first Ctrl-C: every log stream closes (its SSE answer ends with ``end``),
    job event streams end after their next look (see ``devarch_adapters.web.api``), and the
    server exits as soon as the running jobs are done.
    """

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._open: set[LogIterator] = set()
        self._lock = threading.Lock()

    def add(self, logs: LogIterator) -> None:
        """Track a log stream (closed at once when the server is already stopping)."""
        with self._lock:
            if not self.stopping.is_set():
                self._open.add(logs)
                return
        logs.close()

    def discard(self, logs: LogIterator) -> None:
        """Forget a log stream that ended."""
        with self._lock:
            self._open.discard(logs)

    def stop(self) -> None:
        """End every stream (idempotent; safe from a signal handler: close() only signals)."""
        self.stopping.set()
        with self._lock:
            streams, self._open = list(self._open), set()
        for logs in streams:
            logs.close()


class WebState:
    """The server's state: config, the shared facade (built on first use), plans and jobs."""

    def __init__(self, config: WebConfig, factory: Callable[[Reporter | None], Devarch]) -> None:
        self.config = config
        self.factory = factory
        self.plans = PlanCache()
        self.jobs = Jobs(factory)
        self.streams = OpenStreams()
        self._devarch: Devarch | None = None
        self._lock = threading.Lock()

    @property
    def devarch(self) -> Devarch:
        """The shared facade for short requests."""
        with self._lock:
            if self._devarch is None:
                self._devarch = self.factory(None)
            return self._devarch

    def close(self, *, wait: bool = True) -> None:
        """Wait for running jobs (an apply is never cut short), then close the facade."""
        if wait:
            self.jobs.wait_all()
        with self._lock:
            if self._devarch is not None:
                self._devarch.close()
                self._devarch = None

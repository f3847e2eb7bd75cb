"""Long operations (apply, down, init) run in a thread of their own; their progress is kept.

A job owns a facade built for it, whose reporter records the same phase/step events the CLI's
progress display shows. Clients follow them as Server-Sent Events; a client that goes away stops
reading, nothing else: the job runs to its end (the thread is not a daemon, so even a server
shutdown waits for it).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import TYPE_CHECKING, Any

from devarch_core.errors import DevarchError

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.app import Devarch
    from devarch_core.ports import Reporter

__all__ = ["Job", "JobReporter", "Jobs"]

#: Seconds a request waits for a job to either refuse (lock, stale plan...) or start working.
START_WAIT = 30.0
#: Finished jobs kept for late readers.
KEEP_FINISHED = 50


class JobReporter:
    """A :class:`~devarch_core.ports.Reporter` that appends each hook call to a job's events."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def phase_started(self, phase: str, total: int = 0) -> None:
        """Record a phase start."""
        self._job.add({"event": "phase_started", "phase": phase, "total": total})

    def phase_finished(self, phase: str, seconds: float) -> None:
        """Record a phase end."""
        self._job.add({"event": "phase_finished", "phase": phase, "seconds": round(seconds, 3)})

    def step(self, phase: str, item: str, status: str) -> None:
        """Record one item's new status."""
        self._job.add({"event": "step", "phase": phase, "item": item, "status": status})

    def warning(self, message: str) -> None:
        """Record a warning."""
        self._job.add({"event": "warning", "message": message})


class Job:
    """One long operation: its events so far, and its result or error once done."""

    def __init__(self, job_id: str, kind: str, stack: str) -> None:
        self.id = job_id
        self.kind = kind
        self.stack = stack
        self.state = "running"  # running, succeeded, failed
        self.events: list[dict[str, Any]] = []
        self.result: Any = None
        self.error: DevarchError | None = None
        self.error_body: dict[str, Any] | None = None
        self.started = time.time()
        self.finished: float | None = None
        self._changed = threading.Condition()

    def add(self, event: dict[str, Any]) -> None:
        """Append an event and wake the readers."""
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def finish(self, result: Any = None, error: DevarchError | None = None) -> None:  # noqa: ANN401 - a use case's result
        """Mark the job done (with its result, or the error that ended it)."""
        from devarch_adapters.web.errors import error_body, status_of  # noqa: PLC0415

        with self._changed:
            self.result = result
            self.error = error
            if error is not None:
                self.error_body = {**error_body(error), "status": status_of(error)}
            self.state = "failed" if error is not None else "succeeded"
            self.finished = time.time()
            self._changed.notify_all()

    @property
    def done(self) -> bool:
        """Whether the job ended."""
        return self.state != "running"

    def wait_started(self, timeout: float = START_WAIT) -> None:
        """Block until the job reported progress or ended (or ``timeout`` passed)."""
        with self._changed:
            self._changed.wait_for(lambda: self.done or bool(self.events), timeout)

    def wait_change(self, seen: int, timeout: float) -> None:
        """Block until there are more than ``seen`` events or the job ended."""
        with self._changed:
            self._changed.wait_for(lambda: self.done or len(self.events) > seen, timeout)

    def to_data(self) -> dict[str, Any]:
        """The job as JSON data (its result's JSON form, or its error body)."""
        result = self.result
        to_data = getattr(result, "to_data", None)
        return {
            "id": self.id,
            "kind": self.kind,
            "stack": self.stack,
            "state": self.state,
            "events": len(self.events),
            "result": to_data() if callable(to_data) else result,
            "error": self.error_body,
        }


class Jobs:
    """The server's jobs, by id."""

    def __init__(self, factory: Callable[[Reporter | None], Devarch]) -> None:
        self._factory = factory
        self._jobs: dict[str, Job] = {}
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, kind: str, stack: str, work: Callable[[Devarch, str], Any]) -> Job:
        """Run ``work(facade, holder)`` in a new thread with a facade reporting to the new job."""
        with self._lock:
            job = Job(f"{next(self._ids)}-{int(time.time())}", kind, stack)
            self._jobs[job.id] = job
            self._forget_old()

        def run() -> None:
            try:
                devarch = self._factory(JobReporter(job))
            except DevarchError as exc:
                job.finish(error=exc)
                return
            try:
                result = work(devarch, f"devarch serve ({kind} job {job.id})")
            except DevarchError as exc:
                job.finish(error=exc)
            except Exception as exc:
                import logging  # noqa: PLC0415

                logging.getLogger("devarch.web").exception("job %s failed", job.id, exc_info=exc)
                job.finish(error=DevarchError("internal error; the server's log has the details"))
            else:
                job.finish(result=result)
            finally:
                devarch.close()

        thread = threading.Thread(target=run, name=f"devarch-{kind}-{job.id}", daemon=False)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return job

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.done]
        for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job.id]

    def get(self, job_id: str) -> Job | None:
        """A job by id, or None."""
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        """The jobs the server still knows (running, and the last finished ones), oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def running(self) -> list[Job]:
        """The jobs still running."""
        with self._lock:
            return [j for j in self._jobs.values() if not j.done]

    def wait_all(self) -> None:
        """Block until every job thread ended."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join()

"""Reporter implementations that live in the core: the no-op default and a recorder for tests."""

from __future__ import annotations

import threading

__all__ = ["NullReporter", "RecordingReporter"]


class NullReporter:
    """Ignores every progress hook (the default when the caller does not care)."""

    def phase_started(self, phase: str, total: int = 0) -> None:
        """Ignore."""

    def phase_finished(self, phase: str, seconds: float) -> None:
        """Ignore."""

    def step(self, phase: str, item: str, status: str) -> None:
        """Ignore."""

    def warning(self, message: str) -> None:
        """Ignore."""


class RecordingReporter:
    """Keeps every hook call as a tuple in ``events`` (thread-safe); handy in tests, notebooks."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    def _add(self, *event: str) -> None:
        with self._lock:
            self.events.append(event)

    def phase_started(self, phase: str, total: int = 0) -> None:
        """Record ``("phase_started", phase, total)``."""
        self._add("phase_started", phase, str(total))

    def phase_finished(self, phase: str, seconds: float) -> None:  # noqa: ARG002 - Reporter signature
        """Record ``("phase_finished", phase)`` (durations vary, so events leave them out)."""
        self._add("phase_finished", phase)

    def step(self, phase: str, item: str, status: str) -> None:
        """Record ``("step", phase, item, status)``."""
        self._add("step", phase, item, status)

    def warning(self, message: str) -> None:
        """Record ``("warning", message)``."""
        self._add("warning", message)

    @property
    def warnings(self) -> list[str]:
        """The warning messages so far."""
        return [e[1] for e in self.events if e[0] == "warning"]

"""A rich-based :class:`~devarch_core.ports.Reporter` for the CLI.

On a terminal it draws one progress bar per apply phase (network, config, images, containers,
health); elsewhere (CI logs, pipes) it prints one plain line per step. Either way it writes to
stderr, so ``--json`` output on stdout stays clean, and :meth:`RichReporter.print_timings` ends an
apply with the time each phase took.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Self, TextIO

from devarch_core.display import printable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["RichReporter"]

#: Step statuses that finish one item of a phase (advance its bar).
DONE = frozenset({"started", "stopped", "removed", "present", "written", "healthy", "failed"})


class RichReporter:
    """Progress bars per phase on a TTY, one line per step otherwise; thread-safe.

    ``live=None`` decides from ``stream.isatty()``. Call :meth:`close` when the operation ends
    (it stops the live display); the object can be used as a context manager.
    """

    def __init__(
        self, stream: TextIO | None = None, *, live: bool | None = None, colour: bool = True
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        isatty = getattr(self._stream, "isatty", None)
        self.live = bool(isatty and isatty()) if live is None else live
        self._colour = colour
        self._lock = threading.RLock()
        self._console: Console | None = None
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        #: Phase -> seconds, as reported by ``phase_finished``.
        self.timings: dict[str, float] = {}

    # -- plumbing ----------------------------------------------------------------------------
    def _get_console(self) -> Console:
        if self._console is None:
            from rich.console import Console  # noqa: PLC0415 - rich costs start-up time; load it on first output

            self._console = Console(
                file=self._stream,
                no_color=not self._colour,
                highlight=False,
                force_terminal=self.live or None,
                soft_wrap=True,
            )
        return self._console

    def _bars(self) -> Progress:
        if self._progress is None:
            from rich.progress import (  # noqa: PLC0415 - rich loads on first output
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.fields[phase]:<11}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=self._get_console(),
                transient=False,
            )
            self._progress.start()
        return self._progress

    def _line(self, text: str, style: str = "") -> None:
        text = printable(text)  # items and warnings can quote engine messages and user values
        if self.live:
            self._get_console().print(text, style=style or None, markup=False)
        else:
            self._stream.write(text + "\n")
            self._stream.flush()

    def _task(self, phase: str, total: int = 0) -> TaskID:
        task = self._tasks.get(phase)
        if task is None:
            task = self._bars().add_task("", total=total or None, phase=phase)
            self._tasks[phase] = task
        return task

    # -- the Reporter port ---------------------------------------------------------------------
    def phase_started(self, phase: str, total: int = 0) -> None:
        """Open a bar for ``phase`` (or print ``==> phase``)."""
        with self._lock:
            if self.live:
                self._task(phase, total)
            else:
                self._line(f"==> {phase}" + (f" ({total})" if total else ""))

    def phase_finished(self, phase: str, seconds: float) -> None:
        """Complete the phase's bar and remember its time."""
        with self._lock:
            self.timings[phase] = self.timings.get(phase, 0.0) + seconds
            if self.live:
                bars = self._bars()
                task = self._task(phase)
                current = next(t for t in bars.tasks if t.id == task)
                final = current.total or max(current.completed, 1)
                bars.update(
                    task, total=final, completed=final, description=f"done in {seconds:.1f}s"
                )
            else:
                self._line(f"    {phase} done in {seconds:.2f}s")

    def step(self, phase: str, item: str, status: str) -> None:
        """Show ``item: status`` on the phase's bar (advancing it when the item is done)."""
        with self._lock:
            if self.live:
                task = self._task(phase)
                self._bars().update(
                    task,
                    description=printable(f"{item}: {status}", newlines=False),
                    advance=1 if status in DONE else 0,
                )
                if status == "failed":
                    self._line(f"  {phase}: {item} failed", style="bold red")
            else:
                self._line(f"    {phase}: {item} {status}")

    def warning(self, message: str) -> None:
        """Print ``warning: message``."""
        with self._lock:
            self._line(f"warning: {message}", style="yellow")

    # -- the end -------------------------------------------------------------------------------
    def print_timings(self, timings: Mapping[str, float] | None = None) -> None:
        """Print per-phase timings (``plan 0.12s · network 0.01s · ... · total 3.40s``)."""
        values = dict(timings if timings is not None else self.timings)
        if not values:
            return
        with self._lock:
            self.close()
            parts = [f"{phase} {seconds:.2f}s" for phase, seconds in values.items()]
            parts.append(f"total {sum(values.values()):.2f}s")
            self._line("Timings: " + " · ".join(parts), style="dim")

    def close(self) -> None:
        """Stop the live display (idempotent)."""
        with self._lock:
            if self._progress is not None:
                for task in self._progress.tasks:
                    if task.total is None:  # a phase that was never announced: show it as done
                        done = max(task.completed, 1)
                        self._progress.update(task.id, total=done, completed=done)
                self._progress.stop()
                self._progress = None
                self._tasks.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Waiting for containers to be healthy: one loop, over the runtime and clock ports.

Apply waits for the health of the instances others depend on; the pytest plugin waits until a
whole stack is ready. Both poll at a fixed short interval: the engine turns a service healthy
within its own check interval, and a backing-off poll would notice it late (measured in
benchmarks/). See docs/architecture.md#plan-apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, SupportsFloat

from devarch_core.errors import ApplyError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from devarch_core.ports import Clock, Reporter, Runtime

__all__ = ["DEFAULT_POLL", "ReadinessRow", "poll_interval", "wait_healthy", "wait_ready"]

#: Seconds between two looks at the engine.
DEFAULT_POLL = 0.2


def poll_interval(check_interval: SupportsFloat | None) -> float:
    """The poll delay for a healthcheck run every ``check_interval`` seconds (at most 0.2 s)."""
    return min(DEFAULT_POLL, float(check_interval) / 2) if check_interval else DEFAULT_POLL


def wait_healthy(
    runtime: Runtime,
    clock: Clock,
    container: str,
    *,
    instance: str,
    timeout: float,
    interval: float = DEFAULT_POLL,
    reporter: Reporter | None = None,
) -> None:
    """Return once ``container`` is healthy (or has no healthcheck).

    Raises ``ApplyError`` (step ``health``) when it turns unhealthy, or when ``timeout`` seconds
    of ``clock`` pass first.
    """
    deadline = clock.monotonic() + timeout
    if reporter is not None:
        reporter.step("health", instance, "waiting")
    while True:
        status = runtime.health(container)
        if status in ("healthy", "none"):
            if reporter is not None:
                reporter.step("health", instance, "healthy")
            return
        if status == "unhealthy":
            msg = f"{instance} is unhealthy; see `docker logs {container}`"
            raise ApplyError(msg, step="health", instance=instance)
        if clock.monotonic() > deadline:
            msg = f"{instance} did not become healthy within {timeout:.0f}s"
            raise ApplyError(msg, step="health", instance=instance)
        clock.sleep(interval)


class ReadinessRow(Protocol):
    """What :func:`wait_ready` reads of one instance (``Devarch.status`` rows fit)."""

    @property
    def instance(self) -> str: ...  # noqa: D102
    @property
    def container(self) -> str: ...  # noqa: D102
    @property
    def enabled(self) -> bool: ...  # noqa: D102
    @property
    def state(self) -> str: ...  # noqa: D102
    @property
    def health(self) -> str: ...  # noqa: D102


def wait_ready(
    status: Callable[[], Iterable[ReadinessRow]],
    clock: Clock,
    *,
    stack: str,
    timeout: float,
    interval: float = DEFAULT_POLL,
) -> None:
    """Return once every enabled instance runs and, when it has a healthcheck, is healthy.

    ``status`` is asked again on every round. Raises ``ApplyError`` (step ``wait``) when a
    container exited, died or turned unhealthy, or when ``timeout`` seconds pass first.
    """
    deadline = clock.monotonic() + timeout
    while True:
        waiting = []
        for row in status():
            if not row.enabled:
                continue
            if row.state != "running" or row.health == "unhealthy":
                if row.state in ("exited", "dead") or row.health == "unhealthy":
                    raise ApplyError(
                        f"{row.container} is {row.state} ({row.health});"
                        f" see `docker logs {row.container}`",
                        step="wait",
                    )
                waiting.append(f"{row.instance} ({row.state})")
            elif row.health == "starting":
                waiting.append(f"{row.instance} (starting)")
        if not waiting:
            return
        if clock.monotonic() > deadline:
            raise ApplyError(
                f"stack {stack} not ready after {timeout:.0f}s: waiting for {', '.join(waiting)}",
                step="wait",
            )
        clock.sleep(interval)

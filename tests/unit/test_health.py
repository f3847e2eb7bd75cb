"""Health waiting in the core, on the fake engine and a manual clock (no real time passes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pytest

from devarch_core.errors import ApplyError
from devarch_core.health import DEFAULT_POLL, poll_interval, wait_healthy, wait_ready
from devarch_core.reporting import RecordingReporter
from devarch_core.testing import FakeRuntime, ManualClock

if TYPE_CHECKING:
    from devarch_core.engine import HealthStatus


class ScriptedRuntime(FakeRuntime):
    """A fake engine whose ``health`` answers from a script, one answer per call."""

    def __init__(self, answers: list[HealthStatus]) -> None:
        super().__init__()
        self.answers = answers
        self.asked = 0

    def health(self, name: str) -> HealthStatus:  # noqa: ARG002 - one container
        """Next scripted answer (the last one repeats)."""
        self.asked += 1
        return self.answers[min(self.asked, len(self.answers)) - 1]


def test_waits_until_healthy_polling_on_the_clock() -> None:
    """Starting twice, then healthy: two sleeps of the interval, reported as waiting → healthy."""
    runtime = ScriptedRuntime(["starting", "starting", "healthy"])
    clock = ManualClock()
    reporter = RecordingReporter()
    wait_healthy(
        runtime, clock, "devarch-s-db", instance="db", timeout=10, interval=0.5, reporter=reporter
    )
    assert runtime.asked == 3
    assert clock.monotonic() == pytest.approx(1.0)
    assert reporter.events == [
        ("step", "health", "db", "waiting"),
        ("step", "health", "db", "healthy"),
    ]


def test_no_healthcheck_returns_at_once() -> None:
    """A container without a healthcheck (``none``) is ready."""
    clock = ManualClock()
    wait_healthy(ScriptedRuntime(["none"]), clock, "c", instance="c", timeout=0)
    assert clock.monotonic() == 0


def test_unhealthy_is_an_apply_error() -> None:
    """Unhealthy stops the wait with the container's logs command."""
    with pytest.raises(ApplyError, match=r"db is unhealthy; see `docker logs devarch-s-db`"):
        wait_healthy(
            ScriptedRuntime(["starting", "unhealthy"]),
            ManualClock(),
            "devarch-s-db",
            instance="db",
            timeout=10,
        )


def test_timeout_is_measured_on_the_clock() -> None:
    """Never healthy: refused once the manual clock passes the timeout."""
    clock = ManualClock()
    with pytest.raises(ApplyError, match="db did not become healthy within 3s"):
        wait_healthy(ScriptedRuntime(["starting"]), clock, "c", instance="db", timeout=3)
    assert 3 < clock.monotonic() <= 3 + 2 * DEFAULT_POLL


def test_poll_interval() -> None:
    """Half the healthcheck interval, at most 0.2 s."""
    assert poll_interval(None) == DEFAULT_POLL
    assert poll_interval(0.1) == pytest.approx(0.05)
    assert poll_interval(30) == DEFAULT_POLL


@attrs.frozen
class Row:
    """A status row."""

    instance: str
    container: str
    state: str
    health: str = "none"
    enabled: bool = True


def test_wait_ready_asks_status_until_every_instance_is_ready() -> None:
    """Rounds of status: created → running/starting → running/healthy; disabled ones ignored."""
    rounds = [
        [Row("db", "c-db", "created"), Row("off", "c-off", "exited", enabled=False)],
        [Row("db", "c-db", "running", "starting")],
        [Row("db", "c-db", "running", "healthy")],
    ]
    clock = ManualClock()
    wait_ready(lambda: rounds.pop(0), clock, stack="s", timeout=5)
    assert rounds == []
    assert clock.monotonic() == pytest.approx(2 * DEFAULT_POLL)


def test_wait_ready_refuses_exited_and_times_out() -> None:
    """An exited container fails at once; a slow one fails after the timeout, naming it."""
    with pytest.raises(ApplyError, match=r"c-db is exited \(none\)"):
        wait_ready(lambda: [Row("db", "c-db", "exited")], ManualClock(), stack="s", timeout=5)
    with pytest.raises(
        ApplyError, match=r"stack s not ready after 1s: waiting for db \(starting\)"
    ):
        wait_ready(
            lambda: [Row("db", "c-db", "running", "starting")], ManualClock(), stack="s", timeout=1
        )

"""``down`` reports progress like apply, and ``--ordered`` stops dependents first."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from devarch_adapters import bootstrap
from devarch_adapters.cli import main
from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.reporting import RecordingReporter
from devarch_core.testing import FakeRuntime, fake_devarch

if TYPE_CHECKING:
    import pytest

    from devarch_core.app import Devarch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"


class StopOrderRuntime(FakeRuntime):
    """Remembers the order containers were stopped in."""

    def __init__(self) -> None:
        super().__init__(images={IMAGE: "sha256:1"})
        self.stopped: list[str] = []

    def stop_container(self, name: str, timeout: float | None = None) -> None:
        super().stop_container(name, timeout)
        with self._lock:
            self.stopped.append(name.removeprefix("devarch-tier-"))


def _tiered(runtime: FakeRuntime, reporter: RecordingReporter | None = None) -> Devarch:
    devarch = fake_devarch(
        load_catalog_dirs([EXAMPLES]), runtime=runtime, reporter=reporter or RecordingReporter()
    )
    devarch.create_stack("tier")
    devarch.add_instance("tier", "db", "bb-cache")
    devarch.add_instance("tier", "mid", "bb-cache", overrides={"depends_on": ["db"]})
    devarch.add_instance("tier", "top", "bb-cache", overrides={"depends_on": ["mid"]})
    devarch.add_instance("tier", "also-top", "bb-cache", overrides={"depends_on": ["mid"]})
    devarch.apply("tier")
    return devarch


def test_down_reports_its_phases_with_totals_and_each_container() -> None:
    """The containers (4) then network (1): started, a step per container, finished."""
    reporter = RecordingReporter()
    devarch = _tiered(StopOrderRuntime(), reporter)
    reporter.events.clear()
    devarch.down("tier")
    phases = [e for e in reporter.events if e[0].startswith("phase")]
    assert phases == [
        ("phase_started", "containers", "4"),
        ("phase_finished", "containers"),
        ("phase_started", "network", "1"),
        ("phase_finished", "network"),
    ]
    removed = sorted(
        e[2] for e in reporter.events if e[:2] == ("step", "containers") and e[3] == "removed"
    )
    assert removed == ["also-top", "db", "mid", "top"]
    assert ("step", "network", "devarch-tier-net", "removed") in reporter.events


def test_ordered_down_stops_dependents_before_their_dependencies() -> None:
    """First top and also-top, then mid, then db: one dependency level at a time."""
    runtime = StopOrderRuntime()
    devarch = _tiered(runtime)
    assert devarch.down("tier", ordered=True) == 4
    assert sorted(runtime.stopped[:2]) == ["also-top", "top"]
    assert runtime.stopped[2:] == ["mid", "db"]
    assert runtime.list_containers({}) == []


def test_cli_down_prints_phases_and_timings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``devarch down`` prints ``==> containers (N)`` and a timings line on stderr, like apply."""
    runtime = FakeRuntime(images={IMAGE: "sha256:1"})
    monkeypatch.setattr(bootstrap, "open_runtime", lambda _kind: (runtime, None))
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    base = ["--home", str(tmp_path / "home"), "--runtime", "docker", "--catalog", str(EXAMPLES)]
    assert main([*base, "stack", "create", "p"]) == 0
    assert main([*base, "instance", "add", "p", "c", "bb-cache"]) == 0
    assert main([*base, "apply", "p", "--yes"]) == 0
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    assert main([*base, "down", "p", "--ordered"]) == 0
    text = stderr.getvalue()
    assert "==> containers (1)" in text
    assert "containers: c removed" in text
    assert "==> network (1)" in text
    assert "Timings: containers " in text

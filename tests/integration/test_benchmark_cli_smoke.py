"""benchmarks/cli.py still runs against Docker and docker-compose (tiny size), so it cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.docker, pytest.mark.compose]


def test_cli_benchmark_prints_every_phase_and_startup_figure(docker_url: str) -> None:
    """Two services that exit on TERM, one round: a row per phase and per start-up command."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "cli.py"),
            *("--services", "2", "--rounds", "1", "--kinds", "quit", "--startup", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "DOCKER_HOST": docker_url},
    )
    assert done.returncode == 0, done.stderr
    for phase in ("cold", "noop", "down"):
        assert f"| quit | {phase} |" in done.stdout, done.stdout
    for phase in ("cold", "down"):
        assert f"| quit | {phase}, engine floor (raw API, in-process) |" in done.stdout
    for command in ("`devarch --help`", "`devarch status`", "`import devarch_core`"):
        assert command in done.stdout
    assert (
        "clib-"
        not in subprocess.run(
            ["docker", "ps", "-a", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )

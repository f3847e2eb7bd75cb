"""benchmarks/parallel.py still runs against Docker and Podman (tiny size), so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.docker, pytest.mark.podman]


def test_parallel_benchmark_prints_a_row_per_engine_and_worker_count(
    docker_url: str, podman_url: str
) -> None:
    """Two containers (one depending on the other), 1 and 2 workers, one round, both engines."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "parallel.py"),
            *("--containers", "2", "--workers", "1,2", "--rounds", "1", "--depends"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for engine in ("docker", "podman"):
        rows = [line for line in done.stdout.splitlines() if line.startswith(f"| {engine} |")]
        assert len(rows) == 2, done.stdout
        assert sum("(best)" in row for row in rows) == 1
    for url in (docker_url, podman_url):
        names = subprocess.run(
            ["docker", "-H", url, "ps", "-a", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "parb-" not in names, "the benchmark leaves nothing behind"

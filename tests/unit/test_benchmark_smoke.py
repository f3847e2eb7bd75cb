"""The benchmark scripts still run (a tiny size), so they cannot rot between benchmark runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scale_benchmark_runs_and_prints_a_row_per_size() -> None:
    """benchmarks/scale.py at sizes 3 and 5 plus 2 stacks x 3 prints every figure and exits 0."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "scale.py"),
            "--sizes",
            "3,5",
            "--stacks",
            "2x3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| 3 |", "| 5 |"))]
    assert len(rows) == 4, done.stdout  # wall time, then CPU time, of each size
    assert all(row.count(" ms") == 5 for row in rows), rows
    wall, cpu = done.stdout.split("CPU time of this process")
    assert wall.count("| 3 |") == cpu.count("| 3 |") == 1, done.stdout
    assert done.stdout.startswith("load average at start: "), done.stdout
    assert "2 stacks x 3 instances in one store" in done.stdout
    assert "add of the last" in done.stdout.split("in one store")[1], done.stdout

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
    assert len(rows) == 2, done.stdout
    assert all(row.count(" ms") == 5 for row in rows), rows
    assert "2 stacks x 3 instances in one store" in done.stdout

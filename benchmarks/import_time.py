"""Start-up cost as a user feels it: `import devarch_core` and `devarch --help`, fresh processes.

Run: ``.venv/bin/python benchmarks/import_time.py [--runs 10]``. Prints the median wall time of
``python -c "import devarch_core"`` and of ``devarch --help`` (through ``python -m``), each minus
the median of ``python -c pass``; targets are 50 ms and 150 ms. Exit status is always 0 (figures
are reported, not asserted; ``tests/unit/test_import_purity.py`` asserts a loose budget).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGETS = {"import devarch_core": 0.050, "devarch --help": 0.150}


def median_seconds(argv: list[str], runs: int) -> float:
    """Median wall time of ``runs`` fresh runs of ``argv``."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> int:
    """Measure and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    py = sys.executable
    baseline = median_seconds([py, "-c", "pass"], args.runs)
    commands = {
        "import devarch_core": [py, "-c", "import devarch_core"],
        "devarch --help": [
            py,
            "-c",
            "import sys; from devarch_adapters.cli import main; sys.exit(main(['--help']))",
        ],
    }
    print(f"python -c pass: {baseline * 1000:.1f} ms (median of {args.runs}, subtracted below)")
    for label, argv in commands.items():
        seconds = median_seconds(argv, args.runs) - baseline
        print(f"{label}: {seconds * 1000:.1f} ms (target {TARGETS[label] * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

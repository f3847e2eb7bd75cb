"""How many container creates+starts at once an engine takes best: the cold-apply parallelism.

Usage::

    python benchmarks/parallel.py [--engines docker,podman] [--containers 20]
                                  [--workers 4,8,16,20,32] [--rounds 3] [--depends]

For each engine and each worker count, ``--containers`` busybox containers (the ``bench-quit``
service: a shell that exits on SIGTERM) are created and started on a fresh network through
devarch's own runtime (the calls a cold ``apply`` makes: one create and one start per container),
``--workers`` at a time, and the wall time from the first create to the last start is taken.
With ``--depends`` the second half of the containers depend on the first half (as in
``benchmarks/cli.py``): each is created and started once its own dependency has started, as
apply schedules them, so a ready dependent may wait for a free worker.
Teardown is not timed. The worker counts run in a rotated order each round so a drift of the
machine's load does not favour one; the median of the rounds is reported beside every round.

Figures are printed (a markdown table), never asserted; exit status 0 unless the benchmark itself
failed. Everything created is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import statistics
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Final

from devarch_adapters.docker import DockerRuntime
from devarch_adapters.podman import PodmanRuntime
from devarch_core.engine import ContainerSpec
from devarch_core.errors import DevarchError

if TYPE_CHECKING:
    from collections.abc import Sequence

IMAGE: Final = "devarch-test/busybox:latest"
COMMAND: Final = ("sh", "-c", "trap 'exit 0' TERM INT; while true; do sleep 1 & wait; done")
URLS: Final = {"docker": "unix:///var/run/docker.sock", "podman": "unix:///run/podman/podman.sock"}


def _runtime(engine: str) -> DockerRuntime:
    return DockerRuntime(URLS[engine]) if engine == "docker" else PodmanRuntime(URLS[engine])


def _clean(runtime: DockerRuntime, names: Sequence[str], network: str) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        list(pool.map(runtime.remove_container, names))
    with contextlib.suppress(DevarchError):
        runtime.remove_network(network)


def one_run(
    runtime: DockerRuntime, *, containers: int, workers: int, depends: bool = False
) -> float:
    """Create and start ``containers`` containers, ``workers`` at once; the wall seconds."""
    prefix = "parb-" + secrets.token_hex(3)
    network = prefix + "-net"
    labels = {"devarch.bench": prefix}
    runtime.ensure_network(network, labels)
    specs = [
        ContainerSpec(
            name=f"{prefix}-{i:02d}", image=IMAGE, network=network, command=COMMAND, labels=labels
        )
        for i in range(containers)
    ]

    def converge(spec: ContainerSpec) -> None:
        runtime.create_container(spec)
        runtime.start_container(spec.name)

    half = containers // 2 if depends else containers
    bases, dependents = specs[:half], specs[half:]
    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            later: list[Future[None]] = []
            lock = threading.Lock()

            def base_then_dependent(index: int) -> None:
                converge(bases[index])
                if index < len(dependents):  # its dependent is ready now
                    with lock:
                        later.append(pool.submit(converge, dependents[index]))

            list(pool.map(base_then_dependent, range(len(bases))))
            for future in later:
                future.result()
        return time.perf_counter() - start
    finally:
        _clean(runtime, [s.name for s in specs], network)


def measure(
    engines: Sequence[str],
    counts: Sequence[int],
    *,
    containers: int,
    rounds: int,
    depends: bool = False,
) -> dict[tuple[str, int], list[float]]:
    """Seconds per ``(engine, workers)``, one figure per round."""
    timings: dict[tuple[str, int], list[float]] = {}
    runtimes = {engine: _runtime(engine) for engine in engines}
    try:
        for runtime in runtimes.values():  # warm the engine (image, first network) untimed
            one_run(runtime, containers=2, workers=2)
        for index in range(rounds):
            order = list(counts[index % len(counts) :]) + list(counts[: index % len(counts)])
            for workers in order:
                for engine, runtime in runtimes.items():
                    seconds = one_run(
                        runtime, containers=containers, workers=workers, depends=depends
                    )
                    timings.setdefault((engine, workers), []).append(seconds)
            print(f"round {index + 1}/{rounds} done", file=sys.stderr, flush=True)
    finally:
        for runtime in runtimes.values():
            runtime.close()
    return timings


def report(
    timings: dict[tuple[str, int], list[float]], engines: Sequence[str], counts: Sequence[int]
) -> str:
    """A markdown table: median seconds per engine and worker count, every round beside it."""
    lines = ["| engine | workers | median s | rounds s |", "| --- | ---: | ---: | --- |"]
    for engine in engines:
        best = min(counts, key=lambda w: statistics.median(timings[engine, w]))
        for workers in counts:
            values = timings[engine, workers]
            mark = " (best)" if workers == best else ""
            per = ", ".join(f"{v:.2f}" for v in values)
            lines.append(
                f"| {engine} | {workers}{mark} | {statistics.median(values):.2f} | {per} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print the table; 0 whatever the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--engines", default="docker,podman", help="comma-separated")
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--workers", default="4,8,16,20,32", help="comma-separated counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--depends", action="store_true", help="the second half depend on the first half"
    )
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - set(URLS))
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}: choose from docker, podman")
    counts = [int(w) for w in args.workers.split(",") if w]
    timings = measure(
        engines, counts, containers=args.containers, rounds=args.rounds, depends=args.depends
    )
    shape = ", half of them depending on the other half" if args.depends else ""
    print(
        f"{args.containers} containers created and started{shape}, median of {args.rounds} rounds"
    )
    print()
    print(report(timings, engines, counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

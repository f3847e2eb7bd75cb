"""How devarch's core scales with the number of instances (no engine: the fake runtime).

Usage::

    python benchmarks/scale.py [--sizes 10,100,1000,5000] [--budget 120] [--stacks 50x20]
                               [--repeat 3]

One stack of ``1 postgres + 1 redis + (N - 2) django`` instances from the builtin catalog (every
django auto-wires to the one postgres and the one redis) on a real SQLite store in a throw-away
home, with the in-memory fake runtime standing in for the engine so only devarch's own work is
timed. For each size it prints:

* ``add``: all N ``add_instance`` calls, and the last one alone (the N-th instance);
* ``plan``: the first plan (everything to add);
* ``apply``: the apply on the fake engine (creates N fake containers);
* ``replan``: a plan after that apply (nothing to do: the no-op path).

Plan and re-plan (reads: they change nothing) are timed ``--repeat`` times (default 3) and the
best is reported; adds and apply once. Each figure is wall time (what a user waits); a second
table gives the CPU time of the same calls, which other jobs on a shared machine disturb far
less, and the growth of the CPU time of add / plan / re-plan from 100 to 1,000 instances when
both sizes run. The load average at the start is printed first.

``--stacks AxB`` also times A stacks of B instances each in one store (plan of one stack while
the others exist). A size whose previous size took longer than ``--budget`` seconds is skipped
and reported as such, so the script always ends. Figures are printed, never asserted; the exit
status is 0 unless the benchmark itself failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from devarch_adapters.sqlite import SqliteStore  # noqa: E402 - the checkout's sources win
from devarch_core.app import Devarch  # noqa: E402
from devarch_core.catalog import builtin_catalog  # noqa: E402
from devarch_core.testing import (  # noqa: E402
    FakeConfigFiles,
    FakePortProbe,
    FakeRuntime,
    InMemoryKeys,
    InMemoryStackLock,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

DEFAULT_SIZES: Final = (10, 100, 1000, 5000)


def _devarch(home: Path) -> Devarch:
    """A facade on a real SQLite store and the fake engine (the engine is not what we time)."""
    catalog = builtin_catalog()
    images = {t.service.image: f"sha256:{i:064x}" for i, t in enumerate(catalog) if t.service.image}
    return Devarch(
        store=SqliteStore(home / "devarch.db"),
        catalog=catalog,
        keys=InMemoryKeys(),
        runtime=FakeRuntime(images),
        lock=InMemoryStackLock(),
        config_files=FakeConfigFiles(),
        port_probe=FakePortProbe(),
        port_range=(20000, 39999),
    )


#: CPU seconds of the timed calls, by figure name, of the last ``one_stack``/``many_stacks``
#: run. Wall time is what a user waits, but on a shared machine it mostly measures the other
#: jobs; the process's CPU time does not.
CPU: dict[str, float] = {}


def _timed(action: Callable[[], object], cpu_key: str = "") -> float:
    start, cpu = time.perf_counter(), time.process_time()
    action()
    if cpu_key:
        CPU[cpu_key] = CPU.get(cpu_key, 0.0) + time.process_time() - cpu
    return time.perf_counter() - start


#: How many times a plan / re-plan is timed (the best is reported): set by ``--repeat``.
REPEAT = [3]


def _best(action: Callable[[], object], cpu_key: str) -> float:
    """The best wall time (and, in ``CPU``, the best CPU time) of ``REPEAT`` runs of a read."""
    walls, cpus = [], []
    for _ in range(max(1, REPEAT[0])):
        CPU.pop(cpu_key, None)
        walls.append(_timed(action, cpu_key))
        cpus.append(CPU[cpu_key])
    CPU[cpu_key] = min(cpus)
    return min(walls)


def _instances(size: int) -> Iterator[tuple[str, str]]:
    """(name, template) of a stack of ``size`` instances: one db, one cache, the rest apps."""
    yield "db", "postgres"
    if size > 1:
        yield "cache", "redis"
    for index in range(max(0, size - 2)):
        yield f"app-{index:05d}", "django"


def one_stack(size: int) -> dict[str, float]:
    """Time add / plan / apply / re-plan of one stack of ``size`` instances."""
    home = Path(tempfile.mkdtemp(prefix="devarch-scale-"))
    try:
        da = _devarch(home)
        da.create_stack("scale")
        CPU.clear()
        items = list(_instances(size))
        adds = [
            _timed(lambda n=name, t=tpl: da.add_instance("scale", n, t), "add_all")  # type: ignore[misc]
            for name, tpl in items[:-1]
        ]
        adds.append(_timed(lambda: da.add_instance("scale", *items[-1]), "add_last"))
        CPU["add_all"] = CPU.get("add_all", 0.0) + CPU["add_last"]
        figures = {"add_all": sum(adds), "add_last": adds[-1]}
        figures["plan"] = _best(lambda: da.plan("scale"), "plan")
        figures["apply"] = _timed(lambda: da.apply("scale"), "apply")
        figures["replan"] = _best(lambda: da.plan("scale"), "replan")
        da.store.close()
        return figures
    finally:
        shutil.rmtree(home, ignore_errors=True)


def many_stacks(stacks: int, per_stack: int) -> dict[str, float]:
    """Time building ``stacks`` stacks of ``per_stack`` instances and planning the last one."""
    home = Path(tempfile.mkdtemp(prefix="devarch-scale-"))
    try:
        da = _devarch(home)
        CPU.clear()
        start = time.perf_counter()
        last_add = 0.0
        for index in range(stacks):
            name = f"s{index:03d}"
            da.create_stack(name)
            for inst, tpl in _instances(per_stack):
                last_add = _timed(lambda s=name, i=inst, t=tpl: da.add_instance(s, i, t))  # type: ignore[misc]
        figures = {"build": time.perf_counter() - start, "add_last": last_add}
        last = f"s{stacks - 1:03d}"
        figures["plan"] = _best(lambda: da.plan(last), "plan")
        figures["apply"] = _timed(lambda: da.apply(last), "apply")
        figures["replan"] = _best(lambda: da.plan(last), "replan")
        da.store.close()
        return figures
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"  # noqa: PLR2004


def main(argv: list[str] | None = None) -> int:
    """Run the sizes in order, print one table row per size; 0 whatever the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--budget", type=float, default=120.0, help="skip bigger sizes after this")
    parser.add_argument("--stacks", default="50x20", help="AxB: A stacks of B instances ('' skips)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="time each plan and re-plan N times, report the best"
    )
    args = parser.parse_args(argv)
    REPEAT[0] = args.repeat
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at start: {load} ({os.cpu_count()} CPUs)\n")
    print("| instances | add all | add of the last | plan | apply (fake engine) | re-plan |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    spent = 0.0
    cpu_rows: list[tuple[int, dict[str, float]]] = []
    for size in sizes:
        if spent > args.budget:
            print(f"| {size:,} | skipped: the previous size took {spent:.0f} s (> --budget) |")
            continue
        start = time.perf_counter()
        f = one_stack(size)
        spent = time.perf_counter() - start
        cpu_rows.append((size, dict(CPU)))
        print(
            f"| {size:,} | {_ms(f['add_all'])} | {_ms(f['add_last'])} | {_ms(f['plan'])} "
            f"| {_ms(f['apply'])} | {_ms(f['replan'])} |",
            flush=True,
        )
    print("\nCPU time of this process (the same calls):\n")
    print("| instances | add all | add of the last | plan | apply (fake engine) | re-plan |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, c in cpu_rows:
        cells = " | ".join(_ms(c[k]) for k in ("add_all", "add_last", "plan", "apply", "replan"))
        print(f"| {size:,} | {cells} |")
    by_size = dict(cpu_rows)
    if 100 in by_size and 1000 in by_size:  # noqa: PLR2004 - the growth the targets name
        growth = ", ".join(
            f"{k} {by_size[1000][k] / by_size[100][k]:.1f}x"
            for k in ("add_last", "plan", "replan")
            if by_size[100][k] > 0
        )
        print(f"\ngrowth from 100 to 1,000 instances (CPU time): {growth}")
    if args.stacks:
        count, per = (int(x) for x in args.stacks.split("x"))
        f = many_stacks(count, per)
        print(
            f"\n{count} stacks x {per} instances in one store: build {_ms(f['build'])}, "
            f"add of the last {_ms(f['add_last'])}, plan of one stack {_ms(f['plan'])} "
            f"(CPU {_ms(CPU['plan'])}), apply {_ms(f['apply'])}, "
            f"re-plan {_ms(f['replan'])} (CPU {_ms(CPU['replan'])})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

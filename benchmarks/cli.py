"""The ``devarch`` CLI as a user runs it (a fresh process each time) against docker-compose.

Usage::

    python benchmarks/cli.py [--services 20] [--rounds 2] [--kinds quit,idle] [--startup 5]

Both tools drive the same ``--services`` busybox services (half of them depend on the other
half, no healthchecks), rendered once by devarch into a compose file for Debian's
docker-compose 1.29, on the same engine, in one run. Two kinds of service are measured, because
real images differ:

* ``quit``: the service exits at once on SIGTERM (a shell that traps it);
* ``idle``: ``sleep`` is PID 1 and ignores SIGTERM, so each stop waits the whole grace period
  (10 s for both tools) before SIGKILL. Many real images behave like this.

Phases, each a fresh process of the tool, the tool that goes first alternating per round:
``cold`` (``devarch apply STACK --yes`` / ``docker-compose up -d`` on an empty engine),
``noop`` (the same again), ``down`` (``devarch down STACK`` / ``docker-compose down``).
Beside ``cold`` and ``down`` the same work is timed once more with no tool at all (the engine
``floor``), straight through the docker SDK from this process (already imported and connected:
no process start, no store, no plan). Cold floor: the network, then every service of the compose
file created and started, each the moment its ``depends_on`` services are started, all at once
(``FLOOR_WORKERS``). Down floor: the devarch stack applied again (not timed), one container
list, every container stopped and removed at once, the network removed. It is the engine's own
time for the work both tools must ask for, so a ratio can be read against what the engine allows.
Then start-up costs, the median of ``--startup`` fresh processes: ``devarch --help``,
``devarch status STACK`` and ``python -c "import devarch_core"`` beside ``docker-compose
--help`` and ``docker-compose ps``. The bytecode cache is warmed first and
``PYTHONDONTWRITEBYTECODE`` is removed from the environment, as on a user's machine.

Figures are printed (a markdown table with devarch/compose ratios), never asserted; exit status
0 unless the benchmark itself failed. Everything created is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT: Final = Path(__file__).resolve().parent.parent
CATALOG: Final = Path(__file__).resolve().parent / "catalog"
KINDS: Final = {"quit": "bench-quit", "idle": "bench-idle"}
PHASES: Final = ("cold", "noop", "down")
#: Stops and removals in flight at once in the engine-floor teardown (every container at once).
FLOOR_WORKERS: Final = 64
TIMEOUT: Final = 600


def _devarch_command() -> list[str]:
    """The console script beside this interpreter (how a user runs it), else ``python -m``."""
    script = Path(sys.executable).parent / "devarch"
    if script.exists():
        return [str(script)]
    return [
        sys.executable,
        "-c",
        "import sys; from devarch_adapters.cli import main; sys.exit(main())",
    ]


class CliBench:
    """One run: a throw-away devarch home, a devarch stack and a compose project per kind."""

    def __init__(self, *, services: int, kinds: list[str]) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="devarch-clibench-"))
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env.update(
            DEVARCH_HOME=str(self.home),
            DEVARCH_RUNTIME="docker",
            DEVARCH_CATALOG_PATH=str(CATALOG),
            COMPOSE_INTERACTIVE_NO_CLI="1",
        )
        self.devarch = _devarch_command()
        self.services = services
        self.kinds = kinds
        prefix = "clib-" + secrets.token_hex(3)
        self.stacks = {kind: (f"{prefix}-{kind}-dv", f"{prefix}-{kind}-dc") for kind in kinds}
        self.timings: dict[tuple[str, str, str], list[float]] = {}
        self.floors: dict[tuple[str, str], list[float]] = {}

    # -- running the tools --------------------------------------------------------------------
    def run(self, argv: list[str]) -> float:
        """Run one command in a fresh process; its wall time, or RuntimeError with its output.

        A network removal the engine refuses because an endpoint it is still detaching is
        attached (a Docker race on a loaded machine, seen with docker-compose ``down``) is run
        once more, as a user would; the time counts both runs.
        """
        start = time.perf_counter()
        done = subprocess.run(
            argv, capture_output=True, text=True, env=self.env, timeout=TIMEOUT, check=False
        )
        if done.returncode != 0 and "has active endpoints" in (done.stderr + done.stdout):
            print(f"retrying once: {' '.join(argv)}", file=sys.stderr, flush=True)
            done = subprocess.run(
                argv, capture_output=True, text=True, env=self.env, timeout=TIMEOUT, check=False
            )
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            msg = f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr or done.stdout}"
            raise RuntimeError(msg)
        return elapsed

    def dv(self, *args: str) -> float:
        """``devarch ARGS`` in a fresh process."""
        return self.run([*self.devarch, *args])

    def dc(self, kind: str, *args: str) -> float:
        """``docker-compose -p PROJECT -f FILE ARGS`` in a fresh process."""
        project = self.stacks[kind][1]
        file = self.home / f"{project}.yml"
        return self.run(
            ["docker-compose", "--ansi", "never", "-p", project, "-f", str(file), *args]
        )

    # -- setup ----------------------------------------------------------------------------------
    def define(self) -> None:
        """Create the stacks through the CLI and render each compose file with devarch."""
        half = self.services // 2
        for kind, (dv_stack, dc_stack) in self.stacks.items():
            for stack in (dv_stack, dc_stack):
                self.dv("stack", "create", stack)
                for i in range(half):
                    self.dv("instance", "add", stack, f"base-{i:02d}", KINDS[kind])
                for i in range(self.services - half):
                    base = f"base-{i % max(1, half):02d}"
                    self.dv("instance", "add", stack, f"app-{i:02d}", KINDS[kind])
                    self.dv("instance", "set", stack, f"app-{i:02d}", f"depends_on={base}")
            out = self.home / f"{dc_stack}.yml"
            self.dv("compose", dc_stack, "--reveal-secrets", "-o", str(out))

    # -- phases ---------------------------------------------------------------------------------
    def phase(self, kind: str, phase: str, tool: str) -> float:
        """One phase of one tool on its stack of ``kind``."""
        dv_stack = self.stacks[kind][0]
        if tool == "devarch":
            if phase == "down":
                return self.dv("down", dv_stack)
            return self.dv("apply", dv_stack, "--yes")
        if phase == "down":
            return self.dc(kind, "down")
        return self.dc(kind, "up", "-d")

    def floor_cold(self, kind: str) -> float:
        """The engine's own time for a cold ``up``: network, then create+start by dependency.

        The services of the compose file devarch rendered (image, command, depends_on), under
        other names, on a network of their own; a service starts the moment the services it
        depends on are started, every one that can at once. Removed afterwards (not timed).
        """
        import docker  # noqa: PLC0415 - only the floor phases need the SDK
        import yaml  # noqa: PLC0415

        project = self.stacks[kind][1]
        services = yaml.safe_load((self.home / f"{project}.yml").read_text())["services"]
        api = docker.from_env(timeout=TIMEOUT).api
        api.ping()
        network = f"{project}-floor"
        names = {service: f"{project}-floor-{service}" for service in services}
        start = time.perf_counter()
        api.create_network(network, driver="bridge")
        started: dict[str, Future[None]] = {}

        def up(service: str) -> None:
            for dep in services[service].get("depends_on") or ():
                started[dep].result()
            config = services[service]
            api.create_container(
                config["image"],
                config.get("command"),
                name=names[service],
                host_config=api.create_host_config(),
                networking_config={"EndpointsConfig": {network: {"Aliases": [service]}}},
            )
            api.start(names[service])

        ordered: list[str] = []
        while len(ordered) < len(services):  # dependencies first (the file lists by name)
            ordered += [
                name
                for name, config in services.items()
                if name not in ordered
                and all(dep in ordered for dep in config.get("depends_on") or ())
            ]
        with ThreadPoolExecutor(max_workers=FLOOR_WORKERS) as pool:
            for service in ordered:
                started[service] = pool.submit(up, service)
            for future in started.values():
                future.result()
        elapsed = time.perf_counter() - start
        with ThreadPoolExecutor(max_workers=FLOOR_WORKERS) as pool:
            list(pool.map(lambda n: api.remove_container(n, force=True), names.values()))
        api.remove_network(network)
        api.close()
        return elapsed

    def floor_down(self, kind: str) -> float:
        """The engine's own time for ``down``: stop+remove all at once, then the network.

        The devarch stack is applied again first (not timed). The docker SDK is imported and
        connected before the clock starts; the time covers one container list, every stop
        and removal in flight at once, and the network removal.
        """
        import docker  # noqa: PLC0415 - only this phase needs the SDK

        dv_stack = self.stacks[kind][0]
        self.dv("apply", dv_stack, "--yes")
        api = docker.from_env(timeout=TIMEOUT).api
        api.ping()
        start = time.perf_counter()
        names = [
            c["Names"][0].lstrip("/")
            for c in api.containers(all=True, filters={"label": f"devarch.stack={dv_stack}"})
        ]

        def stop_and_remove(name: str) -> None:
            api.stop(name)
            api.remove_container(name, force=True)

        with ThreadPoolExecutor(max_workers=FLOOR_WORKERS) as pool:
            list(pool.map(stop_and_remove, names))
        api.remove_network(f"devarch-{dv_stack}-net")
        elapsed = time.perf_counter() - start
        api.close()
        return elapsed

    def rounds(self, count: int) -> None:
        """``count`` rounds of every phase for every kind, alternating who goes first."""
        for index in range(count):
            for kind in self.kinds:
                for p_index, phase in enumerate(PHASES):
                    tools = ["devarch", "compose"]
                    if (index + p_index) % 2:
                        tools.reverse()
                    for tool in tools:
                        seconds = self.phase(kind, phase, tool)
                        self.timings.setdefault((kind, phase, tool), []).append(seconds)
                self.floors.setdefault((kind, "cold"), []).append(self.floor_cold(kind))
                self.floors.setdefault((kind, "down"), []).append(self.floor_down(kind))
            print(f"round {index + 1}/{count} done", file=sys.stderr, flush=True)

    def startup(self, repeat: int) -> list[tuple[str, float, str, float]]:
        """Median start-up figures of devarch beside the comparable docker-compose command."""
        kind = self.kinds[0]
        dv_stack = self.stacks[kind][0]
        self.dv("apply", dv_stack, "--yes")
        self.dc(kind, "up", "-d")
        py = [sys.executable, "-c", "import devarch_core"]
        pairs: list[tuple[str, Callable[[], float], str, Callable[[], float]]] = [
            (
                "devarch --help",
                lambda: self.dv("--help"),
                "docker-compose --help",
                lambda: self.run(["docker-compose", "--help"]),
            ),
            (
                "devarch status",
                lambda: self.dv("status", dv_stack),
                "docker-compose ps",
                lambda: self.dc(kind, "ps"),
            ),
            ("import devarch_core", lambda: self.run(py), "", lambda: 0.0),
        ]
        self.dv("--help")  # warm the bytecode cache
        rows = []
        for dv_name, dv_run, dc_name, dc_run in pairs:
            dv_times = [dv_run() for _ in range(repeat)]
            dc_times = [dc_run() for _ in range(repeat)]
            rows.append(
                (dv_name, statistics.median(dv_times), dc_name, statistics.median(dc_times))
            )
        return rows

    # -- cleanup ----------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Remove both tools' containers and networks, the store and the home directory."""
        for kind, (dv_stack, _) in self.stacks.items():
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
                self.dc(kind, "down", "--timeout", "1")
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
                self.dv("down", dv_stack)
        shutil.rmtree(self.home, ignore_errors=True)


def report(bench: CliBench, startup: list[tuple[str, float, str, float]]) -> str:
    """The results as a markdown table: medians per phase and kind, ratio devarch/compose."""
    lines = [
        f"{bench.services} services, CLI in a fresh process per command, median seconds",
        "",
        "| service kind | phase | devarch s | docker-compose s | ratio | rounds (dv/dc) |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for kind in bench.kinds:
        for phase in PHASES:
            dv = bench.timings.get((kind, phase, "devarch"), [])
            dc = bench.timings.get((kind, phase, "compose"), [])
            a, b = statistics.median(dv), statistics.median(dc)
            per = ", ".join(f"{x:.2f}/{y:.2f}" for x, y in zip(dv, dc, strict=True))
            lines.append(f"| {kind} | {phase} | {a:.2f} | {b:.2f} | {a / b:.2f} | {per} |")
        for phase in ("cold", "down"):
            floors = bench.floors.get((kind, phase), [])
            if not floors:
                continue
            compose = statistics.median(bench.timings.get((kind, phase, "compose"), [0.0]))
            floor = statistics.median(floors)
            per = ", ".join(f"{x:.2f}" for x in floors)
            lines.append(
                f"| {kind} | {phase}, engine floor (raw API, in-process) | {floor:.2f} | "
                f"{compose:.2f} | {floor / compose:.2f} | {per} |"
            )
    lines += [
        "",
        "| devarch command | s | docker-compose command | s |",
        "| --- | ---: | --- | ---: |",
    ]
    for dv_name, dv_s, dc_name, dc_s in startup:
        lines.append(
            f"| `{dv_name}` | {dv_s:.3f} | {f'`{dc_name}`' if dc_name else '-'} | "
            f"{f'{dc_s:.3f}' if dc_name else '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI benchmark and print the table; 0 whatever the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kinds", default="quit,idle", help="comma-separated: quit, idle")
    parser.add_argument(
        "--startup", type=int, default=5, help="fresh processes per start-up figure"
    )
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if args.services < 2 or args.rounds < 1 or not kinds or set(kinds) - set(KINDS):  # noqa: PLR2004
        parser.error("--services >= 2, --rounds >= 1, --kinds from: quit, idle")
    if shutil.which("docker-compose") is None:
        print("docker-compose is not on PATH (apt-get install docker-compose)", file=sys.stderr)
        return 1
    bench = CliBench(services=args.services, kinds=kinds)
    try:
        bench.define()
        bench.rounds(args.rounds)
        startup = bench.startup(args.startup)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.cleanup()
    print(report(bench, startup))
    return 0


if __name__ == "__main__":
    sys.exit(main())

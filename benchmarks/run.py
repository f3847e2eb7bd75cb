"""Benchmark devarch against Debian's docker-compose (1.29) on the same 20-service stack.

Usage::

    python benchmarks/run.py [--services 20] [--repeat 3] [--profile FILE] [--docker-url URL]

Two stacks are defined in one throw-away devarch store: ``<prefix>-dv`` is driven by devarch's
Python API in this process (how a user embeds it), ``<prefix>-dc`` is rendered by devarch itself
(``Devarch.compose``) and run by ``docker-compose -p <prefix>-dc``. Both hold the very same
services (one template catalog, ``benchmarks/catalog``): ``services // 5`` "base" TCP listeners
with a 500ms healthcheck and the rest "app" services that depend on every base (compose:
``condition: service_healthy``; devarch waits for the bases' health before starting the apps).
Base ports are pinned to distinct free host ports per stack so both stacks can run side by side.

Phases, each timed for both tools in alternating order (devarch first on even rounds), repeated
``--repeat`` times; the median is reported:

* ``cold``: ``Devarch.apply`` vs ``docker-compose up -d`` on an empty engine;
* ``noop``: the same again with nothing to change;
* ``change``: one app's environment edited, then ``Devarch.plan`` + ``Devarch.apply`` vs
  ``docker-compose up -d`` with the re-rendered file;
* ``teardown``: ``Devarch.down`` vs ``docker-compose down``.

The CLI (``devarch apply --yes``) is timed once for reference when it is installed. Figures are
reported, not asserted: the exit status is 0 whatever the ratios (2 on a usage error, 1 if the
benchmark itself could not run). Everything created is removed at the end, even on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.util
import os
import pstats
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from devarch_adapters import connect  # noqa: E402 - the checkout's sources win over an installed copy
from devarch_core import naming  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from devarch_core.app import Devarch

CATALOG: Final = Path(__file__).resolve().parent / "catalog"
IMAGE: Final = "devarch-test/busybox:latest"
PHASES: Final = ("cold", "noop", "change", "teardown")
#: Ratio devarch / docker-compose that each phase should stay under (None: no target).
TARGETS: Final[dict[str, float | None]] = {
    "cold": 0.85,
    "noop": 0.25,
    "change": None,
    "teardown": 0.6,
}
COMPOSE_TIMEOUT: Final = 300


def _free_ports(count: int) -> list[int]:
    """Distinct host ports that are free right now (the kernel picks them)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


class Bench:
    """One benchmark run: a store, two stacks, a compose file and the timings."""

    def __init__(self, *, services: int, docker_url: str, profile: cProfile.Profile | None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="devarch-bench-"))
        self.docker_url = docker_url
        os.environ.setdefault("DOCKER_HOST", docker_url)
        self.devarch: Devarch = connect(home=self.home, runtime="docker", catalog=[CATALOG])
        prefix = "bench-" + secrets.token_hex(3)
        self.dv = f"{prefix}-dv"
        self.dc = f"{prefix}-dc"
        self.bases = [f"base-{i:02d}" for i in range(max(1, services // 5))]
        self.apps = [f"app-{i:02d}" for i in range(max(0, services - len(self.bases)))]
        self.compose_file = self.home / "compose.yml"
        self.profile = profile
        self.revision = 0
        self.timings: dict[str, dict[str, list[float]]] = {
            p: {"devarch": [], "compose": []} for p in PHASES
        }
        self.apply_phases: list[dict[str, float]] = []
        self.cli_seconds: float | None = None
        self.cli_note = ""

    # -- setup ------------------------------------------------------------------------------
    def define(self) -> None:
        """Create both stacks with identical instances (bases pinned to distinct host ports)."""
        ports = iter(_free_ports(2 * len(self.bases)))
        for stack in (self.dv, self.dc):
            self.devarch.create_stack(stack, description="devarch benchmark (removed at the end)")
            for base in self.bases:
                self.devarch.add_instance(
                    stack,
                    base,
                    "bench-base",
                    overrides={"ports": [{"container": 5432, "host": next(ports)}]},
                )
            for app in self.apps:
                self.devarch.add_instance(
                    stack,
                    app,
                    "bench-app",
                    overrides={"depends_on": list(self.bases), "environment": {"APP_NAME": app}},
                )
        self.render()

    def render(self) -> None:
        """(Re)write the compose file of the compose stack, rendered by devarch itself."""
        self.compose_file.write_text(self.devarch.compose(self.dc, reveal_secrets=True))

    def edit(self, stack: str) -> None:
        """The one-service change: a new environment value on the first app."""
        self.devarch.set_overrides(
            stack, self.apps[0], {"environment": {"BENCH_REVISION": str(self.revision)}}
        )

    # -- the two tools ----------------------------------------------------------------------
    def compose(self, *args: str) -> None:
        """Run docker-compose on the compose stack; raise with its output when it fails."""
        env = {**os.environ, "DOCKER_HOST": self.docker_url, "COMPOSE_INTERACTIVE_NO_CLI": "1"}
        cmd = [
            "docker-compose",
            "--ansi",
            "never",
            "-p",
            self.dc,
            "-f",
            str(self.compose_file),
            *args,
        ]
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=COMPOSE_TIMEOUT, check=False
        )
        if done.returncode != 0:
            msg = f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}"
            raise RuntimeError(msg)

    @contextlib.contextmanager
    def _profiled(self) -> Iterator[None]:
        if self.profile is None:
            yield
            return
        self.profile.enable()
        try:
            yield
        finally:
            self.profile.disable()

    def devarch_phase(self, phase: str) -> None:
        """One phase on the devarch stack through the Python API."""
        with self._profiled():
            if phase in ("cold", "noop"):
                result = self.devarch.apply(self.dv)
                if phase == "cold":
                    self.apply_phases.append(dict(result.timings))
            elif phase == "change":
                self.edit(self.dv)
                plan = self.devarch.plan(self.dv)
                self.devarch.apply(self.dv, plan)
            else:
                self.devarch.down(self.dv)

    def compose_phase(self, phase: str) -> Callable[[], None]:
        """Prepare one compose phase (untimed: edit and render) and return the run to time."""
        if phase == "change":
            self.edit(self.dc)
            self.render()
        if phase == "teardown":
            return lambda: self.compose("down")
        return lambda: self.compose("up", "-d")

    def round(self, index: int) -> None:
        """All phases once, each for both tools; devarch goes first on even rounds."""
        self.revision = index + 1
        for phase in PHASES:
            tools = (
                ["devarch", "compose"]
                if (index + PHASES.index(phase)) % 2 == 0
                else ["compose", "devarch"]
            )
            for tool in tools:
                if tool == "devarch":
                    start = time.perf_counter()
                    self.devarch_phase(phase)
                else:
                    run = self.compose_phase(phase)
                    start = time.perf_counter()
                    run()
                self.timings[phase][tool].append(time.perf_counter() - start)
            self.check(phase)

    def check(self, phase: str) -> None:
        """Both stacks are in the state the phase should leave (timing a failure is worthless)."""
        want = 0 if phase == "teardown" else len(self.bases) + len(self.apps)
        for stack in (self.dv, self.dc):
            running = [c for c in self._containers(stack) if c.running]
            if len(running) != want:
                msg = f"after {phase}: {stack} runs {len(running)} containers, expected {want}"
                raise RuntimeError(msg)

    def _containers(self, stack: str) -> list:  # type: ignore[type-arg]
        runtime = self.devarch.runtime
        assert runtime is not None
        return runtime.list_containers(
            {naming.LABEL_MANAGED_BY: naming.MANAGED_BY, naming.LABEL_STACK_NAME: stack}
        )

    # -- the CLI, once ----------------------------------------------------------------------
    def time_cli(self) -> None:
        """Time ``devarch apply --yes`` once (cold, after a down) when the CLI is installed."""
        if importlib.util.find_spec("devarch_adapters.cli") is None:
            self.cli_note = "CLI not installed (devarch_adapters.cli missing)"
            return
        cmd = [
            sys.executable,
            "-c",
            "import sys; from devarch_adapters.cli import main; sys.exit(main())",
        ]
        args = [
            "--home",
            str(self.home),
            "--runtime",
            "docker",
            "--catalog",
            str(CATALOG),
            "apply",
            self.dv,
            "--yes",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        self.devarch.down(self.dv)
        start = time.perf_counter()
        done = subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=COMPOSE_TIMEOUT,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if done.returncode == 0:
            self.cli_seconds = elapsed
        else:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:]
            self.cli_note = f"CLI failed ({done.returncode}): {last}"
        self.devarch.down(self.dv)

    # -- cleanup ----------------------------------------------------------------------------
    def _sweep(self, stack: str) -> None:
        """Force-remove whatever is left of a stack on the engine (containers, network, volumes)."""
        runtime = self.devarch.runtime
        if runtime is None:
            return
        labels = {naming.LABEL_MANAGED_BY: naming.MANAGED_BY, naming.LABEL_STACK_NAME: stack}
        for container in runtime.list_containers(labels):
            runtime.remove_container(container.name)
        for network in runtime.list_networks(labels):
            runtime.remove_network(network.name)
        for volume in runtime.list_volumes(labels):
            runtime.remove_volume(volume.name)

    def cleanup(self) -> None:
        """Remove both stacks' containers, networks and volumes, the store and the home dir."""
        problems: list[str] = []
        if self.compose_file.exists():
            try:
                self.compose("down", "-v", "--timeout", "2")
            except (RuntimeError, subprocess.SubprocessError) as exc:
                problems.append(str(exc))
        for stack in (self.dv, self.dc):
            with contextlib.suppress(Exception):
                self.devarch.delete_stack(stack)
            try:
                self._sweep(stack)
            except Exception as exc:  # noqa: BLE001 - report and keep cleaning
                problems.append(f"cleanup of {stack}: {exc}")
        runtime = self.devarch.runtime
        close = getattr(runtime, "close", None)
        if callable(close):
            close()
        shutil.rmtree(self.home, ignore_errors=True)
        for problem in problems:
            print(f"warning: {problem}", file=sys.stderr)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(bench: Bench, *, services: int, repeat: int) -> str:
    """The results table (markdown) with per-round figures and devarch's own phase timings."""
    lines = [
        (
            f"{services} services ({len(bench.bases)} base + {len(bench.apps)} app), "
            f"{repeat} round(s), median seconds"
        ),
        "",
        "| phase | devarch s | docker-compose s | ratio | target | result |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for phase in PHASES:
        dv = _median(bench.timings[phase]["devarch"])
        dc = _median(bench.timings[phase]["compose"])
        ratio = dv / dc if dc else float("nan")
        target = TARGETS[phase]
        verdict = "-" if target is None else ("PASS" if ratio <= target else "FAIL")
        target_text = "-" if target is None else f"<= {target:.2f}"
        lines.append(f"| {phase} | {dv:.2f} | {dc:.2f} | {ratio:.2f} | {target_text} | {verdict} |")
    lines.append("")
    for phase in PHASES:
        rounds = ", ".join(
            f"{a:.2f}/{b:.2f}"
            for a, b in zip(
                bench.timings[phase]["devarch"], bench.timings[phase]["compose"], strict=True
            )
        )
        lines.append(f"{phase}: devarch/compose per round: {rounds}")
    if bench.apply_phases:
        keys = sorted({k for t in bench.apply_phases for k in t})
        parts = ", ".join(
            f"{k} {_median([t.get(k, 0.0) for t in bench.apply_phases]):.2f}" for k in keys
        )
        lines.append(f"devarch cold apply phases (median s): {parts}")
    if bench.cli_seconds is not None:
        lines.append(f"CLI `devarch apply --yes` (cold, once): {bench.cli_seconds:.2f} s")
    elif bench.cli_note:
        lines.append(f"CLI: {bench.cli_note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; 0 whatever the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--services",
        type=int,
        default=20,
        help="services per stack (default 20; a fifth are bases)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds; the median is reported (default 3)"
    )
    parser.add_argument(
        "--profile", type=Path, help="write cProfile stats of the devarch side to this file"
    )
    parser.add_argument(
        "--docker-url", default=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    )
    parser.add_argument("--no-cli", action="store_true", help="skip timing the CLI")
    args = parser.parse_args(argv)
    if args.services < 2 or args.repeat < 1:  # noqa: PLR2004
        parser.error("--services must be at least 2 and --repeat at least 1")
    if shutil.which("docker-compose") is None:
        print("docker-compose is not on PATH (apt-get install docker-compose)", file=sys.stderr)
        return 1
    profile = cProfile.Profile() if args.profile else None
    bench = Bench(services=args.services, docker_url=args.docker_url, profile=profile)
    try:
        if bench.devarch.runtime is None or bench.devarch.runtime.inspect_image(IMAGE) is None:
            print(
                f"the Docker engine at {args.docker_url} is unreachable or lacks {IMAGE}",
                file=sys.stderr,
            )
            return 1
        bench.define()
        for index in range(args.repeat):
            bench.round(index)
            print(f"round {index + 1}/{args.repeat} done", file=sys.stderr)
        if not args.no_cli:
            bench.time_cli()
    except Exception as exc:  # noqa: BLE001 - report, clean up, exit 1
        print(f"benchmark failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.cleanup()
    if profile is not None:
        profile.dump_stats(args.profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    print(report(bench, services=args.services, repeat=args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Embed devarch with your OWN runtime adapter: plan and apply a stack without any engine.

Any object with the methods of :class:`devarch_core.Runtime` is a runtime (the ports are
``typing.Protocol``s: no base class to inherit). Here ``LoggingRuntime`` wraps another runtime
(by default the in-memory ``devarch_core.testing.FakeRuntime``) and prints every call devarch
makes, so you can see exactly what an apply asks of an engine. The rest of the facade is built
from the in-memory fakes too: no Docker, no database, no files.

Run it: ``python examples/own_runtime.py [STACK]``.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import devarch_core
from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.testing import (
    FakeConfigFiles,
    FakePortProbe,
    FakeRuntime,
    InMemoryKeys,
    InMemoryStackLock,
    InMemoryStore,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from devarch_core.engine import HealthStatus
    from devarch_core.ports import LogIterator

CATALOG = Path(__file__).resolve().parent / "catalog"
IMAGE = "devarch-test/busybox:latest"


class LoggingRuntime:
    """A Runtime that prints each call, then hands it to ``inner`` (any other Runtime)."""

    name = "logging"

    def __init__(self, inner: devarch_core.Runtime, *, quiet_reads: bool = True) -> None:
        self.inner = inner
        self.quiet_reads = quiet_reads
        #: Every call, in order: ``(operation, target)``.
        self.calls: list[tuple[str, str]] = []
        # devarch calls a runtime from several threads (independent instances in parallel).
        self._lock = threading.Lock()

    def _log(self, operation: str, target: str, *, read: bool = False) -> None:
        with self._lock:
            self.calls.append((operation, target))
            if not (read and self.quiet_reads):
                print(f"  [runtime] {operation} {target}", flush=True)

    def info(self) -> devarch_core.EngineInfo:
        """The wrapped engine's info."""
        self._log("info", "", read=True)
        return self.inner.info()

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> devarch_core.NetworkInfo:
        """Create the network if absent."""
        self._log("ensure_network", name)
        return self.inner.ensure_network(name, labels)

    def remove_network(self, name: str) -> bool:
        """Remove a network."""
        self._log("remove_network", name)
        return self.inner.remove_network(name)

    def list_networks(self, labels: Mapping[str, str]) -> list[devarch_core.NetworkInfo]:
        """Networks carrying all ``labels``."""
        self._log("list_networks", "", read=True)
        return self.inner.list_networks(labels)

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> devarch_core.VolumeInfo:
        """Create the volume if absent."""
        self._log("ensure_volume", name)
        return self.inner.ensure_volume(name, labels)

    def remove_volume(self, name: str) -> bool:
        """Remove a volume."""
        self._log("remove_volume", name)
        return self.inner.remove_volume(name)

    def list_volumes(self, labels: Mapping[str, str]) -> list[devarch_core.VolumeInfo]:
        """Volumes carrying all ``labels``."""
        self._log("list_volumes", "", read=True)
        return self.inner.list_volumes(labels)

    def list_containers(self, labels: Mapping[str, str]) -> list[devarch_core.ContainerInfo]:
        """Containers carrying all ``labels``."""
        self._log("list_containers", "", read=True)
        return self.inner.list_containers(labels)

    def inspect_container(self, name: str) -> devarch_core.ContainerInfo | None:
        """One container, or None."""
        self._log("inspect_container", name, read=True)
        return self.inner.inspect_container(name)

    def create_container(self, spec: devarch_core.ContainerSpec) -> devarch_core.ContainerInfo:
        """Create a container (the only call that sees secret values: we print none)."""
        ports = ", ".join(f"{p.host_ip}:{p.host_port}->{p.container}" for p in spec.ports)
        self._log("create_container", f"{spec.name} on {spec.network} [{ports}]")
        return self.inner.create_container(spec)

    def start_container(self, name: str) -> None:
        """Start a container."""
        self._log("start_container", name)
        self.inner.start_container(name)

    def stop_container(self, name: str, timeout: float | None = None) -> None:
        """Stop a container (``None``: within its own grace period)."""
        self._log("stop_container", name)
        self.inner.stop_container(name, timeout)

    def remove_container(self, name: str) -> bool:
        """Remove a container."""
        self._log("remove_container", name)
        return self.inner.remove_container(name)

    def inspect_image(self, ref: str) -> devarch_core.ImageInfo | None:
        """A local image, or None."""
        self._log("inspect_image", ref, read=True)
        return self.inner.inspect_image(ref)

    def pull_image(self, ref: str) -> devarch_core.ImageInfo:
        """Pull an image."""
        self._log("pull_image", ref)
        return self.inner.pull_image(ref)

    def health(self, name: str) -> HealthStatus:
        """A container's health."""
        self._log("health", name, read=True)
        return self.inner.health(name)

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> LogIterator:
        """A container's log lines."""
        self._log("logs", name, read=True)
        return self.inner.logs(name, follow=follow, tail=tail)


def build(runtime: devarch_core.Runtime) -> devarch_core.Devarch:
    """The facade on in-memory adapters around ``runtime`` (the example catalog included)."""
    catalog = devarch_core.builtin_catalog().merged(load_catalog_dirs([CATALOG]))
    return devarch_core.Devarch(
        store=InMemoryStore(),
        catalog=catalog,
        keys=InMemoryKeys(),
        runtime=runtime,
        lock=InMemoryStackLock(),
        config_files=FakeConfigFiles(),
        port_probe=FakePortProbe(),
        port_range=(41000, 41099),
    )


def main(argv: list[str] | None = None) -> int:
    """Plan, apply, re-plan and tear down a stack on a LoggingRuntime; 0 if all went as promised."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stack", nargs="?", default="embedded")
    args = parser.parse_args(argv)
    stack: str = args.stack

    # The fake engine does not hold the image yet, but its "registry" does: apply pulls it.
    runtime = LoggingRuntime(FakeRuntime(registry={IMAGE: "sha256:0b5e"}))
    print(f"isinstance(runtime, devarch_core.Runtime): {isinstance(runtime, devarch_core.Runtime)}")
    da = build(runtime)

    da.create_stack(stack, description="embedded with a custom runtime")
    da.add_instance(stack, "db", template="bb-db")
    da.add_instance(stack, "web", template="bb-web")

    plan = da.plan(stack)
    print(plan.render_text())
    print(f"apply {stack}:")
    result = da.apply(stack, plan)
    print("phases: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items()))

    print(f"status of {stack}:")
    for row in da.status(stack):
        ports = " ".join(row.ports)
        print(f"  {row.instance:<4} {row.container:<24} {row.state:<8} {row.health:<8} {ports}")

    again = da.plan(stack)
    print(f"plan after apply has changes: {again.has_changes}")
    created = [target for op, target in runtime.calls if op == "create_container"]

    print(f"down {stack}:")
    removed = da.down(stack, volumes=True)
    print(f"removed {removed} containers; {len(runtime.calls)} runtime calls in all")

    # db first: web depends on it through the wire, so devarch creates them in that order.
    expected = [devarch_core.container_name(stack, name) for name in ("db", "web")]
    ok = (
        isinstance(runtime, devarch_core.Runtime)
        and [target.split()[0] for target in created] == expected
        and not again.has_changes
    )
    print("OK" if ok else "UNEXPECTED RESULT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

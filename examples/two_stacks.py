"""Isolation demo: two stacks from the same templates, side by side, never colliding.

Creates ``demo-a`` and ``demo-b`` (or the two names given), each with a database (``bb-db``)
and a web app (``bb-web``) from the example catalog, applies both, prints their container
names, networks and host ports, and fetches each web app's ``/env.txt`` to show that it was
wired to its own stack's database. Both stacks are deleted at the end, even on failure.

Needs a container engine (Docker or Podman, chosen like the CLI: ``DEVARCH_RUNTIME``,
``DOCKER_HOST``) and the local ``devarch-test/busybox`` image. Run it:
``python examples/two_stacks.py [STACK_A STACK_B] [--home DIR] [--port-range LOW-HIGH]``.
State goes to a temporary ``DEVARCH_HOME`` unless ``--home`` is given.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import devarch_adapters
import devarch_core

CATALOG = Path(__file__).resolve().parent / "catalog"


def port_range(text: str) -> tuple[int, int]:
    """``LOW-HIGH`` as a pair of ints (argparse type)."""
    low, _, high = text.partition("-")
    return int(low), int(high)


def fetch(url: str, timeout: float = 30.0) -> str:
    """GET ``url``, retrying while the server is still starting (up to ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http://127.0.0.1 only
                body: bytes = response.read()
                return body.decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def host_port(da: devarch_core.Devarch, container: str, container_port: int) -> int:
    """The host port the engine publishes for a container's port."""
    runtime = da.runtime
    info = runtime.inspect_container(container) if runtime is not None else None
    for port in info.ports if info is not None else ():
        if port.container == container_port:
            return port.host_port
    msg = f"{container} publishes no host port for {container_port}"
    raise LookupError(msg)


def show(da: devarch_core.Devarch, stack: str) -> bool:
    """Print one stack's resources; True if its web app talks to its own database."""
    st = da.get_stack(stack)
    print(f"stack {stack}: network {st.network_name}")
    for row in da.status(stack):
        print(f"  {row.container:<28} {row.state:<8} {row.health:<9} {' '.join(row.ports)}")
    port = host_port(da, devarch_core.container_name(stack, "web"), 8080)
    env = dict(
        line.split("=", 1) for line in fetch(f"http://127.0.0.1:{port}/env.txt").splitlines()
    )
    want = devarch_core.container_name(stack, "db")
    db_host, db_port = env.get("DB_HOST"), env.get("DB_PORT")
    print(f"  http://127.0.0.1:{port}/env.txt: DB_HOST={db_host} DB_PORT={db_port}")
    ok = db_host == want
    print(f"  web is wired to {want}: {'yes' if ok else 'NO'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 if each stack's web app was wired to its own database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stacks", nargs="*", default=["demo-a", "demo-b"], metavar="STACK")
    parser.add_argument("--home", help="devarch home (default: a temporary directory)")
    parser.add_argument("--port-range", type=port_range, help="host ports to allocate, LOW-HIGH")
    args = parser.parse_args(argv)
    stacks: list[str] = args.stacks
    if len(stacks) != 2:  # noqa: PLR2004 - the demo is about a pair
        parser.error("give two stack names (or none)")

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="devarch-example-"))
    options = {"port_range": args.port_range} if args.port_range else {}
    da = devarch_adapters.connect(home=home, catalog=[CATALOG], **options)
    created: list[str] = []
    try:
        for stack in stacks:
            da.create_stack(stack, description="two_stacks.py isolation demo")
            created.append(stack)
            da.add_instance(stack, "db", template="bb-db")
            da.add_instance(stack, "web", template="bb-web")
        for stack in stacks:
            result = da.apply(stack)
            took = sum(result.timings.values())
            print(f"applied {stack}: {len(result.plan.actions)} actions in {took:.1f}s")
        results = [show(da, stack) for stack in stacks]
        nets = {da.get_stack(stack).network_name for stack in stacks}
        print(f"separate networks: {'yes' if len(nets) == len(stacks) else 'NO'}")
        ok = all(results) and len(nets) == len(stacks)
    except devarch_core.DevarchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        ok = False
    finally:
        for stack in reversed(created):
            try:
                da.delete_stack(stack)
                print(f"deleted {stack}")
            except devarch_core.DevarchError as exc:
                print(f"could not delete {stack}: {exc}", file=sys.stderr)
        da.store.close()
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    print("OK" if ok else "UNEXPECTED RESULT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

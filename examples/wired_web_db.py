"""A web app wired to its database: plan, apply, explain, graph, change, re-plan, tear down.

Adds a database (``bb-db``, exports ``postgres``) and a web app (``bb-web``, imports
``postgres``) to one stack. devarch wires them automatically (one provider of the type in the
stack), injects ``DB_HOST``/``DB_PORT``/... into the web app and makes it depend on the
database. The script prints the plan with its wiring section, applies it, explains where
``DB_HOST`` and ``DB_PORT`` came from (``wire:db``), prints the Mermaid wiring graph, changes
one override to show a ``~`` plan, applies again and deletes the stack.

Needs a container engine (``DEVARCH_RUNTIME``, ``DOCKER_HOST``) and the local
``devarch-test/busybox`` image. Run it:
``python examples/wired_web_db.py [STACK] [--home DIR] [--port-range LOW-HIGH]``.
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


def fetch(url: str, expect: str, timeout: float = 30.0) -> str:
    """GET ``url`` until the body contains ``expect`` (the server may still be starting)."""
    deadline = time.monotonic() + timeout
    body = ""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http://127.0.0.1 only
                raw: bytes = response.read()
                body = raw.decode()
        except (urllib.error.URLError, ConnectionError):
            pass
        if expect in body or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def section(title: str) -> None:
    """Print a heading."""
    print(f"\n== {title} ==")


def run(da: devarch_core.Devarch, stack: str) -> bool:
    """The walk-through; True if every step showed what it should."""
    da.create_stack(stack, description="wired_web_db.py example")
    da.add_instance(stack, "db", template="bb-db")
    da.add_instance(stack, "web", template="bb-web", overrides={"environment": {"APP_TITLE": "v1"}})

    section(f"plan {stack}")
    plan = da.plan(stack)
    print(plan.render_text())

    section(f"apply {stack}")
    result = da.apply(stack, plan)
    print(", ".join(f"{phase} {secs:.2f}s" for phase, secs in result.timings.items()))

    section("where the web app's DB_HOST and DB_PORT come from")
    wanted = {"environment.DB_HOST", "environment.DB_PORT"}
    rows = [row for row in da.effective(stack, "web").explain() if row[0] in wanted]
    for field, value, source in rows:
        print(f"  {field:<22} {value!s:<24} {source}")
    wired = {(field, source) for field, _, source in rows} == {(f, "wire:db") for f in wanted}

    section("wiring graph (Mermaid)")
    print(da.graph(stack, fmt="mermaid"))

    section("change an override: APP_TITLE=v2")
    da.set_overrides(stack, "web", {"environment": {"APP_TITLE": "v2"}})
    change = da.plan(stack)
    print(change.render_text())
    modified = [a.instance for a in change.actions if a.action == "modify"] == ["web"]
    da.apply(stack, change)
    page = ""
    for status in da.status(stack):
        if status.instance == "web" and status.ports:
            host_port = status.ports[0].split("->", 1)[0].rsplit(":", 1)[1]
            page = fetch(f"http://127.0.0.1:{host_port}/", expect="v2")
            print(f"web page after the second apply: {page.strip()}")

    section("plan after apply")
    empty = not da.plan(stack).has_changes
    print("no changes" if empty else "UNEXPECTED: changes left")
    return wired and modified and "<h1>v2</h1>" in page and empty


def main(argv: list[str] | None = None) -> int:
    """Run the walk-through on a fresh stack and delete it; 0 if it went as promised."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stack", nargs="?", default="wired-demo")
    parser.add_argument("--home", help="devarch home (default: a temporary directory)")
    parser.add_argument("--port-range", type=port_range, help="host ports to allocate, LOW-HIGH")
    args = parser.parse_args(argv)
    stack: str = args.stack

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="devarch-example-"))
    options = {"port_range": args.port_range} if args.port_range else {}
    da = devarch_adapters.connect(home=home, catalog=[CATALOG], **options)
    ok = False
    try:
        ok = run(da, stack)
    except devarch_core.DevarchError as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        try:
            da.delete_stack(stack)
            print(f"\ndeleted {stack}")
        except devarch_core.NotFoundError:
            pass
        except devarch_core.DevarchError as exc:
            print(f"could not delete {stack}: {exc}", file=sys.stderr)
        da.store.close()
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    print("OK" if ok else "UNEXPECTED RESULT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

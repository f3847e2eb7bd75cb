"""Prepare ``scripts/demo.sh``: the example manifest under the chosen stack name, safely.

``python scripts/demo_prepare.py STACK OUT_DIR`` writes ``OUT_DIR/devarch.yml``: the example shop
manifest (``examples/shop/devarch.yml``) with its stack renamed to ``STACK``. Before that it asks
the engine (configured as for ``devarch``: ``DEVARCH_HOME``, ``DEVARCH_RUNTIME``...) whether a
container or network of a stack called ``STACK`` exists that this store does not own, such as
the same demo run from another ``DEVARCH_HOME``; then it refuses (exit 1) and names them, so the
demo never touches another store's containers.
"""

# ruff: noqa: INP001 - a script run by scripts/demo.sh, not part of a package

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

import devarch_adapters
from devarch_core import naming
from devarch_core.errors import DevarchError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from devarch_core.app import Devarch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shop" / "devarch.yml"


def foreign_resources(devarch: Devarch, stack: str, instances: Sequence[str]) -> list[str]:
    """Containers and networks of a stack called ``stack`` that this store does not own."""
    runtime = devarch.runtime
    if runtime is None:
        return []
    mine = devarch.owner
    found: dict[str, str | None] = {}
    for container in runtime.list_containers({naming.LABEL_STACK_NAME: stack}):
        found[f"container {container.name}"] = container.labels.get(naming.LABEL_OWNER)
    for name in instances:
        container = runtime.inspect_container(naming.container_name(stack, name))
        if container is not None:
            found[f"container {container.name}"] = container.labels.get(naming.LABEL_OWNER)
    for network in runtime.list_networks({naming.LABEL_STACK_NAME: stack}):
        found[f"network {network.name}"] = network.labels.get(naming.LABEL_OWNER)
    return [
        f"{what} (owner {owner or 'not devarch'})"
        for what, owner in sorted(found.items())
        if owner != mine
    ]


def main(
    argv: Sequence[str] | None = None,
    connect: Callable[[], Devarch] = devarch_adapters.connect,
) -> int:
    """Write the renamed manifest, or refuse when another store owns the stack's name."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:  # noqa: PLR2004 - STACK OUT_DIR
        sys.stderr.write("usage: demo_prepare.py STACK OUT_DIR\n")
        return 2
    stack, out_dir = args
    try:
        naming.validate_name(stack, kind="stack")
        data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
        data["stack"]["name"] = stack
        devarch = connect()
        foreign = foreign_resources(devarch, stack, list(data["instances"]))
    except DevarchError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    if foreign:
        sys.stderr.write(
            f"error: another devarch store (another DEVARCH_HOME) or another tool owns resources "
            f"of a stack called {stack}: {', '.join(foreign)}; the demo leaves them alone. "
            f"Run it under another name: bash scripts/demo.sh OTHER-NAME\n"
        )
        return 1
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "devarch.yml").write_text(
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CLI commands for named engines: ``engine list|add|remove|use`` and ``stack move``.

Which engine a stack command used is said on stderr (``engine NAME (ENDPOINT)``), never in
machine output. See docs/engines.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from devarch_adapters.cli._main import _Context
    from devarch_core.model import Engine

__all__ = ["add_engine_commands", "add_stack_move_command", "say_engine"]


def say_engine(ctx: _Context, stack: str, engine: Engine | None = None) -> None:
    """Tell on stderr which engine a stack command uses (its bound engine, or the one it gets)."""
    if engine is None:
        engine = ctx.devarch.engine_of(stack)
    ctx.note(f"engine {engine.name} ({engine.where})")


def _engine_list(ctx: _Context, a: argparse.Namespace) -> None:  # noqa: ARG001 - handler signature
    rows = ctx.devarch.list_engines()

    def text() -> str:
        if not rows:
            return "No engines yet: a stack's first apply records the engine it runs on."
        lines = []
        for row in rows:
            mark = "*" if row.default else " "
            stacks = ", ".join(row.stacks) or "-"
            lines.append(
                f"{mark} {row.engine.name}  {row.engine.kind}  {row.engine.where}  {stacks}"
            )
        return "\n".join(lines)

    ctx.emit([r.to_data() for r in rows], text)


def _options(a: argparse.Namespace) -> dict[str, str]:
    options = {}
    for key in ("ca_cert", "client_cert", "client_key"):
        value = getattr(a, f"tls_{key}")
        if value:
            options[key] = value
    if a.tls_verify is not None:
        options["verify"] = "true" if a.tls_verify else "false"
    if a.ssh_client:
        options["ssh_client"] = "true"
    return options


def _engine_add(ctx: _Context, a: argparse.Namespace) -> None:
    from devarch_adapters.engines import context_engine, this_host  # noqa: PLC0415
    from devarch_core.model import Engine  # noqa: PLC0415 - `devarch --help` stays fast

    endpoint = a.endpoint or ""
    host = this_host() if endpoint.startswith(("unix://", "npipe://")) else ""
    if a.docker_context and not endpoint:
        # Resolved now: an unknown context is refused, and a socket context records this host.
        host = context_engine(a.docker_context, kind=a.kind).host
    engine = ctx.devarch.add_engine(
        Engine(
            name=a.name,
            kind=a.kind,
            endpoint=endpoint,
            context=a.docker_context or "",
            host=host,
            options=_options(a),
        )
    )
    ctx.emit(
        {"engine": engine.name, "added": True}, f"Added engine {engine.name} ({engine.where})."
    )


def _engine_remove(ctx: _Context, a: argparse.Namespace) -> None:
    ctx.devarch.remove_engine(a.name)
    ctx.emit({"engine": a.name, "removed": True}, f"Removed engine {a.name}.")


def _engine_use(ctx: _Context, a: argparse.Namespace) -> None:
    name = None if a.name == "-" else a.name
    ctx.devarch.use_engine(name)
    text = (
        f"New stacks are bound to engine {name} at their first apply."
        if name
        else "New stacks are bound to the engine of the caller's environment."
    )
    ctx.emit({"default_engine": name}, text)


def _move_question(ctx: _Context, a: argparse.Namespace, source: str | None) -> str:
    """What the move will do, naming the containers it removes on the old engine (the plan)."""
    removed = "its containers and network"
    if source:
        # Asked of the old engine now, so the person sees what goes before saying yes.
        there = [r.container for r in ctx.devarch.status(a.stack) if r.state != "absent"]
        if there:
            removed = f"its containers ({', '.join(there)}) and network"
        else:
            removed = "its network (no container runs there)"
    return (
        f"Move stack {a.stack} from engine {source or '(unbound)'} to {a.target}: remove "
        f"{removed} there{' and its volumes' if a.volumes else ''}, then apply on {a.target}?"
    )


def _stack_move(ctx: _Context, a: argparse.Namespace) -> int:
    devarch = ctx.devarch
    source = devarch.get_stack(a.stack).engine
    if not a.yes and not ctx.confirm(_move_question(ctx, a, source)):
        ctx.note("nothing moved")
        return 1
    try:
        result = devarch.move_stack(
            a.stack, a.target, volumes=a.volumes, lock_timeout=a.lock_timeout
        )
    finally:
        ctx.reporter.close()
    down = result.down.describe() if result.down is not None else "nothing ran there"
    ctx.emit(
        {
            "stack": a.stack,
            "from": result.source,
            "to": result.target,
            "removed": result.down.to_data() if result.down is not None else None,
            "plan": result.applied.plan.to_data(),
        },
        f"Moved stack {a.stack} to engine {result.target}: on {result.source or '-'}: {down}; "
        f"applied {len(result.applied.plan.actions)} change(s) on {result.target}.",
    )
    return 0


def add_engine_commands(sub: Any, leaf: Any, group: Any) -> None:  # noqa: ANN401 - argparse internals
    """Register ``engine list|add|remove|use``."""
    engine = group(sub, "engine", "named container engines stacks are bound to")
    leaf(engine, "list", _engine_list, "list engines, the default (*) and their stacks")
    p = leaf(engine, "add", _engine_add, "record a named engine (an endpoint or a Docker context)")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "endpoint",
        nargs="?",
        default=None,
        metavar="ENDPOINT",
        help="unix:///path, tcp://host:port or ssh://user@host[:port]",
    )
    # No argparse choices: the core checks the kind (devarch_core.model.ENGINE_KINDS) and says so.
    p.add_argument("--kind", default="docker", help="docker (default), podman or swarm")
    p.add_argument(
        "--docker-context",
        default=None,
        metavar="CONTEXT",
        help="a Docker context instead of an endpoint (`docker context ls`)",
    )
    p.add_argument("--tls-ca-cert", default=None, metavar="FILE")
    p.add_argument("--tls-client-cert", default=None, metavar="FILE")
    p.add_argument("--tls-client-key", default=None, metavar="FILE")
    p.add_argument("--tls-verify", action="store_true", default=None)
    p.add_argument(
        "--ssh-client",
        action="store_true",
        help="ssh://: shell out to the ssh command instead of paramiko",
    )
    p = leaf(engine, "remove", _engine_remove, "forget an engine no stack is bound to")
    p.add_argument("name", metavar="NAME")
    p = leaf(engine, "use", _engine_use, "bind new stacks to this engine ('-': the environment's)")
    p.add_argument("name", metavar="NAME")


def add_stack_move_command(stack: Any, leaf: Any, positive_float: Any) -> None:  # noqa: ANN401
    """Register ``stack move STACK --engine NAME`` in the stack group."""
    p = leaf(
        stack,
        "move",
        _stack_move,
        "move a stack to another engine (down there, up here)",
        runtime=True,
    )
    p.add_argument("stack", metavar="STACK")
    p.add_argument("--to", "--engine", dest="target", required=True, metavar="NAME")
    p.add_argument(
        "--volumes",
        action="store_true",
        help="also remove its named volumes on the old engine (their data does not move)",
    )
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--lock-timeout", type=positive_float, default=None, metavar="SECONDS")

"""CLI commands for running instances: logs, start, stop, restart and exec (docs/lifecycle.md).

``logs`` prints what :meth:`Devarch.logs` yields (``-f`` until Ctrl-C, which exits 0);
``start``/``stop``/``restart`` call the facade under the stack lock; ``exec`` asks the facade
which running container belongs to the instance (ownership checked there) and hands the
terminal to the CLI of the stack's engine (``docker exec`` / ``podman exec``, see
:meth:`~devarch_adapters.docker.DockerRuntime.exec_command` for why), returning its exit code.
Each says on stderr which engine it uses, as plan and status do: the stack's bound engine,
whatever the caller's environment selects (docs/engines.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from devarch_adapters.cli._engine_cmds import say_engine
from devarch_core.display import printable
from devarch_core.errors import EngineError

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_adapters.cli._main import _Context
    from devarch_core.engine import LogLine

__all__ = ["add_lifecycle_commands"]

EXIT_OK = 0
#: What a shell reports for a process killed by signal N: 128 + N.
SIGNAL_BASE = 128


def _clean(text: str) -> str:
    """A log line made safe for a terminal: controls escaped, tabs kept."""
    return "\t".join(printable(part, newlines=False) for part in text.split("\t"))


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):
        return False


def _format(line: LogLine, *, width: int, prefix: bool, timestamps: bool) -> str:
    text = _clean(line.text)
    if timestamps and line.timestamp:
        text = f"{_clean(line.timestamp)} {text}"
    if prefix:
        text = f"{_clean(line.instance or '?'):<{width}} | {text}"
    return text + "\n"


def _logs(ctx: _Context, a: argparse.Namespace) -> int:
    """Print log lines; with ``-f`` until the containers stop or Ctrl-C (exit 0 either way)."""
    devarch = ctx.devarch
    say_engine(ctx, a.stack)
    names: list[str] | None = a.instances or None
    # One instance prints as `docker logs` does; several or all with a name prefix per line.
    prefix = names is None or len(names) > 1
    shown = names or [i.name for i in devarch.list_instances(a.stack)]
    width = max((len(name) for name in shown), default=1) if prefix else 0
    stream = devarch.logs(a.stack, names, follow=a.follow, tail=a.tail)
    try:
        for line in stream:
            if ctx.json:
                import json  # noqa: PLC0415 - keep start-up fast

                out = ctx.stdout
                out.write(printable(json.dumps(line.to_data(), ensure_ascii=False), json=True))
                out.write("\n")
            else:
                # One instance: its stderr goes to stderr, as with `docker logs`; several
                # go to stdout with a prefix, as with `docker compose logs`.
                out = ctx.stderr if not prefix and line.stream == "stderr" else ctx.stdout
                out.write(_format(line, width=width, prefix=prefix, timestamps=a.timestamps))
            if a.follow:
                out.flush()
    except KeyboardInterrupt:
        # Ctrl-C is how a follower ends: not an error.
        ctx.stdout.flush()
    finally:
        stream.close()
    return EXIT_OK


def _lifecycle(verb: str) -> Callable[[_Context, argparse.Namespace], int]:
    def handler(ctx: _Context, a: argparse.Namespace) -> int:
        call = getattr(ctx.devarch, verb)
        try:
            say_engine(ctx, a.stack)
            result = call(a.stack, a.instances or None, lock_timeout=a.lock_timeout)
        finally:
            ctx.reporter.close()
        ctx.emit(result.to_data(), result.describe())
        return EXIT_OK

    handler.__name__ = f"_{verb}"
    return handler


def _exec(ctx: _Context, a: argparse.Namespace) -> int:
    """Run a command in an instance's running container; its exit code is ours."""
    from devarch_adapters.cli._main import UsageError  # noqa: PLC0415 - avoid an import cycle

    command = list(a.cmd)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError(
            "exec needs a command after the instance: devarch exec STACK INSTANCE -- CMD"
        )
    devarch = ctx.devarch
    container = devarch.running_container(a.stack, a.instance)
    # The stack's own engine (its bound one), not the caller's environment: a stack bound to
    # another engine has its container there (docs/engines.md).
    engine = devarch.engine_of(a.stack)
    say_engine(ctx, a.stack, engine)
    runtime: Any = devarch.engine_runtime(engine)
    build = getattr(runtime, "exec_command", None)
    if build is None:
        kind = getattr(runtime, "name", "this engine")
        raise EngineError(f"devarch exec needs the docker or podman engine, not {kind}")
    tty = not a.no_tty and _isatty(sys.stdin) and _isatty(sys.stdout)
    argv, environ = build(
        container, command, tty=tty, user=a.user, workdir=a.workdir, env=tuple(a.env or ())
    )
    import subprocess  # noqa: PLC0415 - keep start-up fast

    ctx.close()  # release the store and the engine client before the command runs
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        completed = subprocess.run(argv, env=environ, check=False)
    except OSError as exc:
        raise EngineError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    code = completed.returncode
    return SIGNAL_BASE - code if code < 0 else code


def _tail(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more lines")
    return value


def add_lifecycle_commands(sub: Any, leaf: Any, positive_float: Any) -> None:  # noqa: ANN401 - argparse internals
    """Register logs, start, stop, restart and exec."""
    p = leaf(
        sub, "logs", _logs, "show (or follow) the log lines of a stack or instance", runtime=True
    )
    p.add_argument("stack", metavar="STACK")
    p.add_argument("instances", nargs="*", metavar="INSTANCE", help="default: every instance")
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C stops)"
    )
    p.add_argument(
        "--tail",
        type=_tail,
        default=None,
        metavar="N",
        help="only the last N lines of each container (default: all)",
    )
    p.add_argument("-t", "--timestamps", action="store_true", help="show each line's time")
    for verb, help_text in (
        ("start", "start the stack's existing containers (dependencies first, waiting for health)"),
        ("stop", "stop the stack's containers, keeping them (start or apply starts them again)"),
        ("restart", "stop, then start, the stack's containers"),
    ):
        p = leaf(sub, verb, _lifecycle(verb), help_text, runtime=True)
        p.add_argument("stack", metavar="STACK")
        p.add_argument(
            "instances", nargs="*", metavar="INSTANCE", help="default: every enabled instance"
        )
        p.add_argument(
            "--lock-timeout",
            type=positive_float,
            default=None,
            metavar="SECONDS",
            help="wait this long for the stack lock (default: fail at once while an apply runs)",
        )
    p = leaf(
        sub,
        "exec",
        _exec,
        "run a command in an instance's running container (exit status: the command's)",
        runtime=True,
    )
    p.add_argument("stack", metavar="STACK")
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("-T", "--no-tty", action="store_true", help="never allocate a terminal")
    p.add_argument("-u", "--user", default=None, metavar="USER", help="run as this user")
    p.add_argument("-w", "--workdir", default=None, metavar="DIR", help="working directory")
    p.add_argument(
        "-e", "--env", action="append", metavar="KEY=VALUE", help="set a variable (repeatable)"
    )
    # As with `docker exec`, options come before the stack: everything after INSTANCE (an
    # optional `--` first) is the command, its own options included.
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD", help="the command")

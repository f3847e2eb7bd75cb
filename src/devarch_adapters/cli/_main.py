"""The ``devarch`` command: parse, ``connect()`` the adapters, call one facade method, render.

No merging, wiring or diffing happens here (docs/architecture.md#layers). Exit status:
0 success; 1 a devarch error; 2 a usage error, or with ``plan --detailed-exitcode`` "the plan has
changes"; 3 the stack is locked by another apply; 4 the plan is stale; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from devarch_adapters.cli import _render as render
from devarch_adapters.cli._engine_cmds import say_engine
from devarch_core.assignments import parse_assignments
from devarch_core.display import printable
from devarch_core.errors import DevarchError, ValidationError

if TYPE_CHECKING:
    from devarch_adapters._codecache import CodeCache
    from devarch_adapters.cli._progress import RichReporter
    from devarch_core.app import Devarch
    from devarch_core.ports import Reporter

__all__ = ["build_parser", "main", "parse_assignments"]

PROG = "devarch"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line usage (exit 2); raised instead of argparse's ``sys.exit``."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class ConfirmationRequiredError(DevarchError):
    """A destructive command needs ``--yes`` when there is no terminal to ask on (exit 1)."""


class _VersionAction(argparse.Action):
    """``--version``: print ``devarch VERSION`` (from the installed package's metadata), exit 0."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:  # noqa: ANN401 - argparse passes its own keywords
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kw: object) -> None:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            text = version("devarch")
        except PackageNotFoundError:  # running from a source tree that was never installed
            text = "unknown (not installed)"
        sys.stdout.write(f"{PROG} {text}\n")
        parser.exit(EXIT_OK)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exceptions, so ``main()`` decides the output and exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())


# -- the context: options, lazy facade, output -----------------------------------------------------


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # closed or replaced streams
        return False


@contextlib.contextmanager
def _start_up(*, freeze: bool) -> Iterator[None]:
    """Run the block (parsing, ``connect()``: the imports of a run) without garbage collection.

    Start-up allocates some 50,000 objects (modules, classes, the attrs and cattrs generated
    functions) that live until the process ends, and no cycle among them is garbage: the
    collector would run about 60 times over them for nothing (about 7% of the CPU time of a
    ``status`` or a no-op ``apply``). Collection is on again after the block. With ``freeze``
    (the ``devarch`` process itself, not a caller of :func:`main`) those objects are moved out
    of the collector's sight for the rest of the run (``gc.freeze()``).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        gc.enable()


def _install_code_cache(home: str | None) -> CodeCache | None:
    """The attrs code cache of the ``devarch`` process, in ``HOME/cache`` (see ``_codecache``).

    Installed before the core and adapters are imported; the home directory is the one
    ``connect()`` uses (``--home``, ``DEVARCH_HOME``, ``~/.devarch``).
    """
    from pathlib import Path  # noqa: PLC0415

    from devarch_adapters._codecache import install  # noqa: PLC0415

    try:
        root = Path(home or os.environ.get("DEVARCH_HOME") or Path.home() / ".devarch")
        path = root.expanduser().absolute() / "cache" / f"attrs-code.{sys.implementation.cache_tag}"
    except (OSError, RuntimeError):  # no home directory to be found
        return None
    return install(path)


class _Context:
    """What every command handler needs: the parsed options, the facade, stdout and stderr."""

    def __init__(
        self, args: argparse.Namespace, *, needs_runtime: bool, freeze: bool = False
    ) -> None:
        self.args = args
        self._freeze = freeze
        self.json: bool = bool(getattr(args, "json", False))
        self.no_color: bool = bool(args.no_color) or "NO_COLOR" in os.environ
        self.needs_runtime = needs_runtime
        self.stdout: TextIO = sys.stdout
        self.stderr: TextIO = sys.stderr
        self._devarch: Devarch | None = None
        self._reporter: RichReporter | None = None

    @property
    def colour(self) -> bool:
        """Colour on stdout: a terminal, and neither ``--no-color`` nor ``NO_COLOR``."""
        return not self.no_color and _isatty(self.stdout)

    @property
    def reporter(self) -> RichReporter:
        """The progress reporter (stderr); built on first use."""
        if self._reporter is None:
            from devarch_adapters.cli._progress import RichReporter  # noqa: PLC0415 - keep start-up fast

            self._reporter = RichReporter(self.stderr, colour=not self.no_color)
        return self._reporter

    @property
    def devarch(self) -> Devarch:
        """The facade, built by ``connect()`` from the global options on first use."""
        if self._devarch is None:
            with _start_up(freeze=self._freeze):
                self._devarch = self._connect()
            if self._devarch.runtime_note:
                # Say which engine auto-detection fell back to (stderr: never machine output).
                self.note(f"note: {self._devarch.runtime_note}")
        return self._devarch

    def _connect(self) -> Devarch:
        reporter = self.reporter if self.needs_runtime else None
        return self.connect(reporter, runtime=self.needs_runtime)

    def connect(self, reporter: Reporter | None, *, runtime: bool = True) -> Devarch:
        """A new facade from the global options (``runtime=False``: without an engine).

        Every facade a command builds gets the global ``--engine`` and ``--context``
        (docs/engines.md); ``devarch serve`` builds one per request this way.
        """
        from devarch_adapters.bootstrap import connect  # noqa: PLC0415 - adapters load on demand

        return connect(
            home=self.args.home,
            store=self.args.store,
            runtime=self.args.runtime if runtime else "none",
            catalog=self.args.catalog,
            reporter=reporter,
            engine=self.args.engine,
            context=self.args.context if runtime else None,
        )

    def out(self, text: str, *, coloured: bool = False) -> None:
        """Write text to stdout (adding a final newline if missing), control characters escaped.

        ``coloured`` text (the plan with ``colour=True``) escaped its own fields and keeps the
        colour sequences it added.
        """
        if not coloured:
            text = printable(text, json=self.json)
        self.stdout.write(text if text.endswith("\n") else text + "\n")

    def emit(self, data: object, text: str | Callable[[], str], *, coloured: bool = False) -> None:
        """Print ``data`` as JSON with ``--json``, else the text (``coloured``: see :meth:`out`).

        Either may be a function that makes it: only the one printed is made (JSON data is never
        a function itself).
        """
        if self.json:
            self.out(render.dump_json(data() if callable(data) else data))
        else:
            self.out(text() if callable(text) else text, coloured=coloured)

    def note(self, text: str) -> None:
        """Write a human message to stderr (never part of machine output), controls escaped."""
        self.stderr.write(printable(text) + "\n")

    def confirm(self, question: str, *, flag: str = "--yes") -> bool:
        """Ask a yes/no question on the terminal; refuse when there is none (or with ``--json``)."""
        if self.json or not _isatty(sys.stdin):
            why = (
                "--json output cannot prompt"
                if self.json
                else "no terminal to ask for confirmation"
            )
            raise ConfirmationRequiredError(f"{why}; pass {flag} to proceed")
        self.stderr.write(f"{printable(question, newlines=False)} [y/N] ")
        self.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    def close(self) -> None:
        """Stop the reporter and close the store and engine connections."""
        if self._reporter is not None:
            self._reporter.close()
        if self._devarch is not None:
            self._devarch.close()


Handler = Callable[[_Context, argparse.Namespace], int | None]

#: Columns of text output off a terminal (pipes, CI logs) when ``COLUMNS`` does not say.
DEFAULT_WIDTH = 100


def _width(stream: object) -> int:
    """The terminal's width for ``stream``: ``COLUMNS``, the TTY's size, else 100 columns."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if _isatty(stream):
        import shutil  # noqa: PLC0415

        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


# -- instance assignments --------------------------------------------------------------------------


def _known_assignments() -> str:
    from devarch_core.fields import cli_known  # noqa: PLC0415 - keep start-up fast

    return cli_known()


def _unset_field(field: str) -> str:
    """``env.FOO`` -> ``environment.FOO``: a ``--set`` name of the field table, spelled in full."""
    from devarch_core.fields import cli_field  # noqa: PLC0415 - keep start-up fast

    head, dot, rest = field.partition(".")
    row = cli_field(head)
    return (row.name if row is not None else head) + dot + rest


def _read_yaml_mapping(path: str) -> dict[str, Any]:
    from devarch_adapters.filesystem.input_files import read_input  # noqa: PLC0415
    from devarch_core.catalog import load_yaml  # noqa: PLC0415

    data = load_yaml(read_input(path, "--from-yaml file"), path, what="override file")
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"{path} must hold a mapping of override fields", what="invalid --from-yaml file"
        )
    return dict(data)


# -- stack commands --------------------------------------------------------------------------------


def _stack_create(ctx: _Context, a: argparse.Namespace) -> None:
    stack = ctx.devarch.create_stack(
        a.name, description=a.description, network=a.network, engine=a.engine
    )
    bound = f", bound to engine {stack.engine}" if stack.engine else ""
    ctx.emit(
        render.stack_data(stack),
        f"Created stack {stack.name} (network {stack.network_name}{bound}).",
    )


def _stack_list(ctx: _Context, _a: argparse.Namespace) -> None:
    summaries = ctx.devarch.list_stacks()
    ctx.emit(lambda: [s.to_data() for s in summaries], lambda: render.stack_list_text(summaries))


def _stack_show(ctx: _Context, a: argparse.Namespace) -> None:
    data = ctx.devarch.show_stack(a.name)
    ctx.emit(data, lambda: render.stack_text(data))


def _stack_update(ctx: _Context, a: argparse.Namespace) -> None:
    if a.description is None and a.network is None:
        raise UsageError("stack update needs --description and/or --network")
    stack = ctx.devarch.update_stack(a.name, description=a.description, network=a.network)
    ctx.emit(render.stack_data(stack), f"Updated stack {stack.name}.")


def _stack_delete(ctx: _Context, a: argparse.Namespace) -> int | None:
    what = (
        "containers, network and definition"
        if a.keep_volumes
        else "containers, network, volumes and definition"
    )
    if not a.yes and not ctx.confirm(f"Delete stack {a.name} ({what})?"):
        ctx.note("Cancelled; nothing was deleted.")
        return EXIT_ERROR
    devarch = ctx.devarch
    # A bound stack is torn down on its engine even when the environment names none.
    engine_used = devarch.runtime is not None or bool(devarch.get_stack(a.name).engine)
    if engine_used:
        say_engine(ctx, a.name)
    devarch.delete_stack(a.name, keep_volumes=a.keep_volumes, lock_timeout=a.lock_timeout)
    if not engine_used and not ctx.json:
        ctx.note(f"warning: no container engine was used; {a.name}'s containers, if any, still run")
    ctx.emit({"deleted": a.name, "engine": engine_used}, f"Deleted stack {a.name}.")
    return None


def _stack_enable(ctx: _Context, a: argparse.Namespace) -> None:
    stack = ctx.devarch.set_stack_enabled(a.name, a.enabled)
    state = "enabled" if stack.enabled else "disabled (its containers go at the next apply)"
    ctx.emit(render.stack_data(stack), f"Stack {stack.name} {state}.")


def _stack_clone(ctx: _Context, a: argparse.Namespace) -> None:
    stack = ctx.devarch.clone_stack(a.source, a.name, description=a.description)
    ctx.emit(
        render.stack_data(stack),
        f"Cloned stack {a.source} to {stack.name} (instances, overrides, wires and secrets).",
    )


# -- instance commands -----------------------------------------------------------------------------


def _show_instance(ctx: _Context, stack: str, name: str, message: str) -> None:
    if ctx.json:
        ctx.out(render.dump_json(ctx.devarch.show_instance(stack, name)))
    else:
        ctx.out(message)


def _instance_add(ctx: _Context, a: argparse.Namespace) -> None:
    delta = parse_assignments(a.set or [])
    inst = ctx.devarch.add_instance(
        a.stack,
        a.name,
        a.template,
        version=a.version,
        description=a.description,
        enabled=not a.disabled,
        overrides=delta,
    )
    _show_instance(
        ctx,
        a.stack,
        a.name,
        f"Added instance {inst.name} ({inst.template}@{inst.template_version}) to stack {a.stack}.",
    )


def _instance_list(ctx: _Context, a: argparse.Namespace) -> None:
    instances = ctx.devarch.list_instances(a.stack)
    ctx.emit(
        [render.instance_data(i) for i in instances],
        lambda: render.instance_list_text(a.stack, instances),
    )


def _instance_show(ctx: _Context, a: argparse.Namespace) -> None:
    data = ctx.devarch.show_instance(a.stack, a.name)
    ctx.emit(data, lambda: render.instance_text(data))


def _instance_set(ctx: _Context, a: argparse.Namespace) -> None:
    if not a.assignments and not a.from_yaml:
        raise UsageError(
            "instance set needs an ASSIGNMENT (env.FOO=bar, port=15432:5432...) or --from-yaml FILE"
        )
    base = _read_yaml_mapping(a.from_yaml) if a.from_yaml else None
    delta = parse_assignments(a.assignments, base)
    ctx.devarch.set_overrides(a.stack, a.name, delta)
    _show_instance(
        ctx,
        a.stack,
        a.name,
        f"Updated overrides of {a.stack}/{a.name}; `devarch plan {a.stack}` shows the effect.",
    )


def _instance_unset(ctx: _Context, a: argparse.Namespace) -> None:
    done: list[str] = []
    for field in a.fields:
        try:
            ctx.devarch.unset_override(a.stack, a.name, _unset_field(field))
        except DevarchError as exc:
            if done:
                exc.message = f"{exc.message} (already unset: {', '.join(done)})"
            raise
        done.append(field)
    _show_instance(
        ctx,
        a.stack,
        a.name,
        f"Removed {len(done)} override(s) of {a.stack}/{a.name}; those fields inherit again.",
    )


def _instance_remove_env(ctx: _Context, a: argparse.Namespace) -> None:
    ctx.devarch.set_overrides(a.stack, a.name, {"environment": {a.var: None}})
    _show_instance(ctx, a.stack, a.name, f"{a.stack}/{a.name} no longer sets {a.var}.")


def _instance_effective(ctx: _Context, a: argparse.Namespace) -> None:
    eff = ctx.devarch.effective(a.stack, a.name)
    if ctx.json:
        data = eff.to_data()
        if a.explain:
            data["explain"] = render.explain_rows(eff)
        ctx.out(render.dump_json(data))
    else:
        ctx.out(render.effective_text(eff, explain=a.explain, width=_width(ctx.stdout)))


def _instance_rm(ctx: _Context, a: argparse.Namespace) -> None:
    ctx.devarch.remove_instance(a.stack, a.name)
    ctx.emit(
        {"removed": f"{a.stack}/{a.name}"},
        f"Removed instance {a.stack}/{a.name}; its container goes at the next apply.",
    )


def _instance_duplicate(ctx: _Context, a: argparse.Namespace) -> None:
    ctx.devarch.duplicate_instance(a.stack, a.name, a.new_name)
    _show_instance(ctx, a.stack, a.new_name, f"Duplicated {a.stack}/{a.name} as {a.new_name}.")


def _instance_rename(ctx: _Context, a: argparse.Namespace) -> None:
    ctx.devarch.rename_instance(a.stack, a.name, a.new_name)
    _show_instance(
        ctx,
        a.stack,
        a.new_name,
        f"Renamed {a.stack}/{a.name} to {a.new_name}; the next apply recreates its container.",
    )


def _instance_enable(ctx: _Context, a: argparse.Namespace) -> None:
    ctx.devarch.update_instance(a.stack, a.name, enabled=a.enabled)
    _show_instance(
        ctx,
        a.stack,
        a.name,
        f"Instance {a.stack}/{a.name} {'enabled' if a.enabled else 'disabled'}.",
    )


def _instance_update(ctx: _Context, a: argparse.Namespace) -> None:
    ctx.devarch.update_instance(a.stack, a.name, description=a.description)
    _show_instance(ctx, a.stack, a.name, f"Updated {a.stack}/{a.name}.")


# -- wires and secrets -----------------------------------------------------------------------------


def _wire_list(ctx: _Context, a: argparse.Namespace) -> None:
    wires = ctx.devarch.list_wires(a.stack)
    ctx.emit([render.wire_data(w) for w in wires], lambda: render.wire_list_text(a.stack, wires))


def _wire_add(ctx: _Context, a: argparse.Namespace) -> None:
    if (a.provider is None) == (not a.none):
        raise UsageError("wire add needs a PROVIDER, or --none to leave the import unwired")
    wire = ctx.devarch.add_wire(a.stack, a.consumer, a.import_name, a.provider, export=a.export)
    text = (
        f"Left {wire.consumer}.{wire.import_name} unwired; `devarch wire rm` auto-wires it again."
        if wire.provider is None
        else f"Wired {wire.consumer}.{wire.import_name} → {wire.provider}."
    )
    ctx.emit(render.wire_data(wire), text)


def _wire_rm(ctx: _Context, a: argparse.Namespace) -> None:
    ctx.devarch.remove_wire(a.stack, a.consumer, a.import_name)
    ctx.emit(
        {"removed": {"consumer": a.consumer, "import": a.import_name}},
        f"Removed the wire of {a.consumer}.{a.import_name}; it is auto-wired again.",
    )


def _secret_value(ctx: _Context, a: argparse.Namespace) -> str:
    """``--value``, else ``$DEVARCH_SECRET_<NAME>``, else a hidden prompt or stdin's first line."""
    if a.value is not None:
        return str(a.value)
    from_env = os.environ.get(f"DEVARCH_SECRET_{a.secret}")
    if from_env is not None:
        return from_env
    if _isatty(sys.stdin):
        import getpass  # noqa: PLC0415

        return getpass.getpass(
            f"Value of {a.secret} for {a.stack}/{a.instance} (hidden): ", stream=ctx.stderr
        )
    from devarch_core.validators import MAX_ENV_ENTRY  # noqa: PLC0415 - only for this command

    # Read at most what a secret can hold (and a little more, to tell it was longer): a value
    # piped in by mistake (a file, /dev/zero) is refused without filling memory.
    value = sys.stdin.read(MAX_ENV_ENTRY + 2)
    if len(value) > MAX_ENV_ENTRY:
        raise ValidationError(
            f"the value of {a.secret} on stdin is longer than {MAX_ENV_ENTRY} characters "
            "(128 KiB); an environment variable cannot hold it",
            what="invalid secret value",
        )
    if value.endswith("\n"):
        value = value[:-1].removesuffix("\r")
    if not value:
        raise ValidationError(
            f"no value for {a.secret}: pass --value, set DEVARCH_SECRET_{a.secret} or use stdin",
            what="missing secret value",
        )
    return value


def _secret_set(ctx: _Context, a: argparse.Namespace) -> None:
    value = _secret_value(ctx, a)
    ctx.devarch.set_secret(a.stack, a.instance, a.secret, value)
    ctx.emit(
        {"stack": a.stack, "instance": a.instance, "name": a.secret, "set": True},
        f"Secret {a.secret} of {a.stack}/{a.instance} set.",
    )


def _secret_unset(ctx: _Context, a: argparse.Namespace) -> None:
    ctx.devarch.unset_secret(a.stack, a.instance, a.secret)
    ctx.emit(
        {"stack": a.stack, "instance": a.instance, "name": a.secret, "set": False},
        f"Secret {a.secret} of {a.stack}/{a.instance} removed.",
    )


def _secret_list(ctx: _Context, a: argparse.Namespace) -> None:
    rows = ctx.devarch.list_secrets(a.stack)
    text = (
        render.table(("INSTANCE", "NAME"), [(r["instance"], r["name"]) for r in rows])
        if rows
        else f"Stack {a.stack} has no secrets.\n"
    )
    ctx.emit(rows, text)


# -- catalog ---------------------------------------------------------------------------------------


def _catalog_list(ctx: _Context, _a: argparse.Namespace) -> None:
    templates = ctx.devarch.catalog.list()
    ctx.emit([render.template_data(t) for t in templates], lambda: render.catalog_text(templates))


def _catalog_show(ctx: _Context, a: argparse.Namespace) -> None:
    from devarch_core.compose_import import template_to_yaml  # noqa: PLC0415

    template = ctx.devarch.catalog.get(a.name, a.version)
    ctx.emit(template.to_data(), lambda: template_to_yaml(template))


def _catalog_import_compose(ctx: _Context, a: argparse.Namespace) -> None:
    from devarch_adapters.filesystem.input_files import read_input  # noqa: PLC0415
    from devarch_core.compose_import import template_to_yaml, templates_from_compose  # noqa: PLC0415

    text = read_input(a.file, "compose file")
    result = templates_from_compose(text, origin=a.file, service=a.service, version=a.version)
    written: list[str] = []
    if a.out:
        from pathlib import Path  # noqa: PLC0415

        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        targets = [(t, out / f"{t.name}.yaml") for t in result.templates]
        existing = [str(p) for _, p in targets if p.exists()]
        if existing and not a.force:
            raise ValidationError(
                f"would overwrite {', '.join(existing)}; pass --force",
                what="refusing to overwrite templates",
            )
        from devarch_adapters.filesystem.output import write_output  # noqa: PLC0415

        for template, path in targets:
            write_output(path, template_to_yaml(template))
            written.append(str(path))
    if not ctx.json:
        for warning in result.warnings:
            ctx.note(f"warning: {warning}")
    if ctx.json:
        ctx.out(
            render.dump_json(
                {
                    "templates": [t.to_data() for t in result.templates],
                    "warnings": list(result.warnings),
                    "written": written,
                }
            )
        )
    elif a.out:
        ctx.out("\n".join(f"Wrote {p}" for p in written))
    else:
        ctx.out("---\n".join(template_to_yaml(t) for t in result.templates))


# -- plan / apply / status / down ------------------------------------------------------------------


def _plan(ctx: _Context, a: argparse.Namespace) -> int:
    say_engine(ctx, a.stack)
    plan = ctx.devarch.plan(a.stack)
    lock = ctx.devarch.lock
    holder = lock.holder(a.stack) if lock is not None else None
    if holder is not None:
        # Planning takes no lock; a plan made while an apply runs shows a world in motion.
        ctx.note(f"note: stack {a.stack} is being applied now ({holder}); plan again when it ends")
    if a.out:
        from devarch_adapters.filesystem.output import write_output  # noqa: PLC0415

        write_output(a.out, plan.to_json())
    if ctx.json:
        ctx.out(plan.to_json())
    else:
        ctx.out(plan.render_text(colour=ctx.colour), coloured=True)
        if a.out:
            ctx.note(
                f"Saved the plan to {a.out}; `devarch apply {a.stack} --plan {a.out}` applies it."
            )
    if plan.errors:
        if not ctx.json:
            ctx.note(f"error: the plan has {len(plan.errors)} error(s); apply refuses until fixed")
        return EXIT_ERROR
    if a.detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _read_plan(path: str) -> Any:  # noqa: ANN401 - a devarch_core Plan, imported lazily
    from devarch_adapters.filesystem.input_files import read_input  # noqa: PLC0415
    from devarch_core.catalog import decode_text  # noqa: PLC0415
    from devarch_core.limits import MAX_PLAN_BYTES  # noqa: PLC0415
    from devarch_core.planning import Plan  # noqa: PLC0415

    data = read_input(path, "plan file", limit=MAX_PLAN_BYTES)
    return Plan.from_json(decode_text(data, path, what="plan file", limit=MAX_PLAN_BYTES))


def _apply(ctx: _Context, a: argparse.Namespace) -> int:
    # Take the stack lock before planning: a second apply while one runs is refused at once
    # (exit 3, naming the holder) instead of printing a plan the first one is about to change.
    # A plan file is read and checked first: bad input is refused before any store or lock work.
    saved = _read_plan(a.plan) if a.plan else None
    say_engine(ctx, a.stack)
    if saved is not None and saved.stack != a.stack:
        raise ValidationError(
            f"{a.plan} is a plan for stack {saved.stack!r}, not {a.stack!r}",
            what="invalid plan file",
        )
    with ctx.devarch.locked(a.stack, timeout=a.lock_timeout):
        return _apply_locked(ctx, a, saved)


def _apply_locked(ctx: _Context, a: argparse.Namespace, saved: Any) -> int:  # noqa: ANN401 - a Plan
    from devarch_adapters.cli._manifest_cmds import (  # noqa: PLC0415 - see build_parser
        check_lockfile_before_apply,
        read_lockfile_for_apply,
        refresh_lockfile_after_apply,
        write_lockfile_after_apply,
    )

    devarch = ctx.devarch
    if saved is not None:
        plan = saved
    else:
        plan = devarch.plan(a.stack)
        if not plan.has_changes and not plan.errors:
            # --locked refuses divergence even with nothing to do
            lock_path, lockfile = check_lockfile_before_apply(ctx, a)
            # Nothing to apply, but the lockfile follows the stack (docs/manifest.md).
            refresh_lockfile_after_apply(ctx, a, lock_path, lockfile)
            ctx.emit(
                lambda: {"stack": a.stack, "plan": plan.to_data(), "timings": {}},
                lambda: plan.render_text(colour=ctx.colour),
                coloured=True,
            )
            return EXIT_OK
        if not ctx.json:
            ctx.out(plan.render_text(colour=ctx.colour), coloured=True)
        if (
            not plan.errors
            and not a.yes
            and not ctx.confirm(f"Apply these changes to stack {a.stack}?")
        ):
            ctx.note("Apply cancelled; nothing was changed.")
            return EXIT_ERROR
    lock_path, lockfile = read_lockfile_for_apply(a)
    reporter = ctx.reporter
    try:
        # The lockfile policy is the core's: check (warn, or refuse with --locked), then refresh.
        result = devarch.apply(
            a.stack,
            plan,
            lock_timeout=a.lock_timeout,
            lockfile=lockfile,
            locked=a.locked,
            lockfile_origin=str(lock_path) if lock_path is not None else None,
        )
    finally:
        reporter.close()
    write_lockfile_after_apply(lock_path, result.lockfile)
    reporter.print_timings(result.timings)
    if ctx.json:
        ctx.out(render.dump_json(result.to_data()))
    elif result.plan.has_changes:
        ctx.out(f"Apply complete for stack {a.stack}: {render.apply_summary(result.plan)}.")
    else:
        ctx.out(f"Stack {a.stack}: no changes.")
    return EXIT_OK


def _status(ctx: _Context, a: argparse.Namespace) -> None:
    say_engine(ctx, a.stack)
    rows = ctx.devarch.status(a.stack)
    ctx.emit(lambda: [r.to_data() for r in rows], lambda: render.status_rows(rows))


def _down(ctx: _Context, a: argparse.Namespace) -> None:
    say_engine(ctx, a.stack)
    try:
        result = ctx.devarch.down_report(
            a.stack, volumes=a.volumes, lock_timeout=a.lock_timeout, ordered=a.ordered
        )
    finally:
        ctx.reporter.close()
    ctx.reporter.print_timings()
    ctx.emit(
        {
            "stack": a.stack,
            "removed_containers": len(result.containers),
            "volumes_removed": a.volumes,
            "removed": result.to_data(),
        },
        f"Stack {a.stack} is down: {result.describe()}; the definition is kept.",
    )


def _compose(ctx: _Context, a: argparse.Namespace) -> None:
    text = ctx.devarch.compose(
        a.stack, a.instance, reveal_secrets=a.reveal_secrets, project=a.project
    )
    if a.output:
        from devarch_adapters.filesystem.output import write_output  # noqa: PLC0415

        # With --reveal-secrets the file is 0600 from its creation, never readable in between.
        write_output(a.output, text, private=a.reveal_secrets)
        ctx.emit({"stack": a.stack, "written": a.output}, f"Wrote {a.output}.")
    else:
        ctx.emit({"stack": a.stack, "compose": text}, text)


def _graph(ctx: _Context, a: argparse.Namespace) -> None:
    text = str(ctx.devarch.graph(a.stack, fmt=a.format))  # svg: the drawing's document text
    ctx.emit({"stack": a.stack, "format": a.format, "graph": text}, text)


# -- the parser ------------------------------------------------------------------------------------


def _leaf(
    group: argparse._SubParsersAction[_Parser],
    name: str,
    handler: Handler,
    help_text: str,
    *,
    runtime: bool = False,
    **defaults: object,
) -> _Parser:
    """Add a leaf command: its handler, whether it needs an engine, ``--json``/``--no-color``."""
    parser = group.add_parser(name, help=help_text, description=help_text)
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON on stdout"
    )
    parser.add_argument(
        "--no-color", action="store_true", default=argparse.SUPPRESS, help="no ANSI colour"
    )
    parser.set_defaults(handler=handler, needs_runtime=runtime, **defaults)
    return parser


def _group(
    sub: argparse._SubParsersAction[_Parser], name: str, help_text: str
) -> argparse._SubParsersAction[_Parser]:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or more seconds")
    return value


def _add_stack_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    stack = _group(
        sub, "stack", "create, list, show, update, delete, enable, disable and clone stacks"
    )
    p = _leaf(stack, "create", _stack_create, "create an empty stack")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description", default="", metavar="TEXT")
    p.add_argument(
        "--network",
        default=None,
        metavar="NAME",
        help="a custom network name (default devarch-NAME-net)",
    )
    p.add_argument(
        "--engine",
        default=argparse.SUPPRESS,  # keeps the global --engine when not given here
        metavar="NAME",
        help="bind the stack to this named engine now (`devarch engine list`)",
    )
    if not isinstance(stack, _Skipped):
        from devarch_adapters.cli._engine_cmds import add_stack_move_command  # noqa: PLC0415

        add_stack_move_command(stack, _leaf, _positive_float)
    _leaf(stack, "list", _stack_list, "list stacks with instance and running counts", runtime=True)
    p = _leaf(stack, "show", _stack_show, "show a stack, its instances and explicit wires")
    p.add_argument("name", metavar="NAME")
    p = _leaf(stack, "update", _stack_update, "change a stack's description or network name")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description", default=None, metavar="TEXT")
    p.add_argument("--network", default=None, metavar="NAME")
    p = _leaf(
        stack,
        "delete",
        _stack_delete,
        "remove a stack's containers, network, volumes and definition",
        runtime=True,
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--keep-volumes", action="store_true", help="keep the stack's named volumes")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--lock-timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="wait this long for the stack lock (default: fail at once while an apply runs)",
    )
    for verb, enabled in (("enable", True), ("disable", False)):
        p = _leaf(stack, verb, _stack_enable, f"{verb} a stack", enabled=enabled)
        p.add_argument("name", metavar="NAME")
    p = _leaf(
        stack,
        "clone",
        _stack_clone,
        "copy a stack (instances, overrides, wires, secrets) under a new name",
    )
    p.add_argument("source", metavar="SRC")
    p.add_argument("name", metavar="NEW")
    p.add_argument("--description", default=None, metavar="TEXT")


def _add_instance_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    inst = _group(sub, "instance", "add, inspect and override instances of a stack")
    p = _leaf(inst, "add", _instance_add, "instantiate a catalog template in a stack")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("name", metavar="NAME")
    p.add_argument("template", metavar="TEMPLATE")
    p.add_argument(
        "--version", default=None, metavar="V", help="template version (default: the highest)"
    )
    p.add_argument("--description", default="", metavar="TEXT")
    p.add_argument("--disabled", action="store_true", help="add it disabled")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="an override, as for `instance set` (repeatable)",
    )
    p = _leaf(inst, "list", _instance_list, "list a stack's instances")
    p.add_argument("stack", metavar="STACK")
    p = _leaf(inst, "show", _instance_show, "show an instance and its overrides")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("name", metavar="NAME")
    # The field table is imported only when this command's parser is really built.
    known = "" if isinstance(inst, _Skipped) else _known_assignments()
    p = _leaf(inst, "set", _instance_set, "set overrides: " + known)
    p.add_argument("stack", metavar="STACK")
    p.add_argument("name", metavar="NAME")
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    p.add_argument(
        "--from-yaml",
        default=None,
        metavar="FILE",
        help="a YAML mapping in the manifest override form",
    )
    p = _leaf(
        inst,
        "unset",
        _instance_unset,
        "drop overrides so the fields inherit again (env.FOO, ports.5432/tcp, image...)",
    )
    p.add_argument("stack", metavar="STACK")
    p.add_argument("name", metavar="NAME")
    p.add_argument("fields", nargs="+", metavar="FIELD")
    p = _leaf(inst, "remove-env", _instance_remove_env, "remove an inherited environment variable")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("name", metavar="NAME")
    p.add_argument("var", metavar="VAR")
    p = _leaf(
        inst, "effective", _instance_effective, "the effective config: template + wires + overrides"
    )
    p.add_argument("stack", metavar="STACK")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--explain", action="store_true", help="one row per field with its source")
    p = _leaf(inst, "rm", _instance_rm, "remove an instance (its container goes at the next apply)")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("name", metavar="NAME")
    for verb, handler, help_text in (
        (
            "duplicate",
            _instance_duplicate,
            "copy an instance (overrides, secrets) under a new name",
        ),
        ("rename", _instance_rename, "rename an instance (wires follow)"),
    ):
        p = _leaf(inst, verb, handler, help_text)
        p.add_argument("stack", metavar="STACK")
        p.add_argument("name", metavar="NAME")
        p.add_argument("new_name", metavar="NEW")
    for verb, enabled in (("enable", True), ("disable", False)):
        p = _leaf(inst, verb, _instance_enable, f"{verb} an instance", enabled=enabled)
        p.add_argument("stack", metavar="STACK")
        p.add_argument("name", metavar="NAME")
    p = _leaf(inst, "update", _instance_update, "change an instance's description")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description", required=True, metavar="TEXT")


def _add_wire_secret_catalog_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    wire = _group(sub, "wire", "explicit wires from a consumer's import to a provider")
    p = _leaf(wire, "list", _wire_list, "list a stack's explicit wires")
    p.add_argument("stack", metavar="STACK")
    p = _leaf(
        wire, "add", _wire_add, "pin the provider of one import, or leave it unwired (--none)"
    )
    p.add_argument("stack", metavar="STACK")
    p.add_argument("consumer", metavar="CONSUMER")
    p.add_argument("import_name", metavar="IMPORT")
    p.add_argument("provider", nargs="?", default=None, metavar="PROVIDER")
    p.add_argument("--export", default=None, metavar="NAME", help="which export of the provider")
    p.add_argument(
        "--none",
        action="store_true",
        help="leave this optional import unwired (auto-wiring stops choosing a provider)",
    )
    p = _leaf(wire, "rm", _wire_rm, "drop an explicit wire (auto-wiring applies again)")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("consumer", metavar="CONSUMER")
    p.add_argument("import_name", metavar="IMPORT")

    secret = _group(sub, "secret", "secret environment values, encrypted at rest")
    if not isinstance(secret, _Skipped):
        from devarch_adapters.cli._manifest_cmds import add_secret_rotate  # noqa: PLC0415

        add_secret_rotate(secret, _leaf)
    p = _leaf(
        secret,
        "set",
        _secret_set,
        "set a secret (from --value, $DEVARCH_SECRET_NAME, a hidden prompt or stdin)",
    )
    p.add_argument("stack", metavar="STACK")
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("secret", metavar="NAME")
    p.add_argument(
        "--value",
        default=None,
        metavar="V",
        help="the value (visible in your shell history; prefer stdin)",
    )
    p = _leaf(secret, "unset", _secret_unset, "forget a secret value")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("secret", metavar="NAME")
    p = _leaf(secret, "list", _secret_list, "list secret names (never values)")
    p.add_argument("stack", metavar="STACK")

    catalog = _group(sub, "catalog", "the template catalog (builtin + --catalog directories)")
    if not isinstance(catalog, _Skipped):
        from devarch_adapters.cli._catalog_cmds import add_catalog_validate  # noqa: PLC0415

        add_catalog_validate(catalog, _leaf)
    _leaf(catalog, "list", _catalog_list, "list templates")
    p = _leaf(catalog, "show", _catalog_show, "print a template as YAML")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--version", default=None, metavar="V")
    p = _leaf(
        catalog,
        "import-compose",
        _catalog_import_compose,
        "turn compose services into template files",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--service", default=None, metavar="NAME", help="import only this service")
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write NAME.yaml files here (default: print them)",
    )
    p.add_argument(
        "--version", default="1.0", metavar="V", help="the templates' version (default 1.0)"
    )
    p.add_argument("--force", action="store_true", help="overwrite existing template files")


def _add_run_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = _leaf(sub, "plan", _plan, "show what apply would change", runtime=True)
    p.add_argument("stack", metavar="STACK")
    p.add_argument(
        "--out", default=None, metavar="FILE", help="save the plan as JSON for `apply --plan`"
    )
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 without changes, 2 with changes, 1 on error",
    )
    p = _leaf(sub, "apply", _apply, "plan and apply (or apply a saved plan)", runtime=True)
    p.add_argument("stack", metavar="STACK")
    p.add_argument(
        "--plan", default=None, metavar="FILE", help="apply this saved plan (refused if stale)"
    )
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--locked", action="store_true", help="refuse when the stack diverges from devarch.lock"
    )
    p.add_argument(
        "--lockfile",
        default=None,
        metavar="FILE",
        help="lockfile to check and refresh (default: the NAME.lock init wrote for this stack "
        "in the current directory, else ./devarch.lock)",
    )
    p.add_argument(
        "--lock-timeout",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="wait this long for the stack lock",
    )
    p = _leaf(
        sub, "status", _status, "each instance's container state, health and ports", runtime=True
    )
    p.add_argument("stack", metavar="STACK")
    p = _leaf(
        sub,
        "down",
        _down,
        "remove a stack's containers and network; keep its definition",
        runtime=True,
    )
    p.add_argument("stack", metavar="STACK")
    p.add_argument("--volumes", action="store_true", help="also remove its named volumes")
    p.add_argument("--lock-timeout", type=_positive_float, default=None, metavar="SECONDS")
    p.add_argument(
        "--ordered",
        action="store_true",
        help="stop dependents before their dependencies, one level at a time "
        "(default: every container at once)",
    )
    p = _leaf(sub, "compose", _compose, "render the stack (or one instance) as a Compose file")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("instance", nargs="?", default=None, metavar="INSTANCE")
    p.add_argument("-o", "--output", default=None, metavar="FILE")
    p.add_argument("--project", default=None, metavar="NAME", help="the compose project name")
    p.add_argument(
        "--reveal-secrets",
        action="store_true",
        help="write secret values instead of *** (file mode 0600)",
    )
    p = _leaf(sub, "graph", _graph, "the stack's wiring graph")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("--format", choices=("mermaid", "dot", "svg"), default="mermaid")


#: Global options that take a value (``--home DIR``), for :func:`_command_word`.
_VALUE_OPTIONS = ("--home", "--store", "--runtime", "--catalog")


def _command_word(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (``apply`` in ``--home H apply S``), None when unclear."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--":
            return None
        elif word.startswith("--") and "=" not in word:
            # argparse accepts unambiguous prefixes (``--ho H``): a prefix of a value option
            # takes the next word.
            skip = len(word) > 2 and any(o.startswith(word) for o in _VALUE_OPTIONS)  # noqa: PLR2004
        elif not word.startswith("-"):
            return word
    return None


class _Skipped:
    """Stands in for a command's parser that this run does not need: every call is a no-op."""

    def __getattr__(self, _name: str) -> Callable[..., _Skipped]:
        return lambda *_args, **_kwargs: self


class _OnlyCommand:
    """Subcommands that build only the command this run names (see :func:`build_parser`)."""

    def __init__(self, sub: argparse._SubParsersAction[_Parser], only: str) -> None:
        self._sub = sub
        self._only = only
        self.matched = False

    def add_parser(self, name: str, **kwargs: Any) -> Any:  # noqa: ANN401 - a parser or a stand-in
        if name != self._only:
            return _Skipped()
        self.matched = True
        return self._sub.add_parser(name, **kwargs)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - the wrapped action's attributes
        return getattr(self._sub, name)


#: The top-level commands each command module (``cli/_*_cmds.py``) adds in :func:`build_parser`;
#: a run imports only the module of its own command (``tests/unit/test_cli_startup.py`` holds
#: this table to what the modules add).
_MODULE_COMMANDS: dict[str, tuple[str, ...]] = {
    "_manifest_cmds": ("init", "import", "export", "lock", "doctor"),
    "_lifecycle_cmds": ("logs", "start", "stop", "restart", "exec"),
    "_web_cmds": ("serve",),
    "_schema_cmds": ("schema",),
    "_completion_cmds": ("completion", "__complete"),
    "_engine_cmds": ("engine",),
}


def _adds(module: str, only: str | None) -> bool:
    """Whether :func:`build_parser` needs the commands of ``module`` (without ``only``: all)."""
    return only is None or only in _MODULE_COMMANDS[module]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the whole ``devarch`` argument tree (global options before the command).

    With ``only`` (a command word), the other top-level commands are left out: building all of
    them is a good part of the CLI's start-up. When ``only`` names no command, the whole tree is
    built (its usage error lists every command).
    """
    parser = _Parser(
        prog=PROG,
        description="Run isolated local multi-container stacks side by side from one catalog.",
        epilog=(
            "Exit status: 0 ok, 1 error, 2 usage (or plan changes with --detailed-exitcode), "
            "3 stack locked, 4 stale plan."
        ),
    )
    parser.add_argument(
        "--home",
        default=None,
        metavar="DIR",
        help="state directory (DEVARCH_HOME, default ~/.devarch)",
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="sqlite:///PATH or postgresql://... (DEVARCH_STORE)",
    )
    parser.add_argument(
        "--runtime",
        default=None,
        choices=("auto", "docker", "podman", "swarm", "none"),
        help="container engine (DEVARCH_RUNTIME, default auto)",
    )
    parser.add_argument(
        "--catalog",
        action="append",
        default=None,
        metavar="DIR",
        help="template directory, repeatable (DEVARCH_CATALOG_PATH)",
    )
    parser.add_argument(
        "--engine",
        default=None,
        metavar="NAME",
        help="named engine for stacks not bound yet (DEVARCH_ENGINE; `devarch engine list`)",
    )
    parser.add_argument(
        "--context",
        default=None,
        metavar="NAME",
        help="Docker context as the environment's engine (DOCKER_CONTEXT)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument("--no-color", action="store_true", help="no ANSI colour (also NO_COLOR)")
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    real_sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    only_command = _OnlyCommand(real_sub, only) if only is not None else None
    sub: argparse._SubParsersAction[_Parser] = (
        real_sub if only_command is None else only_command  # type: ignore[assignment]
    )
    _add_run_commands(sub)
    _add_stack_commands(sub)
    _add_instance_commands(sub)
    _add_wire_secret_catalog_commands(sub)
    # The command modules are imported only when they add this run's command (see
    # _MODULE_COMMANDS); the order of the commands in --help stays this one.
    if _adds("_manifest_cmds", only):
        from devarch_adapters.cli._manifest_cmds import add_manifest_commands  # noqa: PLC0415

        add_manifest_commands(sub, _leaf, _positive_float)
    if _adds("_lifecycle_cmds", only):
        from devarch_adapters.cli._lifecycle_cmds import add_lifecycle_commands  # noqa: PLC0415

        add_lifecycle_commands(sub, _leaf, _positive_float)
    if _adds("_web_cmds", only):
        from devarch_adapters.cli._web_cmds import add_web_commands  # noqa: PLC0415

        add_web_commands(sub, _leaf)
    if _adds("_schema_cmds", only):
        from devarch_adapters.cli._schema_cmds import add_schema_commands  # noqa: PLC0415

        add_schema_commands(sub, _leaf)
    if _adds("_completion_cmds", only):
        from devarch_adapters.cli._completion_cmds import add_completion_commands  # noqa: PLC0415

        add_completion_commands(sub, _leaf)
    if _adds("_engine_cmds", only):
        from devarch_adapters.cli._engine_cmds import add_engine_commands  # noqa: PLC0415

        add_engine_commands(sub, _leaf, _group)
    if only_command is not None and not only_command.matched:
        return build_parser()
    return parser


# -- main ------------------------------------------------------------------------------------------


def _report(ctx_json: bool, exc: BaseException, code: int, prefix: str = "error") -> None:
    if ctx_json:
        sys.stdout.write(render.dump_json(render.error_data(exc, code)))
    else:
        sys.stderr.write(printable(f"{prefix}: {exc}") + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``devarch`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # The devarch process itself (not a caller of main(argv)) keeps attrs' compiled methods.
    code_cache = _install_code_cache(_home_word(args_list)) if argv is None else None
    try:
        return _run(args_list, freeze=argv is None)
    finally:
        if code_cache is not None:
            code_cache.save()


def _home_word(argv: Sequence[str]) -> str | None:
    """The value of ``--home`` before the command word (also ``--home=DIR``, ``--hom DIR``)."""
    skip = False
    for i, word in enumerate(argv):
        name, eq, value = word.partition("=")
        if skip:
            skip = False
        elif word == "--":
            return None
        elif len(name) > 3 and "--home".startswith(name):  # noqa: PLR2004 - "--h" is ambiguous
            return value if eq else (argv[i + 1] if i + 1 < len(argv) else None)
        elif word.startswith("--") and not eq:
            skip = any(o.startswith(word) for o in _VALUE_OPTIONS)
        elif not word.startswith("-"):
            return None
    return None


def _run(args_list: list[str], *, freeze: bool) -> int:  # noqa: PLR0911 - one return per exit path
    wants_json = "--json" in args_list
    try:
        with _start_up(freeze=False):
            parser = build_parser(only=_command_word(args_list))
            args = _parse(parser, args_list)
    except UsageError as exc:
        _usage_error(exc, wants_json=wants_json)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    ctx = _Context(args, needs_runtime=bool(args.needs_runtime), freeze=freeze)
    try:
        return int(args.handler(ctx, args) or EXIT_OK)
    except UsageError as exc:
        _usage_error(exc, wants_json=ctx.json)
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    except DevarchError as exc:
        _report(ctx.json, exc, exc.exit_code)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one readable line, not a traceback
        if os.environ.get("DEVARCH_DEBUG") == "1":
            import traceback  # noqa: PLC0415 - only for a crash

            traceback.print_exc()
        _report(ctx.json, exc, EXIT_ERROR, prefix="error: internal error")
        if os.environ.get("DEVARCH_DEBUG") != "1":
            sys.stderr.write("(set DEVARCH_DEBUG=1 for a traceback)\n")
        return EXIT_ERROR
    finally:
        ctx.close()


def _parse(parser: argparse.ArgumentParser, args_list: list[str]) -> argparse.Namespace:
    args, extra = parser.parse_known_args(args_list)
    if extra:
        # ``instance set S N --from-yaml F env.X=1``: argparse ends a positional list at the
        # first option, so the assignments after it arrive here.
        if not hasattr(args, "assignments") or any(e.startswith("-") for e in extra):
            message = f"unrecognized arguments: {_unrecognized(extra)}"
            raise UsageError(message, parser.format_usage())
        args.assignments = [*args.assignments, *extra]
    return args


def _unrecognized(extra: Sequence[str]) -> str:
    """Name stray options but never repeat a stray value.

    The value may be a secret typed in the wrong place (``secret set S I NAME VALUE``).
    """
    options = [e.partition("=")[0] for e in extra if e.startswith("-")]
    values = len(extra) - len(options)
    shown = ", ".join(options)
    if values:
        more = f"{values} value{'s' if values > 1 else ''} (not repeated)"
        shown = f"{shown} and {more}" if shown else more
    return shown


def _usage_error(exc: UsageError, *, wants_json: bool) -> None:
    if wants_json:
        sys.stdout.write(
            render.dump_json(
                {"error": {"type": "UsageError", "message": exc.message, "exit_code": EXIT_USAGE}}
            )
        )
    if exc.usage:
        sys.stderr.write(printable(exc.usage))
    sys.stderr.write(printable(f"{PROG}: error: {exc.message}") + "\n")

"""CLI commands around devarch.yml and devarch.lock: init, import, export, lock; and doctor.

Lockfile policy (documented in docs/manifest.md, the rules in :mod:`devarch_core.lockpolicy`):
``init`` writes ``devarch.lock`` next to the manifest; ``apply`` checks ``./devarch.lock`` (or
``--lockfile``) when it exists — a warning, or a refusal with ``--locked`` — and refreshes it
after a successful apply; ``lock STACK`` writes it when absent and otherwise reports how the stack
diverges from it (exit 1); ``lock --refresh`` rewrites it. This module only finds, reads and
writes the files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from devarch_core.errors import ManifestError, Problem, ValidationError

if TYPE_CHECKING:
    import argparse

    from devarch_adapters.cli._main import _Context
    from devarch_core.manifest import Lockfile
    from devarch_core.planning import Plan
    from devarch_core.usecases.manifests import ImportResult

__all__ = [
    "add_manifest_commands",
    "check_lockfile_before_apply",
    "read_lockfile_for_apply",
    "refresh_lockfile_after_apply",
    "write_lockfile_after_apply",
]

LOCKFILE = "devarch.lock"  # devarch_core.lockpolicy.DEFAULT_LOCKFILE, without importing the core


def _read(path: str | Path, what: str) -> bytes:
    """The file's bytes, bounded; the parsers decode them (refusing what is not UTF-8)."""
    from devarch_adapters.filesystem.input_files import read_input  # noqa: PLC0415

    return read_input(path, what)


def _secret_flags(items: list[str] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    problems = []
    for i, item in enumerate(items or [], start=1):
        name, sep, value = item.partition("=")
        if not sep or not name:
            # Never echo the argument: without "=" it is most likely the value itself.
            problems.append(Problem(f"--secret (#{i})", "expected NAME=VALUE"))
            continue
        values[name] = value
    if problems:
        raise ValidationError(problems, what="invalid --secret")
    return values


def _load_lock(path: Path) -> Lockfile | None:
    from devarch_core.manifest import Lockfile  # noqa: PLC0415

    if not path.exists():
        return None
    return Lockfile.parse(_read(path, "lockfile"), str(path))


def _write(path: Path, text: str) -> None:
    from devarch_adapters.filesystem.output import write_output  # noqa: PLC0415

    write_output(path, text)


def lockfile_for(manifest: str | Path) -> Path:
    """The lockfile of a manifest: beside it, named after it (``relay.yml`` -> ``relay.lock``)."""
    from devarch_core.lockpolicy import lockfile_name  # noqa: PLC0415

    return Path(lockfile_name(str(manifest)))


def _init(ctx: _Context, a: argparse.Namespace) -> int:
    from devarch_core.manifest import Manifest  # noqa: PLC0415

    manifest_path = Path(a.manifest)
    manifest = Manifest.parse(_read(manifest_path, "manifest"), str(manifest_path))
    lock_path = Path(a.lockfile) if a.lockfile else lockfile_for(manifest_path)
    from devarch_adapters.filesystem.output import check_output  # noqa: PLC0415

    check_output(lock_path)  # refuse a link or device now, not after the stack is up
    lockfile = _load_lock(lock_path)
    if lockfile is not None and lockfile.stack != manifest.stack:
        raise ManifestError(
            [
                Problem(
                    "stack",
                    f"{lock_path} is for stack {lockfile.stack!r}, "
                    f"the manifest for {manifest.stack!r}",
                )
            ],
            what="lockfile does not match the manifest",
        )

    def confirm(imported: ImportResult, plan: Plan) -> bool:
        # As apply: show what would change, then ask (refused without a terminal: pass --yes).
        if not ctx.json:
            # Rolled back unless confirmed: shown as what init would import.
            ctx.out(attrs.evolve(imported, applied=False).render_text())
            ctx.out(plan.render_text(colour=ctx.colour))
        return ctx.confirm(f"Apply these changes to stack {manifest.stack}?")

    if a.dry_run:
        preview = ctx.devarch.preview_init(
            manifest,
            lockfile=lockfile,
            strict=a.locked,
            secret_values=_secret_flags(a.secret),
            environ=os.environ,
        )
        for warning in preview.warnings:
            ctx.note(f"warning: {warning}")
        plan = preview.plan
        ctx.emit(
            {**preview.to_data(), "lockfile_path": str(lock_path)},
            lambda: (
                preview.imported.render_text()
                + (plan.render_text(colour=ctx.colour) if plan is not None else "")
                + "(dry run: nothing was changed)"
            ),
        )
        return 0
    reporter = ctx.reporter
    try:
        result = ctx.devarch.init_stack(
            manifest,
            lockfile=lockfile,
            strict=a.locked,
            secret_values=_secret_flags(a.secret),
            environ=os.environ,
            lock_timeout=a.lock_timeout,
            confirm=None if a.yes else confirm,
        )
    finally:
        reporter.close()
    for warning in result.warnings:
        ctx.note(f"warning: {warning}")
    _write(lock_path, result.lockfile.to_yaml())
    if ctx.json:
        ctx.emit({**result.to_data(), "lockfile_path": str(lock_path)}, "")
        return 0
    reporter.print_timings(result.applied.timings)
    if result.changed:
        if a.yes:  # otherwise shown before asking
            ctx.out(result.imported.render_text())
        ctx.out(
            f"Stack {manifest.stack} is up: {result.applied.plan.summary()}. Wrote {lock_path}."
        )
    else:
        ctx.out(f"Stack {manifest.stack}: no changes; it already matches {manifest_path}.")
    return 0


def _import(ctx: _Context, a: argparse.Namespace) -> int:
    result = ctx.devarch.import_yaml(
        _read(a.file, "manifest"),
        origin=a.file,
        prune=a.prune,
        dry_run=a.dry_run,
        secret_values=_secret_flags(a.secret),
        environ=os.environ,
        ignore_pins=a.no_pins,
    )
    for warning in result.warnings:
        ctx.note(f"warning: {warning}")
    ctx.emit(result.to_data(), result.render_text)
    return 0


def _export(ctx: _Context, a: argparse.Namespace) -> int:
    text = ctx.devarch.export_yaml(a.stack, digests=a.digests)
    if a.output:
        _write(Path(a.output), text)
        ctx.emit({"stack": a.stack, "written": a.output}, f"Wrote {a.output}.")
    else:
        ctx.emit({"stack": a.stack, "manifest": text}, text)
    return 0


def _lock(ctx: _Context, a: argparse.Namespace) -> int:
    path = Path(a.output)
    current = None if a.refresh else _load_lock(path)  # --refresh never reads the old file
    if current is None:
        lockfile = ctx.devarch.lock_stack(a.stack)
        _write(path, lockfile.to_yaml())
        ctx.emit(
            {"stack": a.stack, "written": str(path), "lockfile": lockfile.to_data()},
            f"Wrote {path}.",
        )
        return 0
    divergence = ctx.devarch.check_lock(a.stack, current)
    if not divergence:
        ctx.emit(
            {"stack": a.stack, "matches": True, "divergence": []},
            f"Stack {a.stack} matches {path}.",
        )
        return 0
    ctx.emit(
        {"stack": a.stack, "matches": False, "divergence": divergence},
        lambda: (
            f"Stack {a.stack} diverges from {path}:\n"
            + "".join(f"  - {d}\n" for d in divergence)
            + f"Run `devarch lock {a.stack} --refresh` to accept the current state."
        ),
    )
    return 1


def _doctor(ctx: _Context, _a: argparse.Namespace) -> int:
    from devarch_adapters.doctor import exit_status, run_doctor  # noqa: PLC0415

    checks = run_doctor(ctx.devarch)
    marks = {"pass": "ok  ", "warn": "warn", "fail": "FAIL"}

    def text() -> str:
        lines = []
        for check in checks:
            lines.append(f"[{marks[check.status]}] {check.name}: {check.message}")
            if check.fix and check.status != "pass":
                lines.append(f"       fix: {check.fix}")
        failed = sum(c.status == "fail" for c in checks)
        warned = sum(c.status == "warn" for c in checks)
        lines.append(f"\n{len(checks)} checks: {failed} failed, {warned} warnings.")
        return "\n".join(lines)

    ctx.emit({"checks": [c.to_data() for c in checks], "ok": exit_status(checks) == 0}, text)
    return exit_status(checks)


def _rotate_key(ctx: _Context, a: argparse.Namespace) -> int:
    if a.finish:
        finished = ctx.devarch.finish_key_rotation()
        ctx.emit(
            {"finished": finished},
            "Completed the interrupted key rotation. Back up the new key file."
            if finished
            else "No key rotation to complete.",
        )
        return 0
    count = ctx.devarch.rotate_key(os.urandom(32))
    ctx.emit(
        {"resealed": count},
        f"Rotated the secret key; re-sealed {count} secret(s). Back up the new key file.",
    )
    return 0


def _lock_stack_name(path: Path) -> str | None:
    """The ``stack:`` a lockfile records, or None when it cannot be read."""
    from devarch_core.manifest import Lockfile  # noqa: PLC0415

    try:
        return Lockfile.parse(path.read_text(encoding="utf-8"), str(path)).stack
    except (OSError, UnicodeDecodeError, ValidationError):
        return None


def lockfile_path(a: argparse.Namespace) -> Path | None:
    """The lockfile ``apply`` honours.

    The lockfile ``apply`` honours: ``--lockfile``; else the one ``init`` writes for a manifest
    in the current directory (``NAME.lock`` beside ``NAME.yml``/``NAME.yaml``, ``devarch.lock``
    first) that records this stack; else ``./devarch.lock`` when it exists (for another stack
    it is then left alone). The choice is :func:`devarch_core.lockpolicy.choose_lockfile`.
    """
    from devarch_core.lockpolicy import choose_lockfile  # noqa: PLC0415

    if getattr(a, "lockfile", None):
        return Path(a.lockfile)
    default = Path(LOCKFILE)
    candidates = [default]
    for manifest in sorted([*Path().glob("*.yml"), *Path().glob("*.yaml")]):
        lock = lockfile_for(manifest)
        if lock not in candidates:
            candidates.append(lock)
    found = [(str(lock), _lock_stack_name(lock)) for lock in candidates if lock.is_file()]
    if default.exists() and not default.is_file():
        found.append((str(default), None))
    chosen = choose_lockfile(a.stack, found)
    return Path(chosen) if chosen is not None else None


def read_lockfile_for_apply(a: argparse.Namespace) -> tuple[Path | None, Lockfile | None]:
    """The lockfile apply honours (its path and content), for ``Devarch.apply(lockfile=...)``.

    A lockfile apply would refresh but cannot (a symlink, a device) is refused here, before
    anything runs, rather than after the engine changed.
    """
    path = lockfile_path(a)
    if path is None:
        return None, None
    from devarch_adapters.filesystem.output import check_output  # noqa: PLC0415

    check_output(path)
    return path, _load_lock(path)


def write_lockfile_after_apply(path: Path | None, lockfile: Lockfile | None) -> None:
    """Write the lockfile an apply returned (``ApplyResult.lockfile``) where it was read."""
    if path is not None and lockfile is not None:
        _write(path, lockfile.to_yaml())


def check_lockfile_before_apply(
    ctx: _Context, a: argparse.Namespace
) -> tuple[Path | None, Lockfile | None]:
    """Warn (or refuse with ``--locked``) when the stack diverges from its lockfile.

    For an apply that has nothing to do (``Devarch.apply`` checks by itself otherwise): the
    rules are :func:`devarch_core.lockpolicy.check_lockfile`. Returns the lockfile's path and
    content for :func:`refresh_lockfile_after_apply`.
    """
    from devarch_core.lockpolicy import check_lockfile  # noqa: PLC0415

    path, lockfile = read_lockfile_for_apply(a)
    warnings = check_lockfile(
        a.stack,
        lockfile,
        lambda: ctx.devarch.lock_stack(a.stack),
        locked=bool(getattr(a, "locked", False)),
        origin=str(path or LOCKFILE),
    )
    for item in warnings:
        ctx.note(f"warning: {path}: {item}")
    return path, lockfile


def refresh_lockfile_after_apply(
    ctx: _Context, a: argparse.Namespace, path: Path | None, lockfile: Lockfile | None
) -> None:
    """Rewrite the lockfile after an apply with nothing to do (only when one is in use)."""
    from devarch_core.lockpolicy import refreshes  # noqa: PLC0415

    if path is not None and refreshes(a.stack, lockfile):
        _write(path, ctx.devarch.lock_stack(a.stack).to_yaml())


def add_manifest_commands(sub: Any, leaf: Any, positive_float: Any) -> None:  # noqa: ANN401 - argparse internals
    """Register init, import, export, lock and doctor."""
    p = leaf(
        sub, "init", _init, "bring a stack up from devarch.yml (and devarch.lock)", runtime=True
    )
    p.add_argument("manifest", nargs="?", default="devarch.yml", metavar="MANIFEST")
    p.add_argument(
        "--lockfile",
        default=None,
        metavar="FILE",
        help="default: the manifest's name with .lock, beside it (devarch.yml -> devarch.lock)",
    )
    p.add_argument(
        "--locked", action="store_true", help="refuse when the stack diverges from the lockfile"
    )
    p.add_argument(
        "--secret",
        action="append",
        metavar="NAME=VALUE",
        help="value of a ${secret:NAME} placeholder",
    )
    p.add_argument(
        "-y",
        "--yes",
        action="store_true",
        help="do not ask for confirmation (required without a terminal when something changes)",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    p.add_argument("--lock-timeout", type=positive_float, default=None, metavar="SECONDS")
    p = leaf(sub, "import", _import, "create or update a stack from devarch.yml (does not apply)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--prune", action="store_true", help="remove instances the file no longer has")
    p.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
    p.add_argument(
        "--no-pins",
        action="store_true",
        help="ignore the manifest's pins: block (devarch allocates host ports)",
    )
    p.add_argument(
        "--secret",
        action="append",
        metavar="NAME=VALUE",
        help="value of a ${secret:NAME} placeholder",
    )
    p = leaf(sub, "export", _export, "write a stack as devarch.yml (secrets as placeholders)")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("-o", "--output", default=None, metavar="FILE")
    p.add_argument(
        "--digests",
        action="store_true",
        help="pin image ids/digests from the engine",
        dest="digests",
    )
    p = leaf(sub, "lock", _lock, "write devarch.lock, or check the stack against it", runtime=True)
    p.add_argument("stack", metavar="STACK")
    p.add_argument(
        "--refresh", action="store_true", help="rewrite the lockfile from the current state"
    )
    p.add_argument("-o", "--output", default=LOCKFILE, metavar="FILE")
    leaf(
        sub,
        "doctor",
        _doctor,
        "check the engine, store, key file, ports, disk, locks and orphans",
        runtime=True,
    )


def add_secret_rotate(secret_group: Any, leaf: Any) -> None:  # noqa: ANN401 - argparse internals
    """``secret rotate-key``."""
    p = leaf(
        secret_group,
        "rotate-key",
        _rotate_key,
        "re-encrypt every secret under a new key (crash-safe; see docs/secrets.md)",
    )
    p.add_argument(
        "--finish",
        action="store_true",
        help="only complete an interrupted rotation (secret.key.next left by a crash)",
    )

"""``devarch catalog validate [DIR|FILE]...``: check your own template files (docs/templates.md).

Every problem is printed as ``FILE:LINE: PATH: message``; the exit status is 1 when there is at
least one (warnings do not count). Without a path it checks the catalog directories of
``--catalog`` / ``DEVARCH_CATALOG_PATH``. It needs no store and no engine, and reads the
directories itself: a broken file does not stop the others being checked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from devarch_adapters.cli._main import _Context
    from devarch_core.catalog_check import CheckedFile

__all__ = ["add_catalog_validate"]

_SUFFIXES = (".yaml", ".yml")


def _files(paths: list[str]) -> tuple[list[Path], list[str]]:
    """The template files to check, and the paths that are neither a file nor a directory."""
    files: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(raw)
    return files, missing


def _check_file(path: Path) -> CheckedFile:
    from devarch_core.catalog import decode_text  # noqa: PLC0415
    from devarch_core.catalog_check import CheckedFile, Finding, check_template_text  # noqa: PLC0415
    from devarch_core.errors import ValidationError  # noqa: PLC0415
    from devarch_core.limits import MAX_FILE_BYTES  # noqa: PLC0415

    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
        text = decode_text(data, str(path))
    except OSError as exc:
        message = f"cannot be read: {exc.strerror or exc}"
        finding = Finding(file=str(path), line=None, path="", message=message)
        return CheckedFile(file=str(path), template=None, findings=(finding,), lines={})
    except ValidationError as exc:
        found = tuple(
            Finding(file=str(path), line=None, path=p.path, message=p.message) for p in exc.problems
        )
        return CheckedFile(file=str(path), template=None, findings=found, lines={})
    return check_template_text(text, str(path))


def _validate(ctx: _Context, a: argparse.Namespace) -> int:
    from devarch_adapters.cli._main import UsageError  # noqa: PLC0415
    from devarch_core.catalog import builtin_catalog  # noqa: PLC0415
    from devarch_core.catalog_check import check_templates  # noqa: PLC0415

    paths = list(a.paths)
    if not paths:
        configured = a.catalog or [
            p for p in os.environ.get("DEVARCH_CATALOG_PATH", "").split(":") if p
        ]
        paths = [str(p) for p in configured]
    if not paths:
        raise UsageError(
            "name a template file or directory (or set --catalog / DEVARCH_CATALOG_PATH)"
        )
    files, missing = _files(paths)
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    checked = [_check_file(path) for path in files]
    findings = [f for c in checked for f in c.findings]
    findings.extend(check_templates(checked, builtin_catalog()))
    findings.sort(key=lambda f: (f.file, f.line or 0, f.severity))
    errors = [f for f in findings if f.severity == "error"]
    warnings = len(findings) - len(errors)
    bad_files = len({f.file for f in errors})

    def text() -> str:
        lines = [str(f) for f in findings]
        if errors:
            lines.append(
                f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in {bad_files} of "
                f"{len(files)} file{'s' if len(files) != 1 else ''}"
                + (f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else "")
                + "."
            )
        else:
            valid = sum(c.template is not None for c in checked)
            lines.append(
                f"{valid} template{'s' if valid != 1 else ''} in {len(files)} "
                f"file{'s' if len(files) != 1 else ''}: no problems"
                + (f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else "")
                + "."
            )
        return "\n".join(lines)

    ctx.emit(
        {
            "files": [str(p) for p in files],
            "valid": not errors,
            "problems": [f.to_data() for f in findings],
        },
        text,
    )
    return 1 if errors else 0


def add_catalog_validate(catalog_group: Any, leaf: Any) -> None:  # noqa: ANN401 - argparse internals
    """Register ``catalog validate`` in the ``catalog`` group."""
    p = leaf(
        catalog_group,
        "validate",
        _validate,
        "check template files: every problem with its file, line and path (exit 1 if any)",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="DIR|FILE",
        help="template files or directories (default: the --catalog directories)",
    )

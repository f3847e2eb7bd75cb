"""``devarch schema manifest|template|lock``: print the editor schemas, or write them all.

The schemas are built by :mod:`devarch_core.schema` from the parsers' own field table and key
lists; files devarch exports point at ``.devarch/schemas/KIND.schema.json`` (relative to the file),
which ``devarch schema --write`` fills (docs/editors.md). No store or engine is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from devarch_adapters.cli._main import _Context

__all__ = ["add_schema_commands", "schema_text"]


def schema_text(kind: str) -> str:
    """The JSON text of one schema (sorted keys, two-space indent, a final newline)."""
    from devarch_core.schema import json_schema  # noqa: PLC0415 - load the core on demand

    return json.dumps(json_schema(kind), indent=2, sort_keys=True, ensure_ascii=False) + "\n"  # type: ignore[arg-type]  # argparse checked the choice


def _schema(ctx: _Context, a: argparse.Namespace) -> int:
    from devarch_core.errors import ValidationError  # noqa: PLC0415
    from devarch_core.schema import SCHEMA_DIR, SCHEMA_KINDS, json_schema  # noqa: PLC0415

    if a.write is None:
        if a.kind is None:
            from devarch_adapters.cli._main import UsageError  # noqa: PLC0415

            raise UsageError("name a schema (manifest, template or lock) or pass --write [DIR]")
        ctx.emit(json_schema(a.kind), schema_text(a.kind))
        return 0
    from devarch_adapters.filesystem.output import write_output  # noqa: PLC0415

    base = Path(a.write or SCHEMA_DIR)
    if base.exists() and not base.is_dir():
        from devarch_core.errors import Problem  # noqa: PLC0415

        raise ValidationError([Problem("--write", f"{base} is not a directory")], what="no schemas")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from devarch_core.errors import Problem  # noqa: PLC0415

        problem = Problem("--write", f"cannot create {base}: {exc.strerror}")
        raise ValidationError([problem], what="no schemas") from None
    written = []
    for kind in (a.kind,) if a.kind else SCHEMA_KINDS:
        path = base / f"{kind}.schema.json"
        write_output(path, schema_text(kind))
        written.append(str(path))
    ctx.emit({"written": written}, "\n".join(f"Wrote {path}." for path in written))
    return 0


def add_schema_commands(sub: Any, leaf: Any) -> None:  # noqa: ANN401 - argparse internals
    """Register ``devarch schema``."""
    p = leaf(
        sub,
        "schema",
        _schema,
        "print the JSON Schema of devarch.yml, template files or devarch.lock (editors)",
    )
    p.add_argument("kind", nargs="?", choices=("manifest", "template", "lock"), metavar="KIND")
    p.add_argument(
        "--write",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="write KIND (default: all three) as KIND.schema.json into DIR "
        "(default .devarch/schemas, where exported files point)",
    )

"""Config files materialized under ``$DEVARCH_HOME/stacks/{stack}/{instance}/``.

Writes are atomic per instance: files go to a fresh sibling directory which then replaces the
old one, so a failure leaves either the old files or none of the new ones — never a mix.

See docs/architecture.md#naming.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from devarch_core.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["LocalConfigFiles"]


class LocalConfigFiles:
    """Implements the ConfigFiles port on the local filesystem."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def host_path(self, stack: str, instance: str) -> str:
        """``{root}/{stack}/{instance}`` as an absolute path."""
        return str(self.root.absolute() / stack / instance)

    def _check(self, base: Path, rel: str) -> Path:
        if not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValidationError(
                f"config file {rel!r} escapes the instance directory {base}",
                what="invalid config file",
            )
        target = base / rel
        # Refuse a path that resolves outside the directory (e.g. through a symlink someone placed).
        if not str(target.resolve()).startswith(str(base.resolve()) + os.sep):
            raise ValidationError(
                f"config file {rel!r} resolves outside {base}", what="invalid config file"
            )
        return target

    def write(self, stack: str, instance: str, files: Mapping[str, tuple[str, int]]) -> str:
        """Make the instance directory hold exactly ``files``; return its absolute path."""
        import shutil  # noqa: PLC0415 - only when files are written (not in a no-op)
        import uuid  # noqa: PLC0415

        final = Path(self.host_path(stack, instance))
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = final.with_name(f".{instance}.tmp-{uuid.uuid4().hex[:8]}")
        staging.mkdir(mode=0o755)
        try:
            for rel, (content, mode) in sorted(files.items()):
                target = self._check(staging, rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content, encoding="utf-8")
                target.chmod(mode)
            old = final.with_name(f".{instance}.old-{uuid.uuid4().hex[:8]}")
            if final.exists():
                final.rename(old)
            staging.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return str(final)

    def remove(self, stack: str, instance: str | None = None) -> None:
        """Remove an instance's directory, or the whole stack's. Idempotent."""
        import shutil  # noqa: PLC0415 - see write

        path = self.root / stack if instance is None else self.root / stack / instance
        shutil.rmtree(path, ignore_errors=True)

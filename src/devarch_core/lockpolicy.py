"""Lockfile policy: which lockfile a stack uses, how a stack diverges from it, what apply does.

The rules, in one place for the CLI and any other caller (files are read and written by the
caller; the core takes and returns :class:`~devarch_core.manifest.Lockfile` values):

- a manifest's lockfile sits beside it, named after it (``relay.yml`` -> ``relay.lock``);
- apply checks the stack against its lockfile first: a divergence is a warning, or with
  ``locked`` a refusal (``ManifestError``) before anything runs; ``locked`` without a lockfile is
  a ``NotFoundError``; a lockfile recording another stack is left alone;
- after a successful apply the lockfile is refreshed from the stack as it now is.

See docs/manifest.md.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING

from devarch_core.errors import ManifestError, NotFoundError, Problem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from devarch_core.manifest import Lockfile

__all__ = [
    "DEFAULT_LOCKFILE",
    "check_lockfile",
    "choose_lockfile",
    "image_moved",
    "lockfile_divergence",
    "lockfile_name",
    "refreshes",
]

#: The lockfile apply honours in the current directory when nothing else names one.
DEFAULT_LOCKFILE = "devarch.lock"


def lockfile_name(manifest: str) -> str:
    """The lockfile of a manifest: beside it, named after it (``relay.yml`` -> ``relay.lock``)."""
    path = PurePath(manifest)
    name = path.stem + ".lock" if path.suffix else path.name + ".lock"
    return str(path.with_name(name))


def choose_lockfile(stack: str, found: Iterable[tuple[str, str | None]]) -> str | None:
    """The lockfile apply honours for ``stack`` among the lockfiles that exist.

    ``found`` lists existing lockfiles in order of preference (``devarch.lock`` first, then one
    per manifest of the directory), each with the stack it records (None when unreadable). The
    first that records ``stack`` wins; else ``devarch.lock`` when it exists (for another stack it
    is then left alone by :func:`check_lockfile` and :func:`refreshes`); else None.
    """
    found = list(found)
    for path, recorded in found:
        if recorded == stack:
            return path
    return DEFAULT_LOCKFILE if any(path == DEFAULT_LOCKFILE for path, _ in found) else None


def image_moved(image: str, engine: str | None, locked: str, verb: str = "locked") -> str | None:
    """How an image on the engine differs from a recorded digest, or None.

    How an image on the engine differs from a recorded digest (a lockfile's or a manifest's
    ``pins.image``), or None when it matches or the engine does not have it.
    """
    if engine is None or engine == locked:
        return None
    return f"image {image} is {engine[:19]} on the engine, {verb} {locked[:19]}"


def lockfile_divergence(lockfile: Lockfile, current: Lockfile) -> list[str]:
    """How ``current`` (the stack as it is) diverges from ``lockfile`` (empty when it matches)."""
    if lockfile.stack != current.stack:
        return [f"the lockfile is for stack {lockfile.stack!r}, not {current.stack!r}"]
    problems = []
    for name in sorted(set(lockfile.instances) | set(current.instances)):
        old, new = lockfile.instances.get(name), current.instances.get(name)
        if old is None:
            problems.append(f"{name} is not in the lockfile")
            continue
        if new is None:
            problems.append(f"{name} is in the lockfile but not in the stack")
            continue
        if old.template_hash != new.template_hash:
            problems.append(
                f"{name}: template {new.template}@{new.template_version} changed "
                f"({old.template_hash[:19]} → {new.template_hash[:19]})"
            )
        if old.image != new.image:
            problems.append(f"{name}: image {old.image} → {new.image}")
        elif old.image_digest and (
            moved := image_moved(new.image, new.image_digest, old.image_digest)
        ):
            problems.append(f"{name}: {moved}")
        problems.extend(
            f"{name}: host port for {key} is {new.ports[key]}, locked {old.ports[key]}"
            for key in sorted(set(old.ports) & set(new.ports))
            if old.ports[key] != new.ports[key]
        )
    return problems


def check_lockfile(
    stack: str,
    lockfile: Lockfile | None,
    current: Callable[[], Lockfile],
    *,
    locked: bool = False,
    origin: str = DEFAULT_LOCKFILE,
) -> list[str]:
    """Check a stack against its lockfile before apply; return the divergence as warnings.

    ``current`` builds the stack's lockfile as it is now (asked only when there is something to
    compare). With ``locked`` a divergence raises ``ManifestError`` (one problem per difference,
    at ``origin``) and a missing lockfile ``NotFoundError``. A lockfile of another stack is not
    this stack's: it is left alone (no warning, no refusal).
    """
    if lockfile is None or lockfile.stack != stack:
        if locked and lockfile is None:
            raise NotFoundError(
                "lockfile", origin, hint="--locked needs a lockfile; create it with `devarch lock`"
            )
        return []
    divergence = lockfile_divergence(lockfile, current())
    if divergence and locked:
        raise ManifestError(
            [Problem(origin, d) for d in divergence],
            what=f"stack {stack} diverges from its lockfile (--locked)",
        )
    return divergence


def refreshes(stack: str, lockfile: Lockfile | None) -> bool:
    """Whether apply rewrites this lockfile: a new one, or one that records this stack."""
    return lockfile is None or lockfile.stack == stack

"""The exception tree of devarch.

Every error a user can cause or meet is a :class:`DevarchError`. Subclasses mix in the builtin
whose meaning fits, carry structured data (which stack, which field) and a readable message that
never contains a secret value::

    DevarchError
    ├── ValidationError (ValueError)        bad input; ``problems`` lists every one with its path
    │   ├── InvalidNameError                a stack/instance name that is not a DNS label
    │   ├── ManifestError                   a devarch.yml / devarch.lock that cannot be used
    │   └── TemplateError                   a template file that cannot be used
    ├── NotFoundError (LookupError)         a stack, instance, template, wire... that is not there
    ├── ConflictError                       already exists; a name or port another owner holds
    │   └── PortConflictError               a host port another instance holds or wants
    ├── WiringError                         a required import missing/ambiguous, a cycle
    ├── StackLockedError                    another session is applying the stack (exit 3)
    ├── StalePlanError                      the plan no longer matches the world (exit 4)
    ├── SecretError                         a secret that cannot be decrypted, a bad key file
    ├── EngineError                         the container engine refused or is unreachable
    ├── StoreError                          the store is unreachable or broken
    └── ApplyError                          an apply step failed (carries the step and instance)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from devarch_core.limits import MAX_PROBLEMS

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ApplyError",
    "ConflictError",
    "DevarchError",
    "EngineError",
    "InvalidNameError",
    "ManifestError",
    "NotFoundError",
    "PortConflictError",
    "Problem",
    "SecretError",
    "StackLockedError",
    "StalePlanError",
    "StoreError",
    "TemplateError",
    "ValidationError",
    "WiringError",
]


class DevarchError(Exception):
    """Root of every error devarch raises on purpose."""

    #: Process exit status the CLI uses for this error.
    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@attrs.frozen
class Problem:
    """One thing wrong with some input, and where it is (``instances.web.ports[0].host``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def _problems_message(problems: tuple[Problem, ...], what: str) -> str:
    if len(problems) == 1:
        return f"{what}: {problems[0]}"
    lines = "\n".join(f"  - {p}" for p in problems)
    return f"{what} ({len(problems)} problems):\n{lines}"


class ValidationError(DevarchError, ValueError):
    """Input that devarch refuses; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem] | str, *, what: str = "invalid input") -> None:
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        problems = tuple(problems)
        if len(problems) > MAX_PROBLEMS:
            # A hostile file can hold a million mistakes; the first ones say enough.
            more = Problem("", f"... and {len(problems) - MAX_PROBLEMS} more problems")
            problems = (*problems[:MAX_PROBLEMS], more)
        self.problems: tuple[Problem, ...] = problems
        self.what = what
        super().__init__(_problems_message(self.problems, what))


class InvalidNameError(ValidationError):
    """A stack or instance name that is not a valid, unreserved DNS label."""

    def __init__(self, kind: str, name: str, reason: str, suggestion: str | None) -> None:
        self.kind = kind
        self.name = name
        self.reason = reason
        self.suggestion = suggestion
        from devarch_core._parsing import short_repr  # noqa: PLC0415 - _parsing imports this module

        # A suggestion is a valid name, so at most 63 characters: shown whole, to be copied.
        hint = f"; try {suggestion!r}" if suggestion else ""
        super().__init__(
            [Problem("", f"{short_repr(name, 80)} {reason}{hint}")], what=f"invalid {kind} name"
        )


class ManifestError(ValidationError):
    """A devarch.yml or devarch.lock that cannot be used."""


class TemplateError(ValidationError):
    """A template definition that cannot be used."""


class NotFoundError(DevarchError, LookupError):
    """Something named that does not exist."""

    def __init__(self, kind: str, name: str, *, hint: str = "") -> None:
        self.kind = kind
        self.name = name
        from devarch_core._parsing import short_repr  # noqa: PLC0415 - _parsing imports this module

        super().__init__(f"{kind} {short_repr(name)} not found" + (f"; {hint}" if hint else ""))


class ConflictError(DevarchError):
    """The operation would collide with something that exists (a name, a port, a resource)."""


class PortConflictError(ConflictError):
    """A host port pinned twice, or wanted by another instance of the store.

    A host port pinned twice, or wanted by another instance of the store; ``problems`` name
    where each pin is written (``instances.web.overrides.ports[0].host``) and the other owner.
    """

    def __init__(
        self, problems: Iterable[Problem] | str, *, what: str = "host port conflict"
    ) -> None:
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.what = what
        super().__init__(_problems_message(self.problems, what))


class WiringError(DevarchError):
    """Wiring that cannot be satisfied: a missing or ambiguous required import, or a cycle."""


class StackLockedError(DevarchError):
    """Another session holds the stack's apply lock."""

    exit_code = 3

    def __init__(self, stack: str, holder: str | None) -> None:
        self.stack = stack
        self.holder = holder
        who = f" ({holder})" if holder else ""
        super().__init__(f"stack {stack} is being applied by another session{who}")


class StalePlanError(DevarchError):
    """The saved plan no longer matches the desired or observed state."""

    exit_code = 4

    def __init__(self, stack: str, moved: Iterable[str]) -> None:
        self.stack = stack
        self.moved = tuple(moved)
        detail = "; ".join(self.moved) or "the state changed"
        super().__init__(f"plan for stack {stack} is stale: {detail}; run plan again")


class SecretError(DevarchError):
    """A secret that cannot be read back (wrong key, tampered, moved slot) or a bad key file."""


class EngineError(DevarchError):
    """The container engine is unreachable or refused an operation."""


class StoreError(DevarchError):
    """The store is unreachable, not migrated, or failed."""


class ApplyError(DevarchError):
    """An apply step failed; ``step`` and ``instance`` say where."""

    def __init__(self, message: str, *, step: str, instance: str | None = None) -> None:
        self.step = step
        self.instance = instance
        super().__init__(message)

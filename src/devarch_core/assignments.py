"""``--set``-style assignments (``env.FOO=bar``, ``port=15432:5432``) read into override data.

The CLI's ``instance add --set`` / ``instance set`` and the web dashboard's override editor both
take a field's value as text; the service field table (:mod:`devarch_core.fields`) says how each
field's text is read, and this module turns a list of assignments into a manifest-form override
delta for :meth:`devarch_core.app.Devarch.set_overrides`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devarch_core.errors import Problem, ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["parse_assignments"]


def parse_assignments(  # noqa: C901 - one flat branch per field kind reads best
    items: Sequence[str], base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Turn ``env.FOO=bar``-style assignments into a manifest-form override delta on ``base``.

    Each name is looked up in the core's field table (``devarch_core.fields``), whose row says
    how its text is read: scalars and whole objects take the value, maps a ``NAME.KEY``, keyed
    lists and sets one entry. Only reshapes input; validation and merging are the core's job
    (``Devarch.set_overrides``). Raises ``ValidationError`` listing every assignment that cannot
    be read.
    """
    from devarch_core.fields import cli_field, cli_known  # noqa: PLC0415 - keep start-up fast

    delta: dict[str, Any] = dict(base or {})
    problems: list[Problem] = []
    known = cli_known()

    def section(key: str, kind: type[dict[str, Any] | list[Any]]) -> Any:  # noqa: ANN401 - dict or list
        current = delta.setdefault(key, kind())
        if not isinstance(current, kind):
            problems.append(
                Problem(
                    key,
                    f"the YAML file gives {key} as {type(current).__name__}, not {kind.__name__}",
                )
            )
            return kind()
        return current

    for item in items:
        key, sep, value = item.partition("=")
        head, dot, sub = key.partition(".")
        where = key or item
        field = cli_field(head)
        keyed = field is not None and field.kind in ("map", "per_field")
        if not sep:
            problems.append(
                Problem(where, f"{item!r} is not an assignment; expected one of: {known}")
            )
        elif head in ("secret", "secrets") and not dot:
            section("secrets", list).append(value)
        elif field is None or field.cli is None or bool(dot and sub) != keyed or (dot and not sub):
            problems.append(Problem(where, f"unknown field {key!r}; expected one of: {known}"))
        else:
            read = field.cli(value, where, problems)
            if read is None:
                continue
            if keyed:
                section(field.name, dict)[sub] = read
            elif field.kind in ("keyed_list", "set"):
                section(field.name, list).append(read)
            else:
                delta[field.name] = read
    if problems:
        raise ValidationError(problems, what="invalid assignment")
    return delta

"""The plan: the structured difference between desired and observed state.

Pure: given effective configs, the engine's containers and the last applied records, compute
actions in a deterministic order, per-field changes with their source, and a staleness token
that apply recomputes to refuse a plan the world has moved away from.

See docs/architecture.md#plan-apply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
from attrs import frozen

from devarch_core import _convert, naming
from devarch_core._digest import sha256
from devarch_core.engine import ContainerSpec
from devarch_core.errors import ManifestError
from devarch_core.merge import EffectiveConfig, canonical_json
from devarch_core.rendering.plan import render_plan
from devarch_core.secrets import REDACTED

if TYPE_CHECKING:
    from devarch_core.engine import ContainerInfo
    from devarch_core.ports import AppliedRecord

__all__ = [
    "Action",
    "DesiredInstance",
    "FieldChange",
    "Plan",
    "PlanDiagnostic",
    "compute_plan",
]

PLAN_FORMAT = 1
ActionKind = Literal["add", "modify", "remove", "start"]
_ORDER = {"remove": 0, "modify": 1, "add": 2, "start": 3}


@frozen(kw_only=True)
class FieldChange(_convert.Unstructured):
    """One field that differs: old → new, where the new value comes from, whether it recreates."""

    field: str
    old: Any = None
    new: Any = None
    source: str = "template"
    forces_recreate: bool = True


@frozen(kw_only=True)
class Action(_convert.Unstructured):
    """What apply will do to one instance's container."""

    action: ActionKind
    instance: str
    container: str
    changes: tuple[FieldChange, ...] = ()
    #: Why, in words: ``new instance``, ``config changed``, ``drift: changed outside devarch``...
    reason: str = ""


@frozen(kw_only=True)
class PlanDiagnostic(_convert.Unstructured):
    """A problem found while planning (wiring, ports, references); errors block apply."""

    severity: Literal["error", "warning", "info"]
    code: str
    message: str
    instance: str | None = None


@frozen(kw_only=True)
class DesiredInstance:
    """An enabled instance as it should run: its effective config and its exact container."""

    effective: EffectiveConfig
    #: The container to create, labelled with its :attr:`config_hash`.
    spec: ContainerSpec
    #: Flat field map used for per-field diffs (secrets as keyed hashes / ``***``).
    fields: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    #: Host ports this plan would newly allocate (``5432/tcp`` -> port), written by apply.
    new_ports: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def config_hash(self) -> str:
        """The hash of everything that shapes the container: its ``devarch.config_hash`` label."""
        return self.spec.labels[naming.LABEL_CONFIG_HASH]


@frozen(kw_only=True, repr=False)
class Plan(_convert.Unstructured):
    """A plan for one stack. ``to_data()``/``from_data()`` round-trip through JSON (docs/cli.md).

    ``str(plan)`` (and ``print(plan)``) is :meth:`render_text`; ``repr(plan)`` is one short line.
    """

    stack: str
    token: str
    actions: tuple[Action, ...] = ()
    diagnostics: tuple[PlanDiagnostic, ...] = ()
    wiring: tuple[Mapping[str, Any], ...] = ()
    #: What the token covers, per instance/container, so a stale apply can say what moved.
    basis: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)

    @property
    def has_changes(self) -> bool:
        """True if apply would do anything."""
        return bool(self.actions)

    @property
    def errors(self) -> tuple[PlanDiagnostic, ...]:
        """Diagnostics that block apply."""
        return tuple(d for d in self.diagnostics if d.severity == "error")

    def to_json(self) -> str:
        """Deterministic, indented JSON."""
        return json.dumps(self.to_data(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_data(cls, data: object) -> Plan:
        """Read a plan written by :meth:`to_data`; ``ManifestError`` if it is not one."""
        if not isinstance(data, Mapping) or data.get("format") != PLAN_FORMAT:
            raise ManifestError(
                f"not a devarch plan (expected format {PLAN_FORMAT})", what="invalid plan file"
            )
        return _convert.structure(data, cls, what="invalid plan file: malformed plan")

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Parse :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"not JSON: {exc}", what="invalid plan file") from None
        except RecursionError:  # thousands of nested brackets: no plan is nested like that
            raise ManifestError("nested too deeply", what="invalid plan file") from None
        return cls.from_data(data)

    def __str__(self) -> str:
        return self.render_text()

    def __repr__(self) -> str:
        errors = len(self.errors)
        more = f", {errors} error(s)" if errors else ""
        return f"<Plan {self.stack}: {self.summary()}{more}>"

    def _repr_html_(self) -> str:
        """Jupyter: the plan as tables (see :mod:`devarch_core._notebook`)."""
        from devarch_core._notebook import plan_html  # noqa: PLC0415 - loaded when displayed

        return plan_html(self)

    def _repr_markdown_(self) -> str:
        """Jupyter and Markdown front ends: the plan as Markdown tables."""
        from devarch_core._notebook import plan_markdown  # noqa: PLC0415 - loaded when displayed

        return plan_markdown(self)

    def summary(self) -> str:
        """``2 to add, 1 to change, 0 to remove, 1 to start``."""
        counts = {kind: sum(1 for a in self.actions if a.action == kind) for kind in _ORDER}
        return (
            f"{counts['add']} to add, {counts['modify']} to change, "
            f"{counts['remove']} to remove, {counts['start']} to start"
        )

    def render_text(self, *, colour: bool = False) -> str:
        """Human-readable plan with ``+ ~ - >`` markers (ANSI colour when ``colour``).

        Control characters in names, values and messages are shown escaped; the only escapes
        sent are the colours. See :func:`devarch_core.rendering.render_plan`.
        """
        return render_plan(self, colour=colour)


def _action(
    kind: ActionKind, eff: EffectiveConfig, reason: str, changes: tuple[FieldChange, ...] = ()
) -> Action:
    return Action(
        action=kind,
        instance=eff.instance,
        container=eff.container_name,
        changes=changes,
        reason=reason,
    )


def _observed_entry(container: ContainerInfo) -> str:
    config_hash = container.labels.get(naming.LABEL_CONFIG_HASH, "")
    return f"{container.id[:12]}:{config_hash}:{container.state}"


def compute_plan(
    *,
    stack: str,
    desired: Sequence[DesiredInstance],
    observed: Iterable[ContainerInfo],
    applied: Mapping[str, AppliedRecord],
    diagnostics: Sequence[PlanDiagnostic] = (),
    wiring: Sequence[Mapping[str, Any]] = (),
    extra_basis: Mapping[str, str] | None = None,
    blocked: Mapping[str, str] | None = None,
) -> Plan:
    """Diff desired against observed; ``applied`` maps instance id to its last applied record.

    ``observed`` must be only this stack's containers of this owner (the caller filters by labels).
    ``blocked`` maps a container name to why it cannot be created (a same-named object another
    owner holds): its add carries that reason (the matching error diagnostic blocks apply).
    """
    observed_by_name = {c.name: c for c in observed}
    actions: list[Action] = []
    wanted = set()
    for item in desired:
        eff = item.effective
        wanted.add(eff.container_name)
        current = observed_by_name.get(eff.container_name)
        record = applied.get(eff.instance_id)
        if current is None:
            reason = (blocked or {}).get(eff.container_name, "new container")
            actions.append(_action("add", eff, reason, _diff_fields({}, item.fields, eff)))
            continue
        label_hash = current.labels.get(naming.LABEL_CONFIG_HASH)
        if label_hash == item.config_hash:
            if not current.running:
                actions.append(_action("start", eff, f"container is {current.state}"))
            continue
        old_fields: Mapping[str, Any] = record.config if record is not None else {}
        changes = _diff_fields(old_fields, item.fields, eff)
        if record is not None and record.config_hash != label_hash:
            reason = "drift: the container was changed outside devarch"
            changes = (
                FieldChange(
                    field="container.config_hash",
                    old=label_hash,
                    new=item.config_hash,
                    source="drift",
                ),
                *changes,
            )
        elif not changes:
            reason = "container differs from its recorded configuration"
            changes = (
                FieldChange(
                    field="container.config_hash",
                    old=label_hash,
                    new=item.config_hash,
                    source="template",
                ),
            )
        else:
            reason = "configuration changed"
        actions.append(_action("modify", eff, reason, changes))
    for name, container in sorted(observed_by_name.items()):
        if name not in wanted:
            instance = container.labels.get(naming.LABEL_INSTANCE_NAME, name)
            actions.append(
                Action(
                    action="remove",
                    instance=instance,
                    container=name,
                    reason="instance removed or disabled",
                )
            )
    actions.sort(key=lambda a: (_ORDER[a.action], a.instance))
    basis = {
        "desired": {
            d.effective.instance: d.config_hash
            for d in sorted(desired, key=lambda d: d.effective.instance)
        },
        "observed": {name: _observed_entry(c) for name, c in sorted(observed_by_name.items())},
        "inputs": dict(sorted((extra_basis or {}).items())),
    }
    token = sha256(canonical_json(basis).encode()).hexdigest()[:32]
    return Plan(
        stack=stack,
        token=token,
        actions=tuple(actions),
        diagnostics=tuple(
            sorted(
                diagnostics,
                key=lambda d: (d.severity != "error", d.instance or "", d.code, d.message),
            )
        ),
        wiring=tuple(wiring),
        basis=basis,
    )


def _diff_fields(
    old: Mapping[str, Any], new: Mapping[str, Any], eff: EffectiveConfig
) -> tuple[FieldChange, ...]:
    changes = []
    secret_fields = {f"environment.{name}" for name in eff.secret_env}
    for field in sorted(set(old) | set(new)):
        before, after = old.get(field), new.get(field)
        if before != after:
            if field in secret_fields or _is_secret_hash(before) or _is_secret_hash(after):
                # Secrets are compared by keyed hash and shown only as ***.
                before = None if before is None else REDACTED
                after = None if after is None else REDACTED
            source = eff.source_of(field) if after is not None else "removed"
            changes.append(FieldChange(field=field, old=before, new=after, source=source))
    return tuple(changes)


def _is_secret_hash(value: object) -> bool:
    return isinstance(value, str) and value.startswith("hmac:")


def explain_staleness(saved: Plan, current: Plan) -> list[str]:
    """Say what moved between a saved plan and a fresh one (for ``StalePlanError``)."""
    moved = []
    for section, noun in (("desired", "configuration of"), ("observed", "container")):
        old = saved.basis.get(section, {})
        new = current.basis.get(section, {})
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                if key not in old:
                    moved.append(f"{noun} {key} appeared")
                elif key not in new:
                    moved.append(f"{noun} {key} is gone")
                else:
                    moved.append(f"{noun} {key} changed")
    old_inputs = saved.basis.get("inputs", {})
    new_inputs = current.basis.get("inputs", {})
    moved.extend(
        f"{key} changed"
        for key in sorted(set(old_inputs) | set(new_inputs))
        if old_inputs.get(key) != new_inputs.get(key)
    )
    return moved or ["the desired or observed state changed"]

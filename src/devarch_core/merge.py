"""The merge resolver: template → wire-injected → user overrides (docs/architecture.md#merge-rules).

Every value of the result knows its source: ``template``, ``wire:<provider>`` or ``user``. Lists
merge by key (never replaced wholesale), so an override can change or remove one inherited entry
without losing the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen

from devarch_core import _convert
from devarch_core.fields import FIELDS, TEMPLATE, USER, MergeContext
from devarch_core.secrets import Secret
from devarch_core.spec import EnvValue, ServiceSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from devarch_core.model import Instance, Stack
    from devarch_core.overrides import Overrides
    from devarch_core.template import Template

__all__ = ["TEMPLATE", "USER", "EffectiveConfig", "WireInjection", "resolve"]


def wire_source(provider: str) -> str:
    """The source label of a value injected by a wire from ``provider``."""
    return f"wire:{provider}"


@frozen(kw_only=True)
class WireInjection:
    """What one resolved wire brings into a consumer: environment, a dependency on its provider."""

    provider: str
    import_name: str
    environment: Mapping[str, EnvValue] = attrs.field(factory=dict)


@frozen(kw_only=True)
class EffectiveConfig(_convert.Unstructured):
    """An instance's effective service definition, with the source of every value.

    ``to_data()`` is the ``--json`` form, secret values as ``***``.
    """

    stack: str
    stack_id: str
    instance: str
    instance_id: str
    enabled: bool = True
    template: str
    template_version: str
    template_hash: str
    container_name: str
    network: str
    service: ServiceSpec
    #: Field path (``image``, ``environment.DB_HOST``, ``ports.5432/tcp``...) -> source.
    sources: Mapping[str, str]
    #: Environment variables whose values are secret.
    secret_env: frozenset[str] = frozenset()
    #: ``flatten_service(service)``, kept by :func:`resolve` (a cache, not data).
    _flat: Mapping[str, Any] | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @property
    def template_ref(self) -> str:
        """``name@version``."""
        return f"{self.template}@{self.template_version}"

    def source_of(self, field: str) -> str:
        """The source of a field path (falls back to the field's top-level source)."""
        return self.sources.get(field) or self.sources.get(field.split(".", 1)[0], TEMPLATE)

    def fields(self) -> dict[str, Any]:
        """Flat field path -> redacted plain value; the unit of plan diffs and ``--explain``."""
        return dict(self._flat) if self._flat is not None else flatten_service(self.service)

    def explain(self) -> list[tuple[str, Any, str]]:
        """``(field, value, source)`` rows, secrets redacted, in field order."""
        return [(field, value, self.source_of(field)) for field, value in self.fields().items()]

    def _repr_html_(self) -> str:
        """Jupyter: field, value and source of every field as a table (secrets ``***``)."""
        from devarch_core._notebook import effective_html  # noqa: PLC0415 - loaded when displayed

        return effective_html(self)

    def _repr_markdown_(self) -> str:
        """Jupyter and Markdown front ends: the same table in Markdown."""
        from devarch_core._notebook import effective_markdown  # noqa: PLC0415 - loaded when shown

        return effective_markdown(self)


def flatten_service(service: ServiceSpec) -> dict[str, Any]:
    """Flatten a service into field paths whose values compare and print simply (secrets ``***``).

    Each field is flattened by its row of the field table (docs/architecture.md#service-fields).
    """
    out: dict[str, Any] = {}
    for field in FIELDS:
        out.update(field.flatten(getattr(service, field.name)))
    return out


def resolve(
    template: Template,
    overrides: Overrides,
    *,
    stack: Stack,
    instance: Instance,
    injections: Sequence[WireInjection] = (),
    secrets: Mapping[str, Secret] | None = None,
) -> EffectiveConfig:
    """Merge a template with wire injections and an instance's overrides (docs/merge-rules.md).

    ``secrets`` are the instance's secret values (already opened); they win like user values.
    Each field merges by its row of the field table. Pure: the same inputs give the same result.
    Raises ``ValidationError`` when the merged resources put a reservation above its limit (each
    side may come from a different layer).
    """
    spec = template.service
    sources: dict[str, str] = dict.fromkeys(template.memo("field_paths", _field_paths), TEMPLATE)
    context = MergeContext(
        sources=sources,
        injections=injections,
        secrets=secrets or {},
        secret_names=frozenset(template.secrets) | frozenset(overrides.secrets),
        instance=instance.name,
        where=f"{stack.name}/{instance.name}",
    )
    merged = {
        field.name: field.merge(getattr(spec, field.name), overrides, context) for field in FIELDS
    }
    service = ServiceSpec(**merged)
    # keep only sources of fields that exist in the result
    flat = flatten_service(service)
    kept = {k: v for k, v in sources.items() if k in flat}
    effective = EffectiveConfig(
        stack=stack.name,
        stack_id=stack.id,
        instance=instance.name,
        instance_id=instance.id,
        enabled=instance.enabled and stack.enabled,
        template=template.name,
        template_version=template.version,
        template_hash=template.content_hash,
        container_name=instance.container_name,
        network=stack.network_name,
        service=service,
        sources=dict(sorted(kept.items())),
        secret_env=frozenset(n for n, v in service.environment.items() if isinstance(v, Secret)),
    )
    object.__setattr__(effective, "_flat", flat)  # what fields() returns (a copy), derived once
    return effective


def _field_paths(template: Template) -> tuple[str, ...]:
    """The field paths of a template's service (each starts with the template as its source)."""
    return tuple(flatten_service(template.service))


def canonical_json(data: object) -> str:
    """Deterministic JSON used for hashes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

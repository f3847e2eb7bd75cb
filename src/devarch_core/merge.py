"""The merge resolver: template → wire-injected → user overrides (docs/architecture.md#merge-rules).

Every value of the result knows its source: ``template``, ``wire:<provider>`` or ``user``. Lists
merge by key (never replaced wholesale), so an override can change or remove one inherited entry
without losing the others.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen

from devarch_core import _convert
from devarch_core.errors import Problem, ValidationError
from devarch_core.secrets import REDACTED, Secret
from devarch_core.spec import ConfigFile, EnvValue, PortSpec, Resources, ServiceSpec, VolumeSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from devarch_core.model import Instance, Stack
    from devarch_core.overrides import Overrides
    from devarch_core.template import Template

__all__ = ["EffectiveConfig", "WireInjection", "resolve"]

TEMPLATE = "template"
USER = "user"


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
class EffectiveConfig:
    """An instance's effective service definition, with the source of every value."""

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

    @property
    def template_ref(self) -> str:
        """``name@version``."""
        return f"{self.template}@{self.template_version}"

    def source_of(self, field: str) -> str:
        """The source of a field path (falls back to the field's top-level source)."""
        return self.sources.get(field) or self.sources.get(field.split(".", 1)[0], TEMPLATE)

    def fields(self) -> dict[str, Any]:
        """Flat field path -> redacted plain value; the unit of plan diffs and ``--explain``."""
        return flatten_service(self.service)

    def explain(self) -> list[tuple[str, Any, str]]:
        """``(field, value, source)`` rows, secrets redacted, in field order."""
        return [(field, value, self.source_of(field)) for field, value in self.fields().items()]

    def to_data(self) -> dict[str, Any]:
        """Plain data for ``--json`` (secrets as ``***``)."""
        data: dict[str, Any] = _convert.unstructure(self)
        return data

    def _repr_html_(self) -> str:
        """Jupyter: field, value and source of every field as a table (secrets ``***``)."""
        from devarch_core._notebook import effective_html  # noqa: PLC0415 - loaded when displayed

        return effective_html(self)

    def _repr_markdown_(self) -> str:
        """Jupyter and Markdown front ends: the same table in Markdown."""
        from devarch_core._notebook import effective_markdown  # noqa: PLC0415 - loaded when shown

        return effective_markdown(self)


def flatten_service(service: ServiceSpec) -> dict[str, Any]:  # noqa: C901, PLR0912 - one step per field
    """Flatten a service into field paths whose values compare and print simply (secrets ``***``).

    Every field of the merge table takes one step here, so the function is long but flat.
    """
    out: dict[str, Any] = {"image": service.image}
    for key in ("command", "entrypoint"):
        value = getattr(service, key)
        if value is not None:
            out[key] = list(value)
    for key in ("working_dir", "user", "restart"):
        value = getattr(service, key)
        if value is not None:
            out[key] = value
    for name, env_value in service.environment.items():
        out[f"environment.{name}"] = REDACTED if isinstance(env_value, Secret) else env_value
    for name, label in service.labels.items():
        out[f"labels.{name}"] = label
    for port in service.ports:
        out[f"ports.{port.key}"] = port.to_data()
    for volume in service.volumes:
        out[f"volumes.{volume.target}"] = volume.to_data()
    for domain in service.domains:
        out[f"domains.{domain}"] = True
    for dep in service.depends_on:
        out[f"depends_on.{dep}"] = True
    if service.healthcheck is not None:
        out["healthcheck"] = service.healthcheck.to_data()
    for file in service.config_files:
        out[f"config_files.{file.path}"] = {"mode": f"{file.mode:04o}", "content": file.content}
    for key, value in service.resources.to_data().items():
        out[f"resources.{key}"] = value
    return out


def _merge_keyed(
    base: Mapping[str, Any],
    sources: dict[str, str],
    field: str,
    changes: Mapping[str, Any],
    source: str,
) -> dict[str, Any]:
    """Apply ``changes`` (key -> value, None removes) to ``base`` recording sources."""
    merged = dict(base)
    for key, value in changes.items():
        path = f"{field}.{key}"
        if value is None:
            merged.pop(key, None)
            sources.pop(path, None)
        else:
            merged[key] = value
            sources[path] = source
    return merged


def resolve(  # noqa: C901, PLR0912, PLR0915 - one pass per field of the merge table, kept together
    template: Template,
    overrides: Overrides,
    *,
    stack: Stack,
    instance: Instance,
    injections: Sequence[WireInjection] = (),
    secrets: Mapping[str, Secret] | None = None,
) -> EffectiveConfig:
    """Merge a template with wire injections and an instance's overrides.

    ``secrets`` are the instance's secret values (already opened); they win like user values.
    Pure: the same inputs give the same result. Raises ``ValidationError`` when the merged
    resources put a reservation above its limit (each side may come from a different layer).

    See docs/architecture.md#merge-rules.
    """
    spec = template.service
    sources: dict[str, str] = {}
    for field in flatten_service(spec):
        sources[field] = TEMPLATE
    secrets = secrets or {}

    # scalars: override replaces
    scalars: dict[str, Any] = {}
    for key in ("image", "command", "entrypoint", "working_dir", "user", "restart"):
        value = getattr(overrides, key)
        if value is not None:
            scalars[key] = value
            sources[key] = USER

    # environment: template < wire < user; None unsets; secrets stay secret
    secret_names = set(template.secrets) | set(overrides.secrets) | set(secrets)
    env: dict[str, EnvValue] = dict(spec.environment)
    for injection in injections:
        for name, value in injection.environment.items():
            env[name] = value
            sources[f"environment.{name}"] = wire_source(injection.provider)
            if isinstance(value, Secret):
                secret_names.add(name)
    env = _merge_keyed(env, sources, "environment", overrides.environment, USER)
    for name, secret in secrets.items():
        env[name] = secret
        sources[f"environment.{name}"] = USER
    for name in list(env):
        if name in secret_names and not isinstance(env[name], Secret):
            env[name] = Secret(str(env[name]))

    labels = _merge_keyed(spec.labels, sources, "labels", overrides.labels, USER)

    # ports by (container, protocol)
    ports: dict[str, PortSpec] = {p.key: p for p in spec.ports}
    for change in overrides.ports:
        path = f"ports.{change.key}"
        if change.remove:
            ports.pop(change.key, None)
            sources.pop(path, None)
            continue
        current = ports.get(change.key) or PortSpec(
            container=change.container, protocol=change.protocol
        )
        updates: dict[str, Any] = {}
        if change.host is not None:
            updates["host"] = change.host
        if change.host_ip is not None:
            updates["host_ip"] = change.host_ip
        if change.publish is not None:
            updates["publish"] = change.publish
        ports[change.key] = attrs.evolve(current, **updates)
        sources[path] = USER

    # volumes by target
    volumes: dict[str, VolumeSpec] = {v.target: v for v in spec.volumes}
    for vchange in overrides.volumes:
        path = f"volumes.{vchange.target}"
        if vchange.remove:
            volumes.pop(vchange.target, None)
            sources.pop(path, None)
            continue
        base_volume = volumes.get(vchange.target) or VolumeSpec(target=vchange.target)
        vupdates: dict[str, Any] = {}
        for key in ("source", "type", "read_only"):
            if getattr(vchange, key) is not None:
                vupdates[key] = getattr(vchange, key)
        volumes[vchange.target] = attrs.evolve(base_volume, **vupdates)
        sources[path] = USER

    # domains and depends_on: sets; wires add their provider
    domains = dict.fromkeys(spec.domains, True)
    domains = _merge_keyed(
        domains,
        sources,
        "domains",
        {k: (True if v else None) for k, v in overrides.domains.items()},
        USER,
    )
    depends: dict[str, bool] = dict.fromkeys(spec.depends_on, True)
    for injection in injections:
        depends[injection.provider] = True
        sources[f"depends_on.{injection.provider}"] = wire_source(injection.provider)
    depends = _merge_keyed(
        depends,
        sources,
        "depends_on",
        {k: (True if v else None) for k, v in overrides.depends_on.items()},
        USER,
    )
    depends.pop(instance.name, None)

    # healthcheck: whole object replaced; disable removes
    healthcheck = spec.healthcheck
    if overrides.healthcheck_disabled:
        healthcheck = None
        sources.pop("healthcheck", None)
    elif overrides.healthcheck is not None:
        healthcheck = overrides.healthcheck
        sources["healthcheck"] = USER

    # config files by path
    files: dict[str, ConfigFile] = {f.path: f for f in spec.config_files}
    for fchange in overrides.config_files:
        path = f"config_files.{fchange.path}"
        if fchange.remove:
            files.pop(fchange.path, None)
            sources.pop(path, None)
            continue
        base_file = files.get(fchange.path) or ConfigFile(path=fchange.path, content="")
        files[fchange.path] = ConfigFile(
            path=fchange.path,
            content=base_file.content if fchange.content is None else fchange.content,
            mode=base_file.mode if fchange.mode is None else fchange.mode,
        )
        sources[path] = USER

    # resources per field
    res_updates = {}
    for key in Resources.FIELDS:
        value = getattr(overrides.resources, key)
        if value is not None:
            res_updates[key] = value
            sources[f"resources.{key}"] = USER
    resources = attrs.evolve(spec.resources, **res_updates)
    # overrides are parsed field by field (partial), so reservation <= limit is checked here
    if found := resources.problems():
        raise ValidationError(
            [Problem("overrides.resources", problem) for problem in found],
            what=f"invalid resources for instance {stack.name}/{instance.name}",
        )

    service = ServiceSpec(
        image=scalars.get("image", spec.image),
        command=scalars.get("command", spec.command),
        entrypoint=scalars.get("entrypoint", spec.entrypoint),
        working_dir=scalars.get("working_dir", spec.working_dir),
        user=scalars.get("user", spec.user),
        restart=scalars.get("restart", spec.restart),
        environment=env,
        labels=labels,
        ports=tuple(sorted(ports.values(), key=lambda p: (p.container, p.protocol))),
        volumes=tuple(sorted(volumes.values(), key=lambda v: v.target)),
        domains=tuple(sorted(domains)),
        depends_on=tuple(sorted(depends)),
        healthcheck=healthcheck,
        config_files=tuple(sorted(files.values(), key=lambda f: f.path)),
        resources=resources,
    )
    # keep only sources of fields that exist in the result
    present = set(flatten_service(service))
    sources = {k: v for k, v in sources.items() if k in present}
    return EffectiveConfig(
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
        sources=dict(sorted(sources.items())),
        secret_env=frozenset(n for n, v in env.items() if isinstance(v, Secret)),
    )


def canonical_json(data: object) -> str:
    """Deterministic JSON used for hashes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

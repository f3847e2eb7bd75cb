"""The service field table: each service field described once (docs/architecture.md).

Each :class:`Field` row says what kind of field it is (scalar, keyed map, keyed list, set, whole
object, per-field object), its Compose name, and how it is parsed (in a template service and in
instance overrides), written back, flattened for plans, merged (template < wire < user, by key,
with remove markers), unset, set from the CLI (``--set``), rendered to Compose and imported from a
Compose file. :class:`~devarch_core.spec.ServiceSpec`, :class:`~devarch_core.overrides.Overrides`,
:func:`~devarch_core.merge.resolve`, the CLI, :mod:`devarch_core.compose` and
:mod:`devarch_core.compose_import` walk :data:`FIELDS` instead of naming fields one by one, so a
new field is one new row (plus its engine mapping in ``desired``/``engine`` and the adapters).

The validation rules themselves stay in :mod:`devarch_core.validators`, :mod:`devarch_core.units`
and the parsers of :mod:`devarch_core.spec`; the rows only point at them.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import attrs
from attrs import frozen

from devarch_core import _schemaparts as js
from devarch_core._parsing import Problems, join
from devarch_core.engine import ContainerSpec
from devarch_core.errors import Problem, ValidationError
from devarch_core.limits import MAX_CONFIG_CONTENT
from devarch_core.overrides import (
    ConfigFileOverride,
    Overrides,
    PortOverride,
    VolumeOverride,
    _keyed_set,
    _remove_flag,
    _short_port_keys,
)
from devarch_core.secrets import REDACTED, Secret
from devarch_core.spec import (
    HEALTHCHECK_KEYS,
    PORT_KEYS,
    VOLUME_KEYS,
    ConfigFile,
    Healthcheck,
    PortSpec,
    Resources,
    VolumeSpec,
    _command,
    _key_path,
    _names,
    _port_order,
    _resources_from_deploy,
    check_container_path,
    env_text,
    parse_environment,
    parse_mode,
    parse_port,
    parse_volume,
)
from devarch_core.units import format_duration, parse_duration
from devarch_core.validators import (
    check_domain,
    check_env_name,
    check_image,
    check_instance_ref,
    check_label_key,
    check_restart,
    check_stop_signal,
    check_user,
    check_working_dir,
)

if TYPE_CHECKING:
    from decimal import Decimal

__all__ = [
    "FIELDS",
    "Field",
    "MergeContext",
    "field_named",
    "merge_keyed_list",
    "merge_override_data",
    "unset_override_data",
]

Kind = Literal["scalar", "map", "keyed_list", "set", "object", "per_field"]
T = TypeVar("T")
C = TypeVar("C")

TEMPLATE = "template"
USER = "user"


class Importer(Protocol):
    """What a field's compose import may use (``compose_import._Service``)."""

    def interpolate(self, value: Any, where: str) -> Any:  # noqa: ANN401 - any YAML value
        """Resolve compose interpolation in every string of ``value``."""

    def environment(self, value: object) -> dict[str, str]:
        """Compose ``environment`` (list or mapping) as text values."""

    def labels(self, value: object) -> dict[str, str]:
        """Compose ``labels`` without the reserved ``devarch.*`` keys."""

    def ports(self, value: object) -> list[str]:
        """The container ports of compose ``ports``."""

    def volumes(self, value: object) -> list[dict[str, Any]]:
        """Compose ``volumes`` as template mounts."""

    def healthcheck(self, value: object) -> dict[str, Any] | None:
        """Compose ``healthcheck`` (``None`` when disabled)."""

    def resources(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """``deploy.resources`` and the legacy ``cpus``/``mem_limit``/``mem_reservation``."""


@frozen(kw_only=True)
class MergeContext:
    """What a field's merge step sees besides the template value and the overrides."""

    #: field path -> source; each merge step records and drops the paths it changes.
    sources: dict[str, str]
    #: Wire injections (``merge.WireInjection``): ``provider`` and ``environment``.
    injections: Sequence[Any] = ()
    #: The instance's opened secret values, by variable.
    secrets: Mapping[str, Secret] = attrs.field(factory=dict)
    #: Variables whose values are secret (template and overrides).
    secret_names: frozenset[str] = frozenset()
    instance: str = ""
    #: ``stack/instance``, for merge problems.
    where: str = ""


#: parse(service or overrides mapping, the mapping's path, problems) -> value / Overrides kwargs.
Parse = Callable[[Mapping[str, Any], str, Problems], Any]


@frozen(kw_only=True)
class Field:
    """One service field, described once."""

    name: str
    kind: Kind
    #: The Compose service key it renders to and imports from (``None``: rendered otherwise).
    compose: str | None
    #: Template: the ServiceSpec value read from the service mapping (its default when absent).
    parse: Parse
    #: Template: canonical plain data of a value (``None``/empty is omitted).
    to_data: Callable[[Any], Any]
    #: Overrides: the :class:`Overrides` attributes read from the overrides mapping.
    parse_override: Parse
    #: Overrides: the manifest data of this field (``None``/empty is omitted).
    override_to_data: Callable[[Overrides], Any]
    #: Field path (``name`` or ``name.KEY``) -> plain value, for plans and ``--explain``.
    flatten: Callable[[Any], dict[str, Any]]
    #: (template value, overrides, context) -> effective value; records sources.
    merge: Callable[[Any, Overrides, MergeContext], Any]
    #: Keyed lists and sets: the key of one manifest-form override entry.
    entry_key: Callable[[object], object] | None = None
    #: The entry keys ``devarch instance unset NAME.KEY`` matches (``5432`` matches ``5432/tcp``).
    unset_keys: Callable[[str], tuple[str, ...]] = lambda key: (key,)
    #: CLI ``--set`` names (default: the field's name; ``()``: not settable from the CLI) and how
    #: the value text is read: scalars/objects give the value, maps a ``NAME.KEY`` value, keyed
    #: lists and sets one entry.
    cli_names: tuple[str, ...] = attrs.field()
    cli: Callable[[str, str, list[Problem]], object] | None = None
    cli_help: str = ""
    #: Compose rendering from the engine spec: (spec, reveal secrets) -> value (omitted if empty).
    render: Callable[[ContainerSpec, bool], Any] | None = None
    #: Compose import: (compose service mapping, importer) -> template data (omitted if empty).
    import_: Callable[[Mapping[str, Any], Importer], Any] | None = None
    #: Compose keys the import reads besides ``compose`` (legacy spellings).
    import_keys: tuple[str, ...] = ()
    #: An override (manifest form) used by the docs and the round-trip test.
    example: Any = None
    #: What of the effective value survives render -> import (``None``: the field is not imported;
    #: the round-trip test then checks the rendered compose instead).
    portable: Callable[[Any], Any] | None = None
    #: JSON Schema of the value in a template's service (the editor schemas, docs/editors.md).
    schema: Mapping[str, Any] = attrs.field(factory=dict)
    #: JSON Schema of the value in an instance's overrides (``None``: the same as ``schema``).
    override_schema: Mapping[str, Any] | None = None
    #: A template's service must set it.
    required: bool = False

    @cli_names.default
    def _cli_names_default(self) -> tuple[str, ...]:
        return (self.name,)


# -- scalars ---------------------------------------------------------------------------------------


def _text_reader(
    what: str, check: Callable[[str], str]
) -> Callable[[object, str, Problems, str], str | None]:
    def read(value: object, path: str, problems: Problems, what_here: str = what) -> str | None:
        return problems.checked(problems.scalar(value, path, str, what_here), path, check)

    return read


def _read_duration(value: object, path: str, problems: Problems, _what: str = "") -> Decimal | None:
    if value is None:
        return None
    with problems.guard(path):
        return parse_duration(value)  # type: ignore[arg-type]  # it refuses other types itself
    return None


def _read_bool(value: object, path: str, problems: Problems, _what: str = "") -> bool | None:
    return problems.scalar(value, path, bool, "true or false")


def _read_command(
    value: object, path: str, problems: Problems, _what: str = ""
) -> tuple[str, ...] | None:
    return _command(value, path, problems)


def _read_signal(value: object, path: str, problems: Problems, _what: str = "") -> str | None:
    return problems.checked(value, path, check_stop_signal)  # type: ignore[return-value]


def _cli_bool(value: str, where: str, problems: list[Problem]) -> object:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    problems.append(Problem(where, f"{value!r}: expected true or false"))
    return None


def _cli_words(value: str, where: str, problems: list[Problem]) -> object:
    try:
        return shlex.split(value)
    except ValueError as exc:
        problems.append(Problem(where, f"cannot split {value!r}: {exc}"))
        return None


def _cli_text(value: str, where: str, problems: list[Problem]) -> object:  # noqa: ARG001
    return value


def _scalar(  # noqa: C901 - one closure per step of the row
    name: str,
    read: Callable[..., Any],
    *,
    dump: Callable[[Any], Any] = lambda v: v,
    override_what: str | None = None,
    required: str | None = None,
    cli: Callable[[str, str, list[Problem]], object] = _cli_text,
    cli_help: str | None = None,
    example: object,
    schema: Mapping[str, Any],
) -> Field:
    """A scalar field: replaced as a whole, the user's value wins."""

    def parse(service: Mapping[str, Any], path: str, problems: Problems) -> Any:  # noqa: ANN401
        where = join(path, name)
        raw = service.get(name)
        if required is not None and raw in (None, ""):
            # absent, null or empty: one clear message (``required``), not a type error
            problems.add(where, required)
            return None
        return read(raw, where, problems)

    def parse_override(raw: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any]:
        if name not in raw:
            return {}
        where = join(path, name)
        if override_what is not None:
            return {name: read(raw[name], where, problems, override_what)}
        return {name: read(raw[name], where, problems)}

    def flatten(value: Any) -> dict[str, Any]:  # noqa: ANN401
        return {} if value is None else {name: dump(value)}

    def merge(base: Any, overrides: Overrides, ctx: MergeContext) -> Any:  # noqa: ANN401
        value = getattr(overrides, name)
        if value is None:
            return base
        ctx.sources[name] = USER
        return value

    def render(spec: ContainerSpec, _reveal: bool) -> Any:  # noqa: ANN401
        value = getattr(spec, name)
        return None if value is None else dump(value)

    def import_(service: Mapping[str, Any], importer: Importer) -> Any:  # noqa: ANN401
        value = service.get(name)
        return None if value is None else importer.interpolate(value, name)

    return Field(
        name=name,
        kind="scalar",
        compose=name,
        parse=parse,
        to_data=lambda v: None if v is None else dump(v),
        parse_override=parse_override,
        override_to_data=lambda o: None if getattr(o, name) is None else dump(getattr(o, name)),
        flatten=flatten,
        merge=merge,
        cli=cli,
        cli_help=cli_help or f"{name}=",
        render=render,
        import_=import_,
        example=example,
        portable=lambda v: None if v is None else dump(v),
        schema=schema,
        required=required is not None,
    )


def _text_scalar(
    name: str,
    what: str,
    check: Callable[[str], str],
    *,
    required: str | None = None,
    example: str,
    schema: Mapping[str, Any],
) -> Field:
    """A free-text scalar checked by ``check`` (``what`` names it in the template's messages)."""
    return _scalar(
        name,
        _text_reader(what, check),
        override_what="a string",
        required=required,
        example=example,
        schema=schema,
    )


def _command_scalar(name: str, example: list[str]) -> Field:
    return _scalar(
        name,
        _read_command,
        dump=list,
        cli=_cli_words,
        cli_help=f"{name}='...'",
        example=example,
        schema=js.COMMAND,
    )


# -- keyed maps: environment and labels ---------------------------------------------------


def merge_keyed(
    base: Mapping[str, T],
    sources: dict[str, str],
    field: str,
    changes: Mapping[str, T | None],
    source: str,
) -> dict[str, T]:
    """Apply ``changes`` (key -> value, ``None`` removes) to ``base``, recording sources."""
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


def _parse_environment(service: Mapping[str, Any], path: str, problems: Problems) -> Any:  # noqa: ANN401
    env = parse_environment(service.get("environment"), join(path, "environment"), problems)
    return {k: v for k, v in env.items() if v is not None}


def _parse_environment_override(
    raw: Mapping[str, Any], path: str, problems: Problems
) -> dict[str, Any]:
    env: dict[str, str | None] = {}
    where = join(path, "environment")
    for name, value in problems.expect_mapping(raw.get("environment"), where).items():
        if isinstance(name, str) and (
            problems.checked(name, _key_path(where, name), check_env_name) is None
        ):
            continue
        text = env_text(value, join(where, name), problems)
        if text is not None and text.startswith("${secret:"):
            # The manifest's placeholder syntax: a plain value spelled so could not
            # round-trip through devarch.yml, and is almost always a misplaced secret.
            problems.add(
                join(where, name),
                "a ${secret:NAME} placeholder belongs in devarch.yml; set secret values "
                "with `devarch secret set`",
            )
            continue
        env[name] = text
    return {"environment": env}


def _environment_data(env: Mapping[str, Any], *, reveal: bool = False) -> dict[str, str]:
    return {k: (v.reveal() if reveal and isinstance(v, Secret) else str(v)) for k, v in env.items()}


def _merge_environment(base: Any, overrides: Overrides, ctx: MergeContext) -> Any:  # noqa: ANN401
    """Template < wire < user; ``None`` unsets; secrets stay secret."""
    secret_names = set(ctx.secret_names) | set(ctx.secrets)
    env: dict[str, Any] = dict(base)
    for injection in ctx.injections:
        for name, value in injection.environment.items():
            env[name] = value
            ctx.sources[f"environment.{name}"] = f"wire:{injection.provider}"
            if isinstance(value, Secret):
                secret_names.add(name)
    env = merge_keyed(env, ctx.sources, "environment", overrides.environment, USER)
    for name, secret in ctx.secrets.items():
        env[name] = secret
        ctx.sources[f"environment.{name}"] = USER
    for name in list(env):
        if name in secret_names and not isinstance(env[name], Secret):
            env[name] = Secret(str(env[name]))
    return env


def _render_environment(spec: ContainerSpec, reveal: bool) -> Any:  # noqa: ANN401
    return {
        name: (value.reveal() if reveal else REDACTED) if isinstance(value, Secret) else value
        for name, value in sorted(spec.environment.items())
    }


def _import_environment(service: Mapping[str, Any], importer: Importer) -> Any:  # noqa: ANN401
    return importer.environment(service.get("environment"))


def _parse_labels(service: Mapping[str, Any], path: str, problems: Problems) -> Any:  # noqa: ANN401
    raw = parse_environment(service.get("labels"), join(path, "labels"), problems, labels=True)
    return {k: v or "" for k, v in raw.items()}


def _parse_labels_override(raw: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any]:
    labels: dict[str, str | None] = {}
    where = join(path, "labels")
    for name, value in problems.expect_mapping(raw.get("labels"), where).items():
        if problems.checked(name, _key_path(where, name), check_label_key) is None:
            continue
        labels[name] = env_text(value, join(where, name), problems)
    return {"labels": labels}


# -- keyed lists: ports, volumes, config files ---------------------------------------------------


def merge_keyed_list(
    base: Iterable[T],
    changes: Iterable[C],
    *,
    field: str,
    sources: dict[str, str],
    key: Callable[[T | C], str],
    removed: Callable[[C], bool],
    new: Callable[[C], T],
    updates: Callable[[C], Mapping[str, Any]],
    order: Callable[[T], Any],
) -> tuple[T, ...]:
    """Merge keyed override entries into inherited ones: change, add, or (remove marker) drop.

    An entry with the key of an inherited one changes only the attributes it sets
    (``updates``); a new key starts from ``new(change)``; the result is sorted by ``order``.
    """
    merged: dict[str, T] = {key(item): item for item in base}
    for change in changes:
        k = key(change)
        path = f"{field}.{k}"
        if removed(change):
            merged.pop(k, None)
            sources.pop(path, None)
            continue
        current = merged.get(k)
        start = current if current is not None else new(change)
        merged[k] = attrs.evolve(start, **updates(change))  # type: ignore[misc]  # T: an attrs class
        sources[path] = USER
    return tuple(sorted(merged.values(), key=order))


def _set_attrs(change: object, names: Sequence[str]) -> dict[str, Any]:
    return {n: getattr(change, n) for n in names if getattr(change, n) is not None}


def _keyed_list_merger(
    field: str,
    *,
    key: Callable[[Any], str],
    new: Callable[[Any], Any],
    settable: Sequence[str],
    order: Callable[[Any], Any],
) -> Callable[[Any, Overrides, MergeContext], Any]:
    """The merge of one keyed-list field: overrides' entries by key, remove markers drop."""

    def merge(base: Any, overrides: Overrides, ctx: MergeContext) -> Any:  # noqa: ANN401
        return merge_keyed_list(
            base,
            getattr(overrides, field),
            field=field,
            sources=ctx.sources,
            key=key,
            removed=lambda c: c.remove,
            new=new,
            updates=lambda c: _set_attrs(c, settable),
            order=order,
        )

    return merge


def _entries_parser(
    name: str,
    parse_one: Callable[[object, str, Problems], Any],
    *,
    twice: Callable[[Any], str],
    order: Callable[[Any], Any],
) -> Parse:
    """Template parse of the keyed list ``name``: each entry parsed once, a repeated key refused."""

    def parse(service: Mapping[str, Any], path: str, problems: Problems) -> Any:  # noqa: ANN401
        entries: dict[str, Any] = {}
        where = join(path, name)
        for i, raw in enumerate(problems.expect_list(service.get(name), where)):
            entry = parse_one(raw, f"{where}[{i}]", problems)
            if entry is not None:
                if entry.key in entries:
                    problems.add(f"{where}[{i}]", twice(entry))
                entries[entry.key] = entry
        return tuple(sorted(entries.values(), key=order))

    return parse


_parse_ports = _entries_parser(
    "ports", parse_port, twice=lambda p: f"port {p.key} is listed twice", order=_port_order
)


def _parse_ports_override(raw: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any]:
    ports: dict[str, PortOverride] = {}
    for i, item in enumerate(problems.expect_list(raw.get("ports"), join(path, "ports"))):
        ipath = f"{join(path, 'ports')}[{i}]"
        remove = _remove_flag(item, {"container", "target", "protocol"}, ipath, problems)
        body = (
            {k: v for k, v in item.items() if k != "remove"} if isinstance(item, Mapping) else item
        )
        spec = parse_port(body, ipath, problems, keep_host=True)
        if spec is None:
            continue
        explicit = body if isinstance(body, Mapping) else _short_port_keys(body)
        override = PortOverride(
            container=spec.container,
            protocol=spec.protocol,
            host=spec.host,
            host_ip=spec.host_ip if "host_ip" in explicit else None,
            publish=spec.publish if "publish" in explicit else None,
            remove=remove,
        )
        if override.key in ports:
            problems.add(ipath, f"port {override.key} is listed twice")
        ports[override.key] = override
    return {"ports": list(ports.values())}


_merge_ports = _keyed_list_merger(
    "ports",
    key=lambda p: p.key,
    new=lambda c: PortSpec(container=c.container, protocol=c.protocol),
    settable=("host", "host_ip", "publish"),
    order=_port_order,
)


def _port_entry_key(item: object) -> object:
    if isinstance(item, Mapping):
        return f"{item.get('container')}/{item.get('protocol') or 'tcp'}"
    return item


def _render_ports(spec: ContainerSpec, _reveal: bool) -> Any:  # noqa: ANN401
    out = []
    for port in spec.ports:
        host_ip = f"[{port.host_ip}]" if ":" in port.host_ip else port.host_ip
        out.append(f"{host_ip}:{port.host_port}:{port.container}/{port.protocol}")
    return out


def cli_port(value: str, where: str, problems: list[Problem]) -> dict[str, Any] | None:
    """Read a CLI port assignment (Compose's order).

    See :func:`devarch_core.portspec.parse_port_assignment`.
    """
    from devarch_core.portspec import parse_port_assignment  # noqa: PLC0415 - portspec imports spec

    return parse_port_assignment(value, where, problems)


_PORT_FORMS = "[[IP:]HOST:]CONTAINER[/PROTO] or CONTAINER[/PROTO]:off|on|remove"


_parse_volumes = _entries_parser(
    "volumes",
    parse_volume,
    twice=lambda v: f"target {v.target} is mounted twice",
    order=lambda v: v.target,
)


def _parse_volumes_override(
    raw: Mapping[str, Any], path: str, problems: Problems
) -> dict[str, Any]:
    volumes: dict[str, VolumeOverride] = {}
    for i, item in enumerate(problems.expect_list(raw.get("volumes"), join(path, "volumes"))):
        ipath = f"{join(path, 'volumes')}[{i}]"
        if _remove_flag(item, {"target"}, ipath, problems):
            target = problems.scalar(item.get("target"), join(ipath, "target"), str, "a path")
            if not target or not target.startswith("/"):
                problems.add(
                    join(ipath, "target"), "a removed mount needs its absolute target path"
                )
            else:
                target = posixpath.normpath(target)
                volumes[target] = VolumeOverride(target=target, remove=True)
            continue
        vol = parse_volume(item, ipath, problems)
        if vol is None:
            continue
        explicit = item if isinstance(item, Mapping) else {"source": vol.source, "type": vol.type}
        volumes[vol.target] = VolumeOverride(
            target=vol.target,
            source=vol.source,
            type=vol.type if explicit.get("type") is not None or vol.type != "volume" else None,
            read_only=vol.read_only if "read_only" in explicit or vol.read_only else None,
        )
    return {"volumes": list(volumes.values())}


_merge_volumes = _keyed_list_merger(
    "volumes",
    key=lambda v: v.target,
    new=lambda c: VolumeSpec(target=c.target),
    settable=("source", "type", "read_only"),
    order=lambda v: v.target,
)


def _render_volumes(spec: ContainerSpec, _reveal: bool) -> Any:  # noqa: ANN401
    out = []
    for mount in spec.mounts:
        data: dict[str, Any] = {"type": mount.type}
        if mount.source is not None:
            data["source"] = mount.source
        data["target"] = mount.target
        if mount.type != "tmpfs":
            data["read_only"] = mount.read_only
        out.append(data)
    return out


def _cli_volume(value: str, where: str, problems: list[Problem]) -> object:  # noqa: ARG001
    return {"target": value[1:], "remove": True} if value.startswith("-") else value


def _volume_portable(volumes: Any) -> Any:  # noqa: ANN401
    """Mount targets, kinds and modes survive; sources are renamed by the engine naming."""
    return [(v.target, v.type, v.read_only) for v in volumes]


#: The keys of a config file entry (an override entry may also say ``remove``).
CONFIG_FILE_KEYS = ("path", "content", "mode")


def _parse_config_files(service: Mapping[str, Any], path: str, problems: Problems) -> Any:  # noqa: ANN401
    files: dict[str, ConfigFile] = {}
    where = join(path, "config_files")
    for i, raw in enumerate(problems.expect_list(service.get("config_files"), where)):
        fpath = f"{where}[{i}]"
        item = problems.expect_mapping(raw, fpath)
        problems.check_keys(item, set(CONFIG_FILE_KEYS), fpath)
        target = problems.scalar(item.get("path"), join(fpath, "path"), str, "a path")
        content = problems.scalar(item.get("content", ""), join(fpath, "content"), str, "text")
        content = problems.check_length(content, MAX_CONFIG_CONTENT, join(fpath, "content"))
        mode = parse_mode(item.get("mode"), join(fpath, "mode"), problems)
        if target is not None and (
            target := check_container_path(target, join(fpath, "path"), problems)
        ):
            files[target] = ConfigFile(
                path=target, content=content or "", mode=0o644 if mode is None else mode
            )
    return tuple(sorted(files.values(), key=lambda f: f.path))


def _parse_config_files_override(
    raw: Mapping[str, Any], path: str, problems: Problems
) -> dict[str, Any]:
    files: dict[str, ConfigFileOverride] = {}
    where = join(path, "config_files")
    for i, item in enumerate(problems.expect_list(raw.get("config_files"), where)):
        ipath = f"{where}[{i}]"
        entry = problems.expect_mapping(item, ipath)
        problems.check_keys(entry, {*CONFIG_FILE_KEYS, "remove"}, ipath)
        target = problems.scalar(entry.get("path"), join(ipath, "path"), str, "a path")
        if target is None:
            if isinstance(item, Mapping):
                problems.add(join(ipath, "path"), "a config file needs a path")
            continue
        target = check_container_path(target, join(ipath, "path"), problems)
        if target is None:
            continue
        files[target] = ConfigFileOverride(
            path=target,
            content=problems.check_length(
                problems.scalar(entry.get("content"), join(ipath, "content"), str, "text"),
                MAX_CONFIG_CONTENT,
                join(ipath, "content"),
            ),
            mode=parse_mode(entry.get("mode"), join(ipath, "mode"), problems),
            remove=_remove_flag(entry, {"path"}, ipath, problems),
        )
    return {"config_files": list(files.values())}


_merge_config_files = _keyed_list_merger(
    "config_files",
    key=lambda f: f.path,
    new=lambda c: ConfigFile(path=c.path, content=""),
    settable=("content", "mode"),
    order=lambda f: f.path,
)


def _mapping_key(name: str) -> Callable[[object], object]:
    def key(item: object) -> object:
        return item.get(name) if isinstance(item, Mapping) else item

    return key


# -- sets: domains and depends_on ------------------------------------------------------------------


def _map_field(name: str, **rest: Any) -> Field:  # noqa: ANN401
    """A map of names to values, set from the CLI as text (``NAME.KEY=VALUE``)."""
    return Field(
        name=name,
        kind="map",
        compose=name,
        override_to_data=lambda o: dict(getattr(o, name)),
        cli=_cli_text,
        **rest,
    )


def _keyed_list_field(name: str, **rest: Any) -> Field:  # noqa: ANN401
    """A list of entries keyed by one attribute; each entry writes itself back (``to_data``).

    Unless the row says otherwise it renders to and imports from the Compose key ``name`` and
    flattens to one ``name.KEY`` path per entry (``ports.5432/tcp``, by the entry's ``key``).
    """
    rest.setdefault("compose", name)
    rest.setdefault(
        "flatten", lambda items: {f"{name}.{item.key}": item.to_data() for item in items}
    )
    return Field(
        name=name,
        kind="keyed_list",
        to_data=lambda items: [item.to_data() for item in items],
        override_to_data=lambda o: [item.to_data() for item in getattr(o, name)],
        **rest,
    )


def _set_field(
    name: str,
    key: str,
    check: Callable[[str], str],
    *,
    merge: Callable[[Any, Overrides, MergeContext], Any] | None = None,
    import_: Callable[[Mapping[str, Any], Importer], Any] | None = None,
    cli_names: tuple[str, ...],
    render: bool,
    example: list[str],
    item_schema: Mapping[str, Any],
) -> Field:
    """A set of names; an override adds a name or removes one (``{key: NAME, remove: true}``)."""

    def parse(service: Mapping[str, Any], path: str, problems: Problems) -> Any:  # noqa: ANN401
        raw = service.get(name)
        names = _names(
            list(raw) if isinstance(raw, Mapping) else raw, join(path, name), problems, check
        )
        return tuple(sorted(set(names)))

    def parse_override(raw: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any]:
        return {name: _keyed_set(raw.get(name), key, join(path, name), problems, check)}

    def to_override_data(overrides: Overrides) -> Any:  # noqa: ANN401
        return [
            d if keep else {key: d, "remove": True} for d, keep in getattr(overrides, name).items()
        ]

    def default_merge(base: Any, overrides: Overrides, ctx: MergeContext) -> Any:  # noqa: ANN401
        changes = {k: (True if v else None) for k, v in getattr(overrides, name).items()}
        return tuple(
            sorted(merge_keyed(dict.fromkeys(base, True), ctx.sources, name, changes, USER))
        )

    def cli(value: str, where: str, problems: list[Problem]) -> object:  # noqa: ARG001
        return {key: value[1:], "remove": True} if value.startswith("-") else value

    return Field(
        name=name,
        kind="set",
        compose=name if render else None,
        parse=parse,
        to_data=list,
        parse_override=parse_override,
        override_to_data=to_override_data,
        flatten=lambda v: {f"{name}.{item}": True for item in v},
        merge=merge or default_merge,
        import_=import_,
        entry_key=_mapping_key(key),
        cli_names=cli_names,
        cli=cli,
        cli_help=f"{cli_names[0]}=[-]NAME",
        example=example,
        # A list of names (or Compose's mapping form, whose keys are the names).
        schema=js.one_of(js.array(dict(item_schema)), js.keyed_map(dict(item_schema), {})),
        override_schema=js.array(
            js.one_of(
                dict(item_schema),
                js.closed(
                    (key, "remove"),
                    {key: dict(item_schema), "remove": js.REMOVE},
                    required=(key,),
                ),
            )
        ),
    )


def _merge_depends_on(base: Any, overrides: Overrides, ctx: MergeContext) -> Any:  # noqa: ANN401
    """A set; each wire adds its provider; an instance never depends on itself."""
    depends: dict[str, bool] = dict.fromkeys(base, True)
    for injection in ctx.injections:
        depends[injection.provider] = True
        ctx.sources[f"depends_on.{injection.provider}"] = f"wire:{injection.provider}"
    changes = {k: (True if v else None) for k, v in overrides.depends_on.items()}
    depends = merge_keyed(depends, ctx.sources, "depends_on", changes, USER)
    depends.pop(ctx.instance, None)
    return tuple(sorted(depends))


# -- whole object: healthcheck -------------------------------------------------------------------


def _parse_healthcheck(service: Mapping[str, Any], path: str, problems: Problems) -> Any:  # noqa: ANN401
    raw = service.get("healthcheck")
    if raw is None or (isinstance(raw, Mapping) and raw.get("disable")):
        return None
    return Healthcheck.parse(raw, join(path, "healthcheck"), problems)


def _parse_healthcheck_override(
    raw: Mapping[str, Any], path: str, problems: Problems
) -> dict[str, Any]:
    hc = raw.get("healthcheck")
    if hc == "disable" or (isinstance(hc, Mapping) and hc.get("disable") is True):
        return {"healthcheck_disabled": True}
    if hc is not None:
        return {"healthcheck": Healthcheck.parse(hc, join(path, "healthcheck"), problems)}
    return {}


def _healthcheck_override_data(overrides: Overrides) -> Any:  # noqa: ANN401
    if overrides.healthcheck_disabled:
        return "disable"
    return None if overrides.healthcheck is None else overrides.healthcheck.to_data()


def _merge_healthcheck(base: Any, overrides: Overrides, ctx: MergeContext) -> Any:  # noqa: ANN401
    """The whole object is replaced; ``disable`` removes it."""
    if overrides.healthcheck_disabled:
        ctx.sources.pop("healthcheck", None)
        return None
    if overrides.healthcheck is not None:
        ctx.sources["healthcheck"] = USER
        return overrides.healthcheck
    return base


def cli_healthcheck(value: str, where: str, problems: list[Problem]) -> object:
    """``disable`` or a YAML mapping such as ``{test: [CMD, true], interval: 5s}``."""
    if value == "disable":
        return "disable"
    from devarch_core.catalog import load_yaml  # noqa: PLC0415 - catalog imports the spec

    try:
        parsed = load_yaml(value, where, what="healthcheck")
    except ValidationError as exc:
        problems.extend(Problem(where, p.message) for p in exc.problems)
        return None
    if not isinstance(parsed, Mapping):
        problems.append(
            Problem(
                where,
                "expected `disable` or a YAML mapping such as {test: [CMD, true], interval: 5s}",
            )
        )
        return None
    return dict(parsed)


def _render_healthcheck(spec: ContainerSpec, _reveal: bool) -> Any:  # noqa: ANN401
    return None if spec.healthcheck is None else spec.healthcheck.to_data()


def _import_healthcheck(service: Mapping[str, Any], importer: Importer) -> Any:  # noqa: ANN401
    return importer.healthcheck(service.get("healthcheck"))


# -- per-field object: resources -----------------------------------------------------------------


def _parse_resources(service: Mapping[str, Any], path: str, problems: Problems) -> Any:  # noqa: ANN401
    raw = service.get("resources")
    deploy = service.get("deploy")
    if deploy is not None:
        from_deploy = _resources_from_deploy(deploy, join(path, "deploy"), problems)
        if raw is None:
            raw = from_deploy
    return Resources.parse(raw, join(path, "resources"), problems)


def _merge_resources(base: Any, overrides: Overrides, ctx: MergeContext) -> Any:  # noqa: ANN401
    """Per field; reservation <= limit is checked on the merged result (overrides are partial)."""
    updates = {}
    for key in Resources.FIELDS:
        value = getattr(overrides.resources, key)
        if value is not None:
            updates[key] = value
            ctx.sources[f"resources.{key}"] = USER
    resources = attrs.evolve(base, **updates)
    if found := resources.problems():
        raise ValidationError(
            [Problem("overrides.resources", problem) for problem in found],
            what=f"invalid resources for instance {ctx.where}",
        )
    return resources


def _render_resources(spec: ContainerSpec, _reveal: bool) -> Any:  # noqa: ANN401
    data = spec.resources.to_data()
    names = {"cpu": "cpus", "memory": "memory"}
    out: dict[str, Any] = {}
    for side, suffix in (("limits", "limit"), ("reservations", "reservation")):
        part = {
            names[kind]: data[f"{kind}_{suffix}"]
            for kind in ("cpu", "memory")
            if f"{kind}_{suffix}" in data
        }
        if part:
            out[side] = part
    return {"resources": out} if out else None


def _import_resources(service: Mapping[str, Any], importer: Importer) -> Any:  # noqa: ANN401
    return importer.resources(service)


# -- JSON Schemas of the structured fields (docs/editors.md) ------------------------------------

#: A list-form environment entry: ``NAME=value`` or ``NAME``.
_ENV_ITEM = r"^[A-Za-z_][A-Za-z0-9_.]*(?:=|$)"
#: A short-form port: ``[[IP:]HOST:]CONTAINER[/PROTO]`` (no ranges).
_SHORT_PORT = r"^(?:(?:.*:)?[0-9]{0,5}:)?[0-9]{1,5}(?:/(?:tcp|udp))?$"
#: A short-form mount: ``[SOURCE:]/TARGET[:ro|rw]``.
_SHORT_VOLUME = r"^(?:[^:]*:)?/[^:]*(?::(?:ro|rw))?$"


def _with_remove(keys: Iterable[str], override: bool) -> tuple[str, ...]:
    return (*keys, "remove") if override else tuple(keys)


def _port_schema(*, override: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "container": js.PORT_NUMBER,
        "target": js.PORT_NUMBER,
        "protocol": js.PROTOCOL,
        "host": js.PORT_NUMBER,
        "published": js.PORT_NUMBER,
        "host_ip": js.text("an IP address"),
        "publish": {"type": "boolean"},
        "mode": {"description": "Compose's; not used"},
        "name": {"description": "Compose's; not used"},
    }
    if override:
        props["remove"] = js.REMOVE
    long = js.closed(_with_remove(PORT_KEYS, override), props)
    long["anyOf"] = [{"required": ["container"]}, {"required": ["target"]}]
    return js.one_of(
        js.PORT_NUMBER,
        js.text("[[IP:]HOST:]CONTAINER[/tcp|udp]", strict=True, pattern=_SHORT_PORT),
        long,
        description="a container port (templates: devarch allocates the host port)",
    )


def _volume_schema(*, override: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "target": js.ABSOLUTE_PATH,
        "source": js.text("a volume name or a host path"),
        "type": {"enum": ["volume", "bind", "tmpfs"]},
        "read_only": {"type": "boolean"},
    }
    if override:
        props["remove"] = js.REMOVE
    return js.one_of(
        js.text("[SOURCE:]/TARGET[:ro]", strict=True, pattern=_SHORT_VOLUME),
        js.closed(_with_remove(VOLUME_KEYS, override), props, required=("target",)),
        {"type": "object", "maxProperties": 0, "description": "skipped"},
    )


def _config_file_schema(*, override: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "path": js.ABSOLUTE_PATH,
        "content": js.text("the file's text", maxLength=MAX_CONFIG_CONTENT),
        "mode": js.FILE_MODE,
    }
    if override:
        props["remove"] = js.REMOVE
    return js.closed(
        _with_remove(CONFIG_FILE_KEYS, override),
        props,
        required=("path",),
        description="a file devarch writes and mounts read-only at path",
    )


_HEALTHCHECK_SCHEMA: dict[str, Any] = {
    **js.closed(
        HEALTHCHECK_KEYS,
        {
            "test": js.one_of(
                js.text("a shell command (CMD-SHELL)", strict=True),
                js.array(
                    js.text(strict=True),
                    minItems=1,
                    prefixItems=[{"enum": ["CMD", "CMD-SHELL", "NONE"]}],
                ),
            ),
            "interval": js.DURATION,
            "timeout": js.DURATION,
            "start_period": js.DURATION,
            "retries": js.RETRIES,
            "disable": {"type": "boolean"},
        },
    ),
    # ``disable: true`` needs nothing else, nor does ``{}`` (none); otherwise it has a test.
    "if": {"required": ["disable"], "properties": {"disable": {"const": True}}},
    "else": {"anyOf": [{"required": ["test"]}, {"maxProperties": 0}]},
}


# -- the table -------------------------------------------------------------------------------------

#: Every service field, in the canonical order of template and manifest data.
FIELDS: tuple[Field, ...] = (
    _text_scalar(
        "image",
        "an image reference",
        check_image,
        required="an image is required",
        example="devarch-test/busybox:1.36",
        schema=js.IMAGE,
    ),
    _command_scalar("command", ["sleep", "3600"]),
    _command_scalar("entrypoint", ["/bin/sh", "-c"]),
    _text_scalar(
        "working_dir", "a path", check_working_dir, example="/srv/app", schema=js.ABSOLUTE_PATH
    ),
    _text_scalar("user", "a user", check_user, example="1000:1000", schema=js.USER),
    _text_scalar(
        "restart", "a restart policy", check_restart, example="on-failure:3", schema=js.RESTART
    ),
    _scalar(
        "stop_grace_period",
        _read_duration,
        dump=format_duration,
        cli_help="stop_grace_period=30s",
        example="30s",
        schema=js.DURATION,
    ),
    _scalar(
        "stop_signal",
        _read_signal,
        cli_help="stop_signal=SIGINT",
        example="SIGINT",
        schema=js.SIGNAL,
    ),
    _scalar(
        "init",
        _read_bool,
        cli=_cli_bool,
        cli_help="init=true|false",
        example=True,
        schema={"type": "boolean"},
    ),
    _map_field(
        "environment",
        parse=_parse_environment,
        to_data=_environment_data,
        parse_override=_parse_environment_override,
        flatten=lambda env: {
            f"environment.{k}": REDACTED if isinstance(v, Secret) else v for k, v in env.items()
        },
        merge=_merge_environment,
        cli_names=("env", "environment"),
        cli_help="env.NAME=VALUE",
        render=_render_environment,
        import_=_import_environment,
        example={"GREETING": "hello"},
        portable=lambda env: {k: str(v) for k, v in env.items()},
        schema=js.one_of(
            js.keyed_map(js.ENV_NAME_SCHEMA, js.ENV_VALUE),
            js.array(js.text("NAME=value, or NAME", strict=True, pattern=_ENV_ITEM)),
        ),
        override_schema=js.keyed_map(
            js.ENV_NAME_SCHEMA,
            js.ENV_VALUE,
            "NAME: value (null unsets an inherited variable; ${secret:NAME} a secret)",
        ),
    ),
    _map_field(
        "labels",
        parse=_parse_labels,
        to_data=dict,
        parse_override=_parse_labels_override,
        flatten=lambda labels: {f"labels.{k}": v for k, v in labels.items()},
        merge=lambda base, o, ctx: merge_keyed(base, ctx.sources, "labels", o.labels, USER),
        cli_names=("label", "labels"),
        cli_help="label.KEY=VALUE",
        render=lambda spec, _reveal: dict(sorted(spec.labels.items())),
        import_=lambda service, importer: importer.labels(service.get("labels")),
        example={"team": "payments"},
        portable=dict,
        schema=js.one_of(
            js.keyed_map(js.LABEL_KEY, js.ENV_VALUE),
            js.array(
                js.text("KEY=value, or KEY", strict=True, pattern=r"^(?!devarch\.)[^\s=]+(?:=|$)")
            ),
        ),
        override_schema=js.keyed_map(js.LABEL_KEY, js.ENV_VALUE),
    ),
    _keyed_list_field(
        "ports",
        parse=_parse_ports,
        parse_override=_parse_ports_override,
        merge=_merge_ports,
        entry_key=_port_entry_key,
        unset_keys=lambda key: (key, f"{key}/tcp"),
        cli_names=("port", "ports"),
        cli=cli_port,
        cli_help=f"port={_PORT_FORMS.replace(' or ', ' (Compose order) or port=')}",
        render=_render_ports,
        import_=lambda service, importer: importer.ports(service.get("ports")),
        example=[{"container": 8080, "host": 18080}],
        # Host ports are the engine's to allocate: only container ports survive an import.
        portable=lambda ports: [p.key for p in ports],
        # A null entry (``ports: [~]``) is skipped by the parser, so the schema allows it.
        schema=js.array(js.nullable(_port_schema(override=False))),
        override_schema=js.array(js.nullable(_port_schema(override=True))),
    ),
    _keyed_list_field(
        "volumes",
        parse=_parse_volumes,
        parse_override=_parse_volumes_override,
        merge=_merge_volumes,
        entry_key=_mapping_key("target"),
        cli_names=("volume", "volumes"),
        cli=_cli_volume,
        cli_help="volume=SOURCE:/TARGET[:ro] or volume=-/TARGET",
        render=_render_volumes,
        import_=lambda service, importer: importer.volumes(service.get("volumes")),
        example=["cache:/var/cache/app:ro"],
        portable=_volume_portable,
        schema=js.array(js.nullable(_volume_schema(override=False))),
        override_schema=js.array(js.nullable(_volume_schema(override=True))),
    ),
    _set_field(
        "domains",
        "domain",
        check_domain,
        cli_names=("domain", "domains"),
        render=False,  # network aliases (rendered with the network)
        example=["api.example.test"],
        item_schema=js.DOMAIN,
    ),
    _set_field(
        "depends_on",
        "instance",
        check_instance_ref,
        merge=_merge_depends_on,
        cli_names=("depends_on",),
        render=True,  # with health conditions, by the compose renderer (it knows the others)
        example=["db"],
        item_schema={**js.DNS_LABEL, "type": "string"},
    ),
    Field(
        name="healthcheck",
        kind="object",
        compose="healthcheck",
        parse=_parse_healthcheck,
        to_data=lambda hc: None if hc is None else hc.to_data(),
        parse_override=_parse_healthcheck_override,
        override_to_data=_healthcheck_override_data,
        flatten=lambda hc: {} if hc is None else {"healthcheck": hc.to_data()},
        merge=_merge_healthcheck,
        cli=cli_healthcheck,
        cli_help="healthcheck=disable|{YAML}",
        render=_render_healthcheck,
        import_=_import_healthcheck,
        example={"test": ["CMD", "true"], "interval": "5s", "retries": 3},
        portable=lambda hc: None if hc is None else hc.to_data(),
        schema=_HEALTHCHECK_SCHEMA,
        override_schema=js.one_of(
            {"const": "disable", "description": "remove the template's healthcheck"},
            _HEALTHCHECK_SCHEMA,
        ),
    ),
    _keyed_list_field(
        "config_files",
        compose=None,  # rendered as read-only bind mounts among the volumes
        parse=_parse_config_files,
        parse_override=_parse_config_files_override,
        flatten=lambda files: {
            f"config_files.{f.path}": {"mode": f"{f.mode:04o}", "content": f.content} for f in files
        },
        merge=_merge_config_files,
        entry_key=_mapping_key("path"),
        cli_names=(),  # whole files: set in devarch.yml
        example=[{"path": "/etc/app/app.conf", "content": "debug = true\n"}],
        schema=js.array(_config_file_schema(override=False)),
        override_schema=js.array(_config_file_schema(override=True)),
    ),
    Field(
        name="resources",
        kind="per_field",
        compose="deploy",
        parse=_parse_resources,
        to_data=lambda res: res.to_data() or None,
        parse_override=lambda raw, path, problems: {
            "resources": Resources.parse(
                raw.get("resources"), join(path, "resources"), problems, partial=True
            )
        },
        override_to_data=lambda o: o.resources.to_data(),
        flatten=lambda res: {f"resources.{k}": v for k, v in res.to_data().items()},
        merge=_merge_resources,
        cli=_cli_text,
        cli_help="resources.FIELD=VALUE",
        render=_render_resources,
        import_=_import_resources,
        import_keys=("mem_limit", "mem_reservation", "cpus"),
        example={"cpu_limit": "0.5", "memory_limit": "256m"},
        portable=lambda res: res.to_data(),
        schema=js.closed(
            Resources.FIELDS,
            dict.fromkeys(Resources.FIELDS, js.QUANTITY),
            description="cpus (0.5) and memory (512m) limits and reservations",
        ),
    ),
)

_BY_NAME = {f.name: f for f in FIELDS}
_BY_CLI = {alias: f for f in FIELDS for alias in f.cli_names}


def field_named(name: str) -> Field | None:
    """The row of a field name (``environment``), or ``None``."""
    return _BY_NAME.get(name)


def cli_field(name: str) -> Field | None:
    """The row a CLI ``--set`` name (``env``, ``port``, ``image``...) addresses, or None."""
    return _BY_CLI.get(name)


# -- override data: set (merge a delta) and unset -----------------------------------------


def merge_override_data(current: Mapping[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a manifest-form override delta onto existing override data (keyed, not wholesale).

    Maps and per-field objects merge by key (``None`` drops a per-field value), keyed lists and
    sets by their entry key (a later entry replaces an earlier one with the same key), scalars
    and whole objects are replaced; ``secrets`` (not a service field) is a union.
    """
    merged = dict(current)
    for key, value in delta.items():
        field = _BY_NAME.get(key)
        if key == "secrets" and isinstance(value, list):
            merged[key] = sorted(set(merged.get(key, [])) | set(value))
        elif field is None:
            merged[key] = value
        elif field.kind == "map" and isinstance(value, Mapping):
            merged[key] = {**merged.get(key, {}), **value}
        elif field.kind == "per_field" and isinstance(value, Mapping):
            both = {**merged.get(key, {}), **value}
            merged[key] = {k: v for k, v in both.items() if v is not None}
        elif field.entry_key is not None and isinstance(value, list):
            rows = {field.entry_key(item): item for item in merged.get(key, [])}
            for item in value:
                rows[field.entry_key(item)] = item
            merged[key] = list(rows.values())
        else:
            merged[key] = value
    return merged


def unset_override_data(current: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Drop one override (``environment.FOO``, ``ports.5432/tcp``, ``image``): it inherits again.

    Raises ``NotFoundError`` when there is no such override.
    """
    from devarch_core.errors import NotFoundError  # noqa: PLC0415 - keep the import list short

    data = dict(current)
    top, _, rest = path.partition(".")
    if top not in data:
        raise NotFoundError(
            "override", path, hint="`devarch instance show` lists the instance's overrides"
        )
    if not rest:
        del data[top]
        return data
    value = data[top]
    field = _BY_NAME.get(top)
    if isinstance(value, Mapping):
        if rest not in value:
            raise NotFoundError("override", path)
        data[top] = {k: v for k, v in value.items() if k != rest}
    elif isinstance(value, list):
        entry_key = field.entry_key if field and field.entry_key else (lambda item: item)
        wanted = field.unset_keys(rest) if field else (rest,)
        kept = [item for item in value if str(entry_key(item)) not in wanted]
        if len(kept) == len(value):
            raise NotFoundError("override", path)
        data[top] = kept
    else:
        raise NotFoundError("override", path)
    if not data[top]:
        del data[top]
    return data


def cli_known() -> str:
    """The ``--set`` forms, for messages."""
    forms = [f.cli_help for f in FIELDS if f.cli is not None]
    return ", ".join([*forms, "secret=VAR"])

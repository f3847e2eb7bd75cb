"""Compose rendering: a stack (or one instance) as a Compose file a real client can run.

The input is what apply would create: one :class:`~devarch_core.engine.ContainerSpec` per
instance (from :func:`devarch_core.desired.container_spec`) plus its dependencies. The output is
one deterministic YAML document (block style, fixed key order, sorted mappings) whose services
carry ``container_name`` = the devarch container name, every identity label, the stack network
with the instance's aliases, its named volumes under their engine names, healthchecks,
``depends_on`` with health conditions and ``deploy.resources``. Running it with
``docker-compose -p NAME -f FILE up -d`` creates the same names devarch itself would.

Choices made for compatibility with older clients (Debian's docker-compose 1.29, whose schema is
an early Compose Specification):

* ports use the short string form ``"127.0.0.1:15432:5432/tcp"``: the long form of that schema
  has no ``host_ip``, and devarch publishes on ``127.0.0.1`` by default;
* a top-level ``name:`` is written only when ``project`` is given (1.29 refuses the key; pass
  ``-p`` instead);
* every string value has ``$`` doubled, so Compose interpolation never touches a value:
  ``$HOME`` in a command or environment value reaches the container literally.

Secret environment values appear as ``***`` unless ``reveal_secrets`` is true (the preview is
redacted; only a caller that hands the file straight to a compose client should reveal).

See docs/architecture.md#data-path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypedDict, Unpack

import attrs
from attrs import frozen

from devarch_core import _yamldump, naming
from devarch_core.engine import ContainerSpec
from devarch_core.errors import Problem, ValidationError
from devarch_core.fields import FIELDS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


__all__ = [
    "ComposeItem",
    "RenderOptions",
    "compose_document",
    "compose_items",
    "instance_document",
    "render_compose",
    "render_instance",
]

#: The labels of a stack network (see :func:`devarch_core.desired.network_labels`).
_NETWORK_LABEL_KEYS: Final = (
    naming.LABEL_MANAGED_BY,
    naming.LABEL_OWNER,
    naming.LABEL_STACK_ID,
    naming.LABEL_STACK_NAME,
)
#: The labels of an instance's named volumes (see :func:`devarch_core.desired.volume_labels`).
_VOLUME_LABEL_KEYS: Final = (
    *_NETWORK_LABEL_KEYS,
    naming.LABEL_INSTANCE_ID,
    naming.LABEL_INSTANCE_NAME,
)
_YAML_WIDTH: Final = 4096


def _sorted_deps(value: Mapping[str, bool]) -> dict[str, bool]:
    return dict(sorted(value.items()))


@frozen(kw_only=True)
class ComposeItem:
    """One service of a Compose file: an instance, its container spec, and its dependencies.

    ``depends_on`` maps each instance this one depends on to whether that instance has a
    healthcheck (``condition: service_healthy``) or not (``condition: service_started``).
    """

    name: str
    spec: ContainerSpec
    depends_on: Mapping[str, bool] = attrs.field(factory=dict, converter=_sorted_deps)


def compose_items(
    pairs: Iterable[tuple[str, ContainerSpec, Iterable[str]]],
) -> tuple[ComposeItem, ...]:
    """Build items from ``(instance, spec, dependency names)`` triples, sorted by instance.

    Whether a dependency has a healthcheck is read from its own spec. A dependency that is not
    among the triples (a disabled instance, which apply does not run either) is left out.
    """
    rows = list(pairs)
    health = {name: spec.healthcheck is not None for name, spec, _ in rows}
    items = [
        ComposeItem(
            name=name,
            spec=spec,
            depends_on={dep: health[dep] for dep in deps if dep in health and dep != name},
        )
        for name, spec, deps in rows
    ]
    return tuple(sorted(items, key=lambda item: item.name))


class RenderOptions(TypedDict, total=False):
    """How a Compose file is written (keywords of every ``render_*``/``*_document`` function)."""

    #: Labels of the stack network; default: the identity labels the items share (managed-by,
    #: owner, stack).
    network_labels: Mapping[str, str] | None
    #: A top-level ``name:`` (older clients refuse it: pass ``-p`` instead); default: none.
    project: str | None
    #: Write secret environment values in plaintext instead of ``***``; default: False.
    reveal_secrets: bool


def render_compose(
    stack: str, network: str, items: Sequence[ComposeItem], **options: Unpack[RenderOptions]
) -> str:
    """Render a whole stack as Compose YAML: every item as a service, the network, named volumes.

    ``network`` is the stack network's engine name (every item's ``spec.network`` must equal it);
    ``options`` are :class:`RenderOptions`. Raises ``ValidationError`` when items disagree on the
    network, repeat a name or depend on an instance that is not rendered. Same input, same bytes.
    """
    return _dump(compose_document(stack, network, items, **options))


def render_instance(item: ComposeItem, **options: Unpack[RenderOptions]) -> str:
    """Render one instance as Compose YAML: its service, its network and its named volumes only.

    ``depends_on`` is dropped: the dependencies are not part of the file, and a Compose client
    refuses a dependency on a service it does not define.
    """
    return _dump(instance_document(item, **options))


def instance_document(item: ComposeItem, **options: Unpack[RenderOptions]) -> dict[str, Any]:
    """Return the plain data of :func:`render_instance` (``$`` already escaped).

    The same path as a whole stack: a stack of this one item, without its dependencies.
    """
    alone = attrs.evolve(item, depends_on={})
    stack = item.spec.labels.get(naming.LABEL_STACK_NAME, "")
    return compose_document(stack, item.spec.network, [alone], **options)


def compose_document(
    stack: str, network: str, items: Sequence[ComposeItem], **options: Unpack[RenderOptions]
) -> dict[str, Any]:
    """Return the plain data of :func:`render_compose` in output key order (``$`` escaped)."""
    _check(network, items)
    reveal_secrets = options.get("reveal_secrets", False)
    ordered = sorted(items, key=lambda item: item.name)
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    for item in ordered:
        services[item.name] = _service(item, reveal_secrets=reveal_secrets)
        for mount in item.spec.mounts:
            if mount.type == "volume" and mount.source:
                volumes[mount.source] = {
                    "name": mount.source,
                    "labels": _pick(item.spec.labels, _VOLUME_LABEL_KEYS),
                }
    network_labels = options.get("network_labels")
    labels = (
        dict(network_labels)
        if network_labels is not None
        else _shared_network_labels(stack, ordered)
    )
    document: dict[str, Any] = {}
    project = options.get("project")
    if project is not None:
        document["name"] = project
    document["services"] = services
    document["networks"] = {network: {"name": network, "labels": dict(sorted(labels.items()))}}
    if volumes:
        document["volumes"] = dict(sorted(volumes.items()))
    escaped: dict[str, Any] = _escape(document)
    return escaped


def _check(network: str, items: Sequence[ComposeItem]) -> None:
    problems: list[Problem] = []
    names = [item.name for item in items]
    for item in items:
        path = f"services.{item.name}"
        if names.count(item.name) > 1:
            problems.append(Problem(path, "is rendered twice"))
        if item.spec.network != network:
            problems.append(
                Problem(
                    f"{path}.networks",
                    f"joins {item.spec.network!r}, not the stack network {network!r}",
                )
            )
        problems.extend(
            Problem(f"{path}.depends_on.{dep}", "is not a service of this file")
            for dep in item.depends_on
            if dep not in names
        )
    if problems:
        raise ValidationError(dict.fromkeys(problems), what="cannot render a compose file")


def _shared_network_labels(stack: str, items: Sequence[ComposeItem]) -> dict[str, str]:
    """Collect the network labels every item agrees on (at least managed-by and the stack)."""
    labels: dict[str, str] = {naming.LABEL_MANAGED_BY: naming.MANAGED_BY}
    if stack:
        labels[naming.LABEL_STACK_NAME] = stack
    if items:
        first = _pick(items[0].spec.labels, _NETWORK_LABEL_KEYS)
        labels.update(
            {k: v for k, v in first.items() if all(i.spec.labels.get(k) == v for i in items)}
        )
    return labels


def _pick(labels: Mapping[str, str], keys: Sequence[str]) -> dict[str, str]:
    return {key: labels[key] for key in sorted(keys) if key in labels}


#: Key order of a rendered service (keys not listed follow, in field-table order).
_SERVICE_ORDER: Final = (
    "container_name", "image", "entrypoint", "command", "working_dir", "user", "restart",
    "environment", "labels", "ports", "volumes", "networks", "healthcheck", "depends_on", "deploy",
)  # fmt: skip


def _service(item: ComposeItem, *, reveal_secrets: bool) -> dict[str, Any]:
    """One Compose service; each field is rendered by its row of the field table."""
    spec = item.spec
    service: dict[str, Any] = {"container_name": spec.name}
    for field in FIELDS:
        if field.render is None or field.compose is None:
            continue
        value = field.render(spec, reveal_secrets)
        if value is not None and value not in ([], {}):
            service[field.compose] = value
    # Rendered here, not by a row: domains are network aliases, depends_on needs the others' health.
    service["networks"] = (
        {spec.network: {"aliases": list(dict.fromkeys(spec.aliases))}}
        if spec.aliases
        else {spec.network: None}
    )
    if item.depends_on:
        service["depends_on"] = {
            dep: {"condition": "service_healthy" if healthy else "service_started"}
            for dep, healthy in item.depends_on.items()
        }
    rank = {key: i for i, key in enumerate(_SERVICE_ORDER)}
    return dict(sorted(service.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def _escape(value: Any) -> Any:  # noqa: ANN401 - walks plain YAML data of any shape
    """Double every ``$`` in string values (not keys) so Compose interpolation leaves them alone."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _escape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_escape(item) for item in value]
    return value


def _dump(document: Mapping[str, Any]) -> str:
    """The Compose file's text: block style, each sequence indented under its key."""
    return _yamldump.dump(document, width=_YAML_WIDTH, indent_sequences=True)

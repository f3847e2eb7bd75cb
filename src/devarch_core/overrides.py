"""Instance overrides: copy-on-write deltas on top of a template (docs/architecture.md#merge-rules).

An empty :class:`Overrides` inherits everything. Lists are keyed deltas: an entry with the key of
an inherited entry changes it, a new key adds one, and ``remove: true`` drops the inherited one.
Secret values never live here; they are kept sealed in the store, by variable name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs
from attrs import frozen

from devarch_core._parsing import Problems, join, sorted_map, type_name
from devarch_core.errors import ValidationError
from devarch_core.spec import Healthcheck, PortKeyed, ProcessSettings, Resources, is_env_name
from devarch_core.validators import (
    check_env_name,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["ConfigFileOverride", "Overrides", "PortOverride", "VolumeOverride"]


def _delta_data(
    delta: object, key: dict[str, Any], fields: Iterable[str], *, remove: bool
) -> dict[str, Any]:
    """Manifest form of one keyed list delta: its key, then ``remove: true`` or the fields set."""
    if remove:
        return {**key, "remove": True}
    values = {name: getattr(delta, name) for name in fields}
    return {**key, **{name: value for name, value in values.items() if value is not None}}


@frozen(kw_only=True)
class PortOverride(PortKeyed):
    """Changes to one container port, keyed by (container, protocol)."""

    container: int
    protocol: Literal["tcp", "udp"] = "tcp"
    host: int | None = None
    host_ip: str | None = None
    publish: bool | None = None
    remove: bool = False

    def to_data(self) -> dict[str, Any]:
        """Manifest form: only what is set."""
        return _delta_data(
            self, self.key_data(), ("host", "host_ip", "publish"), remove=self.remove
        )


@frozen(kw_only=True)
class VolumeOverride:
    """Changes to one mount, keyed by its target path."""

    target: str
    source: str | None = None
    type: Literal["volume", "bind", "tmpfs"] | None = None
    read_only: bool | None = None
    remove: bool = False

    def to_data(self) -> dict[str, Any]:
        """Manifest form: only what is set."""
        return _delta_data(
            self, {"target": self.target}, ("source", "type", "read_only"), remove=self.remove
        )


@frozen(kw_only=True)
class ConfigFileOverride:
    """Adds, replaces or removes one config file, keyed by its path inside the container."""

    path: str
    content: str | None = None
    mode: int | None = None
    remove: bool = False

    def to_data(self) -> dict[str, Any]:
        """Manifest form: only what is set."""
        data = _delta_data(self, {"path": self.path}, ("content",), remove=self.remove)
        if not self.remove and self.mode is not None:
            data["mode"] = f"{self.mode:04o}"
        return data


def _override_keys() -> tuple[str, ...]:
    from devarch_core.fields import FIELDS  # noqa: PLC0415 - the table is built on this module

    names = [f.name for f in FIELDS]
    at = names.index("environment") + 1
    return (*names[:at], "secrets", *names[at:])


def __getattr__(name: str) -> tuple[str, ...]:
    """``OVERRIDE_KEYS``: the manifest's override keys in canonical order (from the field table)."""
    if name == "OVERRIDE_KEYS":
        return _override_keys()
    raise AttributeError(name)


#: The store-only key of :attr:`Overrides.secret_refs` (a manifest writes placeholders instead).
SECRET_REFS_KEY = "secret_refs"  # noqa: S105 - a key name, not a secret
#: A secret name: what an environment variable may be called (no whitespace, no ``=``).
_SECRET_NAME = re.compile(r"^[^\s=]+$")


def _secret_ref_ok(var: object, ref: object, path: str, problems: Problems) -> bool:
    if not isinstance(var, str) or not is_env_name(var):
        problems.add(path, "is not a valid environment variable name")
        return False
    if not isinstance(ref, str) or not _SECRET_NAME.match(ref):
        problems.add(path, "expected a secret name (no whitespace, no '=')")
        return False
    return True


def _sorted_names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(names)))


def _sorted_ports(ports: Iterable[PortOverride]) -> tuple[PortOverride, ...]:
    return tuple(sorted(ports, key=lambda p: (p.container, p.protocol)))


def _sorted_volumes(volumes: Iterable[VolumeOverride]) -> tuple[VolumeOverride, ...]:
    return tuple(sorted(volumes, key=lambda v: v.target))


def _sorted_config_files(files: Iterable[ConfigFileOverride]) -> tuple[ConfigFileOverride, ...]:
    return tuple(sorted(files, key=lambda f: f.path))


@frozen(kw_only=True)
class Overrides(ProcessSettings):
    """The user's deltas for one instance. Every field empty/None means "inherit"."""

    image: str | None = None
    #: name -> value; ``None`` unsets an inherited variable.
    environment: Mapping[str, str | None] = attrs.field(factory=dict, converter=sorted_map)
    #: Variables the user flagged secret (their values live sealed in the store).
    secrets: tuple[str, ...] = attrs.field(default=(), converter=_sorted_names)
    #: Secret variables that ``devarch.yml`` gives as a ``${secret:NAME}`` placeholder whose NAME
    #: differs from the variable: variable -> NAME. Kept in the store (not a manifest key) so an
    #: export writes the placeholder back as it was imported (docs/secrets.md).
    secret_refs: Mapping[str, str] = attrs.field(factory=dict, converter=sorted_map)
    labels: Mapping[str, str | None] = attrs.field(factory=dict, converter=sorted_map)
    ports: tuple[PortOverride, ...] = attrs.field(default=(), converter=_sorted_ports)
    volumes: tuple[VolumeOverride, ...] = attrs.field(default=(), converter=_sorted_volumes)
    #: domain -> True (add) / False (remove an inherited one).
    domains: Mapping[str, bool] = attrs.field(factory=dict, converter=sorted_map)
    #: instance name -> True (add) / False (remove an inherited one).
    depends_on: Mapping[str, bool] = attrs.field(factory=dict, converter=sorted_map)
    healthcheck: Healthcheck | None = None
    healthcheck_disabled: bool = False
    config_files: tuple[ConfigFileOverride, ...] = attrs.field(
        default=(), converter=_sorted_config_files
    )
    #: Per-field resource overrides (``None`` inherits).
    resources: Resources = Resources()

    def is_empty(self) -> bool:
        """True if this override inherits everything."""
        return self == Overrides()

    # -- the manifest / store format ------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        """Canonical plain data, as written in ``devarch.yml`` (empty fields omitted).

        Each field is written by its row of the field table (docs/architecture.md#service-fields).
        """
        from devarch_core.fields import FIELDS  # noqa: PLC0415 - the table is built on this module

        data: dict[str, Any] = {}
        for field in FIELDS:
            value = field.override_to_data(self)
            if value is not None and value not in ([], {}):
                data[field.name] = value
            if field.name == "environment" and self.secrets:
                data["secrets"] = list(self.secrets)
        if self.secret_refs:
            data[SECRET_REFS_KEY] = dict(self.secret_refs)
        return data

    @classmethod
    def from_data(cls, data: object, path: str = "overrides") -> Overrides:
        """Parse the manifest form; raise ``ValidationError`` listing every problem by path."""
        problems = Problems()
        result = cls.parse(data, path, problems)
        problems.raise_if_any(what="invalid overrides")
        return result

    @classmethod
    def parse(cls, data: object, path: str, problems: Problems) -> Overrides:
        """Like :meth:`from_data`, recording problems instead of raising."""
        from devarch_core.fields import FIELDS  # noqa: PLC0415 - the table is built on this module

        raw = problems.expect_mapping(data, path)
        problems.check_keys(raw, {*_override_keys(), SECRET_REFS_KEY}, path)
        values: dict[str, Any] = {}
        for field in FIELDS:
            values.update(field.parse_override(raw, path, problems))
        secrets: list[str] = []
        for i, secret in enumerate(problems.expect_list(raw.get("secrets"), join(path, "secrets"))):
            secret_name = problems.checked(secret, f"{join(path, 'secrets')}[{i}]", check_env_name)
            if secret_name is not None:
                secrets.append(secret_name)
        values["secrets"] = secrets
        refs_path = join(path, SECRET_REFS_KEY)
        values["secret_refs"] = {
            var: ref
            for var, ref in problems.expect_mapping(raw.get(SECRET_REFS_KEY), refs_path).items()
            if _secret_ref_ok(var, ref, join(refs_path, str(var)), problems)
        }
        return cls(**{k: v for k, v in values.items() if v is not None})


def _remove_flag(item: object, allowed: set[str], path: str, problems: Problems) -> bool:
    """Whether a keyed entry is a removal; a removal names its key and nothing else."""
    if not isinstance(item, Mapping) or "remove" not in item:
        return False
    remove = item["remove"]
    if not isinstance(remove, bool):
        problems.add(join(path, "remove"), f"expected true or false, got {type_name(remove)}")
        return False
    if remove:
        for key in sorted(set(item) - allowed - {"remove"}, key=str):
            problems.add(
                join(path, str(key)), f"a removed entry takes only {', '.join(sorted(allowed))}"
            )
    return remove


def _short_port_keys(value: object) -> dict[str, bool]:
    """Which fields a short-form port (``"[ip:][host:]container[/proto]"``) sets explicitly."""
    if not isinstance(value, str):
        return {}
    parts = value.partition("/")[0].rsplit(":", 2)
    return {"host_ip": True} if len(parts) == 3 and parts[0] else {}  # noqa: PLR2004 - ip:host:container


def _keyed_set(
    value: object, key: str, path: str, problems: Problems, check: Callable[[str], str]
) -> dict[str, bool]:
    result: dict[str, bool] = {}
    for i, item in enumerate(problems.expect_list(value, path)):
        if isinstance(item, str):
            if problems.checked(item, f"{path}[{i}]", check) is not None:
                result[item] = True
        elif isinstance(item, Mapping) and isinstance(item.get(key), str):
            problems.check_keys(item, {key, "remove"}, f"{path}[{i}]")
            keep = not _remove_flag(item, {key}, f"{path}[{i}]", problems)
            if problems.checked(item[key], join(f"{path}[{i}]", key), check) is not None:
                result[item[key]] = keep
        else:
            problems.add(
                f"{path}[{i}]",
                f"expected a name or {{{key}: NAME, remove: true}}, got {type_name(item)}",
            )
    return result


def validate_overrides_data(data: object, path: str) -> ValidationError | None:
    """Return the ValidationError that parsing ``data`` would raise, or None."""
    problems = Problems()
    Overrides.parse(data, path, problems)
    return ValidationError(problems.items, what="invalid overrides") if problems else None

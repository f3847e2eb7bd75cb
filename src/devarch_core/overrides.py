"""Instance overrides: copy-on-write deltas on top of a template (docs/architecture.md#merge-rules).

An empty :class:`Overrides` inherits everything. Lists are keyed deltas: an entry with the key of
an inherited entry changes it, a new key adds one, and ``remove: true`` drops the inherited one.
Secret values never live here; they are kept sealed in the store, by variable name.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs
from attrs import frozen

from devarch_core._parsing import (
    Problems,
    check_keys,
    check_length,
    checked,
    expect_list,
    expect_mapping,
    join,
    scalar,
    type_name,
)
from devarch_core.errors import ValidationError
from devarch_core.limits import MAX_CONFIG_CONTENT
from devarch_core.spec import (
    Healthcheck,
    Resources,
    _command,
    _key_path,
    check_container_path,
    env_text,
    is_env_name,
    parse_mode,
    parse_port,
    parse_volume,
)
from devarch_core.validators import (
    check_domain,
    check_env_name,
    check_image,
    check_instance_ref,
    check_label_key,
    check_restart,
    check_user,
    check_working_dir,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["ConfigFileOverride", "Overrides", "PortOverride", "VolumeOverride"]


def _sorted_map(m: Mapping[str, Any]) -> dict[str, Any]:
    return dict(sorted(m.items()))


@frozen(kw_only=True)
class PortOverride:
    """Changes to one container port, keyed by (container, protocol)."""

    container: int
    protocol: Literal["tcp", "udp"] = "tcp"
    host: int | None = None
    host_ip: str | None = None
    publish: bool | None = None
    remove: bool = False

    @property
    def key(self) -> str:
        """Merge key: ``5432/tcp``."""
        return f"{self.container}/{self.protocol}"

    def to_data(self) -> dict[str, Any]:
        """Manifest form: only what is set."""
        data: dict[str, Any] = {"container": self.container}
        if self.protocol != "tcp":
            data["protocol"] = self.protocol
        if self.remove:
            data["remove"] = True
            return data
        for key in ("host", "host_ip", "publish"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


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
        data: dict[str, Any] = {"target": self.target}
        if self.remove:
            data["remove"] = True
            return data
        for key in ("source", "type", "read_only"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


@frozen(kw_only=True)
class ConfigFileOverride:
    """Adds, replaces or removes one config file, keyed by its path inside the container."""

    path: str
    content: str | None = None
    mode: int | None = None
    remove: bool = False

    def to_data(self) -> dict[str, Any]:
        """Manifest form: only what is set."""
        data: dict[str, Any] = {"path": self.path}
        if self.remove:
            data["remove"] = True
            return data
        if self.content is not None:
            data["content"] = self.content
        if self.mode is not None:
            data["mode"] = f"{self.mode:04o}"
        return data


OVERRIDE_KEYS = (
    "image", "command", "entrypoint", "working_dir", "user", "restart", "environment", "secrets",
    "labels", "ports", "volumes", "domains", "depends_on", "healthcheck", "config_files",
    "resources",
)  # fmt: skip
SCALAR_KEYS = ("image", "working_dir", "user", "restart")
#: The rule each scalar override must pass (the same as a template's, see devarch_core.validators).
_SCALAR_CHECKS = {
    "image": check_image,
    "working_dir": check_working_dir,
    "user": check_user,
    "restart": check_restart,
}
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
class Overrides:
    """The user's deltas for one instance. Every field empty/None means "inherit"."""

    image: str | None = None
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    restart: str | None = None
    #: name -> value; ``None`` unsets an inherited variable.
    environment: Mapping[str, str | None] = attrs.field(factory=dict, converter=_sorted_map)
    #: Variables the user flagged secret (their values live sealed in the store).
    secrets: tuple[str, ...] = attrs.field(default=(), converter=_sorted_names)
    #: Secret variables that ``devarch.yml`` gives as a ``${secret:NAME}`` placeholder whose NAME
    #: differs from the variable: variable -> NAME. Kept in the store (not a manifest key) so an
    #: export writes the placeholder back as it was imported (docs/secrets.md).
    secret_refs: Mapping[str, str] = attrs.field(factory=dict, converter=_sorted_map)
    labels: Mapping[str, str | None] = attrs.field(factory=dict, converter=_sorted_map)
    ports: tuple[PortOverride, ...] = attrs.field(default=(), converter=_sorted_ports)
    volumes: tuple[VolumeOverride, ...] = attrs.field(default=(), converter=_sorted_volumes)
    #: domain -> True (add) / False (remove an inherited one).
    domains: Mapping[str, bool] = attrs.field(factory=dict, converter=_sorted_map)
    #: instance name -> True (add) / False (remove an inherited one).
    depends_on: Mapping[str, bool] = attrs.field(factory=dict, converter=_sorted_map)
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

    def to_data(self) -> dict[str, Any]:  # noqa: C901, PLR0912 - one step per override field
        """Canonical plain data, as written in ``devarch.yml`` (empty fields omitted)."""
        data: dict[str, Any] = {}
        for key in SCALAR_KEYS:
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        for key in ("command", "entrypoint"):
            if getattr(self, key) is not None:
                data[key] = list(getattr(self, key))
        if self.environment:
            data["environment"] = dict(self.environment)
        if self.secrets:
            data["secrets"] = list(self.secrets)
        if self.labels:
            data["labels"] = dict(self.labels)
        if self.ports:
            data["ports"] = [p.to_data() for p in self.ports]
        if self.volumes:
            data["volumes"] = [v.to_data() for v in self.volumes]
        if self.domains:
            data["domains"] = [
                d if keep else {"domain": d, "remove": True} for d, keep in self.domains.items()
            ]
        if self.depends_on:
            data["depends_on"] = [
                d if keep else {"instance": d, "remove": True}
                for d, keep in self.depends_on.items()
            ]
        if self.healthcheck_disabled:
            data["healthcheck"] = "disable"
        elif self.healthcheck is not None:
            data["healthcheck"] = self.healthcheck.to_data()
        if self.config_files:
            data["config_files"] = [f.to_data() for f in self.config_files]
        if self.resources:
            data["resources"] = self.resources.to_data()
        ordered = {k: data[k] for k in OVERRIDE_KEYS if k in data}
        if self.secret_refs:
            ordered[SECRET_REFS_KEY] = dict(self.secret_refs)
        return ordered

    @classmethod
    def from_data(cls, data: object, path: str = "overrides") -> Overrides:
        """Parse the manifest form; raise ``ValidationError`` listing every problem by path."""
        problems = Problems()
        result = cls.parse(data, path, problems)
        problems.raise_if_any(what="invalid overrides")
        return result

    @classmethod
    def parse(cls, data: object, path: str, problems: Problems) -> Overrides:  # noqa: C901, PLR0912, PLR0915
        """Like :meth:`from_data`, recording problems instead of raising."""
        raw = expect_mapping(data, path, problems)
        check_keys(raw, {*OVERRIDE_KEYS, SECRET_REFS_KEY}, path, problems)
        values: dict[str, Any] = {}
        for key in SCALAR_KEYS:
            if key in raw:
                values[key] = checked(
                    scalar(raw[key], join(path, key), problems, str, "a string"),
                    join(path, key),
                    problems,
                    _SCALAR_CHECKS[key],
                )
        for key in ("command", "entrypoint"):
            if key in raw:
                values[key] = _command(raw[key], join(path, key), problems)
        env: dict[str, str | None] = {}
        for name, value in expect_mapping(
            raw.get("environment"), join(path, "environment"), problems
        ).items():
            if isinstance(name, str) and (
                checked(name, _key_path(join(path, "environment"), name), problems, check_env_name)
                is None
            ):
                continue
            text = env_text(value, join(join(path, "environment"), name), problems)
            if text is not None and text.startswith("${secret:"):
                # The manifest's placeholder syntax: a plain value spelled so could not
                # round-trip through devarch.yml, and is almost always a misplaced secret.
                problems.add(
                    join(join(path, "environment"), name),
                    "a ${secret:NAME} placeholder belongs in devarch.yml; set secret values "
                    "with `devarch secret set`",
                )
                continue
            env[name] = text
        values["environment"] = env
        secrets: list[str] = []
        for i, secret in enumerate(
            expect_list(raw.get("secrets"), join(path, "secrets"), problems)
        ):
            secret_name = checked(secret, f"{join(path, 'secrets')}[{i}]", problems, check_env_name)
            if secret_name is not None:
                secrets.append(secret_name)
        values["secrets"] = secrets
        refs_path = join(path, SECRET_REFS_KEY)
        values["secret_refs"] = {
            var: ref
            for var, ref in expect_mapping(raw.get(SECRET_REFS_KEY), refs_path, problems).items()
            if _secret_ref_ok(var, ref, join(refs_path, str(var)), problems)
        }
        labels: dict[str, str | None] = {}
        for name, value in expect_mapping(
            raw.get("labels"), join(path, "labels"), problems
        ).items():
            where = _key_path(join(path, "labels"), name)
            if checked(name, where, problems, check_label_key) is None:
                continue
            labels[name] = env_text(value, join(join(path, "labels"), name), problems)
        values["labels"] = labels
        ports: dict[str, PortOverride] = {}
        for i, item in enumerate(expect_list(raw.get("ports"), join(path, "ports"), problems)):
            ipath = f"{join(path, 'ports')}[{i}]"
            remove = _remove_flag(item, {"container", "target", "protocol"}, ipath, problems)
            body = (
                {k: v for k, v in item.items() if k != "remove"}
                if isinstance(item, Mapping)
                else item
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
        values["ports"] = list(ports.values())
        volumes: dict[str, VolumeOverride] = {}
        for i, item in enumerate(expect_list(raw.get("volumes"), join(path, "volumes"), problems)):
            ipath = f"{join(path, 'volumes')}[{i}]"
            if _remove_flag(item, {"target"}, ipath, problems):
                target = scalar(item.get("target"), join(ipath, "target"), problems, str, "a path")
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
            explicit = (
                item if isinstance(item, Mapping) else {"source": vol.source, "type": vol.type}
            )
            volumes[vol.target] = VolumeOverride(
                target=vol.target,
                source=vol.source,
                type=vol.type if explicit.get("type") is not None or vol.type != "volume" else None,
                read_only=vol.read_only if "read_only" in explicit or vol.read_only else None,
            )
        values["volumes"] = list(volumes.values())
        values["domains"] = _keyed_set(
            raw.get("domains"), "domain", join(path, "domains"), problems, check_domain
        )
        values["depends_on"] = _keyed_set(
            raw.get("depends_on"),
            "instance",
            join(path, "depends_on"),
            problems,
            check_instance_ref,
        )
        hc = raw.get("healthcheck")
        if hc == "disable" or (isinstance(hc, Mapping) and hc.get("disable") is True):
            values["healthcheck_disabled"] = True
        elif hc is not None:
            values["healthcheck"] = Healthcheck.parse(hc, join(path, "healthcheck"), problems)
        files: dict[str, ConfigFileOverride] = {}
        for i, item in enumerate(
            expect_list(raw.get("config_files"), join(path, "config_files"), problems)
        ):
            ipath = f"{join(path, 'config_files')}[{i}]"
            entry = expect_mapping(item, ipath, problems)
            check_keys(entry, {"path", "content", "mode", "remove"}, ipath, problems)
            target = scalar(entry.get("path"), join(ipath, "path"), problems, str, "a path")
            if target is None:
                if isinstance(item, Mapping):
                    problems.add(join(ipath, "path"), "a config file needs a path")
                continue
            target = check_container_path(target, join(ipath, "path"), problems)
            if target is None:
                continue
            files[target] = ConfigFileOverride(
                path=target,
                content=check_length(
                    scalar(entry.get("content"), join(ipath, "content"), problems, str, "text"),
                    MAX_CONFIG_CONTENT,
                    join(ipath, "content"),
                    problems,
                ),
                mode=parse_mode(entry.get("mode"), join(ipath, "mode"), problems),
                remove=_remove_flag(entry, {"path"}, ipath, problems),
            )
        values["config_files"] = list(files.values())
        values["resources"] = Resources.parse(
            raw.get("resources"), join(path, "resources"), problems, partial=True
        )
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
    for i, item in enumerate(expect_list(value, path, problems)):
        if isinstance(item, str):
            if checked(item, f"{path}[{i}]", problems, check) is not None:
                result[item] = True
        elif isinstance(item, Mapping) and isinstance(item.get(key), str):
            check_keys(item, {key, "remove"}, f"{path}[{i}]", problems)
            keep = not _remove_flag(item, {key}, f"{path}[{i}]", problems)
            if checked(item[key], join(f"{path}[{i}]", key), problems, check) is not None:
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

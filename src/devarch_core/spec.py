"""The service definition: what one container should be (a Compose service, normalized).

Templates hold a :class:`ServiceSpec`; the merge resolver produces one per instance (the effective
config). Parsing accepts the Compose Specification's short and long forms and normalizes them, so
two spellings of the same service have the same content hash.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import attrs
from attrs import frozen

from devarch_core._parsing import Problems, join, short_repr, sorted_text_map, type_name
from devarch_core.errors import ValidationError
from devarch_core.limits import MAX_ENV_VALUE
from devarch_core.secrets import Secret
from devarch_core.units import (
    format_cpus,
    format_duration,
    format_memory,
    parse_cpus,
    parse_duration,
    parse_memory,
)
from devarch_core.validators import (
    check_env_name,
    check_host_ip,
    check_label_key,
    check_port_number,
    check_retries,
    shown,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "ConfigFile",
    "EnvValue",
    "Healthcheck",
    "PortKeyed",
    "PortSpec",
    "ProcessSettings",
    "Resources",
    "ServiceSpec",
    "VolumeSpec",
    "parse_port",
    "parse_volume",
]

#: An environment value: plain text, or a secret that renders as ``***`` everywhere but the engine.
EnvValue = str | Secret
PortProtocol = Literal["tcp", "udp"]
DEFAULT_HOST_IP = "127.0.0.1"


#: The keys of a long-form port (``published`` and ``target`` are Compose's spellings).
PORT_KEYS = (
    "container",
    "target",
    "protocol",
    "host",
    "published",
    "host_ip",
    "publish",
    "mode",
    "name",
)
#: The keys of a long-form volume.
VOLUME_KEYS = ("target", "source", "type", "read_only")
#: The keys of a healthcheck.
HEALTHCHECK_KEYS = ("test", "interval", "timeout", "retries", "start_period", "disable")
#: Compose service keys a template may carry and devarch does not read as fields: ``deploy``
#: gives resources, the others are devarch's to decide (names, networks) or need nothing.
COMPOSE_ONLY_KEYS = frozenset({"deploy", "container_name", "networks", "expose"})


def _check_port(number: object, path: str, problems: Problems, what: str = "port") -> int | None:
    value = problems.scalar(number, path, int, f"a {what} number")
    return problems.checked(value, path, lambda n: check_port_number(n, what))


def _host_ip(value: object, path: str, problems: Problems) -> str | None:
    """A host ip given by the user (an IP literal, normalized); ``None`` if absent or refused."""
    text = problems.scalar(value, path, str, "an IP address")
    return problems.checked(text or None, path, check_host_ip)


class PortKeyed:
    """What a port and a port override share: the merge key and the start of their data."""

    __slots__ = ()
    container: int
    protocol: PortProtocol

    @property
    def key(self) -> str:
        """Merge key: ``5432/tcp``."""
        return f"{self.container}/{self.protocol}"

    def key_data(self) -> dict[str, Any]:
        """The container port, and the protocol unless it is tcp."""
        data: dict[str, Any] = {"container": self.container}
        if self.protocol != "tcp":
            data["protocol"] = self.protocol
        return data


@frozen(kw_only=True)
class PortSpec(PortKeyed):
    """A container port and how it is published on the host (127.0.0.1, allocated).

    See docs/architecture.md#naming.
    """

    container: int
    protocol: PortProtocol = "tcp"
    #: A pinned host port; ``None`` means devarch allocates one and keeps it.
    host: int | None = None
    host_ip: str = DEFAULT_HOST_IP
    publish: bool = True

    def to_data(self) -> dict[str, Any]:
        """Canonical plain data (defaults omitted)."""
        data = self.key_data()
        if self.host is not None:
            data["host"] = self.host
        if self.host_ip != DEFAULT_HOST_IP:
            data["host_ip"] = self.host_ip
        if not self.publish:
            data["publish"] = False
        return data


def parse_port(
    value: object, path: str, problems: Problems, *, keep_host: bool = False
) -> PortSpec | None:
    """Parse a Compose port (``"5432"``, ``"8080:80"``, ``"53/udp"``, long form) to a PortSpec.

    In a template (the default) the host side (``8080`` of ``"8080:80"``, ``published``/``host`` of
    the long form) is ignored whatever the spelling: templates declare container ports and devarch
    allocates host ports. With ``keep_host`` (an override) the host port and host ip of
    either form are kept: ``"127.0.0.1:15432:5432"`` pins like ``{container: 5432, host: 15432}``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        port = _check_port(value, path, problems)
        return PortSpec(container=port) if port else None
    if isinstance(value, str):
        return _parse_short_port(value, path, problems, keep_host=keep_host)
    data = problems.expect_mapping(value, path)
    if not data:
        if value is not None and isinstance(value, Mapping):
            problems.add(path, "a port needs a container port")
        return None
    problems.check_keys(data, set(PORT_KEYS), path)
    container = _check_port(
        data.get("container", data.get("target")), join(path, "container"), problems
    )
    if container is None:
        if "container" not in data and "target" not in data:
            problems.add(path, "a port needs a container port")
        return None
    proto = data.get("protocol", "tcp")
    if proto not in ("tcp", "udp"):
        problems.add(join(path, "protocol"), f"protocol {short_repr(proto)} must be tcp or udp")
        return None
    host = _check_port(
        data.get("host", data.get("published")), join(path, "host"), problems, "host port"
    )
    if not keep_host:
        host = None
    host_ip = _host_ip(data.get("host_ip"), join(path, "host_ip"), problems) or DEFAULT_HOST_IP
    publish = problems.scalar(
        data.get("publish", True), join(path, "publish"), bool, "true or false"
    )
    return PortSpec(
        container=container,
        protocol=proto,
        host=host,
        host_ip=host_ip,
        publish=True if publish is None else publish,
    )


def _parse_short_port(
    value: str, path: str, problems: Problems, *, keep_host: bool
) -> PortSpec | None:
    """``"[[ip:]host:]container[/protocol]"``; the host side only counts with ``keep_host``."""
    text, _, proto = value.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        problems.add(path, f"protocol {short_repr(proto)} must be tcp or udp")
        return None
    parts = text.rsplit(":", 2)
    if any("-" in part for part in parts[-2:]):
        problems.add(path, "port ranges are not supported; list each port")
        return None
    port = _check_port(parts[-1], path, problems)
    if not port:
        return None
    host: int | None = None
    host_ip = DEFAULT_HOST_IP
    # The host side is checked even where it is ignored (a template): a bad value is a mistake.
    if len(parts) > 1 and parts[-2]:
        host = _check_port(parts[-2], path, problems, "host port")
    if len(parts) == 3 and parts[0]:  # noqa: PLR2004 - ip:host:container
        host_ip = _host_ip(parts[0], path, problems) or DEFAULT_HOST_IP
    if not keep_host:
        host, host_ip = None, DEFAULT_HOST_IP
    return PortSpec(container=port, protocol=proto, host=host, host_ip=host_ip)  # type: ignore[arg-type]


@frozen(kw_only=True)
class VolumeSpec:
    """A mount: a named volume private to the instance, a bind mount, or a tmpfs."""

    target: str
    #: Named volume (template-local name, made unique per instance) or host path for a bind.
    source: str | None = None
    type: Literal["volume", "bind", "tmpfs"] = "volume"
    read_only: bool = False

    @property
    def key(self) -> str:
        """Merge key: the target path."""
        return self.target

    def to_data(self) -> dict[str, Any]:
        """Canonical plain data (defaults omitted)."""
        data: dict[str, Any] = {"target": self.target}
        if self.source is not None:
            data["source"] = self.source
        if self.type != "volume":
            data["type"] = self.type
        if self.read_only:
            data["read_only"] = True
        return data


def parse_volume(value: object, path: str, problems: Problems) -> VolumeSpec | None:
    """Parse a Compose volume (``"data:/var/lib/x"``, ``"/abs:/x:ro"``, long form)."""
    if isinstance(value, str):
        parts = value.split(":")
        read_only = False
        if len(parts) == 3:  # noqa: PLR2004 - source:target:mode
            read_only = parts[2] == "ro"
            if parts[2] not in ("ro", "rw"):
                problems.add(path, f"mode {short_repr(parts[2])} must be ro or rw")
            parts = parts[:2]
        if len(parts) == 1:
            source, target = None, parts[0]
        elif len(parts) == 2:  # noqa: PLR2004 - source:target
            source, target = parts
        else:
            problems.add(path, f"{short_repr(value)} is not source:target[:ro]")
            return None
        kind: Literal["volume", "bind", "tmpfs"] = "volume"
        if source and (source.startswith(("/", ".", "~"))):
            kind = "bind"
        return _volume(target, source, kind, read_only=read_only, path=path, problems=problems)
    data = problems.expect_mapping(value, path)
    if not data:
        return None
    problems.check_keys(data, set(VOLUME_KEYS), path)
    kind = data.get("type", "volume")
    if kind not in ("volume", "bind", "tmpfs"):
        problems.add(join(path, "type"), f"{short_repr(kind)} must be volume, bind or tmpfs")
        return None
    # (names distinct from the short form's, whose types differ)
    long_target = problems.scalar(data.get("target"), join(path, "target"), str, "a path")
    if long_target is None:
        problems.add(join(path, "target"), "a volume needs a target path")
        return None
    long_source = problems.scalar(data.get("source"), join(path, "source"), str, "a name or path")
    long_read_only = problems.scalar(
        data.get("read_only", False), join(path, "read_only"), bool, "true or false"
    )
    return _volume(
        long_target,
        long_source,
        kind,
        read_only=bool(long_read_only),
        path=path,
        problems=problems,
    )


def _volume(
    target: str,
    source: str | None,
    kind: Literal["volume", "bind", "tmpfs"],
    *,
    read_only: bool,
    path: str,
    problems: Problems,
) -> VolumeSpec | None:
    if not target.startswith("/"):
        problems.add(
            path, f"target {short_repr(target)} must be an absolute path inside the container"
        )
        return None
    if kind == "volume" and source is not None:
        from devarch_core.naming import NAME_PATTERN  # noqa: PLC0415 - avoid a cycle at import

        if not NAME_PATTERN.fullmatch(source) or len(source) > 63:  # noqa: PLR2004
            problems.add(
                path,
                f"volume name {short_repr(source)} must be a lowercase DNS label (a-z, 0-9, '-')",
            )
            return None
    return VolumeSpec(
        target=posixpath.normpath(target), source=source, type=kind, read_only=read_only
    )


@frozen(kw_only=True)
class Healthcheck:
    """A container healthcheck; ``test`` is always a list (never split on spaces)."""

    test: tuple[str, ...]
    interval: Decimal | None = None
    timeout: Decimal | None = None
    retries: int | None = None
    start_period: Decimal | None = None

    @classmethod
    def parse(cls, value: object, path: str, problems: Problems) -> Healthcheck | None:
        """Parse a Compose healthcheck mapping (test as list or ``CMD-SHELL`` string)."""
        data = problems.expect_mapping(value, path)
        if not data:
            return None
        problems.check_keys(data, set(HEALTHCHECK_KEYS), path)
        raw = data.get("test")
        if isinstance(raw, str):
            test: tuple[str, ...] = ("CMD-SHELL", raw)
        elif isinstance(raw, list | tuple) and raw and all(isinstance(t, str) for t in raw):
            test = tuple(raw)
            if test[0] not in ("CMD", "CMD-SHELL", "NONE"):
                problems.add(join(path, "test"), "a test list starts with CMD, CMD-SHELL or NONE")
        else:
            problems.add(
                join(path, "test"), f"expected a list of strings or a string, got {type_name(raw)}"
            )
            return None
        durations: dict[str, Decimal | None] = {}
        for key in ("interval", "timeout", "start_period"):
            durations[key] = None
            if data.get(key) is not None:
                with problems.guard(join(path, key)):
                    durations[key] = parse_duration(data[key])
        retries = problems.checked(
            problems.scalar(data.get("retries"), join(path, "retries"), int, "an integer"),
            join(path, "retries"),
            check_retries,
        )
        return cls(test=test, retries=retries, **durations)

    def to_data(self) -> dict[str, Any]:
        """Compose form with canonical durations."""
        data: dict[str, Any] = {"test": list(self.test)}
        for key in ("interval", "timeout", "start_period"):
            value = getattr(self, key)
            if value is not None:
                data[key] = format_duration(value)
        if self.retries is not None:
            data["retries"] = self.retries
        return data


@frozen(kw_only=True)
class ConfigFile:
    """A file devarch writes under the instance directory and mounts read-only at ``path``."""

    path: str
    content: str
    mode: int = 0o644

    def to_data(self) -> dict[str, Any]:
        """Canonical plain data."""
        data: dict[str, Any] = {"path": self.path, "content": self.content}
        if self.mode != 0o644:  # noqa: PLR2004 - the default file mode
            data["mode"] = f"{self.mode:04o}"
        return data


def parse_mode(value: object, path: str, problems: Problems) -> int | None:
    """Parse a file mode: ``"0640"``/``"640"`` (octal text) or an integer (0o640, as YAML reads)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            mode = int(value, 8)
        except ValueError:
            problems.add(path, f"{short_repr(value)} is not an octal file mode like 0644")
            return None
    elif isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        problems.add(path, f"expected an octal file mode like 0644, got {type_name(value)}")
        return None
    if not 0 <= mode <= 0o777:  # noqa: PLR2004
        problems.add(path, f"mode {mode:o} is out of range 0000-0777")
        return None
    return mode


#: Longest config file path accepted (Linux PATH_MAX) and longest path component (NAME_MAX).
MAX_CONFIG_PATH = 4096
MAX_CONFIG_NAME = 255


def check_container_path(  # noqa: PLR0911 - one early return per rule reads best
    value: str, path: str, problems: Problems
) -> str | None:
    """A config file path checked: what the host filesystem and the engine accept.

    Absolute inside the container, no ``..``, not the root, no NUL byte, at most 4,096
    characters (255 per component).

    The one rule for config file paths: templates, overrides and the plan all call it.
    """
    if "\0" in value:
        problems.add(path, "a config file path must not contain a NUL byte")
        return None
    if len(value) > MAX_CONFIG_PATH:
        problems.add(
            path,
            f"a config file path is at most {MAX_CONFIG_PATH} characters "
            f"(this one has {len(value)})",
        )
        return None
    if not value.startswith("/"):
        problems.add(path, f"{short_repr(value)} must be an absolute path inside the container")
        return None
    if ".." in value.split("/"):
        problems.add(path, f"{short_repr(value)} must not contain '..'")
        return None
    norm = posixpath.normpath(value)
    if norm.strip("/") == "":
        problems.add(path, f"{value!r} names the container's root, not a file")
        return None
    longest = max(len(part) for part in norm.split("/"))
    if longest > MAX_CONFIG_NAME:
        problems.add(path, f"a config file path component is at most {MAX_CONFIG_NAME} characters")
        return None
    return norm


def config_file_overlaps(paths: Iterable[str]) -> list[str]:
    """Messages for config files of one instance where one path is a directory of another.

    ``/etc/app`` and ``/etc/app/x.conf`` cannot both be files. Checked when written and at plan.
    """
    ordered = sorted(set(paths))
    found: list[str] = []
    for i, parent in enumerate(ordered):
        prefix = parent.rstrip("/") + "/"
        found.extend(
            f"config file {parent} is a parent directory of config file {child}; "
            "one path cannot be both"
            for child in ordered[i + 1 :]
            if child.startswith(prefix)
        )
    return found


def _resource_text(key: str, value: Decimal | int) -> str:
    """Canonical text of a ``cpu_*`` (CPUs) or ``memory_*`` (bytes) value."""
    if key.startswith("cpu"):
        return format_cpus(Decimal(value))
    return format_memory(int(value))


@frozen(kw_only=True)
class Resources:
    """Resource limits and reservations; ``None`` means unlimited / not reserved."""

    cpu_limit: Decimal | None = None
    cpu_reservation: Decimal | None = None
    memory_limit: int | None = None
    memory_reservation: int | None = None

    FIELDS = ("cpu_limit", "cpu_reservation", "memory_limit", "memory_reservation")

    @classmethod
    def parse(
        cls, value: object, path: str, problems: Problems, *, partial: bool = False
    ) -> Resources:
        """Parse ``{cpu_limit: "0.5", memory_limit: 512m, ...}``; check reservation <= limit.

        With ``partial`` (an override), the reservation/limit check is left to the merged result.
        """
        data = problems.expect_mapping(value, path)
        problems.check_keys(data, set(cls.FIELDS), path)
        values: dict[str, Any] = {}
        for key in cls.FIELDS:
            raw = data.get(key)
            if raw is None:
                continue
            with problems.guard(join(path, key)):
                values[key] = parse_cpus(raw) if key.startswith("cpu") else parse_memory(raw)
        result = cls(**values)
        if not partial:
            for problem in result.problems():
                problems.add(path, problem)
        return result

    def problems(self) -> list[str]:
        """Inconsistencies: a reservation above its limit."""
        found = []
        for kind in ("cpu", "memory"):
            limit = getattr(self, f"{kind}_limit")
            reservation = getattr(self, f"{kind}_reservation")
            if limit is not None and reservation is not None and reservation > limit:
                found.append(
                    f"{kind}_reservation {_resource_text(kind, reservation)} is above "
                    f"{kind}_limit {_resource_text(kind, limit)}"
                )
        return found

    def to_data(self) -> dict[str, str]:
        """Canonical text per set field (``{"cpu_limit": "0.5", "memory_limit": "512m"}``)."""
        values = {key: getattr(self, key) for key in self.FIELDS}
        return {key: _resource_text(key, v) for key, v in values.items() if v is not None}

    def __bool__(self) -> bool:
        return any(getattr(self, key) is not None for key in self.FIELDS)


def _command(value: object, path: str, problems: Problems) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            problems.add(path, f"cannot split {short_repr(value)}: {exc}")
            return None
    if isinstance(value, list | tuple) and all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        return tuple(str(v) for v in value)
    problems.add(path, f"expected a list of strings or a string, got {type_name(value)}")
    return None


def env_text(value: object, path: str, problems: Problems) -> str | None:
    """An environment value as text (numbers and booleans as Compose writes them)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return problems.check_length(str(value), MAX_ENV_VALUE, path)
    problems.add(path, f"expected a string, got {type_name(value)}")
    return None


def parse_environment(
    value: object, path: str, problems: Problems, *, labels: bool = False
) -> dict[str, str | None]:
    """Parse Compose ``environment`` (mapping or ``["K=V"]`` list); ``None`` values kept.

    Names are checked as environment variable names, or as label keys with ``labels``.
    """
    result: dict[str, str | None] = {}
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                problems.add(f"{path}[{i}]", f"expected 'NAME=value', got {type_name(item)}")
                continue
            name, sep, text = item.partition("=")
            if sep:
                result[name] = problems.check_length(text, MAX_ENV_VALUE, f"{path}[{i}]")
            else:
                result[name] = None
    else:
        for name, raw in problems.expect_mapping(value, path).items():
            result[str(name)] = env_text(raw, join(path, str(name)), problems)
    check = check_label_key if labels else check_env_name
    for name in list(result):
        if problems.checked(name, _key_path(path, name), check) is None:
            del result[name]
    return result


def _key_path(path: str, key: object) -> str:
    """``path.key`` for a user-given key, shortened so a hostile key cannot flood a message."""
    if isinstance(key, str) and len(key) <= 60 and key.isprintable():  # noqa: PLR2004
        return join(path, key)
    return join(path, shown(key))


def is_env_name(name: str) -> bool:
    """Whether ``name`` can name an environment variable (``[A-Za-z_][A-Za-z0-9_.]*``)."""
    try:
        check_env_name(name)
    except ValueError:
        return False
    return True


def service_keys() -> frozenset[str]:
    """The service keys devarch understands: the names of the field table's rows."""
    from devarch_core.fields import FIELDS  # noqa: PLC0415 - the table is built on this module

    return frozenset(f.name for f in FIELDS)


def _sorted_env(m: Mapping[str, EnvValue]) -> dict[str, EnvValue]:
    return dict(sorted(m.items()))


@frozen(kw_only=True)
class ProcessSettings:
    """How a container's main process runs: its command line, user, restart and stop behaviour.

    The same fields, of the same types, in a service (:class:`ServiceSpec`), in an instance's
    overrides (``None`` inherits) and in what an engine is asked to create (``ContainerSpec``):
    declared once here, each field described by its row of the field table
    (docs/architecture.md#service-fields).
    """

    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    restart: str | None = None
    #: Seconds the engine waits after the stop signal before it kills the container.
    stop_grace_period: Decimal | None = None
    #: The signal that stops the container (``SIGTERM`` when unset).
    stop_signal: str | None = None
    #: Run an init process (PID 1) that reaps zombies and forwards signals.
    init: bool | None = None

    def process_settings(self) -> dict[str, Any]:
        """These fields as keyword arguments (a container spec takes a service's as they are)."""
        return {a.name: getattr(self, a.name) for a in attrs.fields(ProcessSettings)}


@frozen(kw_only=True)
class ServiceSpec(ProcessSettings):
    """What one container should be.

    Mappings are sorted by key; lists keep their merge keys unique.
    """

    image: str
    environment: Mapping[str, EnvValue] = attrs.field(factory=dict, converter=_sorted_env)
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=sorted_text_map)
    ports: tuple[PortSpec, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    domains: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    healthcheck: Healthcheck | None = None
    config_files: tuple[ConfigFile, ...] = ()
    resources: Resources = Resources()

    @classmethod
    def from_compose(cls, data: object, path: str = "service") -> ServiceSpec:
        """Parse a Compose service mapping (with devarch's domains, config_files and resources).

        Raises ``ValidationError`` listing every problem with its path.
        """
        problems = Problems()
        spec = cls.parse(data, path, problems)
        problems.raise_if_any(what="invalid service definition")
        assert spec is not None  # noqa: S101 - parse returns None only with problems recorded
        return spec

    @classmethod
    def parse(cls, data: object, path: str, problems: Problems) -> ServiceSpec | None:
        """Like :meth:`from_compose`, recording problems instead of raising.

        Each field is read by its row of the field table (docs/architecture.md#service-fields).
        """
        from devarch_core.fields import FIELDS  # noqa: PLC0415 - the table is built on this module

        service = problems.expect_mapping(data, path)
        known = service_keys()
        extra = set(service) - known - COMPOSE_ONLY_KEYS
        for key in sorted(extra, key=str):
            problems.add(
                join(path, str(key)),
                f"unsupported service key; devarch understands: {', '.join(sorted(known))}",
            )
        values = {field.name: field.parse(service, path, problems) for field in FIELDS}
        if not values["image"]:
            return None
        return cls(**{k: v for k, v in values.items() if v is not None})

    def to_data(self, *, reveal: bool = False) -> dict[str, Any]:
        """Canonical plain data in devarch's service format (secrets ``***`` unless ``reveal``)."""
        from devarch_core.fields import FIELDS  # noqa: PLC0415 - the table is built on this module

        data: dict[str, Any] = {}
        for field in FIELDS:
            value = getattr(self, field.name)
            if field.name == "environment":
                value = {
                    k: (v.reveal() if reveal and isinstance(v, Secret) else str(v))
                    for k, v in value.items()
                }
            else:
                value = field.to_data(value)
            if value is not None and value not in ([], {}):
                data[field.name] = value
        return data


def _port_order(port: PortSpec) -> tuple[int, str]:
    return (port.container, port.protocol)


def _names(value: object, path: str, problems: Problems, check: Callable[[str], str]) -> list[str]:
    """A list of names (``domains``, ``depends_on``), each a string that passes ``check``."""
    names = []
    for i, item in enumerate(problems.expect_list(value, path)):
        if not isinstance(item, str):
            problems.add(f"{path}[{i}]", f"expected a name, got {type_name(item)}")
            continue
        name = problems.checked(item, f"{path}[{i}]", check)
        if name is not None:
            names.append(name)
    return names


def _resources_from_deploy(deploy: object, path: str, problems: Problems) -> dict[str, Any]:
    """``deploy.resources.{limits,reservations}.{cpus,memory}`` as devarch resources."""
    data = problems.expect_mapping(deploy, path)
    res = problems.expect_mapping(data.get("resources"), join(path, "resources"))
    limits = problems.expect_mapping(res.get("limits"), join(path, "resources.limits"))
    reservations = problems.expect_mapping(
        res.get("reservations"), join(path, "resources.reservations")
    )
    out = {
        "cpu_limit": limits.get("cpus"),
        "memory_limit": limits.get("memory"),
        "cpu_reservation": reservations.get("cpus"),
        "memory_reservation": reservations.get("memory"),
    }
    return {k: v for k, v in out.items() if v is not None}


def validation_error_from(problems: Problems, what: str) -> ValidationError:
    """Build (not raise) a ValidationError from collected problems."""
    return ValidationError(problems.items, what=what)

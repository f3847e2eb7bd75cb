"""``devarch.yml`` and ``devarch.lock``: parse, validate and render (docs/manifest.md).

Parsing reports every problem at once with its path (``instances.web.ports[0].host: ...``).
Rendering is deterministic, so export → import → export gives the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
from attrs import frozen

from devarch_core import _convert, _yamldump
from devarch_core._digest import sha256
from devarch_core._parsing import Problems, join, short_repr
from devarch_core.catalog import load_yaml
from devarch_core.errors import ManifestError, Problem, TemplateError
from devarch_core.limits import MAX_DESCRIPTION, MAX_INSTANCES
from devarch_core.model import Wire
from devarch_core.naming import _why_invalid, validate_name
from devarch_core.overrides import SECRET_REFS_KEY, Overrides
from devarch_core.spec import _key_path
from devarch_core.validators import check_env_name

__all__ = [
    "LOCK_FORMAT",
    "MANIFEST_VERSIONS",
    "SECRET_PLACEHOLDER",
    "InstanceSpec",
    "LockedInstance",
    "Lockfile",
    "Manifest",
    "dump_yaml",
]

MANIFEST_VERSIONS = (1, 1)
LOCK_FORMAT = 1
#: ``${secret:NAME}``: a secret's place in a manifest; never its value. NAME is any name an
#: environment variable (and so a secret) may have: no whitespace, no ``=``.
SECRET_PLACEHOLDER = re.compile(r"^\$\{secret:([^\s=]+)\}$")


def dump_yaml(data: object) -> str:
    """Deterministic block YAML (keys in the given order, unicode kept, multi-line text as |)."""
    return _yamldump.dump(data, width=4096, literal_blocks=True)


#: The keys each mapping of devarch.yml and devarch.lock may have (the JSON Schemas of
#: :mod:`devarch_core.schema` are built on these lists).
MANIFEST_KEYS = ("version", "stack", "instances", "wires")
STACK_KEYS = ("name", "description", "network")
INSTANCE_KEYS = ("template", "template_version", "description", "enabled", "overrides", "pins")
PIN_KEYS = ("ports", "image")
WIRE_KEYS = ("consumer", "import", "provider", "export")
LOCK_KEYS = ("format", "stack", "manifest_hash", "instances")
LOCKED_KEYS = ("template", "template_version", "template_hash", "image", "image_digest", "ports")
_INSTANCE_KEYS = set(INSTANCE_KEYS)
_LOCKED_KEYS = set(LOCKED_KEYS)


def _entry(body: object, path: str, allowed: set[str], problems: Problems) -> Mapping[str, Any]:
    """One instance's mapping, its unknown keys reported."""
    entry = problems.expect_mapping(body, path)
    problems.check_keys(entry, allowed, path)
    return entry


def _port_pins(value: object, where: str, problems: Problems) -> dict[str, int]:
    """Recorded host ports by container port (``pins.ports`` or a lockfile's ``ports``)."""
    pins: dict[str, int] = {}
    for key, port in problems.expect_mapping(value, where).items():
        pin = _port_pin(key, port, f"{where}.{key}", problems)
        if pin is not None:
            pins[pin[0]] = pin[1]
    return pins


def _port_pin(key: object, value: object, path: str, problems: Problems) -> tuple[str, int] | None:
    """One recorded host port (``5432/tcp: 20001``) of ``pins.ports`` or a lockfile.

    One recorded host port (``5432/tcp: 20001``) of ``pins.ports`` or a lockfile: the container
    port and the host port both in 1-65535.
    """
    number, _, proto = str(key).partition("/")
    if not (number.isdigit() and len(number) <= 5) or proto not in ("tcp", "udp", ""):  # noqa: PLR2004
        problems.add(path, "not a container port like 5432/tcp")
        return None
    if not 1 <= int(number) <= 65535:  # noqa: PLR2004 - the TCP/UDP port range
        problems.add(path, f"container port {int(number)} is out of range 1-65535")
        return None
    host = problems.scalar(value, path, int, "a host port number")
    if host is not None and not 1 <= host <= 65535:  # noqa: PLR2004
        problems.add(path, f"host port {host} is out of range 1-65535")
        return None
    return None if host is None else (f"{int(number)}/{proto or 'tcp'}", host)


@frozen(kw_only=True)
class InstanceSpec(_convert.Unstructured):
    """One instance as a manifest declares it (secrets as placeholders, never values)."""

    name: str
    template: str
    template_version: str | None = None
    description: str = ""
    enabled: bool = True
    overrides: Overrides = Overrides()
    #: Environment variables given as ``${secret:NAME}`` placeholders: variable -> secret name.
    secret_refs: Mapping[str, str] = attrs.field(factory=dict)
    #: Pinned host ports: ``5432/tcp`` -> host port.
    port_pins: Mapping[str, int] = attrs.field(factory=dict)
    #: Pinned image digest/id, when exported with digests.
    image_digest: str | None = None


def overrides_data(spec: InstanceSpec) -> dict[str, Any]:
    """The ``overrides:`` block of an instance: secret values as ``${secret:NAME}`` placeholders."""
    overrides = spec.overrides.to_data()
    overrides.pop(SECRET_REFS_KEY, None)  # the placeholders below say it
    if spec.secret_refs:
        env = dict(overrides.get("environment", {}))
        for var, name in spec.secret_refs.items():
            env[var] = f"${{secret:{name}}}"
        overrides["environment"] = dict(sorted(env.items()))
        overrides = _reorder(overrides)
    return overrides


def _reorder(overrides: dict[str, Any]) -> dict[str, Any]:
    from devarch_core.overrides import OVERRIDE_KEYS  # noqa: PLC0415 - the canonical key order

    return {k: overrides[k] for k in OVERRIDE_KEYS if k in overrides}


@frozen(kw_only=True)
class Manifest(_convert.Unstructured):
    """A parsed ``devarch.yml``."""

    version: int = 1
    stack: str
    description: str = ""
    network: str | None = None
    instances: tuple[InstanceSpec, ...] = ()
    wires: tuple[Wire, ...] = ()
    #: Where each of ``wires`` stood in the parsed file (``wires[i]`` paths of later checks);
    #: empty for a manifest built in code, whose wires are their own order.
    wire_positions: tuple[int, ...] = attrs.field(default=(), eq=False, repr=False)

    def wire_path(self, index: int) -> str:
        """The manifest path of ``wires[index]`` as the user wrote it (``wires[3]``)."""
        if len(self.wire_positions) == len(self.wires):
            return f"wires[{self.wire_positions[index]}]"
        return f"wires[{index}]"

    def to_yaml(self) -> str:
        """The ``devarch.yml`` text (deterministic)."""
        return dump_yaml(self.to_data())

    @property
    def content_hash(self) -> str:
        """``sha256:...`` of the canonical text; recorded in ``devarch.lock``."""
        return "sha256:" + sha256(self.to_yaml().encode()).hexdigest()

    @classmethod
    def parse(cls, text: str | bytes, origin: str = "devarch.yml") -> Manifest:
        """Parse and validate a manifest's text (or UTF-8 bytes).

        ``ManifestError`` lists every problem by path.
        """
        return cls.from_data(cls.load(text, origin), origin)

    @staticmethod
    def load(text: str | bytes, origin: str = "devarch.yml") -> object:
        """The YAML data of a manifest; ``ManifestError`` with the line if it is not YAML."""
        try:
            return load_yaml(text, origin, what="manifest")
        except TemplateError as exc:
            raise ManifestError(exc.problems, what=f"invalid manifest {origin}") from None

    @classmethod
    def from_data(cls, data: object, origin: str = "devarch.yml") -> Manifest:
        """Validate plain data (structure, names, overrides, wires) without reading any catalog."""
        manifest, problems = cls.check(data)
        if problems or manifest is None:
            raise ManifestError(problems, what=f"invalid manifest {origin}")
        return manifest

    @classmethod
    def check(cls, data: object) -> tuple[Manifest | None, list[Problem]]:  # noqa: C901, PLR0912, PLR0915
        """Like :meth:`from_data` but returns what could be read together with every problem.

        Callers can so add their own checks (templates, secrets) and report all at once.
        """
        problems = Problems()
        raw = problems.expect_mapping(data, "")
        if data is None or not isinstance(data, Mapping):
            if data is None:
                problems.add("", "the manifest is empty")
            return None, problems.items
        problems.check_keys(raw, set(MANIFEST_KEYS), "")
        version = raw.get("version")
        low, high = MANIFEST_VERSIONS
        if isinstance(version, bool) or not isinstance(version, int):
            problems.add(
                "version", f"expected an integer manifest version ({low} to {high} are supported)"
            )
        elif not low <= version <= high:
            problems.add(
                "version",
                f"unsupported manifest version {version}; "
                f"this devarch reads versions {low} to {high}",
            )
        stack_raw = raw.get("stack")
        if isinstance(stack_raw, str):
            stack_raw = {"name": stack_raw}
        stack = problems.expect_mapping(stack_raw, "stack")
        problems.check_keys(stack, set(STACK_KEYS), "stack")
        name = problems.scalar(stack.get("name"), "stack.name", str, "a stack name")
        if name is None:
            problems.add("stack.name", "a manifest names its stack")
        else:
            _check_name(name, "stack.name", "stack", problems)
        description = (
            problems.scalar(stack.get("description", ""), "stack.description", str, "text") or ""
        )
        description = problems.check_length(description, MAX_DESCRIPTION, "stack.description") or ""
        network = problems.scalar(stack.get("network"), "stack.network", str, "a network name")
        if network is not None:
            _check_name(network, "stack.network", "network", problems)
        instances = []
        instances_raw = problems.expect_mapping(raw.get("instances"), "instances")
        if len(instances_raw) > MAX_INSTANCES:
            count = len(instances_raw)
            problems.add("instances", f"{count:,} instances; at most {MAX_INSTANCES:,}")
            instances_raw = {}
        for inst_name, body in instances_raw.items():
            path = f"instances.{inst_name}"
            _check_name(str(inst_name), path, "instance", problems)
            entry = _entry(body, path, _INSTANCE_KEYS, problems)
            template = problems.scalar(
                entry.get("template"), join(path, "template"), str, "a template name"
            )
            if not template:
                problems.add(join(path, "template"), "every instance names its template")
            tversion = problems.scalar(
                entry.get("template_version"),
                join(path, "template_version"),
                str,
                "a version string",
            )
            idesc = (
                problems.scalar(
                    entry.get("description", ""), join(path, "description"), str, "text"
                )
                or ""
            )
            idesc = problems.check_length(idesc, MAX_DESCRIPTION, join(path, "description")) or ""
            enabled = problems.scalar(
                entry.get("enabled", True), join(path, "enabled"), bool, "true or false"
            )
            over_raw = entry.get("overrides")
            secret_refs: dict[str, str] = {}
            if isinstance(over_raw, Mapping) and SECRET_REFS_KEY in over_raw:
                problems.add(
                    join(path, f"overrides.{SECRET_REFS_KEY}"),
                    "not a manifest key: write VAR: ${secret:NAME} under environment",
                )
                over_raw = {k: v for k, v in over_raw.items() if k != SECRET_REFS_KEY}
            if isinstance(over_raw, Mapping) and isinstance(over_raw.get("environment"), Mapping):
                env = dict(over_raw["environment"])
                for var, value in list(env.items()):
                    if isinstance(value, str) and value.startswith("${secret:"):
                        where = _key_path(join(path, "overrides.environment"), var)
                        if problems.checked(var, where, check_env_name) is None:
                            del env[var]
                            continue
                        match = SECRET_PLACEHOLDER.match(value)
                        if match is None:
                            problems.add(
                                join(path, f"overrides.environment.{var}"),
                                f"{short_repr(value)} is not a ${{secret:NAME}} placeholder",
                            )
                        else:
                            secret_refs[str(var)] = match.group(1)
                        del env[var]
                over_raw = {**over_raw, "environment": env}
            overrides = Overrides.parse(over_raw, join(path, "overrides"), problems)
            pins = problems.expect_mapping(entry.get("pins"), join(path, "pins"))
            problems.check_keys(pins, set(PIN_KEYS), join(path, "pins"))
            port_pins = _port_pins(pins.get("ports"), join(path, "pins.ports"), problems)
            image = problems.scalar(
                pins.get("image"), join(path, "pins.image"), str, "an image digest"
            )
            if template:
                instances.append(
                    InstanceSpec(
                        name=str(inst_name),
                        template=template,
                        template_version=tversion,
                        description=idesc,
                        enabled=enabled is not False,
                        overrides=overrides,
                        secret_refs=dict(sorted(secret_refs.items())),
                        port_pins=port_pins,
                        image_digest=image,
                    )
                )
        wires: list[tuple[Wire, int]] = []
        seen: set[tuple[str, str]] = set()
        names = {i.name for i in instances} | set(
            Problems().expect_mapping(raw.get("instances"), "instances")
        )
        for i, item in enumerate(problems.expect_list(raw.get("wires"), "wires")):
            path = f"wires[{i}]"
            entry = problems.expect_mapping(item, path)
            problems.check_keys(entry, set(WIRE_KEYS), path)
            consumer = problems.scalar(
                entry.get("consumer"), join(path, "consumer"), str, "an instance name"
            )
            imp = problems.scalar(entry.get("import"), join(path, "import"), str, "an import name")
            provider = problems.scalar(
                entry.get("provider"), join(path, "provider"), str, "an instance name"
            )
            export = problems.scalar(
                entry.get("export"), join(path, "export"), str, "an export name"
            )
            # ``provider: null`` (given, empty) leaves an optional import unwired on purpose.
            unwired = "provider" in entry and entry["provider"] is None
            if unwired and export is not None:
                problems.add(join(path, "export"), "a wire with provider: null has no export")
            for key, value in (("consumer", consumer), ("provider", provider)):
                if value is None:
                    if not (key == "provider" and unwired):
                        problems.add(join(path, key), "required")
                elif value not in names:
                    problems.add(
                        join(path, key), f"{short_repr(value)} is not an instance of this manifest"
                    )
            if imp is None:
                problems.add(join(path, "import"), "required")
            if consumer and imp:
                if (consumer, imp) in seen:
                    problems.add(path, f"{consumer}.{imp} is wired twice")
                seen.add((consumer, imp))
            if consumer and imp and (provider or unwired):
                wire = Wire(
                    consumer=consumer, import_name=imp, provider=provider, export_name=export
                )
                wires.append((wire, i))
        ordered_wires = sorted(wires, key=lambda wi: (wi[0].consumer, wi[0].import_name, wi[1]))
        manifest = cls(
            version=version if isinstance(version, int) and not isinstance(version, bool) else 1,
            stack=name or "",
            description=description,
            network=network,
            instances=tuple(sorted(instances, key=lambda i: i.name)),
            # Canonical order; the positions keep later problems' paths pointing into the file.
            wires=tuple(w for w, _ in ordered_wires),
            wire_positions=tuple(i for _, i in ordered_wires),
        )
        return manifest, problems.items


def _check_name(name: str, path: str, kind: str, problems: Problems) -> None:
    reason = _why_invalid(name, 63)
    if reason is not None:
        try:
            validate_name(name, kind=kind)
        except ManifestError:  # pragma: no cover - validate_name raises InvalidNameError
            raise
        except Exception as exc:  # noqa: BLE001 - InvalidNameError carries the suggestion
            problems.add(path, str(exc).split(": ", 1)[-1])


@frozen(kw_only=True)
class LockedInstance(_convert.Unstructured):
    """What ``devarch.lock`` pins for one instance."""

    template: str
    template_version: str
    template_hash: str
    image: str
    image_digest: str | None = None
    ports: Mapping[str, int] = attrs.field(factory=dict)


@frozen(kw_only=True)
class Lockfile(_convert.Unstructured):
    """A parsed ``devarch.lock``: the resolved specifics of a stack."""

    format: int = LOCK_FORMAT
    stack: str
    manifest_hash: str = ""
    instances: Mapping[str, LockedInstance] = attrs.field(factory=dict)

    def to_yaml(self) -> str:
        """The ``devarch.lock`` text (deterministic), with a header saying it is generated."""
        from devarch_core._schemaparts import modeline  # noqa: PLC0415 - schema parts import this

        return (
            modeline("lock")
            + "# devarch.lock: generated by devarch; commit it, do not edit it.\n"
            + dump_yaml(self.to_data())
        )

    @classmethod
    def parse(cls, text: str | bytes, origin: str = "devarch.lock") -> Lockfile:
        """Parse a lockfile; ``ManifestError`` with paths if malformed or of an unknown format."""
        try:
            data = load_yaml(text, origin, what="lockfile")
        except TemplateError as exc:
            raise ManifestError(exc.problems, what=f"invalid lockfile {origin}") from None
        problems = Problems()
        raw = problems.expect_mapping(data, "")
        problems.check_keys(raw, set(LOCK_KEYS), "")
        if raw.get("format") != LOCK_FORMAT:
            problems.add(
                "format",
                f"unsupported lockfile format {short_repr(raw.get('format'))}; "
                f"this devarch reads {LOCK_FORMAT}",
            )
        stack = problems.scalar(raw.get("stack"), "stack", str, "a stack name") or ""
        instances: dict[str, dict[str, Any]] = {}
        for name, body in problems.expect_mapping(raw.get("instances"), "instances").items():
            path = f"instances.{name}"
            entry = _entry(body, path, _LOCKED_KEYS, problems)
            ports = _port_pins(entry.get("ports"), join(path, "ports"), problems)
            fields = {}
            for key in ("template", "template_version", "template_hash", "image"):
                fields[key] = problems.scalar(entry.get(key), join(path, key), str, "text") or ""
                if not fields[key]:
                    problems.add(join(path, key), "required")
            instances[str(name)] = {
                **fields,
                "image_digest": problems.scalar(
                    entry.get("image_digest"), join(path, "image_digest"), str, "a digest"
                ),
                "ports": ports,
            }
        what = f"invalid lockfile {origin}"
        problems.raise_if_any(ManifestError, what=what)
        # Validated above with the lockfile's own messages; the converter builds the values.
        data = {
            "stack": stack,
            "manifest_hash": str(raw.get("manifest_hash", "")),
            "instances": instances,
        }
        return _convert.structure(data, cls, what=what)

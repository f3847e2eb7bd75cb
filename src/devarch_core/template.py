"""Templates: catalog entries with a service definition, wiring contracts, a name and a version.

A template's identity is its content hash: the SHA-256 of its canonical data, so reformatting the
YAML file does not change it while any semantic change does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import attrs
from attrs import frozen

from devarch_core import _convert
from devarch_core._digest import sha256
from devarch_core._parsing import Problems, join, short_repr, shorten, sorted_text_map, type_name
from devarch_core.errors import TemplateError
from devarch_core.limits import MAX_DESCRIPTION
from devarch_core.naming import NAME_PATTERN
from devarch_core.spec import ServiceSpec, _check_port, _key_path
from devarch_core.validators import check_env_name, check_env_prefix

T = TypeVar("T")

__all__ = ["Export", "Import", "Template"]

_VALUE_REF = re.compile(r"\$\{([^}]*)\}")
_KNOWN_REFS = ("host", "port", "protocol", "name", "instance", "stack")


@frozen(kw_only=True)
class Export(_convert.Unstructured):
    """A contract a template provides: ``{name, type, port, protocol, env}``.

    ``env`` maps variable names to value templates: ``${host}``, ``${port}``, ``${protocol}``,
    ``${env.NAME}`` (the provider's effective environment).
    """

    name: str
    type: str
    port: int | None = None
    protocol: Literal["tcp", "udp"] = "tcp"
    env: Mapping[str, str] = attrs.field(factory=dict, converter=sorted_text_map)


@frozen(kw_only=True)
class Import(_convert.Unstructured):
    """A contract a template needs: ``{name, type, required}``, with optional renaming/prefixing."""

    name: str
    type: str
    required: bool = True
    #: Prefix added to every injected variable
    #: (``CACHE_`` turns ``REDIS_URL`` into ``CACHE_REDIS_URL``).
    prefix: str = ""
    #: Exported variable -> the name the consumer wants (applied before the prefix).
    rename: Mapping[str, str] = attrs.field(factory=dict, converter=sorted_text_map)

    def target_name(self, variable: str) -> str:
        """The consumer-side name of an exported variable."""
        return self.prefix + self.rename.get(variable, variable)


TEMPLATE_KEYS = {"name", "version", "description", "service", "secrets", "exports", "imports"}
EXPORT_KEYS = ("name", "type", "port", "protocol", "env")
IMPORT_KEYS = ("name", "type", "required", "prefix", "rename")


@frozen(kw_only=True)
class Template(_convert.Unstructured):
    """A catalog entry. Build one with :meth:`from_data` (validates) rather than directly."""

    name: str
    version: str
    description: str = ""
    service: ServiceSpec
    #: Environment variables whose values are secret (redacted, sealed when overridden).
    secrets: tuple[str, ...] = ()
    exports: tuple[Export, ...] = ()
    imports: tuple[Import, ...] = ()
    #: Where it came from (``builtin``, a file path, ``compose:FILE#service``); not in the hash.
    origin: str = attrs.field(default="", eq=False)
    #: :attr:`content_hash`, computed on first use. A template is immutable: a changed one is a
    #: new value (``attrs.evolve``, a reloaded catalog) that computes its own. Not data: left
    #: out of equality, ``repr`` and every machine format.
    _memo: dict[str, Any] = attrs.field(factory=dict, init=False, eq=False, repr=False)

    @property
    def ref(self) -> str:
        """``name@version``, the value of the ``devarch.template_service_id`` label."""
        return f"{self.name}@{self.version}"

    @property
    def content_hash(self) -> str:
        """``sha256:<hex>`` of the canonical data (computed once per template)."""
        memo: str | None = self._memo.get("content_hash")
        if memo is None:
            memo = self._memo["content_hash"] = _content_hash(self)
        return memo

    def memo(self, key: str, compute: Callable[[Template], T]) -> T:
        """``compute(self)``, computed once per template and ``key`` (a derived value).

        Only for values that depend on the template alone: it never changes (a changed template
        is a new value with an empty memo).
        """
        if key not in self._memo:
            self._memo[key] = compute(self)
        value: T = self._memo[key]
        return value

    @classmethod
    def from_data(cls, data: object, origin: str = "") -> Template:
        """Parse and validate a template; raise ``TemplateError`` listing every problem by path."""
        problems = Problems()
        raw = problems.expect_mapping(data, "")
        problems.check_keys(raw, TEMPLATE_KEYS, "")
        name = problems.scalar(raw.get("name"), "name", str, "a name")
        if not name:
            problems.add("name", "a template needs a name")
        elif not NAME_PATTERN.fullmatch(name) or len(name) > 63:  # noqa: PLR2004
            problems.add(
                "name", f"{short_repr(name)} must be a lowercase DNS label (a-z, 0-9, '-')"
            )
        version = problems.scalar(raw.get("version"), "version", str, "a version string")
        if not version and (version is not None or raw.get("version") is None):
            problems.add("version", 'a template needs a version (quote it: "16.4")')
        description = problems.scalar(raw.get("description", ""), "description", str, "text") or ""
        description = problems.check_length(description, MAX_DESCRIPTION, "description") or ""
        service = ServiceSpec.parse(raw.get("service"), "service", problems)
        if raw.get("service") is None:
            problems.add("service", "a template needs a service definition")
        secrets: list[str] = []
        for i, secret in enumerate(problems.expect_list(raw.get("secrets"), "secrets")):
            if problems.checked(secret, f"secrets[{i}]", check_env_name) is None:
                continue
            secrets.append(secret)
            if service is not None and secret not in service.environment:
                problems.add(f"secrets[{i}]", f"{short_repr(secret)} is not in service.environment")
        exports = _parse_exports(raw.get("exports"), problems, service)
        imports = _parse_imports(raw.get("imports"), problems)
        problems.raise_if_any(
            TemplateError,
            what=f"invalid template {shorten(name or origin or '?')}"
            + (f" ({origin})" if origin else ""),
        )
        # guaranteed by the checks above
        assert name  # noqa: S101
        assert version  # noqa: S101
        assert service is not None  # noqa: S101
        return cls(
            name=name,
            version=version,
            description=description,
            service=service,
            secrets=tuple(sorted(set(secrets))),
            exports=tuple(exports),
            imports=tuple(imports),
            origin=origin,
        )


def _content_hash(template: Template) -> str:
    canonical = json.dumps(
        hash_data(template), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return "sha256:" + sha256(canonical.encode()).hexdigest()


def hash_data(template: Template) -> dict[str, Any]:
    """:meth:`Template.to_data`, written out for the content hash (key order aside).

    The content hash is on the path of every plan; making it through the converter imported and
    configured cattrs in every ``devarch apply`` and ``plan`` (a good part of a no-op's time).
    ``tests/unit/test_template_hash_every_field.py`` holds this equal to ``to_data()`` and fails
    when a class grows a field.
    """
    data: dict[str, Any] = {"name": template.name, "version": template.version}
    if template.description:
        data["description"] = template.description
    data["service"] = template.service.to_data()
    if template.secrets:
        data["secrets"] = list(template.secrets)
    exports: list[dict[str, Any]] = []
    for export in template.exports:
        entry: dict[str, Any] = {"name": export.name, "type": export.type}
        if export.port is not None:
            entry["port"] = export.port
        if export.protocol != "tcp":
            entry["protocol"] = export.protocol
        entry["env"] = dict(export.env)
        exports.append(entry)
    data["exports"] = exports
    imports: list[dict[str, Any]] = []
    for item in template.imports:
        entry = {"name": item.name, "type": item.type, "required": item.required}
        if item.prefix:
            entry["prefix"] = item.prefix
        if item.rename:
            entry["rename"] = dict(item.rename)
        imports.append(entry)
    data["imports"] = imports
    return data


_D = TypeVar("_D")


def _declarations(
    value: object,
    section: Literal["exports", "imports"],
    allowed: set[str],
    problems: Problems,
    parse_rest: Callable[[str, Mapping[str, Any]], Callable[[str, str], _D]],
) -> list[_D]:
    """Each export or import of ``section`` that can be kept, in order.

    Reads its name and contract type here; ``parse_rest`` reads the other keys (at the
    declaration's path) and returns how to build it from its name and type. A declaration
    without a name or type is left out and a repeated name is a problem (each recorded).
    """
    what = section.removesuffix("s")
    declared: list[_D] = []
    seen: set[str] = set()
    for i, item in enumerate(problems.expect_list(value, section)):
        path = f"{section}[{i}]"
        data = problems.expect_mapping(item, path)
        problems.check_keys(data, allowed, path)
        name = problems.scalar(data.get("name"), join(path, "name"), str, "a name")
        kind = problems.scalar(data.get("type"), join(path, "type"), str, "a contract type")
        build = parse_rest(path, data)
        if not name or not kind:
            problems.add(path, f"an {what} needs a name and a type")
            continue
        if name in seen:
            problems.add(join(path, "name"), f"{what} {short_repr(name)} is declared twice")
        seen.add(name)
        declared.append(build(name, kind))
    return declared


def _parse_exports(value: object, problems: Problems, service: ServiceSpec | None) -> list[Export]:
    def parse_rest(path: str, data: Mapping[str, Any]) -> Callable[[str, str], Export]:
        port = _check_port(data.get("port"), join(path, "port"), problems)
        protocol = data.get("protocol", "tcp")
        if protocol not in ("tcp", "udp"):
            problems.add(join(path, "protocol"), f"{short_repr(protocol)} must be tcp or udp")
        env = _export_env(data.get("env"), join(path, "env"), problems, service)
        return lambda name, kind: Export(
            name=name,
            type=kind,
            port=port,
            protocol=protocol if protocol in ("tcp", "udp") else "tcp",
            env=env,
        )

    allowed = set(EXPORT_KEYS)
    return _declarations(value, "exports", allowed, problems, parse_rest)


def _export_env(
    value: object, path: str, problems: Problems, service: ServiceSpec | None
) -> dict[str, str]:
    """An export's ``env``: variable -> value template (``${host}``, ``${env.NAME}``, ...)."""
    env: dict[str, str] = {}
    for var, tmpl in problems.expect_mapping(value, path).items():
        if problems.checked(var, _key_path(path, var), check_env_name) is None:
            continue
        text = problems.scalar(tmpl, join(path, var), str, "a value template")
        if text is None:
            continue
        for ref in _VALUE_REF.findall(text):
            if ref.startswith("env."):
                if service is not None and ref[4:] not in service.environment:
                    problems.add(
                        join(path, var),
                        f"${{{ref}}} names a variable the service does not set",
                    )
            elif ref not in _KNOWN_REFS:
                problems.add(
                    join(path, var),
                    f"unknown reference ${{{ref}}}; "
                    "use ${host}, ${port}, ${protocol} or ${env.NAME}",
                )
        env[var] = text
    return env


def _parse_imports(value: object, problems: Problems) -> list[Import]:
    def parse_rest(path: str, data: Mapping[str, Any]) -> Callable[[str, str], Import]:
        required = problems.scalar(
            data.get("required", True), join(path, "required"), bool, "true or false"
        )
        prefix = problems.checked(
            problems.scalar(data.get("prefix", ""), join(path, "prefix"), str, "text"),
            join(path, "prefix"),
            check_env_prefix,
        )
        rename: dict[str, str] = {}
        for var, new in problems.expect_mapping(data.get("rename"), join(path, "rename")).items():
            where = _key_path(join(path, "rename"), var)
            if problems.checked(var, where, check_env_name) is None:
                continue
            if not isinstance(new, str):
                problems.add(where, f"expected a variable name, got {type_name(new)}")
                continue
            if problems.checked(new, where, check_env_name) is not None:
                rename[var] = new
        return lambda name, kind: Import(
            name=name,
            type=kind,
            required=required is not False,
            prefix=prefix or "",
            rename=rename,
        )

    allowed = set(IMPORT_KEYS)
    return _declarations(value, "imports", allowed, problems, parse_rest)

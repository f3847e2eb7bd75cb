"""JSON Schemas of ``devarch.yml``, template files and ``devarch.lock`` (docs/editors.md).

The schemas are built when asked for, from what the parsers themselves use: the service fields
from the field table (:data:`devarch_core.fields.FIELDS`, each row's ``schema`` and
``override_schema``), every mapping's keys from the parsers' key lists (``MANIFEST_KEYS``,
``TEMPLATE_KEYS``, ``PORT_KEYS``...). A key a parser accepts without a schema here fails the
build (:func:`devarch_core._schemaparts.closed`), so the schemas cannot fall behind the parsers.

They describe structure, types, names and ranges. What they cannot say (a template that must
exist in the catalog, a wire to an instance of the same file, a reservation above its limit...)
is checked by the parsers only; :data:`SEMANTIC_RULES` lists those rules.

Editors find the schema through a first-line comment that devarch writes into the files it
exports (:func:`modeline`); the parsers read files with or without it.
"""

from __future__ import annotations

from typing import Any, Final

from devarch_core import _schemaparts as js
from devarch_core._schemaparts import (
    SCHEMA_DIR,
    SCHEMA_KINDS,
    SCHEMA_PATHS,
    SchemaKind,
    modeline,
    with_modeline,
)
from devarch_core.fields import FIELDS
from devarch_core.limits import MAX_INSTANCES
from devarch_core.manifest import (
    INSTANCE_KEYS,
    LOCK_FORMAT,
    LOCK_KEYS,
    LOCKED_KEYS,
    MANIFEST_KEYS,
    MANIFEST_VERSIONS,
    PIN_KEYS,
    STACK_KEYS,
    WIRE_KEYS,
)
from devarch_core.overrides import SECRET_REFS_KEY
from devarch_core.spec import COMPOSE_ONLY_KEYS
from devarch_core.template import EXPORT_KEYS, IMPORT_KEYS, TEMPLATE_KEYS

__all__ = [
    "SCHEMA_DIR",
    "SCHEMA_KINDS",
    "SCHEMA_PATHS",
    "SEMANTIC_RULES",
    "SchemaKind",
    "json_schema",
    "modeline",
    "with_modeline",
]

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

#: Rules the parsers check and the schemas cannot express (or do not, to stay readable).
SEMANTIC_RULES: Final[dict[str, str]] = {
    "template-exists": "an instance's template (and template_version) is in the catalog",
    "wire-endpoints": "a wire's consumer and provider are instances of the same manifest, "
    "each import wired once, no export when provider is null",
    "secrets-given": "every ${secret:NAME} has a value (store, environment or --secret)",
    "port-range": "short-form ports ('8080:80') and pins carry numbers within 1-65535",
    "duration-syntax": "durations are numbers or text like 1m30s within the engine's range",
    "quantity-syntax": "cpus and memory are numbers or text like 0.5 and 512m within range",
    "reservation-limit": "a reservation is not above its limit (after the merge)",
    "unique-keys": "a port, mount target, config file path or export/import name is listed once",
    "path-rules": "config file paths have no '..', are not '/', at most 4096 characters",
    "secret-placeholder": "a ${secret:...} value is exactly one placeholder",
    "template-secrets": "a template's secrets are variables of its service environment, "
    "and ${env.NAME} in an export names one",
    "value-refs": "export env values use only ${host}, ${port}, ${protocol}, ${env.NAME}",
    "ip-address": "host_ip is an IP literal",
    "volume-name": "a named volume's source is a lowercase DNS label",
    "instance-count": f"at most {MAX_INSTANCES:,} instances",
    "yaml": "the file is YAML without duplicate keys, non-string keys or alias bombs "
    "(the loader refuses it before any schema applies)",
}


def _service(*, override: bool) -> dict[str, Any]:
    """A template's ``service`` (``override=False``) or an instance's ``overrides``."""
    props: dict[str, Any] = {}
    keys: list[str] = []
    for field in FIELDS:
        schema = field.schema
        if override and field.override_schema is not None:
            schema = field.override_schema
        props[field.name] = dict(schema)
        keys.append(field.name)
    if override:
        from devarch_core.overrides import _override_keys  # noqa: PLC0415 - the parser's list

        props["secrets"] = js.array(
            js.ENV_NAME_SCHEMA, "variables whose values are secret (set with devarch secret set)"
        )
        return js.closed(
            _override_keys(), props, description="the instance's changes to its template"
        )
    for key in sorted(COMPOSE_ONLY_KEYS):
        props[key] = {"description": "accepted from Compose files; not used by devarch"}
        keys.append(key)
    props["deploy"] = {
        "type": "object",
        "description": "Compose's deploy.resources (limits, reservations) become resources",
    }
    required = tuple(field.name for field in FIELDS if field.required)
    return js.closed(tuple(keys), props, required=required, description="a Compose-style service")


def _manifest() -> dict[str, Any]:
    low, high = MANIFEST_VERSIONS
    overrides = _service(override=True)
    # A store-only key: the parser names it and refuses it in a manifest.
    assert SECRET_REFS_KEY not in overrides["properties"]  # noqa: S101
    instance = js.closed(
        INSTANCE_KEYS,
        {
            "template": js.text("a catalog template name", minLength=1),
            "template_version": js.text("a template version (default: the highest)"),
            "description": js.DESCRIPTION,
            "enabled": {"type": "boolean"},
            "overrides": overrides,
            "pins": js.closed(
                PIN_KEYS,
                {
                    "ports": js.PORT_PINS,
                    "image": js.text("an image digest"),
                },
                description="recorded host ports and image digest",
            ),
        },
        required=("template",),
    )
    stack = js.closed(
        STACK_KEYS,
        {
            "name": js.DNS_LABEL,
            "description": js.DESCRIPTION,
            "network": js.DNS_LABEL,
        },
        required=("name",),
    )
    wire = js.closed(
        WIRE_KEYS,
        {
            "consumer": js.DNS_LABEL,
            "import": js.text("the consumer's import name"),
            "provider": {
                "anyOf": [js.DNS_LABEL, {"type": "null"}],
                "description": "an instance, or null to leave an optional import unwired",
            },
            "export": js.text("the provider's export name"),
        },
        required=("consumer", "import", "provider"),
    )
    return js.closed(
        MANIFEST_KEYS,
        {
            "version": {"type": "integer", "minimum": low, "maximum": high},
            "stack": {"anyOf": [{**js.DNS_LABEL, "type": "string"}, stack]},
            "instances": js.keyed_map(js.DNS_LABEL, instance, "instances by name"),
            "wires": js.array(wire, "explicit wires; the others are found by contract type"),
        },
        required=("version", "stack"),
        description="devarch.yml: a stack, its instances and wires (docs/manifest.md)",
    )


def _template() -> dict[str, Any]:
    export = js.closed(
        EXPORT_KEYS,
        {
            "name": js.text(minLength=1),
            "type": js.text("a contract type such as postgres", minLength=1),
            "port": js.PORT_NUMBER,
            "protocol": js.PROTOCOL,
            "env": js.keyed_map(
                js.ENV_NAME_SCHEMA,
                js.nullable(
                    js.text("a value template: ${host}, ${port}, ${protocol}, ${env.NAME}")
                ),
            ),
        },
        required=("name", "type"),
    )
    import_ = js.closed(
        IMPORT_KEYS,
        {
            "name": js.text(minLength=1),
            "type": js.text("a contract type", minLength=1),
            "required": {"type": "boolean"},
            "prefix": {"anyOf": [js.ENV_NAME_SCHEMA, {"const": ""}]},
            "rename": js.keyed_map(js.ENV_NAME_SCHEMA, js.ENV_NAME_SCHEMA),
        },
        required=("name", "type"),
    )
    return js.closed(
        TEMPLATE_KEYS,
        {
            "name": js.DNS_LABEL,
            "version": js.text('a version string (quote it: "16.4")', minLength=1),
            "description": js.DESCRIPTION,
            "service": _service(override=False),
            "secrets": js.array(
                js.nullable(js.ENV_NAME_SCHEMA), "environment variables whose values are secret"
            ),
            "exports": js.array(export, "contracts this template provides"),
            "imports": js.array(import_, "contracts this template needs"),
        },
        required=("name", "version", "service"),
        description="a devarch template file (docs/templates.md)",
    )


def _lock() -> dict[str, Any]:
    locked = js.closed(
        LOCKED_KEYS,
        {
            "template": js.text(minLength=1),
            "template_version": js.text(minLength=1),
            "template_hash": js.text(minLength=1),
            "image": js.text(minLength=1),
            "image_digest": {"type": ["string", "null"]},
            "ports": js.PORT_PINS,
        },
        required=("template", "template_version", "template_hash", "image"),
    )
    return js.closed(
        LOCK_KEYS,
        {
            "format": {"const": LOCK_FORMAT},
            "stack": js.text(),
            "manifest_hash": js.text(),
            "instances": js.keyed_map(js.DNS_LABEL, locked),
        },
        required=("format",),
        description="devarch.lock: generated by devarch; commit it, do not edit it",
    )


_BUILDERS = {"manifest": _manifest, "template": _template, "lock": _lock}
_TITLES = {
    "manifest": "devarch.yml",
    "template": "devarch template file",
    "lock": "devarch.lock",
}


def json_schema(kind: SchemaKind) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a manifest, a template file or a lockfile."""
    if kind not in _BUILDERS:
        message = f"unknown schema {kind!r}; expected one of {', '.join(SCHEMA_KINDS)}"
        raise ValueError(message)
    body = _BUILDERS[kind]()
    return {"$schema": DIALECT, "title": _TITLES[kind], **body}

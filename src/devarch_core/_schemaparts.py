"""JSON Schema pieces shared by the field table and the parsers' key lists (docs/editors.md).

Each piece mirrors the rule of a validator (the patterns are the validators' own regular
expressions, anchored); :mod:`devarch_core.schema` assembles the documents from them, the field
table's rows and the parsers' key lists. Rules a schema cannot say (a reservation above its
limit, a template that is not in the catalog...) stay with the parsers and are listed in
:data:`devarch_core.schema.SEMANTIC_RULES`.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from devarch_core.limits import MAX_DESCRIPTION
from devarch_core.naming import NAME_PATTERN
from devarch_core.validators import (
    _RESTART,
    _USER,
    ENV_NAME,
    IMAGE_REFERENCE,
    MAX_DOMAIN,
    MAX_PORT,
    MAX_RESTART_RETRIES,
    MAX_SIGNAL,
    STOP_SIGNALS,
)

Schema = dict[str, Any]
SchemaKind = Literal["manifest", "template", "lock"]
SCHEMA_KINDS: Final[tuple[SchemaKind, ...]] = ("manifest", "template", "lock")

#: Where an exported file's modeline points: a path relative to the file, inside the project.
#: devarch has no web site to serve schemas from, and a path into site-packages differs per
#: machine; ``devarch schema --write`` puts the installed devarch's schemas there, so every clone
#: of a project gets the schemas of the devarch it uses, offline (docs/editors.md).
SCHEMA_DIR: Final = ".devarch/schemas"
SCHEMA_PATHS: Final[dict[SchemaKind, str]] = {
    kind: f"{SCHEMA_DIR}/{kind}.schema.json" for kind in SCHEMA_KINDS
}


def modeline(kind: SchemaKind) -> str:
    """The first line devarch writes into an exported file so editors find its schema."""
    return f"# yaml-language-server: $schema={SCHEMA_PATHS[kind]}\n"


def with_modeline(kind: SchemaKind, text: str) -> str:
    """``text`` with the schema modeline as its first line (once)."""
    line = modeline(kind)
    return text if text.startswith(line) else line + text


def anchored(pattern: str) -> str:
    """A Python pattern as an anchored ECMA-262 one (named groups become plain groups)."""
    return "^(?:" + re.sub(r"\(\?P<\w+>", "(?:", pattern) + ")$"


def one_of(*schemas: Schema, description: str = "") -> Schema:
    """Any of ``schemas`` (``anyOf``: the alternatives may overlap)."""
    out: Schema = {"anyOf": list(schemas)}
    if description:
        out["description"] = description
    return out


def array(items: Schema, description: str = "", **extra: Any) -> Schema:  # noqa: ANN401 - JSON
    """A list of ``items``."""
    out: Schema = {"type": "array", "items": items, **extra}
    if description:
        out["description"] = description
    return out


def text(description: str = "", *, strict: bool = False, **extra: Any) -> Schema:  # noqa: ANN401 - JSON values
    """A string; an integer too unless ``strict`` (the parsers read ``5432`` as ``"5432"``).

    ``pattern`` and the lengths apply to strings only, so an integer is checked by type alone.
    """
    out: Schema = {"type": "string" if strict else ["string", "integer"], **extra}
    if description:
        out["description"] = description
    return out


DNS_LABEL: Final[Schema] = text(
    "a lowercase DNS label (a-z, 0-9, '-')",
    pattern=NAME_PATTERN.pattern,
    maxLength=63,
)
ENV_NAME_SCHEMA: Final[Schema] = text(
    "an environment variable name",
    strict=True,
    pattern=anchored(ENV_NAME.pattern),
    maxLength=256,
)
#: What an environment or label value may be in YAML (numbers and booleans become text).
ENV_VALUE: Final[Schema] = {"type": ["string", "number", "boolean", "null"]}
#: Digits the parsers read as a number (``"5432"``).
DIGITS: Final[Schema] = {"type": "string", "pattern": r"^\s*[0-9]+\s*$"}
PORT_NUMBER: Final[Schema] = {
    "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_PORT}, DIGITS],
    "description": "a port number, 1-65535",
}
DURATION: Final[Schema] = {
    "type": ["string", "number"],
    "description": "a duration: seconds, or text such as 1m30s, 500ms",
}
IMAGE: Final[Schema] = text("an image reference", pattern=anchored(IMAGE_REFERENCE.pattern))
USER: Final[Schema] = text("NAME, UID, NAME:GROUP or UID:GID", pattern=anchored(_USER.pattern))
RESTART: Final[Schema] = text(
    "no, always, unless-stopped or on-failure[:N]", pattern=anchored(_RESTART.pattern)
)
ABSOLUTE_PATH: Final[Schema] = text("an absolute path inside the container", pattern="^/")
COMMAND: Final[Schema] = one_of(
    text("split like a shell would"),
    array({"type": ["string", "number"]}),
    description="a command: a list of words, or a string split like a shell would",
)
SIGNAL: Final[Schema] = one_of(
    {"type": "string", "enum": sorted(STOP_SIGNALS | {s.lower() for s in STOP_SIGNALS})},
    {"type": "integer", "minimum": 1, "maximum": MAX_SIGNAL},
    text(strict=True, pattern=r"^\s*[0-9]+\s*$"),
    description="a signal name such as SIGTERM, or a number",
)
DOMAIN: Final[Schema] = text(
    "a host name",
    strict=True,
    minLength=1,
    maxLength=MAX_DOMAIN,
    pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
)
LABEL_KEY: Final[Schema] = text(
    "a label key (devarch.* is reserved)",
    minLength=1,
    maxLength=1024,
    pattern=r"^(?!devarch\.)[^\s=]+$",
)
RETRIES: Final[Schema] = {
    "anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_RESTART_RETRIES}, DIGITS]
}
FILE_MODE: Final[Schema] = one_of(
    text("octal text such as 0640", strict=True, pattern="^[0-7]{1,4}$"),
    {"type": "integer", "minimum": 0, "maximum": 0o777},
    description="a file mode: octal text such as 0640",
)
QUANTITY: Final[Schema] = {"type": ["string", "number"]}
DESCRIPTION: Final[Schema] = text("free text", maxLength=MAX_DESCRIPTION)
PROTOCOL: Final[Schema] = {"enum": ["tcp", "udp"]}
REMOVE: Final[Schema] = {"type": "boolean", "description": "true drops an inherited entry"}
#: A recorded host port by container port (``5432/tcp: 20001``).
PORT_PINS: Final[Schema] = {
    "type": "object",
    "propertyNames": {"pattern": r"^[0-9]{1,5}(?:/(?:tcp|udp))?$"},
    "additionalProperties": {"anyOf": [PORT_NUMBER, {"type": "null"}]},
}


def keyed_map(keys: Schema, values: Schema, description: str = "") -> Schema:
    """A mapping whose keys match ``keys`` and whose values match ``values``."""
    out: Schema = {"type": "object", "propertyNames": keys, "additionalProperties": values}
    if description:
        out["description"] = description
    return out


def nullable(schema: Schema) -> Schema:
    """``schema`` or null: the parsers read an optional key given as null as absent."""
    kind = schema.get("type")
    if not schema or kind == "null" or (isinstance(kind, list) and "null" in kind):
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def closed(
    keys: frozenset[str] | set[str] | tuple[str, ...],
    properties: dict[str, Schema],
    *,
    required: tuple[str, ...] = (),
    description: str = "",
) -> Schema:
    """An object with exactly the parser's ``keys``; each key must have its schema.

    ``keys`` is the parser's own list of accepted keys: a key added there without a schema here
    (or the other way round) fails when the schema is built, so the two cannot drift apart.
    """
    missing = set(keys) ^ set(properties)
    if missing:
        message = f"schema and parser keys differ: {', '.join(sorted(missing))}"
        raise AssertionError(message)
    out: Schema = {
        "type": "object",
        "properties": {
            key: properties[key] if key in required else nullable(properties[key])
            for key in sorted(properties)
        },
        "additionalProperties": False,
    }
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    return out

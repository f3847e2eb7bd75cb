"""Names, identity labels and the isolation rules built on them (docs/architecture.md#naming).

Every engine-side name devarch creates is derived here and nowhere else, so two stacks built from
the same templates can never produce the same container, network or volume name.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from devarch_core._parsing import short_repr
from devarch_core.errors import InvalidNameError

__all__ = [
    "LABEL_CONFIG_HASH",
    "LABEL_EXPIRES",
    "LABEL_INSTANCE_ID",
    "LABEL_INSTANCE_NAME",
    "LABEL_MANAGED_BY",
    "LABEL_OWNER",
    "LABEL_PREFIX",
    "LABEL_STACK_ID",
    "LABEL_STACK_NAME",
    "LABEL_TEMPLATE_SERVICE_ID",
    "MANAGED_BY",
    "MAX_NAME_LENGTH",
    "RESERVED_NAMES",
    "container_name",
    "network_name",
    "slugify",
    "validate_name",
    "volume_name",
]

NAME_PATTERN: Final = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
MAX_NAME_LENGTH: Final = 63
RESERVED_NAMES: Final = frozenset({"default", "devarch", "system", "none", "all"})

LABEL_PREFIX: Final = "devarch."
LABEL_MANAGED_BY: Final = "devarch.managed_by"
LABEL_STACK_ID: Final = "devarch.stack_id"
LABEL_STACK_NAME: Final = "devarch.stack"
LABEL_INSTANCE_ID: Final = "devarch.instance_id"
LABEL_INSTANCE_NAME: Final = "devarch.instance"
LABEL_TEMPLATE_SERVICE_ID: Final = "devarch.template_service_id"
LABEL_OWNER: Final = "devarch.owner"
LABEL_CONFIG_HASH: Final = "devarch.config_hash"
#: Unix time after which a stack created by the pytest plugin may be reaped.
LABEL_EXPIRES: Final = "devarch.expires"
MANAGED_BY: Final = "devarch"


def slugify(text: str) -> str:
    """Turn any text into the nearest valid name ("My App" -> "my-app"); may return ''."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:MAX_NAME_LENGTH].rstrip("-")
    if slug in RESERVED_NAMES:
        slug = f"my-{slug}"
    return slug


def _why_invalid(name: str, max_length: int) -> str | None:  # noqa: PLR0911 - one reason per rule
    if not name:
        return "is empty"
    if len(name) > max_length:
        return f"is {len(name)} characters long; at most {max_length} are allowed"
    if name in RESERVED_NAMES:
        return f"is reserved ({', '.join(sorted(RESERVED_NAMES))} cannot be used)"
    if name != name.lower():
        return "has uppercase letters; names are lowercase DNS labels"
    if not name.isascii():
        return "has non-ASCII characters; use a-z, 0-9 and '-'"
    if name.startswith("-") or name.endswith("-"):
        return "starts or ends with '-'"
    if not NAME_PATTERN.fullmatch(name):
        bad = sorted({c for c in name if not (c.isalnum() or c == "-")})
        shown = short_repr("".join(bad))
        return f"has characters that are not allowed ({shown}); use a-z, 0-9 and '-'"
    return None


def validate_name(name: str, *, kind: str = "stack", max_length: int = MAX_NAME_LENGTH) -> str:
    """Return ``name`` if it is a valid lowercase DNS label, else raise ``InvalidNameError``.

    The error says why and suggests a valid slug when one can be derived.
    """
    if not isinstance(name, str):
        raise InvalidNameError(kind, repr(name), "is not a string", None)
    reason = _why_invalid(name, max_length)
    if reason is None:
        return name
    suggestion = slugify(name)[:max_length].rstrip("-") or None
    if suggestion == name or (suggestion and _why_invalid(suggestion, max_length)):
        suggestion = None
    raise InvalidNameError(kind, name, reason, suggestion)


def container_name(stack: str, instance: str) -> str:
    """The engine name of an instance's container: ``devarch-{stack}-{instance}``."""
    return f"devarch-{stack}-{instance}"


def network_name(stack: str, custom: str | None = None) -> str:
    """The stack's network: its custom name if it has one, else ``devarch-{stack}-net``."""
    return custom or f"devarch-{stack}-net"


def volume_name(stack: str, instance: str, volume: str) -> str:
    """A named volume private to one instance: ``devarch-{stack}-{instance}-{volume}``."""
    return f"devarch-{stack}-{instance}-{volume}"

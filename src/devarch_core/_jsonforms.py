"""The JSON forms of stored values: a stack and an instance as ``--json`` and the web API give them.

Each form lists its keys in order; a key reads the attribute of the same name, or the one it
names after ``=`` (``network=network_name``). ``stack show`` starts with the stack's form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devarch_core.model import Instance, Stack

__all__ = ["instance_data", "stack_data"]

#: ``engine`` is the engine the stack is bound to (None until its first apply): docs/engines.md.
_STACK = "name description network=network_name enabled created_at updated_at engine"
_INSTANCE = "stack name template template_version description enabled container=container_name"


def _form(value: object, keys: str) -> dict[str, Any]:
    pairs = (key.partition("=") for key in keys.split())
    return {key: getattr(value, attribute or key) for key, _, attribute in pairs}


def stack_data(stack: Stack) -> dict[str, Any]:
    """A stack as plain data."""
    return _form(stack, _STACK)


def instance_data(instance: Instance) -> dict[str, Any]:
    """An instance as plain data, its overrides in manifest form."""
    return {**_form(instance, _INSTANCE), "overrides": instance.overrides.to_data()}

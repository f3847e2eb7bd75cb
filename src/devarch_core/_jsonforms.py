"""The JSON forms of a stack, a stack's summary and an instance (``--json``, the web API).

Each form lists its keys in order; a key reads the attribute of the same name, or the one it
names after ``=`` (``network=network_name``). ``stack show`` starts with the stack's form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devarch_core.model import Instance, Stack
    from devarch_core.usecases.stacks import StackSummary

__all__ = ["instance_data", "stack_data", "stack_summary_data"]

#: ``engine`` is the engine the stack is bound to (None until its first apply): docs/engines.md.
_STACK = "name description network=network_name enabled created_at updated_at engine"
#: ``stack list``: the stack's first four keys, then its counts.
_SUMMARY = "name description network=network_name enabled"
_COUNTS = "instances enabled_instances running"
_INSTANCE = "stack name template template_version description enabled container=container_name"


def _form(value: object, keys: str) -> dict[str, Any]:
    pairs = (key.partition("=") for key in keys.split())
    return {key: getattr(value, attribute or key) for key, _, attribute in pairs}


def stack_data(stack: Stack) -> dict[str, Any]:
    """A stack as plain data."""
    return _form(stack, _STACK)


def stack_summary_data(summary: StackSummary) -> dict[str, Any]:
    """A stack's line of ``stack list`` as plain data."""
    return {**_form(summary.stack, _SUMMARY), **_form(summary, _COUNTS)}


def instance_data(instance: Instance) -> dict[str, Any]:
    """An instance as plain data, its overrides in manifest form."""
    return {**_form(instance, _INSTANCE), "overrides": instance.overrides.to_data()}

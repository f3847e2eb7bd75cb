"""Stacks, instances and wires: what the store keeps (docs/concepts.md)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from attrs import frozen

from devarch_core._parsing import sorted_text_map
from devarch_core.naming import container_name, network_name
from devarch_core.overrides import Overrides

__all__ = ["ENGINE_KINDS", "Engine", "Instance", "PortAllocation", "Stack", "Wire"]

#: What an engine record can name: the Docker API, Podman's Docker-compatible API, or a Docker
#: Swarm (services instead of containers; its runtime is another adapter).
ENGINE_KINDS = ("docker", "podman", "swarm")


@frozen(kw_only=True)
class Stack:
    """A named, isolated group of instances with its own network. Its name never changes."""

    id: str
    name: str
    description: str = ""
    #: A custom network name; ``None`` means ``devarch-{name}-net``.
    network: str | None = None
    enabled: bool = True
    created_at: str = ""
    updated_at: str = ""
    #: The engine the stack is bound to (an :class:`Engine` name); ``None`` until its first apply.
    engine: str | None = None

    @property
    def network_name(self) -> str:
        """The engine name of the stack's network."""
        return network_name(self.name, self.network)


@frozen(kw_only=True)
class Instance:
    """A template instantiated in a stack, holding only its overrides."""

    id: str
    stack_id: str
    stack: str
    name: str
    template: str
    template_version: str
    description: str = ""
    enabled: bool = True
    overrides: Overrides = Overrides()
    created_at: str = ""
    updated_at: str = ""

    @property
    def container_name(self) -> str:
        """``devarch-{stack}-{instance}``: unique across the whole store."""
        return container_name(self.stack, self.name)


@frozen(kw_only=True)
class Wire:
    """An explicit link from a consumer's import to a provider instance (optionally one export).

    ``provider=None`` leaves an optional import unwired on purpose (``wire add ... --none``,
    ``provider: null`` in devarch.yml): auto-wiring no longer picks a provider for it.
    """

    consumer: str
    import_name: str
    provider: str | None
    #: Which export of the provider; ``None`` means the one whose type matches the import.
    export_name: str | None = None


@frozen(kw_only=True)
class PortAllocation:
    """A host port devarch chose (or the user pinned) for an instance's container port; sticky."""

    stack: str
    instance: str
    container_port: int
    protocol: str
    host_port: int
    host_ip: str = "127.0.0.1"

    @property
    def key(self) -> str:
        """``5432/tcp``."""
        return f"{self.container_port}/{self.protocol}"


@frozen(kw_only=True)
class Engine:
    """A named container engine a stack can be bound to (docs/engines.md).

    Exactly one of ``endpoint`` (``unix://``, ``tcp://``, ``ssh://``) and ``context`` (a Docker
    context name, resolved when the engine is opened) is set. ``host`` is the machine a ``unix://``
    endpoint belongs to: the same socket path on another machine is another engine.
    """

    name: str
    kind: str = "docker"
    endpoint: str = ""
    context: str = ""
    host: str = ""
    #: TLS for ``tcp://``: ``ca_cert``, ``client_cert``, ``client_key`` (paths), ``verify``
    #: (``"true"``/``"false"``); ``ssh_client`` (``"true"``: shell out to ``ssh``) for ``ssh://``.
    options: Mapping[str, str] = attrs.field(factory=dict, converter=sorted_text_map)
    created_at: str = ""

    @property
    def where(self) -> str:
        """The endpoint, or ``context NAME``: for messages."""
        if self.context:
            return f"context {self.context}"
        return self.endpoint or "no endpoint"

    @property
    def is_local(self) -> bool:
        """True for an engine on this machine: a socket, or a context that resolved to one.

        A context's ``host`` is set only when it resolves to a ``unix://`` socket.
        """
        if self.context:
            return bool(self.host)
        return not self.endpoint.startswith(("tcp://", "ssh://", "http://", "https://"))

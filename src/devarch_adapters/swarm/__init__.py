"""The Docker Swarm adapter: :class:`SwarmRuntime`, one Swarm service per instance."""

from __future__ import annotations

from devarch_adapters.swarm.runtime import (
    PLACEMENT_LABEL,
    SERVICE_LABEL,
    EndpointMode,
    SwarmRuntime,
)

__all__ = ["PLACEMENT_LABEL", "SERVICE_LABEL", "EndpointMode", "SwarmRuntime"]

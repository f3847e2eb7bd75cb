"""The Podman adapter: :class:`PodmanRuntime`, the Runtime port over Podman's compat socket."""

from __future__ import annotations

from devarch_adapters.podman.runtime import (
    ROOTFUL_SOCKET,
    PodmanRuntime,
    find_podman_socket,
    podman_socket_candidates,
)

__all__ = ["ROOTFUL_SOCKET", "PodmanRuntime", "find_podman_socket", "podman_socket_candidates"]

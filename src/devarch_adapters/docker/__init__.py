"""The Docker Engine adapter: :class:`DockerRuntime`, the Runtime port on the docker SDK."""

from __future__ import annotations

from devarch_adapters.docker.runtime import DEFAULT_DOCKER_URL, DockerRuntime

__all__ = ["DEFAULT_DOCKER_URL", "DockerRuntime"]

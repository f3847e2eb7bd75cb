"""A named engine of kind ``swarm`` opens a SwarmRuntime (engines and Swarm plugged together)."""

from __future__ import annotations

from devarch_adapters.engines import DockerEngineConnector, this_host
from devarch_adapters.swarm import SwarmRuntime
from devarch_core.model import Engine


def test_a_swarm_engine_record_opens_a_swarm_runtime_on_its_endpoint() -> None:
    connector = DockerEngineConnector()
    try:
        runtime = connector.open(
            Engine(
                name="cluster",
                kind="swarm",
                endpoint="unix:///run/devarch-swarm/docker.sock",
                host=this_host(),
            )
        )
        assert isinstance(runtime, SwarmRuntime)
        assert runtime.endpoint == "unix:///run/devarch-swarm/docker.sock"
        # Opened once per name: the same runtime object comes back.
        again = connector.open(Engine(name="cluster", kind="swarm", endpoint="unix:///x"))
        assert again is runtime
    finally:
        connector.close()

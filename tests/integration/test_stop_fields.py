"""stop_grace_period, stop_signal and init on real engines (docs/templates.md).

Parametrized over Docker and Podman: the create call carries them (``Config.StopSignal``,
``Config.StopTimeout``, ``HostConfig.Init`` in the engine's inspect), a change recreates the
container, and devarch stops the container with its own grace period.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import unavailable
from tests.integration.conftest import ENGINES

from devarch_core.errors import ApplyError

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.app import Devarch

pytestmark = [pytest.mark.docker, pytest.mark.podman]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Return the engine under test."""
    name: str = request.param
    return name


def _inspect(client: Any, name: str) -> dict[str, Any]:
    container = client.containers.get(name)
    container.reload()
    attrs: dict[str, Any] = container.attrs
    return attrs


def _stack(
    make_devarch: Callable[..., Devarch], engine: str, stack: str, **overrides: Any
) -> Devarch:
    devarch = make_devarch(engine)
    devarch.create_stack(stack)
    # sleep as PID 1 has no signal handlers: only the kill after the grace period stops it
    base = {"command": ["sleep", "300"], "healthcheck": "disable"}
    devarch.add_instance(stack, "cache", "bb-cache", overrides={**base, **overrides})
    return devarch


def test_stop_signal_and_grace_period_reach_the_engine(engine, make_devarch, engine_client, unique):
    """Config.StopSignal and Config.StopTimeout are the instance's; a change recreates it."""
    stack = f"{unique}stop"
    devarch = _stack(make_devarch, engine, stack, stop_signal="SIGINT", stop_grace_period="7s")
    devarch.apply(stack)
    client = engine_client(engine)
    config = _inspect(client, f"devarch-{stack}-cache")["Config"]
    assert config["StopSignal"] in ("SIGINT", "2"), "Podman reports the signal's number"
    assert config["StopTimeout"] == 7
    assert devarch.plan(stack).actions == (), "the stop fields converge: nothing left to do"

    devarch.set_overrides(stack, "cache", {"stop_grace_period": "2s"})
    assert [a.action for a in devarch.plan(stack).actions] == ["modify"]
    devarch.apply(stack)
    assert _inspect(client, f"devarch-{stack}-cache")["Config"]["StopTimeout"] == 2

    # removing waits the 2s grace period, then kills (not the engine's default 10s)
    devarch.remove_instance(stack, "cache")
    began = time.monotonic()
    devarch.apply(stack)
    assert time.monotonic() - began < 8


def test_init_reaches_the_engine(engine, make_devarch, engine_client, unique):
    """HostConfig.Init is true, and the init forwards the stop signal to the process."""
    stack = f"{unique}init"
    devarch = _stack(
        make_devarch, engine, stack, init=True, stop_signal="SIGINT", stop_grace_period="30s"
    )
    try:
        devarch.apply(stack)
    except ApplyError as exc:
        if "init binary not found" in str(exc):  # Podman without catatonit installed
            unavailable(f"{engine}'s init binary (catatonit)", exc)
        raise
    client = engine_client(engine)
    attrs = _inspect(client, f"devarch-{stack}-cache")
    assert attrs["HostConfig"]["Init"] is True
    devarch.remove_instance(stack, "cache")
    began = time.monotonic()
    devarch.apply(stack)
    assert time.monotonic() - began < 8, "the init forwarded SIGINT; the 30s grace was not needed"

"""Edges where devarch meets the engine: host ports after a connection, engines, owners, locks.

Every test uses fresh ``unique`` stack names and cleans up (the ``make_devarch`` fixture).
"""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING

import pytest
from tests.integration.conftest import ENGINES

if TYPE_CHECKING:
    from tests.integration.conftest import DevarchFactory

    from devarch_core.app import Devarch


def _web_port(devarch: Devarch, stack: str) -> int:
    row = next(r for r in devarch.status(stack) if r.instance == "web")
    assert row.ports, row
    return int(row.ports[0].split("->")[0].rsplit(":", 1)[1])


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


@pytest.mark.docker
@pytest.mark.podman
@pytest.mark.parametrize("engine", ENGINES)
def test_down_then_apply_right_after_a_connection_to_a_published_port(
    engine: str, make_devarch: DevarchFactory, unique: str
) -> None:
    """TIME-WAIT sockets left by a real HTTP request never make the port look taken.

    A converged stack re-planned right after a re-apply has no errors (exit 0 on Podman too),
    and ``down`` then ``apply`` at once succeeds on the same host port.
    """
    devarch = make_devarch(engine)
    stack = f"{unique}tw"
    devarch.create_stack(stack)
    devarch.add_instance(stack, "db", "bb-db")
    devarch.add_instance(stack, "web", "bb-web")
    devarch.apply(stack)
    port = _web_port(devarch, stack)
    assert "<h1>" in _get(port)
    devarch.set_overrides(stack, "web", {"environment": {"APP_TITLE": "again"}})
    devarch.apply(stack)  # re-apply: web is recreated on the same host port
    assert "again" in _get(port)
    plan = devarch.plan(stack)
    assert not plan.errors, plan.render_text()
    assert not plan.actions, plan.render_text()
    devarch.down(stack)
    plan = devarch.plan(stack)
    assert not plan.errors, plan.render_text()
    assert sorted(a.instance for a in plan.actions if a.action == "add") == ["db", "web"]
    devarch.apply(stack)
    assert _web_port(devarch, stack) == port
    assert "again" in _get(port)

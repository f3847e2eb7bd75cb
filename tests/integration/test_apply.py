"""Plan and apply against a real Docker Engine: convergence, per-field changes, staleness, start.

Each test applies a db + web stack from the example busybox catalog, then changes one thing
(an override, or the container behind devarch's back) and checks what the plan says and what
apply does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.integration.conftest import stack_containers

from devarch_core.errors import StalePlanError
from devarch_core.planning import FieldChange

if TYPE_CHECKING:
    from tests.integration.conftest import DevarchFactory, EngineClient

    from devarch_core.app import Devarch

pytestmark = pytest.mark.docker


@pytest.fixture
def applied(make_devarch: DevarchFactory, unique: str) -> tuple[Devarch, str]:
    """Apply a db + web stack on Docker."""
    devarch = make_devarch("docker")
    devarch.create_stack(unique)
    devarch.add_instance(unique, "db", "bb-db")
    devarch.add_instance(unique, "web", "bb-web")
    devarch.apply(unique)
    return devarch, unique


def _ids(client: object, devarch: Devarch, stack: str) -> dict[str, tuple[str, str]]:
    """Container name -> (id, status) for the stack's containers."""
    found = stack_containers(client, devarch.get_stack(stack).id)
    return {c.name: (c.id, c.status) for c in found}


def test_after_apply_a_new_plan_is_empty(applied: tuple[Devarch, str]) -> None:
    """Applying converges: the next plan has no actions and a second apply does nothing."""
    devarch, stack = applied
    assert devarch.plan(stack).actions == ()
    assert devarch.apply(stack).plan.actions == ()
    assert devarch.plan(stack).actions == ()


def test_changing_an_env_override_plans_one_modify_and_recreates_only_that_instance(
    applied: tuple[Devarch, str], engine_client: EngineClient
) -> None:
    """A user env override is one ``modify`` with its FieldChange; apply recreates only it."""
    devarch, stack = applied
    client = engine_client("docker")
    before = _ids(client, devarch, stack)
    devarch.set_overrides(stack, "web", {"environment": {"APP_TITLE": "shop"}})
    plan = devarch.plan(stack)
    assert [(a.action, a.instance) for a in plan.actions] == [("modify", "web")]
    assert plan.actions[0].changes == (
        FieldChange(field="environment.APP_TITLE", old="bb-web", new="shop", source="user"),
    )
    devarch.apply(stack, plan)
    after = _ids(client, devarch, stack)
    assert after[f"devarch-{stack}-db"] == before[f"devarch-{stack}-db"]
    assert after[f"devarch-{stack}-web"][0] != before[f"devarch-{stack}-web"][0]
    assert after[f"devarch-{stack}-web"][1] == "running"
    env = client.containers.get(f"devarch-{stack}-web").attrs["Config"]["Env"]
    assert "APP_TITLE=shop" in env
    assert devarch.plan(stack).actions == ()


def test_a_plan_goes_stale_when_an_override_changes_after_planning(
    applied: tuple[Devarch, str], engine_client: EngineClient
) -> None:
    """apply(plan=old) after an override change is refused, naming the instance; nothing changes."""
    devarch, stack = applied
    client = engine_client("docker")
    devarch.set_overrides(stack, "web", {"environment": {"APP_TITLE": "one"}})
    old = devarch.plan(stack)
    devarch.set_overrides(stack, "web", {"environment": {"APP_TITLE": "two"}})
    before = _ids(client, devarch, stack)
    with pytest.raises(StalePlanError, match="configuration of web changed") as caught:
        devarch.apply(stack, old)
    assert caught.value.moved == ("configuration of web changed",)
    assert _ids(client, devarch, stack) == before
    env = client.containers.get(f"devarch-{stack}-web").attrs["Config"]["Env"]
    assert "APP_TITLE=bb-web" in env
    assert devarch.lock is not None
    assert devarch.lock.holder(stack) is None


def test_a_plan_goes_stale_when_a_container_is_stopped_outside_devarch(
    applied: tuple[Devarch, str], engine_client: EngineClient
) -> None:
    """A container stopped with the engine's client after planning makes apply refuse, naming it."""
    devarch, stack = applied
    client = engine_client("docker")
    devarch.set_overrides(stack, "web", {"environment": {"APP_TITLE": "one"}})
    old = devarch.plan(stack)
    client.containers.get(f"devarch-{stack}-db").stop(timeout=1)
    before = _ids(client, devarch, stack)
    with pytest.raises(StalePlanError, match=f"container devarch-{stack}-db changed"):
        devarch.apply(stack, old)
    assert _ids(client, devarch, stack) == before
    assert before[f"devarch-{stack}-db"][1] == "exited"


def test_a_plan_goes_stale_when_a_container_is_removed_outside_devarch(
    applied: tuple[Devarch, str], engine_client: EngineClient
) -> None:
    """A container removed with the engine's client after planning makes apply refuse, naming it."""
    devarch, stack = applied
    client = engine_client("docker")
    old = devarch.plan(stack)
    client.containers.get(f"devarch-{stack}-web").remove(force=True)
    before = _ids(client, devarch, stack)
    with pytest.raises(StalePlanError, match=f"container devarch-{stack}-web is gone"):
        devarch.apply(stack, old)
    assert _ids(client, devarch, stack) == before
    assert f"devarch-{stack}-web" not in before
    plan = devarch.plan(stack)
    assert [(a.action, a.instance) for a in plan.actions] == [("add", "web")]


def test_a_container_stopped_outside_devarch_is_planned_as_start_and_started(
    applied: tuple[Devarch, str], engine_client: EngineClient
) -> None:
    """A stopped container is a ``start`` action (no recreate); apply starts the same container."""
    devarch, stack = applied
    client = engine_client("docker")
    container = client.containers.get(f"devarch-{stack}-web")
    container.stop(timeout=1)
    plan = devarch.plan(stack)
    assert [(a.action, a.instance) for a in plan.actions] == [("start", "web")]
    assert plan.actions[0].changes == ()
    devarch.apply(stack, plan)
    container.reload()
    assert container.status == "running"
    assert client.containers.get(f"devarch-{stack}-web").id == container.id
    assert devarch.plan(stack).actions == ()

"""Resource limits on real engines: the create call carries them and they are enforced.

Parametrized over Docker and Podman: ``HostConfig.NanoCpus`` (cpu_limit), ``Memory``
(memory_limit), ``MemoryReservation`` (memory_reservation) and ``CpuShares`` (cpu_reservation,
1024 per CPU), the container's own cgroup, the plan's warnings from the engine's real
capabilities, and what happens with more CPUs than the host has.

See docs/templates.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from tests.integration.conftest import ENGINES, exec_sh

from devarch_core.errors import DevarchError
from devarch_core.spec import Resources

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.app import Devarch

pytestmark = [pytest.mark.docker, pytest.mark.podman]

MIB = 1024**2
LIMITS = {
    "cpu_limit": "0.5",
    "cpu_reservation": "0.25",
    "memory_limit": "64m",
    "memory_reservation": "32m",
}
#: The memory limit as the container's cgroup shows it (v2 ``memory.max``, v1 ``limit_in_bytes``).
CGROUP_MEMORY = (
    "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Return the engine under test."""
    name: str = request.param
    return name


def _host_config(client: Any, name: str) -> dict[str, Any]:
    container = client.containers.get(name)
    container.reload()
    config: dict[str, Any] = container.attrs["HostConfig"]
    return config


def _with_limits(
    make_devarch: Callable[..., Devarch], engine: str, stack: str, limits: dict[str, str]
) -> Devarch:
    devarch = make_devarch(engine)
    devarch.create_stack(stack)
    devarch.add_instance(stack, "cache", "bb-cache", overrides={"resources": limits})
    return devarch


def test_applied_limits_show_in_the_engines_inspect(engine, make_devarch, engine_client, unique):
    """NanoCpus, Memory, MemoryReservation and CpuShares match the instance's resources."""
    stack = f"{unique}res"
    devarch = _with_limits(make_devarch, engine, stack, LIMITS)
    devarch.apply(stack)
    client = engine_client(engine)
    host = _host_config(client, f"devarch-{stack}-cache")
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 64 * MIB
    assert host["MemoryReservation"] == 32 * MIB
    assert host["CpuShares"] == 256
    code, out = exec_sh(client.containers.get(f"devarch-{stack}-cache"), CGROUP_MEMORY)
    assert code == 0, out
    assert int(out.strip()) == 64 * MIB, "the engine enforces the limit in the container's cgroup"
    assert devarch.plan(stack).actions == (), "the limits converge: nothing left to do"


def test_the_plan_warns_for_exactly_the_limits_the_engine_does_not_enforce(
    engine, make_devarch, unique
):
    """Warnings name each set field missing from the engine's own ``enforces``, and no other."""
    stack = f"{unique}enf"
    devarch = _with_limits(make_devarch, engine, stack, LIMITS)
    assert devarch.runtime is not None
    enforced = devarch.runtime.info().enforces
    warned = {
        field
        for d in devarch.plan(stack).diagnostics
        if d.code == "limit-not-enforced"
        for field in Resources.FIELDS
        if field in d.message.split()
    }
    assert warned == set(Resources.FIELDS) - enforced


def test_changing_a_limit_recreates_the_container_with_the_new_value(
    engine, make_devarch, engine_client, unique
):
    """Raising memory_limit plans a modify and the recreated container has the new limit."""
    stack = f"{unique}chg"
    devarch = _with_limits(make_devarch, engine, stack, {"memory_limit": "64m"})
    devarch.apply(stack)
    client = engine_client(engine)
    first_id = client.containers.get(f"devarch-{stack}-cache").id
    devarch.set_overrides(stack, "cache", {"resources": {"memory_limit": "128m"}})
    [action] = devarch.plan(stack).actions
    assert action.action == "modify"
    assert [(c.field, c.old, c.new) for c in action.changes] == [
        ("resources.memory_limit", "64m", "128m")
    ]
    devarch.apply(stack)
    container = client.containers.get(f"devarch-{stack}-cache")
    assert container.id != first_id
    assert _host_config(client, container.name)["Memory"] == 128 * MIB


def test_no_limits_means_none_on_the_container(engine, make_devarch, engine_client, unique):
    """An instance without resources runs unlimited (0 = no limit)."""
    stack = f"{unique}none"
    devarch = _with_limits(make_devarch, engine, stack, {})
    devarch.apply(stack)
    host = _host_config(engine_client(engine), f"devarch-{stack}-cache")
    assert host["NanoCpus"] == 0
    assert host["Memory"] == 0
    assert host["MemoryReservation"] == 0


def test_more_cpus_than_the_host_has_is_flagged_in_the_plan(engine, make_devarch, unique):
    """A cpu_limit above the engine's CPU count is a cpus-above-host diagnostic.

    It is a warning where the engine accepts it (Podman), an error where it refuses it (Docker).
    """
    stack = f"{unique}cpu"
    devarch = make_devarch(engine)
    assert devarch.runtime is not None
    cpus = devarch.runtime.info().cpus
    devarch.create_stack(stack)
    devarch.add_instance(
        stack, "cache", "bb-cache", overrides={"resources": {"cpu_limit": str(cpus + 1)}}
    )
    plan = devarch.plan(stack)
    [found] = [d for d in plan.diagnostics if d.code == "cpus-above-host"]
    assert f"{cpus} CPUs" in found.message
    if engine == "docker":
        assert found.severity == "error"
        assert plan.errors == (found,)
    else:
        assert found.severity == "warning"
        assert not plan.errors


def test_a_cpu_limit_above_the_host_is_a_plan_error_on_docker(make_devarch, unique):
    """Docker refuses NanoCpus above the host's CPUs, so the plan says so up front.

    Apply refuses before creating anything (instead of failing halfway).
    """
    stack = f"{unique}cpd"
    devarch = make_devarch("docker")
    assert devarch.runtime is not None
    cpus = devarch.runtime.info().cpus
    devarch.create_stack(stack)
    devarch.add_instance(
        stack, "cache", "bb-cache", overrides={"resources": {"cpu_limit": str(cpus + 1)}}
    )
    errors = [d for d in devarch.plan(stack).errors if d.code == "cpus-above-host"]
    assert len(errors) == 1
    assert "Docker refuses it" in errors[0].message
    with pytest.raises(DevarchError):
        devarch.apply(stack)
    assert [s.state for s in devarch.status(stack)] == ["absent"]


def test_a_plan_that_only_warns_about_cpus_can_be_applied_on_podman(make_devarch, unique):
    """Podman accepts a CPU limit above the host's CPUs: the plan only warns and apply runs it."""
    stack = f"{unique}cpa"
    devarch = make_devarch("podman")
    assert devarch.runtime is not None
    cpus = devarch.runtime.info().cpus
    devarch.create_stack(stack)
    devarch.add_instance(
        stack, "cache", "bb-cache", overrides={"resources": {"cpu_limit": str(cpus + 1)}}
    )
    assert not devarch.plan(stack).errors
    devarch.apply(stack)
    assert [s.state for s in devarch.status(stack)] == ["running"]

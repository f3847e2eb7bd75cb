"""Resource limits (docs/templates.md) on fakes: validation with paths, the plan, compose, warnings.

Real engines are in ``tests/integration/test_resource_limits.py``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from devarch_core.engine import EngineInfo
from devarch_core.errors import ValidationError
from devarch_core.spec import Resources
from devarch_core.testing import (
    FakeRuntime,
    fake_devarch,
)

if TYPE_CHECKING:
    from devarch_core.app import Devarch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"
MIB = 1024**2
ALL = frozenset(Resources.FIELDS)


def make_devarch(*, cpus: int = 4, enforces: frozenset[str] = ALL) -> Devarch:
    """Return a facade on fakes whose engine has ``cpus`` CPUs and enforces ``enforces``."""
    from devarch_adapters.filesystem import load_catalog_dirs  # noqa: PLC0415 - test helper only

    info = EngineInfo(
        engine="fake",
        version="1.0",
        endpoint="memory://fake",
        cpus=cpus,
        memory=8 * 1024**3,
        enforces=enforces,
    )
    runtime = FakeRuntime(images={IMAGE: "sha256:" + "b" * 64}, engine_info=info)
    return fake_devarch(load_catalog_dirs([EXAMPLES]), runtime=runtime)


@pytest.fixture
def devarch() -> Devarch:
    """Return a facade on fakes with a stack ``s`` (4 host CPUs, every limit enforced)."""
    devarch = make_devarch()
    devarch.create_stack("s")
    return devarch


def _changes(devarch: Devarch, instance: str = "db") -> dict[str, dict[str, Any]]:
    plan = devarch.plan("s").to_data()
    action = next(a for a in plan["actions"] if a["instance"] == instance)
    return {c["field"]: c for c in action["changes"]}


def _diagnostics(devarch: Devarch, code: str) -> list[dict[str, Any]]:
    return [d for d in devarch.plan("s").to_data()["diagnostics"] if d["code"] == code]


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("cpu_limit", "lots", "not a CPU count"),
        ("cpu_limit", "-1", "below the minimum of 0.01"),
        ("cpu_reservation", "0.001", "below the minimum of 0.01"),
        ("cpu_limit", "0.123", "more than two decimals"),
        ("cpu_limit", True, "not a CPU count"),
        ("memory_limit", "lots", "not a memory size"),
        ("memory_limit", "-1", "not a memory size"),
        ("memory_limit", "1m", "below the minimum of 6m"),
        ("memory_reservation", "5m", "below the minimum of 6m"),
    ],
)
def test_a_bad_resource_value_is_a_validation_error_with_its_path(devarch, field, value, reason):
    """Bad formats, negatives, values under the minimum and extra decimals name the field's path."""
    with pytest.raises(ValidationError) as info:
        devarch.add_instance("s", "db", "bb-db", overrides={"resources": {field: value}})
    [problem] = info.value.problems
    assert problem.path == f"overrides.resources.{field}"
    assert reason in problem.message
    assert devarch.list_instances("s") == [], "a refused add leaves the store as it was"


def test_every_bad_resource_value_is_reported_at_once(devarch):
    """Several bad fields give one ValidationError listing each with its path."""
    bad = {"cpu_limit": "lots", "cpu_reservation": "0.001", "memory_limit": "1m"}
    with pytest.raises(ValidationError) as info:
        devarch.add_instance("s", "db", "bb-db", overrides={"resources": bad})
    assert sorted(p.path for p in info.value.problems) == [
        f"overrides.resources.{field}" for field in sorted(bad)
    ]


def test_an_unknown_resource_field_is_refused_with_its_path(devarch):
    """A typo such as ``cpus`` is reported at its path, not ignored."""
    with pytest.raises(ValidationError) as info:
        devarch.add_instance("s", "db", "bb-db", overrides={"resources": {"cpus": "1"}})
    assert any("resources" in p.path and "cpus" in str(p) for p in info.value.problems)


def test_set_overrides_refuses_a_bad_value_and_keeps_the_old_one(devarch):
    """A bad value through set_overrides raises with the instance's path and changes nothing."""
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": {"memory_limit": "512m"}})
    with pytest.raises(ValidationError) as info:
        devarch.set_overrides("s", "db", {"resources": {"memory_limit": "1m"}})
    assert info.value.problems[0].path == "instances.db.overrides.resources.memory_limit"
    assert devarch.get_instance("s", "db").overrides.resources.memory_limit == 512 * MIB


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ({"memory_limit": "512m"}, {"memory_reservation": "1g"}, "memory_reservation 1g is above"),
        (
            {"cpu_limit": "0.5"},
            {"cpu_reservation": "1"},
            "cpu_reservation 1 is above cpu_limit 0.5",
        ),
        ({"memory_reservation": "1g"}, {"memory_limit": "512m"}, "memory_reservation 1g is above"),
    ],
)
def test_a_reservation_above_the_merged_limit_is_refused_once_merged(
    devarch, first, second, message
):
    """Limit and reservation set by separate overrides are checked once merged (ValidationError)."""
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": first})
    try:
        devarch.set_overrides("s", "db", {"resources": second})
    except ValidationError as exc:  # refused at once: even better
        refused = exc
    else:
        with pytest.raises(ValidationError) as info:
            devarch.plan("s")
        refused = info.value
    assert any("resources" in p.path and message in p.message for p in refused.problems)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (None, {"memory_limit": "512m", "memory_reservation": "1g"}),
        ({"memory_limit": "512m"}, {"memory_reservation": "1g"}),
    ],
    ids=["one-override", "two-overrides"],
)
def test_a_reservation_above_the_merged_limit_is_refused_when_written(devarch, first, second):
    """An override whose merged resources put a reservation above its limit is never stored."""
    if first is None:
        with pytest.raises(ValidationError, match="memory_reservation 1g is above"):
            devarch.add_instance("s", "db", "bb-db", overrides={"resources": second})
        assert devarch.list_instances("s") == []
        return
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": first})
    with pytest.raises(ValidationError, match="memory_reservation 1g is above"):
        devarch.set_overrides("s", "db", {"resources": second})
    assert devarch.get_instance("s", "db").overrides.resources.memory_reservation is None


def test_a_reservation_equal_to_its_limit_is_fine(devarch):
    """A reservation equal to its limit is allowed."""
    res = {
        "memory_limit": "256m",
        "memory_reservation": "256m",
        "cpu_limit": "1",
        "cpu_reservation": "1",
    }
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": res})
    assert devarch.effective("s", "db").service.resources.to_data() == res


def test_resource_values_are_normalized(devarch):
    """``"0.50"`` CPUs and ``"1GiB"``/``1024m`` are stored and shown canonically."""
    devarch.add_instance(
        "s",
        "db",
        "bb-db",
        overrides={
            "resources": {
                "cpu_limit": "0.50",
                "memory_limit": "1GiB",
                "memory_reservation": "1024m",
            }
        },
    )
    resources = devarch.effective("s", "db").service.resources
    assert resources.cpu_limit == Decimal("0.5")
    assert resources.to_data() == {
        "cpu_limit": "0.5",
        "memory_limit": "1g",
        "memory_reservation": "1g",
    }


# -- plan, effective config, compose --------------------------------------------------------------


def test_the_plan_shows_each_resource_field_with_its_source(devarch):
    """A new instance's plan lists resources.* fields with canonical values and source user."""
    res = {
        "cpu_limit": "0.5",
        "cpu_reservation": "0.25",
        "memory_limit": "512m",
        "memory_reservation": "128m",
    }
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": res})
    changes = _changes(devarch)
    for field, value in res.items():
        change = changes[f"resources.{field}"]
        assert change["new"] == value
        assert change["old"] is None
        assert change["source"] == "user"


def test_changing_a_limit_plans_a_modify_with_old_and_new(devarch):
    """After apply, raising a limit plans ``~`` with resources.memory_limit old → new."""
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": {"memory_limit": "256m"}})
    devarch.apply("s")
    devarch.set_overrides("s", "db", {"resources": {"memory_limit": "512m"}})
    plan = devarch.plan("s")
    [action] = plan.actions
    assert action.action == "modify"
    change = next(c for c in action.changes if c.field == "resources.memory_limit")
    assert (change.old, change.new, change.source, change.forces_recreate) == (
        "256m",
        "512m",
        "user",
        True,
    )
    assert 'resources.memory_limit: "256m" → "512m"' in plan.render_text()


def test_the_effective_config_explains_resources(devarch):
    """effective().explain() has one row per resource field with its value and source."""
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": {"cpu_limit": "2"}})
    rows = {
        field: (value, source) for field, value, source in devarch.effective("s", "db").explain()
    }
    assert rows["resources.cpu_limit"] == ("2", "user")
    assert "resources.memory_limit" not in rows


def test_compose_renders_deploy_resources(devarch):
    """compose() maps limits and reservations to deploy.resources.limits/reservations."""
    res = {
        "cpu_limit": "1.5",
        "cpu_reservation": "0.25",
        "memory_limit": "1g",
        "memory_reservation": "64m",
    }
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": res})
    devarch.add_instance("s", "cache", "bb-cache")
    document = yaml.safe_load(devarch.compose("s"))
    assert document["services"]["db"]["deploy"]["resources"] == {
        "limits": {"cpus": "1.5", "memory": "1g"},
        "reservations": {"cpus": "0.25", "memory": "64m"},
    }
    assert "deploy" not in document["services"]["cache"], "no limits, no deploy section"
    single = yaml.safe_load(devarch.compose("s", "db"))
    assert single["services"]["db"]["deploy"]["resources"]["limits"]["cpus"] == "1.5"


def test_apply_passes_the_limits_to_the_engine_create_call(devarch):
    """The container spec the runtime receives carries the exact limits."""
    res = {"cpu_limit": "0.5", "memory_limit": "128m", "memory_reservation": "64m"}
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": res})
    devarch.apply("s")
    runtime = devarch.runtime
    assert isinstance(runtime, FakeRuntime)
    spec = runtime.spec("devarch-s-db")
    assert spec.resources == Resources(
        cpu_limit=Decimal("0.5"), memory_limit=128 * MIB, memory_reservation=64 * MIB
    )
    assert devarch.plan("s").actions == (), "the limits converge: nothing left to do"


# -- warnings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["cpu_limit", "cpu_reservation"])
def test_more_cpus_than_the_host_has_is_a_warning_in_the_plan(field):
    """cpu_limit/cpu_reservation above the engine's CPU count warn (cpus-above-host), not block."""
    devarch = make_devarch(cpus=2)
    devarch.create_stack("s")
    res = {field: "3"} if field == "cpu_limit" else {"cpu_limit": "4", "cpu_reservation": "3"}
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": res})
    found = [d for d in _diagnostics(devarch, "cpus-above-host") if field in d["message"]]
    assert len(found) == 1
    assert found[0]["severity"] == "warning"
    assert found[0]["instance"] == "db"
    assert "2 CPUs" in found[0]["message"]
    plan = devarch.plan("s")
    assert not plan.errors
    assert "warning: db: " + field in plan.render_text()


def test_cpus_within_the_host_give_no_warning(devarch):
    """A limit equal to the host's CPU count is not warned about."""
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": {"cpu_limit": "4"}})
    assert _diagnostics(devarch, "cpus-above-host") == []


def test_a_limit_the_engine_cannot_enforce_is_said_in_the_plan():
    """With an engine enforcing only memory_limit, each other set field gets a warning."""
    devarch = make_devarch(enforces=frozenset({"memory_limit"}))
    devarch.create_stack("s")
    res = {
        "cpu_limit": "1",
        "cpu_reservation": "0.5",
        "memory_limit": "256m",
        "memory_reservation": "128m",
    }
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": res})
    found = _diagnostics(devarch, "limit-not-enforced")
    fields = sorted(f for d in found for f in Resources.FIELDS if f in d["message"].split())
    assert fields == ["cpu_limit", "cpu_reservation", "memory_reservation"]
    assert all(d["severity"] == "warning" and d["instance"] == "db" for d in found)
    assert all("cannot enforce" in d["message"] for d in found)


def test_no_limits_means_no_enforcement_warnings():
    """An instance without resources gets no limit-not-enforced warning, even on a weak engine."""
    devarch = make_devarch(enforces=frozenset())
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    assert _diagnostics(devarch, "limit-not-enforced") == []


def test_unenforced_limits_do_not_block_apply():
    """The warning is informational: apply still creates the container with the recorded limits."""
    devarch = make_devarch(enforces=frozenset())
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db", overrides={"resources": {"memory_limit": "64m"}})
    devarch.apply("s")
    runtime = devarch.runtime
    assert isinstance(runtime, FakeRuntime)
    assert runtime.spec("devarch-s-db").resources.memory_limit == 64 * MIB

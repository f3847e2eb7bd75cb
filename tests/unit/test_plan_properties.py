"""Plan convergence laws on the fake engine, for generated stacks (hypothesis).

Stacks are random subsets of the example templates under random instance names, with random
environment overrides and enabled flags. Laws: after a successful apply a new plan is empty;
applying twice touches no container the second time; a plan's action order is deterministic
(the same for the same stack, whatever order its instances were added in); a stack whose plan
has errors is refused and nothing is created.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.errors import WiringError
from devarch_core.planning import Plan
from devarch_core.testing import (
    FakeRuntime,
    fake_devarch,
)

if TYPE_CHECKING:
    from devarch_core.app import Devarch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
CATALOG = load_catalog_dirs([EXAMPLES])
TEMPLATES = ("bb-cache", "bb-db", "bb-web", "bb-worker")
MUTATING = ("create_container", "start_container", "stop_container", "remove_container")
_ORDER = {"remove": 0, "modify": 1, "add": 2, "start": 3}

names = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True).filter(
    lambda n: n not in {"default", "devarch", "system", "none", "all"}
)
env_names = st.sampled_from(["APP_TITLE", "DB_HOST", "POSTGRES_DB", "REDIS_URL", "LOG_LEVEL", "X1"])
env_values = st.text(alphabet="abcxyz019 -_:/.", max_size=12)
environments = st.dictionaries(env_names, env_values, max_size=3)


@st.composite
def stacks(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Draw a stack as instance rows: name, template, enabled, env override."""
    chosen = draw(st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=5))
    instance_names = draw(st.lists(names, min_size=len(chosen), max_size=len(chosen), unique=True))
    return [
        {
            "name": name,
            "template": template,
            "enabled": draw(st.booleans()),
            "env": draw(environments),
        }
        for name, template in zip(instance_names, chosen, strict=True)
    ]


def build(rows: list[dict[str, Any]], *, stack: str = "gen") -> Devarch:
    """Build a facade on fresh fakes with one stack made of ``rows`` (added in that order)."""
    devarch = fake_devarch(CATALOG, images={"devarch-test/busybox:latest": "sha256:1"})
    devarch.create_stack(stack)
    for row in rows:
        devarch.add_instance(
            stack,
            row["name"],
            row["template"],
            enabled=row["enabled"],
            overrides={"environment": row["env"]},
        )
    return devarch


def mutations(devarch: Devarch) -> int:
    """Count the container-changing calls the fake engine has seen."""
    assert isinstance(devarch.runtime, FakeRuntime)
    return sum(len(devarch.runtime.calls_to(op)) for op in MUTATING)


def shape(plan: Plan) -> list[tuple[str, str, tuple[str, ...]]]:
    """Return each action's kind, instance and changed fields, in plan order."""
    return [(a.action, a.instance, tuple(c.field for c in a.changes)) for a in plan.actions]


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(rows=stacks())
def test_after_apply_a_new_plan_is_empty_and_a_second_apply_is_a_no_op(
    rows: list[dict[str, Any]],
) -> None:
    """A stack planning without errors converges in one apply; a second apply touches nothing."""
    devarch = build(rows)
    plan = devarch.plan("gen")
    if plan.errors:
        try:
            devarch.apply("gen")
        except WiringError:
            pass
        else:
            raise AssertionError(f"apply accepted a plan with errors: {plan.errors}")
        assert mutations(devarch) == 0
        return
    devarch.apply("gen")
    assert devarch.plan("gen").actions == ()
    before = mutations(devarch)
    assert devarch.apply("gen").plan.actions == ()
    assert mutations(devarch) == before
    assert devarch.plan("gen").actions == ()


@FAST
@given(rows=stacks(), env=environments, flips=st.lists(st.booleans(), min_size=5, max_size=5))
def test_after_changing_overrides_and_flags_apply_converges_again(
    rows: list[dict[str, Any]], env: dict[str, str], flips: list[bool]
) -> None:
    """After a first apply, new env overrides and enabled flips converge in one more apply."""
    devarch = build(rows)
    if devarch.plan("gen").errors:
        return
    devarch.apply("gen")
    for row, flip in zip(rows, flips, strict=False):
        devarch.set_overrides("gen", row["name"], {"environment": env})
        if flip:
            devarch.update_instance("gen", row["name"], enabled=not row["enabled"])
    if devarch.plan("gen").errors:
        return
    devarch.apply("gen")
    assert devarch.plan("gen").actions == ()
    before = mutations(devarch)
    devarch.apply("gen")
    assert mutations(devarch) == before


@FAST
@given(rows=stacks(), order=st.randoms(use_true_random=False))
def test_the_plan_action_order_is_deterministic(rows: list[dict[str, Any]], order: Any) -> None:
    """A stack plans the same actions in the same order, whatever order instances were added in."""
    devarch = build(rows)
    first = devarch.plan("gen")
    assert shape(devarch.plan("gen")) == shape(first)
    shuffled = list(rows)
    order.shuffle(shuffled)
    assert shape(build(shuffled).plan("gen")) == shape(first)
    keys = [(_ORDER[a.action], a.instance) for a in first.actions]
    assert keys == sorted(keys)
    assert Plan.from_json(first.to_json()) == first

"""Golden cases of the merge resolver, one YAML file per case in ``tests/data/merge``.

A case file holds::

    description: the behaviour the case proves (one sentence, shown when it fails)
    template:    template data: service, secrets, exports (name / version default to t / "1")
    injections:  [{provider, import, environment, secret: [NAMES]}]   # what resolved wires bring
    secrets:     {NAME: value}                                        # opened instance secrets
    overrides:   the instance's overrides in the manifest (devarch.yml) form
    instance:    the instance name (default ``web``; the stack is ``shop``)
    expect:
      service:             the effective service's ``to_data()``, exactly
      service_is_template: true -> the effective service equals the template's service
      sources:             {field path: source} that must hold (a subset of all sources)
      all_sources:         one source every field must have
      absent:              field paths that must not exist in the result
      secrets:             the effective config's secret variable names
      revealed:            {NAME: plaintext} the engine would see
      hidden:              strings that must never appear in to_data(), explain() or repr()
      explain:             [field, value, source] rows that explain() must contain
    error:                 instead of expect: {problems: [{path, message}]} (message: a substring)

Adding a case is adding a file; every case also checks the invariants common to all results.

See docs/architecture.md#merge-rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from devarch_core.errors import ValidationError
from devarch_core.merge import EffectiveConfig, WireInjection, resolve
from devarch_core.model import Instance, Stack
from devarch_core.overrides import Overrides
from devarch_core.secrets import Secret
from devarch_core.template import Template

CASES_DIR = Path(__file__).parents[1] / "data" / "merge"
CASES = sorted(CASES_DIR.glob("*.yaml"))
CASE_KEYS = {
    "description", "template", "injections", "secrets", "overrides", "instance", "expect", "error",
}  # fmt: skip
EXPECT_KEYS = {
    "service", "service_is_template", "sources", "all_sources", "absent", "secrets", "revealed",
    "hidden", "explain",
}  # fmt: skip


def load_case(path: Path) -> dict[str, Any]:
    """Read one case file and check its shape, so a typo in a key never silently passes."""
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(case, dict), f"{path.name}: a case is a mapping"
    assert set(case) <= CASE_KEYS, f"{path.name}: unknown keys {set(case) - CASE_KEYS}"
    assert case.get("description"), f"{path.name}: a case needs a description"
    assert ("expect" in case) != ("error" in case), f"{path.name}: give expect or error"
    assert set(case.get("expect") or {}) <= EXPECT_KEYS, f"{path.name}: unknown expect keys"
    return case


def build_template(case: dict[str, Any]) -> Template:
    """Build the case's template, validated like a catalog file."""
    return Template.from_data({"name": "t", "version": "1", **case["template"]}, origin="golden")


def build_injections(case: dict[str, Any]) -> list[WireInjection]:
    """Wire injections; names listed under ``secret`` are injected as Secret values."""
    injections = []
    for item in case.get("injections") or []:
        secret = set(item.get("secret") or [])
        env = {
            name: Secret(str(value)) if name in secret else str(value)
            for name, value in (item.get("environment") or {}).items()
        }
        injections.append(
            WireInjection(
                provider=item["provider"],
                import_name=item.get("import", item["provider"]),
                environment=env,
            )
        )
    return injections


def run_case(case: dict[str, Any]) -> EffectiveConfig:
    """Parse the overrides and resolve the case (may raise ValidationError)."""
    stack = Stack(id="stack-1", name="shop")
    name = case.get("instance", "web")
    overrides = Overrides.from_data(case.get("overrides") or {})
    instance = Instance(
        id="instance-1", stack_id=stack.id, stack=stack.name, name=name,
        template="t", template_version="1", overrides=overrides,
    )  # fmt: skip
    return resolve(
        build_template(case),
        overrides,
        stack=stack,
        instance=instance,
        injections=build_injections(case),
        secrets={k: Secret(str(v)) for k, v in (case.get("secrets") or {}).items()},
    )


def check_invariants(result: EffectiveConfig) -> None:
    """Check what holds for every result: each field has one known source; JSON round-trips."""
    assert set(result.sources) == set(result.fields()), "every field, and only fields, has a source"
    for field, source in result.sources.items():
        assert source in ("template", "user") or source.startswith("wire:"), (field, source)
    assert json.loads(json.dumps(result.to_data())) == result.to_data()
    assert [row[0] for row in result.explain()] == list(result.fields())


def check_expectations(case: dict[str, Any], template: Template, result: EffectiveConfig) -> None:
    """Compare a result with the case's ``expect`` block."""
    expect = case["expect"]
    if "service" in expect:
        assert result.service.to_data() == expect["service"]
    if expect.get("service_is_template"):
        assert result.service == template.service
    for field, source in (expect.get("sources") or {}).items():
        assert result.sources.get(field) == source, f"source of {field}"
    if "all_sources" in expect:
        assert set(result.sources.values()) == {expect["all_sources"]}
    for field in expect.get("absent") or []:
        assert field not in result.sources, f"{field} should be absent"
        assert field not in result.fields(), f"{field} should be absent"
    if "secrets" in expect:
        assert sorted(result.secret_env) == expect["secrets"]
    for name, plain in (expect.get("revealed") or {}).items():
        value = result.service.environment[name]
        assert isinstance(value, Secret), f"{name} should be a Secret"
        assert value.reveal() == plain
    shown = json.dumps(result.to_data()) + repr(result.explain()) + repr(result)
    for text in expect.get("hidden") or []:
        assert text not in shown, "a secret value leaked"
    rows = [list(row) for row in result.explain()]
    for row in expect.get("explain") or []:
        assert row in rows, f"explain() lacks {row}"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_merge_golden_case(path: Path) -> None:
    """Each golden case's template, wires and overrides resolve to the expected result."""
    case = load_case(path)
    if "error" in case:
        with pytest.raises(ValidationError) as caught:
            run_case(case)
        problems = [(p.path, p.message) for p in caught.value.problems]
        for wanted in case["error"]["problems"]:
            found = any(p == wanted["path"] and wanted["message"] in m for p, m in problems)
            assert found, f"missing problem {wanted} in {problems}"
        return
    result = run_case(case)
    check_invariants(result)
    check_expectations(case, build_template(case), result)
    assert run_case(case) == result, "resolve is deterministic"


def test_golden_cases_cover_every_merge_rule() -> None:
    """There is a golden case per row of the merge table (docs/architecture.md#merge-rules)."""
    stems = {p.stem.split("-")[0] for p in CASES}
    rules = {"scalars", "env", "labels", "ports", "volumes", "domains", "depends", "healthcheck"}
    assert rules | {"config", "resources", "secrets", "empty"} <= stems

"""Golden wiring cases: each `tests/data/wiring/*.yaml` file is a stack and what the solver says.

A case file holds:

- ``stack``: the stack name (container names, hints);
- ``templates``: inline templates in the template file format;
- ``instances``: ``name -> {template, enabled, overrides, secrets}`` (``overrides`` in the manifest
  format, ``secrets`` the instance's secret values);
- ``wires``: explicit wires in the manifest format (``{consumer, import, provider, export}``);
- ``expect``: ``wires`` (every resolved wire), ``diagnostics`` (every diagnostic: code, severity,
  consumer, import, optional candidates and message fragments), optional ``ok``, ``waves``
  (start order), ``cycle`` (``dependency_waves`` raises naming it) and ``effective``
  (per consumer: expected environment after the full merge, ``{secret: VALUE}`` for a value that
  must stay a Secret, its sources and depends_on);
- ``then``: optional further steps, each with its own ``wires`` and ``expect``, on the same stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devarch_core.errors import WiringError
from devarch_core.merge import EffectiveConfig, resolve
from devarch_core.model import Instance, Stack, Wire
from devarch_core.naming import container_name
from devarch_core.overrides import Overrides
from devarch_core.secrets import Secret
from devarch_core.template import Template
from devarch_core.wiring import (
    WiringNode,
    WiringPlan,
    dependency_edges,
    dependency_waves,
    injections_for,
    solve_wiring,
)

CASES_DIR = Path(__file__).parent.parent / "data" / "wiring"
CASES = sorted(CASES_DIR.glob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: a case is a mapping"
    return data


class Case:
    """A parsed case file: its stack, templates, instances and wiring nodes."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.stack = Stack(id="stack-1", name=data.get("stack", "shop"))
        self.templates = {t["name"]: Template.from_data(t) for t in data["templates"]}
        self.instances: dict[str, Instance] = {}
        self.secrets: dict[str, dict[str, Secret]] = {}
        for name, raw in data["instances"].items():
            template = self.templates[raw["template"]]
            self.instances[name] = Instance(
                id=f"id-{name}",
                stack_id=self.stack.id,
                stack=self.stack.name,
                name=name,
                template=template.name,
                template_version=template.version,
                enabled=raw.get("enabled", True),
                overrides=Overrides.from_data(raw.get("overrides") or {}),
            )
            self.secrets[name] = {k: Secret(v) for k, v in (raw.get("secrets") or {}).items()}
        self.nodes = [self._node(i) for i in self.instances.values()]

    def _node(self, instance: Instance) -> WiringNode:
        template = self.templates[instance.template]
        deps = set(template.service.depends_on)
        for dep, keep in instance.overrides.depends_on.items():
            if keep:
                deps.add(dep)
            else:
                deps.discard(dep)
        return WiringNode(
            name=instance.name, enabled=instance.enabled, template=template, depends_on=deps
        )

    def effective(self, plan: WiringPlan) -> dict[str, EffectiveConfig]:
        """Resolve every enabled instance, providers first, with its wires injected."""
        configs: dict[str, EffectiveConfig] = {}
        for wave in dependency_waves(dependency_edges(self.nodes, plan)):
            for name in wave:
                instance = self.instances[name]
                injections = injections_for(
                    name,
                    self.nodes,
                    plan,
                    containers={n: container_name(self.stack.name, n) for n in self.instances},
                    environments={n: c.service.environment for n, c in configs.items()},
                    stack=self.stack.name,
                )
                configs[name] = resolve(
                    self.templates[instance.template],
                    instance.overrides,
                    stack=self.stack,
                    instance=instance,
                    injections=injections,
                    secrets=self.secrets[name],
                )
        return configs


def _wires(data: list[dict[str, Any]] | None) -> list[Wire]:
    return [
        Wire(
            consumer=w["consumer"],
            import_name=w["import"],
            provider=w["provider"],
            export_name=w.get("export"),
        )
        for w in data or []
    ]


def _steps(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    steps = [("step 0", {"wires": data.get("wires"), "expect": data["expect"]})]
    steps += [(f"then[{i}]", step) for i, step in enumerate(data.get("then") or [])]
    return steps


def _check_plan(plan: WiringPlan, expect: dict[str, Any]) -> None:
    wires = [w.to_data() for w in plan.wires]
    expected_wires = [{"explicit": False, **w} for w in expect.get("wires") or []]
    assert wires == expected_wires
    expected_diagnostics = expect.get("diagnostics") or []
    got = [
        {"code": d.code, "severity": d.severity, "consumer": d.consumer, "import": d.import_name}
        for d in plan.diagnostics
    ]
    want = [
        {k: d[k] for k in ("code", "severity", "consumer")} | {"import": d.get("import", "")}
        for d in expected_diagnostics
    ]
    assert got == want, "\n".join(str(d) for d in plan.diagnostics)
    for diagnostic, expected in zip(plan.diagnostics, expected_diagnostics, strict=True):
        if "candidates" in expected:
            assert list(diagnostic.candidates) == expected["candidates"]
        for fragment in expected.get("message_contains") or []:
            assert fragment in diagnostic.message
    if "ok" in expect:
        assert plan.ok is expect["ok"]
    else:
        assert plan.ok is not any(d["severity"] == "error" for d in expected_diagnostics)


def _check_effective(case: Case, plan: WiringPlan, expect: dict[str, Any]) -> None:
    configs = case.effective(plan)
    for name, want in expect.items():
        config = configs[name]
        env = config.service.environment
        for variable, value in (want.get("environment") or {}).items():
            assert variable in env, f"{name} has no {variable}"
            if isinstance(value, dict):
                assert isinstance(env[variable], Secret), f"{name}.{variable} is not a Secret"
                assert env[variable].reveal() == value["secret"]  # type: ignore[union-attr]
                assert value["secret"] not in repr(config.to_data())
            else:
                assert not isinstance(env[variable], Secret), f"{name}.{variable} is a Secret"
                assert env[variable] == str(value)
        for variable in want.get("absent") or []:
            assert variable not in env
        for field, source in (want.get("sources") or {}).items():
            assert config.source_of(field) == source, field
        if "depends_on" in want:
            assert list(config.service.depends_on) == want["depends_on"]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_wiring_case(path: Path):
    """The solver's wires, diagnostics, start order and injected env match the case file."""
    data = _load(path)
    case = Case(data)
    for step, spec in _steps(data):
        expect = spec["expect"]
        plan = solve_wiring(case.nodes, _wires(spec.get("wires")), stack=case.stack.name)
        try:
            _check_plan(plan, expect)
            edges = dependency_edges(case.nodes, plan)
            if "cycle" in expect:
                with pytest.raises(WiringError) as info:
                    dependency_waves(edges)
                assert expect["cycle"] in str(info.value)
            if "waves" in expect:
                assert dependency_waves(edges) == expect["waves"]
            if "effective" in expect:
                _check_effective(case, plan, expect["effective"])
        except AssertionError as exc:
            exc.add_note(f"{path.name} {step}")
            raise


def test_wiring_cases_exist():
    """The golden case directory is not empty (a glob typo would silently test nothing)."""
    assert len(CASES) >= 8

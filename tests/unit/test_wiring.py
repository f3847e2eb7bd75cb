"""Unit tests of the wiring solver's pieces: dependency waves, injections and graph rendering."""

from __future__ import annotations

from typing import Any

import pytest

from devarch_core.errors import WiringError
from devarch_core.model import Wire
from devarch_core.rendering import wiring_graph
from devarch_core.secrets import Secret
from devarch_core.template import Export, Import, Template
from devarch_core.wiring import (
    ResolvedWire,
    WiringNode,
    dependency_waves,
    find_cycles,
    injections_for,
    render_injection,
    solve_wiring,
)


def template(name: str, *, exports: Any = (), imports: Any = (), **service: Any) -> Template:
    return Template.from_data(
        {
            "name": name,
            "version": "1",
            "service": {"image": "busybox", **service},
            "exports": list(exports),
            "imports": list(imports),
        }
    )


POSTGRES = template(
    "postgres",
    environment={"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw"},
    exports=[{"name": "db", "type": "postgres", "port": 5432, "env": {"DB_HOST": "${host}"}}],
)
REDIS = template(
    "redis", exports=[{"name": "cache", "type": "redis", "port": 6379, "env": {"H": "${host}"}}]
)
APP = template(
    "app",
    imports=[
        {"name": "db", "type": "postgres"},
        {"name": "cache", "type": "redis", "required": False},
    ],
)


def node(name: str, tmpl: Template, *, enabled: bool = True) -> WiringNode:
    return WiringNode(name=name, enabled=enabled, template=tmpl)


# dependency_waves


def test_waves_of_nothing_are_empty():
    """No instances give no waves."""
    assert dependency_waves({}) == []


def test_independent_instances_start_together_in_name_order():
    """Instances without dependencies form one sorted wave."""
    assert dependency_waves({"web": [], "db": [], "cache": ()}) == [["cache", "db", "web"]]


def test_dependencies_start_in_earlier_waves():
    """A diamond starts its root first, both middles together, then the top."""
    edges = {"web": ["api", "worker"], "api": ["db"], "worker": ["db"], "db": []}
    assert dependency_waves(edges) == [["db"], ["api", "worker"], ["web"]]


def test_a_wave_waits_for_its_slowest_dependency():
    """An instance depending on a chain and a root goes after the end of the chain."""
    edges = {"a": ["b", "c"], "b": ["c"], "c": []}
    assert dependency_waves(edges) == [["c"], ["b"], ["a"]]


def test_unknown_and_self_dependencies_are_ignored():
    """Dependencies on non-keys (unknown, disabled instances) or on oneself do not count."""
    assert dependency_waves({"web": ["ghost", "web"], "db": ["disabled-db"]}) == [["db", "web"]]


def test_waves_accept_any_iterables():
    """Edges may be sets, tuples or generators."""
    edges = {"web": {"db"}, "db": (), "job": (d for d in ["db"])}
    assert dependency_waves(edges) == [["db"], ["job", "web"]]


def test_a_two_instance_cycle_is_named_in_order():
    """Two instances depending on each other raise a WiringError naming the cycle."""
    with pytest.raises(WiringError, match=r"dependency cycle: api -> web -> api"):
        dependency_waves({"web": ["api"], "api": ["web"], "db": []})


def test_a_longer_cycle_is_named_along_its_edges():
    """A three-instance cycle is named following the dependency direction from its smallest name."""
    with pytest.raises(WiringError) as info:
        dependency_waves({"c": ["a"], "a": ["b"], "b": ["c"]})
    assert "a -> b -> c -> a" in str(info.value)


def test_every_independent_cycle_is_named():
    """Two separate cycles are both reported; instances only downstream of a cycle are not."""
    edges = {"a": ["b"], "b": ["a"], "x": ["y"], "y": ["x"], "top": ["a"], "db": []}
    with pytest.raises(WiringError) as info:
        dependency_waves(edges)
    message = str(info.value)
    assert "dependency cycles: a -> b -> a; x -> y -> x" in message
    assert "top" not in message
    assert "db" not in message


def test_find_cycles_returns_the_shortest_cycle_through_the_smallest_member():
    """Within a tangle, the reported cycle is the shortest one through its smallest instance."""
    edges = {"a": ["b", "c"], "b": ["c"], "c": ["a"]}
    assert find_cycles(edges) == [("a", "c")]
    assert find_cycles({"a": ["b"], "b": []}) == []


# render_injection

WIRE = ResolvedWire(
    consumer="web", import_name="db", provider="db", export_name="db", explicit=False
)


def test_injection_expands_host_port_and_protocol():
    """${host} is the provider's container, ${port} the export's container port."""
    export = Export(
        name="db",
        type="postgres",
        port=5432,
        env={"URL": "${protocol}://${host}:${port}", "WHO": "${name}"},
    )
    injection = render_injection(
        WIRE, Import(name="db", type="postgres"), export, "devarch-s-db", {}
    )
    assert injection.provider == "db"
    assert injection.import_name == "db"
    assert dict(injection.environment) == {"URL": "tcp://devarch-s-db:5432", "WHO": "db"}


def test_injection_renames_then_prefixes_variables():
    """Import.rename applies first, then the prefix, to every injected variable."""
    export = Export(name="db", type="postgres", port=5432, env={"DB_HOST": "${host}", "X": "1"})
    imp = Import(name="db", type="postgres", prefix="MAIN_", rename={"DB_HOST": "HOST"})
    injection = render_injection(WIRE, imp, export, "c", {})
    assert dict(injection.environment) == {"MAIN_HOST": "c", "MAIN_X": "1"}


def test_injection_reads_the_providers_effective_env():
    """${env.NAME} takes the provider's effective value; plain values stay plain strings."""
    export = Export(name="db", type="postgres", env={"USER": "${env.POSTGRES_USER}"})
    injection = render_injection(
        WIRE, Import(name="db", type="postgres"), export, "c", {"POSTGRES_USER": "shop"}
    )
    assert injection.environment["USER"] == "shop"
    assert not isinstance(injection.environment["USER"], Secret)


def test_a_value_built_from_a_secret_is_a_secret():
    """Any value that reads a Secret through ${env.X} is a Secret, and its repr hides it."""
    export = Export(
        name="db",
        type="postgres",
        port=5432,
        env={"URL": "pg://${env.U}:${env.P}@${host}:${port}", "PASSWORD": "${env.P}"},
    )
    env: dict[str, str | Secret] = {"U": "app", "P": Secret("hunter2")}
    injection = render_injection(WIRE, Import(name="db", type="postgres"), export, "h", env)
    url = injection.environment["URL"]
    assert isinstance(url, Secret)
    assert url.reveal() == "pg://app:hunter2@h:5432"
    assert injection.environment["PASSWORD"] == Secret("hunter2")
    assert "hunter2" not in repr(injection)


def test_a_missing_provider_variable_names_provider_and_variable():
    """${env.X} the provider does not have raises a WiringError naming both."""
    export = Export(name="db", type="postgres", env={"DB_NAME": "${env.POSTGRES_DB}"})
    with pytest.raises(WiringError, match=r"provider db has no environment variable POSTGRES_DB"):
        render_injection(WIRE, Import(name="db", type="postgres"), export, "c", {})


def test_port_without_an_export_port_is_an_error():
    """${port} on an export without a port raises a WiringError."""
    export = Export(name="db", type="postgres", env={"P": "${port}"})
    with pytest.raises(WiringError, match=r"uses \$\{port\}, but the export has no port"):
        render_injection(WIRE, Import(name="db", type="postgres"), export, "c", {})


def test_stack_reference_needs_the_stack():
    """${stack} expands to the stack given, and is an unknown reference without one."""
    export = Export(name="db", type="postgres", env={"S": "${stack}"})
    imp = Import(name="db", type="postgres")
    assert render_injection(WIRE, imp, export, "c", {}, stack="shop").environment["S"] == "shop"
    with pytest.raises(WiringError, match="unknown reference"):
        render_injection(WIRE, imp, export, "c", {})


def test_rendering_with_contracts_of_another_wire_is_refused():
    """The import and export given must be the ones the wire names."""
    export = Export(name="other", type="postgres")
    with pytest.raises(WiringError, match="rendered with"):
        render_injection(WIRE, Import(name="db", type="postgres"), export, "c", {})


def test_injections_for_renders_every_wire_of_a_consumer():
    """injections_for renders the consumer's wires with the providers' containers and envs."""
    nodes = [node("db", POSTGRES), node("cache", REDIS), node("web", APP)]
    plan = solve_wiring(nodes, [])
    injections = injections_for(
        "web",
        nodes,
        plan,
        containers={"db": "c-db", "cache": "c-cache"},
        environments={"db": {}, "cache": {}},
    )
    assert [(i.import_name, dict(i.environment)) for i in injections] == [
        ("cache", {"H": "c-cache"}),
        ("db", {"DB_HOST": "c-db"}),
    ]


def test_two_imports_injecting_one_variable_is_an_error():
    """Two imports of one type without prefix would overwrite each other: WiringError."""
    twice = template(
        "twice",
        imports=[{"name": "a", "type": "postgres"}, {"name": "b", "type": "postgres"}],
    )
    nodes = [node("db", POSTGRES), node("db2", POSTGRES), node("web", twice)]
    plan = solve_wiring(
        nodes,
        [
            Wire(consumer="web", import_name="a", provider="db"),
            Wire(consumer="web", import_name="b", provider="db2"),
        ],
    )
    assert plan.ok
    with pytest.raises(WiringError, match="both inject DB_HOST; give one of them a prefix"):
        injections_for(
            "web",
            nodes,
            plan,
            containers={"db": "x", "db2": "y"},
            environments={"db": {}, "db2": {}},
        )


# solve_wiring details


def test_solution_does_not_depend_on_input_order():
    """The same nodes and wires in another order give the same plan."""
    nodes = [node("db", POSTGRES), node("db2", POSTGRES), node("cache", REDIS), node("web", APP)]
    wires = [Wire(consumer="web", import_name="db", provider="db2")]
    assert solve_wiring(nodes, wires) == solve_wiring(list(reversed(nodes)), wires)


def test_an_instance_given_twice_is_refused():
    """Two nodes with one name are a caller bug, refused loudly."""
    with pytest.raises(WiringError, match="given twice"):
        solve_wiring([node("db", POSTGRES), node("db", POSTGRES)], [])


def test_hint_uses_a_placeholder_without_a_stack():
    """Without a stack name the explicit-wire hint says STACK."""
    plan = solve_wiring([node("a", POSTGRES), node("b", POSTGRES), node("web", APP)], [])
    assert "devarch wire add STACK web db PROVIDER" in plan.errors[0].message


def test_several_matching_exports_of_one_instance_are_ambiguous():
    """One instance exporting the type twice is ambiguous between its exports."""
    dual = template(
        "dual",
        exports=[
            {"name": "rw", "type": "postgres", "port": 5432},
            {"name": "ro", "type": "postgres", "port": 5433},
        ],
    )
    nodes = [node("pg", dual), node("web", APP)]
    plan = solve_wiring(nodes, [])
    db = next(d for d in plan.diagnostics if d.import_name == "db")
    assert (db.code, db.candidates) == ("ambiguous", ("pg.ro", "pg.rw"))
    pinned = solve_wiring(
        nodes, [Wire(consumer="web", import_name="db", provider="pg", export_name="ro")]
    )
    assert pinned.wire("web", "db") == ResolvedWire(
        consumer="web", import_name="db", provider="pg", export_name="ro", explicit=True
    )
    unnamed = solve_wiring(nodes, [Wire(consumer="web", import_name="db", provider="pg")])
    assert "exports postgres several times (rw, ro); name the export" in unnamed.errors[0].message


def test_disabled_consumers_get_no_wires_and_no_diagnostics():
    """A disabled instance's imports are neither wired nor diagnosed."""
    plan = solve_wiring([node("web", APP, enabled=False)], [])
    assert plan.wires == ()
    assert plan.diagnostics == ()
    assert plan.ok


def test_template_depends_on_takes_part_in_cycle_detection():
    """A wire against a depends_on edge is a cycle diagnostic."""
    needy_db = template(
        "needy",
        depends_on=["web"],
        exports=[{"name": "db", "type": "postgres", "port": 5432}],
    )
    plan = solve_wiring([node("db", needy_db), node("web", APP)], [])
    cycle = next(d for d in plan.diagnostics if d.code == "cycle")
    assert "db -> web -> db" in cycle.message
    assert cycle.import_name == ""  # db depends on web through depends_on, not a wire
    assert not plan.ok


def test_raise_for_errors_lists_every_error():
    """raise_for_errors raises one WiringError listing all errors, and nothing when ok."""
    plan = solve_wiring([node("web", APP)], [Wire(consumer="web", import_name="x", provider="y")])
    with pytest.raises(WiringError) as info:
        plan.raise_for_errors()
    assert "wiring has 2 errors" in str(info.value)
    solve_wiring([node("db", POSTGRES), node("web", APP)], []).raise_for_errors()


def test_plan_to_data_is_plain():
    """to_data gives the plan JSON's wiring and diagnostics lists."""
    plan = solve_wiring([node("db", POSTGRES), node("web", APP)], [])
    assert plan.to_data() == {
        "wiring": [
            {"consumer": "web", "import": "db", "provider": "db", "export": "db", "explicit": False}
        ],
        "diagnostics": [
            {
                "severity": "warning",
                "code": "missing",
                "consumer": "web",
                "import": "cache",
                "message": plan.diagnostics[0].message,
                "candidates": [],
            }
        ],
    }


# wiring_graph

GRAPH_NODES = [
    node("web", APP),
    node("db", POSTGRES),
    node("old", REDIS, enabled=False),
]


def test_mermaid_graph_draws_wires_and_missing_imports():
    """Mermaid: nodes, a labelled edge per wire, a dashed edge to a placeholder when missing."""
    plan = solve_wiring(GRAPH_NODES, [])
    assert wiring_graph(GRAPH_NODES, plan, fmt="mermaid") == (
        "graph LR\n"
        '  db["db (postgres)"]\n'
        '  old["old (redis, disabled)"]\n'
        '  web["web (app)"]\n'
        "  web -->|db: postgres| db\n"
        '  UNWIRED_1(["missing redis"])\n'
        "  web -.->|cache: redis| UNWIRED_1\n"
        "  class UNWIRED_1 optional\n"
        "  class old disabled\n"
        "  classDef disabled stroke-dasharray: 5 5,color:#888\n"
        "  classDef unwired stroke:#c00,stroke-dasharray: 5 5,color:#c00\n"
        "  classDef optional stroke:#888,stroke-dasharray: 5 5,color:#888\n"
    )


def test_dot_graph_draws_wires_and_missing_imports():
    """DOT output: a digraph named after the stack, labelled edges, a dashed placeholder."""
    plan = solve_wiring(GRAPH_NODES, [])
    assert wiring_graph(GRAPH_NODES, plan, fmt="dot", stack="shop") == (
        'digraph "shop" {\n'
        "  rankdir=LR;\n"
        "  node [shape=box];\n"
        '  "db" [label="db (postgres)"];\n'
        '  "old" [label="old (redis)", style=dashed, fontcolor=gray];\n'
        '  "web" [label="web (app)"];\n'
        '  "web" -> "db" [label="db: postgres"];\n'
        '  "web/cache?" [label="missing redis", shape=ellipse, style=dashed, color=gray, '
        "fontcolor=gray];\n"
        '  "web" -> "web/cache?" [label="cache: redis", style=dashed, color=gray];\n'
        "}\n"
    )


def test_graph_marks_explicit_wires_and_ambiguity():
    """Explicit wires are bold; an ambiguous required import points at a red placeholder."""
    nodes = [node("a", POSTGRES), node("b", POSTGRES), node("c1", REDIS), node("c2", REDIS)]
    nodes += [node("web", APP)]
    plan = solve_wiring(nodes, [Wire(consumer="web", import_name="cache", provider="c2")])
    mermaid = wiring_graph(nodes, plan, fmt="mermaid")
    assert "  web ==>|cache: redis| c2\n" in mermaid
    assert '  UNWIRED_1(["ambiguous postgres: a #124; b"])\n' in mermaid
    assert "  class UNWIRED_1 unwired\n" in mermaid
    dot = wiring_graph(nodes, plan, fmt="dot")
    assert '  "web" -> "c2" [label="cache: redis", style=bold];\n' in dot
    assert "color=red" in dot


def test_graph_is_deterministic_and_escapes_names():
    """Node order does not change the text; Mermaid keywords and quotes are escaped."""
    quoted = template("quoted", exports=[{"name": "q", "type": 'say"hi', "port": 1}])
    consumer = template("end", imports=[{"name": "q", "type": 'say"hi'}])
    nodes = [node("end", consumer), node("my-svc", quoted)]
    plan = solve_wiring(nodes, [])
    text = wiring_graph(nodes, plan, fmt="mermaid")
    assert text == wiring_graph(list(reversed(nodes)), plan, fmt="mermaid")
    assert "  N_end -->|q: say#quot;hi| my_svc\n" in text
    dot = wiring_graph(nodes, plan, fmt="dot")
    assert '"end" -> "my-svc" [label="q: say\\"hi"];' in dot


def test_graph_draws_invalid_wires_as_placeholders_and_skips_unknown_consumers():
    """An import pinned by an invalid wire points at an "invalid wire" placeholder."""
    nodes = [node("cache", REDIS), node("web", APP)]
    wires = [
        Wire(consumer="web", import_name="db", provider="cache"),
        Wire(consumer="ghost", import_name="db", provider="cache"),
    ]
    plan = solve_wiring(nodes, wires)
    text = wiring_graph(nodes, plan, fmt="mermaid")
    assert '  UNWIRED_1(["invalid wire (postgres)"])\n' in text
    assert "ghost" not in text
    with pytest.raises(ValueError, match="unknown graph format 'svg'"):
        wiring_graph(nodes, plan, fmt="svg")  # type: ignore[arg-type]


def test_a_single_error_is_raised_as_is_and_warnings_are_separate():
    """One error raises its own message; warnings are listed apart and print with severity."""
    plan = solve_wiring([node("web", APP)], [])
    assert [d.import_name for d in plan.warnings] == ["cache"]
    assert str(plan.warnings[0]).startswith("warning: web: optional import 'cache'")
    with pytest.raises(WiringError) as info:
        plan.raise_for_errors()
    assert str(info.value) == plan.errors[0].message


def test_injections_for_refuses_a_plan_from_other_templates():
    """A wire naming an export the provider's template lacks is refused."""
    nodes = [node("db", POSTGRES), node("web", APP)]
    plan = solve_wiring(nodes, [])
    other = [node("db", template("postgres", exports=[{"name": "x", "type": "postgres"}]))]
    with pytest.raises(WiringError, match="does not match the templates"):
        injections_for("web", [*other, nodes[1]], plan, containers={}, environments={})


# optional imports and cycles (issue 11 item 26)

PEER = template(
    "peer",
    exports=[{"name": "api", "type": "http", "port": 8080, "env": {"PEER_URL": "${host}"}}],
    imports=[{"name": "peer", "type": "http", "required": False}],
)


def test_two_peers_never_auto_wire_each_other_into_a_cycle():
    """Two instances whose optional import matches the other's export: one wire, no cycle."""
    plan = solve_wiring([node("a", PEER), node("b", PEER)], stack="s")
    assert [(w.consumer, w.provider) for w in plan.wires] == [("a", "b")]
    assert plan.ok
    (info,) = plan.diagnostics
    assert (info.severity, info.code, info.consumer, info.import_name) == (
        "info",
        "cycle-skipped",
        "b",
        "peer",
    )
    assert "b -> a -> b" in info.message
    assert "devarch wire add s b peer --none" in info.message


def test_an_optional_import_can_be_left_unwired_explicitly():
    """An explicit wire with provider None keeps auto-wiring off that import, silently."""
    unwired = Wire(consumer="a", import_name="peer", provider=None)
    plan = solve_wiring([node("a", PEER), node("b", PEER)], [unwired], stack="s")
    assert [(w.consumer, w.provider) for w in plan.wires] == [("b", "a")]
    assert plan.diagnostics == ()
    app = solve_wiring(
        [node("web", APP), node("pg", POSTGRES), node("redis", REDIS)],
        [Wire(consumer="web", import_name="cache", provider=None)],
    )
    assert [w.import_name for w in app.wires] == ["db"]
    assert app.ok


def test_a_required_import_cannot_be_left_unwired():
    """A provider of None on a required import is an invalid-wire error naming why."""
    plan = solve_wiring(
        [node("web", APP), node("pg", POSTGRES)],
        [Wire(consumer="web", import_name="db", provider=None)],
    )
    (error,) = plan.errors
    assert error.code == "invalid-wire"
    assert "required import" in error.message


def test_a_cycle_of_explicit_wires_names_a_command_for_each_link():
    """A cycle error's advice is runnable: --none for an optional link, depends_on=-X for others."""
    wires = [
        Wire(consumer="a", import_name="peer", provider="b"),
        Wire(consumer="b", import_name="peer", provider="a"),
    ]
    plan = solve_wiring([node("a", PEER), node("b", PEER)], wires, stack="s")
    (cycle,) = plan.errors
    assert cycle.code == "cycle"
    assert "devarch wire add s a peer --none" in cycle.message
    assert "devarch wire add s b peer --none" in cycle.message
    db = WiringNode(name="pg", template=POSTGRES, depends_on=["web"])
    plan = solve_wiring([node("web", APP), db], stack="s")
    (cycle,) = plan.errors
    assert "devarch instance set s pg depends_on=-web" in cycle.message
    assert "devarch wire add s web db PROVIDER" in cycle.message

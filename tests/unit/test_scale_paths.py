"""The shortcuts that make plan and add scale (issue 13) give the results the long way gave.

The export index of the wiring solver, the optional-import cycle check on one growing graph, the
injection memo, the template's cached content hash and field paths, the effective config's kept
fields, the SQLite store's kept connections and parsed-overrides cache, the write rules that
load the store only when a port is pinned, and the plan reading applied records only where it
diffs.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from devarch_adapters.sqlite import SqliteStore
from devarch_core import naming
from devarch_core.catalog import Catalog
from devarch_core.errors import PortConflictError, StoreError, ValidationError
from devarch_core.merge import flatten_service
from devarch_core.model import Stack, Wire
from devarch_core.template import Template, _content_hash
from devarch_core.testing import fake_devarch
from devarch_core.wiring import (
    ResolvedWire,
    WiringNode,
    WiringPlan,
    dependency_edges,
    find_cycles,
    injections_for,
    solve_wiring,
)

if TYPE_CHECKING:
    from pathlib import Path

    from devarch_core.app import Devarch


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


def export(name: str, kind: str) -> dict[str, Any]:
    return {"name": name, "type": kind, "port": 1, "env": {f"{name.upper()}_HOST": "${host}"}}


PG = template("pg", exports=[export("db", "postgres")])
TWO_PG = template("twopg", exports=[export("main", "postgres"), export("replica", "postgres")])
REDIS = template("redis", exports=[export("cache", "redis")])
APP = template(
    "app",
    imports=[
        {"name": "db", "type": "postgres"},
        {"name": "cache", "type": "redis", "required": False},
    ],
)
#: Imports a redis (optional) and exports one: two of them may wire to each other.
RELAY = template(
    "relay",
    exports=[export("cache", "redis")],
    imports=[{"name": "up", "type": "redis", "required": False}],
)


def node(name: str, tmpl: Template, *, enabled: bool = True) -> WiringNode:
    return WiringNode(name=name, enabled=enabled, template=tmpl)


# -- the wiring solver's export index ------------------------------------------------------------


def test_auto_wiring_picks_the_one_enabled_provider_whatever_the_node_order() -> None:
    """A disabled provider does not count; the consumer never wires to itself."""
    nodes = [node("app", APP), node("old", PG, enabled=False), node("db", PG), node("r", REDIS)]
    for order in (nodes, nodes[::-1]):
        plan = solve_wiring(order, stack="s")
        assert [(w.consumer, w.import_name, w.provider, w.export_name) for w in plan.wires] == [
            ("app", "cache", "r", "cache"),
            ("app", "db", "db", "db"),
        ]
        assert plan.diagnostics == ()


def test_ambiguous_candidates_are_the_enabled_providers_in_name_order() -> None:
    """Two providers: ambiguous, sorted; one provider exporting twice: name the export too."""
    plan = solve_wiring([node("z", PG), node("app", APP), node("a", PG), node("r", REDIS)])
    (diag,) = plan.errors
    assert (diag.code, diag.consumer, diag.import_name, diag.candidates) == (
        "ambiguous",
        "app",
        "db",
        ("a", "z"),
    )
    plan = solve_wiring([node("app", APP), node("two", TWO_PG), node("r", REDIS)])
    (diag,) = plan.errors
    assert diag.candidates == ("two.main", "two.replica")
    assert "naming the export" in diag.message


def test_missing_names_the_disabled_providers_that_would_do() -> None:
    """No enabled provider: missing, naming the disabled ones (sorted); optional: a warning."""
    plan = solve_wiring(
        [node("app", APP), node("y", PG, enabled=False), node("x", PG, enabled=False)]
    )
    by_import = {d.import_name: d for d in plan.diagnostics}
    assert by_import["db"].code == "missing"
    assert by_import["db"].severity == "error"
    assert "(x, y would, but are disabled)" in by_import["db"].message
    assert by_import["cache"].code == "missing"
    assert by_import["cache"].severity == "warning"
    assert "would, but" not in by_import["cache"].message


def test_an_explicit_wire_settles_an_ambiguous_import() -> None:
    """Explicit wires win over the index; an explicit wire to a disabled provider is invalid."""
    nodes = [node("app", APP), node("a", PG), node("b", PG), node("off", PG, enabled=False)]
    plan = solve_wiring(nodes, [Wire(consumer="app", import_name="db", provider="b")])
    assert plan.wire("app", "db") == ResolvedWire(
        consumer="app", import_name="db", provider="b", export_name="db", explicit=True
    )
    assert [d.code for d in plan.diagnostics] == ["missing"]  # the optional cache
    plan = solve_wiring(nodes, [Wire(consumer="app", import_name="db", provider="off")])
    assert [d.code for d in plan.errors] == ["invalid-wire"]
    assert plan.wire("app", "db") is None


def _reference_candidates(nodes: list[WiringNode], consumer: str, kind: str) -> list[str]:
    """What a scan of every node finds for one import (the solver before the index)."""
    return [
        f"{o.name}.{e.name}"
        for o in nodes
        if o.enabled and o.name != consumer
        for e in o.template.exports
        if e.type == kind
    ]


@pytest.mark.parametrize("seed", range(12))
def test_random_stacks_wire_as_a_scan_of_every_instance_would(seed: int) -> None:
    """Required imports: wired iff exactly one candidate, else missing / ambiguous as scanned."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible stack, not a secret
    kinds = [PG, TWO_PG, REDIS, APP, RELAY]
    nodes = [node(f"i{n:02d}", rng.choice(kinds), enabled=rng.random() > 0.2) for n in range(25)]
    rng.shuffle(nodes)
    plan = solve_wiring(nodes, stack="s")
    diags = {(d.consumer, d.import_name): d for d in plan.diagnostics}
    for consumer in (n for n in nodes if n.enabled):
        for imp in consumer.template.imports:
            found = _reference_candidates(nodes, consumer.name, imp.type)
            wire = plan.wire(consumer.name, imp.name)
            key = (consumer.name, imp.name)
            if len(found) == 1:
                if imp.required:
                    assert wire is not None
                    assert f"{wire.provider}.{wire.export_name}" == found[0]
                else:  # wired, or left unwired because it would close a cycle
                    assert wire is not None or diags[key].code == "cycle-skipped"
            elif not found:
                assert wire is None
                assert diags[key].code == "missing"
            else:
                assert wire is None
                assert diags[key].code == "ambiguous"
                providers = {f.split(".")[0] for f in found}
                if len(providers) == len(found):
                    assert list(diags[key].candidates) == sorted(providers)
                else:
                    assert list(diags[key].candidates) == sorted(found)


#: A redis exporter importing nothing (so it adds no wire of its own).
PLAIN_REDIS = template("plainredis", exports=[export("cache", "redis")])


def test_optional_wires_added_earlier_count_for_the_cycle_check_of_later_ones() -> None:
    """An optional wire closing a cycle is skipped, through depends_on or an earlier wire."""
    a = WiringNode(name="a", template=RELAY, depends_on=())
    b = WiringNode(name="b", template=PLAIN_REDIS, depends_on=("a",))
    plan = solve_wiring([a, b])
    # a's one candidate is b, which depends on a: a -> b would close a cycle.
    assert plan.wire("a", "up") is None
    (info,) = plan.diagnostics
    assert (info.code, info.severity, info.candidates) == ("cycle-skipped", "info", ("b",))
    # Two relays see each other: a -> b is added first (consumer order), then b -> a would close
    # a cycle through that new wire and is skipped.
    plan = solve_wiring([node("b", RELAY), node("a", RELAY)])
    assert [(w.consumer, w.provider) for w in plan.wires] == [("a", "b")]
    (info,) = plan.diagnostics
    assert (info.code, info.consumer, info.candidates) == ("cycle-skipped", "b", ("a",))
    assert find_cycles(dependency_edges([node("a", RELAY), node("b", RELAY)], plan)) == []


# -- the injection memo ----------------------------------------------------------------------------


def test_consumers_wired_alike_share_one_rendering_but_not_across_environments() -> None:
    """The memo gives what a fresh rendering gives; another environment renders afresh."""
    env_tmpl = template(
        "pgenv",
        environment={"PW": "x"},
        exports=[
            {"name": "db", "type": "postgres", "port": 1, "env": {"URL": "${env.PW}@${host}"}}
        ],
    )
    nodes = {n.name: n for n in (node("db", env_tmpl), node("a1", APP), node("a2", APP))}
    plan = solve_wiring(list(nodes.values()))
    memo: dict[tuple[object, ...], Any] = {}
    first_env = {"PW": "one"}
    got = [
        injections_for(
            c, nodes, plan, containers={"db": "ctr"}, environments={"db": first_env}, rendered=memo
        )
        for c in ("a1", "a2")
    ]
    fresh = injections_for(
        "a1", list(nodes.values()), plan, containers={"db": "ctr"}, environments={"db": first_env}
    )
    assert got[0] == got[1] == fresh
    assert got[0][0].environment == {"URL": "one@ctr"}
    later = injections_for(
        "a2",
        nodes,
        plan,
        containers={"db": "ctr"},
        environments={"db": {"PW": "two"}},
        rendered=memo,
    )
    assert later[0].environment == {"URL": "two@ctr"}


# -- templates: cached content hash and field paths --------------------------------------------


def test_a_templates_cached_hash_is_its_content_hash_and_a_changed_template_has_its_own() -> None:
    """Computed once, equal to a fresh computation; evolve (a change) computes anew."""
    first = PG.content_hash
    assert first == _content_hash(PG)
    assert PG.content_hash is first  # cached
    changed = attrs.evolve(PG, service=attrs.evolve(PG.service, image="busybox:2"))
    assert changed.content_hash == _content_hash(changed) != first
    assert attrs.evolve(PG).content_hash == first
    assert "_memo" not in str(PG.to_data())
    assert "_memo" not in repr(PG)
    assert attrs.evolve(PG) == PG  # the cache is not part of the value
    reloaded = Template.from_data({**PG.to_data(), "description": "other"})
    assert reloaded.content_hash != first


def test_the_catalog_sees_a_changed_template_under_the_same_name() -> None:
    """A catalog rebuilt with a changed template gives the new hash (no stale cache by name)."""
    old = Catalog.from_templates([PG])
    new = Catalog.from_templates([attrs.evolve(PG, description="changed")])
    assert old.get("pg").content_hash != new.get("pg").content_hash


def test_an_effective_configs_kept_fields_are_a_fresh_flattening_and_a_copy() -> None:
    """fields() equals flatten_service(service); changing the copy changes nothing."""
    devarch = fake_devarch(Catalog.from_templates([PG, APP, REDIS]))
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "pg")
    devarch.add_instance("s", "app", "app", overrides={"environment": {"X": "1"}})
    eff = devarch.effective("s", "app")
    fields = eff.fields()
    assert fields == flatten_service(eff.service)
    assert fields["environment.X"] == "1"
    fields["environment.X"] = "changed"
    assert eff.fields()["environment.X"] == "1"
    assert (
        attrs.evolve(eff, service=attrs.evolve(eff.service, image="other")).fields()["image"]
        == "other"
    )


# -- the SQLite store's kept connections --------------------------------------------------------


def _stack(name: str) -> Stack:
    return Stack(id=f"id-{name}", name=name)


def _add_stack_in_child(path: str, name: str) -> None:
    store = SqliteStore(path)
    with store.transaction() as tx:
        tx.add_stack(_stack(name))
    store.close()


def test_threads_and_a_forked_child_each_use_their_own_connection(tmp_path: Path) -> None:
    """Writes from another thread and from a forked child are seen; the parent still works."""
    store = SqliteStore(tmp_path / "devarch.db")
    with store.transaction() as tx:
        tx.add_stack(_stack("main"))
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            with store.transaction() as tx:
                tx.add_stack(_stack("thread"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert errors == []
    # The child inherits the parent's kept connection: it must open its own.
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_use_inherited_store, args=(store, "child"))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    with store.transaction() as tx:
        assert [s.name for s in tx.list_stacks()] == ["child", "main", "thread"]
        tx.add_stack(_stack("after"))
    other = SqliteStore(tmp_path / "devarch.db")  # another store sees every commit
    with other.transaction() as tx:
        assert len(tx.list_stacks()) == 4
    other.close()
    store.close()


def _use_inherited_store(store: SqliteStore, name: str) -> None:
    with store.transaction() as tx:
        tx.add_stack(_stack(name))


def test_a_failed_transaction_rolls_back_and_the_connection_serves_the_next(tmp_path: Path) -> None:
    """An exception rolls back; the next transaction on the thread starts clean."""
    store = SqliteStore(tmp_path / "devarch.db")

    def fail() -> None:
        with store.transaction() as tx:
            tx.add_stack(_stack("gone"))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    with store.transaction() as tx:
        assert tx.list_stacks() == []
        tx.add_stack(_stack("kept"))
    with store.transaction() as tx:
        assert [s.name for s in tx.list_stacks()] == ["kept"]
    store.close()
    with pytest.raises(StoreError, match="closed"), store.transaction():
        pass


def test_close_waits_for_a_transaction_running_in_another_thread(tmp_path: Path) -> None:
    """close() during another thread's transaction: that one commits, later ones are refused."""
    store = SqliteStore(tmp_path / "devarch.db")
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with store.transaction() as tx:
                tx.add_stack(_stack("late"))
                inside.set()
                release.wait(10)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=writer)
    worker.start()
    assert inside.wait(10)
    store.close()
    release.set()
    worker.join()
    assert errors == []
    check = SqliteStore(tmp_path / "devarch.db")
    with check.transaction() as tx:
        assert [s.name for s in tx.list_stacks()] == ["late"]
    check.close()


# -- parsed overrides shared between rows --------------------------------------------------------


def test_instances_read_back_their_own_overrides_after_updates(tmp_path: Path) -> None:
    """Rows with equal overrides read back equal, others their own, updates their new ones."""
    from devarch_adapters import connect  # noqa: PLC0415

    devarch = connect(home=tmp_path, runtime="none", catalog=[])
    devarch.create_stack("s")
    for name, env in (("a", {"X": "1"}), ("b", {"X": "1"}), ("c", {"X": "2"}), ("d", None)):
        overrides = {"environment": env} if env else None
        devarch.add_instance("s", name, "redis", overrides=overrides)
    got = {i.name: i.overrides.to_data() for i in devarch.list_instances("s")}
    assert got == {
        "a": {"environment": {"X": "1"}},
        "b": {"environment": {"X": "1"}},
        "c": {"environment": {"X": "2"}},
        "d": {},
    }
    devarch.set_overrides("s", "b", {"environment": {"Y": "3"}})
    got = {i.name: i.overrides.to_data() for i in devarch.list_instances("s")}
    assert got["a"] == {"environment": {"X": "1"}}
    assert got["b"] == {"environment": {"X": "1", "Y": "3"}}
    devarch.store.close()


# -- write rules: the store is read only when a rule needs it ----------------------------------


@pytest.fixture
def devarch() -> Devarch:
    return fake_devarch(Catalog.from_templates([PG, APP, REDIS]), images={"busybox": "sha256:1"})


def test_add_refuses_a_pin_an_unapplied_instance_of_another_stack_holds(devarch: Devarch) -> None:
    """The other stack's pins are still read when the new instance pins a port."""
    devarch.create_stack("a")
    devarch.create_stack("b")
    pin = {"ports": [{"container": 1, "host": 25555}]}
    devarch.add_instance("a", "db", "pg", overrides=pin)
    with pytest.raises(PortConflictError, match="25555"):
        devarch.add_instance("b", "db", "pg", overrides=pin)
    devarch.add_instance("b", "db", "pg")  # no pin, no clash
    assert [i.name for i in devarch.list_instances("b")] == ["db"]


def test_add_checks_depends_on_against_the_stacks_instances(devarch: Devarch) -> None:
    """A depends_on entry naming an existing instance is accepted, a missing one refused."""
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "pg")
    devarch.add_instance("s", "app", "app", overrides={"depends_on": ["db"]})
    with pytest.raises(ValidationError, match="'nope', which is not an instance of stack s"):
        devarch.add_instance("s", "app2", "app", overrides={"depends_on": ["nope"]})
    with pytest.raises(ValidationError, match="depends on itself"):
        devarch.set_overrides("s", "db", {"depends_on": ["db"]})


# -- plan: applied records where the diff needs them --------------------------------------------


def test_a_changed_instance_is_diffed_against_what_was_applied(devarch: Devarch) -> None:
    """After apply, a re-plan is empty; a change shows the applied value as old, per field."""
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "pg")
    devarch.add_instance("s", "app", "app", overrides={"environment": {"X": "1"}})
    devarch.apply("s")
    assert not devarch.plan("s").has_changes
    devarch.set_overrides("s", "app", {"environment": {"X": "2"}})
    plan = devarch.plan("s")
    (action,) = plan.actions
    assert (action.action, action.instance) == ("modify", "app")
    change = next(c for c in action.changes if c.field == "environment.X")
    assert (change.old, change.new, change.source) == ("1", "2", "user")


def test_wiring_plan_of_every_consumer_is_unchanged_by_grouping() -> None:
    """The per-consumer plans resolution builds give wires_of() of the whole plan."""
    nodes = [node("db", PG), node("r", REDIS), *(node(f"a{i}", APP) for i in range(5))]
    plan = solve_wiring(nodes)
    for n in nodes:
        grouped = WiringPlan(wires=tuple(w for w in plan.wires if w.consumer == n.name))
        assert grouped.wires == plan.wires_of(n.name)


# -- statements per call do not grow with the stack ---------------------------------------------


def _statements(tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """SQL statements of the last add, the plan and the re-plan of a stack of ``size`` apps."""
    from devarch_adapters.sqlite import _store  # noqa: PLC0415
    from devarch_core.testing import FakeRuntime  # noqa: PLC0415

    count = {"n": 0}
    for name in ("query", "run"):
        real = getattr(_store._SqliteDriver, name)

        def counted(self: Any, *args: Any, _real: Any = real) -> Any:
            count["n"] += 1
            return _real(self, *args)

        monkeypatch.setattr(_store._SqliteDriver, name, counted)
    catalog = Catalog.from_templates([PG, APP, REDIS])
    from devarch_core.app import Devarch as Facade  # noqa: PLC0415
    from devarch_core.testing import (  # noqa: PLC0415
        FakeConfigFiles,
        FakePortProbe,
        InMemoryKeys,
        InMemoryStackLock,
    )

    devarch = Facade(
        store=SqliteStore(tmp_path / f"{size}.db"),
        catalog=catalog,
        keys=InMemoryKeys(),
        runtime=FakeRuntime({"busybox": "sha256:1"}),
        lock=InMemoryStackLock(),
        config_files=FakeConfigFiles(),
        port_probe=FakePortProbe(),
    )
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "pg")
    devarch.add_instance("s", "cache", "redis")
    for i in range(size - 1):
        devarch.add_instance("s", f"app{i:03d}", "app")
    found = {}
    count["n"] = 0
    devarch.add_instance("s", "last", "app")
    found["add"] = count["n"]
    count["n"] = 0
    devarch.plan("s")
    found["plan"] = count["n"]
    devarch.apply("s")
    count["n"] = 0
    devarch.plan("s")
    found["replan"] = count["n"]
    count["n"] = 0
    shown = devarch.show_stack("s")
    found["show"] = count["n"]
    assert len(shown["instances"]) == size + 2
    devarch.store.close()
    return found


def test_add_plan_replan_and_show_issue_as_many_statements_for_40_instances_as_for_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No statement per instance: a stack is read in a fixed number of queries."""
    small = _statements(tmp_path, 4, monkeypatch)
    large = _statements(tmp_path, 40, monkeypatch)
    assert large == small, (small, large)


def test_each_instance_records_the_host_ports_this_plan_allocated_for_it() -> None:
    """New host ports are grouped by instance: each container publishes its own, all recorded."""
    web = template("web", ports=["8000", "9000"])
    devarch = fake_devarch(Catalog.from_templates([web]), images={"busybox": "sha256:1"})
    devarch.create_stack("s")
    for name in ("a", "b", "c"):
        devarch.add_instance("s", name, "web")
    devarch.apply("s")
    with devarch.store.transaction() as tx:
        recorded = {(a.instance, a.container_port): a.host_port for a in tx.list_port_allocations()}
    assert sorted(recorded) == [(n, p) for n in ("a", "b", "c") for p in (8000, 9000)]
    assert len(set(recorded.values())) == 6
    runtime = devarch.runtime
    assert runtime is not None
    published = {
        (c.labels[naming.LABEL_INSTANCE_NAME], p.container): p.host_port
        for c in runtime.list_containers({})
        for p in c.ports
    }
    assert published == recorded
    assert not devarch.plan("s").has_changes

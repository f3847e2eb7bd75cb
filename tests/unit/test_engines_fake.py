"""Named engines and stacks bound to them, on the fakes (docs/engines.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.errors import ConflictError, EngineError, NotFoundError, ValidationError
from devarch_core.model import Engine
from devarch_core.naming import LABEL_STACK_NAME
from devarch_core.testing import (
    FakeEngineConnector,
    FakeRuntime,
    InMemoryKeys,
    InMemoryStore,
    fake_devarch,
)

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """Load the example busybox catalog."""
    return load_catalog_dirs([EXAMPLES])


def _rt() -> FakeRuntime:
    return FakeRuntime(images={IMAGE: "sha256:1"})


def _names(runtime: FakeRuntime, stack: str) -> set[str]:
    return {c.name for c in runtime.list_containers({LABEL_STACK_NAME: stack})}


class _Two:
    """One store, a local fake engine (the environment's) and two named ones."""

    def __init__(self, catalog: Catalog, **kw: object) -> None:
        self.store, self.keys = InMemoryStore(), InMemoryKeys()
        self.local, self.one, self.two = _rt(), _rt(), _rt()
        self.connector = FakeEngineConnector({"one": self.one, "two": self.two})
        self.catalog = catalog
        self.d = self.open(**kw)
        self.d.add_engine(Engine(name="one", endpoint="unix:///one.sock"))
        self.d.add_engine(Engine(name="two", endpoint="tcp://two:2375"))

    def open(self, **kw: object) -> Devarch:
        return fake_devarch(
            self.catalog,
            store=self.store,
            keys=self.keys,
            runtime=self.local,
            connector=self.connector,
            **kw,  # type: ignore[arg-type]
        )


def test_the_same_pinned_host_port_on_two_engines_plans_without_conflict(
    catalog: Catalog,
) -> None:
    """Host ports are per engine: two stacks pin 18080 on two engines; a third on one is refused."""
    t = _Two(catalog)
    for stack, engine in (("a", "one"), ("b", "two"), ("c", "one")):
        t.d.create_stack(stack, engine=engine)
    t.d.add_instance("a", "cache", "bb-cache", overrides={"ports": ["18080:6379"]})
    t.d.add_instance("b", "cache", "bb-cache", overrides={"ports": ["18080:6379"]})
    with pytest.raises(ConflictError, match="18080"):
        t.d.add_instance("c", "cache", "bb-cache", overrides={"ports": ["18080:6379"]})
    t.d.apply("a")
    t.d.apply("b")
    assert _names(t.one, "a") == {"devarch-a-cache"}
    assert _names(t.two, "b") == {"devarch-b-cache"}
    assert _names(t.local, "a") | _names(t.local, "b") | _names(t.two, "a") == set()
    assert [r.host_ports[0].host_port for r in t.d.status("b")] == [18080]


def test_a_bound_stack_ignores_the_environment_and_refuses_another_named_engine(
    catalog: Catalog,
) -> None:
    """Plan/status/down use the bound engine; ``--engine`` naming another one is refused."""
    t = _Two(catalog)
    t.d.create_stack("s", engine="two")
    t.d.add_instance("s", "cache", "bb-cache")
    t.d.apply("s")
    other = t.open(engine="two")
    assert other.plan("s").actions == ()
    wrong = t.open(engine="one")
    with pytest.raises(EngineError, match="stack move s --engine one"):
        wrong.plan("s")
    assert t.d.down("s") == 1
    assert _names(t.two, "s") == set()


def test_an_unbound_stack_follows_engine_then_the_store_default_then_the_environment(
    catalog: Catalog,
) -> None:
    """``engine=`` wins over ``use_engine``, which wins over the environment's engine."""
    t = _Two(catalog)
    for name in ("x", "y", "z"):
        t.d.create_stack(name)
        t.d.add_instance(name, "cache", "bb-cache")
    t.d.apply("x")  # the environment's engine, recorded under its kind's name
    assert t.d.get_stack("x").engine == "fake"
    assert _names(t.local, "x") == {"devarch-x-cache"}
    t.d.use_engine("two")
    assert t.d.engine_of("y").name == "two"
    t.open(engine="one").apply("z")
    t.d.apply("y")
    assert (t.d.get_stack("y").engine, t.d.get_stack("z").engine) == ("two", "one")
    assert [s.engine.name for s in t.d.list_engines() if s.default] == ["two"]
    t.d.use_engine(None)
    assert not [s for s in t.d.list_engines() if s.default]


def test_moving_a_stack_leaves_nothing_on_the_old_engine(catalog: Catalog) -> None:
    """``move_stack`` tears down where the stack ran, rebinds it and applies it on the new one."""
    t = _Two(catalog)
    t.d.create_stack("m", engine="one")
    t.d.add_instance("m", "cache", "bb-cache")
    t.d.apply("m")
    result = t.d.move_stack("m", "two", volumes=True)
    assert (result.source, result.target) == ("one", "two")
    assert result.down is not None
    assert result.down.containers == ("devarch-m-cache",)
    assert _names(t.one, "m") == set()
    assert t.one.list_networks({LABEL_STACK_NAME: "m"}) == []
    assert _names(t.two, "m") == {"devarch-m-cache"}
    assert t.d.plan("m").actions == ()
    with pytest.raises(ValidationError, match="already bound"):
        t.d.move_stack("m", "two")


def test_a_move_to_an_engine_that_does_not_answer_changes_nothing(catalog: Catalog) -> None:
    """The new engine must answer before anything is removed on the old one."""
    t = _Two(catalog)
    t.d.add_engine(Engine(name="gone", endpoint="tcp://gone:2375"))
    t.d.create_stack("m", engine="one")
    t.d.add_instance("m", "cache", "bb-cache")
    t.d.apply("m")
    with pytest.raises(EngineError, match="gone"):
        t.d.move_stack("m", "gone")
    assert t.d.get_stack("m").engine == "one"
    assert _names(t.one, "m") == {"devarch-m-cache"}


def test_engine_records_are_checked_and_removal_is_refused_while_bound(catalog: Catalog) -> None:
    """A bad record names each problem by path; an engine with stacks cannot be removed."""
    t = _Two(catalog)
    with pytest.raises(ValidationError) as caught:
        t.d.add_engine(Engine(name="Bad_Name", kind="lxc", endpoint="http://x"))
    text = str(caught.value)
    assert "engines.Bad_Name.name" in text
    assert "engines.Bad_Name.kind" in text
    assert "engines.Bad_Name.endpoint" in text
    with pytest.raises(ValidationError, match="exactly one"):
        t.d.add_engine(Engine(name="both", endpoint="unix:///s", context="c"))
    with pytest.raises(ConflictError, match="already exists"):
        t.d.add_engine(Engine(name="one", endpoint="unix:///x"))
    t.d.create_stack("s", engine="one")
    with pytest.raises(ConflictError, match="still has stacks"):
        t.d.remove_engine("one")
    with pytest.raises(NotFoundError, match="nowhere"):
        t.d.create_stack("t", engine="nowhere")
    t.d.use_engine("two")
    t.d.remove_engine("two")
    assert [s.engine.name for s in t.d.list_engines()] == ["one"]
    assert t.d.engine_of("s").name == "one"


def test_an_environment_engine_gets_a_free_name(catalog: Catalog) -> None:
    """An environment engine recorded at first apply never takes a name another engine has."""
    t = _Two(catalog)
    t.d.add_engine(Engine(name="fake", endpoint="tcp://elsewhere:2375"))
    t.d.create_stack("s")
    t.d.add_instance("s", "cache", "bb-cache")
    t.d.apply("s")
    assert t.d.get_stack("s").engine == "fake-2"


def test_host_ports_are_probed_only_for_engines_on_this_machine(catalog: Catalog) -> None:
    """A port busy on this host blocks a pin on a unix:// engine, not on a tcp:// one."""
    t = _Two(catalog, busy=[18081])
    t.d.create_stack("near", engine="one")
    t.d.create_stack("far", engine="two")
    for stack in ("near", "far"):
        t.d.add_instance(stack, "cache", "bb-cache", overrides={"ports": ["18081:6379"]})
    assert [d.code for d in t.d.plan("near").errors] == ["port-in-use"]
    assert t.d.plan("far").errors == ()
    assert Engine(name="c", context="remote").is_local is False
    assert Engine(name="c", context="local", host="h").is_local is True


def test_lock_and_export_digests_come_from_the_bound_engine(catalog: Catalog) -> None:
    """Image ids differ per engine: a stack bound to ``two`` locks ``two``'s, not the caller's."""
    t = _Two(catalog)
    t.two.add_image(IMAGE, "sha256:on-two")
    t.d.create_stack("s", engine="two")
    t.d.add_instance("s", "cache", "bb-cache")
    t.d.apply("s")
    assert t.d.lock_stack("s").instances["cache"].image_digest == "sha256:on-two"
    [spec] = t.d.export_manifest("s", digests=True).instances
    assert spec.image_digest == "sha256:on-two"
    t.d.create_stack("u")  # unbound: the environment's engine, as before
    t.d.add_instance("u", "cache", "bb-cache")
    assert t.d.lock_stack("u").instances["cache"].image_digest == "sha256:1"
    # init's lockfile and pins.image checks compare with the bound engine's images too.
    lockfile = t.d.lock_stack("s")
    manifest = t.d.export_manifest("s", digests=True)
    preview = t.d.preview_init(manifest, lockfile=lockfile, strict=True)
    assert not [w for w in preview.warnings if "sha256" in w], preview.warnings


def test_a_bound_stack_needs_no_engine_in_the_environment(catalog: Catalog) -> None:
    """A stack bound to a named engine works with no engine in the environment.

    A laptop without Docker plans, inspects, starts, stops, reads and re-initialises it there.
    """
    from devarch_core.app import Devarch  # noqa: PLC0415
    from devarch_core.testing import (  # noqa: PLC0415
        FakeConfigFiles,
        FakePortProbe,
        InMemoryStackLock,
        ManualClock,
    )

    t = _Two(catalog)
    t.d.create_stack("s", engine="two")
    t.d.add_instance("s", "cache", "bb-cache")
    t.d.apply("s")
    t.two.write_log("devarch-s-cache", "hello from two")
    bare = Devarch(
        store=t.store,
        catalog=catalog,
        keys=t.keys,
        runtime=None,
        lock=InMemoryStackLock(),
        config_files=FakeConfigFiles(),
        port_probe=FakePortProbe(),
        clock=ManualClock(),
        connector=t.connector,
    )
    assert bare.plan("s").actions == ()
    assert [line.text for line in bare.logs("s", "cache")] == ["hello from two"]
    assert bare.stop("s").changed == ("cache",)
    assert [r.state for r in bare.status("s")] == ["exited"]
    assert bare.start("s").changed == ("cache",)
    assert bare.running_container("s", "cache") == "devarch-s-cache"
    result = bare.init_stack(t.d.export_manifest("s"))
    assert result.applied is None or not result.applied.plan.has_changes
    assert _names(t.two, "s") == {"devarch-s-cache"}
    assert _names(t.local, "s") == set()
    # An unbound stack still needs an engine, and says how to configure one.
    bare.create_stack("u")
    bare.add_instance("u", "cache", "bb-cache")
    with pytest.raises(EngineError, match="needs a container engine"):
        bare.stop("u")

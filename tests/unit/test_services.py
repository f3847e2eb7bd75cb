"""The use cases as plain services behind the facade, and the one-pass data path.

- the facade composes services (no mixin chain) and keeps its public methods;
- ``close()`` and ``with Devarch(...)`` release the adapters once;
- a plan resolves each enabled instance exactly once, with its wires, in dependency order, so a
  provider's export reads its own injected environment;
- wires stay typed (``ResolvedWire``) until the plan writes them out.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core import usecases
from devarch_core.app import Devarch
from devarch_core.errors import StoreError
from devarch_core.merge import resolve
from devarch_core.model import Instance, Stack
from devarch_core.overrides import Overrides
from devarch_core.testing import (
    FakeRuntime,
    InMemoryKeys,
    InMemoryStackLock,
    InMemoryStore,
    fake_devarch,
)
from devarch_core.usecases import resolution
from devarch_core.usecases._helpers import Service
from devarch_core.usecases.manifests import InitInputs, ManifestService
from devarch_core.usecases.resolution import declared_depends_on
from devarch_core.wiring import ResolvedWire

if TYPE_CHECKING:
    from devarch_core.catalog import Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"

#: A provider that is itself a consumer: its export reads variables its own wire injects (the
#: template's defaults say ``unset``, which a consumer would see if relay were merged without
#: its wire).
RELAY = """\
name: relay
version: "1.0"
service:
  image: devarch-test/busybox:latest
  environment:
    DB_USER: unset
    DB_HOST: unset
    DB_PORT: "0"
exports:
  - name: dsn
    type: dsn
    env:
      UPSTREAM_USER: "${env.DB_USER}"
      UPSTREAM: "${env.DB_HOST}:${env.DB_PORT}"
imports:
  - name: db
    type: postgres
    required: true
"""

#: Consumes what the relay exports.
APP = """\
name: app
version: "1.0"
service:
  image: devarch-test/busybox:latest
imports:
  - name: upstream
    type: dsn
    required: true
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The example busybox catalog plus ``relay`` and ``app``."""
    extra = tmp_path_factory.mktemp("catalog")
    (extra / "relay.yaml").write_text(RELAY)
    (extra / "app.yaml").write_text(APP)
    return load_catalog_dirs([EXAMPLES, extra])


@pytest.fixture
def devarch(catalog: Catalog) -> Devarch:
    """A facade on fakes with stack ``s``: db -> relay -> app (``app`` sorts first)."""
    d = fake_devarch(catalog, images={IMAGE: "sha256:1"})
    d.create_stack("s")
    d.add_instance("s", "app", "app")
    d.add_instance("s", "relay", "relay")
    d.add_instance("s", "db", "bb-db")
    return d


# -- composition ---------------------------------------------------------------------------------

#: Every public method the facade had when it was a mixin chain: docs, examples, the notebook,
#: the CLI, the pytest plugin and the tests call them.
PUBLIC = {
    "add_instance", "add_wire", "apply", "check_key", "check_lock", "clone_stack", "compose",
    "create_stack", "delete_stack", "down", "down_report", "duplicate_instance", "effective",
    "export_manifest", "export_yaml", "finish_key_rotation", "get_instance", "get_stack",
    "graph", "import_manifest", "import_yaml", "init_stack", "list_instances", "list_secrets",
    "list_stacks", "list_wires", "lock_stack", "locked", "plan", "preview_init",
    "remove_instance", "remove_wire", "rename_instance", "rotate_key", "set_overrides",
    "set_secret", "set_stack_enabled", "show_instance", "show_stack", "stack_engine", "status",
    "template_for", "unset_override", "unset_secret", "update_instance", "update_stack",
}  # fmt: skip


def test_the_facade_composes_services_instead_of_inheriting_them() -> None:
    """No mixin chain: Devarch derives from ``object``, each service only from ``Service``.

    ``Service`` holds the context and nothing else, so no service inherits another's rules.
    """
    assert Devarch.__mro__ == (Devarch, object)
    modules = [
        getattr(usecases, name)
        for name in ("apply", "engines", "instances", "keys", "manifests", "planner")
    ] + [getattr(usecases, name) for name in ("secrets", "stacks", "wires")]
    services = [
        cls
        for module in modules
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__
        and cls.__name__.endswith(("Service", "Access", "Locks"))
    ]
    assert len(services) >= 10
    for cls in services:
        assert cls.__mro__ == (cls, Service, object), cls
    assert {name for name in vars(Service) if not name.startswith("__")} == set()


def test_the_facade_keeps_every_public_method_and_its_keyword_names() -> None:
    """Each public method is still there; the keyword-only parameters callers use are too."""
    missing = {name for name in PUBLIC if not callable(getattr(Devarch, name, None))}
    assert not missing
    apply = inspect.signature(Devarch.apply).parameters
    assert list(apply)[:5] == ["self", "stack", "plan", "lock_timeout", "holder"]
    assert {"lockfile", "locked", "lockfile_origin"} <= set(apply)
    init = inspect.signature(Devarch.init_stack).parameters
    assert {"lockfile", "strict", "secret_values", "environ", "lock_timeout", "confirm"} <= set(
        init
    )
    assert isinstance(Devarch.owner, property)


def test_preview_init_takes_init_inputs_and_refuses_any_other_keyword() -> None:
    """preview_init's keywords are InitInputs (init's own, less lock_timeout and confirm)."""
    assert InitInputs.__optional_keys__ == {"lockfile", "strict", "secret_values", "environ"}
    init = set(inspect.signature(Devarch.init_stack).parameters)
    assert InitInputs.__optional_keys__ | {"self", "manifest", "lock_timeout", "confirm"} == init
    service = ManifestService.__new__(ManifestService)
    with pytest.raises(TypeError, match="unexpected keyword argument 'strcit'"):
        service.preview_init(None, strcit=True)  # type: ignore[arg-type,call-arg]


class _Closing:
    """Counts ``close()`` calls (mixed into an adapter)."""

    closed = 0

    def close(self) -> None:
        self.closed += 1


class _ClosingStore(_Closing, InMemoryStore):
    pass


class _ClosingRuntime(_Closing, FakeRuntime):
    pass


class _ClosingLock(_Closing, InMemoryStackLock):
    pass


def _closable(catalog: Catalog) -> Devarch:
    return Devarch(
        store=_ClosingStore(),
        catalog=catalog,
        keys=InMemoryKeys(),
        runtime=_ClosingRuntime(),
        lock=_ClosingLock(),
    )


def test_close_closes_the_store_runtime_and_lock_once(catalog: Catalog) -> None:
    """``close()`` closes each adapter that has ``close``; a second call does nothing."""
    devarch = _closable(catalog)
    devarch.close()
    devarch.close()
    adapters: list[Any] = [devarch.store, devarch.runtime, devarch.lock]
    assert [a.closed for a in adapters] == [1, 1, 1]


def test_close_skips_adapters_without_close(catalog: Catalog) -> None:
    """The fake runtime and lock have no ``close``: only the store is closed."""
    devarch = fake_devarch(catalog)
    devarch.close()
    with pytest.raises(StoreError, match="closed"), devarch.store.transaction():
        pass


def test_the_facade_is_a_context_manager_that_closes_on_exit(catalog: Catalog) -> None:
    """``with Devarch(...) as d`` returns the facade and closes it, also after an error."""
    with _closable(catalog) as devarch:
        devarch.create_stack("cm")
        assert devarch.get_stack("cm").name == "cm"
    store: Any = devarch.store
    assert store.closed == 1
    failing = _closable(catalog)
    with pytest.raises(RuntimeError), failing:
        raise RuntimeError
    runtime: Any = failing.runtime
    assert runtime.closed == 1


# -- one pass ------------------------------------------------------------------------------------


def test_a_plan_resolves_each_enabled_instance_once(
    devarch: Devarch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wiring is solved on declared contracts, so no instance is merged twice."""
    calls: list[str] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["instance"].name)
        return resolve(*args, **kwargs)

    monkeypatch.setattr(resolution, "resolve", counting)
    devarch.plan("s")
    assert sorted(calls) == ["app", "db", "relay"]


def test_a_provider_export_reads_the_environment_its_own_wire_injected(devarch: Devarch) -> None:
    """In db -> relay -> app, relay is merged with its wire before app reads its export."""
    app = devarch.effective("s", "app")
    env = app.service.environment
    assert env["UPSTREAM_USER"] == "app"
    assert env["UPSTREAM"] == "devarch-s-db:5432"
    assert app.source_of("environment.UPSTREAM") == "wire:relay"
    devarch.set_overrides("s", "db", {"environment": {"POSTGRES_USER": "shop"}})
    assert devarch.effective("s", "app").service.environment["UPSTREAM_USER"] == "shop"


def test_wires_stay_typed_until_the_plan_writes_them(devarch: Devarch) -> None:
    """The desired state carries ``ResolvedWire`` values; the plan's ``wiring`` is their rows."""
    planner = devarch._ctx.planner
    desired = planner.desired("s")
    assert desired.wiring
    assert all(isinstance(w, ResolvedWire) for w in desired.wiring)
    assert [(w.consumer, w.provider) for w in desired.wiring] == [("app", "relay"), ("relay", "db")]
    plan = planner.make_plan(desired)
    assert list(plan.wiring) == [w.to_data() for w in desired.wiring]
    assert desired.waves == (("db",), ("relay",), ("app",))


def test_a_dependency_cycle_still_plans_and_reports_it(devarch: Devarch) -> None:
    """A cycle (db depends on app) leaves no order to resolve in: the plan still shows it."""
    devarch.add_instance("s", "db2", "bb-db", overrides={"depends_on": ["app"]})
    devarch.add_wire("s", "relay", "db", "db2")
    plan = devarch.plan("s")
    assert any(d.code == "cycle" for d in plan.errors)
    assert {a.instance for a in plan.actions} >= {"app", "relay", "db2"}


_NAMES = st.sampled_from(["a", "b", "c", "web", "db"])


@given(
    template=st.lists(_NAMES, unique=True, max_size=3),
    changes=st.dictionaries(_NAMES, st.booleans(), max_size=4),
)
def test_declared_depends_on_is_what_the_merge_gives_without_wires(
    catalog: Catalog, template: list[str], changes: dict[str, bool]
) -> None:
    """The solver's ``depends_on`` (template + user) equals the merge's result without wires."""
    base = catalog.get("bb-cache")
    tmpl = attrs.evolve(base, service=attrs.evolve(base.service, depends_on=tuple(template)))
    overrides = Overrides(depends_on=changes)
    stack = Stack(id="s1", name="s")
    inst = Instance(
        id="i1", stack_id="s1", stack="s", name="web", template=tmpl.name,
        template_version=tmpl.version, overrides=overrides,
    )  # fmt: skip
    merged = resolve(tmpl, overrides, stack=stack, instance=inst).service.depends_on
    assert declared_depends_on(tmpl, overrides, "web") == merged

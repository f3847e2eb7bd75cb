"""The facade builds each use-case service on its first use, once, whatever the threads."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from devarch_core.testing import fake_devarch
from devarch_core.usecases.apply import ApplyService
from devarch_core.usecases.engines import EngineAccess, EngineService, StackLocks
from devarch_core.usecases.instances import InstanceService
from devarch_core.usecases.keys import KeyService
from devarch_core.usecases.lifecycle import LifecycleService
from devarch_core.usecases.manifests import ManifestService
from devarch_core.usecases.planner import PlanService
from devarch_core.usecases.secrets import SecretService
from devarch_core.usecases.stacks import StackService
from devarch_core.usecases.wires import WireService

if TYPE_CHECKING:
    import pytest

    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

SERVICES = {
    "_key_service": KeyService,
    "_engines": EngineAccess,
    "_locks": StackLocks,
    "_secret_values": SecretService,
    "_instances": InstanceService,
    "_wires": WireService,
    "_planner": PlanService,
    "_applier": ApplyService,
    "_lifecycle": LifecycleService,
    "_stacks": StackService,
    "_engine_records": EngineService,
    "_manifests": ManifestService,
}


def _built(da: Devarch) -> set[str]:
    """The services the facade's context has built so far (by their old facade names)."""
    built = set(da._ctx._services)
    return {name for name, kind in SERVICES.items() if kind in built}


def test_a_new_facade_has_built_no_service(catalog: Catalog) -> None:
    """Construction builds nothing; a call builds the services it needs, and only those."""
    da = fake_devarch(catalog)
    assert _built(da) == set()
    da.create_stack("shop")
    assert "_stacks" in _built(da)
    assert "_manifests" not in _built(da)
    assert "_lifecycle" not in _built(da)
    da.status("shop")
    assert {"_applier", "_engines"} <= _built(da)
    assert "_manifests" not in _built(da)


def test_services_are_shared_and_built_once(catalog: Catalog) -> None:
    """The applier's planner and engines are the facade's own; a second read is the same object."""
    da = fake_devarch(catalog)
    ctx = da._ctx
    applier = ctx.service(ApplyService)
    assert ctx.applier is applier
    assert ctx.service(ApplyService) is applier
    assert applier._ctx.planner is ctx.service(PlanService)
    assert applier._ctx.engines is ctx.service(EngineAccess)
    assert ctx.service(StackService)._ctx.engines is ctx.engines


def test_threads_asking_at_once_get_one_service(catalog: Catalog) -> None:
    """Two threads first using the facade together share one engines/locks state."""
    for _ in range(20):
        da = fake_devarch(catalog)
        start = threading.Barrier(4)
        seen: list[object] = []

        def ask(
            da: Devarch = da, start: threading.Barrier = start, seen: list[object] = seen
        ) -> None:
            start.wait()
            seen.append(da._ctx.locks)

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({id(s) for s in seen}) == 1


def test_a_facade_method_runs_the_service_method_as_patched(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forwarded facade method looks the method up on the service when called."""
    da = fake_devarch(catalog)
    monkeypatch.setattr(WireService, "list_wires", lambda _self, stack: [stack])
    assert da.list_wires("shop") == ["shop"]  # type: ignore[comparison-overlap]

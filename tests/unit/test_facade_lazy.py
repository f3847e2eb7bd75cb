"""The facade builds each use-case service on its first use, once, whatever the threads."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from devarch_core.testing import fake_devarch

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

SERVICES = (
    "_key_service",
    "_engines",
    "_locks",
    "_secret_values",
    "_instances",
    "_wires",
    "_planner",
    "_applier",
    "_lifecycle",
    "_stacks",
    "_engine_records",
    "_manifests",
)


#: The services other services call are built in the facade's context, under these names.
SHARED = {
    "_key_service": "keys",
    "_engines": "engines",
    "_locks": "locks",
    "_secret_values": "secrets",
    "_planner": "planner",
    "_applier": "applier",
}


def _built(da: Devarch) -> set[str]:
    in_context = vars(da._ctx)
    return {name for name in SERVICES if name in vars(da) or SHARED.get(name, name) in in_context}


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
    applier = da._applier
    assert da._applier is applier
    assert applier._ctx.planner is da._planner
    assert applier._ctx.engines is da._engines
    assert da._stacks._ctx.engines is da._engines


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
            seen.append(da._locks)

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({id(s) for s in seen}) == 1


def test_an_assigned_service_replaces_the_built_one(catalog: Catalog) -> None:
    """A test or tool may still put its own service in place, as with a plain attribute."""
    da = fake_devarch(catalog)
    marker = object()
    da._wires = marker  # type: ignore[assignment]
    assert da._wires is marker

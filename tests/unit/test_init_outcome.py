"""``changed`` of init's result and of its preview: one rule over the import and the plan."""

from __future__ import annotations

import attrs
from tests.unit.test_convert import LOCKFILE, PLAN

from devarch_core.usecases.apply import ApplyResult
from devarch_core.usecases.manifests import ImportResult, InitPreview, InitResult

QUIET_PLAN = attrs.evolve(PLAN, actions=())
NO_IMPORT = ImportResult(stack="shop", created=False, actions=())
IMPORT = ImportResult(stack="shop", created=True, actions=PLAN.actions[:1])


def _result(imported: ImportResult, plan: object) -> InitResult:
    applied = ApplyResult(stack="shop", plan=plan, timings={})  # type: ignore[arg-type]
    return InitResult(imported=imported, applied=applied, lockfile=LOCKFILE)


def test_init_result_changed_by_the_import_or_the_apply() -> None:
    assert QUIET_PLAN.has_changes is False
    assert PLAN.has_changes is True
    assert not _result(NO_IMPORT, QUIET_PLAN).changed
    assert _result(IMPORT, QUIET_PLAN).changed
    assert _result(NO_IMPORT, PLAN).changed


def test_preview_changed_by_the_import_or_its_plan_if_any() -> None:
    assert not InitPreview(imported=NO_IMPORT).changed
    assert not InitPreview(imported=NO_IMPORT, plan=QUIET_PLAN).changed
    assert InitPreview(imported=NO_IMPORT, plan=PLAN).changed
    assert InitPreview(imported=IMPORT).changed


def test_field_order_is_the_import_first() -> None:
    assert [a.name for a in attrs.fields(InitResult)] == [
        "imported",
        "applied",
        "lockfile",
        "warnings",
    ]
    assert [a.name for a in attrs.fields(InitPreview)] == ["imported", "plan", "warnings"]

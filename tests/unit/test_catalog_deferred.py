"""The CLI's catalog is read on first use: commands that need no template do not parse one."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from devarch_adapters import connect
from devarch_core.catalog import Catalog, builtin_catalog
from devarch_core.errors import TemplateError

if TYPE_CHECKING:
    from pathlib import Path


def test_a_broken_template_does_not_block_commands_that_read_none(tmp_path: Path) -> None:
    """connect() and list_stacks work; the first template lookup reports the broken file."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "broken.yaml").write_text("name: [unclosed\n")
    devarch = connect(home=tmp_path / "home", runtime="none", catalog=catalog)
    devarch.create_stack("s")
    assert [s.stack.name for s in devarch.list_stacks()] == ["s"]
    with pytest.raises(TemplateError, match=r"broken\.yaml"):
        devarch.catalog.get("postgres")


def test_a_deferred_catalog_loads_once_and_then_is_its_result() -> None:
    """Every lookup answers like the loaded catalog; ``load`` runs once, also across threads."""
    calls: list[int] = []

    def load() -> Catalog:
        calls.append(1)
        return builtin_catalog()

    deferred = Catalog.deferred(load)
    assert calls == []
    threads = [threading.Thread(target=lambda: deferred.get("postgres")) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]
    assert deferred.names() == builtin_catalog().names()
    assert len(deferred) == len(builtin_catalog())
    assert "redis" in deferred
    assert deferred.get("postgres") == builtin_catalog().get("postgres")

"""The CLI runs its start-up (parsing, ``connect()``) without garbage collection, then turns it on.

Start-up allocates tens of thousands of objects that live until the process ends; collecting
among them finds nothing. The collector is on again for the command itself, and a caller that
had it off keeps it off.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import devarch_adapters.bootstrap
from devarch_adapters.cli import main

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def _spy_connect(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    seen: list[bool] = []
    real = devarch_adapters.bootstrap.connect

    def connect(**kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(**kwargs)

    monkeypatch.setattr(devarch_adapters.bootstrap, "connect", connect)
    return seen


def test_connect_runs_without_collection_and_collection_is_back_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``connect()`` sees the collector off; after ``main`` it is on, as it was before."""
    seen = _spy_connect(monkeypatch)
    assert gc.isenabled()
    code = main(["--home", str(tmp_path), "--runtime", "none", "stack", "list"])
    assert code == 0
    assert seen == [False]
    assert gc.isenabled()


def test_a_caller_with_the_collector_off_keeps_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``main`` never turns on a collector its caller had turned off."""
    _spy_connect(monkeypatch)
    gc.disable()
    try:
        assert main(["--home", str(tmp_path), "--runtime", "none", "stack", "list"]) == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_usage_error_leaves_the_collector_on(tmp_path: Path) -> None:
    """Parsing fails inside the start-up block: the collector is on again all the same."""
    assert main(["--home", str(tmp_path), "no-such-command"]) == 2
    assert gc.isenabled()
    assert main(["--help"]) == 0
    assert gc.isenabled()

"""What a ``devarch plan``/``status`` process imports stays what a no-op needs (issue 13).

A no-op ``apply`` is a plan with nothing to do; its start-up is mostly imports. These pin the
modules made lazy for it: the converter (cattrs), ``http.client`` (with email and ssl), thread
pools (with logging), ``importlib.resources`` (with zipfile), difflib, traceback, uuid and the
CLI command modules of other commands. ``tests/integration/test_noop_apply_imports.py`` checks
the real no-op ``apply`` on Docker (with ``hashlib``'s OpenSSL binding).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from tests.lazy_imports import run_devarch

from devarch_adapters.cli import _main
from devarch_core.catalog import _builtin_files

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

#: The fake engine (with the benchmark image) the composition root hands out instead of Docker.
_FAKE_ENGINE = """
from devarch_adapters import bootstrap
from devarch_core.testing import FakeRuntime

def open_runtime(kind):
    return FakeRuntime(images={"devarch-test/busybox:latest": "sha256:1"}), None

bootstrap.open_runtime = open_runtime
"""


def _devarch(home: Path, *argv: str) -> dict[str, object]:
    # No Docker context is read: the patched composition root gives the fake engine.
    return run_devarch(home, argv, docker_host="unix:///nonexistent.sock", prelude=_FAKE_ENGINE)[1]


def test_plan_and_status_import_none_of_the_lazy_modules(tmp_path: Path) -> None:
    """A plan of two instances and a status load no converter, HTTP library or pool."""
    setup: list[tuple[str, ...]] = [
        ("stack", "create", "shop"),
        ("instance", "add", "shop", "base", "bench-quit"),
        ("instance", "add", "shop", "app", "bench-quit"),
        ("instance", "set", "shop", "app", "depends_on=base"),
        ("plan", "shop"),  # the first run on an engine gives the store its owner id (uuid)
    ]
    for argv in setup:
        assert _devarch(tmp_path, *argv)["code"] == 0
    for argv in (("plan", "shop"), ("status", "shop")):
        report = _devarch(tmp_path, *argv)
        assert report == {"code": 0, "loaded": []}, argv


def _recorded(add: object, *args: object) -> list[str]:
    """The top-level commands an ``add_*_commands`` function adds."""
    names: list[str] = []

    class Sub:
        def add_parser(self, name: str, **_kwargs: object) -> argparse.ArgumentParser:
            names.append(name)
            return argparse.ArgumentParser()

    add(Sub(), *args)  # type: ignore[operator]
    return names


def test_the_command_module_table_is_what_the_modules_add() -> None:
    """``_MODULE_COMMANDS`` names every command each module adds (a missing one would vanish)."""
    from devarch_adapters.cli import (  # noqa: PLC0415
        _completion_cmds,
        _engine_cmds,
        _lifecycle_cmds,
        _manifest_cmds,
        _schema_cmds,
        _web_cmds,
    )

    found = {
        "_manifest_cmds": _recorded(
            _manifest_cmds.add_manifest_commands, _main._leaf, _main._positive_float
        ),
        "_lifecycle_cmds": _recorded(
            _lifecycle_cmds.add_lifecycle_commands, _main._leaf, _main._positive_float
        ),
        "_web_cmds": _recorded(_web_cmds.add_web_commands, _main._leaf),
        "_schema_cmds": _recorded(_schema_cmds.add_schema_commands, _main._leaf),
        "_completion_cmds": _recorded(_completion_cmds.add_completion_commands, _main._leaf),
        "_engine_cmds": _recorded(_engine_cmds.add_engine_commands, _main._leaf, _main._group),
    }
    assert {k: tuple(v) for k, v in found.items()} == _main._MODULE_COMMANDS


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _tree(parser: argparse.ArgumentParser) -> str:
    """A parser's help and that of every subcommand below it."""
    text = parser.format_help()
    sub = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in sub:
        for name, child in action.choices.items():
            text += f"\n## {name}\n" + _tree(child)
    return text


def test_each_command_built_alone_is_the_command_of_the_whole_tree() -> None:
    """Every command (with all its subcommands and options) is the same built alone."""
    whole = _commands(_main.build_parser())
    assert {"secret", "stack", "catalog", "init", "logs", "serve", "engine"} <= set(whole)
    for name, parser in whole.items():
        alone = _commands(_main.build_parser(only=name))
        assert list(alone) == [name]
        assert _tree(alone[name]) == _tree(parser), name


def test_the_builtin_templates_are_the_same_through_importlib_resources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read from the package directory, or as package data from a zip: the same files."""
    direct = [(name, entry.read_text(encoding="utf-8")) for name, entry in _builtin_files()]
    import devarch_core  # noqa: PLC0415

    monkeypatch.setattr(devarch_core.__spec__, "submodule_search_locations", [])
    through = [(name, entry.read_text(encoding="utf-8")) for name, entry in _builtin_files()]
    assert len(direct) > 10
    assert through == direct

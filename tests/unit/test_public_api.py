"""The public API: explicit, sorted exports that all resolve."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import devarch_core

PACKAGES = ["devarch_core", "devarch_core.testing", "devarch_adapters"]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_unique(package: str) -> None:
    """``__all__`` is sorted and lists each name once, so additions are reviewed explicitly."""
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    """Every name in ``__all__`` is an attribute of the package."""
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_facade_and_ports_are_exported() -> None:
    """The five-line embedding path and the ports for own adapters come from the top package."""
    for name in ("Devarch", "Plan", "Store", "Runtime", "StackLock", "KeyProvider", "DevarchError"):
        assert name in devarch_core.__all__


def test_every_public_name_imports_from_a_fresh_interpreter() -> None:
    """``from devarch_core import X`` works for each name in ``__all__`` (lazy exports resolve)."""
    code = (
        "import devarch_core\n"
        "names = list(devarch_core.__all__)\n"
        "exec('from devarch_core import ' + ', '.join(names))\n"
        "missing = [n for n in names if n not in dir(devarch_core)]\n"
        "assert not missing, missing\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_unknown_names_and_submodules_still_behave() -> None:
    """An unknown name is an AttributeError; a submodule still imports by ``from ... import``."""
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = devarch_core.no_such_name  # type: ignore[attr-defined]
    from devarch_core import naming  # noqa: PLC0415 - the submodule path under the lazy hook

    assert naming.slugify("A B") == devarch_core.slugify("A B")


def test_lazy_table_matches_all() -> None:
    """The lazy-import table lists exactly the public names (nothing exported that cannot load)."""
    assert sorted(devarch_core._LAZY) == sorted(devarch_core.__all__)

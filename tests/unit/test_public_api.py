"""The public API: explicit, sorted exports that all resolve."""

from __future__ import annotations

import importlib

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

"""Fixtures shared by the unit tests: the example catalog and a facade on the fakes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.reporting import RecordingReporter
from devarch_core.testing import fake_devarch

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

#: The busybox example catalog (``bb-db``, ``bb-web``, ...).
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
#: The image of the example templates, known to the fake engine.
IMAGE = "devarch-test/busybox:latest"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The example busybox catalog, loaded once per test module."""
    return load_catalog_dirs([EXAMPLES])


@pytest.fixture
def devarch(catalog: Catalog) -> Devarch:
    """A facade on fresh fakes over the example catalog, reporting to a recorder.

    A module that needs more (a stack already applied) overrides it, asking for this one.
    """
    return fake_devarch(catalog, images={IMAGE: "sha256:1"}, reporter=RecordingReporter())

"""The contract suites ship in the package, and pytest stays out of ``devarch_core``'s imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from devarch_core.testing import contracts

_PROBE = textwrap.dedent(
    """
    import json, sys
    import devarch_core, devarch_core.testing
    from devarch_core import Devarch
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
    """
)


def test_the_core_and_its_fakes_import_without_pytest():
    """Neither ``devarch_core`` nor ``devarch_core.testing`` imports pytest; only the suites do."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    roots = set(json.loads(result.stdout))
    assert {"pytest", "_pytest"} & roots == set()


@pytest.mark.parametrize(
    ("name", "fixture"),
    [
        ("StoreContract", "make_store"),
        ("LockContract", "make_lock"),
        ("RuntimeContract", "runtime"),
        ("EngineRuntimeContract", "engine_url"),
    ],
)
def test_each_suite_is_public_and_names_the_fixture_to_override(name, fixture):
    """Each suite is exported from ``devarch_core.testing.contracts`` with its adapter fixture."""
    assert name in contracts.__all__
    suite = getattr(contracts, name)
    assert hasattr(suite, fixture)
    assert any(attr.startswith("test_") for attr in dir(suite))


def test_the_projects_own_contract_tests_subclass_the_packaged_suites():
    """tests/contract runs the packaged suites (no private copy is left behind)."""
    from tests.contract import (  # noqa: PLC0415
        test_lock_inmemory,
        test_runtime_fake,
        test_store_inmemory,
    )

    assert issubclass(test_store_inmemory.TestInMemoryStore, contracts.StoreContract)
    assert issubclass(test_lock_inmemory.TestInMemoryStackLock, contracts.LockContract)
    assert issubclass(test_runtime_fake.TestFakeRuntime, contracts.RuntimeContract)


THIRD_PARTY_TEST = """
import pytest

from devarch_core.testing import InMemoryStackLock, InMemoryStore
from devarch_core.testing.contracts import LockContract, StoreContract


class TestTheirStore(StoreContract):
    persistent = False

    @pytest.fixture
    def make_store(self):
        return InMemoryStore


class TestTheirLock(LockContract):
    @pytest.fixture
    def make_lock(self):
        shared = InMemoryStackLock()
        return lambda: shared
"""


def test_a_third_party_project_runs_the_suites_outside_this_repository(tmp_path):
    """A test file in another directory (no devarch conftest) subclasses the suites and passes."""
    (tmp_path / "conftest.py").write_text(
        'import pytest\npytest.register_assert_rewrite("devarch_core.testing.contracts")\n'
    )
    (tmp_path / "test_their_adapter.py").write_text(THIRD_PARTY_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # their project, not this one's config
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            str(tmp_path / "pytest.ini"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "error" not in result.stdout.splitlines()[-1]

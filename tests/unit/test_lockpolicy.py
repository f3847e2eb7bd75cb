"""The lockfile policy in the core: ``Devarch.apply(..., lockfile=, locked=)`` on the fakes.

The CLI finds, reads and writes the file; these tests prove the rules without any file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pytest

from devarch_core.errors import ManifestError, NotFoundError
from devarch_core.lockpolicy import (
    DEFAULT_LOCKFILE,
    check_lockfile,
    choose_lockfile,
    lockfile_divergence,
    lockfile_name,
    refreshes,
)
from devarch_core.reporting import RecordingReporter

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.manifest import Lockfile


@pytest.fixture
def devarch(devarch: Devarch) -> Devarch:
    """Stack ``shop`` (db, web) applied on the fake engine, reporting to a recorder."""
    devarch.create_stack("shop")
    devarch.add_instance("shop", "db", "bb-db")
    devarch.add_instance("shop", "web", "bb-web")
    devarch.apply("shop")
    return devarch


def _diverged(lock: Lockfile) -> Lockfile:
    db = attrs.evolve(lock.instances["db"], image="postgres:9")
    return attrs.evolve(lock, instances={**lock.instances, "db": db})


def test_locked_apply_refuses_a_divergence_before_anything_runs(devarch: Devarch) -> None:
    """With ``locked`` a divergence is a ManifestError at the lockfile, and nothing is created."""
    locked = _diverged(devarch.lock_stack("shop"))
    devarch.add_instance("shop", "cache", "bb-cache")
    with pytest.raises(ManifestError) as caught:
        devarch.apply("shop", lockfile=locked, locked=True, lockfile_origin="shop.lock")
    text = str(caught.value)
    assert "diverges from its lockfile" in text
    assert "shop.lock" in text
    assert "db: image postgres:9" in text
    assert "cache is not in the lockfile" in text
    assert "devarch-shop-cache" not in {c.name for c in devarch.runtime.list_containers({})}  # type: ignore[union-attr]


def test_locked_apply_without_a_lockfile_is_not_found(devarch: Devarch) -> None:
    """``locked=True`` with no lockfile names the lockfile it wanted."""
    with pytest.raises(NotFoundError, match=DEFAULT_LOCKFILE):
        devarch.apply("shop", locked=True)


def test_apply_warns_on_divergence_and_returns_the_refreshed_lockfile(devarch: Devarch) -> None:
    """Without ``locked`` a divergence is a warning; the result carries the lockfile to write."""
    old = _diverged(devarch.lock_stack("shop"))
    devarch.add_instance("shop", "cache", "bb-cache")
    result = devarch.apply("shop", lockfile=old, lockfile_origin="x.lock")
    assert "db: image postgres:9 → devarch-test/busybox:latest" in result.lockfile_warnings
    assert "cache is not in the lockfile" in result.lockfile_warnings
    reporter = devarch.reporter
    assert isinstance(reporter, RecordingReporter)
    assert "x.lock: cache is not in the lockfile" in reporter.warnings
    assert result.lockfile is not None
    assert sorted(result.lockfile.instances) == ["cache", "db", "web"]
    assert result.lockfile == devarch.lock_stack("shop")
    assert devarch.check_lock("shop", result.lockfile) == []


def test_a_lockfile_is_asked_for_by_its_origin_alone(devarch: Devarch) -> None:
    """A caller with a lockfile path but no file yet gets a new lockfile to write."""
    result = devarch.apply("shop", lockfile_origin="new.lock")
    assert result.lockfile == devarch.lock_stack("shop")
    assert result.lockfile_warnings == ()


def test_no_policy_no_lockfile(devarch: Devarch) -> None:
    """A plain apply neither checks nor builds a lockfile."""
    result = devarch.apply("shop")
    assert result.lockfile is None
    assert result.lockfile_warnings == ()


def test_a_lockfile_of_another_stack_is_left_alone(devarch: Devarch) -> None:
    """Another stack's lockfile is neither checked (even with locked) nor refreshed."""
    other = attrs.evolve(_diverged(devarch.lock_stack("shop")), stack="other")
    result = devarch.apply("shop", lockfile=other, locked=True)
    assert result.lockfile is None
    assert result.lockfile_warnings == ()


def test_pure_rules() -> None:
    """Lockfile names, the choice among existing lockfiles, refresh and the lazy check."""
    assert lockfile_name("relay.yml") == "relay.lock"
    assert lockfile_name("dir/devarch.yaml") == "dir/devarch.lock"
    assert lockfile_name("Devfile") == "Devfile.lock"
    assert choose_lockfile("shop", [("devarch.lock", "other"), ("shop.lock", "shop")]) == (
        "shop.lock"
    )
    assert choose_lockfile("shop", [("devarch.lock", "other")]) == "devarch.lock"
    assert choose_lockfile("shop", [("relay.lock", "relay")]) is None
    assert choose_lockfile("shop", []) is None
    assert refreshes("shop", None)

    def never() -> Lockfile:
        raise AssertionError

    assert check_lockfile("shop", None, never) == []


def test_divergence_lists_ports_and_templates(devarch: Devarch) -> None:
    """Host ports and template hashes that moved are named per instance."""
    lock = devarch.lock_stack("shop")
    db = lock.instances["db"]
    key = next(iter(db.ports))
    moved = attrs.evolve(db, ports={key: db.ports[key] + 1}, template_hash="sha256:" + "0" * 64)
    old = attrs.evolve(lock, instances={**lock.instances, "db": moved})
    problems = lockfile_divergence(old, lock)
    assert f"db: host port for {key} is {db.ports[key]}, locked {db.ports[key] + 1}" in problems
    assert any(p.startswith("db: template bb-db@") for p in problems)
    assert lockfile_divergence(attrs.evolve(lock, stack="x"), lock) == [
        "the lockfile is for stack 'x', not 'shop'"
    ]

"""doctor's key-file and key-store checks (issue 11, items 3 and 4), on a SQLite store in tmp_path.

The key file is missing while the store holds sealed values, or does not match the store, or is
not a regular file: doctor fails with a fix. An interrupted rotation is a warning with a fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.doctor import exit_status, run_doctor
from devarch_core.secrets import KEY_SIZE

if TYPE_CHECKING:
    from devarch_adapters.doctor import Check
    from devarch_core.app import Devarch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"


def _devarch(home: Path) -> Devarch:
    from devarch_adapters.bootstrap import load_catalog  # noqa: PLC0415
    from devarch_adapters.filesystem.keyfile import FileKeyProvider  # noqa: PLC0415
    from devarch_adapters.sqlite import SqliteStore  # noqa: PLC0415
    from devarch_core.app import Devarch  # noqa: PLC0415

    return Devarch(
        store=SqliteStore(home / "devarch.db"),
        catalog=load_catalog([EXAMPLES]),
        keys=FileKeyProvider(home / "secret.key"),
    )


def _checks(home: Path) -> dict[str, Check]:
    devarch = _devarch(home)
    try:
        checks = run_doctor(devarch)
    finally:
        devarch.store.close()
    found = {c.name: c for c in checks if c.name in ("key-file", "key-store")}
    assert exit_status(list(found.values())) == (
        1 if any(c.status == "fail" for c in found.values()) else 0
    )
    return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Return a DEVARCH_HOME whose store holds one secret sealed under its key file."""
    home = tmp_path / "home"
    devarch = _devarch(home)
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db", secrets={"POSTGRES_PASSWORD": "pw"})
    devarch.store.close()
    return home


def test_a_fresh_home_warns_that_the_key_is_created_on_first_use(tmp_path):
    """No store content, no key: the key file warns (created on first use), key-store passes."""
    checks = _checks(tmp_path / "fresh")
    assert checks["key-file"].status == "warn"
    assert checks["key-store"].status == "pass"
    assert not (tmp_path / "fresh" / "secret.key").exists(), "doctor creates no key"


def test_a_matching_key_passes(home):
    """The key file that sealed the store: both checks pass."""
    checks = _checks(home)
    assert (checks["key-file"].status, checks["key-store"].status) == ("pass", "pass")
    assert "matches" in checks["key-store"].message


def test_a_missing_key_with_sealed_values_fails_and_is_not_created(home):
    """The key file deleted: doctor fails (key-file and key-store) with a restore fix."""
    (home / "secret.key").unlink()
    checks = _checks(home)
    assert checks["key-file"].status == "fail"
    assert "restore" in checks["key-file"].fix
    assert checks["key-store"].status == "fail"
    assert "is missing" in checks["key-store"].message
    assert not (home / "secret.key").exists()


def test_a_wrong_key_fails_with_a_fix(home):
    """Another 32-byte key in place: key-file passes (it is a fine file), key-store fails."""
    key = home / "secret.key"
    key.unlink()
    key.write_bytes(os.urandom(KEY_SIZE))
    key.chmod(0o600)
    checks = _checks(home)
    assert checks["key-file"].status == "pass"
    assert checks["key-store"].status == "fail"
    assert "does not match" in checks["key-store"].message
    assert str(key) in checks["key-store"].fix


def test_a_symlinked_key_file_fails(home):
    """A key file replaced by a symlink (even to the right key) fails the key-file check."""
    key = home / "secret.key"
    real = home.parent / "real.key"
    key.rename(real)
    key.symlink_to(real)
    checks = _checks(home)
    assert checks["key-file"].status == "fail"
    assert "symbolic link" in checks["key-file"].message


def test_an_interrupted_rotation_warns_with_the_finish_fix(home):
    """secret.key.next left by a crash: key-store warns (all readable) and says how to finish."""
    from devarch_adapters.filesystem.keyfile import FileKeyProvider  # noqa: PLC0415

    FileKeyProvider(home / "secret.key").stage_key(os.urandom(KEY_SIZE))
    checks = _checks(home)
    assert checks["key-store"].status == "warn"
    assert "interrupted" in checks["key-store"].message
    assert "devarch secret rotate-key --finish" in checks["key-store"].fix
    devarch = _devarch(home)
    assert devarch.finish_key_rotation() is True
    devarch.store.close()
    checks = _checks(home)
    assert (checks["key-file"].status, checks["key-store"].status) == ("pass", "pass")

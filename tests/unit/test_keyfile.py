"""The secret key file: ``$DEVARCH_HOME/secret.key``, 32 random bytes, 0600 in a 0700 directory."""

from __future__ import annotations

import os
import stat
import threading
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.filesystem.keyfile import FileKeyProvider
from devarch_core.errors import SecretError
from devarch_core.secrets import KEY_SIZE, SecretBox, SecretSlot

if TYPE_CHECKING:
    from pathlib import Path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    """Return where the key goes in a DEVARCH_HOME that does not exist yet."""
    return tmp_path / "devarch-home" / "secret.key"


def test_first_use_creates_32_random_bytes_with_mode_0600_in_a_0700_directory(key_path):
    """load_key on a fresh home creates the directory (0700) and a 32-byte key file (0600)."""
    key = FileKeyProvider(key_path).load_key()
    assert len(key) == KEY_SIZE
    assert key_path.read_bytes() == key
    assert _mode(key_path) == 0o600
    assert _mode(key_path.parent) == 0o700


def test_the_key_is_created_0600_even_under_a_permissive_umask(key_path):
    """A umask of 000 does not loosen the key file or its new directory."""
    old = os.umask(0)
    try:
        FileKeyProvider(key_path).load_key()
    finally:
        os.umask(old)
    assert _mode(key_path) == 0o600
    assert _mode(key_path.parent) == 0o700


def test_the_key_is_reused_not_regenerated(key_path):
    """A second provider on the same path loads the same key; the file is not rewritten."""
    first = FileKeyProvider(key_path).load_key()
    inode = key_path.stat().st_ino
    assert FileKeyProvider(key_path).load_key() == first
    assert key_path.stat().st_ino == inode


def test_two_homes_get_different_keys(tmp_path):
    """Each key file is freshly random."""
    a = FileKeyProvider(tmp_path / "a" / "secret.key").load_key()
    b = FileKeyProvider(tmp_path / "b" / "secret.key").load_key()
    assert a != b


def test_concurrent_first_use_agrees_on_one_complete_key(tmp_path):
    """Processes racing to create the key all get the same 32 bytes, never an empty/partial file."""
    for attempt in range(40):
        path = tmp_path / f"home{attempt}" / "secret.key"
        barrier = threading.Barrier(6)
        results: list[bytes | Exception] = []

        def use(
            path: Path = path,
            barrier: threading.Barrier = barrier,
            results: list[bytes | Exception] = results,
        ) -> None:
            barrier.wait()
            try:
                results.append(FileKeyProvider(path).load_key())
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                results.append(exc)

        threads = [threading.Thread(target=use) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not [r for r in results if isinstance(r, Exception)], results
        assert len(set(results)) == 1
        assert path.read_bytes() == results[0]
        assert [p.name for p in path.parent.iterdir()] == ["secret.key"], "no temporary files left"


@pytest.mark.parametrize("content", [b"", b"short", b"x" * 31, b"x" * 33, b"x" * 64])
def test_a_malformed_key_file_is_refused_and_left_alone(key_path, content):
    """A key file that is not 32 bytes is a SecretError naming the file; it is left as it is."""
    key_path.parent.mkdir(mode=0o700)
    key_path.write_bytes(content)
    with pytest.raises(SecretError, match=r"secret\.key") as info:
        FileKeyProvider(key_path).load_key()
    assert f"{len(content)} bytes" in str(info.value)
    assert key_path.read_bytes() == content


def test_an_unreadable_key_path_is_a_secret_error(key_path):
    """A key path that is a directory is a SecretError, not an OSError."""
    key_path.mkdir(parents=True)
    with pytest.raises(SecretError, match="cannot read the key file"):
        FileKeyProvider(key_path).load_key()


def test_replace_key_switches_atomically_by_rename(key_path):
    """replace_key writes a new 0600 file and renames it over the old one (no partial file)."""
    provider = FileKeyProvider(key_path)
    old = provider.load_key()
    # A hard link keeps the old inode: a rename leaves it untouched, an in-place write would not.
    backup = key_path.with_name("backup.key")
    os.link(key_path, backup)
    new = os.urandom(KEY_SIZE)
    provider.replace_key(new)
    assert key_path.read_bytes() == new
    assert backup.read_bytes() == old
    assert key_path.stat().st_ino != backup.stat().st_ino
    assert _mode(key_path) == 0o600
    assert sorted(p.name for p in key_path.parent.iterdir()) == ["backup.key", "secret.key"]
    assert FileKeyProvider(key_path).load_key() == new


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_replace_key_refuses_a_wrong_size_and_keeps_the_old_key(key_path, size):
    """A replacement that is not 32 bytes is a SecretError and the current key stays."""
    provider = FileKeyProvider(key_path)
    old = provider.load_key()
    with pytest.raises(SecretError, match="32 bytes"):
        provider.replace_key(b"k" * size)
    assert key_path.read_bytes() == old


def test_replace_key_creates_the_file_when_absent(key_path):
    """replace_key on a fresh home writes the key with the same safe modes."""
    key = os.urandom(KEY_SIZE)
    FileKeyProvider(key_path).replace_key(key)
    assert key_path.read_bytes() == key
    assert _mode(key_path) == 0o600
    assert _mode(key_path.parent) == 0o700


def test_a_loaded_key_seals_and_opens_across_provider_instances(key_path):
    """A value sealed with one provider's key opens with another provider on the same file."""
    slot = SecretSlot("s", "i", "PASSWORD")
    blob = SecretBox(FileKeyProvider(key_path)).seal(slot, "v")
    assert SecretBox(FileKeyProvider(key_path)).open(slot, blob).reveal() == "v"


def test_safe_permissions_report_no_problem(key_path):
    """A freshly created key has nothing for doctor to report."""
    provider = FileKeyProvider(key_path)
    provider.load_key()
    assert provider.permission_problems() == []


def test_a_missing_key_reports_no_permission_problem(key_path):
    """Before first use there is nothing to check."""
    assert FileKeyProvider(key_path).permission_problems() == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o666])
def test_a_loose_key_file_mode_is_reported_with_the_fix(key_path, mode):
    """A key file readable by group or others is reported with its mode and a chmod 600 fix."""
    provider = FileKeyProvider(key_path)
    provider.load_key()
    key_path.chmod(mode)
    problems = provider.permission_problems()
    assert len(problems) == 1
    assert f"{mode:04o}" in problems[0]
    assert f"chmod 600 {key_path}" in problems[0]


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o701])
def test_a_loose_directory_mode_is_reported_with_the_fix(key_path, mode):
    """A key directory open to group or others is reported with its mode and a chmod 700 fix."""
    provider = FileKeyProvider(key_path)
    provider.load_key()
    key_path.parent.chmod(mode)
    problems = provider.permission_problems()
    assert len(problems) == 1
    assert f"{mode:04o}" in problems[0]
    assert f"chmod 700 {key_path.parent}" in problems[0]


def test_both_loose_modes_are_reported(key_path):
    """A loose file in a loose directory gives two problems."""
    provider = FileKeyProvider(key_path)
    provider.load_key()
    key_path.chmod(0o644)
    key_path.parent.chmod(0o755)
    assert len(provider.permission_problems()) == 2

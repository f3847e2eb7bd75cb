"""The secret key file: ``$DEVARCH_HOME/secret.key``, 32 random bytes, 0600 in a 0700 directory."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.filesystem.keyfile import FileKeyProvider
from devarch_core.errors import SecretError
from devarch_core.ports import KeySet
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


def test_a_directory_at_the_key_path_is_refused(key_path):
    """A key path that is a directory is a SecretError naming it, not an OSError."""
    key_path.mkdir(parents=True)
    with pytest.raises(SecretError, match=r"secret\.key is a directory"):
        FileKeyProvider(key_path).load_key()
    assert key_path.is_dir()


# -- item 4 of issue 11: only a regular file of exactly 32 bytes, never through a symlink ------


def _home(key_path: Path) -> Path:
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return key_path.parent


def _refused_fast(provider: FileKeyProvider, match: str) -> SecretError:
    """Call load_key in a thread; it must raise SecretError matching ``match`` within 5 s."""
    result: list[BaseException | bytes] = []

    def call() -> None:
        try:
            result.append(provider.load_key())
        except BaseException as exc:  # noqa: BLE001 - asserted below
            result.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive(), "load_key hung"
    assert isinstance(result[0], SecretError), result
    assert re.search(match, str(result[0])), str(result[0])
    assert str(provider.path) in str(result[0])
    return result[0]


def test_a_dangling_symlink_is_refused_and_nothing_is_created_through_it(key_path, tmp_path):
    """A dangling symlink is refused at once (it used to recurse forever); no target is made."""
    _home(key_path)
    target = tmp_path / "elsewhere" / "key"
    target.parent.mkdir()
    key_path.symlink_to(target)
    _refused_fast(FileKeyProvider(key_path), "is a symbolic link")
    assert not target.exists()
    assert key_path.is_symlink()
    with pytest.raises(SecretError, match="symbolic link"):
        FileKeyProvider(key_path).create_key()
    assert not target.exists()


def test_a_symlink_to_a_valid_key_is_refused(key_path, tmp_path):
    """Even a link to a good 32-byte key is refused: the key file must be the file itself."""
    _home(key_path)
    target = tmp_path / "real.key"
    target.write_bytes(os.urandom(KEY_SIZE))
    key_path.symlink_to(target)
    error = _refused_fast(FileKeyProvider(key_path), "is a symbolic link")
    assert "cp --remove-destination" in str(error)


def test_a_symlink_to_dev_zero_is_refused_without_reading(key_path):
    """A link to /dev/zero is refused at once (it used to be read without bound)."""
    _home(key_path)
    key_path.symlink_to("/dev/zero")
    _refused_fast(FileKeyProvider(key_path), "is a symbolic link")


def test_a_fifo_is_refused_without_hanging(key_path):
    """A FIFO with no writer is refused at once (reading it used to block forever)."""
    _home(key_path)
    os.mkfifo(key_path, 0o600)
    _refused_fast(FileKeyProvider(key_path), r"is a FIFO")


def test_a_device_node_is_refused(key_path):
    """A character device at the key path (here a copy of /dev/zero's node) is refused."""
    _home(key_path)
    try:
        os.mknod(key_path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    _refused_fast(FileKeyProvider(key_path), "is a character device")


def test_a_socket_is_refused(key_path):
    """A UNIX socket at the key path is refused."""
    _home(key_path)
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(key_path))
    except OSError:
        pytest.skip("path too long for a UNIX socket")
    try:
        _refused_fast(FileKeyProvider(key_path), "is a socket")
    finally:
        sock.close()


def test_a_huge_key_file_is_refused_by_its_size_without_reading_it(key_path):
    """A 1 GiB (sparse) key file is refused at once, naming its size."""
    _home(key_path)
    with key_path.open("wb") as fh:
        fh.truncate(1 << 30)
    _refused_fast(FileKeyProvider(key_path), str(1 << 30))


def test_at_most_33_bytes_are_read(key_path, monkeypatch):
    """The reader takes at most 33 bytes in all, even from a file that grew after its fstat."""
    _home(key_path)
    key_path.write_bytes(os.urandom(KEY_SIZE))
    got: list[int] = []
    real_read = os.read

    def read(fd: int, n: int) -> bytes:
        if not got:  # the file grows between fstat and read
            with key_path.open("ab") as fh:
                fh.write(b"x" * 1000)
        data = real_read(fd, n)
        got.append(len(data))
        return data

    monkeypatch.setattr(os, "read", read)
    with pytest.raises(SecretError, match="more than 32 bytes"):
        FileKeyProvider(key_path).load_key()
    assert sum(got) == KEY_SIZE + 1


def test_read_keys_never_creates_a_key(key_path):
    """read_keys on a fresh home reports no key and creates nothing (the facade decides)."""
    found = FileKeyProvider(key_path).read_keys()
    assert found.current is None
    assert found.staged is None
    assert not key_path.parent.exists()


def test_replace_key_refuses_to_replace_a_symlink(key_path, tmp_path):
    """replace_key leaves a symlink and its target alone (it used to replace the link)."""
    _home(key_path)
    target = tmp_path / "real.key"
    old = os.urandom(KEY_SIZE)
    target.write_bytes(old)
    key_path.symlink_to(target)
    with pytest.raises(SecretError, match="symbolic link"):
        FileKeyProvider(key_path).replace_key(os.urandom(KEY_SIZE))
    assert key_path.is_symlink()
    assert target.read_bytes() == old


# -- staging a key for rotation ---------------------------------------------------------------


def test_stage_then_promote_switches_keys_and_leaves_no_other_file(key_path):
    """A staged key is durable in secret.key.next (0600) beside the key, then renamed over it."""
    provider = FileKeyProvider(key_path)
    old = provider.load_key()
    new = os.urandom(KEY_SIZE)
    provider.stage_key(new)
    assert provider.read_keys() == KeySet(current=old, staged=new)
    assert _mode(provider.next_path) == 0o600
    provider.promote_staged_key()
    assert provider.read_keys() == KeySet(current=new, staged=None)
    assert sorted(p.name for p in key_path.parent.iterdir()) == ["secret.key"]
    provider.promote_staged_key()  # idempotent
    assert provider.read_keys().current == new


def test_a_second_stage_is_refused_and_keeps_the_first(key_path):
    """stage_key never replaces a staged key: that is an interrupted rotation to finish first."""
    provider = FileKeyProvider(key_path)
    provider.load_key()
    first = os.urandom(KEY_SIZE)
    provider.stage_key(first)
    with pytest.raises(SecretError, match="--finish"):
        provider.stage_key(os.urandom(KEY_SIZE))
    assert provider.read_keys().staged == first


def test_discard_removes_the_staged_key(key_path):
    """discard_staged_key drops secret.key.next and keeps the current key."""
    provider = FileKeyProvider(key_path)
    old = provider.load_key()
    provider.stage_key(os.urandom(KEY_SIZE))
    provider.discard_staged_key()
    provider.discard_staged_key()
    assert provider.read_keys() == KeySet(current=old, staged=None)


def test_promote_refuses_to_replace_a_symlinked_key(key_path, tmp_path):
    """The key name being a symlink stops the switch: the link and the staged key stay."""
    provider = FileKeyProvider(key_path)
    _home(key_path)
    target = tmp_path / "real.key"
    target.write_bytes(os.urandom(KEY_SIZE))
    staged = os.urandom(KEY_SIZE)
    provider.stage_key(staged)
    key_path.symlink_to(target)
    with pytest.raises(SecretError, match="symbolic link"):
        provider.promote_staged_key()
    assert key_path.is_symlink()
    assert provider.next_path.read_bytes() == staged


def test_a_symlinked_staged_key_is_refused(key_path):
    """secret.key.next obeys the same rules as secret.key."""
    provider = FileKeyProvider(key_path)
    provider.load_key()
    provider.next_path.symlink_to("/dev/zero")
    with pytest.raises(SecretError, match=r"secret\.key\.next is a symbolic link"):
        provider.read_keys()


def test_the_rotation_lock_is_exclusive_across_processes(key_path):
    """While one process holds the rotation lock, another's non-waiting attempt gets False."""
    provider = FileKeyProvider(key_path)
    code = (
        "import sys\n"
        "from devarch_adapters.filesystem.keyfile import FileKeyProvider\n"
        "with FileKeyProvider(sys.argv[1]).rotation_lock(wait=False) as held:\n"
        "    print(held)\n"
    )
    with provider.rotation_lock() as held:
        assert held
        busy = subprocess.run(
            [sys.executable, "-c", code, str(key_path)], capture_output=True, text=True, check=True
        )
    free = subprocess.run(
        [sys.executable, "-c", code, str(key_path)], capture_output=True, text=True, check=True
    )
    assert (busy.stdout.strip(), free.stdout.strip()) == ("False", "True")


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

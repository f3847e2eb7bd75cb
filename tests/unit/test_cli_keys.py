"""The CLI on key-file faults and rotation (issue 11, items 2-4): clear errors, no key made."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from devarch_adapters.cli import main
from devarch_adapters.filesystem.keyfile import FileKeyProvider
from devarch_core.secrets import KEY_SIZE

CATALOG = str(Path(__file__).resolve().parents[2] / "examples" / "catalog")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Return the DEVARCH_HOME the commands use."""
    return tmp_path / "home"


@pytest.fixture
def cli(home, capsys, monkeypatch):
    """Run ``devarch --home HOME --runtime none --catalog examples/catalog ARGS`` in-process."""
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.delenv("DEVARCH_CATALOG_PATH", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--home", str(home), "--runtime", "none", "--catalog", CATALOG, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def shop(cli, home) -> Path:
    """Create stack shop with db holding one secret; return the key file."""
    assert cli("stack", "create", "shop")[0] == 0
    assert cli("instance", "add", "shop", "db", "bb-db")[0] == 0
    code, _, err = cli("secret", "set", "shop", "db", "POSTGRES_PASSWORD", "--value", "pw1")
    assert code == 0, err
    key: Path = home / "secret.key"
    assert key.is_file()
    return key


def test_a_missing_key_file_with_secrets_is_refused_and_not_recreated(cli, shop):
    """`secret set` after the key file was deleted: exit 1 saying how to restore it; no new key."""
    shop.unlink()
    code, _, err = cli("secret", "set", "shop", "db", "OTHER", "--value", "x")
    assert code == 1
    assert "is missing" in err
    assert "restore secret.key" in err
    assert "Traceback" not in err
    assert not shop.exists()


def test_a_wrong_key_file_is_refused(cli, shop):
    """`secret set` with another key in place: exit 1, the key file left as it is."""
    shop.unlink()
    other = os.urandom(KEY_SIZE)
    shop.write_bytes(other)
    code, _, err = cli("secret", "set", "shop", "db", "OTHER", "--value", "x")
    assert code == 1
    assert "does not match this store" in err
    assert shop.read_bytes() == other


@pytest.mark.parametrize("kind", ["dangling", "dev-zero", "fifo", "directory"])
def test_a_key_path_that_is_not_a_regular_file_is_refused_at_once(cli, shop, tmp_path, kind):
    """A symlink (dangling or to /dev/zero), FIFO or directory: exit 1 naming the path and why."""
    shop.unlink()
    if kind == "dangling":
        shop.symlink_to(tmp_path / "nowhere")
    elif kind == "dev-zero":
        shop.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(shop, 0o600)
    else:
        shop.mkdir()
    code, _, err = cli("secret", "set", "shop", "db", "OTHER", "--value", "x")
    assert code == 1
    assert str(shop) in err
    expected = {"dangling": "symbolic link", "dev-zero": "symbolic link", "fifo": "FIFO"}
    assert expected.get(kind, "directory") in err
    assert not (tmp_path / "nowhere").exists()


def test_rotate_key_and_finish(cli, shop, home):
    """rotate-key switches the key; --finish completes a staged rotation, or says there is none."""
    old = shop.read_bytes()
    code, out, _ = cli("secret", "rotate-key", "--json")
    assert code == 0
    assert json.loads(out) == {"resealed": 1}
    assert shop.read_bytes() != old
    code, out, _ = cli("secret", "rotate-key", "--finish")
    assert (code, out.strip()) == (0, "No key rotation to complete.")
    staged = os.urandom(KEY_SIZE)
    FileKeyProvider(shop).stage_key(staged)
    code, out, _ = cli("secret", "rotate-key", "--finish", "--json")
    assert code == 0
    assert json.loads(out) == {"finished": True}
    assert shop.read_bytes() == staged
    assert not (home / "secret.key.next").exists()
    code, out, err = cli("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["key-store"]["status"] == "pass", err


def test_rotate_key_refuses_a_symlinked_key_file_and_changes_nothing(cli, shop, tmp_path):
    """rotate-key never replaces a symlink (it used to, leaving the target on the old key)."""
    real = tmp_path / "real.key"
    shop.rename(real)
    shop.symlink_to(real)
    before = real.read_bytes()
    code, _, err = cli("secret", "rotate-key")
    assert code == 1
    assert "symbolic link" in err
    assert shop.is_symlink()
    assert real.read_bytes() == before
    assert not shop.with_name("secret.key.next").exists()

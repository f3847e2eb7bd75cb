"""Key rotation on a real SQLite store and key file, killed or paused at every step (issue 11, 2).

A child process runs ``rotate_key`` with hooks at each step: ``os._exit`` there (a crash: no
cleanup, no commit of an open transaction), or wait there until told to go (to run a
``set_secret`` from another process in the middle). Afterwards every secret must open with the
key files left, and the next command must complete the rotation.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_core.secrets import SecretBox, SecretSlot, key_id

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devarch_core.app import Devarch
    from devarch_core.ports import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
VAR = "POSTGRES_PASSWORD"
VALUES = {"db/" + VAR: "pw-db", "db2/" + VAR: "pw-db2", "db2/EXTRA": "pw-extra"}


def open_store(home: Path) -> Store:
    """The store of ``home``: SQLite in it, or the PostgreSQL schema named in ``home/store``."""
    spec = (home / "store").read_text() if (home / "store").exists() else "sqlite"
    if spec == "sqlite":
        from devarch_adapters.sqlite import SqliteStore  # noqa: PLC0415

        return SqliteStore(home / "devarch.db")
    from devarch_adapters.postgres import PostgresStore  # noqa: PLC0415

    url, schema = spec.split("|", 1)
    return PostgresStore(url, schema=schema)


_OPEN_STORE = "from pathlib import Path\n\n" + inspect.getsource(open_store).replace("-> Store", "")

#: The rotation child: argv = home, step, mode ("crash" or "pause").
ROTATOR = (
    _OPEN_STORE
    + r"""
import os, sys, time
from pathlib import Path

from devarch_adapters._sqlstore import SqlSession
from devarch_adapters.bootstrap import load_catalog
from devarch_adapters.filesystem.keyfile import FileKeyProvider
from devarch_core.app import Devarch
from devarch_core.usecases.keys import KeyService

home, step, mode, examples = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]


def hit(where):
    if where != step:
        return
    if mode == "crash":
        os._exit(17)
    (home / "paused").write_text(where)
    while not (home / "go").exists():
        time.sleep(0.02)


write_temporary = FileKeyProvider._write_temporary
stage_key = FileKeyProvider.stage_key
promote = FileKeyProvider.promote_staged_key
put_secret = SqlSession.put_secret
reseal = KeyService._reseal
puts = [0]


def patched_write(self, key, *, prefix):
    tmp = write_temporary(self, key, prefix=prefix)
    if prefix.startswith(".secret.key.next"):
        hit("staging-file-written")
    return tmp


def patched_stage(self, key):
    hit("before-stage")
    stage_key(self, key)
    hit("staged")


def patched_put(self, secret):
    put_secret(self, secret)
    puts[0] += 1
    if puts[0] == 2:
        hit("mid-reseal")


def patched_reseal(self, key):
    count = reseal(self, key)
    hit("committed")
    return count


def patched_promote(self):
    hit("before-switch")
    promote(self)
    hit("switched")


FileKeyProvider._write_temporary = patched_write
FileKeyProvider.stage_key = patched_stage
SqlSession.put_secret = patched_put
KeyService._reseal = patched_reseal
FileKeyProvider.promote_staged_key = patched_promote

devarch = Devarch(
    store=open_store(home),
    catalog=load_catalog([Path(examples)]),
    keys=FileKeyProvider(home / "secret.key"),
)
print(devarch.rotate_key(os.urandom(32)))
"""
)

#: A ``set_secret`` from another process: argv = home, examples.
SETTER = (
    _OPEN_STORE
    + r"""
import sys
from pathlib import Path

from devarch_adapters.bootstrap import load_catalog
from devarch_adapters.filesystem.keyfile import FileKeyProvider
from devarch_core.app import Devarch

home = Path(sys.argv[1])
devarch = Devarch(
    store=open_store(home),
    catalog=load_catalog([Path(sys.argv[2])]),
    keys=FileKeyProvider(home / "secret.key"),
)
devarch.set_secret("s", "db", "DURING", "pw-during")
print("set")
"""
)

STEPS = [
    "before-stage",
    "staging-file-written",
    "staged",
    "mid-reseal",
    "committed",
    "before-switch",
    "switched",
]


def _devarch(home: Path) -> Devarch:
    from devarch_adapters.bootstrap import load_catalog  # noqa: PLC0415
    from devarch_adapters.filesystem.keyfile import FileKeyProvider  # noqa: PLC0415
    from devarch_core.app import Devarch  # noqa: PLC0415

    return Devarch(
        store=open_store(home),
        catalog=load_catalog([EXAMPLES]),
        keys=FileKeyProvider(home / "secret.key"),
    )


@pytest.fixture(params=["sqlite"])
def store_spec(request: pytest.FixtureRequest, unique: str) -> Iterator[str]:
    """Return "sqlite", or "URL|SCHEMA" of a fresh PostgreSQL schema (dropped afterwards)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    url: str = request.getfixturevalue("postgres_url")
    schema = f"devarch_rot_{unique}"
    yield f"{url}|{schema}"
    import psycopg  # noqa: PLC0415 - PostgreSQL tests only
    from psycopg import sql  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def home(tmp_path: Path, store_spec: str) -> Path:
    """Return a DEVARCH_HOME whose store holds three secrets and a hash key."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "store").write_text(store_spec)
    devarch = _devarch(home)
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db", secrets={VAR: "pw-db"})
    devarch.add_instance("s", "db2", "bb-db")
    devarch.set_secret("s", "db2", VAR, "pw-db2")
    devarch.set_secret("s", "db2", "EXTRA", "pw-extra")
    devarch.secrets.keyed_hash("x")  # seals the hash key too
    devarch.store.close()
    return home


def _read_all(home: Path) -> dict[str, str]:
    """Open every secret and the hash key as a new process would, with the key files left."""
    from devarch_adapters.filesystem.keyfile import FileKeyProvider  # noqa: PLC0415
    from devarch_core.usecases._helpers import MAC_KEY, MAC_SLOT  # noqa: PLC0415

    box = SecretBox(FileKeyProvider(home / "secret.key"))
    store = open_store(home)
    try:
        with store.transaction() as tx:
            names = {i.id: i.name for s in tx.list_stacks() for i in tx.list_instances(s.id)}
            values = {
                f"{names[s.instance_id]}/{s.name}": box.open(
                    SecretSlot(s.stack_id, s.instance_id, s.name), s.sealed
                ).reveal()
                for s in tx.list_secrets(None)
            }
            mac = tx.get_meta(MAC_KEY)
            recorded = tx.get_meta("secret_key_id")
    finally:
        store.close()
    assert mac is not None
    box.open(MAC_SLOT, bytes.fromhex(mac))
    assert recorded is not None
    assert box.key_by_id(recorded) is not None, "the store's key id names a key that is there"
    return values


def _key_files(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir() if "secret.key" in p.name)


def _run(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("step", STEPS)
def test_a_rotation_killed_at_any_step_loses_no_secret(home, step):
    """os._exit at each step: all values open with the files left; the next commands finish it."""
    old = (home / "secret.key").read_bytes()
    killed = _run(ROTATOR, str(home), step, "crash", str(EXAMPLES))
    assert killed.returncode == 17, killed.stderr
    assert _read_all(home) == VALUES
    survivor = _devarch(home)
    survivor.set_secret("s", "db", "AFTER", "pw-after")
    survivor.finish_key_rotation()  # also clears a staging file written before the crash
    survivor.store.close()
    assert _key_files(home) == ["secret.key", "secret.key.lock"]
    assert _read_all(home) == {**VALUES, "db/AFTER": "pw-after"}
    key = (home / "secret.key").read_bytes()
    if step in ("before-stage", "staging-file-written"):
        assert key == old, "nothing was staged: the old key stays"
    else:
        assert key != old, "a staged key is rolled forward"
    assert _recorded(home) == key_id(key)


def _recorded(home: Path) -> str | None:
    store = open_store(home)
    try:
        with store.transaction() as tx:
            return tx.get_meta("secret_key_id")
    finally:
        store.close()


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the rotation ended before pausing: {out} {err}")
        assert time.monotonic() < deadline, "the rotation never paused"
        time.sleep(0.02)


@pytest.mark.parametrize("store_spec", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("step", ["staged", "mid-reseal", "committed", "before-switch"])
def test_a_set_secret_during_a_paused_rotation_ends_readable(home, step):
    """Another process's set_secret while the rotation waits mid-way: both finish, all readable.

    Outside the re-seal transaction the setter does not wait (it seals under the key the store
    records); inside it, it waits for the transaction (SQLite serializes writers, PostgreSQL
    waits on the secret lock).
    """
    rotator = subprocess.Popen(
        [sys.executable, "-c", ROTATOR, str(home), step, "pause", str(EXAMPLES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    setter: subprocess.Popen[str] | None = None
    try:
        _wait_for(home / "paused", rotator)
        setter = subprocess.Popen(
            [sys.executable, "-c", SETTER, str(home), str(EXAMPLES)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if step == "mid-reseal":
            time.sleep(1.0)
            assert setter.poll() is None, "the setter waits for the re-seal transaction"
            (home / "go").touch()
            out, err = setter.communicate(timeout=60)
        else:
            out, err = setter.communicate(timeout=60)
            assert rotator.poll() is None, "the setter did not wait for the paused rotation"
            (home / "go").touch()
        assert setter.returncode == 0, err
        assert out.strip() == "set"
        rot_out, rot_err = rotator.communicate(timeout=60)
        assert rotator.returncode == 0, rot_err
        # Set before the re-seal, the new secret is re-sealed with the others.
        assert rot_out.strip() == ("4" if step == "staged" else "3")
    finally:
        for proc in (rotator, setter):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert _key_files(home) == ["secret.key", "secret.key.lock"]
    assert _read_all(home) == {**VALUES, "db/DURING": "pw-during"}
    assert _recorded(home) == key_id((home / "secret.key").read_bytes())

"""The store's key: recorded by id, refused when missing or wrong, rotated crash-safely.

Items 2 and 3 of issue 11, on in-memory fakes (the SQLite crash and concurrency runs are in
tests/integration/test_key_rotation_crash.py). Values are read back with a fresh ``SecretBox``
on the keys left behind, the way a new process would read them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from devarch_core.errors import SecretError
from devarch_core.ports import SealedSecret
from devarch_core.secrets import KEY_SIZE, SecretBox, SecretSlot, key_id, sealed_key_id
from devarch_core.testing import InMemoryKeys, InMemoryStore, fake_devarch
from devarch_core.usecases import keys as key_service
from devarch_core.usecases._helpers import KEY_ID, MAC_KEY, MAC_SLOT

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGES = {"devarch-test/busybox:latest": "sha256:" + "b" * 64}
VAR = "POSTGRES_PASSWORD"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """Return the example catalog (bb-db, bb-web)."""
    from devarch_adapters.filesystem import load_catalog_dirs  # noqa: PLC0415 - test helper only

    return load_catalog_dirs([EXAMPLES])


def _facade(catalog: Catalog, store: InMemoryStore, keys: InMemoryKeys) -> Devarch:
    return fake_devarch(catalog, images=IMAGES, store=store, keys=keys)


def _stored(store: InMemoryStore) -> dict[tuple[str, str], bytes]:
    with store.transaction() as tx:
        return {(s.instance_id, s.name): s.sealed for s in tx.list_secrets(None)}


def _meta(store: InMemoryStore, key: str) -> str | None:
    with store.transaction() as tx:
        return tx.get_meta(key)


def _read_all(store: InMemoryStore, keys: InMemoryKeys) -> dict[str, str]:
    """Open every secret (and the hash key) with a fresh box on ``keys``: instance/name -> value."""
    box = SecretBox(keys)
    with store.transaction() as tx:
        names = {i.id: i.name for s in tx.list_stacks() for i in tx.list_instances(s.id)}
        values = {
            f"{names[s.instance_id]}/{s.name}": box.open(
                SecretSlot(s.stack_id, s.instance_id, s.name), s.sealed
            ).reveal()
            for s in tx.list_secrets(None)
        }
        mac = tx.get_meta(MAC_KEY)
    if mac is not None:
        box.open(MAC_SLOT, bytes.fromhex(mac))
    return values


@pytest.fixture
def store() -> InMemoryStore:
    """Return an empty in-memory store."""
    return InMemoryStore()


@pytest.fixture
def keys() -> InMemoryKeys:
    """Return a provider with no key yet, as on a fresh machine."""
    return InMemoryKeys(missing=True)


@pytest.fixture
def filled(catalog: Catalog, store: InMemoryStore, keys: InMemoryKeys) -> dict[str, str]:
    """Fill the store with three secrets (and a hash key) under ``keys``; return the values."""
    devarch = _facade(catalog, store, keys)
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db", secrets={VAR: "pw-db"})
    devarch.add_instance("s", "db2", "bb-db")
    devarch.set_secret("s", "db2", VAR, "pw-db2")
    devarch.set_secret("s", "db2", "EXTRA", "pw-extra")
    devarch.plan("s")  # creates and seals the hash key
    assert _meta(store, MAC_KEY) is not None
    return {"db/" + VAR: "pw-db", "db2/" + VAR: "pw-db2", "db2/EXTRA": "pw-extra"}


# -- item 3: the store records its key's id; a missing or wrong key is refused -------------------


def test_a_fresh_store_creates_the_key_on_first_use_and_records_its_id(catalog, store, keys):
    """The first secret creates the key; the store keeps its id (a check value, not the key)."""
    devarch = _facade(catalog, store, keys)
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    assert keys.key is None
    assert _meta(store, KEY_ID) is None
    devarch.set_secret("s", "db", VAR, "pw")
    assert keys.key is not None
    recorded = _meta(store, KEY_ID)
    assert recorded == key_id(keys.key)
    assert keys.key.hex() not in recorded
    assert all(sealed_key_id(blob) == recorded for blob in _stored(store).values())


def test_a_missing_key_with_sealed_values_is_refused_and_no_key_is_made(
    catalog, store, keys, filled
):
    """With the key file gone, every seal and open refuses clearly; no new key appears."""
    lost = InMemoryKeys(missing=True)
    devarch = _facade(catalog, store, lost)
    before = _stored(store)
    attempts: list[Callable[[], object]] = [
        lambda: devarch.set_secret("s", "db", VAR, "new"),
        lambda: devarch.add_instance("s", "db3", "bb-db", secrets={VAR: "x"}),
        lambda: devarch.clone_stack("s", "s2"),
        lambda: devarch.plan("s"),
        lambda: devarch.rotate_key(os.urandom(KEY_SIZE)),
    ]
    for attempt in attempts:
        with pytest.raises(SecretError, match="is missing") as info:
            attempt()
        assert "restore secret.key from a backup" in str(info.value)
        assert lost.key is None, "no key may be created for a store with sealed values"
    assert _stored(store) == before
    assert _read_all(store, keys) == filled


def test_a_missing_key_with_only_a_recorded_key_id_is_refused(catalog, store, keys):
    """A store that recorded a key id refuses a missing key even after every secret was unset."""
    devarch = _facade(catalog, store, keys)
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db", secrets={VAR: "pw"})
    devarch.unset_secret("s", "db", VAR)
    lost = InMemoryKeys(missing=True)
    with pytest.raises(SecretError, match="is missing"):
        _facade(catalog, store, lost).set_secret("s", "db", VAR, "new")
    assert lost.key is None


def test_a_wrong_key_makes_every_seal_refuse_and_changes_nothing(catalog, store, keys, filled):
    """A key that does not match the store's id: set_secret and friends refuse, store unchanged."""
    wrong = InMemoryKeys()
    devarch = _facade(catalog, store, wrong)
    before = _stored(store)
    attempts: list[Callable[[], object]] = [
        lambda: devarch.set_secret("s", "db", VAR, "new"),
        lambda: devarch.set_secret("s", "db", "OTHER", "new"),
        lambda: devarch.add_instance("s", "db3", "bb-db", secrets={VAR: "x"}),
        lambda: devarch.clone_stack("s", "s2"),
        lambda: devarch.plan("s"),
        lambda: devarch.rotate_key(os.urandom(KEY_SIZE)),
    ]
    for attempt in attempts:
        with pytest.raises(SecretError, match=r"does not match this store|does not hold") as info:
            attempt()
        assert wrong.key is not None
        assert key_id(wrong.key) in str(info.value)
    assert _stored(store) == before
    assert keys.key is not None
    assert _meta(store, KEY_ID) == key_id(keys.key)
    assert _read_all(store, keys) == filled
    with store.transaction() as tx:
        assert [s.name for s in tx.list_stacks()] == ["s"]


def _legacy_blob(key: bytes, slot: SecretSlot, value: str) -> bytes:
    """A value sealed in the first format (b"DA1", no key id), as devarch wrote before."""
    nonce = os.urandom(12)
    return b"DA1" + nonce + AESGCM(key).encrypt(nonce, value.encode(), slot.associated_data())


@pytest.fixture
def legacy(catalog: Catalog, store: InMemoryStore) -> tuple[bytes, Devarch]:
    """Return (key, facade) on a store whose one secret predates key ids (no id recorded)."""
    key = os.urandom(KEY_SIZE)
    devarch = _facade(catalog, store, InMemoryKeys(key))
    devarch.create_stack("s")
    db = devarch.add_instance("s", "db", "bb-db")
    slot = SecretSlot(db.stack_id, db.id, VAR)
    with store.transaction() as tx:
        tx.put_secret(
            SealedSecret(
                stack_id=db.stack_id,
                instance_id=db.id,
                name=VAR,
                sealed=_legacy_blob(key, slot, "old-pw"),
            )
        )
    assert _meta(store, KEY_ID) is None
    return key, devarch


def test_a_store_without_key_id_records_the_key_that_opens_it(store, legacy):
    """An old store learns its key id on first use, from the key that opens its values."""
    key, devarch = legacy
    devarch.set_secret("s", "db", "NEW", "new-pw")
    assert _meta(store, KEY_ID) == key_id(key)
    assert _read_all(store, InMemoryKeys(key)) == {"db/" + VAR: "old-pw", "db/NEW": "new-pw"}


@pytest.mark.usefixtures("legacy")
def test_a_store_without_key_id_refuses_a_key_that_does_not_open_it(catalog, store):
    """A wrong key on an old store is refused too (and not recorded)."""
    wrong = _facade(catalog, store, InMemoryKeys())
    with pytest.raises(SecretError, match="does not match this store"):
        wrong.set_secret("s", "db", "NEW", "x")
    assert _meta(store, KEY_ID) is None
    lost = InMemoryKeys(missing=True)
    with pytest.raises(SecretError, match="is missing"):
        _facade(catalog, store, lost).set_secret("s", "db", "NEW", "x")
    assert lost.key is None


def test_rotating_an_old_store_reseals_its_values_with_key_ids(store, legacy):
    """Rotation of a store from before key ids re-seals everything in the new format."""
    _key, devarch = legacy
    new = os.urandom(KEY_SIZE)
    assert devarch.rotate_key(new) == 1
    assert all(sealed_key_id(b) == key_id(new) for b in _stored(store).values())
    assert _read_all(store, InMemoryKeys(new)) == {"db/" + VAR: "old-pw"}


def _statuses(devarch: Devarch) -> list[str]:
    return [c.status for c in devarch.check_key()]


@pytest.mark.usefixtures("filled")
def test_check_key_reports_match_missing_wrong_and_a_pending_rotation(catalog, store, keys):
    """check_key (doctor's key-store check): pass, fail (missing), fail (wrong), warn (rotation)."""
    assert _statuses(_facade(catalog, InMemoryStore(), InMemoryKeys(missing=True))) == ["pass"]
    assert _statuses(_facade(catalog, store, keys)) == ["pass"]
    missing = _facade(catalog, store, InMemoryKeys(missing=True)).check_key()
    assert [c.status for c in missing] == ["fail"]
    assert "is missing" in missing[0].message
    assert "secret.key" in missing[0].message
    wrong = _facade(catalog, store, InMemoryKeys()).check_key()
    assert [c.status for c in wrong] == ["fail"]
    assert "does not match" in wrong[0].message
    assert wrong[0].fix
    keys.stage_key(os.urandom(KEY_SIZE))
    pending = _facade(catalog, store, keys).check_key()
    assert [c.status for c in pending] == ["warn", "pass"]
    assert "rotate-key --finish" in pending[0].fix


# -- item 2: rotation is crash-safe at every step -----------------------------------------------


class Crash(BaseException):
    """A stand-in for the process dying: nothing after it runs (no rollback either)."""


STEPS = [
    "before-stage",
    "after-stage",
    "mid-reseal",
    "after-reseal-commit",
    "before-switch",
    "after-switch",
]


class _CrashingTx:
    """Wraps a transaction; its second put_secret dies (the transaction never commits)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._puts = 0

    def __enter__(self) -> Any:
        session = self._inner.__enter__()
        real = session.put_secret

        def put_secret(secret: SealedSecret) -> None:
            self._puts += 1
            if self._puts == 2:
                raise Crash
            real(secret)

        session.put_secret = put_secret
        return session

    def __exit__(self, *exc: object) -> Any:
        return self._inner.__exit__(*exc)


def _arm_crash(
    monkeypatch: pytest.MonkeyPatch, step: str, keys: InMemoryKeys, store: InMemoryStore
) -> None:
    """Make the next rotation die at ``step`` like a killed process (no cleanup runs)."""
    monkeypatch.setattr(key_service.KeyService, "_roll_back_staged", lambda *_a: None)
    stage, promote = keys.stage_key, keys.promote_staged_key
    reseal = key_service.KeyService._reseal

    def staged(key: bytes) -> None:
        if step == "before-stage":
            raise Crash
        stage(key)
        if step == "after-stage":
            raise Crash

    def promoted() -> None:
        if step == "before-switch":
            raise Crash
        promote()
        if step == "after-switch":
            raise Crash

    def resealed(self: key_service.KeyService, new_key: bytes) -> int:
        if step == "mid-reseal":
            real = store.transaction
            monkeypatch.setattr(store, "transaction", lambda: _CrashingTx(real()))
        count = reseal(self, new_key)
        if step == "after-reseal-commit":
            raise Crash
        return count

    monkeypatch.setattr(keys, "stage_key", staged)
    monkeypatch.setattr(keys, "promote_staged_key", promoted)
    monkeypatch.setattr(key_service.KeyService, "_reseal", resealed)


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_rotation_step_leaves_every_secret_readable(  # noqa: PLR0917
    catalog, store, keys, filled, monkeypatch, step
):
    """Whatever step a rotation dies at, all values open with the keys left.

    The next command completes the rotation (or it never started) and leaves one key that
    opens everything.
    """
    devarch = _facade(catalog, store, keys)
    old = keys.key
    new = os.urandom(KEY_SIZE)
    _arm_crash(monkeypatch, step, keys, store)
    with pytest.raises(Crash):
        devarch.rotate_key(new)
    monkeypatch.undo()
    # What a new process finds: the key(s) left behind open every value.
    assert _read_all(store, keys) == filled
    survivor = _facade(catalog, store, keys)
    survivor.set_secret("s", "db", "AFTER", "pw-after")
    assert keys.staged is None, "set_secret completes an interrupted rotation"
    assert keys.key in (old, new)
    if step != "before-stage":
        assert keys.key == new, "a staged key is rolled forward"
    assert _meta(store, KEY_ID) == key_id(keys.key)
    assert _read_all(store, InMemoryKeys(keys.key)) == {**filled, "db/AFTER": "pw-after"}
    # And a later rotation works from there.
    survivor.rotate_key(os.urandom(KEY_SIZE))
    assert _read_all(store, InMemoryKeys(keys.key))["db2/EXTRA"] == "pw-extra"


def test_a_failed_reseal_rolls_back_to_the_old_key(catalog, store, keys, filled, monkeypatch):
    """An ordinary error while re-sealing (not a crash) discards the staged key at once."""
    devarch = _facade(catalog, store, keys)
    old = keys.key

    def broken(*_args: object) -> int:
        raise SecretError("boom")

    monkeypatch.setattr(key_service.KeyService, "_reseal", broken)
    with pytest.raises(SecretError, match="boom"):
        devarch.rotate_key(os.urandom(KEY_SIZE))
    assert (keys.key, keys.staged) == (old, None)
    assert _read_all(store, InMemoryKeys(old)) == filled


def test_finish_key_rotation_completes_or_reports_nothing(catalog, store, keys, filled):
    """finish_key_rotation rolls a staged key forward, then has nothing left to do."""
    devarch = _facade(catalog, store, keys)
    new = os.urandom(KEY_SIZE)
    keys.stage_key(new)
    assert devarch.finish_key_rotation() is True
    assert (keys.key, keys.staged) == (new, None)
    assert _meta(store, KEY_ID) == key_id(new)
    assert _read_all(store, InMemoryKeys(new)) == filled
    assert devarch.finish_key_rotation() is False


def test_a_set_secret_while_another_rotation_runs_seals_under_the_recorded_key(
    catalog, store, keys, filled
):
    """With the rotation lock held elsewhere, set_secret seals under the key the store records.

    It leaves the running rotation alone, which then re-seals the value with the rest.
    """
    devarch = _facade(catalog, store, keys)
    old = keys.key
    new = os.urandom(KEY_SIZE)
    keys.stage_key(new)
    with keys.rotation_lock() as held:
        assert held
        devarch.set_secret("s", "db", "DURING", "pw-during")
        assert keys.staged == new, "a running rotation is not taken over"
        assert sealed_key_id(_stored_by_name(store, "DURING")) == key_id(old)
    devarch.finish_key_rotation()
    assert _read_all(store, InMemoryKeys(new)) == {**filled, "db/DURING": "pw-during"}


def _stored_by_name(store: InMemoryStore, name: str) -> bytes:
    with store.transaction() as tx:
        return next(s.sealed for s in tx.list_secrets(None) if s.name == name)


@pytest.mark.usefixtures("filled")
def test_rotating_to_the_current_key_is_refused(catalog, store, keys):
    """A 'new' key equal to the current one is refused; nothing is staged."""
    devarch = _facade(catalog, store, keys)
    assert keys.key is not None
    with pytest.raises(SecretError, match="current key"):
        devarch.rotate_key(keys.key)
    assert keys.staged is None

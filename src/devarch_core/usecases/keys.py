"""The store's key: sealing under it, the hash key, rotation, and the doctor's key check."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

import attrs
from attrs import frozen

from devarch_core.errors import DevarchError, SecretError
from devarch_core.secrets import KEY_SIZE, SecretBox, SecretSlot, key_id, sealed_key_id
from devarch_core.usecases._helpers import KEY_ID, MAC_KEY, MAC_SLOT, Service, sealed_sample

if TYPE_CHECKING:
    from devarch_core.ports import StoreSession
    from devarch_core.usecases._context import Context

__all__ = ["KeyCheck", "KeyService"]


@frozen
class KeyCheck:
    """What :meth:`KeyService.check_key` found: ``pass``, ``warn`` or ``fail``, with a fix."""

    status: Literal["pass", "warn", "fail"]
    message: str
    fix: str = ""


class KeyService(Service):
    """The key that seals the store's values (ports: the key provider, through ``box``).

    It owns the :class:`~devarch_core.secrets.SecretBox` (``box``), whose keyed hashes use the
    store's HMAC key that this service keeps sealed in the store.
    """

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.box = SecretBox(ctx.key_provider, mac_key=self.mac_key)

    # -- sealing ---------------------------------------------------------------------------------
    def mac_key(self) -> bytes:
        """The store's HMAC key for keyed hashes of secrets.

        32 random bytes, sealed in the store's metadata under the encryption key (so it is
        re-sealed, not changed, by a key rotation).
        """
        with self._ctx.uow.transaction() as tx:
            sealed = tx.get_meta(MAC_KEY)
            if sealed is None:
                key = os.urandom(32)
                tx.set_meta(MAC_KEY, self.seal(tx, MAC_SLOT, key.hex()).hex())
                return key
            self.store_key(tx)  # refuses a key that does not match; records it in an old store
        return bytes.fromhex(self.box.open(MAC_SLOT, bytes.fromhex(sealed)).reveal())

    def seal(self, tx: StoreSession, slot: SecretSlot, value: str) -> bytes:
        """Seal ``value`` under the key this store records (the only way the facade seals)."""
        return self.box.seal(slot, value, key=self.store_key(tx))

    def store_key(self, tx: StoreSession) -> bytes:
        """The key that seals this store's values, checked against the key id the store records.

        Takes the store's secret lock first, so a concurrent key rotation cannot switch keys
        between this read and the caller's write. A store without a key id records one now: a
        fresh store the current key (created if there is none); a store sealed before key ids
        existed the key that opens its values. ``SecretError`` for a missing key while the store
        holds sealed values, and for a key that does not match: a new key is never made then.
        """
        tx.lock_secrets()
        recorded = tx.get_meta(KEY_ID)
        if recorded is not None:
            key = self.box.key_by_id(recorded)
            if key is None:
                raise SecretError(self.key_mismatch(recorded))
            return key
        sample = sealed_sample(tx)
        if sample is None:
            key = self.box.current_key() or self._create_key()
        else:
            key = self._key_opening(*sample)
        tx.set_meta(KEY_ID, key_id(key))
        return key

    def _create_key(self) -> bytes:
        key = self._ctx.key_provider.create_key()
        self.box.reload()
        return key

    def _key_opening(self, slot: SecretSlot, blob: bytes) -> bytes:
        """The offered key that opens ``blob``; ``SecretError`` if none does."""
        for key in self.box.offered_keys():
            try:
                self.box.open(slot, blob, key=key)
            except SecretError:
                continue
            return key
        raise SecretError(self.key_mismatch(sealed_key_id(blob)))

    def key_mismatch(self, recorded: str | None) -> str:
        """Explain a key that is missing or does not match the store, and how to fix it."""
        where = self._ctx.key_provider.location()
        sealed = f"key id {recorded}" if recorded else "another key"
        fix = (
            "restore secret.key from a backup, or copy it from the machine that created the "
            "store (everyone who shares a store must share its key file)"
        )
        ids = [key_id(k) for k in self.box.offered_keys()]
        if not ids:
            return (
                f"the key file {where} is missing, but this store holds values sealed with "
                f"{sealed}; devarch does not create a new key for it (the old values could never "
                f"be read again): {fix}"
            )
        return (
            f"the key file {where} (key id {', '.join(ids)}) does not match this store, whose "
            f"values are sealed with {sealed}; a different key can never open them: {fix}"
        )

    # -- rotation --------------------------------------------------------------------------------
    def rotate_key(self, new_key: bytes) -> int:
        """Re-seal every value of the store under ``new_key``; crash-safe at every step.

        1. ``new_key`` is made durable beside the current key (``secret.key.next``);
        2. every secret and the hash key are re-sealed under it in one transaction, which also
           records its key id in the store;
        3. it replaces the current key (an atomic rename).

        A crash before step 2 commits leaves the store on the old key, after it on the new one;
        both keys are offered until step 3, so every value stays readable. The next rotation,
        ``finish_key_rotation`` or ``set_secret`` completes an interrupted one. Rotations run one
        at a time (the key provider's rotation lock); a concurrent ``set_secret`` seals under the
        key the store records when it writes, and rotation re-seals what was written before.
        Returns how many secrets were re-sealed.
        """
        if len(new_key) != KEY_SIZE:
            raise SecretError(f"a key must be {KEY_SIZE} bytes, got {len(new_key)}")
        with self._ctx.key_provider.rotation_lock(wait=True):
            self._finish_rotation_locked()
            self.box.keyed_hash("")  # make sure the hash key exists before re-sealing it
            with self._ctx.uow.transaction() as tx:
                old = self.store_key(tx)  # refuses a missing or wrong key before any change
            if key_id(old) == key_id(new_key):
                raise SecretError("the new key is the current key")
            self._ctx.key_provider.stage_key(new_key)
            try:
                count = self._reseal(new_key)
            except BaseException:
                self._roll_back_staged(new_key)
                raise
            self._ctx.key_provider.promote_staged_key()
            self.box.reload()
        return count

    def finish_key_rotation(self) -> bool:
        """Complete an interrupted key rotation (re-seal if needed, switch the key files).

        Returns False when there was none. Waits for a rotation that is running.
        """
        with self._ctx.key_provider.rotation_lock(wait=True):
            return self._finish_rotation_locked()

    def finish_interrupted_rotation(self) -> None:
        """Complete a rotation left by a crash; leave one that is running to its process."""
        self.box.reload()
        if self.box.staged_key() is None:
            return
        with self._ctx.key_provider.rotation_lock(wait=False) as held:
            if held:
                self._finish_rotation_locked()

    def _finish_rotation_locked(self) -> bool:
        self.box.reload()
        staged = self.box.staged_key()
        if staged is None:
            return False
        with self._ctx.uow.transaction() as tx:
            recorded = tx.get_meta(KEY_ID)
        if recorded != key_id(staged):
            self._reseal(staged)  # roll forward: the staged key is durable, the store not yet on it
        self._ctx.key_provider.promote_staged_key()
        self.box.reload()
        return True

    def _roll_back_staged(self, new_key: bytes) -> None:
        """After a failed re-seal, drop the staged key unless the store is on it.

        (A failure may come after the commit.) If the store cannot tell, keep it: both keys stay
        offered.
        """
        try:
            with self._ctx.uow.transaction() as tx:
                recorded = tx.get_meta(KEY_ID)
        except DevarchError:
            return
        if recorded != key_id(new_key):
            self._ctx.key_provider.discard_staged_key()

    def _reseal(self, new_key: bytes) -> int:
        """Re-seal every secret and the hash key under ``new_key`` and record its id.

        One transaction. Returns how many secrets were re-sealed.
        """
        with self._ctx.uow.transaction() as tx:
            self.store_key(tx)  # the secret lock, and the store's key checked
            count = 0
            for sealed in tx.list_secrets(None):
                slot = SecretSlot(sealed.stack_id, sealed.instance_id, sealed.name)
                value = self.box.open(slot, sealed.sealed)
                resealed = self.box.seal(slot, value.reveal(), key=new_key)
                tx.put_secret(attrs.evolve(sealed, sealed=resealed))
                count += 1
            mac = tx.get_meta(MAC_KEY)
            if mac is not None:
                plain = self.box.open(MAC_SLOT, bytes.fromhex(mac)).reveal()
                tx.set_meta(MAC_KEY, self.box.seal(MAC_SLOT, plain, key=new_key).hex())
            tx.set_meta(KEY_ID, key_id(new_key))
        return count

    # -- the doctor's check ----------------------------------------------------------------------
    def check_key(self) -> list[KeyCheck]:
        """Does the key match the store, and is a rotation pending? Reads only (for doctor)."""
        where = self._ctx.key_provider.location()
        try:
            found = self._ctx.key_provider.read_keys()
        except SecretError as exc:
            return [KeyCheck("fail", str(exc), "restore the key file from a backup")]
        self.box.reload()
        with self._ctx.uow.transaction() as tx:
            recorded = tx.get_meta(KEY_ID)
            sample = sealed_sample(tx)
        checks = []
        if found.staged is not None:
            with self._ctx.key_provider.rotation_lock(wait=False) as free:
                running = not free
            if running:
                checks.append(
                    KeyCheck("warn", "a key rotation is running", "wait for it to finish")
                )
            else:
                checks.append(
                    KeyCheck(
                        "warn",
                        f"a key rotation was interrupted: the next key waits beside {where}; "
                        "every secret is still readable",
                        "run `devarch secret rotate-key --finish` to complete it",
                    )
                )
        ids = [key_id(k) for k in found.present()]
        if recorded is None and sample is None:
            text = "the store holds no sealed value yet"
            if not ids:
                text += "; the key is created on first use"
            checks.append(KeyCheck("pass", text))
        elif recorded is not None and recorded in ids:
            checks.append(KeyCheck("pass", f"the key matches the store (key id {recorded})"))
        elif recorded is None and sample is not None and self._opens(sample, found.present()):
            checks.append(KeyCheck("pass", "the key opens the store's sealed values"))
        else:
            checks.append(
                KeyCheck("fail", self.key_mismatch(recorded), f"put the right key file at {where}")
            )
        return checks

    def _opens(self, sample: tuple[SecretSlot, bytes], keys: list[bytes]) -> bool:
        for key in keys:
            try:
                self.box.open(*sample, key=key)
            except SecretError:
                continue
            return True
        return False

"""Secret use cases: set, unset, list, key rotation (values sealed before every write)."""

from __future__ import annotations

from typing import Literal

import attrs
from attrs import frozen

from devarch_core.errors import (
    DevarchError,
    NotFoundError,
    SecretError,
    ValidationError,
)
from devarch_core.model import Instance, Stack
from devarch_core.ports import (
    SealedSecret,
    StoreSession,
)
from devarch_core.secrets import KEY_SIZE, Secret, SecretSlot, key_id
from devarch_core.usecases._base import KEY_ID, MAC_KEY, MAC_SLOT, UseCaseBase, sealed_sample
from devarch_core.validators import check_env_name

__all__ = ["KeyCheck", "SecretCases"]


@frozen
class KeyCheck:
    """What :meth:`SecretCases.check_key` found: ``pass``, ``warn`` or ``fail``, with a fix."""

    status: Literal["pass", "warn", "fail"]
    message: str
    fix: str = ""


class SecretCases(UseCaseBase):
    """Secret environment values, sealed in the store. (A mixin of :class:`~devarch_core.app.Devarch`.)"""

    def _put_secret(self, tx: StoreSession, stack: Stack, instance: Instance, name: str, value: str) -> None:
        """Seal ``value`` for its slot and store the ciphertext (the only way secrets are written)."""
        slot = SecretSlot(stack.id, instance.id, name)
        sealed = self._seal(tx, slot, value)
        tx.put_secret(
            SealedSecret(stack_id=stack.id, instance_id=instance.id, name=name, sealed=sealed)
        )

    # -- secrets ----------------------------------------------------------------------------
    def set_secret(self, stack: str, instance: str, name: str, value: str) -> None:
        """Seal a secret environment value for an instance (it wins over template and wires)."""
        try:
            check_env_name(name)
        except ValueError as exc:
            raise ValidationError(str(exc), what="invalid secret name") from None
        self._finish_interrupted_rotation()
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, instance)
            self._put_secret(tx, st, inst, name, value)

    def unset_secret(self, stack: str, instance: str, name: str) -> None:
        """Forget a secret value (the variable falls back to the template or wires)."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            inst = self._instance(tx, st, instance)
            if not tx.delete_secret(st.id, inst.id, name):
                raise NotFoundError("secret", f"{stack}/{instance}/{name}")
            if name in inst.overrides.secret_refs:
                # The placeholder name an import recorded goes with the secret.
                refs = {k: v for k, v in inst.overrides.secret_refs.items() if k != name}
                overrides = attrs.evolve(inst.overrides, secret_refs=refs)
                tx.update_instance(attrs.evolve(inst, overrides=overrides, updated_at=self._now()))

    def list_secrets(self, stack: str) -> list[dict[str, str]]:
        """Secret names per instance (never values)."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            names = {i.id: i.name for i in tx.list_instances(st.id)}
            return [{"instance": names.get(s.instance_id, s.instance_id), "name": s.name} for s in tx.list_secrets(st.id)]

    def _open_secrets(self, tx: StoreSession, stack: Stack) -> dict[str, dict[str, Secret]]:
        opened: dict[str, dict[str, Secret]] = {}
        for sealed in tx.list_secrets(stack.id):
            slot = SecretSlot(stack.id, sealed.instance_id, sealed.name)
            opened.setdefault(sealed.instance_id, {})[sealed.name] = self.secrets.open(slot, sealed.sealed)
        return opened

    # -- the key -------------------------------------------------------------------------------
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
        with self._keys.rotation_lock(wait=True):
            self._finish_rotation_locked()
            self.secrets.keyed_hash("")  # make sure the hash key exists before re-sealing it
            with self._tx() as tx:
                old = self._store_key(tx)  # refuses a missing or wrong key before any change
            if key_id(old) == key_id(new_key):
                raise SecretError("the new key is the current key")
            self._keys.stage_key(new_key)
            try:
                count = self._reseal(new_key)
            except BaseException:
                self._roll_back_staged(new_key)
                raise
            self._keys.promote_staged_key()
            self.secrets.reload()
        return count

    def finish_key_rotation(self) -> bool:
        """Complete an interrupted key rotation (re-seal if needed, switch the key files).

        Returns False when there was none. Waits for a rotation that is running.
        """
        with self._keys.rotation_lock(wait=True):
            return self._finish_rotation_locked()

    def _finish_interrupted_rotation(self) -> None:
        """Complete a rotation left by a crash; leave one that is running to its process."""
        self.secrets.reload()
        if self.secrets.staged_key() is None:
            return
        with self._keys.rotation_lock(wait=False) as held:
            if held:
                self._finish_rotation_locked()

    def _finish_rotation_locked(self) -> bool:
        self.secrets.reload()
        staged = self.secrets.staged_key()
        if staged is None:
            return False
        with self._tx() as tx:
            recorded = tx.get_meta(KEY_ID)
        if recorded != key_id(staged):
            self._reseal(staged)  # roll forward: the staged key is durable, the store not yet on it
        self._keys.promote_staged_key()
        self.secrets.reload()
        return True

    def _roll_back_staged(self, new_key: bytes) -> None:
        """After a failed re-seal, drop the staged key unless the store is on it.

        (A failure may come after the commit.) If the store cannot tell, keep it: both keys stay
        offered.
        """
        try:
            with self._tx() as tx:
                recorded = tx.get_meta(KEY_ID)
        except DevarchError:
            return
        if recorded != key_id(new_key):
            self._keys.discard_staged_key()

    def _reseal(self, new_key: bytes) -> int:
        """Re-seal every secret and the hash key under ``new_key`` and record its id.

        One transaction. Returns how many secrets were re-sealed.
        """
        with self._tx() as tx:
            self._store_key(tx)  # the secret lock, and the store's key checked
            count = 0
            for sealed in tx.list_secrets(None):
                slot = SecretSlot(sealed.stack_id, sealed.instance_id, sealed.name)
                value = self.secrets.open(slot, sealed.sealed)
                resealed = self.secrets.seal(slot, value.reveal(), key=new_key)
                tx.put_secret(attrs.evolve(sealed, sealed=resealed))
                count += 1
            mac = tx.get_meta(MAC_KEY)
            if mac is not None:
                plain = self.secrets.open(MAC_SLOT, bytes.fromhex(mac)).reveal()
                tx.set_meta(MAC_KEY, self.secrets.seal(MAC_SLOT, plain, key=new_key).hex())
            tx.set_meta(KEY_ID, key_id(new_key))
        return count

    def check_key(self) -> list[KeyCheck]:
        """Does the key match the store, and is a rotation pending? Reads only (for doctor)."""
        where = self._keys.location()
        try:
            found = self._keys.read_keys()
        except SecretError as exc:
            return [KeyCheck("fail", str(exc), "restore the key file from a backup")]
        self.secrets.reload()
        with self._tx() as tx:
            recorded = tx.get_meta(KEY_ID)
            sample = sealed_sample(tx)
        checks = []
        if found.staged is not None:
            with self._keys.rotation_lock(wait=False) as free:
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
                KeyCheck("fail", self._key_mismatch(recorded), f"put the right key file at {where}")
            )
        return checks

    def _opens(self, sample: tuple[SecretSlot, bytes], keys: list[bytes]) -> bool:
        for key in keys:
            try:
                self.secrets.open(*sample, key=key)
            except SecretError:
                continue
            return True
        return False

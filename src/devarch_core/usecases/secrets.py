"""Secret use cases: set, unset, list, key rotation (values sealed before every write)."""

from __future__ import annotations

import attrs

from devarch_core.errors import (
    NotFoundError,
    ValidationError,
)
from devarch_core.model import Instance, Stack
from devarch_core.ports import (
    SealedSecret,
    StoreSession,
)
from devarch_core.secrets import Secret, SecretBox, SecretSlot
from devarch_core.usecases._base import MAC_KEY, MAC_SLOT, UseCaseBase

__all__ = ["SecretCases"]



class SecretCases(UseCaseBase):
    """Secret environment values, sealed in the store. (A mixin of :class:`~devarch_core.app.Devarch`.)"""

    def _put_secret(self, tx: StoreSession, stack: Stack, instance: Instance, name: str, value: str) -> None:
        """Seal ``value`` for its slot and store the ciphertext (the only way secrets are written)."""
        slot = SecretSlot(stack.id, instance.id, name)
        tx.put_secret(SealedSecret(stack_id=stack.id, instance_id=instance.id, name=name, sealed=self.secrets.seal(slot, value)))

    # -- secrets ----------------------------------------------------------------------------
    def set_secret(self, stack: str, instance: str, name: str, value: str) -> None:
        """Seal a secret environment value for an instance (it wins over template and wires)."""
        if not name or "=" in name:
            raise ValidationError(f"{name!r} is not a valid environment variable name", what="invalid secret name")
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

    def rotate_key(self, new_key: bytes) -> int:
        """Re-seal every secret under ``new_key`` in one transaction, then switch the key file.

        Returns how many secrets were re-sealed.
        """
        self.secrets.keyed_hash("")  # make sure the hash key exists before re-sealing it
        with self._tx() as tx:
            count = 0
            for sealed in tx.list_secrets(None):
                slot = SecretSlot(sealed.stack_id, sealed.instance_id, sealed.name)
                value = self.secrets.open(slot, sealed.sealed)
                tx.put_secret(attrs.evolve(sealed, sealed=self.secrets.seal(slot, value.reveal(), key=new_key)))
                count += 1
            mac = tx.get_meta(MAC_KEY)
            if mac is not None:
                plain = self.secrets.open(MAC_SLOT, bytes.fromhex(mac)).reveal()
                tx.set_meta(MAC_KEY, self.secrets.seal(MAC_SLOT, plain, key=new_key).hex())
        # Switch the key only once the re-sealed values are committed: a failed transaction
        # leaves both the store and the key file as they were.
        self._keys.replace_key(new_key)
        self.secrets = SecretBox(self._keys, mac_key=self._mac_key)
        return count

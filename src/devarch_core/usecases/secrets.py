"""Secret use cases: set, unset, list (values sealed before every write, opened for planning)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from devarch_core.errors import NotFoundError, ValidationError
from devarch_core.ports import SealedSecret
from devarch_core.secrets import Secret, SecretSlot
from devarch_core.usecases._helpers import Service, instance_of, stack_of
from devarch_core.usecases.keys import KeyCheck
from devarch_core.validators import check_env_name, check_env_value

if TYPE_CHECKING:
    from devarch_core.model import Instance, Stack
    from devarch_core.ports import StoreSession

__all__ = ["KeyCheck", "SecretService"]


class SecretService(Service):
    """Secret environment values, sealed in the store (ports: the store's key)."""

    def put(
        self, tx: StoreSession, stack: Stack, instance: Instance, name: str, value: str
    ) -> None:
        """Seal ``value`` for its slot and store the ciphertext (the only way to write a secret).

        A value no container could be started with (a NUL byte, over 128 KiB) is refused here,
        before anything is written, instead of at the engine's create call.
        """
        try:
            check_env_value(name, value)
        except ValueError as exc:
            raise ValidationError(
                f"secret {name} of {stack.name}/{instance.name}: {exc}", what="invalid secret value"
            ) from None
        slot = SecretSlot(stack.id, instance.id, name)
        sealed = self._ctx.keys.seal(tx, slot, value)
        tx.put_secret(
            SealedSecret(stack_id=stack.id, instance_id=instance.id, name=name, sealed=sealed)
        )

    def open_all(self, tx: StoreSession, stack: Stack) -> dict[str, dict[str, Secret]]:
        """Every secret of ``stack``, opened: instance id -> variable -> value."""
        opened: dict[str, dict[str, Secret]] = {}
        for sealed in tx.list_secrets(stack.id):
            slot = SecretSlot(stack.id, sealed.instance_id, sealed.name)
            opened.setdefault(sealed.instance_id, {})[sealed.name] = self._ctx.keys.box.open(
                slot, sealed.sealed
            )
        return opened

    def open_instance(
        self, tx: StoreSession, stack: Stack, instance: Instance
    ) -> dict[str, Secret]:
        """The secrets of one instance, opened: variable -> value."""
        return {
            sealed.name: self._ctx.keys.box.open(
                SecretSlot(stack.id, instance.id, sealed.name), sealed.sealed
            )
            for sealed in tx.list_secrets(stack.id)
            if sealed.instance_id == instance.id
        }

    def set_secret(self, stack: str, instance: str, name: str, value: str) -> None:
        """Seal a secret environment value for an instance (it wins over template and wires)."""
        try:
            check_env_name(name)
        except ValueError as exc:
            raise ValidationError(str(exc), what="invalid secret name") from None
        self._ctx.keys.finish_interrupted_rotation()
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            inst = instance_of(tx, st, instance)
            self.put(tx, st, inst, name, value)

    def unset_secret(self, stack: str, instance: str, name: str) -> None:
        """Forget a secret value (the variable falls back to the template or wires)."""
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            inst = instance_of(tx, st, instance)
            if not tx.delete_secret(st.id, inst.id, name):
                raise NotFoundError("secret", f"{stack}/{instance}/{name}")
            if name in inst.overrides.secret_refs:
                # The placeholder name an import recorded goes with the secret.
                refs = {k: v for k, v in inst.overrides.secret_refs.items() if k != name}
                overrides = attrs.evolve(inst.overrides, secret_refs=refs)
                tx.update_instance(
                    attrs.evolve(inst, overrides=overrides, updated_at=self._ctx.uow.now())
                )

    def list_secrets(self, stack: str) -> list[dict[str, str]]:
        """Secret names per instance (never values)."""
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            names = {i.id: i.name for i in tx.list_instances(st.id)}
            return [
                {"instance": names.get(s.instance_id, s.instance_id), "name": s.name}
                for s in tx.list_secrets(st.id)
            ]

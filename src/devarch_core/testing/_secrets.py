"""Reading a secret back in tests: the one route to a stored plaintext outside the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from devarch_core.errors import NotFoundError
from devarch_core.secrets import SecretSlot
from devarch_core.usecases._helpers import instance_of, stack_of

if TYPE_CHECKING:
    from devarch_core.app import Devarch

__all__ = ["reveal_secret"]


def reveal_secret(devarch: Devarch, stack: str, instance: str, name: str) -> str:
    """The plaintext of one stored secret, for tests that check what was sealed.

    Deliberately not a method of :class:`~devarch_core.Devarch`: the facade never hands out a
    plaintext (only the runtime adapter's create call sees one). ``NotFoundError`` if the stack,
    the instance or the secret does not exist.
    """
    with devarch.store.transaction() as tx:
        st = stack_of(tx, stack)
        inst = instance_of(tx, st, instance)
        for sealed in tx.list_secrets(st.id):
            if sealed.instance_id == inst.id and sealed.name == name:
                slot = SecretSlot(st.id, inst.id, name)
                return devarch.secrets.open(slot, sealed.sealed).reveal()
    raise NotFoundError("secret", f"{stack}/{instance}/{name}")

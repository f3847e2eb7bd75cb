"""Secret values: a redacting type, AES-256-GCM sealing bound to a slot, and keyed hashes (DESIGN §8).

The key comes from a :class:`~devarch_core.ports.KeyProvider`; this module never touches files.
The ``cryptography`` import is deferred to first use so ``import devarch_core`` stays light.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import TYPE_CHECKING, Final

from attrs import frozen

from devarch_core.errors import SecretError

if TYPE_CHECKING:
    from devarch_core.ports import KeyProvider

__all__ = ["REDACTED", "Secret", "SecretBox", "SecretSlot"]

REDACTED: Final = "***"
#: Version prefix of a sealed value: b"DA1" + 12-byte nonce + ciphertext-and-tag.
_VERSION: Final = b"DA1"
_NONCE_SIZE: Final = 12
KEY_SIZE: Final = 32


class Secret:
    """A secret text. ``str()``, ``repr()`` and formatting all give ``***``; only :meth:`reveal` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plaintext; call it only where the engine needs the value."""
        return self._value

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return "Secret('***')"

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", hashlib.sha256(self._value.encode()).hexdigest()))


@frozen
class SecretSlot:
    """Where a secret lives: stack id, instance id and variable name; bound into the ciphertext."""

    stack_id: str
    instance_id: str
    name: str

    def associated_data(self) -> bytes:
        """The AES-GCM associated data: moving a ciphertext to another slot makes it unreadable."""
        return f"devarch-secret:{self.stack_id}/{self.instance_id}/{self.name}".encode()

    def __str__(self) -> str:
        return f"{self.stack_id}/{self.instance_id}/{self.name}"


class SecretBox:
    """Seals and opens secret values with the store's key; computes keyed hashes for comparisons."""

    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys
        self._key: bytes | None = None

    def _current_key(self) -> bytes:
        if self._key is None:
            key = self._keys.load_key()
            if len(key) != KEY_SIZE:
                raise SecretError(f"the secret key must be {KEY_SIZE} bytes, got {len(key)}")
            self._key = key
        return self._key

    def seal(self, slot: SecretSlot, value: str, *, key: bytes | None = None) -> bytes:
        """Encrypt ``value`` for ``slot`` with a fresh nonce."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415 - keep import light

        nonce = os.urandom(_NONCE_SIZE)
        sealed = AESGCM(key or self._current_key()).encrypt(nonce, value.encode(), slot.associated_data())
        return _VERSION + nonce + sealed

    def open(self, slot: SecretSlot, blob: bytes, *, key: bytes | None = None) -> Secret:
        """Decrypt a sealed value; a wrong key, tampering or another slot raise ``SecretError``."""
        from cryptography.exceptions import InvalidTag  # noqa: PLC0415
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

        blob = bytes(blob)
        if not blob.startswith(_VERSION):
            raise SecretError(f"secret {slot.name} ({slot}) has an unknown format version; was it written by devarch?")
        nonce = blob[len(_VERSION) : len(_VERSION) + _NONCE_SIZE]
        try:
            plain = AESGCM(key or self._current_key()).decrypt(
                nonce, blob[len(_VERSION) + _NONCE_SIZE :], slot.associated_data()
            )
        except InvalidTag:
            raise SecretError(
                f"secret {slot.name} ({slot}) cannot be decrypted: wrong key, tampered value, "
                "or a value moved from another slot"
            ) from None
        return Secret(plain.decode())

    def keyed_hash(self, value: str) -> str:
        """An HMAC of ``value`` under the key: lets plans compare secrets without storing them."""
        digest = hmac.new(self._current_key(), value.encode(), hashlib.sha256).hexdigest()
        return f"hmac:{digest[:32]}"

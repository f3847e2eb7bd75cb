"""Secret values: a redacting type, AES-256-GCM sealing bound to a slot, keyed hashes (DESIGN §8).

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
    from collections.abc import Callable

    from devarch_core.ports import KeyProvider

__all__ = ["REDACTED", "Secret", "SecretBox", "SecretSlot"]

REDACTED: Final = "***"
#: Version prefix of a sealed value: b"DA1" + 12-byte nonce + ciphertext-and-tag.
_VERSION: Final = b"DA1"
_NONCE_SIZE: Final = 12
#: The AES-GCM authentication tag appended to every ciphertext.
_TAG_SIZE: Final = 16
KEY_SIZE: Final = 32


class Secret:
    """A secret text: ``str()``, ``repr()`` and formatting give ``***``; :meth:`reveal` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the plaintext; call it only where the engine needs the value."""
        return self._value

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return "Secret('***')"

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        # Compare bytes: compare_digest refuses str with non-ASCII characters (TypeError).
        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        return hash(("Secret", hashlib.sha256(self._value.encode()).hexdigest()))


@frozen
class SecretSlot:
    """Where a secret lives: stack id, instance id and variable name; bound into the ciphertext."""

    stack_id: str
    instance_id: str
    name: str

    def associated_data(self) -> bytes:
        """Return the AES-GCM associated data: a ciphertext moved to another slot cannot be read."""
        return f"devarch-secret:{self.stack_id}/{self.instance_id}/{self.name}".encode()

    def __str__(self) -> str:
        return f"{self.stack_id}/{self.instance_id}/{self.name}"


class SecretBox:
    """Seals and opens secret values with the store's key; computes keyed hashes for comparisons."""

    def __init__(self, keys: KeyProvider, *, mac_key: Callable[[], bytes] | None = None) -> None:
        self._keys = keys
        self._key: bytes | None = None
        #: Where the HMAC key for :meth:`keyed_hash` comes from. Kept apart from the encryption
        #: key so a key rotation does not change the hashes (and so does not recreate containers).
        self._mac_key_loader = mac_key
        self._mac_key: bytes | None = None

    def _current_key(self) -> bytes:
        if self._key is None:
            key = self._keys.load_key()
            if len(key) != KEY_SIZE:
                raise SecretError(f"the secret key must be {KEY_SIZE} bytes, got {len(key)}")
            self._key = key
        return self._key

    def _key_for(self, key: bytes | None) -> bytes:
        """Return ``key`` if given (checked: AES-GCM would take 16 bytes too), else the store's."""
        if key is None:
            return self._current_key()
        if len(key) != KEY_SIZE:
            raise SecretError(f"the secret key must be {KEY_SIZE} bytes, got {len(key)}")
        return key

    def seal(self, slot: SecretSlot, value: str, *, key: bytes | None = None) -> bytes:
        """Encrypt ``value`` for ``slot`` with a fresh nonce."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415 - keep import light

        nonce = os.urandom(_NONCE_SIZE)
        sealed = AESGCM(self._key_for(key)).encrypt(nonce, value.encode(), slot.associated_data())
        return _VERSION + nonce + sealed

    def open(self, slot: SecretSlot, blob: bytes, *, key: bytes | None = None) -> Secret:
        """Decrypt a sealed value; a wrong key, tampering or another slot raise ``SecretError``."""
        from cryptography.exceptions import InvalidTag  # noqa: PLC0415
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

        blob = bytes(blob)
        if not blob.startswith(_VERSION):
            raise SecretError(
                f"secret {slot.name} ({slot}) has an unknown format version; "
                "was it written by devarch?"
            )
        if len(blob) < len(_VERSION) + _NONCE_SIZE + _TAG_SIZE:
            # Too short to hold a nonce and a tag: AESGCM would raise a bare ValueError.
            raise SecretError(
                f"secret {slot.name} ({slot}) is truncated ({len(blob)} bytes); "
                "restore it or set it again"
            )
        aead = AESGCM(self._key_for(key))
        nonce = blob[len(_VERSION) : len(_VERSION) + _NONCE_SIZE]
        try:
            plain = aead.decrypt(nonce, blob[len(_VERSION) + _NONCE_SIZE :], slot.associated_data())
        except InvalidTag:
            raise SecretError(
                f"secret {slot.name} ({slot}) cannot be decrypted: wrong key, tampered value, "
                "or a value moved from another slot"
            ) from None
        return Secret(plain.decode())

    def keyed_hash(self, value: str) -> str:
        """Return an HMAC of ``value`` under the key: plans compare secrets without storing them."""
        if self._mac_key is None:
            self._mac_key = self._mac_key_loader() if self._mac_key_loader else self._current_key()
        digest = hmac.new(self._mac_key, value.encode(), hashlib.sha256).hexdigest()
        return f"hmac:{digest[:32]}"

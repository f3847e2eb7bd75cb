"""Secret values: a redacting type, AES-256-GCM sealing bound to a slot, keyed hashes.

The key comes from a :class:`~devarch_core.ports.KeyProvider`; this module never touches files.
The ``cryptography`` import is deferred to first use so ``import devarch_core`` stays light.

See docs/architecture.md#secrets.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from attrs import frozen

from devarch_core.errors import SecretError

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.ports import KeyProvider

__all__ = ["KEY_SIZE", "REDACTED", "Secret", "SecretBox", "SecretSlot", "key_id", "sealed_key_id"]

REDACTED: Final = "***"
#: Version prefix of a sealed value: b"DA2" + 8-byte key id + 12-byte nonce + ciphertext-and-tag.
_VERSION: Final = b"DA2"
#: The first format, without a key id (still read: opened with whichever key fits).
_VERSION_1: Final = b"DA1"
_KEY_ID_SIZE: Final = 8
_NONCE_SIZE: Final = 12
#: The AES-GCM authentication tag appended to every ciphertext.
_TAG_SIZE: Final = 16
KEY_SIZE: Final = 32


def key_id(key: bytes) -> str:
    """A key's public fingerprint: 16 hex digits of HMAC-SHA256(key, "devarch-key-id").

    Stored in every sealed value and in the store's metadata, so the key that sealed a value can
    be found, and a key that does not belong to the store recognized; it reveals nothing of the
    key itself.
    """
    import hashlib  # noqa: PLC0415 - with OpenSSL: only where a key is used
    import hmac  # noqa: PLC0415

    return hmac.new(key, b"devarch-key-id", hashlib.sha256).hexdigest()[: 2 * _KEY_ID_SIZE]


def sealed_key_id(blob: bytes) -> str | None:
    """The key id recorded in a sealed value (None for the first format, which has none)."""
    blob = bytes(blob)
    if blob.startswith(_VERSION) and len(blob) >= len(_VERSION) + _KEY_ID_SIZE:
        return blob[len(_VERSION) : len(_VERSION) + _KEY_ID_SIZE].hex()
    return None


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
        import hmac  # noqa: PLC0415 - see key_id

        # Compare bytes: compare_digest refuses str with non-ASCII characters (TypeError).
        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        from devarch_core._digest import sha256  # noqa: PLC0415

        return hash(("Secret", sha256(self._value.encode()).hexdigest()))


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
    """Seals and opens secret values with the store's keys; computes keyed hashes for comparisons.

    The keys come from the provider (read lazily, re-read when a value names a key not yet
    seen, so a rotation by another process is picked up). Opening picks the key by the key id in
    the sealed value. Sealing uses the key passed in, else the provider's current key (created
    when there is none: standalone use; the facade passes the key its store records).
    """

    def __init__(self, keys: KeyProvider, *, mac_key: Callable[[], bytes] | None = None) -> None:
        self._keys = keys
        self._ring: dict[str, bytes] | None = None
        self._current: bytes | None = None
        self._staged: bytes | None = None
        #: Where the HMAC key for :meth:`keyed_hash` comes from. Kept apart from the encryption
        #: key so a key rotation does not change the hashes (and so does not recreate containers).
        self._mac_key_loader = mac_key
        self._mac_key: bytes | None = None

    def reload(self) -> None:
        """Forget the keys read so far; the next use reads them again."""
        self._ring = None

    def _load(self) -> dict[str, bytes]:
        if self._ring is None:
            found = self._keys.read_keys()
            ring: dict[str, bytes] = {}
            for key in found.present():
                _check_key(key)
                ring[key_id(key)] = key
            self._current, self._staged, self._ring = found.current, found.staged, ring
        return self._ring

    def current_key(self) -> bytes | None:
        """The provider's current key, None when there is none (never created here)."""
        self._load()
        return self._current

    def staged_key(self) -> bytes | None:
        """The next key of a rotation under way or interrupted, else None."""
        self._load()
        return self._staged

    def offered_keys(self) -> list[bytes]:
        """Every key the provider offers (current first)."""
        return list(self._load().values())

    def key_by_id(self, kid: str) -> bytes | None:
        """The offered key with id ``kid`` (re-reading the provider once if unknown), else None."""
        key = self._load().get(kid)
        if key is None:
            self.reload()
            key = self._load().get(kid)
        return key

    def _default_key(self) -> bytes:
        current = self.current_key()
        if current is None:
            current = self._keys.create_key()
            _check_key(current)
            self.reload()
        return current

    def seal(self, slot: SecretSlot, value: str, *, key: bytes | None = None) -> bytes:
        """Encrypt ``value`` for ``slot`` with a fresh nonce, recording the key's id."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415 - keep import light

        if key is None:
            key = self._default_key()
        _check_key(key)
        nonce = os.urandom(_NONCE_SIZE)
        sealed = AESGCM(key).encrypt(nonce, value.encode(), slot.associated_data())
        return _VERSION + bytes.fromhex(key_id(key)) + nonce + sealed

    def open(self, slot: SecretSlot, blob: bytes, *, key: bytes | None = None) -> Secret:
        """Decrypt a sealed value (with the key whose id it records, or ``key``).

        A wrong or missing key, tampering or another slot raise ``SecretError``.
        """
        from cryptography.exceptions import InvalidTag  # noqa: PLC0415
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

        blob = bytes(blob)
        if blob.startswith(_VERSION):
            header = len(_VERSION) + _KEY_ID_SIZE
        elif blob.startswith(_VERSION_1):
            header = len(_VERSION_1)
        else:
            raise SecretError(
                f"secret {slot.name} ({slot}) has an unknown format version; "
                "was it written by devarch?"
            )
        if len(blob) < header + _NONCE_SIZE + _TAG_SIZE:
            # Too short to hold a nonce and a tag: AESGCM would raise a bare ValueError.
            raise SecretError(
                f"secret {slot.name} ({slot}) is truncated ({len(blob)} bytes); "
                "restore it or set it again"
            )
        kid = sealed_key_id(blob)
        if key is not None:
            _check_key(key)
            candidates = [key]
        elif kid is not None:
            found = self.key_by_id(kid)
            if found is None:
                raise SecretError(self._missing_key_message(slot, kid))
            candidates = [found]
        else:
            candidates = self.offered_keys()
            if not candidates:
                raise SecretError(self._missing_key_message(slot, None))
        nonce = blob[header : header + _NONCE_SIZE]
        for candidate in candidates:
            try:
                plain = AESGCM(candidate).decrypt(
                    nonce, blob[header + _NONCE_SIZE :], slot.associated_data()
                )
            except InvalidTag:
                continue
            return Secret(plain.decode())
        raise SecretError(
            f"secret {slot.name} ({slot}) cannot be decrypted: wrong key, tampered value, "
            "or a value moved from another slot"
        )

    def _missing_key_message(self, slot: SecretSlot, kid: str | None) -> str:
        held = list(self._load())
        sealed = f"key id {kid}" if kid else "a key"
        where = self._keys.location()
        if held:
            ids = ", ".join(held)
            problem = f"which the key file {where} does not hold (it holds key id {ids})"
        else:
            problem = f"but the key file {where} is missing"
        return (
            f"secret {slot.name} ({slot}) was sealed with {sealed}, {problem}; everyone who "
            "shares a store must share its key file: restore secret.key from a backup or copy it "
            "from the machine that created the store"
        )

    def keyed_hash(self, value: str) -> str:
        """Return an HMAC of ``value`` under the key: plans compare secrets without storing them."""
        if self._mac_key is None:
            self._mac_key = self._mac_key_loader() if self._mac_key_loader else self._default_key()
        import hashlib  # noqa: PLC0415 - see key_id
        import hmac  # noqa: PLC0415

        digest = hmac.new(self._mac_key, value.encode(), hashlib.sha256).hexdigest()
        return f"hmac:{digest[:32]}"


def _check_key(key: bytes) -> None:
    """``SecretError`` unless ``key`` is 32 bytes (AES-GCM would take 16 or 24 bytes too)."""
    if len(key) != KEY_SIZE:
        raise SecretError(f"the secret key must be {KEY_SIZE} bytes, got {len(key)}")

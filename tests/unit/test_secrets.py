"""Secret values: the redacting type, AES-256-GCM sealing bound to a slot, keyed hashes.

Also, through the facade on in-memory fakes: a stored value that cannot be opened is a loud
``SecretError`` wherever devarch reads it, never an empty string.

See docs/architecture.md#secrets.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pytest

from devarch_core.errors import SecretError
from devarch_core.ports import SealedSecret
from devarch_core.secrets import KEY_SIZE, REDACTED, Secret, SecretBox, SecretSlot
from devarch_core.testing import (
    InMemoryKeys,
    fake_devarch,
    reveal_secret,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.app import Devarch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
SLOT = SecretSlot("stack-1", "inst-1", "POSTGRES_PASSWORD")
VALUE = "S3cr3t-unit-value"
VERSION = b"DA2"
KEY_ID = 8
#: Version prefix and the id of the key that sealed the value.
HEADER = len(VERSION) + KEY_ID
NONCE = 12
TAG = 16


@pytest.fixture
def box() -> SecretBox:
    """Return a SecretBox on a fresh random key."""
    return SecretBox(InMemoryKeys())


def _flip(blob: bytes, index: int) -> bytes:
    data = bytearray(blob)
    data[index] ^= 0x01
    return bytes(data)


# -- sealing --------------------------------------------------------------------------------------


def test_a_sealed_value_opens_to_the_same_text(box):
    """Sealing then opening gives back the plaintext, wrapped in a Secret."""
    opened = box.open(SLOT, box.seal(SLOT, VALUE))
    assert isinstance(opened, Secret)
    assert opened.reveal() == VALUE


@pytest.mark.parametrize(
    "value", ["", "pässwörd-ünïcode-🔑", "x" * 10_000, "with\nnewline and = sign"]
)
def test_any_text_round_trips_including_empty_and_unicode(box, value):
    """Empty, non-ASCII, long and multi-line values all come back exactly."""
    assert box.open(SLOT, box.seal(SLOT, value)).reveal() == value


def test_two_seals_of_one_value_differ_because_each_uses_a_fresh_nonce(box):
    """Sealing the same value twice gives different ciphertexts and different nonces."""
    first, second = box.seal(SLOT, VALUE), box.seal(SLOT, VALUE)
    assert first != second
    assert first[HEADER : HEADER + NONCE] != second[HEADER : HEADER + NONCE]
    assert box.open(SLOT, first) == box.open(SLOT, second)


def test_a_sealed_value_starts_with_the_version_prefix_and_hides_the_plaintext(box):
    """The blob is b"DA2" + 8-byte key id + 12-byte nonce + ciphertext + 16-byte tag, no plain."""
    blob = box.seal(SLOT, VALUE)
    assert blob.startswith(VERSION)
    assert len(blob) == HEADER + NONCE + len(VALUE.encode()) + TAG
    assert VALUE.encode() not in blob


def test_a_blob_without_the_version_prefix_is_refused_naming_the_slot(box):
    """A value that was not written by devarch (no prefix) raises SecretError naming the slot."""
    blob = box.seal(SLOT, VALUE)
    with pytest.raises(SecretError, match="unknown format version") as info:
        box.open(SLOT, b"XX9" + blob[len(VERSION) :])
    assert str(SLOT) in str(info.value)


def test_a_wrong_key_is_a_secret_error_naming_the_slot(box):
    """Opening with another key raises SecretError that names the variable and its slot."""
    blob = box.seal(SLOT, VALUE)
    other = SecretBox(InMemoryKeys())
    with pytest.raises(SecretError) as info:
        other.open(SLOT, blob)
    message = str(info.value)
    assert SLOT.name in message
    assert str(SLOT) in message
    assert VALUE not in message


def test_an_explicit_wrong_key_argument_is_also_refused(box):
    """open(key=...) with a different 32-byte key raises SecretError too."""
    blob = box.seal(SLOT, VALUE)
    with pytest.raises(SecretError, match=SLOT.name):
        box.open(SLOT, blob, key=os.urandom(KEY_SIZE))


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(HEADER, id="nonce"),
        pytest.param(HEADER + NONCE, id="first-ciphertext-byte"),
        pytest.param(HEADER + NONCE + 5, id="middle-ciphertext-byte"),
        pytest.param(-1, id="last-tag-byte"),
    ],
)
def test_a_tampered_byte_anywhere_is_a_secret_error(box, where):
    """Flipping one bit of the nonce, ciphertext or tag makes the value unreadable (SecretError)."""
    blob = box.seal(SLOT, VALUE)
    with pytest.raises(SecretError, match="cannot be decrypted"):
        box.open(SLOT, _flip(blob, where))


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(HEADER, id="prefix-only"),
        pytest.param(HEADER + 5, id="half-a-nonce"),
        pytest.param(HEADER + NONCE, id="nonce-no-ciphertext"),
        pytest.param(HEADER + NONCE + TAG - 1, id="short-tag"),
    ],
)
def test_a_truncated_blob_is_a_secret_error_not_a_crash(box, cut):
    """A sealed value cut short is a SecretError naming the slot (never a bare ValueError)."""
    blob = box.seal(SLOT, VALUE)
    with pytest.raises(SecretError) as info:
        box.open(SLOT, blob[:cut])
    assert str(SLOT) in str(info.value)


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(SecretSlot("stack-1", "inst-2", SLOT.name), id="other-instance"),
        pytest.param(SecretSlot("stack-1", "inst-1", "OTHER_PASSWORD"), id="other-name"),
        pytest.param(SecretSlot("stack-2", "inst-1", SLOT.name), id="other-stack"),
    ],
)
def test_a_ciphertext_moved_to_another_slot_is_unreadable(box, other):
    """The slot is associated data: the same blob under another instance/name/stack is refused."""
    blob = box.seal(SLOT, VALUE)
    with pytest.raises(SecretError) as info:
        box.open(other, blob)
    assert str(other) in str(info.value)
    assert other.name in str(info.value)


def test_a_failed_open_never_returns_an_empty_string(box):
    """Every way a value can be unreadable raises; no path hands back ''."""
    blob = box.seal(SLOT, VALUE)
    bad_blobs = [b"", VERSION, blob[:-1], _flip(blob, -1), b"plain text"]
    for bad in bad_blobs:
        with pytest.raises(SecretError):
            box.open(SLOT, bad)


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33])
def test_a_key_of_the_wrong_size_from_the_provider_is_refused(size):
    """A key provider returning anything but 32 bytes makes sealing raise SecretError."""
    box = SecretBox(InMemoryKeys(b"k" * size))
    with pytest.raises(SecretError, match="32 bytes"):
        box.seal(SLOT, VALUE)


@pytest.mark.parametrize("size", [0, 16, 24, 31])
def test_an_explicit_key_of_the_wrong_size_is_refused(box, size):
    """seal/open with key= of the wrong size raise SecretError, never fall back or use AES-128."""
    with pytest.raises(SecretError, match="32 bytes"):
        box.seal(SLOT, VALUE, key=b"k" * size)
    with pytest.raises(SecretError, match="32 bytes"):
        box.open(SLOT, box.seal(SLOT, VALUE), key=b"k" * size)


def test_a_value_sealed_with_an_explicit_key_opens_only_with_that_key(box):
    """seal(key=new) is readable with open(key=new) and not with the box's own key."""
    new = os.urandom(KEY_SIZE)
    blob = box.seal(SLOT, VALUE, key=new)
    assert box.open(SLOT, blob, key=new).reveal() == VALUE
    with pytest.raises(SecretError):
        box.open(SLOT, blob)


# -- the redacting type ---------------------------------------------------------------------------


def test_a_secret_never_shows_its_value_when_printed_or_formatted():
    """str, repr, format, f-strings (any spec/conversion) and %-formatting all give ***."""
    secret = Secret(VALUE)
    renderings = [
        str(secret),
        format(secret),
        format(secret, ">20"),
        f"{secret}",
        f"{secret!s}",
        f"{secret:^30}",
        "%s" % secret,  # noqa: UP031 - %-formatting is what is being tested
        "{}".format(secret),  # noqa: UP032 - str.format is what is being tested
        "{0!s}".format(secret),  # noqa: UP030, UP032 - str.format is what is being tested
    ]
    assert all(text.strip() == REDACTED for text in renderings), renderings
    for text in (repr(secret), f"{secret!r}", "%r" % secret, repr([secret]), repr({"k": secret})):  # noqa: UP031
        assert VALUE not in text
        assert REDACTED in text


def test_a_secret_inside_value_objects_and_errors_stays_redacted():
    """Reprs of attrs classes, exception messages and log records with a Secret show only ***."""

    @attrs.frozen
    class Holder:
        password: Secret

    holder = Holder(password=Secret(VALUE))
    error = SecretError(f"cannot use {holder.password}")
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "password=%s", (Secret(VALUE),), None
    )
    for text in (repr(holder), str(error), repr(error), record.getMessage()):
        assert VALUE not in text


def test_only_reveal_gives_the_plaintext():
    """reveal() is the one way to the value."""
    assert Secret(VALUE).reveal() == VALUE


def test_secrets_compare_by_value_including_non_ascii():
    """Two Secrets with the same text are equal (and hash alike), also for non-ASCII text."""
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret(VALUE + "x")
    assert Secret(VALUE) != VALUE
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))
    assert Secret("pässwörd") == Secret("pässwörd")
    assert Secret("pässwörd") != Secret("passwörd")


# -- keyed hashes ---------------------------------------------------------------------------------


def test_keyed_hash_is_stable_for_one_key():
    """The same value under the same key hashes the same, across SecretBox instances."""
    keys = InMemoryKeys()
    assert SecretBox(keys).keyed_hash(VALUE) == SecretBox(keys).keyed_hash(VALUE)


def test_keyed_hash_differs_across_keys_and_values(box):
    """Another key or another value gives another hash; the hash never contains the value."""
    other = SecretBox(InMemoryKeys())
    digest = box.keyed_hash(VALUE)
    assert digest.startswith("hmac:")
    assert digest != other.keyed_hash(VALUE)
    assert digest != box.keyed_hash(VALUE + "x")
    assert VALUE not in digest


# -- through the facade: unreadable stored values are loud ----------------------------------------


@pytest.fixture
def devarch() -> Devarch:
    """Return a facade on in-memory fakes with the example busybox catalog."""
    from devarch_adapters.filesystem import load_catalog_dirs  # noqa: PLC0415 - test helper only

    return fake_devarch(
        load_catalog_dirs([EXAMPLES]), images={"devarch-test/busybox:latest": "sha256:" + "b" * 64}
    )


def _corrupt_secret(devarch: Devarch, stack: str, name: str) -> None:
    with devarch.store.transaction() as tx:
        st = tx.get_stack(stack)
        assert st is not None
        sealed = next(s for s in tx.list_secrets(st.id) if s.name == name)
        tx.put_secret(attrs.evolve(sealed, sealed=_flip(sealed.sealed, -1)))


def test_a_corrupted_stored_secret_is_loud_in_every_read_path(devarch):
    """After tampering in the store, reading, planning, compose and effective raise SecretError."""
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db", secrets={"POSTGRES_PASSWORD": VALUE})
    _corrupt_secret(devarch, "s", "POSTGRES_PASSWORD")
    readers: list[Callable[[], object]] = [
        lambda: reveal_secret(devarch, "s", "db", "POSTGRES_PASSWORD"),
        lambda: devarch.effective("s", "db"),
        lambda: devarch.plan("s"),
        lambda: devarch.compose("s"),
        lambda: devarch.apply("s"),
    ]
    for read in readers:
        with pytest.raises(SecretError, match="POSTGRES_PASSWORD") as info:
            read()
        assert VALUE not in str(info.value)


def test_a_secret_sealed_for_another_instance_is_refused_by_the_facade(devarch):
    """A blob copied in the store from one instance's slot to another's is a SecretError."""
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db", secrets={"POSTGRES_PASSWORD": VALUE})
    devarch.add_instance("s", "db2", "bb-db")
    with devarch.store.transaction() as tx:
        st = tx.get_stack("s")
        assert st is not None
        sealed = tx.list_secrets(st.id)[0]
        other = tx.get_instance(st.id, "db2")
        assert other is not None
        tx.put_secret(
            SealedSecret(
                stack_id=st.id, instance_id=other.id, name=sealed.name, sealed=sealed.sealed
            )
        )
    with pytest.raises(SecretError, match="POSTGRES_PASSWORD"):
        reveal_secret(devarch, "s", "db2", "POSTGRES_PASSWORD")
    assert reveal_secret(devarch, "s", "db", "POSTGRES_PASSWORD") == VALUE

"""A secret value no container could be started with is refused when it is set, not at apply.

Linux starts no process with a NUL byte in an environment string or with one ``NAME=value`` of
128 KiB or more; the engine would only say so at create or start, after the plan. The refusal
names the secret and its size, never the value, and the store is left as it was.
"""

from __future__ import annotations

import pytest

from devarch_core.errors import ValidationError
from devarch_core.validators import MAX_ENV_ENTRY, check_env_value

VALUE = "s3cr3t-7c1e9a"


@pytest.fixture
def shop(devarch):
    devarch.create_stack("shop")
    devarch.add_instance("shop", "db", "bb-db")
    return devarch


def test_a_nul_byte_is_refused_without_quoting_the_value(shop):
    """set_secret refuses a NUL byte; the error names the secret, not the value."""
    with pytest.raises(ValidationError) as info:
        shop.set_secret("shop", "db", "POSTGRES_PASSWORD", VALUE + "\x00tail")
    assert "secret POSTGRES_PASSWORD of shop/db" in str(info.value)
    assert "NUL byte" in str(info.value)
    assert VALUE not in str(info.value)
    assert shop.list_secrets("shop") == []


def test_the_largest_value_the_kernel_takes_is_kept_and_one_byte_more_is_refused(shop):
    """NAME=value must stay under 128 KiB: the longest that fits is stored, one more is not."""
    name = "TOKEN"
    longest = "x" * (MAX_ENV_ENTRY - len(name) - 2)
    shop.set_secret("shop", "db", name, longest)
    with pytest.raises(ValidationError, match=r"TOKEN=VALUE is 131072 bytes"):
        shop.set_secret("shop", "db", name, longest + "y")
    assert shop.list_secrets("shop") == [{"instance": "db", "name": name}]


def test_the_size_counts_utf8_bytes_not_characters() -> None:
    """A value of multi-byte characters is measured as the engine passes it, in UTF-8 bytes."""
    check_env_value("A", "é" * ((MAX_ENV_ENTRY - 3) // 2))
    with pytest.raises(ValueError, match="bytes"):
        check_env_value("A", "é" * ((MAX_ENV_ENTRY - 3) // 2 + 1))

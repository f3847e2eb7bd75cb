"""SHA-256 for content hashes and cache keys, without loading OpenSSL at start-up.

``hashlib`` loads its OpenSSL binding when imported (about 2 ms of every CLI command); the
content hashes of a plan (templates, desired containers, the staleness token, parsed-file
keys) use CPython's own SHA-256 module instead, as ``random`` does for SHA-512. The digests are
the same; ``hashlib`` is the fallback on an interpreter without that module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from hashlib import _Hash

__all__ = ["sha256"]

sha256: Callable[[bytes], _Hash]
try:
    from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]  # CPython 3.12+
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]  # CPython 3.11
    except ImportError:  # another interpreter
        from hashlib import sha256  # type: ignore[assignment,no-redef,unused-ignore]

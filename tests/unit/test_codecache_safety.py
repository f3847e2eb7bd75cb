"""The attrs code cache: every generated method as attrs makes it, and no unsafe file ever read.

Review of ``devarch_adapters._codecache``: the hash constant is put back wherever the compiler
put it (a class without compared fields folds it into a constant tuple), and a file that is a
symbolic link, a FIFO, in a directory others may write, too large, corrupt or of other compiler
flags is never unmarshalled into code.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Any

import pytest

from devarch_adapters import _codecache

if TYPE_CHECKING:
    from pathlib import Path

_HASH_NO_FIELDS = "def __hash__(self):\n    return hash((\n        12345,\n    ))\n"
_HASH_ONE_FIELD = (
    "def __hash__(self):\n    return hash((\n        12345,\n        self.a,\n    ))\n"
)


def _function(code: Any, name: str = "__hash__") -> Any:
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - the test's own source
    return namespace[name]


def _filled(path: Path, *sources: str) -> None:
    cache = _codecache.CodeCache(path)
    for source in sources:
        cache.code(source, "<x>")
    cache.save()
    assert path.is_file()


def _fresh_compiles(path: Path, source: str = _HASH_ONE_FIELD) -> int:
    """How many sources a new cache on ``path`` compiles for ``source`` (0: it read the file)."""
    cache = _codecache.CodeCache(path)
    cache.code(source, "<x>")
    return cache.compiled


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 0700 cache directory; bytecode writing on (CI may set ``PYTHONDONTWRITEBYTECODE``)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    return cache


class _Obj:
    a = 7


@pytest.mark.parametrize("number", ["12345", "-678"])
def test_hash_of_a_class_without_compared_fields_carries_this_process_constant(
    home: Path, number: str
) -> None:
    """``hash((<n>,))`` is one folded constant tuple: the number inside it is replaced too."""
    source = _HASH_NO_FIELDS.replace("12345", number)
    for _ in range(2):  # compiled now, then read from the file
        cache = _codecache.CodeCache(home / "c")
        code = cache.code(source, "<x>")
        assert _function(code)(_Obj()) == hash((int(number),))
        cache.save()
    assert cache.compiled == 0
    one = _codecache.CodeCache(home / "c").code(_HASH_ONE_FIELD, "<x>")
    assert _function(one)(_Obj()) == hash((12345, 7))


_CLASSES = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import attrs
    import attr._make as make
    from devarch_adapters import _codecache

    cache = _codecache.install(Path(sys.argv[1]))

    def type_hash(cls):
        return hash(make._generate_unique_filename(cls, "hash"))

    @attrs.frozen
    class Empty:
        pass

    @attrs.frozen
    class Ignored:
        a: int = attrs.field(default=1, eq=False)

    @attrs.frozen(cache_hash=True)
    class Cached:
        a: int = 1

    @attrs.frozen
    class Base:
        a: int = attrs.field(default=1, converter=int)

    @attrs.frozen
    class Child(Base):
        b: str = attrs.field(default="x", validator=attrs.validators.instance_of(str))

    @attrs.define(slots=False, frozen=True)
    class Dicty:
        a: int = 1

    try:
        Child(b=3)
        refused = False
    except TypeError:
        refused = True
    out = {
        "empty": hash(Empty()) == hash((type_hash(Empty),)),
        "ignored": hash(Ignored(5)) == hash((type_hash(Ignored),)),
        "cached": hash(Cached()) == hash((type_hash(Cached), 1)) == hash(Cached()),
        "child": hash(Child("2")) == hash((type_hash(Child), 2, "x")),
        "dicty": hash(Dicty()) == hash((type_hash(Dicty), 1)),
        "eq": Child("2") == Child(2) and Child(2) != Child(3) and Empty() == Empty(),
        "repr": repr(Child("2")).endswith("Child(a=2, b='x')"),
        "refused": refused,
        "slots": hasattr(Child, "__slots__") and not hasattr(Dicty, "__slots__"),
        "compiled": cache.compiled,
    }
    cache.save()
    print(json.dumps(out))
    """
)


def test_classes_hash_compare_and_check_as_attrs_makes_them_in_two_processes(home: Path) -> None:
    """First run compiles, second reads the file: each hash is the one attrs gives in-process."""
    import json  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    results = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", _CLASSES, str(home / "c")],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env=env,
        )
        results.append(json.loads(done.stdout))
    assert results[0]["compiled"] > 0
    assert results[1]["compiled"] == 0
    for result in results:
        assert {k: v for k, v in result.items() if k != "compiled"} == {
            "empty": True,
            "ignored": True,
            "cached": True,
            "child": True,
            "dicty": True,
            "eq": True,
            "repr": True,
            "refused": True,
            "slots": True,
        }


def test_a_symlinked_file_is_not_read(home: Path) -> None:
    _filled(home / "real", _HASH_ONE_FIELD)
    assert _fresh_compiles(home / "real") == 0
    (home / "link").symlink_to(home / "real")
    assert _fresh_compiles(home / "link") == 1


def test_a_fifo_is_not_waited_on(home: Path) -> None:
    """Opening a FIFO for reading would block the command until a writer came."""
    fifo = home / "fifo"
    os.mkfifo(fifo, 0o600)
    compiled: list[int] = []
    reader = threading.Thread(target=lambda: compiled.append(_fresh_compiles(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    blocked = reader.is_alive()
    if blocked:  # unblock it before failing
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        reader.join(timeout=10)
    assert not blocked
    assert compiled == [1]


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_directory_others_may_write_is_not_trusted(home: Path, mode: int) -> None:
    """Anyone who may write the directory may swap the file: it is neither read nor written."""
    _filled(home / "c", _HASH_ONE_FIELD)
    home.chmod(mode)
    try:
        assert _fresh_compiles(home / "c") == 1
        cache = _codecache.CodeCache(home / "d")
        cache.code(_HASH_NO_FIELDS, "<x>")
        cache.save()
        assert not (home / "d").exists()
    finally:
        home.chmod(0o700)


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_file_others_may_write_is_not_read(home: Path, mode: int) -> None:
    _filled(home / "c", _HASH_ONE_FIELD)
    (home / "c").chmod(mode)
    assert _fresh_compiles(home / "c") == 1


def test_a_file_over_the_size_limit_is_not_read(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _filled(home / "c", _HASH_ONE_FIELD)
    monkeypatch.setattr(_codecache, "MAX_BYTES", (home / "c").stat().st_size - 1)
    assert _fresh_compiles(home / "c") == 1


def _flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1 :]


def test_a_corrupt_or_truncated_file_is_ignored(home: Path) -> None:
    """A changed byte anywhere in the codes fails the digest before anything is unmarshalled."""
    _filled(home / "c", _HASH_ONE_FIELD, _HASH_NO_FIELDS)
    good = (home / "c").read_bytes()
    for at in (len(good) // 2, len(good) - 20, len(good) - 1):
        (home / "c").write_bytes(_flipped(good, at))
        assert _fresh_compiles(home / "c") == 1, at
    for size in (0, 10, len(good) // 2, len(good) - 1):
        (home / "c").write_bytes(good[:size])
        assert _fresh_compiles(home / "c") == 1, size
    (home / "c").write_bytes(good)
    assert _fresh_compiles(home / "c") == 0


def test_codes_compiled_with_other_future_flags_are_not_used(home: Path) -> None:
    """A new attrs compiling with other ``__future__`` flags makes other code of one source."""
    import __future__  # noqa: PLC0415

    _filled(home / "c", _HASH_ONE_FIELD)
    flags = __future__.annotations.compiler_flag
    cache = _codecache.CodeCache(home / "c", flags=flags)
    cache.code(_HASH_ONE_FIELD, "<x>")
    assert cache.compiled == 1


def test_a_file_of_another_python_is_not_read(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _filled(home / "c", _HASH_ONE_FIELD)
    import importlib.util  # noqa: PLC0415

    monkeypatch.setattr(importlib.util, "MAGIC_NUMBER", b"\x00\x00\r\n")
    assert _fresh_compiles(home / "c") == 1


def test_concurrent_writers_leave_one_whole_file(home: Path) -> None:
    """Each saves through its own temporary file renamed over the old: the result always loads."""
    sources = [_HASH_ONE_FIELD.replace("self.a", f"self.a{i}") for i in range(8)]
    caches = []
    for source in sources:
        cache = _codecache.CodeCache(home / "c")
        cache.code(source, "<x>")
        caches.append(cache)
    start = threading.Barrier(len(caches))

    def save(cache: _codecache.CodeCache) -> None:
        start.wait()
        cache.save()

    threads = [threading.Thread(target=save, args=(c,)) for c in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(_fresh_compiles(home / "c", s) == 0 for s in sources) == 1
    assert [p.name for p in home.iterdir()] == ["c"]  # no temporary file left


def test_the_file_keeps_only_this_run_codes_when_it_grows_too_large(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = [_HASH_ONE_FIELD.replace("self.a", f"self.a{i}") for i in range(4)]
    _filled(home / "c", *sources[:3])
    monkeypatch.setattr(_codecache, "MAX_ENTRIES", 2)
    cache = _codecache.CodeCache(home / "c")
    cache.code(sources[0], "<x>")
    cache.code(sources[3], "<x>")
    cache.save()
    assert [_fresh_compiles(home / "c", s) for s in sources] == [0, 1, 1, 0]


def test_nothing_is_written_when_python_writes_no_bytecode(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    cache = _codecache.CodeCache(home / "c")
    cache.code(_HASH_ONE_FIELD, "<x>")
    cache.save()
    assert not (home / "c").exists()


def test_a_file_that_unmarshals_to_something_else_is_ignored(home: Path) -> None:
    """The right header and digest over codes that are not a dict: compiled, not crashed."""
    payload = marshal.dumps(["not", "a", "dict"])
    from devarch_core._digest import sha256  # noqa: PLC0415

    header = _codecache._header(0)
    (home / "c").write_bytes(marshal.dumps((header, sha256(payload).digest(), payload)))  # type: ignore[arg-type]
    (home / "c").chmod(0o600)
    assert _fresh_compiles(home / "c") == 1

"""The compiled methods attrs generates, kept on disk between ``devarch`` runs.

attrs writes the methods of each class (``__init__``, ``__eq__``, ``__hash__``...) as Python
source when the class is defined and compiles it: for the 80-odd classes a ``devarch apply``
loads that compiling was about a sixth of a no-op's CPU time, in every run, for the same source.
The CLI keeps the code objects in ``DEVARCH_HOME/cache/attrs-code.<tag>``, keyed by the SHA-256
of source and file name, as Python keeps a module's in ``__pycache__``: an unchanged class reuses
its code, a changed one (a new devarch or attrs) compiles and is added. Only the ``devarch``
command installs it (:func:`install`); the library never does.

Like ``__pycache__`` it is trusted code: the file is read only when it is a regular file (not
a symbolic link) that this user owns and nobody else may write, in a directory of the same kind
(the cache directory is 0700, the file 0600), and no larger than :data:`MAX_BYTES`. The codes
are checked against a SHA-256 of them written in the file before they are unmarshalled. A file
that cannot be read, is of another format, Python or attrs compiler flags, or is broken is
ignored; one that cannot be written is not written. It only ever saves time. Nothing is written
when Python writes no bytecode (``PYTHONDONTWRITEBYTECODE``).
"""

from __future__ import annotations
import __future__

import contextlib
import marshal
import os
import re
import stat
import sys
from types import CodeType
from typing import TYPE_CHECKING, Any

from devarch_core._digest import sha256

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["CodeCache", "install"]

#: Bump when the file's layout changes.
FORMAT = 2
#: A larger file is not read (a cache of :data:`MAX_ENTRIES` codes is a few MB).
MAX_BYTES = 64 * 1024 * 1024
#: More entries than this (sources of older devarch or attrs versions piling up) and the next
#: write keeps only those this run used.
MAX_ENTRIES = 2000

#: SHA-256 of the file name and the source.
_Key = bytes

#: The per-class constant attrs writes into a generated ``__hash__``: ``hash(<a str>)``, so it
#: differs in every process (string hashing is randomized). The cache keeps the source with
#: :data:`_SEED` in its place and puts the process's own value into the code it hands out.
_TYPE_HASH = re.compile(r"hash\(\(\n[ \t]*(-?\d+),\n")
_SEED = 0x5EED_C0DE_5EED_C0DE


def _compiler_flags(module: object) -> int:
    """The ``from __future__`` flags in force in ``module``: what its ``compile()`` inherits."""
    flags = 0
    for name in __future__.all_feature_names:
        feature = getattr(module, name, None)
        if isinstance(feature, __future__._Feature):  # noqa: SLF001 - the feature objects' class
            flags |= feature.compiler_flag
    return flags


def _with_constant(code: CodeType, old: int, new: int) -> tuple[CodeType, int]:
    """``code`` (and the functions it defines) with the int constant ``old`` replaced by ``new``.

    Also inside the tuples the compiler folds constants into: the ``hash((<seed>,))`` of a class
    without compared fields is one constant tuple. Returns the code and how many were replaced.
    """
    count = 0

    def swap(c: object) -> object:
        nonlocal count
        if type(c) is int and c == old:
            count += 1
            return new
        if isinstance(c, CodeType):
            replaced, n = _with_constant(c, old, new)
            count += n
            return replaced
        if type(c) is tuple:
            return tuple(swap(x) for x in c)
        if type(c) is frozenset:
            return frozenset(swap(x) for x in c)
        return c

    consts = tuple(swap(c) for c in code.co_consts)
    return code.replace(co_consts=consts), count


def _header(flags: int) -> tuple[object, ...]:
    """What a file must start with to be used: format, bytecode magic, optimization, flags.

    The flags are the ``from __future__`` ones attrs compiles with (a new attrs may change them).
    """
    from importlib.util import MAGIC_NUMBER  # noqa: PLC0415 - already loaded by the import system

    return ("devarch-attrs-code", FORMAT, MAGIC_NUMBER, sys.flags.optimize, flags)


def _safe_directory(st: os.stat_result) -> bool:
    """``st`` is of a directory of this user that nobody else may write."""
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


class CodeCache:
    """Code objects by the hash of their file name and source; written by :meth:`save`."""

    def __init__(self, path: Path, *, flags: int = 0) -> None:
        self.path = path
        self._flags = flags
        self._codes: dict[_Key, CodeType] = {}
        self._used: set[_Key] = set()
        self._read = False
        #: Sources compiled by this process (not found in the file).
        self.compiled = 0

    def _load(self) -> None:
        self._read = True
        with contextlib.suppress(Exception):  # a cache that cannot be used is no cache
            # The file is opened in the very directory checked (no swap in between), not
            # through a symbolic link, and a FIFO must not block the command.
            directory = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if not _safe_directory(os.fstat(directory)):
                    return
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                fd = os.open(self.path.name, flags, dir_fd=directory)
            finally:
                os.close(directory)
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fh.fileno())
                if (
                    not stat.S_ISREG(st.st_mode)
                    or st.st_uid != os.getuid()
                    or st.st_mode & 0o022
                    or st.st_size > MAX_BYTES
                ):
                    return
                raw = fh.read(MAX_BYTES + 1)
            if len(raw) > MAX_BYTES:
                return
            data = marshal.loads(raw)  # noqa: S302 - header, digest, bytes: no code in it yet
            if (
                isinstance(data, tuple)
                and len(data) == 3  # noqa: PLR2004 - (header, digest, codes)
                and data[0] == _header(self._flags)
                and isinstance(data[2], bytes)
                and data[1] == sha256(data[2]).digest()
            ):
                codes = marshal.loads(data[2])  # noqa: S302 - this user's own file, see the module docstring
                if isinstance(codes, dict):
                    self._codes = codes

    def _compile(self, source: str, filename: str) -> CodeType:
        """``compile()`` as attrs calls it (its module's ``__future__`` flags)."""
        code: CodeType = compile(source, filename, "exec", flags=self._flags, dont_inherit=True)
        return code

    def code(self, source: str, filename: str) -> CodeType:
        """The code of ``source`` compiled as ``filename``: from the file, else compiled now."""
        if not self._read:
            self._load()
        if str(_SEED) in source:  # cannot be told from the stand-in: not cached
            return self._compile(source, filename)
        seeded = _TYPE_HASH.search(source)
        stored = source
        if seeded is not None:
            stored = source[: seeded.start(1)] + str(_SEED) + source[seeded.end(1) :]
        key = sha256(f"{filename}\0{stored}".encode()).digest()
        found = self._codes.get(key)
        if not isinstance(found, CodeType):  # not there (or not code: never run as source)
            found = self._compile(stored, filename)
            self._codes[key] = found
            self.compiled += 1
        self._used.add(key)
        if seeded is not None:
            found, replaced = _with_constant(found, _SEED, int(seeded.group(1)))
            if replaced != 1:  # the stand-in is not where it was expected: compile this one
                return self._compile(source, filename)
        return found

    def save(self) -> None:
        """Write the file when this run compiled something; never raises.

        The cache directory is made when missing, the home directory above it never (``devarch
        --help`` before any other command leaves no trace).
        """
        if not self.compiled or sys.dont_write_bytecode or not self.path.parent.parent.is_dir():
            return
        codes = self._codes
        if len(codes) > MAX_ENTRIES:
            codes = {key: codes[key] for key in self._used}
        with contextlib.suppress(Exception):
            import tempfile  # noqa: PLC0415 - only when something new was compiled
            from pathlib import Path  # noqa: PLC0415

            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not _safe_directory(self.path.parent.stat()):  # it would never be read
                return
            payload = marshal.dumps(codes)
            header = _header(self._flags)
            data = marshal.dumps((header, sha256(payload).digest(), payload))  # type: ignore[arg-type]
            if len(data) > MAX_BYTES:
                return
            # Each writer its own temporary file, renamed over the old one (atomic): two
            # devarch processes saving at once leave one whole file, never a mixed one.
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".attrs-code-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                Path(tmp).replace(self.path)
            finally:
                Path(tmp).unlink(missing_ok=True)
            self.compiled = 0


def install(path: Path) -> CodeCache | None:
    """Make attrs take the code of the classes defined from now on from a cache at ``path``.

    Returns the cache (call :meth:`CodeCache.save` when the process is done), or None when the
    installed attrs does not compile through the function this replaces (nothing is changed).
    """
    try:
        import attr._make as make  # noqa: PLC0415
    except ImportError:
        return None
    original: Callable[..., Any] | None = getattr(make, "_compile_and_eval", None)
    code = getattr(original, "__code__", None)
    if code is None or code.co_varnames[:4] != ("script", "globs", "locs", "filename"):
        return None
    cache = CodeCache(path, flags=_compiler_flags(make))

    def compile_and_eval(
        script: str,
        globs: dict[str, Any] | None,
        locs: Any = None,  # noqa: ANN401 - as attrs passes it
        filename: str = "",
    ) -> None:
        eval(cache.code(script, filename), globs, locs)  # noqa: S307 - what attrs itself does

    make._compile_and_eval = compile_and_eval  # noqa: SLF001 - the one hook attrs compiles through
    return cache

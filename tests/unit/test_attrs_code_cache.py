"""The ``devarch`` process reuses the methods attrs compiled in an earlier run.

Compiling the generated ``__init__``/``__eq__``/``__hash__`` of every class was about a sixth of
a no-op ``apply``; ``devarch_adapters._codecache`` keeps the code in ``DEVARCH_HOME/cache``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import attrs
import pytest

from devarch_adapters import _codecache

if TYPE_CHECKING:
    from pathlib import Path

#: A ``devarch`` process (``main()`` without arguments, as the console script runs it) that
#: reports how many attrs sources it compiled and whether its classes still hash and compare.
_RUN = textwrap.dedent(
    """
    import atexit, json, sys
    from devarch_adapters import _codecache

    counts = []
    real = _codecache.install
    compiled = [0]
    real_code = _codecache.CodeCache.code

    def code(self, source, filename):
        before = self.compiled
        found = real_code(self, source, filename)
        compiled[0] += self.compiled - before
        return found

    def install(path):
        cache = real(path)
        counts.append(cache)
        return cache

    _codecache.install = install
    _codecache.CodeCache.code = code

    def report():
        from devarch_core.model import Stack
        from devarch_core.secrets import SecretSlot

        a, b = SecretSlot("s", "i", "n"), SecretSlot("s", "i", "n")
        sys.stderr.write("REPORT " + json.dumps({
            "installed": [c is not None for c in counts],
            "compiled": compiled_by_main,
            "equal": a == b and hash(a) == hash(b) and len({a, b}) == 1,
            "stack_eq": Stack(id="x", name="y") == Stack(id="x", name="y"),
        }) + "\\n")

    atexit.register(report)
    from devarch_adapters.cli import main
    sys.argv = ["devarch", *sys.argv[1:]]
    code = main()
    compiled_by_main = list(compiled)
    sys.stdout.flush()
    sys.exit(code)
    """
)


def _devarch(home: Path, *argv: str) -> tuple[str, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["DEVARCH_HOME"] = str(home)
    env["DEVARCH_RUNTIME"] = "none"
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("REPORT "))
    return done.stdout, json.loads(line.removeprefix("REPORT "))


def test_a_second_run_compiles_no_attrs_method_and_prints_the_same(tmp_path: Path) -> None:
    """The first run fills the cache (0600 in a 0700 directory); the second compiles nothing."""
    _devarch(tmp_path, "stack", "create", "shop")
    path = tmp_path / "cache" / f"attrs-code.{sys.implementation.cache_tag}"
    assert path.is_file()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    out, second = _devarch(tmp_path, "--json", "stack", "list")
    assert second["installed"] == [True]
    assert second["equal"] is True
    assert second["stack_eq"] is True
    assert json.loads(out)[0]["name"] == "shop"
    _, third = _devarch(tmp_path, "--json", "stack", "list")
    assert third["compiled"] == [0]


def test_a_broken_or_foreign_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    """A cache that is not ours, or not a cache, only costs the compiling it would have saved."""
    path = tmp_path / "cache" / f"attrs-code.{sys.implementation.cache_tag}"
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"not marshal data at all")
    path.chmod(0o600)
    out, report = _devarch(tmp_path, "--json", "stack", "list")
    assert json.loads(out) == []
    assert report["compiled"] != [0]
    _, again = _devarch(tmp_path, "--json", "stack", "list")
    assert again["compiled"] == [0]
    path.chmod(0o666)  # anyone may write it: never read
    _, refused = _devarch(tmp_path, "--json", "stack", "list")
    assert refused["compiled"] != [0]


def test_the_hash_constant_of_this_process_is_put_back(tmp_path: Path) -> None:
    """Attrs writes a per-process number into ``__hash__``: cached code carries this one."""
    cache = _codecache.CodeCache(tmp_path / "c")
    source = "def __hash__(self):\n    return hash((\n        12345,\n        self.a,\n    ))\n"
    first = cache.code(source, "<x>")
    other = cache.code(source.replace("12345", "-678"), "<x>")
    assert cache.compiled == 1
    assert 12345 in first.co_consts[0].co_consts
    assert -678 in other.co_consts[0].co_consts
    assert 12345 not in other.co_consts[0].co_consts


def test_classes_built_through_the_cache_behave_as_attrs_builds_them(tmp_path: Path) -> None:
    """Installed in this process: a frozen class still compares, hashes and refuses writes."""
    make = pytest.importorskip("attr._make")
    original = make._compile_and_eval
    try:
        cache = _codecache.install(tmp_path / "c")
        assert cache is not None

        @attrs.frozen
        class Point:
            x: int
            y: int = 0

        assert Point(1, 2) == Point(1, 2)
        assert hash(Point(1, 2)) == hash(Point(1, 2))
        assert repr(Point(1)).endswith("Point(x=1, y=0)")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            Point(1).x = 3  # type: ignore[misc]
        assert cache.compiled == 1
    finally:
        make._compile_and_eval = original


def test_the_home_option_is_found_before_the_command_word() -> None:
    """``--home DIR``, ``--home=DIR`` and argparse's prefixes; not after the command word."""
    from devarch_adapters.cli._main import _home_word  # noqa: PLC0415

    assert _home_word(["--home", "/h", "apply", "s"]) == "/h"
    assert _home_word(["--json", "--home=/h", "status", "s"]) == "/h"
    assert _home_word(["--store", "--home", "--hom", "/h", "plan", "s"]) == "/h"
    assert _home_word(["--runtime", "docker", "--ho", "/h"]) == "/h"
    assert _home_word(["apply", "s", "--home", "/h"]) is None
    assert _home_word(["--h", "/h", "apply"]) is None
    assert _home_word(["--", "--home", "/h"]) is None
    assert _home_word([]) is None


def test_help_uses_the_cache_but_never_makes_the_home_directory(tmp_path: Path) -> None:
    """``devarch --help`` loads the field table's classes through the cache too."""
    home = tmp_path / "home"
    _devarch(home, "--help")
    assert not home.exists()
    home.mkdir(mode=0o700)
    _devarch(home, "--help")
    _, again = _devarch(home, "--help")
    assert again["compiled"] == [0]

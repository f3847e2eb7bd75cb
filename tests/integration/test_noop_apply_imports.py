"""A no-op ``devarch apply`` on Docker imports only what it needs (issue 13: no-op speed).

The CLI process (``main()`` as the console script calls it) applies a two-instance stack, then
applies it again with nothing to do: that second run must not import the converter (cattrs),
``http.client`` (email, ssl), ``hashlib`` (OpenSSL), thread pools (logging), zipfile, difflib,
traceback, uuid, PyYAML, the docker SDK, or the CLI modules of other commands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.docker

LAZY = (
    "cattrs",
    "http.client",
    "email",
    "ssl",
    "hashlib",
    "_hashlib",
    "concurrent.futures",
    "logging",
    "zipfile",
    "importlib.resources",
    "difflib",
    "traceback",
    "uuid",
    "yaml",
    "docker",
    "requests",
    "devarch_adapters.cli._lifecycle_cmds",
    "devarch_adapters.cli._schema_cmds",
    "devarch_adapters.cli._completion_cmds",
    "devarch_adapters.cli._catalog_cmds",
    "devarch_adapters.cli._web_cmds",
)

_RUN = textwrap.dedent(
    """
    import json, sys
    lazy = sys.argv[1].split(",")
    sys.argv = ["devarch", *sys.argv[2:]]
    from devarch_adapters.cli import main

    code = main()
    sys.stdout.flush()
    loaded = sorted(n for n in lazy if any(m == n or m.startswith(n + ".") for m in sys.modules))
    sys.stderr.write("LOADED " + json.dumps({"code": code, "loaded": loaded}) + "\\n")
    """
)


def _devarch(home: Path, docker_url: str, *argv: str) -> tuple[str, dict[str, object]]:
    env = dict(os.environ)
    env.update(
        DEVARCH_HOME=str(home),
        DEVARCH_RUNTIME="docker",
        DEVARCH_CATALOG_PATH=str(ROOT / "benchmarks" / "catalog"),
        DOCKER_HOST=docker_url,
    )
    done = subprocess.run(
        [sys.executable, "-c", _RUN, ",".join(LAZY), *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )
    line = next((x for x in done.stderr.splitlines() if x.startswith("LOADED ")), None)
    assert line is not None, done.stderr
    result: dict[str, object] = json.loads(line.removeprefix("LOADED "))
    return done.stdout, result


def test_a_noop_apply_imports_none_of_the_lazy_modules(tmp_path: Path, docker_url: str) -> None:
    """Apply, then apply again: the second says "no changes" and loaded none of ``LAZY``."""
    if not docker_url.startswith("unix://"):
        pytest.skip("the light engine client serves local sockets only")
    stack = f"noop{uuid.uuid4().hex[:8]}"
    try:
        for argv in (
            ("stack", "create", stack),
            ("instance", "add", stack, "base", "bench-quit"),
            ("instance", "add", stack, "app", "bench-quit"),
            ("instance", "set", stack, "app", "depends_on=base"),
            ("apply", stack, "--yes"),
        ):
            assert _devarch(tmp_path, docker_url, *argv)[1]["code"] == 0, argv
        out, report = _devarch(tmp_path, docker_url, "apply", stack, "--yes")
        assert f"Stack {stack}: no changes." in out
        assert report == {"code": 0, "loaded": []}
    finally:
        _devarch(tmp_path, docker_url, "stack", "delete", stack, "--yes")

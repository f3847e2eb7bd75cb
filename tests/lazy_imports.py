"""Run a ``devarch`` command in a fresh process and report which lazy modules it imported.

Shared by ``tests/unit/test_noop_imports.py`` (plan and status on a fake engine) and
``tests/integration/test_noop_apply_imports.py`` (a real no-op apply on Docker): the modules made
lazy for a no-op (issue 13) and the one way both run the CLI as its console script does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Modules (and their submodules) a plan, status or no-op apply must not import: the converter
#: (cattrs), ``http.client`` (email, ssl), thread pools (logging), zipfile, difflib, traceback,
#: uuid, PyYAML and the CLI modules of other commands.
LAZY: tuple[str, ...] = (
    "cattrs",
    "http.client",
    "email",
    "ssl",
    "concurrent.futures",
    "logging",
    "zipfile",
    "importlib.resources",
    "difflib",
    "traceback",
    "uuid",
    "yaml",
    "devarch_adapters.cli._lifecycle_cmds",
    "devarch_adapters.cli._schema_cmds",
    "devarch_adapters.cli._completion_cmds",
    "devarch_adapters.cli._catalog_cmds",
    "devarch_adapters.cli._web_cmds",
)

#: ``main()`` as the console script calls it, after ``PRELUDE`` (argv[1]); reports on stderr.
_RUN = textwrap.dedent(
    """
    import json, sys
    exec(sys.argv[1])
    lazy = sys.argv[2].split(",")
    sys.argv = ["devarch", *sys.argv[3:]]
    from devarch_adapters.cli import main

    code = main()
    sys.stdout.flush()
    loaded = sorted(n for n in lazy if any(m == n or m.startswith(n + ".") for m in sys.modules))
    sys.stderr.write("LOADED " + json.dumps({"code": code, "loaded": loaded}) + "\\n")
    """
)


def run_devarch(
    home: Path,
    argv: tuple[str, ...],
    *,
    lazy: tuple[str, ...] = LAZY,
    docker_host: str,
    prelude: str = "",
    timeout: float = 60,
) -> tuple[str, dict[str, object]]:
    """``devarch ARGV`` on the benchmark catalog; its stdout and ``{"code", "loaded"}``."""
    env = dict(os.environ)
    env.update(
        DEVARCH_HOME=str(home),
        DEVARCH_RUNTIME="docker",
        DEVARCH_CATALOG_PATH=str(ROOT / "benchmarks" / "catalog"),
        DOCKER_HOST=docker_host,
    )
    done = subprocess.run(
        [sys.executable, "-c", _RUN, prelude, ",".join(lazy), *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
    )
    line = next((x for x in done.stderr.splitlines() if x.startswith("LOADED ")), None)
    assert line is not None, done.stderr
    result: dict[str, object] = json.loads(line.removeprefix("LOADED "))
    return done.stdout, result

"""Start ``devarch serve`` as a user would (a subprocess on a free port) and read its URL.

Shared by the API, logs/lifecycle and dashboard tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from tests.integration.conftest import EXAMPLES

if TYPE_CHECKING:
    from pathlib import Path

#: The one line ``devarch serve`` prints on stdout: ``Open http://HOST:PORT/?token=TOKEN ...``.
URL_LINE = re.compile(r"Open (http://\S+)/\?token=(\S+)")


def start_serve(
    home: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``devarch serve --port 0`` on ``home``'s SQLite store, Docker and the example catalog."""
    environ = {
        **os.environ,
        "DEVARCH_HOME": str(home),
        "DEVARCH_RUNTIME": "docker",
        "DEVARCH_CATALOG_PATH": str(EXAMPLES),
        **(env or {}),
    }
    environ.pop("DEVARCH_STORE", None)
    code = "import sys; from devarch_adapters.cli import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", "0", *extra],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def served_url(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """``(base URL, token)`` from the server's output; fails the test if it never came."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = URL_LINE.match(line)
        if match:
            return match.group(1), match.group(2)
    proc.kill()
    pytest.fail(f"devarch serve did not start: {proc.stderr.read() if proc.stderr else ''}")

"""A no-op ``devarch apply`` on Docker imports only what it needs (issue 13: no-op speed).

The CLI process (``main()`` as the console script calls it) applies a two-instance stack, then
applies it again with nothing to do: that second run must not import the converter (cattrs),
``http.client`` (email, ssl), ``hashlib`` (OpenSSL), thread pools (logging), zipfile, difflib,
traceback, uuid, PyYAML, the docker SDK, or the CLI modules of other commands.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from tests.lazy_imports import LAZY, run_devarch

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.docker

#: The no-op also loads neither OpenSSL's binding (hashlib) nor the docker SDK.
LAZY_ON_DOCKER = (*LAZY, "hashlib", "_hashlib", "docker", "requests")


def _devarch(home: Path, docker_url: str, *argv: str) -> tuple[str, dict[str, object]]:
    return run_devarch(home, argv, lazy=LAZY_ON_DOCKER, docker_host=docker_url, timeout=300)


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

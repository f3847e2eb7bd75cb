"""Record which stack served this process, for the tests that drive this example project."""

import json
import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def record_stack(devarch_stack):
    """Write ``{worker}.json`` (stack name, web host port) into $PLUGIN_RECORD_DIR."""
    record_dir = os.environ.get("PLUGIN_RECORD_DIR")
    if record_dir:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        data = {
            "name": devarch_stack.name,
            "web_port": devarch_stack.host_port("web", 8080),
            "pid": os.getpid(),
        }
        Path(record_dir, f"{worker}.json").write_text(json.dumps(data))

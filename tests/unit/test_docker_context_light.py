"""The current Docker context is read without the docker SDK when it is ``default``.

Importing ``docker.context`` imports the whole SDK (paramiko, requests, ...), about 0.15 s of
every CLI command; ``devarch_adapters.engines`` reads ``currentContext`` itself and asks the SDK
only for a named context.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from docker.context.config import get_current_context_name

from devarch_adapters.engines import _current_context_name, current_context

if TYPE_CHECKING:
    from pathlib import Path

CASES: list[tuple[str, str | None, str | None]] = [
    # (file under HOME, its text or None for no file, DOCKER_CONFIG dir under HOME or None)
    ("nothing", None, None),
    (".docker/config.json", '{"auths": {}}', None),
    (".docker/config.json", '{"currentContext": "default"}', None),
    (".docker/config.json", '{"currentContext": "remote"}', None),
    (".docker/config.json", "{not json", None),
    (".docker/config.json", '["a list"]', None),
    (".dockercfg", '{"currentContext": "legacy"}', None),
    ("cfg/config.json", '{"currentContext": "from-env"}', "cfg"),
    ("cfg/other.json", "{}", "cfg"),
]


@pytest.mark.parametrize(("path", "text", "config_dir"), CASES)
def test_the_context_name_is_the_one_the_docker_sdk_reads(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    text: str | None,
    config_dir: str | None,
) -> None:
    """Same file, same fallbacks as ``docker.context.config.get_current_context_name``."""
    monkeypatch.setenv("HOME", str(tmp_path))
    if config_dir is None:
        monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    else:
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / config_dir))
    if text is not None:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    assert _current_context_name() == get_current_context_name()


def test_the_default_context_is_read_without_importing_the_docker_sdk(tmp_path: Path) -> None:
    """``current_context`` with the ``default`` context leaves ``docker`` unimported."""
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(
        json.dumps({"currentContext": "default"}), encoding="utf-8"
    )
    code = (
        "import sys; from devarch_adapters.engines import current_context; "
        "print(current_context({}), 'docker' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "False"]


def test_a_named_context_still_comes_from_the_sdk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A current context other than ``default`` that does not exist is no context (as before)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(
        json.dumps({"currentContext": "nowhere"}), encoding="utf-8"
    )
    assert current_context({}) is None
    assert current_context({"DOCKER_CONTEXT": "named"}) == "named"

"""An unreachable engine is reported in words naming the socket, never as a driver's repr."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from devarch_adapters.bootstrap import open_runtime
from devarch_adapters.docker import DockerRuntime
from devarch_core.errors import EngineError

if TYPE_CHECKING:
    from pathlib import Path

REPRS = ("FileNotFoundError(", "ConnectionRefusedError(", "Connection aborted", "Errno")


def test_a_missing_socket_is_named(tmp_path: Path) -> None:
    """DOCKER_HOST at a socket that does not exist: the message names the path."""
    sock = tmp_path / "nothing.sock"
    with pytest.raises(EngineError) as caught:
        DockerRuntime(f"unix://{sock}").info()
    message = str(caught.value)
    assert f"no engine socket at {sock}" in message
    assert not [r for r in REPRS if r in message], message


def test_a_file_that_is_no_socket_is_refused_in_words(tmp_path: Path) -> None:
    """A path that exists but is not a listening socket: connection refused, in words."""
    sock = tmp_path / "plain-file"
    sock.write_text("")
    with pytest.raises(EngineError) as caught:
        DockerRuntime(f"unix://{sock}").info()
    message = str(caught.value)
    assert str(sock) in message
    assert not [r for r in REPRS if r in message], message


def test_no_engine_reachable_names_what_was_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--runtime docker`` with DOCKER_HOST at a missing socket: a readable reason."""
    sock = tmp_path / "gone.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    runtime, why = open_runtime("docker")
    assert runtime is None
    assert why is not None
    assert str(sock) in why
    assert not [r for r in REPRS if r in why], why

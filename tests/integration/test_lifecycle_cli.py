"""``devarch logs|start|stop|restart|exec`` against real Docker and Podman (docs/lifecycle.md).

The CLI runs in-process (``main(argv)``, output captured at the file descriptors so that what
``docker exec`` writes is seen too) and, for ``logs -f`` and Ctrl-C, as a child process. Every
stack gets a ``unique`` name and is deleted at the end, also when a test fails.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devarch_adapters.cli import main

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.docker

CATALOG = str(Path(__file__).resolve().parents[2] / "examples" / "catalog")
CLI = [sys.executable, "-c", "import sys; from devarch_adapters.cli import main; sys.exit(main())"]


@pytest.fixture
def argv(docker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("DOCKER_HOST", docker_url)
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    home = str(tmp_path / "home")
    return ["--home", home, "--runtime", "docker", "--catalog", CATALOG, "--no-color"]


@pytest.fixture
def cli(argv: list[str], capfd: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``devarch`` in-process; stdout and stderr captured at the descriptors."""

    def run(*args: str) -> tuple[int, str, str]:
        sys.stdout.flush()
        sys.stderr.flush()
        capfd.readouterr()
        code = main([*argv, *args])
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = capfd.readouterr()
        return code, out, err

    return run


@pytest.fixture
def stack(cli: Callable[..., tuple[int, str, str]], unique: str) -> Iterator[str]:
    """An applied stack of two fake caches; deleted with all it ran afterwards."""
    name = f"{unique}-life"
    assert cli("stack", "create", name)[0] == 0
    try:
        # No published port: the fresh store's default host ports may be taken on this engine.
        for instance in ("cache", "spare"):
            code, _, err = cli(
                "instance", "add", name, instance, "bb-cache", "--set", "port=6379:off"
            )
            assert code == 0, err
        code, _, err = cli("apply", name, "--yes")
        assert code == 0, err
        yield name
    finally:
        code, _, err = cli("stack", "delete", name, "--yes")
        assert code == 0, err


@pytest.fixture
def engine(docker_url: str) -> Iterator[Any]:
    import docker  # noqa: PLC0415 - the test inspects the engine directly

    client = docker.DockerClient(base_url=docker_url)
    yield client
    client.close()


def container_id(engine: Any, stack: str, instance: str) -> tuple[str, str]:
    found = engine.containers.get(f"devarch-{stack}-{instance}")
    return found.id, found.status


def test_exec_returns_the_commands_exit_code_and_output(cli, stack):
    """The command runs in the container: its stdout, stderr and exit code are devarch's."""
    script = "echo out-$HOSTNAME-$GREETING; echo err >&2; exit 3"
    code, out, err = cli("exec", "-e", "GREETING=hi", stack, "cache", "--", "sh", "-c", script)
    assert code == 3
    assert out.startswith("out-")
    assert out.strip().endswith("-hi")
    assert "err" in err
    code, out, _ = cli("exec", stack, "cache", "--", "true")
    assert (code, out) == (0, "")
    code, _, err = cli("exec", stack, "nope", "--", "true")
    assert code == 1
    assert "instances of" in err


def test_exec_allocates_a_terminal_only_when_there_is_one(argv, cli, stack):
    """On a pseudo-terminal the command sees a TTY; with pipes (or -T) it does not."""
    import pty  # noqa: PLC0415 - POSIX only

    check = ["--", "sh", "-c", "test -t 0 && test -t 1 && echo tty-yes || echo tty-no"]
    code, out, _ = cli("exec", stack, "cache", *check)
    assert (code, out.strip()) == (0, "tty-no")

    main_fd, child_fd = pty.openpty()
    try:
        child = subprocess.Popen(
            [*CLI, *argv, "exec", stack, "cache", *check],
            stdin=child_fd,
            stdout=child_fd,
            stderr=child_fd,
            env=os.environ.copy(),
        )
        os.close(child_fd)
        assert child.wait(timeout=60) == 0
        seen = b""
        while b"tty-" not in seen:
            try:
                chunk = os.read(main_fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main_fd)
    assert b"tty-yes" in seen, seen


def test_logs_tail_and_prefixes(cli, stack):
    """Lines the containers wrote: one instance plain (stderr apart), the stack prefixed."""
    for instance, text in (("cache", "first"), ("spare", "second"), ("cache", "third")):
        target = "2" if text == "third" else "1"
        code, _, err = cli(
            "exec", stack, instance, "--", "sh", "-c", f"echo {text} > /proc/1/fd/{target}"
        )
        assert code == 0, err
    code, out, err = cli("logs", stack, "cache", "--tail", "2")
    assert code == 0, err
    assert out.splitlines() == ["first"]
    # stderr: which engine the command uses (docs/engines.md), then the container's stderr.
    assert err.splitlines()[1:] == ["third"]
    assert err.startswith("engine docker (")
    code, out, _ = cli("logs", stack, "--tail", "1")
    assert sorted(out.splitlines()) == ["cache | third", "spare | second"]
    code, out, _ = cli("logs", stack, "cache", "--tail", "0")
    assert (code, out) == (0, "")
    code, out, _ = cli("--json", "logs", stack, "spare", "-t")
    assert '"instance": "spare"' in out
    assert '"text": "second"' in out


def test_logs_follow_sees_new_lines_and_ctrl_c_exits_cleanly(argv, cli, stack):
    """`logs -f` prints lines written after it started; SIGINT ends it with status 0.

    The child may take a while to connect on a loaded machine, and ``--tail 0`` shows only
    lines written after that: a line is written every second until one shows (60 s at most).
    """
    child = subprocess.Popen(
        [*CLI, *argv, "logs", stack, "-f", "--tail", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    seen = b""
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        count = 0
        while b"spare | late-" not in seen and time.monotonic() < deadline:
            count += 1
            script = f"echo late-{count} > /proc/1/fd/1"
            code, _, err = cli("exec", stack, "spare", "--", "sh", "-c", script)
            assert code == 0, err
            ready, _, _ = select.select([child.stdout], [], [], 1.0)
            if ready:
                seen += os.read(child.stdout.fileno(), 4096)
        assert re.search(rb"^spare \| late-\d+$", seen, re.MULTILINE), seen
        child.send_signal(signal.SIGINT)
        _, err_bytes = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err_bytes
    assert b"Traceback" not in err_bytes


def test_stop_then_start_keeps_the_container_and_its_data(cli, stack, engine):
    """Stop keeps the container (id, writable layer); plan shows `start`; start runs it again."""
    assert cli("exec", stack, "cache", "--", "sh", "-c", "echo kept > /marker")[0] == 0
    first, _ = container_id(engine, stack, "cache")

    code, out, err = cli("stop", stack, "cache")
    assert code == 0, err
    assert "stopped cache" in out
    assert container_id(engine, stack, "cache") == (first, "exited")
    assert container_id(engine, stack, "spare")[1] == "running"

    code, out, _ = cli("plan", stack, "--detailed-exitcode")
    assert code == 2
    assert "1 to start" in out
    assert "0 to change" in out
    code, _, err = cli("exec", stack, "cache", "--", "true")
    assert code == 1
    assert f"devarch start {stack} cache" in err

    code, out, err = cli("start", stack)
    assert code == 0, err
    assert "started cache; already running: spare" in out
    assert container_id(engine, stack, "cache") == (first, "running")
    code, out, _ = cli("exec", stack, "cache", "--", "cat", "/marker")
    assert (code, out.strip()) == (0, "kept")

    code, out, err = cli("--json", "restart", stack)
    assert code == 0, err
    assert '"action": "restart"' in out
    assert container_id(engine, stack, "cache") == (first, "running")
    code, out, _ = cli("plan", stack, "--detailed-exitcode")
    assert code == 0, out


def test_lifecycle_refusals(cli, unique):
    """An unknown stack, and a stack never applied, are clear errors (exit 1)."""
    code, _, err = cli("start", f"{unique}-none")
    assert code == 1
    assert "not found" in err
    name = f"{unique}-fresh"
    assert cli("stack", "create", name)[0] == 0
    try:
        assert cli("instance", "add", name, "cache", "bb-cache")[0] == 0
        for verb in ("start", "stop", "restart", "logs"):
            code, _, err = cli(verb, name)
            assert code == 1
            assert f"devarch apply {name}" in err
    finally:
        cli("stack", "delete", name, "--yes")


@pytest.mark.podman
def test_exec_logs_stop_and_start_on_podman(podman_url, tmp_path, capfd, monkeypatch, unique):
    """The same commands work on the Podman engine (exec through the podman CLI)."""
    monkeypatch.setenv("CONTAINER_HOST", podman_url)
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    base = ["--home", str(tmp_path / "home"), "--runtime", "podman", "--catalog", CATALOG]

    def cli(*args: str) -> tuple[int, str, str]:
        capfd.readouterr()
        code = main([*base, *args])
        sys.stdout.flush()
        out, err = capfd.readouterr()
        return code, out, err

    name = f"{unique}-pod"
    assert cli("stack", "create", name)[0] == 0
    try:
        assert cli("instance", "add", name, "cache", "bb-cache", "--set", "port=6379:off")[0] == 0
        code, _, err = cli("apply", name, "--yes")
        assert code == 0, err
        code, out, _ = cli("exec", name, "cache", "--", "sh", "-c", "echo podman-$((6*7)); exit 5")
        assert (code, out.strip()) == (5, "podman-42")
        assert cli("exec", name, "cache", "--", "sh", "-c", "echo said > /proc/1/fd/1")[0] == 0
        code, out, _ = cli("logs", name, "--tail", "1")
        assert out.splitlines() == ["cache | said"]
        assert cli("exec", name, "cache", "--", "touch", "/marker")[0] == 0
        assert cli("stop", name)[0] == 0
        assert cli("status", name, "--json")[1].count('"state": "exited"') == 1
        code, _, err = cli("start", name)
        assert code == 0, err
        assert cli("exec", name, "cache", "--", "test", "-f", "/marker")[0] == 0
    finally:
        cli("stack", "delete", name, "--yes")

"""Edges where devarch meets the engine: host ports after a connection, engines, owners, locks.

Every test uses fresh ``unique`` stack names and cleans up (the ``make_devarch`` fixture).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
from tests.integration.conftest import ENGINES, EXAMPLES, runtime_for

from devarch_adapters.cli import main
from devarch_core.errors import ConflictError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.integration.conftest import DevarchFactory, EngineClient

    from devarch_core.app import Devarch


def _web_port(devarch: Devarch, stack: str) -> int:
    row = next(r for r in devarch.status(stack) if r.instance == "web")
    assert row.ports, row
    return int(row.ports[0].split("->")[0].rsplit(":", 1)[1])


def _get(port: int) -> str:
    """GET / on the published port, retrying while the server is still starting.

    Apply does not wait for instances nothing depends on, so httpd may not listen yet.
    """
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                body: bytes = response.read()
            return body.decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


@pytest.mark.docker
@pytest.mark.podman
@pytest.mark.parametrize("engine", ENGINES)
def test_down_then_apply_right_after_a_connection_to_a_published_port(
    engine: str, make_devarch: DevarchFactory, unique: str
) -> None:
    """TIME-WAIT sockets left by a real HTTP request never make the port look taken.

    A converged stack re-planned right after a re-apply has no errors (exit 0 on Podman too),
    and ``down`` then ``apply`` at once succeeds on the same host port.
    """
    devarch = make_devarch(engine)
    stack = f"{unique}tw"
    devarch.create_stack(stack)
    devarch.add_instance(stack, "db", "bb-db")
    devarch.add_instance(stack, "web", "bb-web")
    devarch.apply(stack)
    port = _web_port(devarch, stack)
    assert "<h1>" in _get(port)
    devarch.set_overrides(stack, "web", {"environment": {"APP_TITLE": "again"}})
    devarch.apply(stack)  # re-apply: web is recreated on the same host port
    assert "again" in _get(port)
    plan = devarch.plan(stack)
    assert not plan.errors, plan.render_text()
    assert not plan.actions, plan.render_text()
    devarch.down(stack)
    plan = devarch.plan(stack)
    assert not plan.errors, plan.render_text()
    assert sorted(a.instance for a in plan.actions if a.action == "add") == ["db", "web"]
    devarch.apply(stack)
    assert _web_port(devarch, stack) == port
    assert "again" in _get(port)
    devarch.down(stack)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        holder.bind(("127.0.0.1", port))
        holder.listen(1)  # a genuinely taken port: an error on a planned add, never a dropped add
        plan = devarch.plan(stack)
    assert sorted(a.instance for a in plan.actions if a.action == "add") == ["db", "web"]
    [in_use] = [d for d in plan.errors if d.code == "port-in-use"]
    assert in_use.instance == "web"
    assert f"ss -ltnp 'sport = :{port}'" in in_use.message


HOLDER = r"""
import sys, time
from devarch_adapters import connect

home, stack = sys.argv[1:3]
devarch = connect(home=home, runtime="none")
with devarch.locked(stack, holder="test helper"):
    print("locked", flush=True)
    sys.stdin.readline()  # hold the lock until the test closes stdin
"""


@pytest.fixture
def cli(
    docker_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., tuple[int, str, str]]:
    """Run ``devarch --runtime docker`` in-process with a fresh home; returns (code, out, err)."""
    monkeypatch.setenv("DOCKER_HOST", docker_url)
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.delenv("DEVARCH_RUNTIME", raising=False)
    home = str(tmp_path / "cli-home")

    def run(*args: str, runtime: str = "docker") -> tuple[int, str, str]:
        capsys.readouterr()
        argv = ["--home", home, "--runtime", runtime, "--catalog", str(EXAMPLES), "--no-color"]
        code = main([*argv, *args])
        out, err = capsys.readouterr()
        return code, out, err

    run.home = home  # type: ignore[attr-defined]
    return run


@contextmanager
def _lock_held_by_another_process(home: str, stack: str) -> Iterator[int]:
    """Hold ``stack``'s lock in a helper process (connected to ``home``); yields its pid."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, home, stack],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc.pid
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=30)


@pytest.mark.docker
def test_a_second_apply_is_refused_before_it_prints_a_plan(
    cli: Callable[..., tuple[int, str, str]], unique: str
) -> None:
    """A locked stack: ``apply --yes`` exits 3 at once and prints no plan; delete deletes nothing.

    Another process holds the stack's lock; the refusal names it (pid and holder text).
    """
    stack = f"{unique}lk"
    try:
        assert cli("stack", "create", stack)[0] == 0
        assert cli("instance", "add", stack, "db", "bb-db")[0] == 0
        assert cli("apply", stack, "--yes")[0] == 0
        assert cli("instance", "set", stack, "db", "env.X=1")[0] == 0
        home: str = cli.home  # type: ignore[attr-defined]
        with _lock_held_by_another_process(home, stack) as pid:
            start = time.monotonic()
            code, out, err = cli("apply", stack, "--yes")
            assert code == 3, (out, err)
            assert out == ""
            assert "Plan for stack" not in err
            assert f"pid {pid}" in err
            assert "test helper" in err
            assert time.monotonic() - start < 5
            code, out, err = cli("stack", "delete", stack, "--yes")
            assert code == 3, (out, err)
            assert f"pid {pid}" in err
            code, out, err = cli("plan", stack)
            assert code == 0
            assert f"stack {stack} is being applied now" in err
        code, out, _ = cli("--json", "status", stack)
        assert code == 0
        assert [row["state"] for row in json.loads(out)] == ["running"]
        code, out, err = cli("apply", stack, "--yes")
        assert code == 0, err
        assert "1 to change" in out
    finally:
        cli("stack", "delete", stack, "--yes")


@pytest.mark.docker
def test_a_second_store_with_the_same_stack_name_sees_a_conflict(
    make_devarch: DevarchFactory, tmp_path: Path, unique: str
) -> None:
    """Two DEVARCH_HOMEs on one Docker: the second plan names the first store as the owner.

    Its apply refuses before creating anything, never advises removing the other store's
    objects, and its ``down`` says it removed nothing; the first stack keeps running.
    """
    from devarch_adapters import connect  # noqa: PLC0415

    first = make_devarch("docker")
    second = connect(
        home=tmp_path / "second-home",
        runtime=runtime_for("docker", make_devarch.engine_url("docker")),
        catalog=[str(EXAMPLES)],
        port_range=make_devarch.window,
    )
    stack = f"{unique}twin"
    try:
        for devarch in (first, second):
            devarch.create_stack(stack)
            devarch.add_instance(stack, "db", "bb-db")
        first.apply(stack)
        assert first.owner != second.owner
        plan = second.plan(stack)
        assert sorted(d.code for d in plan.errors) == [
            "container-conflict",
            "network-conflict",
            "volume-conflict",
        ], plan.render_text()
        text = plan.render_text()
        assert f"owner {first.owner}" in text
        assert "remove" not in " ".join(d.message for d in plan.errors)
        with pytest.raises(ConflictError, match=f"owner {first.owner}"):
            second.apply(stack)
        result = second.down_report(stack)
        assert (result.containers, result.networks, result.volumes) == ((), (), ())
        assert "removed nothing" in result.describe()
        assert {r.state for r in first.status(stack)} == {"running"}
        assert not first.plan(stack).errors
    finally:
        second.delete_stack(stack)
        second.store.close()
    assert {r.state for r in first.status(stack)} == {"running"}


@pytest.mark.docker
def test_a_changed_network_is_removed_at_the_next_apply(
    make_devarch: DevarchFactory, engine_client: EngineClient, unique: str
) -> None:
    """``stack update --network``: doctor lists the old network, the next apply removes it."""
    from devarch_adapters.doctor import run_doctor  # noqa: PLC0415

    devarch = make_devarch("docker")
    client = engine_client("docker")
    stack = f"{unique}nw"
    devarch.create_stack(stack)
    devarch.add_instance(stack, "db", "bb-db")
    devarch.apply(stack)
    old = f"devarch-{stack}-net"
    new = f"devarch-{unique}-other"
    assert client.networks.list(names=[old])
    devarch.update_stack(stack, network=new)
    orphans = next(c for c in run_doctor(devarch) if c.name == "orphans")
    assert f"network {old} (stack {stack} now uses {new})" in orphans.message
    devarch.apply(stack)
    assert [n.name for n in client.networks.list(names=[old]) if n.name == old] == []
    assert [n.name for n in client.networks.list(names=[new]) if n.name == new] == [new]
    assert {r.state for r in devarch.status(stack)} == {"running"}
    orphans = next(c for c in run_doctor(devarch) if c.name == "orphans")
    assert orphans.status == "pass", orphans.message


@pytest.mark.docker
@pytest.mark.podman
def test_a_stack_applied_on_podman_stays_on_podman_whatever_runtime_is_picked(
    cli: Callable[..., tuple[int, str, str]], unique: str
) -> None:
    """A stack is bound to the engine it was applied on (docs/engines.md).

    Applied on Podman, it is planned, inspected and taken down on Podman even when ``auto`` or
    ``--runtime docker`` picks Docker; every command says on stderr which engine it used, and
    nothing of the stack is ever created on Docker.
    """
    stack = f"{unique}pd"
    try:
        assert cli("stack", "create", stack)[0] == 0
        assert cli("instance", "add", stack, "db", "bb-db")[0] == 0
        code, _, err = cli("apply", stack, "--yes", runtime="podman")
        assert code == 0, err
        assert "engine podman (unix:///run/podman/podman.sock)" in err
        for runtime in ("auto", "docker"):
            code, out, err = cli("plan", stack, runtime=runtime)
            assert code == 0, (out, err)
            assert "engine podman (" in err
            assert "No changes" in out or "no changes" in out.lower(), out
            code, out, err = cli("--json", "status", stack, runtime=runtime)
            assert [row["state"] for row in json.loads(out)] == ["running"], err
        code, out, err = cli("down", stack, runtime="docker")
        assert code == 0, err
        code, out, _ = cli("--json", "status", stack, runtime="podman")
        assert [row["state"] for row in json.loads(out)] == ["absent"]
    finally:
        cli("stack", "delete", stack, "--yes", runtime="podman")


@pytest.mark.docker
@pytest.mark.podman
def test_an_unreachable_docker_is_said_in_words_and_auto_says_it_uses_podman(
    cli: Callable[..., tuple[int, str, str]],
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DOCKER_HOST at a missing socket: a readable error naming it; auto names its fallback.

    A stack applied on Docker is still planned there (it is bound to it, docs/engines.md); a new
    stack may be planned on Podman, with a note saying so.
    """
    stack = f"{unique}dk"
    fresh = f"{unique}fr"
    gone = tmp_path / "gone.sock"
    try:
        assert cli("stack", "create", stack)[0] == 0
        assert cli("instance", "add", stack, "db", "bb-db")[0] == 0
        code, out, err = cli("apply", stack, "--yes")
        assert code == 0, (out, err)
        assert cli("stack", "create", fresh)[0] == 0
        monkeypatch.setenv("DOCKER_HOST", f"unix://{gone}")
        code, _, err = cli("plan", fresh)
        assert code == 1
        assert f"no engine socket at {gone}" in err
        assert "FileNotFoundError" not in err
        assert "Connection aborted" not in err
        # The applied stack is bound to the engine it runs on: DOCKER_HOST does not move it.
        for runtime in ("docker", "auto"):
            code, out, err = cli("plan", stack, runtime=runtime)
            assert code == 0, (out, err)
            assert "engine docker (unix://" in err
            assert "FileNotFoundError" not in err
        code, _, err = cli("plan", fresh, runtime="auto")
        assert code == 0, err
        assert "using Podman at" in err
    finally:
        monkeypatch.delenv("DOCKER_HOST")
        cli("stack", "delete", stack, "--yes")
        cli("stack", "delete", fresh, "--yes")

"""``devarch doctor`` on a real machine: each problem is reported with its status and a fix.

Runs the CLI in-process (``main(argv)``) with a fresh ``--home``, the example busybox catalog and
the test Docker Engine; the JSON output (``doctor --json``) is what the assertions read. Stacks
get ``unique`` names and are deleted at the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devarch_adapters.cli import main
from devarch_core.manifest import Lockfile

pytestmark = pytest.mark.docker

CATALOG = str(Path(__file__).resolve().parents[2] / "examples" / "catalog")
#: Checks whose outcome depends on the host rather than on devarch (SELinux, cgroups, disk).
HOST_DEPENDENT = {"selinux", "resource-limits", "disk"}

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty devarch home."""
    return tmp_path / "home"


@pytest.fixture
def cli(
    docker_url: str,
    home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cli:
    """Run ``devarch --home HOME --catalog C [--runtime docker] ARGS`` in-process."""
    monkeypatch.setenv("DOCKER_HOST", docker_url)
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.delenv("DEVARCH_CATALOG_PATH", raising=False)

    def run(*args: str, runtime: str = "docker") -> tuple[int, str, str]:
        capsys.readouterr()
        argv = ["--home", str(home), "--catalog", CATALOG, "--runtime", runtime, "--no-color"]
        code = main([*argv, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def stack(cli: Cli, unique: str) -> Iterator[str]:
    """Stack ``{unique}-doc`` with one cache instance (not applied); deleted afterwards."""
    name = f"{unique}-doc"
    assert cli("stack", "create", name)[0] == 0
    assert cli("instance", "add", name, "cache", "bb-cache")[0] == 0
    yield name
    cli("stack", "delete", name, "--yes")


def doctor(cli: Cli, runtime: str = "docker") -> tuple[int, dict[str, list[dict[str, Any]]]]:
    """Run ``doctor --json``: (exit status, checks grouped by name)."""
    code, out, err = cli("doctor", "--json", runtime=runtime)
    data = json.loads(out)
    assert data["ok"] is (code == 0), err
    checks: dict[str, list[dict[str, Any]]] = {}
    for check in data["checks"]:
        assert set(check) == {"name", "status", "message", "fix"}
        assert check["status"] in ("pass", "warn", "fail")
        checks.setdefault(check["name"], []).append(check)
    return code, checks


def only(checks: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    """The single check called ``name``."""
    (check,) = checks[name]
    return check


def test_a_healthy_machine_passes_every_check(cli: Cli, stack: str) -> None:
    """With a reachable engine, a key file and nothing in the way, every check passes (exit 0)."""
    code, _, err = cli("secret", "set", stack, "cache", "TOKEN", "--value", "x")
    assert code == 0, err
    code, checks = doctor(cli)
    assert code == 0
    for name in ("engine", "store", "key-file", "key-store", "host-ports", "locks", "orphans"):
        assert only(checks, name)["status"] == "pass", checks[name]
    assert "docker" in only(checks, "engine")["message"]
    assert "unix://" in only(checks, "engine")["message"]
    devarch_checks = [
        c for name, rows in checks.items() if name not in HOST_DEPENDENT for c in rows
    ]
    assert all(c["status"] == "pass" for c in devarch_checks)
    assert all(c["status"] != "fail" for rows in checks.values() for c in rows)
    code, out, _ = cli("doctor")
    assert code == 0
    assert "0 failed" in out


def test_a_host_port_bound_by_another_process_fails_with_a_fix(
    cli: Cli, stack: str, tmp_path: Path
) -> None:
    """A stack's allocated host port taken by another process (stack down) fails naming both."""
    code, _, err = cli("apply", stack, "--yes")
    assert code == 0, err
    lock_path = tmp_path / "devarch.lock"
    assert cli("lock", stack, "-o", str(lock_path))[0] == 0
    port = Lockfile.parse(lock_path.read_text()).instances["cache"].ports["6379/tcp"]
    assert doctor(cli)[1]["host-ports"][0]["status"] == "pass"  # running containers are ours
    assert cli("down", stack)[0] == 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        code, checks = doctor(cli)
        assert code == 1
        (check,) = checks["host-ports"]
        assert check["status"] == "fail"
        assert str(port) in check["message"]
        assert f"{stack}/cache" in check["message"]
        assert f"ss -ltnp 'sport = :{port}'" in check["fix"]
        assert f"devarch instance set {stack} cache port=<free port>:6379" in check["fix"]
        code, out, _ = cli("doctor")
        assert code == 1
        assert "[FAIL] host-ports" in out
        assert "fix: stop the process" in out
    assert only(doctor(cli)[1], "host-ports")["status"] == "pass"


@pytest.mark.parametrize("how", ["runtime-none", "dead-socket"])
def test_a_missing_engine_fails_with_a_fix(
    cli: Cli, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No engine (``--runtime none``, or DOCKER_HOST on a dead socket) fails the engine check."""
    runtime = "none"
    if how == "dead-socket":
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'dead.sock'}")
        runtime = "docker"
    code, checks = doctor(cli, runtime=runtime)
    assert code == 1
    engine = only(checks, "engine")
    assert engine["status"] == "fail"
    assert engine["message"].count("no container engine reachable") == 1, engine["message"]
    assert "DOCKER_HOST" in engine["fix"]
    if how == "dead-socket":
        assert "dead.sock" in engine["message"]
    assert only(checks, "store")["status"] == "pass"
    assert "orphans" not in checks  # needs an engine; skipped rather than failed twice


def test_a_key_file_with_loose_permissions_fails_with_chmod_fix(
    cli: Cli, stack: str, home: Path
) -> None:
    """A secret.key readable by others (0644) fails the key-file check; the fix is chmod 600."""
    assert cli("secret", "set", stack, "cache", "TOKEN", "--value", "x")[0] == 0
    key = home / "secret.key"
    assert only(doctor(cli)[1], "key-file")["status"] == "pass"
    key.chmod(0o644)
    code, checks = doctor(cli)
    assert code == 1
    check = only(checks, "key-file")
    assert check["status"] == "fail"
    assert f"chmod 600 {key}" in check["fix"]


def test_a_stale_lock_record_of_a_crashed_apply_warns_with_a_fix(
    cli: Cli, stack: str, home: Path
) -> None:
    """A holder description left by a crashed apply warns with a fix (the lock itself is free)."""
    path = home / "locks" / f"{stack}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("devarch apply (pid 999999 on gone-host by nobody)")
    code, checks = doctor(cli)
    assert code == 0
    check = only(checks, "locks")
    assert check["status"] == "warn"
    assert stack in check["message"]
    assert "pid 999999" in check["message"]
    assert str(path) in check["fix"]
    # The stale record never blocks an apply.
    code, _, err = cli("apply", stack, "--yes")
    assert code == 0, err


def test_a_lock_held_by_a_live_process_warns_naming_the_holder(
    cli: Cli, stack: str, home: Path
) -> None:
    """While another process holds the stack's lock, doctor warns naming who holds it."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from devarch_adapters.sqlite import FileStackLock
        with FileStackLock({str(home / "locks")!r}).acquire({stack!r}, holder="doctor-test"):
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        code, checks = doctor(cli)
        check = only(checks, "locks")
        assert check["status"] == "warn"
        assert f"stack {stack} is being applied by doctor-test" in check["message"]
        assert f"pid {holder.pid}" in check["message"]
        assert check["fix"]
        assert code == 0
    finally:
        holder.communicate("\n", timeout=10)
    assert only(doctor(cli)[1], "locks")["status"] == "pass"

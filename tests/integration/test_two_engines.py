"""Stacks bound to named engines, verified with two real Docker engines at once (docs/engines.md).

The second dockerd (``.ci/setup-engines.sh``) runs in its own network namespace on
tcp://127.0.0.1:23750, so it has its own host ports, as a second machine would. The SSH engine is
the first dockerd reached through sshd on 127.0.0.1:2222 with a throw-away key.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devarch_adapters.bootstrap import connect
from devarch_core.model import Engine
from devarch_core.naming import LABEL_STACK_NAME

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devarch_core.app import Devarch

pytestmark = pytest.mark.docker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
SECOND = os.environ.get("DEVARCH_TEST_DOCKER2_URL", "tcp://127.0.0.1:23750")
FIRST = "unix:///var/run/docker.sock"
SSH_URL = os.environ.get("DEVARCH_TEST_SSH_URL", "ssh://root@127.0.0.1:2222")
SSH_KEY = Path(os.environ.get("DEVARCH_TEST_SSH_KEY", "/etc/devarch-sshd/client_ed25519"))


def _client(url: str) -> Any:
    import docker  # noqa: PLC0415

    try:
        client = docker.DockerClient(base_url=url, timeout=10)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"engine {url} does not answer ({exc}); run `bash .ci/setup-engines.sh`")
    return client


def _names(client: Any, stack: str) -> set[str]:
    found = client.containers.list(all=True, filters={"label": f"{LABEL_STACK_NAME}={stack}"})
    return {c.name for c in found}


def _networks(client: Any, stack: str) -> set[str]:
    found = client.networks.list(filters={"label": f"{LABEL_STACK_NAME}={stack}"})
    return {n.name for n in found}


@pytest.fixture
def engines() -> Iterator[tuple[Any, Any]]:
    """Docker clients of the first and the second engine."""
    first, second = _client(FIRST), _client(SECOND)
    yield first, second
    first.close()
    second.close()


def _home(tmp_path: Path, name: str, key: Path | None = None) -> Path:
    home = tmp_path / name
    home.mkdir(mode=0o700)
    if key is not None:
        shutil.copy(key, home / "secret.key")
        (home / "secret.key").chmod(0o600)
    return home


def _open(home: Path, store: str, **kw: Any) -> Devarch:
    # A random window: ports on ssh:// and tcp:// engines are not probed on this host, and other
    # tests' stacks on the same dockerd hold the start of the default range.
    base = random.randrange(30000, 59800, 200)  # noqa: S311 - not cryptographic
    kw.setdefault("port_range", (base, base + 199))
    kw.setdefault("environ", {})
    return connect(home=home, store=store, runtime="docker", catalog=[EXAMPLES], **kw)


def _two_engines(devarch: Devarch) -> None:
    devarch.add_engine(Engine(name="one", endpoint=FIRST, host=os.uname().nodename))
    devarch.add_engine(Engine(name="two", endpoint=SECOND))


def _scenario(a: Devarch, b: Devarch, unique: str, engines: tuple[Any, Any]) -> None:
    """Stacks on both engines; each only on its own; the other home sees them; move; same port."""
    first, second = engines
    port = random.randrange(41000, 49000)  # noqa: S311
    s1, s2 = f"{unique}-one", f"{unique}-two"
    a.create_stack(s1, engine="one")
    a.add_instance(s1, "cache", "bb-cache", overrides={"ports": [f"{port}:6379"]})
    a.create_stack(s2, engine="two")
    a.add_instance(s2, "cache", "bb-cache", overrides={"ports": [f"{port}:6379"]})
    try:
        a.apply(s1)
        a.apply(s2)
        # Each stack's containers exist only on its own engine; the same host port on both.
        assert _names(first, s1) == {f"devarch-{s1}-cache"}
        assert _names(second, s1) == set()
        assert _names(second, s2) == {f"devarch-{s2}-cache"}
        assert _names(first, s2) == set()
        assert [r.host_ports[0].host_port for r in a.status(s1)] == [port]
        assert [r.host_ports[0].host_port for r in a.status(s2)] == [port]
        # The other home (same store, same key, its environment on the first engine) plans
        # nothing for either stack, and status/down reach the right engine.
        assert b.engine_of(s2).name == "two"
        assert b.plan(s1).actions == ()
        assert b.plan(s2).actions == ()
        assert [r.state for r in b.status(s2)] == ["running"]
        assert b.down(s2) == 1
        assert _names(second, s2) == set()
        assert _names(first, s1) == {f"devarch-{s1}-cache"}
        b.apply(s2)
        assert _names(second, s2) == {f"devarch-{s2}-cache"}
        assert _names(first, s2) == set()
        # Moving leaves nothing behind on the old engine (s2 goes first: it holds the port there).
        a.delete_stack(s2)
        assert _names(second, s2) == set()
        moved = a.move_stack(s1, "two", volumes=True)
        assert (moved.source, moved.target) == ("one", "two")
        assert _names(first, s1) == set()
        assert _networks(first, s1) == set()
        assert _names(second, s1) == {f"devarch-{s1}-cache"}
        assert a.plan(s1).actions == ()
        assert b.plan(s1).actions == ()
        assert a.get_stack(s1).engine == "two"
    finally:
        for name in (s1, s2):
            with contextlib.suppress(Exception):
                a.delete_stack(name)
    assert _names(first, s1) | _names(first, s2) | _names(second, s1) | _names(second, s2) == set()


def test_stacks_on_two_engines_from_one_sqlite_store(
    tmp_path: Path, unique: str, engines: tuple[Any, Any]
) -> None:
    """Two homes sharing one SQLite store (same key): every stack is acted on where it lives."""
    store = f"sqlite:///{tmp_path / 'shared' / 'devarch.db'}"
    a = _open(_home(tmp_path, "a"), store)
    try:
        _two_engines(a)
        a.secrets.keyed_hash("x")  # creates the key file the other home shares
        b = _open(_home(tmp_path, "b", tmp_path / "a" / "secret.key"), store)
        try:
            _scenario(a, b, unique, engines)
        finally:
            b.close()
    finally:
        a.close()


def test_stacks_on_two_engines_from_one_postgres_store(
    tmp_path: Path, unique: str, engines: tuple[Any, Any], postgres_url: str
) -> None:
    """Two DEVARCH_HOMEs sharing one PostgreSQL store and key file, on two engines."""
    store = f"{postgres_url}?schema={unique}"
    a = _open(_home(tmp_path, "a"), store)
    try:
        _two_engines(a)
        a.secrets.keyed_hash("x")  # creates the key file the other home shares
        b = _open(_home(tmp_path, "b", tmp_path / "a" / "secret.key"), store)
        try:
            _scenario(a, b, unique, engines)
        finally:
            b.close()
    finally:
        a.close()
        import psycopg  # noqa: PLC0415

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{unique}" CASCADE')


def test_an_ssh_engine_reaches_docker_through_sshd(
    tmp_path: Path, unique: str, engines: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ssh:// engine (paramiko, a throw-away key) applies, inspects and tears down a stack."""
    if not SSH_KEY.exists():
        pytest.skip("no sshd test key; run `bash .ci/setup-engines.sh`")
    ssh_home = tmp_path / "ssh-home"
    (ssh_home / ".ssh").mkdir(parents=True, mode=0o700)
    scan = subprocess.run(
        ["ssh-keyscan", "-p", "2222", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if not scan.stdout.strip():
        pytest.skip("sshd does not answer on 127.0.0.1:2222; run `bash .ci/setup-engines.sh`")
    (ssh_home / ".ssh" / "known_hosts").write_text(scan.stdout)
    (ssh_home / ".ssh" / "config").write_text(f"Host 127.0.0.1\n  IdentityFile {SSH_KEY}\n")
    monkeypatch.setenv("HOME", str(ssh_home))  # paramiko reads ~/.ssh/config and known_hosts
    first, _ = engines
    devarch = _open(_home(tmp_path, "a"), f"sqlite:///{tmp_path / 'a' / 'devarch.db'}")
    stack = f"{unique}-ssh"
    try:
        devarch.add_engine(Engine(name="box", endpoint=SSH_URL))
        assert devarch.engine_runtime(devarch.list_engines()[0].engine).info().engine == "docker"
        devarch.create_stack(stack, engine="box")
        devarch.add_instance(stack, "cache", "bb-cache")
        devarch.apply(stack)
        assert _names(first, stack) == {f"devarch-{stack}-cache"}
        assert [r.state for r in devarch.status(stack)] == ["running"]
        assert devarch.plan(stack).actions == ()
        assert devarch.down(stack) == 1
        assert _names(first, stack) == set()
    finally:
        with contextlib.suppress(Exception):
            devarch.delete_stack(stack)
        devarch.close()


def test_doctor_checks_every_engine_of_the_store(
    tmp_path: Path, unique: str, engines: tuple[Any, Any]
) -> None:
    """Doctor asks each named engine; stacks bound elsewhere are not blamed on this host."""
    from devarch_adapters.doctor import run_doctor  # noqa: PLC0415

    _, second = engines
    devarch = _open(_home(tmp_path, "a"), f"sqlite:///{tmp_path / 'a' / 'devarch.db'}")
    stack = f"{unique}-doc"
    try:
        _two_engines(devarch)
        devarch.add_engine(Engine(name="gone", endpoint="tcp://127.0.0.1:9"))
        devarch.create_stack(stack, engine="two")
        devarch.add_instance(stack, "cache", "bb-cache")
        devarch.apply(stack)
        assert _names(second, stack) == {f"devarch-{stack}-cache"}
        found = {c.name: c for c in run_doctor(devarch)}
        assert found["engine one"].status == "pass"
        assert found["engine two"].status == "pass"
        assert (
            stack in found["engine two"].message or "1 stacks bound" in found["engine two"].message
        )
        assert found["engine gone"].status == "warn"
        assert "tcp://127.0.0.1:9" in found["engine gone"].message
        assert f"{stack} (two)" in found["stack-engines"].message
    finally:
        with contextlib.suppress(Exception):
            devarch.delete_stack(stack)
        devarch.close()
    assert _names(second, stack) == set()


def test_the_engine_commands_bind_say_and_move(
    tmp_path: Path,
    unique: str,
    engines: tuple[Any, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``engine add/list/use``, ``stack move`` on the CLI; each stack command names its engine."""
    from devarch_adapters.cli import main  # noqa: PLC0415

    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DEVARCH_ENGINE", "DEVARCH_STORE"):
        monkeypatch.delenv(name, raising=False)
    first, second = engines
    home = str(tmp_path / "home")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--home", home, "--catalog", str(EXAMPLES), "--no-color", *args])
        out, err = capsys.readouterr()
        return code, out, err

    stack = f"{unique}-cli"
    assert run("engine", "add", "two", SECOND)[0] == 0
    code, _, err = run("engine", "add", "bad", "http://x", "--kind", "lxc")
    assert code != 0
    assert "engines.bad.kind" in err
    assert run("engine", "use", "two")[0] == 0
    try:
        assert run("stack", "create", stack)[0] == 0
        assert run("instance", "add", stack, "cache", "bb-cache")[0] == 0
        code, _, err = run("apply", stack, "--yes")
        assert code == 0, err
        assert f"engine two ({SECOND})" in err
        assert _names(second, stack) == {f"devarch-{stack}-cache"}
        code, out, _ = run("--json", "engine", "list")
        [row] = json.loads(out)
        assert (row["engine"]["name"], row["default"], row["stacks"]) == ("two", True, [stack])
        code, out, err = run("--runtime", "docker", "--engine", "docker", "plan", stack)
        assert code == 1
        assert f"stack move {stack} --engine docker" in err
        assert run("engine", "use", "-")[0] == 0
        code, out, err = run("stack", "move", stack, "--engine", "docker", "--yes")
        assert code == 1
        assert "not found" in err  # the environment's engine is recorded at a first apply only
        assert run("engine", "add", "one", FIRST)[0] == 0
        code, out, err = run("stack", "move", stack, "--to", "one", "--yes", "--volumes")
        assert code == 0, err
        assert "Moved stack" in out
        assert _names(second, stack) == set()
        assert _names(first, stack) == {f"devarch-{stack}-cache"}
        code, _, err = run("status", stack)
        assert f"engine one ({FIRST})" in err
        code, _, err = run("engine", "remove", "one")
        assert code == 1
        assert "still has stacks" in err
    finally:
        run("stack", "delete", stack, "--yes")
    assert _names(first, stack) | _names(second, stack) == set()


def test_an_ssh_engine_that_refuses_the_key_is_said_in_words(tmp_path: Path) -> None:
    """A refused ssh login is an EngineError naming the endpoint, not a paramiko traceback."""
    from devarch_core.errors import EngineError  # noqa: PLC0415

    if not (Path("/etc/devarch-sshd/sshd_config")).exists():
        pytest.skip("no sshd for tests; run `bash .ci/setup-engines.sh`")
    devarch = _open(_home(tmp_path, "a"), f"sqlite:///{tmp_path / 'a' / 'devarch.db'}")
    try:
        devarch.add_engine(Engine(name="nokey", endpoint="ssh://nobody@127.0.0.1:2222"))
        engine = devarch.list_engines()[0].engine
        with pytest.raises(EngineError, match=re.escape("ssh://nobody@127.0.0.1:2222")):
            devarch.engine_runtime(engine).info()
    finally:
        devarch.close()


def test_docker_contexts_name_the_environments_engine(
    tmp_path: Path, unique: str, engines: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOCKER_CONTEXT, ``context=`` (``--context``) and the current context pick the engine.

    Read with the docker SDK's context support; a stack applied there is bound to an engine
    record naming the context.
    """
    from docker.context import ContextAPI  # noqa: PLC0415

    from devarch_core.errors import EngineError  # noqa: PLC0415

    first, second = engines
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text("{}")
    ContextAPI.create_context(name="second", host=SECOND)
    store = f"sqlite:///{tmp_path / 'a' / 'devarch.db'}"
    home = _home(tmp_path, "a")
    stack = f"{unique}-ctx"
    devarch = _open(home, store, environ={"DOCKER_CONTEXT": "second"})
    try:
        devarch.create_stack(stack)
        devarch.add_instance(stack, "cache", "bb-cache")
        devarch.apply(stack)
        [row] = devarch.list_engines()
        assert (row.engine.name, row.engine.context, row.stacks) == ("second", "second", (stack,))
        assert _names(second, stack) == {f"devarch-{stack}-cache"}
        assert _names(first, stack) == set()
    finally:
        devarch.close()
    by_argument = _open(home, store, context="second")
    try:
        assert by_argument.plan(stack).actions == ()
    finally:
        by_argument.close()
    (tmp_path / ".docker" / "config.json").write_text('{"currentContext": "second"}')
    current = _open(home, store)
    try:
        current.create_stack(f"{stack}2")
        assert current.engine_of(f"{stack}2").name == "second"
        with pytest.raises(EngineError, match="nosuch"):
            _open(home, store, context="nosuch")
    finally:
        with contextlib.suppress(Exception):
            current.delete_stack(stack)
        current.close()
    assert _names(second, stack) == set()

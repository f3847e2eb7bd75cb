"""The per-stack apply lock across real processes, and recovery from an apply killed halfway.

Other processes run a small Python snippet that ``connect()``s to the same home and store (SQLite
or PostgreSQL) and applies on Docker, printing one JSON line. Ten applies of one stack released
at once: one proceeds, the nine others fail at once with StackLockedError naming the holder. An
apply killed with SIGKILL while waiting for a dependency's health leaves no lock, and the next
apply converges with exactly one container per instance.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.integration.conftest import EXAMPLES, stack_containers

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.conftest import DevarchFactory, EngineClient

    from devarch_core.app import Devarch

pytestmark = pytest.mark.docker

CONTENDERS = 10
#: The snippet each contender runs: connect, say "ready", wait for the go file, apply once.
SNIPPET = r"""
import json, os, sys, time
from devarch_adapters import connect
from devarch_adapters.docker import DockerRuntime
from devarch_core.errors import DevarchError, StackLockedError

home, store, engine_url, catalog, stack, go, low, high = sys.argv[1:9]
devarch = connect(
    home=home, store=store or None, runtime=DockerRuntime(engine_url), catalog=[catalog],
    port_range=(int(low), int(high)), health_timeout=60.0,
)
print(json.dumps({"ready": os.getpid()}), flush=True)
while go and not os.path.exists(go):
    time.sleep(0.005)
start = time.monotonic()
try:
    result = devarch.apply(stack, lock_timeout=None)
    out = {"ok": True, "actions": [f"{a.action} {a.instance}" for a in result.plan.actions]}
except StackLockedError as exc:
    out = {"ok": False, "error": "StackLockedError", "message": str(exc), "holder": exc.holder}
except DevarchError as exc:
    out = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
out["elapsed"] = time.monotonic() - start
out["pid"] = os.getpid()
print(json.dumps(out), flush=True)
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite under the test's home) or the PostgreSQL test database."""
    if request.param == "sqlite":
        yield None
        return
    url: str = request.getfixturevalue("postgres_url")
    # A schema of its own: the store's metadata (owner, sealed hash key) must not be shared
    # with other tests that use other key files.
    schema = "t" + uuid.uuid4().hex[:10]
    yield f"{url}?schema={schema}"
    _drop_schema(url, schema)


def _drop_schema(url: str, schema: str) -> None:
    import psycopg  # noqa: PLC0415 - only the PostgreSQL cases need the driver

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _spawn(
    factory: DevarchFactory, store: str | None, engine_url: str, stack: str, go: Path | None
) -> subprocess.Popen[str]:
    low, high = factory.window
    args = [
        str(factory.home),
        store or "",
        engine_url,
        str(EXAMPLES),
        stack,
        str(go or ""),
        str(low),
        str(high),
    ]
    return subprocess.Popen(
        [sys.executable, "-c", SNIPPET, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def _result(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    results = [line for line in lines if "ready" not in line]
    assert len(results) == 1, f"exit {proc.returncode}\nstdout: {out}\nstderr: {err}"
    found: dict[str, Any] = results[0]
    return found


def _one_container_per_instance(client: object, devarch: Devarch, stack: str) -> None:
    found = stack_containers(client, devarch.get_stack(stack).id)
    names = sorted(c.name for c in found)
    assert names == [f"devarch-{stack}-db", f"devarch-{stack}-web"]
    assert all(c.status == "running" for c in found)
    instances = sorted(c.labels["devarch.instance_id"] for c in found)
    assert instances == sorted(i.id for i in devarch.list_instances(stack))


def test_ten_concurrent_applies_of_one_stack_let_exactly_one_proceed(  # noqa: PLR0917 - fixtures
    make_devarch: DevarchFactory,
    unique: str,
    store_url: str | None,
    docker_url: str,
    engine_client: EngineClient,
    tmp_path: Path,
) -> None:
    """Ten processes apply one stack at once: one applies, nine fail at once naming the holder."""
    devarch = make_devarch("docker", store_url)
    devarch.create_stack(unique)
    devarch.add_instance(unique, "db", "bb-db")
    devarch.add_instance(unique, "web", "bb-web")
    go = tmp_path / "go"
    procs = [_spawn(make_devarch, store_url, docker_url, unique, go) for _ in range(CONTENDERS)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "ready" in line, line + (proc.stderr.read() if proc.stderr else "")
        go.touch()
        results = [_result(proc) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    winners = [r for r in results if r["ok"]]
    losers = [r for r in results if not r["ok"]]
    assert len(winners) == 1, results
    assert sorted(winners[0]["actions"]) == ["add db", "add web"]
    assert len(losers) == CONTENDERS - 1
    winner_pid = winners[0]["pid"]
    for loser in losers:
        assert loser["error"] == "StackLockedError", loser
        assert f"stack {unique} is being applied by another session" in loser["message"]
        assert str(winner_pid) in loser["holder"], loser
        assert loser["elapsed"] < 2.0, loser
    assert devarch.plan(unique).actions == ()
    _one_container_per_instance(engine_client("docker"), devarch, unique)


def test_an_apply_killed_halfway_leaves_no_lock_and_the_next_apply_converges(
    make_devarch: DevarchFactory,
    unique: str,
    store_url: str | None,
    docker_url: str,
    engine_client: EngineClient,
) -> None:
    """SIGKILL while apply waits on db's health: no lock is left and re-applying converges."""
    devarch = make_devarch("docker", store_url)
    devarch.create_stack(unique)
    # db answers only after 3 s, so apply waits on its health before creating web.
    slow = (
        "trap 'exit 0' TERM INT; sleep 3 & wait; "
        "mkdir -p /var/lib/bb-db && nc -ll -p 5432 -e echo ok & wait"
    )
    devarch.add_instance(unique, "db", "bb-db", overrides={"command": ["sh", "-c", slow]})
    devarch.add_instance(unique, "web", "bb-web")
    client = engine_client("docker")
    proc = _spawn(make_devarch, store_url, docker_url, unique, None)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            running = client.containers.list(filters={"name": f"devarch-{unique}-db"})
            if running:
                break
            assert time.monotonic() < deadline, "the apply never started db"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert client.containers.list(all=True, filters={"name": f"devarch-{unique}-web"}) == []
    assert devarch.lock is not None
    result = devarch.apply(unique, lock_timeout=None)
    assert [f"{a.action} {a.instance}" for a in result.plan.actions] == ["add web"]
    assert devarch.plan(unique).actions == ()
    _one_container_per_instance(client, devarch, unique)

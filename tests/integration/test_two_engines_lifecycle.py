"""logs, exec, stop, start and restart of a stack bound to the second engine (docs/engines.md).

The caller's environment (``DOCKER_HOST``) names the first engine; the stack is bound to the
second dockerd of ``.ci/setup-engines.sh`` (tcp://127.0.0.1:23750, its own network namespace).
Every command must reach the second engine and say so on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devarch_adapters.bootstrap import connect
from devarch_adapters.cli import main
from devarch_core.model import Engine
from devarch_core.naming import LABEL_STACK_NAME

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from devarch_core.app import Devarch

pytestmark = pytest.mark.docker

EXAMPLES = str(Path(__file__).resolve().parents[2] / "examples" / "catalog")
SECOND = os.environ.get("DEVARCH_TEST_DOCKER2_URL", "tcp://127.0.0.1:23750")
FIRST = "unix:///var/run/docker.sock"
BASE = "http://127.0.0.1:8765"
AUTH = {"Authorization": "Bearer t0ken"}
POST = {**AUTH, "Origin": BASE}


def _client(url: str) -> Any:
    import docker  # noqa: PLC0415

    try:
        client = docker.DockerClient(base_url=url, timeout=10)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"engine {url} does not answer ({exc}); run `bash .ci/setup-engines.sh`")
    return client


def _states(client: Any, stack: str) -> dict[str, str]:
    found = client.containers.list(all=True, filters={"label": f"{LABEL_STACK_NAME}={stack}"})
    return {c.name: c.status for c in found}


@pytest.fixture
def engines() -> Iterator[tuple[Any, Any]]:
    """Docker clients of the first and the second engine."""
    first, second = _client(FIRST), _client(SECOND)
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def cli(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """``devarch`` in-process with DOCKER_HOST on the first engine; output caught at the fds."""
    for name in ("DOCKER_CONTEXT", "DEVARCH_ENGINE", "DEVARCH_STORE", "DOCKER_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_HOST", FIRST)
    home = str(tmp_path / "home")

    def run(*args: str) -> tuple[int, str, str]:
        sys.stdout.flush()
        sys.stderr.flush()
        capfd.readouterr()
        code = main(["--home", home, "--catalog", EXAMPLES, "--no-color", *args])
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = capfd.readouterr()
        return code, out, err

    return run


def _move_is_asked_with_its_plan(
    cli: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch, stack: str
) -> None:
    """``stack move`` asks first, naming the containers it would remove on the old engine."""
    asked: list[str] = []

    def confirm(_self: object, question: str, **_kw: object) -> bool:
        asked.append(question)
        return False

    monkeypatch.setattr("devarch_adapters.cli._main._Context.confirm", confirm)
    assert cli("engine", "add", "one", FIRST)[0] == 0
    assert cli("stack", "move", stack, "--to", "one")[0] == 1
    expected = (
        f"Move stack {stack} from engine two to one: remove its containers "
        f"(devarch-{stack}-cache) and network there, then apply on one?"
    )
    assert asked == [expected]


def test_lifecycle_commands_reach_the_bound_engine_whatever_docker_host_says(
    cli: Callable[..., tuple[int, str, str]],
    unique: str,
    engines: tuple[Any, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """exec, logs, stop, start and restart act on the second engine and name it on stderr."""
    first, second = engines
    stack = f"{unique}-far"
    container = f"devarch-{stack}-cache"
    said = f"engine two ({SECOND})"
    assert cli("engine", "add", "two", SECOND)[0] == 0
    assert cli("stack", "create", stack, "--engine", "two")[0] == 0
    try:
        code, _, err = cli("instance", "add", stack, "cache", "bb-cache", "--set", "port=6379:off")
        assert code == 0, err
        code, _, err = cli("apply", stack, "--yes")
        assert code == 0, err
        assert _states(second, stack) == {container: "running"}
        assert _states(first, stack) == {}

        def said_ok(*args: str) -> str:
            """Run a stack command that must succeed and name the second engine; its stdout."""
            code, out, err = cli(*args)
            assert code == 0, err
            assert said in err
            return out

        # exec runs the engine CLI against the stack's engine, not DOCKER_HOST's.
        script = "echo far-$HOSTNAME > /proc/1/fd/1; echo far-out"
        assert said_ok("exec", stack, "cache", "--", "sh", "-c", script).strip() == "far-out"
        out = said_ok("logs", stack, "cache")
        assert any(line.startswith("far-") for line in out.splitlines()), out
        assert said_ok("logs", stack, "--tail", "1").startswith("cache | ")
        assert "stopped cache" in said_ok("stop", stack)
        assert _states(second, stack) == {container: "exited"}
        assert _states(first, stack) == {}
        assert "started cache" in said_ok("start", stack, "cache")
        assert _states(second, stack) == {container: "running"}
        assert "restarted cache" in said_ok("restart", stack)
        assert _states(second, stack) == {container: "running"}
        assert _states(first, stack) == {}

        _move_is_asked_with_its_plan(cli, monkeypatch, stack)
        assert _states(second, stack) == {container: "running"}

        # Without any engine in the environment, delete still tears down on the bound engine
        # and says so (no "no container engine was used" warning).
        code, out, err = cli("--runtime", "none", "--json", "stack", "delete", stack, "--yes")
        assert code == 0, err
        assert json.loads(out) == {"deleted": stack, "engine": True}
        assert said in err
        assert "no container engine" not in err
        assert _states(second, stack) == {}
    finally:
        with contextlib.suppress(Exception):
            cli("stack", "delete", stack, "--yes")
    assert _states(second, stack) == {}


def _finished(client: Any, answer: Any) -> dict[str, Any]:
    """The web job ``answer`` started, once it ended (60 s at most)."""
    assert answer.status_code in (200, 202), answer.text  # 200: it finished already
    job = answer.json()
    deadline = time.monotonic() + 60
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = client.get(f"/api/v1/jobs/{job['id']}", headers=AUTH).json()
    return dict(job)


@pytest.fixture
def far_devarch(
    tmp_path: Path, unique: str, engines: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Devarch, str]]:
    """A library facade (DOCKER_HOST: the first engine) with a stack applied on the second."""
    for name in ("DOCKER_CONTEXT", "DEVARCH_ENGINE", "DEVARCH_STORE", "DOCKER_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_HOST", FIRST)
    _, second = engines
    stack = f"{unique}-web"
    base_port = random.randrange(30000, 59800, 200)  # noqa: S311 - a window, not a secret
    devarch = connect(
        home=tmp_path / "home",
        runtime="docker",
        catalog=[EXAMPLES],
        port_range=(base_port, base_port + 199),
    )
    devarch.close = lambda: None  # type: ignore[method-assign]  # shared by the server's jobs
    try:
        devarch.add_engine(Engine(name="two", endpoint=SECOND))
        devarch.create_stack(stack, engine="two")
        devarch.add_instance(stack, "cache", "bb-cache")
        devarch.apply(stack)
        yield devarch, stack
    finally:
        with contextlib.suppress(Exception):
            devarch.delete_stack(stack)
        type(devarch).close(devarch)
    assert _states(second, stack) == {}


def test_the_web_api_reads_logs_and_stops_on_the_bound_engine(
    far_devarch: tuple[Devarch, str], engines: tuple[Any, Any]
) -> None:
    """The API's logs, stop, start and status reach the second engine; DOCKER_HOST is the first."""
    pytest.importorskip("litestar")
    from litestar.testing import TestClient  # noqa: PLC0415

    from devarch_adapters.web.app import create_app  # noqa: PLC0415
    from devarch_adapters.web.state import WebConfig  # noqa: PLC0415

    devarch, stack = far_devarch
    first, second = engines
    container = f"devarch-{stack}-cache"
    assert _states(second, stack) == {container: "running"}
    second.containers.get(container).exec_run(["sh", "-c", "echo web-far > /proc/1/fd/1"])
    app = create_app(lambda _reporter: devarch, WebConfig(token="t0ken", port=8765))
    api = f"/api/v1/stacks/{stack}"
    with TestClient(app, base_url=BASE) as client:
        lines = client.get(f"{api}/instances/cache/logs", headers=AUTH)
        assert lines.status_code == 200, lines.text
        assert "web-far" in [line["text"] for line in lines.json()]
        assert client.get(api, headers=AUTH).json()["engine"] == "two"
        job = _finished(client, client.post(f"{api}/stop", headers=POST))
        assert job["state"] == "succeeded", job
        assert _states(second, stack) == {container: "exited"}
        status = client.get(f"{api}/status", headers=AUTH).json()
        assert [row["state"] for row in status] == ["exited"]
        job = _finished(client, client.post(f"{api}/start", headers=POST))
        assert job["state"] == "succeeded", job
        assert _states(second, stack) == {container: "running"}
        page = client.get(f"/stacks/{stack}", headers=AUTH)
        assert f"Engine: two ({SECOND})" in page.text
    assert _states(first, stack) == {}

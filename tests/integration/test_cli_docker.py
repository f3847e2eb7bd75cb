"""The ``devarch`` CLI against a real Docker Engine: plan → apply → converge → change → down.

Runs ``main(argv)`` in-process with ``--runtime docker``, a fresh ``--home`` and the busybox
example catalog; every stack gets a ``unique`` name and is deleted (containers, network,
volumes) at the end, also when the test fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devarch_adapters.cli import main

pytestmark = pytest.mark.docker

CATALOG = str(Path(__file__).resolve().parents[2] / "examples" / "catalog")


@pytest.fixture
def cli(docker_url, tmp_path, capsys, monkeypatch):
    """Run ``devarch --runtime docker`` in-process against the test engine."""
    monkeypatch.setenv("DOCKER_HOST", docker_url)
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    home = str(tmp_path / "home")

    def run(*args: str):
        capsys.readouterr()
        argv = ["--home", home, "--runtime", "docker", "--catalog", CATALOG, "--no-color"]
        code = main([*argv, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def stack(cli, unique):
    """Yield a fresh stack (bb-db + bb-web); delete it and all it ran afterwards."""
    name = f"{unique}-cli"
    assert cli("stack", "create", name)[0] == 0
    assert cli("instance", "add", name, "db", "bb-db")[0] == 0
    assert cli("instance", "add", name, "web", "bb-web")[0] == 0
    yield name
    code, _, err = cli("stack", "delete", name, "--yes")
    assert code in (0, 1), err


def _container_env(docker_url: str, name: str) -> list[str]:
    import docker  # noqa: PLC0415 - the test inspects the engine directly

    client = docker.DockerClient(base_url=docker_url)
    try:
        return list(client.containers.get(name).attrs["Config"]["Env"])
    finally:
        client.close()


def test_plan_apply_change_and_down_through_the_cli(cli, stack, docker_url, tmp_path):
    """Apply converges; a user change plans as `~ ... (user)` and applies from a saved plan."""
    code, out, _ = cli("plan", stack, "--detailed-exitcode")
    assert code == 2
    assert "+ db" in out
    assert "+ web" in out

    code, out, err = cli("apply", stack, "--yes")
    assert code == 0, err
    assert "Apply complete" in out
    assert "Timings:" in err

    code, out, _ = cli("plan", stack, "--detailed-exitcode")
    assert code == 0, out
    assert "no changes" in out

    assert cli("instance", "set", stack, "web", "env.FOO=bar")[0] == 0
    saved = tmp_path / "plan.json"
    code, out, _ = cli("plan", stack, "--detailed-exitcode", "--out", str(saved))
    assert code == 2
    change = next(line for line in out.splitlines() if "environment.FOO" in line)
    assert "(user)" in change
    assert f"~ web (devarch-{stack}-web)" in out
    plan = json.loads(saved.read_text())
    assert [(a["action"], a["instance"]) for a in plan["actions"]] == [("modify", "web")]

    code, _, err = cli("apply", stack, "--plan", str(saved))
    assert code == 0, err
    assert "FOO=bar" in _container_env(docker_url, f"devarch-{stack}-web")
    assert cli("plan", stack, "--detailed-exitcode")[0] == 0

    code, out, _ = cli("--json", "status", stack)
    assert code == 0
    assert {(s["instance"], s["state"]) for s in json.loads(out)} == {
        ("db", "running"),
        ("web", "running"),
    }

    code, out, _ = cli("down", stack)
    assert code == 0
    assert "removed 2 container(s)" in out
    code, out, _ = cli("--json", "status", stack)
    assert {s["state"] for s in json.loads(out)} == {"absent"}


def test_apply_refuses_without_yes_and_a_stale_plan_exits_4(cli, stack, tmp_path):
    """Without a terminal apply needs --yes; a saved plan outdated by an apply is refused with 4."""
    saved = tmp_path / "plan.json"
    assert cli("plan", stack, "--out", str(saved))[0] == 0
    code, _, err = cli("apply", stack)
    assert code == 1
    assert "--yes" in err
    assert cli("apply", stack, "--yes")[0] == 0
    code, _, err = cli("apply", stack, "--plan", str(saved))
    assert code == 4
    assert "stale" in err

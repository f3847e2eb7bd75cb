"""The runnable examples and the notebook in ``examples/`` do what their docstrings promise.

Each script runs in a subprocess of this interpreter, as a user would run it, with a unique
stack name, the ``make_devarch`` fixture's home (under ``tmp_path``) and its random host port
window; the notebook runs on the ``python3`` kernel of this environment through nbclient.
Afterwards nothing of theirs is left on the engine (and the ``make_devarch`` fixture removes
anything a failed run left behind).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT = 240


def engine_env(docker_url: str, **extra: str) -> dict[str, str]:
    """The environment of an example run: Docker at ``docker_url``, no stray DEVARCH_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVARCH_")}
    env.update(DEVARCH_RUNTIME="docker", DOCKER_HOST=docker_url, NO_COLOR="1", **extra)
    return env


def run_example(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``examples/<script>``; return its stdout after asserting it exited 0."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def assert_nothing_left(make_devarch, engine_client, prefix: str) -> None:
    """No stack in the example's store and no engine resource named ``devarch-{prefix}*``."""
    devarch = make_devarch("docker")
    assert [s.stack.name for s in devarch.list_stacks(with_runtime=False)] == []
    client = engine_client("docker")
    stem = f"devarch-{prefix}"
    assert [c.name for c in client.containers.list(all=True, filters={"name": stem})] == []
    assert [n.name for n in client.networks.list(names=[stem]) if n.name.startswith(stem)] == []
    assert [v.name for v in client.volumes.list() if v.name.startswith(stem)] == []


def window(make_devarch) -> str:
    """The fixture's random host port window as ``LOW-HIGH``."""
    low, high = make_devarch.window
    return f"{low}-{high}"


def test_own_runtime_example_applies_a_stack_without_any_engine(unique):
    """own_runtime.py plans, applies and tears down through a LoggingRuntime, no engine needed."""
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DEVARCH_RUNTIME")}
    out = run_example("own_runtime.py", unique, env=env)

    assert "isinstance(runtime, devarch_core.Runtime): True" in out
    assert f"[runtime] create_container devarch-{unique}-db on devarch-{unique}-net" in out
    assert f"[runtime] remove_network devarch-{unique}-net" in out
    assert "plan after apply has changes: False" in out
    assert out.rstrip().endswith("OK")


@pytest.mark.docker
def test_two_stacks_example_wires_each_web_to_its_own_database(
    docker_url, unique, make_devarch, engine_client
):
    """two_stacks.py runs two stacks side by side, each web names its own db; both are deleted."""
    a, b = f"{unique}-a", f"{unique}-b"
    out = run_example(
        "two_stacks.py",
        a,
        b,
        f"--home={make_devarch.home}",
        f"--port-range={window(make_devarch)}",
        env=engine_env(docker_url),
    )

    for stack in (a, b):
        assert f"stack {stack}: network devarch-{stack}-net" in out
        assert f"DB_HOST=devarch-{stack}-db DB_PORT=5432" in out
        assert f"web is wired to devarch-{stack}-db: yes" in out
        assert f"deleted {stack}" in out
    assert "separate networks: yes" in out
    assert out.rstrip().endswith("OK")
    assert_nothing_left(make_devarch, engine_client, unique)


@pytest.mark.docker
def test_wired_web_db_example_explains_wires_and_recreates_on_an_override(
    docker_url, unique, make_devarch, engine_client
):
    """wired_web_db.py shows wiring, wire:db sources, the graph and a ~ plan, then deletes all."""
    stack = f"{unique}-wired"
    out = run_example(
        "wired_web_db.py",
        stack,
        f"--home={make_devarch.home}",
        f"--port-range={window(make_devarch)}",
        env=engine_env(docker_url),
    )

    assert "Wiring:\n  web.db → db (auto)" in out
    assert f"environment.DB_HOST    devarch-{stack}-db" in out
    assert [line.split()[-1] for line in out.splitlines() if "environment.DB_PORT    " in line] == [
        "wire:db"
    ]
    assert "web -->|db: postgres| db" in out
    assert f"~ web (devarch-{stack}-web)" in out
    assert '"v1" → "v2"  (user)  [forces recreate]' in out
    assert "<h1>v2</h1>" in out
    assert f"deleted {stack}" in out
    assert out.rstrip().endswith("OK")
    assert_nothing_left(make_devarch, engine_client, unique)


@pytest.mark.docker
def test_notebook_runs_top_to_bottom_on_this_environments_kernel(
    docker_url, unique, make_devarch, engine_client, monkeypatch
):
    """examples/notebook.ipynb executes on the python3 kernel and leaves nothing running."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    stack = f"{unique}-nb"
    # The kernel inherits this process's environment.
    for key in [k for k in os.environ if k.startswith("DEVARCH_")]:
        monkeypatch.delenv(key)
    for key, value in engine_env(
        docker_url,
        DEVARCH_NOTEBOOK_STACK=stack,
        DEVARCH_NOTEBOOK_HOME=str(make_devarch.home),
        DEVARCH_NOTEBOOK_PORTS=window(make_devarch),
    ).items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells), "commit the notebook without outputs"

    # Prove the kernel is this environment's interpreter (not some other python3 kernel spec).
    notebook.cells.append(nbformat.v4.new_code_cell("import sys; print('kernel:', sys.executable)"))
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=TIMEOUT,
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()

    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.extend(str(v) for v in output.get("data", {}).values())
    out = "\n".join(texts)
    assert f"engine docker, stack {stack}" in out
    assert f"Plan for stack {stack}: 3 to add" in out
    assert "web -->|db: postgres| db" in out
    assert f"| web | devarch-{stack}-web | running |" in out
    # rich display: the plan and status as HTML tables, the graph as SVG, ports as numbers
    assert f"Status of stack {stack}</caption>" in out
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in out
    assert 'id="node-web"' in out
    assert re.search(r"http://127\.0\.0\.1:\d+/", out)
    assert f"{stack}/web (bb-web@" in out
    assert "'wire:db'" in out
    assert f"Stack {stack}: no changes." in out
    assert f"deleted {stack}" in out
    assert f"kernel: {sys.executable}" in out
    assert_nothing_left(make_devarch, engine_client, unique)

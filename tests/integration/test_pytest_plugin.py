"""The pytest plugin (``devarch_stack``) against real Docker: runs of an example test project.

Each test copies ``tests/data/plugin`` (a devarch.yml with a database and a web app, and tests
that fetch the web app through its published port) to a temporary directory and runs pytest on
it in a subprocess with its own plugin home. The example's autouse fixture writes
``{worker}.json`` (stack name, web port) into ``$PLUGIN_RECORD_DIR`` once the stack is up.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "data" / "plugin"
CATALOG = ROOT / "examples" / "catalog"

pytestmark = pytest.mark.docker


def clean_env() -> dict[str, str]:
    """Return this process's environment without what an outer pytest(-xdist) run put there."""
    outer = (
        "PYTEST_ADDOPTS",
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_TESTRUNUID",
        "PYTEST_XDIST_WORKER_COUNT",
    )
    return {k: v for k, v in os.environ.items() if k not in outer and k != "PYTEST_CURRENT_TEST"}


class Project:
    """A copy of the example project with its own plugin home and record directory."""

    def __init__(self, root: Path, docker_url: str) -> None:
        self.root = root / "project"
        self.home = root / "home"
        self.records = root / "records"
        shutil.copytree(EXAMPLE, self.root)
        self.records.mkdir()
        self.env = {**clean_env(), "DEVARCH_RUNTIME": "docker", "DOCKER_HOST": docker_url}
        self.env["PLUGIN_RECORD_DIR"] = str(self.records)

    def command(self, *args: str) -> list[str]:
        """Build the pytest command line.

        Options are ``--opt=value``: a separate path argument would be taken as a rootdir hint.
        """
        return [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            f"--devarch-home={self.home}",
            f"--devarch-catalog={CATALOG}",
            *args,
        ]

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run pytest on the project and wait for it."""
        return subprocess.run(
            self.command(*args),
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def record(self, worker: str = "main") -> dict[str, Any]:
        """Read what the run's ``worker`` process recorded about its stack."""
        data: dict[str, Any] = json.loads((self.records / f"{worker}.json").read_text())
        return data

    def clear_records(self) -> None:
        """Forget earlier runs' records."""
        for path in self.records.iterdir():
            path.unlink()


def passed(result: subprocess.CompletedProcess[str]) -> str:
    """Assert that a run passed and return its output."""
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


@pytest.fixture
def project(tmp_path: Path, docker_url: str) -> Iterator[Project]:
    """Copy the example project; delete every stack left in its plugin home afterwards."""
    proj = Project(tmp_path, docker_url)
    yield proj
    if (proj.home / "devarch.db").exists():
        from devarch_adapters import connect  # noqa: PLC0415
        from devarch_adapters.docker import DockerRuntime  # noqa: PLC0415

        devarch = connect(home=proj.home, runtime=DockerRuntime(docker_url), catalog=[str(CATALOG)])
        for summary in devarch.list_stacks(with_runtime=False):
            devarch.delete_stack(summary.stack.name)
        devarch.store.close()


@pytest.fixture
def containers(docker_url: str) -> Iterator[Callable[[str], list[Any]]]:
    """``containers(stack)`` → the engine's containers (any state) labelled for that stack name."""
    import docker  # noqa: PLC0415

    client = docker.DockerClient(base_url=docker_url, timeout=60)

    def of(stack: str) -> list[Any]:
        return list(client.containers.list(all=True, filters={"label": f"devarch.stack={stack}"}))

    yield of
    client.close()


def test_plugin_stays_inert_when_no_test_asks_for_a_stack(tmp_path):
    """Unless a test requests devarch_stack the plugin loads no engine driver and writes nothing."""
    (tmp_path / "test_plain.py").write_text(
        "import sys\n"
        "def test_nothing_loaded():\n"
        "    assert 'devarch_adapters.pytest_plugin' in sys.modules\n"
        "    drivers = {'docker', 'psycopg', 'devarch_adapters.docker', 'sqlite3'}\n"
        "    loaded = drivers & set(sys.modules)\n"
        "    assert not loaded\n"
    )
    home = tmp_path / "home"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--devarch-home={home}",
            "test_plain.py",
        ],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    passed(result)
    assert not home.exists()


def test_example_tests_reach_the_stack_and_it_is_gone_afterwards(project, containers):
    """The example tests reach the web app on its host port; the run deletes its stack at exit."""
    output = passed(project.run())
    assert "6 passed" in output
    record = project.record()
    assert record["name"].startswith("plugdemo-")
    assert containers(record["name"]) == []
    assert list((project.home / "pytest" / "runs").iterdir()) == []


def test_xdist_workers_share_one_session_stack(project, containers):
    """With -n 2 and scope session both workers use the same stack, which is gone afterwards."""
    output = passed(project.run("-n", "2"))
    assert "6 passed" in output
    names = {project.record(worker)["name"] for worker in ("gw0", "gw1")}
    assert len(names) == 1
    assert containers(names.pop()) == []


def test_worker_scope_gives_each_xdist_worker_its_own_stack(project, containers):
    """With -n 2 and scope worker the workers get two different stacks, both gone afterwards."""
    passed(project.run("-n", "2", "--devarch-scope=worker"))
    first, second = project.record("gw0")["name"], project.record("gw1")["name"]
    assert first != second
    assert first.endswith("-gw0")
    assert second.endswith("-gw1")
    assert containers(first) == []
    assert containers(second) == []


def test_a_killed_runs_stack_is_reaped_by_the_next_run(project, containers):
    """A run killed by SIGKILL leaks its stack; the next run with the same home deletes it."""
    log = (project.root / "killed.log").open("w")
    proc = subprocess.Popen(
        project.command("-k", "sleeps"),
        cwd=project.root,
        env={**project.env, "PLUGIN_SLEEP": "60"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not (project.records / "main.json").exists():
            assert proc.poll() is None, (project.root / "killed.log").read_text()
            assert time.monotonic() < deadline, "the run never brought its stack up"
            time.sleep(0.2)
        leaked = project.record()["name"]
        assert {c.status for c in containers(leaked)} == {"running"}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
    assert len(containers(leaked)) == 2

    project.clear_records()
    passed(project.run())
    assert project.record()["name"] != leaked
    assert containers(leaked) == []
    assert containers(project.record()["name"]) == []
    assert list((project.home / "pytest" / "runs").iterdir()) == []


def test_reuse_keeps_the_stack_between_runs(project, containers, docker_url):
    """With --devarch-reuse two runs in a row use the same containers, which stay up.

    The reused stack's name is fixed by the manifest's (``NAME-reuse``), so this test gives its
    copy of the manifest a name of its own: a reused stack another run left (killed before its
    cleanup, or of another home) is never this one.
    """
    stack = f"plugdemo-{secrets.token_hex(3)}"
    manifest = project.root / "devarch.yml"
    manifest.write_text(manifest.read_text().replace("{name: plugdemo,", f"{{name: {stack},"))
    passed(project.run("--devarch-reuse"))
    name = project.record()["name"]
    assert name == f"{stack}-reuse"
    first = sorted(c.id for c in containers(name))
    assert len(first) == 2

    project.clear_records()
    passed(project.run("--devarch-reuse"))
    assert project.record()["name"] == name
    assert sorted(c.id for c in containers(name)) == first

    from devarch_adapters import connect  # noqa: PLC0415
    from devarch_adapters.docker import DockerRuntime  # noqa: PLC0415

    devarch = connect(home=project.home, runtime=DockerRuntime(docker_url), catalog=[str(CATALOG)])
    devarch.delete_stack(name)
    devarch.store.close()
    assert containers(name) == []


def test_a_stack_that_cannot_be_imported_fails_each_test_with_devarchs_message(project):
    """An unknown template fails the tests that need the stack with the path of the problem."""
    manifest = project.root / "devarch.yml"
    manifest.write_text(
        manifest.read_text().replace("template: bb-web", "template: no-such-template")
    )
    result = project.run("-n", "2")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "instances.web.template" in output
    assert "no-such-template" in output
    assert list((project.home / "pytest" / "runs").iterdir()) == []

"""Shell completion: candidates from the parser, the store and the catalog; bash and zsh scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devarch_adapters import bootstrap
from devarch_adapters.bootstrap import Settings, connect
from devarch_adapters.cli import main
from devarch_adapters.cli._completion_cmds import BASH, ZSH, sqlite_names, store_url

ROOT = Path(__file__).resolve().parents[2]
CATALOG = str(ROOT / "examples" / "catalog")
BIN = str(Path(sys.executable).parent)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with stacks shop (db, web) and blog (db), made without an engine."""
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.delenv("DEVARCH_CATALOG_PATH", raising=False)
    path = tmp_path / "home"
    devarch = connect(home=path, runtime="none", catalog=[CATALOG])
    try:
        for stack, instances in (("shop", ("web", "db")), ("blog", ("db",))):
            devarch.create_stack(stack)
            for name in instances:
                devarch.add_instance(stack, name, "bb-db" if name == "db" else "bb-web")
    finally:
        devarch.close()
    monkeypatch.setenv("DEVARCH_HOME", str(path))
    return path


def complete(capsys: pytest.CaptureFixture[str], *words: str) -> list[str]:
    capsys.readouterr()
    assert main(["__complete", "--", *words]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.usefixtures("home")
def test_commands_subcommands_options_and_choices_come_from_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert {"plan", "apply", "stack", "instance", "completion", "schema"} <= set(
        complete(capsys, "")
    )
    assert "__complete" not in complete(capsys, "")
    assert complete(capsys, "st") == ["stack", "start", "status", "stop"]
    assert "validate" in complete(capsys, "catalog", "")
    assert complete(capsys, "plan", "--d") == ["--detailed-exitcode"]
    assert complete(capsys, "--runtime", "") == ["auto", "docker", "podman", "swarm", "none"]
    assert complete(capsys, "--runtime", "x") == []
    assert complete(capsys, "--home", "") == ["::files"]
    assert complete(capsys, "completion", "") == ["bash", "zsh"]
    assert complete(capsys, "schema", "l") == ["lock"]
    assert complete(capsys, "import", "") == ["::files"]


def test_stacks_instances_and_templates_come_from_the_store_and_catalog(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert complete(capsys, "plan", "") == ["blog", "shop"]
    assert complete(capsys, "stack", "show", "s") == ["shop"]
    assert complete(capsys, "instance", "show", "shop", "") == ["db", "web"]
    assert complete(capsys, "instance", "show", "--json", "blog", "") == ["db"]
    assert complete(capsys, "wire", "add", "shop", "web", "db", "") == ["db", "web"]
    assert complete(capsys, "secret", "set", "shop", "w") == ["web"]
    assert complete(capsys, "compose", "shop", "d") == ["db"]
    assert complete(capsys, "instance", "show", "nope", "") == []
    # New names are not completed; templates come from the builtin and --catalog directories.
    assert complete(capsys, "stack", "create", "") == []
    assert complete(capsys, "instance", "add", "shop", "") == []
    assert complete(capsys, "instance", "add", "shop", "x", "post") == ["postgres"]
    assert complete(capsys, "--catalog", CATALOG, "catalog", "show", "bb-") == [
        "bb-cache",
        "bb-db",
        "bb-web",
        "bb-worker",
    ]
    assert complete(capsys, f"--home={home.parent / 'other'}", "plan", "") == []
    # bash's COMP_WORDBREAKS splits --home=DIR into three words.
    assert complete(capsys, "--home", "=", str(home), "plan", "") == ["blog", "shop"]
    assert complete(capsys, "--home", "=", str(home.parent / "other"), "plan", "") == []


@pytest.mark.usefixtures("home")
def test_completion_needs_no_engine_and_creates_no_store(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_engine(kind: str) -> None:
        raise AssertionError(f"an engine was opened ({kind})")

    monkeypatch.setattr(bootstrap, "open_runtime", no_engine)
    assert complete(capsys, "status", "") == ["blog", "shop"]
    fresh = tmp_path / "fresh"
    assert complete(capsys, "--home", str(fresh), "plan", "") == []
    assert not fresh.exists()


def test_the_store_url_is_the_composition_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.setenv("DEVARCH_HOME", str(tmp_path / "env-home"))
    for where in (
        {},
        {"home": str(tmp_path / "h")},
        {"home": "~/x"},
        {"store": "postgresql://u@h/db"},
    ):
        expected = Settings.from_env(home=where.get("home"), store=where.get("store")).store_url
        assert store_url(where) == expected
    monkeypatch.setenv("DEVARCH_STORE", f"sqlite:///{tmp_path}/s.db")
    assert store_url({}) == Settings.from_env().store_url


def test_the_read_only_sqlite_names_match_the_store(home: Path) -> None:
    devarch = connect(home=home, runtime="none")
    try:
        stacks = [s.stack.name for s in devarch.list_stacks(with_runtime=False)]
        instances = [i.name for i in devarch.list_instances("shop")]
    finally:
        devarch.close()
    assert sqlite_names(home / "devarch.db", "stacks", None) == stacks == ["blog", "shop"]
    assert sqlite_names(home / "devarch.db", "instances", "shop") == instances
    assert sqlite_names(home / "missing.db", "stacks", None) == []
    (home / "garbage.db").write_bytes(b"not a database")
    assert sqlite_names(home / "garbage.db", "stacks", None) == []


def test_completion_prints_the_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "bash"]) == 0
    assert capsys.readouterr().out == BASH
    assert main(["completion", "zsh"]) == 0
    assert capsys.readouterr().out == ZSH
    assert main(["completion", "fish"]) == 2


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DEVARCH_HOME": str(home)}


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_instances_of_the_stack_typed(home: Path) -> None:
    script = (
        BASH
        + "COMP_WORDS=(devarch instance show shop '')\nCOMP_CWORD=4\n"
        + '_devarch_complete\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
        + "COMP_WORDS=(devarch import ./d)\nCOMP_CWORD=2\n"
        + '_devarch_complete\nprintf "files:%s\\n" "${COMPREPLY[@]}"\n'
    )
    (home / "dir-a").mkdir()
    out = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=_env(home),
        cwd=home,
        check=True,
        timeout=60,
    ).stdout
    assert out.splitlines()[:3] == ["db", "web", "files:./dir-a"]
    assert "files:./devarch.db" in out.splitlines()


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_completes_stacks(home: Path) -> None:
    # compadd and compdef are the completion system's; stand-ins print what would be offered.
    script = (
        'compdef() { print "compdef $*" }\n'
        + ZSH
        + 'compadd() { shift; print -l -- "$@" }\n'
        + "words=(devarch plan '')\nCURRENT=3\n_devarch\n"
    )
    out = subprocess.run(
        ["zsh", "-f", "-c", script],
        capture_output=True,
        text=True,
        env=_env(home),
        check=True,
        timeout=60,
    ).stdout
    assert out.splitlines() == ["compdef _devarch devarch", "blog", "shop"]


def test_engines_and_lifecycle_instances_come_from_the_store(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Engine names for ``engine use/remove``, ``--engine`` and ``stack move --to``.

    Instances for ``start/stop/restart STACK INSTANCE...``; new names are not completed.
    """
    from devarch_core.model import Engine  # noqa: PLC0415

    assert complete(capsys, "engine", "use", "") == []  # a store without engines
    devarch = connect(home=home, runtime="none")
    try:
        devarch.add_engine(Engine(name="box", endpoint="tcp://box.example:2375"))
        devarch.add_engine(Engine(name="laptop", endpoint="unix:///run/docker.sock"))
    finally:
        devarch.close()
    assert complete(capsys, "engine", "use", "") == ["box", "laptop"]
    assert complete(capsys, "engine", "remove", "l") == ["laptop"]
    assert complete(capsys, "engine", "add", "") == []
    assert complete(capsys, "--engine", "") == ["box", "laptop"]
    assert complete(capsys, "stack", "create", "x", "--engine", "b") == ["box"]
    assert complete(capsys, "stack", "move", "shop", "--to", "") == ["box", "laptop"]
    assert complete(capsys, "stack", "move", "shop", "--engine", "") == ["box", "laptop"]
    assert complete(capsys, "stack", "move", "") == ["blog", "shop"]
    assert complete(capsys, "--home", str(home.parent / "other"), "engine", "use", "") == []
    assert sqlite_names(home / "devarch.db", "engines", None) == ["box", "laptop"]
    for verb in ("start", "stop", "restart"):
        assert complete(capsys, verb, "shop", "") == ["db", "web"]
        assert complete(capsys, verb, "shop", "web", "d") == ["db"]
    assert complete(capsys, "logs", "shop", "w") == ["web"]
    assert complete(capsys, "exec", "shop", "") == ["db", "web"]
    assert {"--port", "--host"} <= set(complete(capsys, "serve", "--"))

"""Secret grep: a known secret value never shows in any output, written file or the store file.

Three values get in three ways: ``secret set``, a ``${secret:NAME}`` placeholder filled by
``--secret NAME=VALUE`` on import, and a template-declared secret given as a plain value in
``devarch.yml``. Then every command that prints or writes runs (text and ``--json``), including
apply against an engine whose errors quote the secrets, and error paths; the test greps stdout,
stderr, every file written with ``-o`` and every byte under ``DEVARCH_HOME`` (the SQLite store
with its WAL, the lockfile, config files).

The engine is the public :class:`~devarch_core.testing.FakeRuntime`, handed to the composition
root in place of Docker (as ``tests/unit/test_cli.py`` does).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters import bootstrap
from devarch_adapters.cli import main
from devarch_core.testing import FakeRuntime

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

CATALOG = str(Path(__file__).resolve().parents[2] / "examples" / "catalog")
IMAGE = "devarch-test/busybox:latest"

#: Set with ``secret set``.
BY_SET = "grep-set-Q7v1x"
#: Given through a placeholder and ``--secret PGPW=...``.
BY_PLACEHOLDER = "grep-ph-Z9k2w"
#: Given plainly for a template-declared secret in devarch.yml.
BY_PLAIN = "grep-plain-M4j8r"
#: A new plain value on a later import (dry run and real).
BY_PLAIN_2 = "grep-plain2-T3c6y"
VALUES = (BY_SET, BY_PLACEHOLDER, BY_PLAIN, BY_PLAIN_2)

MANIFEST = f"""\
version: 1
stack:
  name: vault
instances:
  db:
    template: bb-db
    overrides:
      environment:
        POSTGRES_PASSWORD: ${{secret:PGPW}}
  db2:
    template: bb-db
    overrides:
      environment:
        POSTGRES_PASSWORD: {BY_PLAIN}
  web:
    template: bb-web
wires:
  - consumer: web
    import: db
    provider: db
"""


def _forms(value: str) -> list[str]:
    return [value, json.dumps(value)[1:-1], value.encode().hex()]


def _assert_hidden(where: str, data: str | bytes) -> None:
    blob = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
    for value in VALUES:
        for form in _forms(value):
            assert form.encode() not in blob, f"{value!r} leaked into {where}"


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    """One FakeRuntime handed out by the composition root for ``--runtime docker``."""
    fake = FakeRuntime(images={IMAGE: "sha256:busybox"})

    def open_runtime(kind: str) -> tuple[FakeRuntime | None, str | None]:
        return (None, "DEVARCH_RUNTIME=none") if kind == "none" else (fake, None)

    monkeypatch.setattr(bootstrap, "open_runtime", open_runtime)
    return fake


@pytest.fixture
def cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str]]:
    """Run the CLI in-process; returns the exit code and stdout+stderr (both grepped)."""
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.delenv("DEVARCH_CATALOG_PATH", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    home = str(tmp_path / "home")

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(["--home", home, "--runtime", "docker", "--catalog", CATALOG, *args])
        out, err = capsys.readouterr()
        _assert_hidden(f"the output of `devarch {' '.join(args)}`", out + err)
        return code, out + err

    return run


def _every_command(stack: str, out: Path) -> Iterable[tuple[str, ...]]:
    for instance in ("db", "db2", "web"):
        yield ("instance", "show", stack, instance)
        yield ("instance", "effective", stack, instance, "--explain")
    yield ("stack", "list")
    yield ("stack", "show", stack)
    yield ("instance", "list", stack)
    yield ("secret", "list", stack)
    yield ("wire", "list", stack)
    yield ("plan", stack)
    yield ("plan", stack, "--out", str(out / "plan.json"))
    yield ("status", stack)
    yield ("graph", stack)
    yield ("graph", stack, "--format", "dot")
    yield ("compose", stack)
    yield ("compose", stack, "web")
    yield ("compose", stack, "-o", str(out / "compose.yml"))
    yield ("export", stack)
    yield ("export", stack, "-o", str(out / "devarch.yml"))
    yield ("lock", stack, "--refresh", "-o", str(out / "devarch.lock"))
    yield ("lock", stack, "-o", str(out / "devarch.lock"))
    yield ("doctor",)


def test_no_output_file_or_store_byte_holds_a_secret(  # noqa: PLR0915 - one story, grepped at each step
    cli: Callable[..., tuple[int, str]], runtime: FakeRuntime, tmp_path: Path
) -> None:
    """Every printing or writing command, text and JSON, before and after apply, and errors."""
    out = tmp_path / "out"
    out.mkdir()
    manifest = tmp_path / "devarch.yml"
    manifest.write_text(MANIFEST)
    # The three ways in.
    assert cli("import", str(manifest), "--dry-run", "--secret", f"PGPW={BY_PLACEHOLDER}")[0] == 0
    assert cli("import", str(manifest), "--secret", f"PGPW={BY_PLACEHOLDER}")[0] == 0
    assert cli("secret", "set", "vault", "web", "API_TOKEN", "--value", BY_SET)[0] == 0
    assert cli("instance", "set", "vault", "db2", f"env.POSTGRES_PASSWORD={BY_PLAIN}")[0] == 0

    def everything(*, json_too: bool = False) -> None:
        for command in _every_command("vault", out):
            cli(*command)
            if json_too:
                cli("--json", *command)

    everything()
    code, text = cli("apply", "vault", "--yes")
    assert code == 0, text
    everything(json_too=True)

    # An engine that quotes the stack's current secrets in its errors (new values recreate
    # web and db2; db keeps the placeholder's value, which web's error quotes too).
    assert cli("secret", "set", "vault", "web", "API_TOKEN", "--value", BY_SET + "!")[0] == 0
    assert cli("instance", "set", "vault", "db2", f"env.POSTGRES_PASSWORD={BY_PLAIN}!")[0] == 0
    quoted = f"bad env: {BY_SET}!. {BY_PLACEHOLDER}- '{BY_PLAIN}!' x{BY_PLAIN}!y"

    def fail_both() -> None:
        # Whether web is tried after db2 failed depends on timing: arm both afresh each time.
        runtime.clear_failures()
        for target in ("devarch-vault-db2", "devarch-vault-web"):
            runtime.fail_next("create_container", quoted, target=target)

    fail_both()
    code, text = cli("apply", "vault", "--yes")
    assert code == 1, text
    assert "***" in text
    fail_both()
    code, _ = cli("--json", "apply", "vault", "--yes")
    assert code == 1
    runtime.clear_failures()

    # Error paths that handle a value.
    assert cli("import", str(manifest), "--secret", BY_PLACEHOLDER)[0] == 1
    assert cli("import", str(manifest), "--secret", f"={BY_PLACEHOLDER}")[0] == 1
    changed = tmp_path / "changed.yml"
    changed.write_text(MANIFEST.replace(BY_PLAIN, BY_PLAIN_2))
    assert cli("import", str(changed), "--dry-run")[0] == 0
    assert cli("--json", "import", str(changed), "--dry-run")[0] == 0
    assert cli("import", str(changed))[0] == 0
    missing = tmp_path / "missing.yml"
    missing.write_text(MANIFEST.replace("name: vault", "name: other"))
    assert cli("import", str(missing))[0] == 1
    assert cli("instance", "set", "vault", "web", f"env.API_TOKEN={BY_SET}", "bogus=1")[0] != 0
    assert cli("instance", "set", "vault", "nope", f"env.API_TOKEN={BY_SET}")[0] == 1
    assert cli("secret", "set", "vault", "nope", "X", "--value", BY_SET)[0] == 1
    assert cli("secret", "set", "vault", "web", "API_TOKEN", BY_SET)[0] == 2
    code, text = cli("apply", "vault", "--yes")
    assert code == 0, text
    code, text = cli("init", str(changed), "--yes", "--lockfile", str(out / "init.lock"))
    assert code == 0, text
    everything()

    # Every file written, and every byte under DEVARCH_HOME (SQLite store, WAL, lockfiles).
    written = [p for p in out.iterdir() if p.is_file()]
    names = {"plan.json", "compose.yml", "devarch.yml", "devarch.lock", "init.lock"}
    assert {p.name for p in written} >= names
    home = tmp_path / "home"
    stored = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".db") for p in stored), [p.name for p in stored]
    for path in [*written, *stored]:
        _assert_hidden(str(path), path.read_bytes())
    # The values did arrive where they belong: the engine's create call.
    env = runtime.spec("devarch-vault-db2").environment
    assert env["POSTGRES_PASSWORD"].reveal() == BY_PLAIN_2  # type: ignore[union-attr]

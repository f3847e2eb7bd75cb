"""Secrets that must not leak or get lost (issue 11, items 1, 5, 6 and 17).

On the in-memory fakes with the example busybox catalog; the CLI runs in-process against a
temporary home (``--runtime none``).
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.cli import main
from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.app import Devarch
from devarch_core.errors import ApplyError, DevarchError, ValidationError
from devarch_core.testing import FakeRuntime, fake_devarch, reveal_secret

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG_DIR = ROOT / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"
PASSWORD = "plain-Pa55word-7f3a"
TOKEN = "plain-token-91c2"

PLAIN = f"""\
version: 1
stack:
  name: vault
instances:
  db:
    template: bb-db
    overrides:
      environment:
        POSTGRES_DB: shop
        POSTGRES_PASSWORD: {PASSWORD}
  web:
    template: bb-web
    overrides:
      environment:
        API_TOKEN: {TOKEN}
        APP_TITLE: hi
      secrets: [API_TOKEN]
wires: []
"""

#: As ``export`` writes it: the placeholder's name differs from the variable it fills.
RENAMED = """\
# yaml-language-server: $schema=.devarch/schemas/manifest.schema.json
version: 1
stack:
  name: vault
instances:
  db:
    template: bb-db
    template_version: '1.0'
    overrides:
      environment:
        POSTGRES_PASSWORD: ${secret:PGPW}
  web:
    template: bb-web
    template_version: '1.0'
    overrides:
      environment:
        APP_TITLE: hi
        DB_PASSWORD: ${secret:PGPW}
      secrets:
      - DB_PASSWORD
wires: []
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The example busybox catalog."""
    return load_catalog_dirs([CATALOG_DIR])


@pytest.fixture
def devarch(catalog: Catalog) -> Devarch:
    """A facade on fresh fakes."""
    return fake_devarch(catalog, images={IMAGE: "sha256:1"})


# -- item 1: a plain value of a secret variable is sealed on import --------------------------------


def test_import_seals_plain_values_of_template_and_override_secrets(devarch: Devarch) -> None:
    """Template ``secrets:`` and ``overrides.secrets`` values are sealed, not kept as overrides."""
    result = devarch.import_yaml(PLAIN)
    for text in (result.render_text(), json.dumps(result.to_data())):
        assert PASSWORD not in text
        assert TOKEN not in text
    db, web = devarch.show_instance("vault", "db"), devarch.show_instance("vault", "web")
    assert db["overrides"] == {"environment": {"POSTGRES_DB": "shop"}}
    assert db["secrets"] == ["POSTGRES_PASSWORD"]
    assert web["overrides"] == {"environment": {"APP_TITLE": "hi"}, "secrets": ["API_TOKEN"]}
    assert web["secrets"] == ["API_TOKEN"]
    assert reveal_secret(devarch, "vault", "db", "POSTGRES_PASSWORD") == PASSWORD
    assert reveal_secret(devarch, "vault", "web", "API_TOKEN") == TOKEN
    exported = devarch.export_yaml("vault")
    assert "POSTGRES_PASSWORD: ${secret:POSTGRES_PASSWORD}" in exported
    assert "API_TOKEN: ${secret:API_TOKEN}" in exported
    assert PASSWORD not in exported
    assert TOKEN not in exported
    # The stored overrides hold no value either (what the store writes is Overrides.to_data()).
    for inst in devarch.list_instances("vault"):
        assert PASSWORD not in json.dumps(inst.overrides.to_data())
        assert TOKEN not in json.dumps(inst.overrides.to_data())


def test_reimporting_a_plain_secret_changes_nothing_until_the_value_changes(
    devarch: Devarch,
) -> None:
    """The same file again is no change; another value is a ``***`` change and is sealed."""
    devarch.import_yaml(PLAIN)
    again = devarch.import_yaml(PLAIN)
    assert not again.has_changes, again.render_text()
    changed = devarch.import_yaml(PLAIN.replace(TOKEN, "another-token-55"))
    assert [(a.instance, [c.field for c in a.changes]) for a in changed.actions] == [
        ("web", ["secrets"])
    ]
    assert "another-token-55" not in changed.render_text()
    assert reveal_secret(devarch, "vault", "web", "API_TOKEN") == "another-token-55"
    # The exported file re-imports as no change too.
    assert not devarch.import_yaml(devarch.export_yaml("vault")).has_changes


def test_init_and_dry_run_seal_plain_secret_values_too(devarch: Devarch) -> None:
    """``init`` goes through the same import; a dry run shows no value and writes nothing."""
    from devarch_core.manifest import Manifest  # noqa: PLC0415

    preview = devarch.import_yaml(PLAIN, dry_run=True)
    assert PASSWORD not in preview.render_text()
    assert devarch.list_stacks(with_runtime=False) == []
    result = devarch.init_stack(Manifest.parse(PLAIN))
    assert PASSWORD not in json.dumps(result.to_data())
    assert devarch.show_instance("vault", "db")["secrets"] == ["POSTGRES_PASSWORD"]
    assert "POSTGRES_PASSWORD" not in devarch.show_instance("vault", "db")["overrides"].get(
        "environment", {}
    )


def test_duplicate_and_clone_keep_imported_secrets_sealed(devarch: Devarch) -> None:
    """Siblings of import: copies carry the sealed value, not a plain override."""
    devarch.import_yaml(PLAIN)
    devarch.duplicate_instance("vault", "db", "db2")
    devarch.clone_stack("vault", "vault2")
    for stack, inst in (("vault", "db2"), ("vault2", "db")):
        shown = devarch.show_instance(stack, inst)
        assert "POSTGRES_PASSWORD" not in shown["overrides"].get("environment", {})
        assert reveal_secret(devarch, stack, inst, "POSTGRES_PASSWORD") == PASSWORD


# -- item 17: a placeholder named unlike its variable round-trips ----------------------------------


def test_a_renamed_placeholder_round_trips_byte_identically(devarch: Devarch) -> None:
    """``VAR: ${secret:PGPW}`` re-imports as no change and exports with the same name."""
    first = devarch.import_yaml(RENAMED, secret_values={"PGPW": PASSWORD})
    assert first.created
    assert devarch.export_yaml("vault") == RENAMED
    again = devarch.import_yaml(RENAMED)
    assert not again.has_changes, again.render_text()
    assert devarch.export_yaml("vault") == RENAMED
    assert reveal_secret(devarch, "vault", "db", "POSTGRES_PASSWORD") == PASSWORD
    assert reveal_secret(devarch, "vault", "web", "DB_PASSWORD") == PASSWORD
    # Renaming the placeholder is a change of the manifest, reported and kept.
    renamed = devarch.import_yaml(RENAMED.replace("${secret:PGPW}\n  web", "${secret:DBPW}\n  web"))
    assert [a.instance for a in renamed.actions] == ["db"]
    assert "POSTGRES_PASSWORD: ${secret:DBPW}" in devarch.export_yaml("vault")
    # Unsetting the secret forgets its placeholder name.
    devarch.unset_secret("vault", "db", "POSTGRES_PASSWORD")
    assert "secret_refs" not in devarch.show_instance("vault", "db")["overrides"]


def test_a_manifest_cannot_write_the_store_only_secret_refs_key(devarch: Devarch) -> None:
    """``overrides.secret_refs`` is how the store keeps placeholder names, not a manifest key."""
    bad = RENAMED.replace(
        "      secrets:\n", "      secret_refs: {DB_PASSWORD: X}\n      secrets:\n"
    )
    with pytest.raises(ValidationError, match=r"instances\.web\.overrides\.secret_refs"):
        devarch.import_yaml(bad, secret_values={"PGPW": PASSWORD})


# -- item 6: no public plaintext; a plan for another stack -----------------------------------------


def test_the_facade_has_no_public_way_to_read_a_plaintext() -> None:
    """``open_secret_for_test`` is gone; tests use ``devarch_core.testing.reveal_secret``."""
    assert not hasattr(Devarch, "open_secret_for_test")
    public = [n for n in dir(Devarch) if not n.startswith("_") and "reveal" in n]
    assert public == []


def test_apply_refuses_a_plan_made_for_another_stack_before_anything_else(
    catalog: Catalog,
) -> None:
    """``apply("s2", plan_for_s1)`` says so, and touches neither engine nor store."""
    runtime = FakeRuntime(images={IMAGE: "sha256:1"})
    devarch = fake_devarch(catalog, runtime=runtime)
    for stack in ("s1", "s2"):
        devarch.create_stack(stack)
        devarch.add_instance(stack, "db", "bb-db")
    plan = devarch.plan("s1")
    with pytest.raises(ValidationError, match="this plan is for stack s1, not s2"):
        devarch.apply("s2", plan)
    assert runtime.list_containers({}) == []
    # Even on a facade without an engine the wrong plan is what is reported.
    bare = Devarch(store=devarch.store, catalog=catalog, keys=devarch._keys)
    with pytest.raises(ValidationError, match="this plan is for stack s1, not s2"):
        bare.apply("s2", plan)


# -- item 5: engine errors, --secret, -o files -----------------------------------------------------


@pytest.mark.parametrize(
    "quote",
    [
        "bad value: {s}.",
        "bad value: {s}-suffix",
        "prefix-{s} refused",
        'env "POSTGRES_PASSWORD={s}" invalid',
        "'{s}'",
        "x{s}y inside a word",
        'json: {{"v": "{s}"}}',
    ],
)
def test_an_engine_error_quoting_a_secret_is_scrubbed_wherever_it_stands(
    catalog: Catalog, quote: str
) -> None:
    """Substring replacement: punctuation or letters around the value do not let it through."""
    runtime = FakeRuntime(images={IMAGE: "sha256:1"})
    devarch = fake_devarch(catalog, runtime=runtime)
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db", secrets={"POSTGRES_PASSWORD": PASSWORD})
    runtime.fail_next("create_container", quote.format(s=PASSWORD))
    with pytest.raises(ApplyError) as failed:
        devarch.apply("s")
    chain: list[BaseException] = []
    error: BaseException | None = failed.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for error in chain:
        assert PASSWORD not in str(error) + repr(error)
    assert "***" in str(failed.value)


def test_an_engine_error_about_a_consumer_hides_the_providers_secret(catalog: Catalog) -> None:
    """Every secret of the stack is scrubbed, not only the failing instance's own."""
    runtime = FakeRuntime(images={IMAGE: "sha256:1"})
    devarch = fake_devarch(catalog, runtime=runtime)
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db", secrets={"POSTGRES_PASSWORD": PASSWORD})
    devarch.add_instance("s", "other", "bb-cache")
    runtime.fail_next("create_container", f"cannot use {PASSWORD}.", target="devarch-s-other")
    with pytest.raises(DevarchError) as failed:
        devarch.apply("s")
    assert PASSWORD not in str(failed.value)


def _char_device(tmp_path: Path) -> str:
    """A character device to aim ``-o`` at: a private copy of /dev/null when we may create one.

    As root a regression would really replace /dev/null, so root tests use their own node;
    others cannot replace /dev/null and use it directly.
    """
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        return os.devnull
    return str(node)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run ``devarch --home HOME --runtime none --catalog examples/catalog ARGS`` in-process."""
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.delenv("DEVARCH_CATALOG_PATH", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    home = str(tmp_path / "home")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--home", home, "--runtime", "none", "--catalog", str(CATALOG_DIR), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_secret_flag_without_equals_is_refused_without_echoing_it(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    """``--secret VALUE`` (the value alone) says "expected NAME=VALUE" and never shows VALUE."""
    manifest = tmp_path / "devarch.yml"
    manifest.write_text(RENAMED)
    for flag in (PASSWORD, f"={PASSWORD}"):
        code, out, err = cli("import", str(manifest), "--secret", flag)
        assert code == 1
        assert "expected NAME=VALUE" in err
        assert PASSWORD not in out + err
        code, out, err = cli("--json", "import", str(manifest), "--secret", flag)
        assert code == 1
        assert PASSWORD not in out + err


def _stack_with_secret(cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    manifest = tmp_path / "devarch.yml"
    manifest.write_text(PLAIN)
    assert cli("import", str(manifest))[0] == 0


def test_compose_reveal_secrets_creates_a_0600_file_and_never_follows_a_symlink(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revealed file is 0600 from its creation; a symlink at the target is refused."""
    _stack_with_secret(cli, tmp_path)
    created: list[int] = []
    real_open = os.open

    def spy(path: str, flags: int, mode: int = 0o777, *args: object, **kw: object) -> int:
        if flags & os.O_CREAT and Path(path).parent == tmp_path:
            created.append(mode)
            assert flags & os.O_EXCL
        return real_open(path, flags, mode, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", spy)
    out = tmp_path / "compose.yml"
    code, _, err = cli("compose", "vault", "-o", str(out), "--reveal-secrets")
    assert code == 0, err
    assert created == [0o600]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert PASSWORD in out.read_text()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.yml"
    link.symlink_to(victim)
    code, _, err = cli("compose", "vault", "-o", str(link), "--reveal-secrets")
    assert code == 1
    assert "symbolic link" in err
    assert victim.read_text() == "keep me"
    assert link.is_symlink()
    assert PASSWORD not in err


@pytest.mark.parametrize(
    "command",
    [
        ("export", "vault", "-o"),
        ("lock", "vault", "--refresh", "-o"),
        ("compose", "vault", "-o"),
    ],
)
def test_output_files_refuse_symlinks_devices_fifos_and_directories(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, command: tuple[str, ...]
) -> None:
    """``-o`` replaces a regular file atomically and refuses anything else, leaving it as it was."""
    _stack_with_secret(cli, tmp_path)
    regular = tmp_path / "out.txt"
    regular.write_text("old")
    code, _, err = cli(*command, str(regular))
    assert code == 0, err
    assert regular.read_text() != "old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.txt"
    link.symlink_to(victim)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, kind in ((link, "symbolic link"), (fifo, "FIFO"), (tmp_path, "directory")):
        code, _, err = cli(*command, str(target))
        assert code == 1, (target, err)
        assert kind in err
        assert "Traceback" not in err
    assert link.is_symlink()
    assert victim.read_text() == "keep me"
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    device = _char_device(tmp_path)
    code, _, err = cli(*command, device)
    assert code == 1
    assert "character device" in err
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_the_output_helper_keeps_devices_and_links_and_writes_atomically(tmp_path: Path) -> None:
    """``write_output`` directly: the one helper behind every ``-o`` (lock, plan, init too)."""
    from devarch_adapters.filesystem.output import write_output  # noqa: PLC0415

    target = tmp_path / "devarch.lock"
    write_output(target, "one\n")
    assert target.read_text() == "one\n"
    write_output(target, "two\n", private=True)
    assert target.read_text() == "two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    device = _char_device(tmp_path)
    with pytest.raises(ValidationError, match="character device"):
        write_output(device, "x")
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ValidationError, match="symbolic link"):
        write_output(dangling, "x")
    assert not (tmp_path / "nowhere").exists()
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != "null")
    assert names == ["dangling", "devarch.lock"]


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    """One FakeRuntime handed out by the composition root for ``--runtime docker``."""
    from devarch_adapters import bootstrap  # noqa: PLC0415

    runtime = FakeRuntime(images={IMAGE: "sha256:1"})

    def open_runtime(kind: str) -> tuple[FakeRuntime | None, str | None]:
        return (None, "DEVARCH_RUNTIME=none") if kind == "none" else (runtime, None)

    monkeypatch.setattr(bootstrap, "open_runtime", open_runtime)
    return runtime


def test_init_refuses_a_lockfile_target_that_is_not_a_regular_file_before_it_starts(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, fake_engine: FakeRuntime
) -> None:
    """``init --lockfile LINK`` stops before importing or applying; a plain path is written."""
    manifest = tmp_path / "devarch.yml"
    manifest.write_text(PLAIN)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.lock"
    link.symlink_to(victim)
    code, _, err = cli("--runtime", "docker", "init", str(manifest), "--lockfile", str(link))
    assert code == 1
    assert "symbolic link" in err
    assert victim.read_text() == "keep me"
    assert fake_engine.list_containers({}) == []
    assert cli("stack", "list", "--json")[1].strip() in ("[]", '{"stacks": []}')
    device = _char_device(tmp_path)
    code, _, err = cli("--runtime", "docker", "init", str(manifest), "--lockfile", device)
    assert code == 1
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    lock = tmp_path / "relay.lock"
    code, _, err = cli(
        "--runtime", "docker", "init", str(manifest), "--yes", "--lockfile", str(lock)
    )
    assert code == 0, err
    assert "stack: vault" in lock.read_text()


def test_cli_apply_with_a_plan_file_of_another_stack_is_refused(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, fake_engine: FakeRuntime
) -> None:
    """``apply s2 --plan plan-of-s1.json`` names both stacks and changes nothing."""
    for stack in ("s1", "s2"):
        assert cli("stack", "create", stack)[0] == 0
        assert cli("instance", "add", stack, "db", "bb-db")[0] == 0
    plan = tmp_path / "plan.json"
    assert cli("--runtime", "docker", "plan", "s1", "--out", str(plan))[0] == 0
    code, _, err = cli("--runtime", "docker", "apply", "s2", "--plan", str(plan), "--yes")
    assert code == 1
    assert "s1" in err
    assert "s2" in err
    assert fake_engine.list_containers({}) == []


def test_a_stray_value_on_the_command_line_is_not_repeated_in_the_usage_error(
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    """``secret set S I NAME VALUE`` (a natural slip) exits 2 without printing VALUE."""
    assert cli("stack", "create", "s")[0] == 0
    assert cli("instance", "add", "s", "db", "bb-db")[0] == 0
    for args in (
        ("secret", "set", "s", "db", "X", PASSWORD),
        ("secret", "set", "s", "db", "X", "--valeu", PASSWORD),
        ("secret", "set", "s", "db", "X", f"--valeu={PASSWORD}"),
        ("--json", "secret", "set", "s", "db", "X", PASSWORD),
    ):
        code, out, err = cli(*args)
        assert code == 2
        assert "unrecognized arguments" in err
        assert PASSWORD not in out + err
    code, _, err = cli("secret", "set", "s", "db", "X", "--valeu", "v")
    assert "unrecognized arguments: --valeu and 1 value (not repeated)" in err


def test_a_templates_published_default_is_scrubbed_only_where_it_stands_alone(
    catalog: Catalog,
) -> None:
    """bb-db's default ``devarch`` is in the catalog: names like devarch-s-db stay readable."""
    runtime = FakeRuntime(images={IMAGE: "sha256:1"})
    devarch = fake_devarch(catalog, runtime=runtime)
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    runtime.fail_next("create_container", 'create devarch-s-db: password "devarch" refused')
    with pytest.raises(ApplyError) as failed:
        devarch.apply("s")
    assert str(failed.value) == 'db: create devarch-s-db: password "***" refused'
    # Wired on to a consumer (web's DB_PASSWORD) it is still the published default.
    devarch.add_instance("s", "web", "bb-web")
    runtime.fail_next("create_container", "devarch-s-web: devarch.", target="devarch-s-web")
    with pytest.raises(ApplyError) as failed:
        devarch.apply("s")
    assert str(failed.value) == "web: devarch-s-web: devarch."


def test_apply_refuses_a_lockfile_it_could_not_refresh_before_touching_the_engine(
    cli: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
    fake_engine: FakeRuntime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``apply`` refreshes ./devarch.lock; a symlink there is refused up front, not afterwards."""
    assert cli("stack", "create", "s")[0] == 0
    assert cli("instance", "add", "s", "db", "bb-db")[0] == 0
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim.lock"
    victim.write_text("keep me")
    (tmp_path / "devarch.lock").symlink_to(victim)
    code, _, err = cli("--runtime", "docker", "apply", "s", "--yes")
    assert code == 1
    assert "symbolic link" in err
    assert fake_engine.list_containers({}) == []
    assert victim.read_text() == "keep me"

"""Secrets end to end: encrypted at rest, redacted everywhere, plain only in containers.

A unique value (``S3cr3t-<uuid>``) is set on a bb-db instance through ``set_overrides`` (a
template-declared secret is sealed, never kept in the overrides) and ``set_secret``; then every
place devarch writes or shows data is searched for it: the SQLite files, every PostgreSQL table,
the home directory, plan JSON, compose, export, effective configs, log records, error messages and
CLI output. The running containers (Docker) are the one place it must appear: the provider's
POSTGRES_PASSWORD and the consumers' wired DB_PASSWORD and DATABASE_URL.

See docs/architecture.md#secrets.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from tests.integration.conftest import EXAMPLES

from devarch_core.app import Devarch
from devarch_core.errors import ApplyError, DevarchError, SecretError, StalePlanError
from devarch_core.secrets import KEY_SIZE, SecretBox, SecretSlot
from devarch_core.testing import FakeRuntime, InMemoryKeys, InMemoryStackLock, reveal_secret

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


IMAGE = "devarch-test/busybox:latest"
VAR = "POSTGRES_PASSWORD"
STORES = ("sqlite", "postgres")


def new_secret() -> str:
    """Return a value that can only come from this test."""
    return f"S3cr3t-{uuid.uuid4()}"


def forms(value: str) -> list[bytes]:
    """List the encodings a leaked value could take in a file or a dump (raw, bytea hex)."""
    raw = value.encode()
    return [raw, raw.hex().encode(), raw.hex().upper().encode()]


def assert_hidden(text: str | bytes, values: list[str], where: str) -> None:
    """Fail naming ``where`` if any of ``values`` appears in ``text`` (in any of its forms)."""
    data = text.encode() if isinstance(text, str) else text
    for value in values:
        for form in forms(value):
            assert form not in data, f"secret value leaked into {where}"


def env_of(container: Any) -> dict[str, str]:
    """Return the container's configured environment (``Config.Env``) as a mapping."""
    container.reload()
    return dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])


# -- stores with a fake engine --------------------------------------------------------------------


@pytest.fixture
def pg_schema(request: pytest.FixtureRequest, unique: str) -> Iterator[tuple[str, str]]:
    """Return (url, schema) of a fresh PostgreSQL schema, dropped afterwards."""
    url: str = request.getfixturevalue("postgres_url")
    schema = f"devarch_sec_{unique}"
    yield url, schema
    import psycopg  # noqa: PLC0415 - PostgreSQL tests only
    from psycopg import sql  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class StoreCase:
    """A facade on a real store (SQLite file or PostgreSQL schema) with a fake engine."""

    def __init__(self, kind: str, home: Path, pg: tuple[str, str] | None) -> None:
        from devarch_adapters.bootstrap import load_catalog  # noqa: PLC0415
        from devarch_adapters.filesystem.keyfile import FileKeyProvider  # noqa: PLC0415

        self.kind = kind
        self.home = home
        self.pg = pg
        home.mkdir(mode=0o700, parents=True)
        self.keys = FileKeyProvider(home / "secret.key")
        if kind == "sqlite":
            from devarch_adapters.sqlite import SqliteStore  # noqa: PLC0415

            store: Any = SqliteStore(home / "devarch.db")
        else:
            from devarch_adapters.postgres import PostgresStore  # noqa: PLC0415

            assert pg is not None
            store = PostgresStore(pg[0], schema=pg[1])
        self.runtime = FakeRuntime(images={IMAGE: "sha256:" + "c" * 64})
        self.devarch = Devarch(
            store=store,
            catalog=load_catalog([EXAMPLES]),
            keys=self.keys,
            runtime=self.runtime,
            lock=InMemoryStackLock(),
        )

    def dump(self) -> bytes:
        """Return what the store holds at rest: SQLite files, or every PostgreSQL row as text."""
        if self.kind == "sqlite":
            files = sorted(self.home.glob("devarch.db*"))
            assert files, "the SQLite store has files"
            return b"".join(path.read_bytes() for path in files)
        import psycopg  # noqa: PLC0415
        from psycopg import sql  # noqa: PLC0415

        assert self.pg is not None
        url, schema = self.pg
        chunks: list[str] = []
        with psycopg.connect(url) as conn:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (schema,),
                )
            ]
            assert {"secrets", "instances", "applied"} <= set(tables)
            for table in tables:
                query = sql.SQL("SELECT t::text FROM {}.{} AS t").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
                chunks.extend(row[0] for row in conn.execute(query))
        return "\n".join(chunks).encode()

    def sealed(self) -> list[Any]:
        """Every sealed secret row, read straight from the store."""
        with self.devarch.store.transaction() as tx:
            return list(tx.list_secrets(None))

    def close(self) -> None:
        """Close the store."""
        self.devarch.store.close()


@pytest.fixture(params=STORES)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """Return a StoreCase for SQLite and for PostgreSQL (fresh schema)."""
    pg = request.getfixturevalue("pg_schema") if request.param == "postgres" else None
    made = StoreCase(request.param, tmp_path / "home", pg)
    yield made
    made.close()


def _db_stack(devarch: Devarch, name: str) -> None:
    devarch.create_stack(name)
    devarch.add_instance(name, "db", "bb-db")
    devarch.add_instance(name, "web", "bb-web")
    devarch.add_instance(name, "worker", "bb-worker")


def test_set_overrides_seals_a_template_declared_secret_instead_of_storing_it(case):
    """A POSTGRES_PASSWORD given as an override is sealed; the overrides keep no value."""
    value = new_secret()
    devarch = case.devarch
    _db_stack(devarch, "s")
    devarch.set_overrides("s", "db", {"environment": {VAR: value, "POSTGRES_DB": "shop"}})
    shown = devarch.show_instance("s", "db")
    assert shown["overrides"] == {"environment": {"POSTGRES_DB": "shop"}}
    assert shown["secrets"] == [VAR]
    assert reveal_secret(devarch, "s", "db", VAR) == value
    assert_hidden(case.dump(), [value], f"the {case.kind} store")


def test_secret_values_never_reach_the_store_at_rest(case):
    """After set, apply, clone, duplicate and key rotation, no store byte holds a secret value."""
    first, second, third = new_secret(), new_secret(), new_secret()
    devarch = case.devarch
    _db_stack(devarch, "s")
    devarch.set_overrides("s", "db", {"environment": {VAR: first}})
    devarch.add_instance("s", "db2", "bb-db", secrets={VAR: third}, enabled=False)
    devarch.apply("s")
    devarch.set_secret("s", "db", VAR, second)
    devarch.apply("s")
    devarch.clone_stack("s", "s-copy")
    devarch.duplicate_instance("s", "db", "db3")
    devarch.rotate_key(os.urandom(KEY_SIZE))
    devarch.apply("s-copy")
    assert reveal_secret(devarch, "s", "db", VAR) == second
    assert_hidden(case.dump(), [first, second, third], f"the {case.kind} store")
    for path in case.home.rglob("*"):
        if path.is_file():
            assert_hidden(path.read_bytes(), [first, second, third], str(path))


def test_clone_and_duplicate_keep_secrets_resealed_for_their_slots(case):
    """Copies open to the same value; their ciphertexts differ because their slots differ."""
    value = new_secret()
    devarch = case.devarch
    _db_stack(devarch, "s")
    devarch.set_secret("s", "db", VAR, value)
    devarch.set_secret("s", "web", "API_TOKEN", value + "-web")
    devarch.clone_stack("s", "s-clone")
    devarch.duplicate_instance("s", "db", "db-copy")
    assert reveal_secret(devarch, "s-clone", "db", VAR) == value
    assert reveal_secret(devarch, "s-clone", "web", "API_TOKEN") == value + "-web"
    assert reveal_secret(devarch, "s", "db-copy", VAR) == value
    assert reveal_secret(devarch, "s", "db", VAR) == value
    blobs = [s.sealed for s in case.sealed() if s.name == VAR]
    assert len(blobs) == 3
    assert len(set(blobs)) == 3, "each copy is sealed anew for its own slot"
    # Moving the original blob into the copy's slot would not open: the slot is bound in.
    rows = {(s.stack_id, s.instance_id): s for s in case.sealed() if s.name == VAR}
    box = SecretBox(case.keys)
    original = devarch.get_instance("s", "db")
    copy = devarch.get_instance("s", "db-copy")
    with pytest.raises(SecretError):
        box.open(
            SecretSlot(copy.stack_id, copy.id, VAR), rows[(original.stack_id, original.id)].sealed
        )
    assert sorted(devarch.list_secrets("s-clone"), key=lambda r: r["instance"]) == [
        {"instance": "db", "name": VAR},
        {"instance": "web", "name": "API_TOKEN"},
    ]


def test_key_rotation_keeps_every_secret_readable_and_none_under_the_old_key(case):
    """Rotation re-seals the secrets of all stacks: they open with the new key, not the old."""
    values = {("a", "db"): new_secret(), ("a", "web"): new_secret(), ("b", "db"): new_secret()}
    devarch = case.devarch
    for stack in ("a", "b"):
        _db_stack(devarch, stack)
    for (stack, instance), value in values.items():
        devarch.set_secret(stack, instance, VAR, value)
    old_key = case.keys.load_key()
    old_rows = {(s.instance_id, s.name): s.sealed for s in case.sealed()}
    new_key = os.urandom(KEY_SIZE)
    assert devarch.rotate_key(new_key) == len(values)
    assert case.keys.load_key() == new_key
    assert (case.home / "secret.key").read_bytes() == new_key
    for (stack, instance), value in values.items():
        assert reveal_secret(devarch, stack, instance, VAR) == value
    rows = case.sealed()
    assert len(rows) == len(values)
    old_box = SecretBox(InMemoryKeys(old_key))
    new_box = SecretBox(InMemoryKeys(new_key))
    for row in rows:
        slot = SecretSlot(row.stack_id, row.instance_id, row.name)
        assert row.sealed != old_rows[(row.instance_id, row.name)]
        with pytest.raises(SecretError, match=row.name):
            old_box.open(slot, row.sealed)
        new_box.open(slot, row.sealed)
    # A fresh facade on the same home (another process) reads them too.
    other = Devarch(
        store=devarch.store, catalog=devarch.catalog, keys=type(case.keys)(case.keys.path)
    )
    assert reveal_secret(other, "a", "db", VAR) == values[("a", "db")]


def test_a_refused_rotation_leaves_key_and_secrets_as_they_were(case):
    """rotate_key with a key of the wrong size raises SecretError and changes nothing."""
    value = new_secret()
    devarch = case.devarch
    _db_stack(devarch, "s")
    devarch.set_secret("s", "db", VAR, value)
    old_key = case.keys.load_key()
    before = [s.sealed for s in case.sealed()]
    with pytest.raises(SecretError):
        devarch.rotate_key(os.urandom(16))
    assert case.keys.load_key() == old_key
    assert [s.sealed for s in case.sealed()] == before
    assert reveal_secret(devarch, "s", "db", VAR) == value


def test_key_rotation_does_not_recreate_running_containers(case):
    """After rotate_key, a plan for an applied stack with secrets has no actions."""
    devarch = case.devarch
    _db_stack(devarch, "s")
    devarch.set_secret("s", "db", VAR, new_secret())
    devarch.apply("s")
    assert devarch.plan("s").actions == ()
    devarch.rotate_key(os.urandom(KEY_SIZE))
    assert devarch.plan("s").actions == ()


# -- Docker: the whole flow -----------------------------------------------------------------------


@pytest.fixture
def docker_stack(
    make_devarch: Callable[..., Devarch], unique: str, caplog: pytest.LogCaptureFixture
) -> Iterator[tuple[Devarch, str, list[str]]]:
    """Return (devarch, stack, [old value, current value]) with db/web/worker applied on Docker.

    Logs are captured at DEBUG from the start; the stack is deleted afterwards.
    """
    caplog.set_level(logging.DEBUG)
    devarch = make_devarch("docker")
    stack = f"{unique}sec"
    _db_stack(devarch, stack)
    old, value = new_secret(), new_secret()
    devarch.set_overrides(stack, "db", {"environment": {VAR: old}})
    devarch.set_secret(stack, "db", VAR, value)
    devarch.apply(stack)
    yield devarch, stack, [old, value]
    devarch.delete_stack(stack)


@pytest.mark.docker
def test_only_the_containers_see_the_secret_on_docker(docker_stack, engine_client, tmp_path):
    """Provider and consumers get the plaintext in their environment; their labels do not."""
    _devarch, stack, (old, value) = docker_stack
    client = engine_client("docker")
    db = client.containers.get(f"devarch-{stack}-db")
    assert env_of(db)[VAR] == value
    for consumer in ("web", "worker"):
        container = client.containers.get(f"devarch-{stack}-{consumer}")
        env = env_of(container)
        assert env["DB_PASSWORD"] == value
        assert value in env["DATABASE_URL"]
        assert env["DATABASE_URL"] == f"postgres://app:{value}@devarch-{stack}-db:5432/app"
        assert_hidden(json.dumps(container.attrs["Config"]["Labels"]), [old, value], "labels")
    assert_hidden(json.dumps(db.attrs["Config"]["Labels"]), [old, value], "labels")
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            assert_hidden(path.read_bytes(), [old, value], str(path))


@pytest.mark.docker
def test_the_api_never_shows_the_secret(docker_stack, caplog):
    """Plan JSON/text, compose, export, effective/explain, show/list/status and logs show ***."""
    devarch, stack, values = docker_stack
    devarch.set_secret(stack, "db", VAR, values[1] + "-changed")  # a pending modify to show
    values = [*values, values[1] + "-changed"]
    plan = devarch.plan(stack)
    assert {a.instance for a in plan.actions} == {"db", "web", "worker"}
    db_change = next(
        c
        for a in plan.actions
        if a.instance == "db"
        for c in a.changes
        if c.field == f"environment.{VAR}"
    )
    assert (db_change.old, db_change.new) == ("***", "***")
    clone = devarch.clone_stack(stack, stack + "c").name
    outputs = {
        "plan json": plan.to_json(),
        "plan text": plan.render_text(),
        "compose": devarch.compose(stack),
        "compose of a clone": devarch.compose(clone),
        "compose db": devarch.compose(clone, "db"),
        "compose web": devarch.compose(clone, "web"),
        "export": devarch.export_yaml(stack),
        "show stack": json.dumps(devarch.show_stack(stack), default=str),
        "show instance": json.dumps(devarch.show_instance(stack, "db")),
        "list secrets": json.dumps(devarch.list_secrets(stack)),
        "status": json.dumps([s.to_data() for s in devarch.status(stack)]),
    }
    for name in ("db", "web", "worker"):
        effective = devarch.effective(stack, name)
        outputs[f"effective {name}"] = json.dumps(effective.to_data(), default=str)
        outputs[f"explain {name}"] = json.dumps(effective.explain(), default=str)
        outputs[f"repr {name}"] = repr(effective)
    assert "${secret:POSTGRES_PASSWORD}" in outputs["export"]
    assert "POSTGRES_PASSWORD: '***'" in outputs["compose"]
    result = devarch.apply(stack, plan)
    outputs["apply result"] = json.dumps(result.to_data(), default=str)
    outputs["logs"] = caplog.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records
    )
    for where, text in outputs.items():
        assert_hidden(text, values, where)


@pytest.mark.docker
def test_error_messages_never_show_the_secret(docker_stack, caplog):
    """A stale plan and a failed apply of a stack with secrets raise messages without the value."""
    devarch, stack, values = docker_stack
    plan = devarch.plan(stack)
    newer = new_secret()
    values = [*values, newer]
    devarch.set_secret(stack, "db", VAR, newer)
    with pytest.raises(StalePlanError) as stale:
        devarch.apply(stack, plan)
    assert "db" in str(stale.value)
    devarch.set_overrides(stack, "web", {"image": "devarch-test/no-such-image:never"})
    with pytest.raises(ApplyError) as failed:
        devarch.apply(stack)
    for error in (stale.value, failed.value):
        assert_hidden(
            str(error) + repr(error) + repr(error.__cause__), values, type(error).__name__
        )
    assert_hidden(caplog.text, values, "logs")


@pytest.mark.docker
def test_an_engine_error_about_a_secret_does_not_quote_it(make_devarch, unique):
    """A secret the engine refuses (a NUL byte) fails without its value in the error."""
    devarch = make_devarch("docker")
    stack = f"{unique}nul"
    devarch.create_stack(stack)
    devarch.add_instance(stack, "db", "bb-db")
    value = new_secret()
    try:
        devarch.set_secret(stack, "db", VAR, value + "\x00tail")
    except DevarchError as exc:  # refusing the value up front is a fine fix too
        assert_hidden(str(exc), [value], "the set_secret error")
        return
    with pytest.raises(DevarchError) as failed:
        devarch.apply(stack)
    assert_hidden(str(failed.value), [value], "the apply error")


@pytest.mark.docker
def test_compose_of_an_applied_stack_renders_with_redacted_secrets(docker_stack):
    """compose() of a running stack renders its allocated host ports and *** for the secret."""
    devarch, stack, values = docker_stack
    text = devarch.compose(stack)
    assert "POSTGRES_PASSWORD: '***'" in text
    assert_hidden(text, values, "compose")


# -- CLI ------------------------------------------------------------------------------------------


def _cli(home: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    from devarch_adapters.cli import main  # noqa: PLC0415 - the CLI is optional here

    def run(*argv: str, runtime: str = "none") -> tuple[int, str]:
        code = main(["--home", str(home), "--catalog", str(EXAMPLES), "--runtime", runtime, *argv])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


@pytest.mark.docker
def test_the_cli_never_prints_the_secret(docker_stack, tmp_path, capsys, monkeypatch, docker_url):
    """CLI instance show/effective --explain, plan --json, compose and secret list print ***."""
    pytest.importorskip("devarch_adapters.cli")
    monkeypatch.setenv("DOCKER_HOST", docker_url)
    devarch, stack, values = docker_stack
    clone = devarch.clone_stack(stack, stack + "c").name  # compose of an applied stack fails
    run = _cli(tmp_path / "home", capsys)
    commands: list[tuple[tuple[str, ...], str]] = [
        (("instance", "show", stack, "db"), "none"),
        (("instance", "show", stack, "db", "--json"), "none"),
        (("instance", "effective", stack, "db", "--explain"), "none"),
        (("instance", "effective", stack, "web", "--explain"), "none"),
        (("instance", "effective", stack, "web", "--json"), "none"),
        (("secret", "list", stack), "none"),
        (("compose", clone), "none"),
        (("compose", clone, "web"), "none"),
        (("plan", stack, "--json"), "docker"),
        (("plan", stack), "docker"),
        (("status", stack, "--json"), "docker"),
    ]
    for argv, runtime in commands:
        code, out = run(*argv, runtime=runtime)
        assert code == 0, f"{argv}: {out}"
        assert_hidden(out, values, "devarch " + " ".join(argv))
    code, out = run("instance", "effective", stack, "web", "--explain")
    assert "DB_PASSWORD" in out
    assert "***" in out
    code, out = run("compose", clone, "--reveal-secrets", "-o", str(tmp_path / "c.yml"))
    assert code == 0, out
    assert_hidden(out, values, "compose --reveal-secrets stdout")


@pytest.mark.docker
def test_the_cli_export_shows_a_placeholder(docker_stack, tmp_path, capsys):
    """`devarch export STACK` writes ${secret:POSTGRES_PASSWORD}, never the value."""
    pytest.importorskip("devarch_adapters.cli")
    from devarch_adapters.cli._main import build_parser  # noqa: PLC0415

    if "export" not in build_parser().format_help():
        pytest.skip("the CLI has no `export` command yet")
    _devarch, stack, values = docker_stack
    code, out = _cli(tmp_path / "home", capsys)("export", stack)
    assert code == 0, out
    assert "${secret:POSTGRES_PASSWORD}" in out
    assert_hidden(out, values, "devarch export")

"""Edges of ``init``, ``import`` and the lockfile (issue 11, items 16, 22 and 28).

``init`` is atomic up to the engine; commands that need an engine say so; ``pins.image`` is
checked like the lockfile's digests; apply refreshes a diverged lockfile even with nothing to
apply; the lockfile is named after the manifest; ``init --dry-run``/``--yes``.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devarch_adapters import bootstrap
from devarch_adapters.cli import main
from devarch_core.errors import EngineError, ManifestError, PortConflictError, WiringError
from devarch_core.manifest import Manifest
from devarch_core.testing import FakeRuntime, InMemoryStore, fake_devarch

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"
SHOP = (
    "version: 1\nstack: shop\ninstances:\n"
    "  db: {template: bb-db, overrides: {environment: {POSTGRES_PASSWORD: '${secret:PW}'}}}\n"
    "  web: {template: bb-web}\n"
)


def state(devarch: Devarch) -> tuple[Any, ...]:
    """Everything a refused init must leave as it was."""
    with devarch.store.transaction() as tx:
        stacks = tx.list_stacks()
        instances = [tx.list_instances(s.id) for s in stacks]
        return (
            stacks,
            instances,
            [tx.list_wires(s.id) for s in stacks],
            tx.list_secrets(None),
            tx.list_port_allocations(None),
            [tx.get_applied(i.id) for group in instances for i in group],
        )


# -- item 16: init is atomic up to the engine ------------------------------------------------------


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_a_refused_init_rolls_the_import_back(
    catalog: Catalog, tmp_path: Path, store_kind: str
) -> None:
    """A port clash found by the plan undoes the import of a changed, applied stack.

    A port clash found by the plan (a process holds the pinned port) undoes the import of a
    changed, already applied stack: instances, secrets, allocations and applied records.
    """
    from devarch_adapters.sqlite import SqliteStore  # noqa: PLC0415

    store = SqliteStore(tmp_path / "devarch.db") if store_kind == "sqlite" else InMemoryStore()
    devarch = fake_devarch(catalog, images={IMAGE: "sha256:1"}, busy=(25999,), store=store)
    devarch.init_stack(Manifest.parse(SHOP), secret_values={"PW": "pw"})
    before = state(devarch)
    changed = SHOP.replace(
        "web: {template: bb-web}",
        "web: {template: bb-web, overrides: {ports: [{container: 8080, host: 25999}]}}\n"
        "  cache: {template: bb-cache}",
    )
    with pytest.raises(PortConflictError, match="rolled back"):
        devarch.init_stack(Manifest.parse(changed), secret_values={"PW": "pw"})
    assert state(devarch) == before


def test_a_refused_init_of_a_new_stack_leaves_no_stack(catalog: Catalog) -> None:
    """Wiring the import cannot see (a disabled provider) refused by the plan: no stack left."""
    devarch = fake_devarch(catalog, images={IMAGE: "sha256:1"})
    devarch.create_stack("other")
    before = state(devarch)
    cancelled = []

    def no(_imported: object, _plan: object) -> bool:
        cancelled.append(True)
        return False

    with pytest.raises(Exception, match="cancelled; nothing was changed"):
        devarch.init_stack(Manifest.parse(SHOP), secret_values={"PW": "pw"}, confirm=no)
    assert cancelled
    assert state(devarch) == before


def test_an_init_that_fails_on_the_engine_says_the_import_was_kept(catalog: Catalog) -> None:
    """Once the engine was touched the import stays, and the message says so."""
    devarch = fake_devarch(catalog, images={})  # the image is missing: the pull fails
    runtime = devarch.runtime
    assert isinstance(runtime, FakeRuntime)
    with pytest.raises(Exception, match="the import was kept") as caught:
        devarch.init_stack(Manifest.parse(SHOP), secret_values={"PW": "pw"})
    assert not isinstance(caught.value, WiringError)
    assert [s.stack.name for s in devarch.list_stacks(with_runtime=False)] == ["shop"]


def test_init_without_an_engine_refuses_before_importing_and_says_what_is_needed(
    catalog: Catalog,
) -> None:
    """No engine: nothing imported; the message names what to set."""
    from devarch_core.app import Devarch  # noqa: PLC0415
    from devarch_core.testing import InMemoryKeys, ManualClock  # noqa: PLC0415

    devarch = Devarch(
        store=InMemoryStore(),
        catalog=catalog,
        keys=InMemoryKeys(),
        runtime=None,
        clock=ManualClock(),
        runtime_problem="the engine is turned off with DEVARCH_RUNTIME=none or --runtime none",
    )
    with pytest.raises(EngineError) as caught:
        devarch.init_stack(Manifest.parse(SHOP), secret_values={"PW": "pw"})
    message = str(caught.value)
    assert "this command needs a container engine" in message
    assert "DEVARCH_RUNTIME=docker|podman" in message
    assert devarch.list_stacks(with_runtime=False) == []


# -- item 22: pins.image, lockfile refresh, re-import under a new name -----------------------------


def test_pins_image_is_checked_like_the_lockfile_digest(catalog: Catalog) -> None:
    """A manifest pinning another digest than the engine's is checked like a lockfile.

    A manifest pinning another digest than the engine's: a warning on import, refused by
    ``init`` in strict mode (as a lockfile digest is).
    """
    devarch = fake_devarch(catalog, images={IMAGE: "sha256:engine"})
    pinned = (
        "version: 1\nstack: s\ninstances:\n  c: {template: bb-cache, pins: {image: sha256:old}}\n"
    )
    result = devarch.import_yaml(pinned, dry_run=True)
    (warning,) = result.warnings
    assert warning.startswith("instances.c.pins.image: image devarch-test/busybox:latest is")
    assert "pinned sha256:old" in warning
    with pytest.raises(ManifestError, match="image digests its manifest pins"):
        devarch.init_stack(Manifest.parse(pinned), strict=True)
    assert devarch.list_stacks(with_runtime=False) == []
    same = pinned.replace("sha256:old", "sha256:engine")
    assert devarch.import_yaml(same, dry_run=True).warnings == ()


def test_reimporting_an_export_under_a_new_name_advises_on_pins(catalog: Catalog) -> None:
    """Pins of the original stack clash: the refusal advises --no-pins.

    Pins of the original stack clash: the refusal says to drop them or use --no-pins; with
    ``ignore_pins`` the copy imports and applies with its own ports.
    """
    devarch = fake_devarch(catalog, images={IMAGE: "sha256:1"})
    devarch.init_stack(Manifest.parse(SHOP), secret_values={"PW": "pw"})
    text = devarch.export_yaml("shop", digests=True)
    assert "pins:" in text
    copy = text.replace("name: shop", "name: shop2")
    values = {"PW": "pw", "POSTGRES_PASSWORD": "pw"}
    with pytest.raises(PortConflictError, match="--no-pins") as caught:
        devarch.import_yaml(copy, secret_values=values)
    assert any(p.path.startswith("instances.db.pins.ports.") for p in caught.value.problems)
    devarch.import_yaml(copy, secret_values=values, ignore_pins=True)
    devarch.apply("shop2")


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    """One FakeRuntime handed out by the composition root for ``--runtime docker``."""
    fake = FakeRuntime(images={IMAGE: "sha256:busybox"})

    def open_runtime(kind: str) -> tuple[FakeRuntime | None, str | None]:
        if kind == "none":
            return None, "the engine is turned off with DEVARCH_RUNTIME=none or --runtime none"
        return fake, None

    monkeypatch.setattr(bootstrap, "open_runtime", open_runtime)
    return fake


@pytest.fixture
def cli(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    runtime: FakeRuntime,  # noqa: ARG001 - installs the fake engine
) -> Callable[..., tuple[int, str, str]]:
    """Run ``devarch --home H --runtime docker --catalog C ARGS`` in ``tmp_path``."""
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.delenv("DEVARCH_CATALOG_PATH", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setenv("DEVARCH_SECRET_PW", "pw")
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "catalog")
    home = str(tmp_path / "home")

    def run(*args: str, runtime: str = "docker") -> tuple[int, str, str]:
        capsys.readouterr()
        argv = ["--home", home, "--runtime", runtime, "--catalog", str(tmp_path / "catalog")]
        code = main([*argv, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_commands_that_need_an_engine_say_what_is_needed(cli: Callable[..., Any]) -> None:
    """``--runtime none``: not a bare ``DEVARCH_RUNTIME=none``."""
    assert cli("stack", "create", "s")[0] == 0
    code, _, err = cli("apply", "s", "--yes", runtime="none")
    assert code == 1
    assert "this command needs a container engine" in err
    assert "DEVARCH_RUNTIME=docker|podman" in err


def test_the_lockfile_is_named_after_the_manifest(cli: Callable[..., Any], tmp_path: Path) -> None:
    """The lockfile is named after the manifest; apply finds it.

    ``init relay.yml`` writes relay.lock and never reads devarch.lock of another stack;
    ``apply relay`` finds relay.lock (init's default) and refreshes it.
    """
    (tmp_path / "devarch.yml").write_text(SHOP)
    assert cli("init", "devarch.yml", "--yes")[0] == 0
    assert "stack: shop" in (tmp_path / "devarch.lock").read_text()
    (tmp_path / "relay.yml").write_text(SHOP.replace("stack: shop", "stack: relay"))
    code, _, err = cli("init", "relay.yml", "--yes")
    assert code == 0, err
    relay_lock = tmp_path / "relay.lock"
    assert "stack: relay" in relay_lock.read_text()
    assert "stack: shop" in (tmp_path / "devarch.lock").read_text()
    relay_lock.write_text(relay_lock.read_text().replace("sha256:busybox", "sha256:stale"))
    code, _, err = cli("apply", "relay", "--yes")
    assert code == 0, err
    assert "relay.lock" in err  # the divergence warning names init's lockfile
    assert "sha256:stale" not in relay_lock.read_text(), "nothing to apply still refreshes"
    assert cli("apply", "relay", "--locked")[0] == 0


def test_apply_with_nothing_to_apply_refreshes_a_diverged_lockfile_unless_locked(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    """The docs say apply refreshes the lockfile; ``--locked`` refuses instead."""
    (tmp_path / "devarch.yml").write_text(SHOP)
    assert cli("init", "devarch.yml", "--yes")[0] == 0
    lock = tmp_path / "devarch.lock"
    lock.write_text(lock.read_text().replace("sha256:busybox", "sha256:stale"))
    code, _, err = cli("apply", "shop", "--locked")
    assert code == 1
    assert "sha256:stale" in lock.read_text()
    code, _, err = cli("apply", "shop")
    assert code == 0, err
    assert "warning" in err
    assert "sha256:stale" not in lock.read_text()


def test_import_dry_run_refuses_an_unwired_required_import_like_the_import(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    """Exit 1 and the same message with and without ``--dry-run``; nothing written."""
    text = "version: 1\nstack: w\ninstances:\n  web: {template: bb-web}\n"
    (tmp_path / "web.yml").write_text(text)
    dry = cli("import", "web.yml", "--dry-run")
    real = cli("import", "web.yml")
    assert dry[0] == real[0] == 1
    assert "required import 'db' (type postgres) has no provider" in dry[2]
    assert dry[2] == real[2]
    assert cli("stack", "show", "w")[0] == 1


def test_init_dry_run_changes_nothing_and_yes_is_needed_without_a_terminal(
    cli: Callable[..., Any], tmp_path: Path, runtime: FakeRuntime
) -> None:
    """``init --dry-run`` changes nothing; ``--yes`` is needed without a terminal.

    ``--dry-run`` shows the import; without a terminal ``init`` asks for ``--yes`` (as apply)
    and leaves the store as it was; a re-init shows the diff that reverts CLI edits first.
    """
    (tmp_path / "devarch.yml").write_text(SHOP)
    code, out, _ = cli("init", "devarch.yml", "--dry-run")
    assert code == 0
    assert "Would import stack shop (new)" in out
    assert "nothing was changed" in out
    assert cli("stack", "show", "shop")[0] == 1
    assert not (tmp_path / "devarch.lock").exists()
    code, _, err = cli("init", "devarch.yml")
    assert code == 1
    assert "pass --yes" in err
    assert "rolled back" in err
    assert cli("stack", "show", "shop")[0] == 1
    assert runtime.calls_to("create_container") == []
    assert cli("init", "devarch.yml", "--yes")[0] == 0
    assert cli("instance", "set", "shop", "web", "env.EDITED=1")[0] == 0
    code, out, _ = cli("init", "devarch.yml", "--dry-run")
    assert code == 0
    assert "environment.EDITED: '1' → None" in out
    code, out, err = cli("init", "devarch.yml")  # no terminal: the diff, then the refusal
    assert code == 1
    assert "environment.EDITED" in out
    assert "pass --yes" in err
    assert cli("instance", "show", "shop", "web", "--json")[1].count("EDITED") == 1


def test_cli_import_names_the_path_of_a_port_clash_and_no_pins_ignores_pins(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    """Exit 1 with the manifest path and the other owner; ``--no-pins`` imports an export."""
    clash = (
        "version: 1\nstack: s\ninstances:\n"
        "  db: {template: bb-db, overrides: {ports: [{container: 5432, host: 25003}]}}\n"
        "  db2: {template: bb-db, overrides: {ports: [{container: 5432, host: 25003}]}}\n"
    )
    (tmp_path / "clash.yml").write_text(clash)
    code, _, err = cli("import", "clash.yml")
    assert code == 1
    assert "instances.db2.overrides.ports[0].host" in err
    assert "s/db and s/db2" in err
    (tmp_path / "devarch.yml").write_text(SHOP)
    assert cli("init", "devarch.yml", "--yes")[0] == 0
    assert cli("export", "shop", "-o", "shop.yml")[0] == 0
    copy = (tmp_path / "shop.yml").read_text().replace("name: shop", "name: shop2")
    (tmp_path / "shop2.yml").write_text(copy)
    code, _, err = cli("import", "shop2.yml", "--secret", "POSTGRES_PASSWORD=pw")
    assert code == 1
    assert "--no-pins" in err
    code, _, err = cli("import", "shop2.yml", "--no-pins", "--secret", "POSTGRES_PASSWORD=pw")
    assert code == 0, err


def test_a_re_init_with_nothing_to_change_needs_no_yes(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    """Only a change is confirmed: an idempotent re-init in a script succeeds without --yes."""
    (tmp_path / "devarch.yml").write_text(
        "version: 1\nstack: c\ninstances:\n  cache: {template: bb-cache}\n"
    )
    assert cli("init", "devarch.yml", "--yes")[0] == 0
    code, out, err = cli("init", "devarch.yml")
    assert code == 0, err
    assert "no changes" in out

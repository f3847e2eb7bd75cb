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
from devarch_core.errors import ApplyError, DevarchError, EngineError, ValidationError
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
    """Template ``secrets:`` and ``overrides.secrets`` values are sealed, never kept as overrides."""
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
    bad = RENAMED.replace("      secrets:\n", "      secret_refs: {DB_PASSWORD: X}\n      secrets:\n")
    with pytest.raises(ValidationError, match=r"instances\.web\.overrides\.secret_refs"):
        devarch.import_yaml(bad, secret_values={"PGPW": PASSWORD})


# -- item 6: no public plaintext; a plan for another stack ------------------------------------------


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
    bare = Devarch(store=devarch.store, catalog=catalog, keys=devarch._keys)  # noqa: SLF001
    with pytest.raises(ValidationError, match="this plan is for stack s1, not s2"):
        bare.apply("s2", plan)

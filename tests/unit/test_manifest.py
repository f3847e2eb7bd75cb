"""``devarch.yml`` import: malformed manifests refused with every problem, valid ones written.

Malformed manifests are refused with every problem at once; valid ones create or update a stack
(dry run, prune, secret placeholders) as docs/manifest.md says.

Data files live in ``tests/data/manifests``; the facade runs on the in-memory fakes with the
example busybox catalog, and the CLI runs in-process against a temporary home.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from devarch_adapters.cli import main
from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core._schemaparts import with_modeline
from devarch_core.errors import ManifestError, PortConflictError, ValidationError
from devarch_core.manifest import Manifest
from devarch_core.testing import fake_devarch, reveal_secret

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "manifests"
CATALOG_DIR = ROOT / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"
SECRET = "s3cr3t-Pa55word"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """Load the example busybox catalog."""
    return load_catalog_dirs([CATALOG_DIR])


def make(catalog: Catalog) -> Devarch:
    """Build a facade on fresh fakes."""
    return fake_devarch(catalog, images={IMAGE: "sha256:1"})


@pytest.fixture
def devarch(catalog: Catalog) -> Devarch:
    """A facade already holding stack ``shop`` (db with a secret, web, cache), applied once."""
    d = make(catalog)
    d.create_stack("shop", description="before")
    d.add_instance("shop", "db", "bb-db", overrides={"environment": {"POSTGRES_DB": "shop"}})
    d.add_instance("shop", "web", "bb-web", description="storefront")
    d.add_instance("shop", "cache", "bb-cache")
    d.set_secret("shop", "db", "POSTGRES_PASSWORD", SECRET)
    d.apply("shop")
    return d


def snapshot(devarch: Devarch) -> tuple[list[str], dict[str, str], list[dict[str, str]]]:
    """What a failed import must leave untouched: stack names, every stack's export, secrets."""
    names = sorted(s.stack.name for s in devarch.list_stacks(with_runtime=False))
    exports = {name: devarch.export_yaml(name) for name in names}
    secrets = [row for name in names for row in devarch.list_secrets(name)]
    return names, exports, secrets


def read(name: str) -> str:
    """The text of a data file."""
    return (DATA / name).read_text(encoding="utf-8")


# -- malformed manifests: every problem at once, with its path, nothing written -----------------

BAD = {
    "five-problems.yml": [
        "stack.colour",
        "stack.name",
        "instances.db.overrides.ports[0].host",
        "instances.web.template",
        "wires[0].provider",
    ],
    "unknown-keys.yml": [
        "extra",
        "stack.owner",
        "instances.db.image",
        "instances.db.overrides.envirnoment",
        "instances.db.overrides.ports[0].hots",
        "instances.db.pins.volumes",
        "wires[0].via",
        "wires[0].consumer",  # `web` is not an instance of that file either
    ],
    "wrong-types.yml": [
        "version",
        "stack.description",
        "instances.db.template",
        "instances.db.enabled",
        "instances.db.overrides.environment",
        "instances.db.overrides.ports",
        "instances.web.description",
        "wires",
    ],
    "bad-names.yml": [
        "stack.name",
        "stack.network",
        "instances.Web",
        "instances.db_main",
        "instances.all",
        "instances.-lead",
    ],
    "bad-ports.yml": [
        "instances.db.overrides.ports[0].host",
        "instances.db.overrides.ports[1].container",
        "instances.db.pins.ports.5432/tcp",
        "instances.db.pins.ports.abc",
        "instances.cache.pins.ports.6379/sctp",
    ],
    "missing-templates.yml": ["instances.db.template", "instances.cache.template"],
    "version-unsupported.yml": ["version"],
    "version-missing.yml": ["version"],
    "bad-wires.yml": [
        "wires[0].consumer",
        "wires[1].import",
        "wires[2].provider",
        "wires[3].provider",
        "wires[4].import",
        "wires[4]",
        "wires[5]",
        "wires[6]",
    ],
}


@pytest.mark.parametrize(("name", "paths"), sorted(BAD.items()))
def test_a_malformed_manifest_is_refused_with_every_problem_and_its_path(
    devarch: Devarch, name: str, paths: list[str]
) -> None:
    """Each bad file raises one ManifestError naming every problem by path; the store is kept."""
    before = snapshot(devarch)
    with pytest.raises(ManifestError) as caught:
        devarch.import_yaml(read(name), origin=name)
    assert sorted(p.path for p in caught.value.problems) == sorted(paths)
    message = str(caught.value)
    for path in paths:
        assert f"{path}: " in message
    if len(paths) > 1:
        assert f"({len(paths)} problems)" in message
    assert snapshot(devarch) == before


def test_five_different_problems_are_reported_together_with_readable_reasons(
    devarch: Devarch,
) -> None:
    """A manifest with five kinds of problem reports all five reasons in one error."""
    with pytest.raises(ManifestError) as caught:
        devarch.import_yaml(read("five-problems.yml"))
    reasons = {p.path: p.message for p in caught.value.problems}
    assert "unknown key" in reasons["stack.colour"]
    assert "uppercase" in reasons["stack.name"]
    assert "'shop'" in reasons["stack.name"]  # the suggested slug
    assert "out of range" in reasons["instances.db.overrides.ports[0].host"]
    assert "no-such-template" in reasons["instances.web.template"]
    assert "bb-db" in reasons["instances.web.template"]  # lists what the catalog has
    assert "ghost" in reasons["wires[0].provider"]


def test_invalid_yaml_is_refused_with_its_line(devarch: Devarch) -> None:
    """Text that is not YAML is a ManifestError that says on which line it breaks."""
    before = snapshot(devarch)
    with pytest.raises(ManifestError) as caught:
        devarch.import_yaml(read("bad-yaml.yml"), origin="bad-yaml.yml")
    assert "line 7" in str(caught.value)
    assert "bad-yaml.yml" in str(caught.value)
    assert snapshot(devarch) == before


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("- a\n- b\n", "expected a mapping"),
        ("just text\n", "expected a mapping"),
    ],
)
def test_a_manifest_that_is_not_a_mapping_is_refused(text: str, reason: str) -> None:
    """An empty file, a list or a scalar is refused as a whole."""
    with pytest.raises(ManifestError, match=reason):
        Manifest.parse(text)


def test_an_unsupported_version_names_the_supported_range() -> None:
    """Version 2 is refused, saying which versions this devarch reads."""
    with pytest.raises(ManifestError) as caught:
        Manifest.parse(read("version-unsupported.yml"))
    assert "unsupported manifest version 2" in str(caught.value)
    assert "1 to 1" in str(caught.value)


def test_parsing_alone_finds_structural_problems_without_a_catalog() -> None:
    """Manifest.parse reports the structural problems (not the catalog's) all at once."""
    with pytest.raises(ManifestError) as caught:
        Manifest.parse(read("five-problems.yml"))
    assert sorted(p.path for p in caught.value.problems) == [
        "instances.db.overrides.ports[0].host",
        "stack.colour",
        "stack.name",
        "wires[0].provider",
    ]


def test_manifest_error_is_a_validation_error() -> None:
    """ManifestError belongs to the ValidationError family (ValueError, exit status 1)."""
    with pytest.raises(ValidationError):
        Manifest.parse(read("version-missing.yml"))
    assert issubclass(ManifestError, ValueError)


def test_every_missing_secret_is_listed_with_how_to_supply_it(catalog: Catalog) -> None:
    """Three placeholders without values give three problems naming the env var and the flag."""
    fresh = make(catalog)
    with pytest.raises(ManifestError) as caught:
        fresh.import_yaml(read("missing-secrets.yml"))
    assert sorted(p.path for p in caught.value.problems) == [
        "instances.db.overrides.environment.POSTGRES_PASSWORD",
        "instances.web.overrides.environment.API_TOKEN",
        "instances.web.overrides.environment.SESSION_KEY",
    ]
    messages = [p.message for p in caught.value.problems]
    for name in ("DB_PASSWORD", "API_TOKEN", "SESSION_KEY"):
        assert any(
            f"DEVARCH_SECRET_{name}" in m and f"--secret {name}=VALUE" in m for m in messages
        )
    assert fresh.list_stacks(with_runtime=False) == []


def test_a_pin_on_a_port_another_stack_holds_is_refused_naming_the_holder(
    devarch: Devarch,
) -> None:
    """A manifest pinning a host port allocated to another stack's instance names that owner."""
    taken = next(iter(devarch.lock_stack("shop").instances["web"].ports.values()))
    text = (
        "version: 1\nstack: {name: blog}\ninstances:\n  site:\n    template: bb-web\n"
        f"    pins:\n      ports:\n        8080/tcp: {taken}\n"
    )
    before = snapshot(devarch)
    with pytest.raises(PortConflictError) as caught:
        devarch.import_yaml(text)
    problem, advice = caught.value.problems
    assert problem.path == "instances.site.pins.ports.8080/tcp"
    assert "shop/web" in problem.message
    assert "--no-pins" in advice.message
    assert snapshot(devarch) == before


def test_a_container_name_held_by_another_stack_is_refused(catalog: Catalog) -> None:
    """Stack a-b + instance c collides with stack a + instance b-c: the import names stack a."""
    devarch = make(catalog)
    devarch.create_stack("a")
    devarch.add_instance("a", "b-c", "bb-cache")
    before = snapshot(devarch)
    text = "version: 1\nstack: {name: a-b}\ninstances:\n  c: {template: bb-cache}\n"
    with pytest.raises(ManifestError, match="devarch-a-b-c is already used by stack 'a'"):
        devarch.import_yaml(text)
    assert snapshot(devarch) == before


# -- valid manifests -------------------------------------------------------------------------------


def test_a_valid_manifest_imports_into_its_canonical_form(catalog: Catalog) -> None:
    """good.yml imports, and its export is the canonical text in good-canonical.yml."""
    devarch = make(catalog)
    result = devarch.import_yaml(read("good.yml"), secret_values={"POSTGRES_PASSWORD": SECRET})
    assert result.created
    assert result.applied
    assert [(a.action, a.instance) for a in result.actions] == [
        ("add", "cache"),
        ("add", "db"),
        ("add", "web"),
    ]
    assert devarch.export_yaml("shop") == read("good-canonical.yml")
    assert not devarch.get_instance("shop", "cache").enabled
    assert reveal_secret(devarch, "shop", "db", "POSTGRES_PASSWORD") == SECRET
    assert devarch.list_wires("shop")[0].provider == "db"


def test_a_template_version_the_catalog_lacks_is_a_warning(catalog: Catalog) -> None:
    """An instance asking for a template version the catalog lacks imports with a warning."""
    devarch = make(catalog)
    text = (
        "version: 1\nstack: shop\ninstances:\n  c: {template: bb-cache, template_version: '9.9'}\n"
    )
    result = devarch.import_yaml(text)
    (warning,) = result.warnings
    assert "instances.c" in warning
    assert "9.9" in warning
    assert devarch.get_instance("shop", "c").template_version == "1.0"


def test_dry_run_writes_nothing_on_a_new_stack(catalog: Catalog) -> None:
    """A dry-run import of a new stack previews the additions and leaves the store empty."""
    devarch = make(catalog)
    result = devarch.import_yaml(
        read("good.yml"), dry_run=True, secret_values={"POSTGRES_PASSWORD": SECRET}
    )
    assert not result.applied
    assert result.has_changes
    assert "Would import stack shop (new)" in result.render_text()
    assert devarch.list_stacks(with_runtime=False) == []


def test_dry_run_writes_nothing_on_an_existing_stack(devarch: Devarch) -> None:
    """A dry-run import of changes to an existing stack previews them and leaves it as it was."""
    before = snapshot(devarch)
    text = devarch.export_yaml("shop").replace("POSTGRES_DB: shop", "POSTGRES_DB: other")
    result = devarch.import_yaml(text, dry_run=True, prune=True)
    (action,) = result.actions
    assert action.action == "modify"
    assert action.instance == "db"
    (change,) = action.changes
    assert (change.field, change.old, change.new) == (
        "overrides.environment.POSTGRES_DB",
        "shop",
        "other",
    )
    assert snapshot(devarch) == before


def test_an_import_updates_an_existing_stack_in_place(devarch: Devarch) -> None:
    """Changed overrides, descriptions and a new instance are written; secrets are kept."""
    text = (
        devarch.export_yaml("shop")
        .replace("description: before", "description: after")
        .replace("POSTGRES_DB: shop", "POSTGRES_DB: other")
        .replace("instances:\n", "instances:\n  api:\n    template: bb-worker\n", 1)
    )
    result = devarch.import_yaml(text)
    assert not result.created
    assert [(a.action, a.instance) for a in result.actions] == [
        ("modify", "(stack)"),
        ("add", "api"),
        ("modify", "db"),
    ]
    assert devarch.get_stack("shop").description == "after"
    assert devarch.get_instance("shop", "db").overrides.environment["POSTGRES_DB"] == "other"
    assert reveal_secret(devarch, "shop", "db", "POSTGRES_PASSWORD") == SECRET
    expected = Manifest.parse(
        text.replace("template: bb-worker\n", "template: bb-worker\n    template_version: '1.0'\n")
    )
    assert devarch.export_yaml("shop") == with_modeline("manifest", expected.to_yaml())


def without(text: str, instance: str) -> str:
    """An exported manifest with one instance left out."""
    manifest = Manifest.parse(text)
    kept = tuple(i for i in manifest.instances if i.name != instance)
    return with_modeline("manifest", attrs.evolve(manifest, instances=kept).to_yaml())


def test_without_prune_instances_missing_from_the_file_are_kept(devarch: Devarch) -> None:
    """An import that lacks an instance leaves it in the stack unless prune is asked for."""
    result = devarch.import_yaml(without(devarch.export_yaml("shop"), "cache"))
    assert not result.has_changes
    assert [i.name for i in devarch.list_instances("shop")] == ["cache", "db", "web"]


def test_prune_removes_instances_the_file_no_longer_has(devarch: Devarch) -> None:
    """With prune the instances absent from the file are removed (and previewed as removals)."""
    text = without(devarch.export_yaml("shop"), "cache")
    result = devarch.import_yaml(text, prune=True)
    assert [(a.action, a.instance) for a in result.actions] == [("remove", "cache")]
    assert [i.name for i in devarch.list_instances("shop")] == ["db", "web"]
    assert devarch.export_yaml("shop") == text
    assert not devarch.import_yaml(text, prune=True).has_changes


def test_prune_removes_wires_the_file_no_longer_has(devarch: Devarch) -> None:
    """An explicit wire missing from the file is removed by the import (wires are declarative)."""
    devarch.add_wire("shop", "web", "db", "db")
    text = devarch.export_yaml("shop")
    assert "provider: db" in text
    devarch.import_yaml(text.replace("- consumer: web\n  import: db\n  provider: db\n", ""))
    assert devarch.list_wires("shop") == []


# -- secret placeholders ---------------------------------------------------------------------------

PLACEHOLDER = "${secret:POSTGRES_PASSWORD}"
ONE_SECRET = (
    "version: 1\nstack: {name: vault}\ninstances:\n  db:\n    template: bb-db\n"
    "    overrides:\n      environment:\n        POSTGRES_PASSWORD: ${secret:POSTGRES_PASSWORD}\n"
)


def test_a_placeholder_takes_its_value_from_the_flag(catalog: Catalog) -> None:
    """With no existing secret and no environment variable, the flag value is sealed."""
    devarch = make(catalog)
    devarch.import_yaml(ONE_SECRET, secret_values={"POSTGRES_PASSWORD": "from-flag"})
    assert reveal_secret(devarch, "vault", "db", "POSTGRES_PASSWORD") == "from-flag"


def test_a_placeholder_takes_its_value_from_the_environment_before_the_flag(
    catalog: Catalog,
) -> None:
    """DEVARCH_SECRET_NAME in the environ mapping wins over the flag value."""
    devarch = make(catalog)
    devarch.import_yaml(
        ONE_SECRET,
        environ={"DEVARCH_SECRET_POSTGRES_PASSWORD": "from-env"},
        secret_values={"POSTGRES_PASSWORD": "from-flag"},
    )
    assert reveal_secret(devarch, "vault", "db", "POSTGRES_PASSWORD") == "from-env"


def test_a_placeholder_keeps_an_existing_secret(catalog: Catalog) -> None:
    """On re-import an existing secret wins over the environment and the flag; nothing changes."""
    devarch = make(catalog)
    devarch.import_yaml(ONE_SECRET, secret_values={"POSTGRES_PASSWORD": "first"})
    result = devarch.import_yaml(
        ONE_SECRET,
        environ={"DEVARCH_SECRET_POSTGRES_PASSWORD": "from-env"},
        secret_values={"POSTGRES_PASSWORD": "from-flag"},
    )
    assert not result.has_changes
    assert reveal_secret(devarch, "vault", "db", "POSTGRES_PASSWORD") == "first"


@pytest.mark.parametrize(
    "source",
    [
        {"secret_values": {"POSTGRES_PASSWORD": "v"}},
        {"environ": {"DEVARCH_SECRET_POSTGRES_PASSWORD": "v"}},
    ],
)
def test_a_placeholder_is_never_stored_as_a_value(catalog: Catalog, source: dict[str, Any]) -> None:
    """The placeholder text is neither the sealed secret nor a plain override value."""
    devarch = make(catalog)
    devarch.import_yaml(ONE_SECRET, **source)
    assert reveal_secret(devarch, "vault", "db", "POSTGRES_PASSWORD") == "v"
    instance = devarch.get_instance("vault", "db")
    assert "POSTGRES_PASSWORD" not in instance.overrides.environment
    assert PLACEHOLDER not in repr(instance)
    exported = devarch.export_yaml("vault")
    assert "POSTGRES_PASSWORD: ${secret:POSTGRES_PASSWORD}" in exported
    assert ": v\n" not in exported


def test_a_malformed_placeholder_is_refused() -> None:
    """``${secret:}`` or ``${secret:A B}`` is refused as not a placeholder, with its path."""
    text = ONE_SECRET.replace(PLACEHOLDER, "'${secret:A B}'")
    with pytest.raises(ManifestError) as caught:
        Manifest.parse(text)
    (problem,) = caught.value.problems
    assert problem.path == "instances.db.overrides.environment.POSTGRES_PASSWORD"


def test_a_secret_whose_name_has_a_dot_round_trips(catalog: Catalog) -> None:
    """A secret named ``app.key`` (a valid variable name) exports as an importable placeholder."""
    devarch = make(catalog)
    devarch.create_stack("shop")
    devarch.add_instance("shop", "db", "bb-db")
    devarch.add_instance("shop", "web", "bb-web")
    devarch.set_secret("shop", "web", "app.key", "dotted")
    text = devarch.export_yaml("shop")
    assert "${secret:app.key}" in text
    copy = make(catalog)
    copy.import_yaml(text, secret_values={"app.key": "dotted", "POSTGRES_PASSWORD": "pw"})
    assert reveal_secret(copy, "shop", "web", "app.key") == "dotted"
    assert copy.export_yaml("shop") == text


def test_a_plain_value_spelled_like_a_placeholder_is_refused(catalog: Catalog) -> None:
    """An override value that is literally ``${secret:X}`` is refused with its path.

    It could not round-trip through devarch.yml, and nothing is written.
    """
    devarch = make(catalog)
    devarch.create_stack("shop")
    with pytest.raises(ValidationError, match=r"environment\.LITERAL"):
        devarch.add_instance(
            "shop", "web", "bb-web", overrides={"environment": {"LITERAL": "${secret:NOPE}"}}
        )
    assert devarch.list_instances("shop") == []


# -- the CLI ---------------------------------------------------------------------------------------


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


def test_cli_import_of_a_bad_manifest_exits_1_listing_every_problem(cli) -> None:
    """``devarch import bad.yml`` prints all problems on stderr (no traceback) and exits 1."""
    code, _out, err = cli("import", str(DATA / "five-problems.yml"))
    assert code == 1
    assert "(5 problems)" in err
    for path in BAD["five-problems.yml"]:
        assert path in err
    assert "Traceback" not in err
    assert cli("stack", "list", "--json")[1].strip() in ("[]", '{"stacks": []}')


def test_cli_import_dry_run_then_import_then_export(cli, tmp_path: Path) -> None:
    """``import --dry-run`` writes nothing, ``import`` writes, ``export -o`` is canonical."""
    good = str(DATA / "good.yml")
    code, out, _ = cli("import", good, "--dry-run", "--secret", f"POSTGRES_PASSWORD={SECRET}")
    assert code == 0
    assert "Would import stack shop (new)" in out
    assert SECRET not in out
    assert cli("stack", "show", "shop")[0] == 1
    code, out, _ = cli("import", good, "--secret", f"POSTGRES_PASSWORD={SECRET}")
    assert code == 0
    assert "Imported stack shop (new)" in out
    target = tmp_path / "out.yml"
    assert cli("export", "shop", "-o", str(target))[0] == 0
    assert target.read_text() == read("good-canonical.yml")
    code, out, _ = cli("import", str(target))
    assert code == 0
    assert "no changes" in out


def test_cli_import_takes_secrets_from_the_environment(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DEVARCH_SECRET_NAME`` in the process environment supplies a placeholder's value."""
    path = tmp_path / "devarch.yml"
    path.write_text(ONE_SECRET)
    assert cli("import", str(path))[0] == 1
    monkeypatch.setenv("DEVARCH_SECRET_POSTGRES_PASSWORD", "env-value")
    code, out, _ = cli("import", str(path))
    assert code == 0
    assert "env-value" not in out

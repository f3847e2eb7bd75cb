"""The template catalog: lookups, ordering, merging, the builtin catalog and catalog directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.catalog import Catalog, builtin_catalog, parse_template_text, version_key
from devarch_core.errors import ConflictError, NotFoundError, TemplateError, ValidationError
from devarch_core.template import Template

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"


def make(name: str, version: str, image: str = "busybox:1", origin: str = "") -> Template:
    return Template.from_data(
        {"name": name, "version": version, "service": {"image": image}}, origin=origin
    )


def test_version_key_orders_numbers_naturally():
    """Versions compare number by number: 16.4 > 9.1 and 1.10 > 1.9."""
    assert version_key("16.4") > version_key("9.1")
    assert version_key("1.10") > version_key("1.9")
    assert sorted(["2.0", "10.0", "1.10", "1.9"], key=version_key) == ["1.9", "1.10", "2.0", "10.0"]


def test_get_without_version_returns_the_highest_version():
    """Without a version, get returns the naturally highest one, not the lexically highest."""
    catalog = Catalog.from_templates([make("postgres", "9.1"), make("postgres", "16.4")])
    assert catalog.get("postgres").version == "16.4"
    assert catalog.get("postgres", "9.1").version == "9.1"


def test_get_unknown_name_suggests_close_names():
    """A misspelt template name is a NotFoundError suggesting the close names."""
    catalog = Catalog.from_templates([make("postgres", "16.4"), make("redis", "7.4")])
    with pytest.raises(NotFoundError, match="did you mean postgres"):
        catalog.get("postgre")


def test_get_unknown_name_without_close_match_lists_templates():
    """A name with nothing close lists the available templates."""
    catalog = Catalog.from_templates([make("postgres", "16.4"), make("redis", "7.4")])
    with pytest.raises(NotFoundError, match="available: postgres, redis"):
        catalog.get("zzz")


def test_get_unknown_version_lists_the_available_versions():
    """An unknown version names the template and lists its versions in natural order."""
    catalog = Catalog.from_templates([make("postgres", "16.4"), make("postgres", "9.1")])
    with pytest.raises(NotFoundError, match=r"postgres@15.0.*available versions: 9.1, 16.4"):
        catalog.get("postgres", "15.0")


def test_list_is_sorted_by_name_then_version():
    """list() is sorted by name, then by natural version order."""
    catalog = Catalog.from_templates(
        [make("redis", "7.4"), make("postgres", "16.4"), make("postgres", "9.1")]
    )
    assert [t.ref for t in catalog.list()] == ["postgres@9.1", "postgres@16.4", "redis@7.4"]
    assert len(catalog) == 3
    assert "postgres" in catalog
    assert ("postgres", "9.1") in catalog
    assert ("postgres", "1.0") not in catalog


def test_merged_later_catalog_wins_on_the_same_name_and_version():
    """merged() keeps both catalogs' templates, the later one winning on the same name@version."""
    builtin = Catalog.from_templates(
        [make("postgres", "16.4", "postgres:16"), make("redis", "7.4")]
    )
    user = Catalog.from_templates([make("postgres", "16.4", "mirror/postgres:16")])
    merged = builtin.merged(user)
    assert merged.get("postgres").service.image == "mirror/postgres:16"
    assert merged.get("redis").version == "7.4"
    assert builtin.get("postgres").service.image == "postgres:16"  # the original is unchanged


def test_from_templates_refuses_conflicting_duplicates():
    """Different templates with one name@version in one source are a conflict naming both."""
    with pytest.raises(ConflictError, match=r"a\.yaml and b\.yaml"):
        Catalog.from_templates(
            [make("x", "1", "busybox:1", "a.yaml"), make("x", "1", "busybox:2", "b.yaml")]
        )


def test_from_templates_accepts_identical_duplicates():
    """The same template given twice is one entry."""
    catalog = Catalog.from_templates([make("x", "1"), make("x", "1")])
    assert len(catalog) == 1


def test_builtin_catalog_templates_all_load_and_validate():
    """Every builtin template loads, and each has a healthcheck and a wiring contract."""
    catalog = builtin_catalog()
    assert len(catalog) >= 12
    for template in catalog:
        assert template.origin.startswith("builtin:")
        assert template.service.healthcheck is not None, template.ref
        assert template.service.healthcheck.test[0] in ("CMD", "CMD-SHELL"), template.ref
        assert template.exports or template.imports, template.ref
        assert ":" in template.service.image, f"{template.ref} pins no image tag"
        for secret in template.secrets:
            assert secret in template.service.environment


def test_builtin_catalog_has_the_documented_contracts():
    """The builtin providers export and the consumers import the documented contract types."""
    catalog = builtin_catalog()

    def exports(name: str) -> set[str]:
        return {e.type for e in catalog.get(name).exports}

    def imports(name: str) -> dict[str, bool]:
        return {i.type: i.required for i in catalog.get(name).imports}

    assert exports("postgres") == {"postgres"}
    assert exports("redis") == {"redis"}
    assert exports("mariadb") == {"mysql"}
    assert exports("mongo") == {"mongodb"}
    assert exports("rabbitmq") == {"amqp"}
    assert exports("minio") == {"s3"}
    assert exports("mailpit") == {"smtp"}
    for app in ("node-api", "django", "laravel"):
        assert exports(app) == {"http"}
    assert imports("django")["postgres"] is True
    assert imports("django")["redis"] is False
    assert imports("laravel")["mysql"] is True
    assert "redis" in imports("laravel")
    assert imports("node-api") == {"postgres": True}
    assert imports("adminer") == {"postgres": False, "mysql": False}
    assert imports("nginx") == {"http": False}


def test_builtin_postgres_exports_the_design_variables():
    """The postgres template exports DB_HOST..DATABASE_URL built from ${host}, ${port}, ${env.X}."""
    export = builtin_catalog().get("postgres").exports[0]
    assert {"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DATABASE_URL"} <= set(
        export.env
    )
    assert export.env["DB_HOST"] == "${host}"
    assert export.env["DB_PASSWORD"] == "${env.POSTGRES_PASSWORD}"
    assert "POSTGRES_PASSWORD" in builtin_catalog().get("postgres").secrets


def test_parse_template_text_reports_bad_yaml_with_origin_and_line():
    """Bad YAML is a TemplateError naming the file and the line."""
    text = "name: x\nversion: '1'\nservice:\n  image: [unclosed\n"
    with pytest.raises(TemplateError) as info:
        parse_template_text(text, "cat/x.yaml")
    assert "cat/x.yaml" in str(info.value)
    assert "line 5" in str(info.value) or "line 4" in str(info.value)


def test_parse_template_text_refuses_duplicate_keys():
    """A key given twice in a template file is an error, not a silent override."""
    text = "name: x\nversion: '1'\nservice: {image: a}\nname: y\n"
    with pytest.raises(TemplateError, match=r"line 4.*duplicate key 'name'"):
        parse_template_text(text, "x.yaml")


def test_parse_template_text_refuses_an_empty_file():
    """An empty template file is a TemplateError naming it."""
    with pytest.raises(TemplateError, match=r"empty\.yaml"):
        parse_template_text("", "empty.yaml")


def write(path: Path, name: str, version: str, image: str = "busybox:1") -> None:
    path.write_text(f"name: {name}\nversion: '{version}'\nservice:\n  image: {image}\n")


def test_load_catalog_dirs_reads_yaml_and_yml_files_only(tmp_path):
    """Every *.yaml and *.yml file of a directory is a template; other files and subdirs are not."""
    write(tmp_path / "a.yaml", "a", "1")
    write(tmp_path / "b.yml", "b", "1")
    (tmp_path / "README.md").write_text("# not a template")
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested" / "c.yaml", "c", "1")
    catalog = load_catalog_dirs([tmp_path])
    assert catalog.names() == ["a", "b"]
    assert catalog.get("a").origin == str(tmp_path / "a.yaml")


def test_load_catalog_dirs_later_directory_overrides_earlier(tmp_path):
    """A later directory wins on the same name@version, like a user dir over builtins."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    write(first / "pg.yaml", "pg", "1", "postgres:15")
    write(second / "pg.yaml", "pg", "1", "postgres:16")
    assert load_catalog_dirs([first, second]).get("pg").service.image == "postgres:16"
    merged = builtin_catalog().merged(load_catalog_dirs([first]))
    assert merged.get("pg").service.image == "postgres:15"
    assert "postgres" in merged


def test_load_catalog_dirs_names_a_missing_directory(tmp_path):
    """A missing directory is a ValidationError naming it."""
    missing = tmp_path / "nope"
    with pytest.raises(ValidationError, match="nope: does not exist"):
        load_catalog_dirs([missing])


def test_load_catalog_dirs_names_the_invalid_file(tmp_path):
    """An invalid template file is a TemplateError naming the file and the problem's path."""
    (tmp_path / "bad.yaml").write_text("name: bad\nversion: '1'\nservice: {}\n")
    with pytest.raises(TemplateError) as info:
        load_catalog_dirs([tmp_path])
    assert str(tmp_path / "bad.yaml") in str(info.value)
    assert any(p.path == "service.image" for p in info.value.problems)


def test_load_catalog_dirs_reports_conflicting_files_in_one_directory(tmp_path):
    """Two files defining the same name@version differently in one directory are a conflict."""
    write(tmp_path / "a.yaml", "x", "1", "busybox:1")
    write(tmp_path / "b.yaml", "x", "1", "busybox:2")
    with pytest.raises(ConflictError, match=r"a\.yaml.*b\.yaml"):
        load_catalog_dirs([tmp_path])


def test_example_catalog_loads():
    """The busybox example catalog loads and its web app imports postgres and exports http."""
    catalog = load_catalog_dirs([EXAMPLES])
    web = catalog.get("bb-web")
    assert {i.type: i.required for i in web.imports} == {"postgres": True, "redis": False}
    assert [e.type for e in web.exports] == ["http"]
    assert catalog.get("bb-db").secrets == ("POSTGRES_PASSWORD",)

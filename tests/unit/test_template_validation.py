"""Template files: every mistake is reported with its path, and the content hash is stable."""

from __future__ import annotations

import textwrap

import pytest

from devarch_core.catalog import builtin_catalog, parse_template_text
from devarch_core.compose_import import template_to_yaml
from devarch_core.errors import TemplateError

GOOD = textwrap.dedent(
    """\
    name: pg
    version: "16.4"
    description: PostgreSQL
    service:
      image: postgres:16
      environment: {POSTGRES_USER: app, POSTGRES_DB: app, POSTGRES_PASSWORD: devarch}
      ports: ["5432"]
      volumes: ["data:/var/lib/postgresql/data"]
      healthcheck: {test: ["CMD-SHELL", "pg_isready -U app"], interval: 5s, retries: 10}
    secrets: [POSTGRES_PASSWORD]
    exports:
      - name: db
        type: postgres
        port: 5432
        env:
          DB_HOST: "${host}"
          DB_PORT: "${port}"
          DB_PASSWORD: "${env.POSTGRES_PASSWORD}"
    imports: []
    """
)

#: The same template as GOOD, written differently: block style, other key order, long forms.
REFORMATTED = textwrap.dedent(
    """\
    # comments do not matter
    version: '16.4'
    name: pg
    imports: []
    exports:
    - type: postgres
      name: db
      port: 5432
      env:
        DB_PASSWORD: ${env.POSTGRES_PASSWORD}
        DB_PORT: ${port}
        DB_HOST: ${host}
    secrets:
    - POSTGRES_PASSWORD
    service:
      healthcheck:
        retries: 10
        interval: 5s
        test:
        - CMD-SHELL
        - pg_isready -U app
      volumes:
      - {source: data, target: /var/lib/postgresql/data}
      ports:
      - container: 5432
      environment:
      - POSTGRES_PASSWORD=devarch
      - POSTGRES_DB=app
      - POSTGRES_USER=app
      image: postgres:16
    description: PostgreSQL
    """
)


def problems_of(text: str) -> dict[str, str]:
    with pytest.raises(TemplateError) as info:
        parse_template_text(text, "pg.yaml")
    assert "pg.yaml" in str(info.value)
    return {p.path: p.message for p in info.value.problems}


def test_a_good_template_parses():
    """The example template of docs/templates.md parses into its parts."""
    template = parse_template_text(GOOD, "pg.yaml")
    assert template.ref == "pg@16.4"
    assert template.service.ports[0].container == 5432
    assert template.exports[0].env["DB_HOST"] == "${host}"
    assert template.origin == "pg.yaml"


def test_unknown_top_level_key_reports_its_path():
    """An unknown top-level key is reported at that key, listing the expected ones."""
    problems = problems_of(GOOD + "exprots: []\n")
    assert "exprots" in problems
    assert "unknown key" in problems["exprots"]


def test_unknown_service_key_reports_its_path():
    """An unknown service key is reported at service.<key>."""
    problems = problems_of(
        GOOD.replace("  image: postgres:16\n", "  image: postgres:16\n  imgae: x\n")
    )
    assert "service.imgae" in problems


def test_unknown_export_key_reports_its_path():
    """An unknown key inside an export is reported at exports[0].<key>."""
    problems = problems_of(GOOD.replace("    port: 5432\n", "    port: 5432\n    prot: 1\n"))
    assert "exports[0].prot" in problems


def test_missing_image_reports_service_image():
    """A service without an image is reported at service.image."""
    problems = problems_of(GOOD.replace("  image: postgres:16\n", ""))
    assert "service.image" in problems


def test_bad_port_reports_its_index():
    """An out-of-range port is reported at service.ports[i]."""
    problems = problems_of(GOOD.replace('ports: ["5432"]', 'ports: ["5432", "70000"]'))
    assert "out of range" in problems["service.ports[1]"]


def test_non_numeric_port_reports_its_index():
    """A port that is not a number is reported at service.ports[i]."""
    problems = problems_of(GOOD.replace('ports: ["5432"]', 'ports: ["web"]'))
    assert "service.ports[0]" in problems


def test_secret_not_in_environment_reports_its_index():
    """A secret naming a variable the service does not set is reported at secrets[i]."""
    problems = problems_of(
        GOOD.replace("secrets: [POSTGRES_PASSWORD]", "secrets: [POSTGRES_PASSWORD, NOPE]")
    )
    assert "not in service.environment" in problems["secrets[1]"]


def test_unknown_reference_reports_the_export_variable():
    """An unknown ${ref} in an export's env is reported at exports[0].env.<VAR>."""
    problems = problems_of(GOOD.replace('DB_PORT: "${port}"', 'DB_PORT: "${prot}"'))
    assert "unknown reference ${prot}" in problems["exports[0].env.DB_PORT"]


def test_env_reference_to_an_unset_variable_reports_the_export_variable():
    """${env.X} naming a variable the service does not set is reported at its export variable."""
    problems = problems_of(GOOD.replace("${env.POSTGRES_PASSWORD}", "${env.PGPASSWORD}"))
    assert "exports[0].env.DB_PASSWORD" in problems


def test_every_problem_is_reported_at_once():
    """Several mistakes in one file are all reported in one error."""
    text = (
        GOOD.replace("  image: postgres:16\n", "")
        .replace('ports: ["5432"]', 'ports: ["0"]')
        .replace('DB_PORT: "${port}"', 'DB_PORT: "${nope}"')
        + "extra: 1\n"
    )
    problems = problems_of(text)
    assert {"service.image", "service.ports[0]", "exports[0].env.DB_PORT", "extra"} <= set(problems)


def test_version_must_be_present():
    """A template without a version says to add one."""
    problems = problems_of(GOOD.replace('version: "16.4"\n', ""))
    assert "version" in problems


def test_content_hash_is_stable_across_reformatting():
    """Key order, block vs flow style, list vs mapping env and long-form ports keep the hash."""
    a = parse_template_text(GOOD, "a.yaml")
    b = parse_template_text(REFORMATTED, "b.yaml")
    assert a.content_hash == b.content_hash
    assert a == b  # origin is not part of identity


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("image: postgres:16", "image: postgres:17"),
        ("POSTGRES_DB: app", "POSTGRES_DB: shop"),
        ('ports: ["5432"]', 'ports: ["5433"]'),
        ("retries: 10", "retries: 11"),
        ('version: "16.4"', 'version: "16.5"'),
        ("description: PostgreSQL", "description: Postgres"),
        ('DB_HOST: "${host}"', 'DB_HOST: "${host}x"'),
        ("imports: []", "imports: [{name: c, type: redis}]"),
    ],
)
def test_content_hash_changes_with_content(old, new):
    """Any semantic change gives a different content hash."""
    assert old in GOOD
    changed = parse_template_text(GOOD.replace(old, new), "pg.yaml")
    assert changed.content_hash != parse_template_text(GOOD, "pg.yaml").content_hash


def test_template_to_yaml_round_trips_every_builtin_template():
    """Writing a builtin template as YAML and reading it back gives the same template and hash."""
    for template in builtin_catalog():
        text = template_to_yaml(template)
        again = parse_template_text(text, "again.yaml")
        assert again == template, template.ref
        assert again.content_hash == template.content_hash
        assert template_to_yaml(again) == text


def test_template_to_yaml_is_block_style_with_literal_multiline_text():
    """The written file is block style, keeps key order and writes multi-line text literally."""
    text = template_to_yaml(builtin_catalog().get("nginx"))
    first, body = text.split("\n", 1)  # first the editor schema's modeline (docs/editors.md)
    assert first == "# yaml-language-server: $schema=.devarch/schemas/template.schema.json"
    assert body.startswith("name: nginx\nversion: '1.27'\n")
    assert "content: |" in text
    assert "{" not in text.split("content: |")[0]  # no flow mappings before the config file body

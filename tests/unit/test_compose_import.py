"""Compose import: a real compose file's services become templates; every decision is reported."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from devarch_core.catalog import parse_template_text
from devarch_core.compose_import import ComposeImport, template_to_yaml, templates_from_compose
from devarch_core.errors import NotFoundError, TemplateError

DATA = Path(__file__).resolve().parents[1] / "data" / "compose"
SHOP = (DATA / "shop.yml").read_text()
EXPECTED = DATA / "shop.expected"


@pytest.fixture(scope="module")
def shop() -> ComposeImport:
    return templates_from_compose(SHOP, origin="shop.yml")


def by_name(result: ComposeImport):
    return {t.name: t for t in result.templates}


def compose(body: str) -> str:
    return "services:\n" + textwrap.indent(textwrap.dedent(body), "  ")


def test_shop_compose_imports_match_the_golden_templates(shop):
    """Each imported service equals its reviewed golden template file, and warnings match too."""
    assert [t.name for t in shop.templates] == ["web", "db", "cache"]
    for template in shop.templates:
        golden = parse_template_text((EXPECTED / f"{template.name}.yaml").read_text(), "golden")
        assert template == golden, template.name
        assert template_to_yaml(template) == (EXPECTED / f"{template.name}.yaml").read_text()
    assert list(shop.warnings) == (EXPECTED / "warnings.txt").read_text().splitlines()


def test_import_keeps_image_ports_env_volumes_and_healthcheck(shop):
    """The web service keeps its image, container ports, list-form env, volumes and healthcheck."""
    web = by_name(shop)["web"]
    spec = web.service
    assert spec.image == "registry.example.com/shop/web:1.4.2"
    assert [(p.container, p.protocol, p.host) for p in spec.ports] == [
        (8000, "tcp", None),
        (9191, "udp", None),
    ]
    assert spec.environment["DJANGO_SETTINGS_MODULE"] == "shop.settings.dev"
    assert spec.environment["DEBUG"] == "1"
    assert {v.target: (v.source, v.type) for v in spec.volumes} == {
        "/srv/shop": ("src", "volume"),
        "/srv/shop/static": ("static", "volume"),
        "/etc/shop/nginx.conf": ("nginx-conf", "volume"),
    }
    assert spec.healthcheck is not None
    assert spec.healthcheck.test == (
        "CMD-SHELL",
        "curl -fsS http://127.0.0.1:8000/healthz || exit 1",
    )
    assert spec.healthcheck.interval == Decimal(10)
    assert spec.healthcheck.start_period == Decimal(30)
    assert spec.command == (
        "gunicorn", "shop.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3",
    )  # fmt: skip
    assert spec.working_dir == "/srv/shop"
    assert spec.restart == "unless-stopped"
    assert dict(spec.labels) == {"com.example.team": "storefront", "traefik.enable": "true"}
    assert web.origin == "compose:shop.yml#web"
    assert web.version == "1.0"


def test_import_maps_deploy_resources_and_legacy_mem_limit(shop):
    """deploy.resources limits/reservations and the legacy mem_limit become resources."""
    templates = by_name(shop)
    web = templates["web"].service.resources
    assert (web.cpu_limit, web.memory_limit, web.memory_reservation) == (
        Decimal("1.5"), 1024**3, 256 * 1024**2,
    )  # fmt: skip
    assert templates["cache"].service.resources.memory_limit == 256 * 1024**2


def test_import_drops_depends_on_and_unsupported_keys_with_warnings(shop):
    """depends_on, build, networks, extra_hosts... are dropped and named in the warnings."""
    web = by_name(shop)["web"]
    assert web.service.depends_on == ()
    warnings = "\n".join(shop.warnings)
    assert "web: dropped depends_on (cache, db)" in warnings
    assert "web: dropped unsupported keys: build, container_name, extra_hosts, networks" in warnings
    assert "cache: dropped unsupported keys: expose, networks" in warnings
    assert "web: dropped environment.SENTRY_DSN" in warnings


def test_import_skips_build_only_services_with_a_warning(shop):
    """A service without an image is skipped, not fatal, and the warning says why."""
    assert "assets" not in by_name(shop)
    assert any(w.startswith("assets: skipped") for w in shop.warnings)


def test_import_resolves_defaults_and_escaped_dollars(shop):
    """${VAR:-default} takes its default and $$ becomes a literal $ for the container's shell."""
    db = by_name(shop)["db"]
    assert db.service.environment["POSTGRES_PASSWORD"] == "shop-secret"
    assert db.service.healthcheck is not None
    assert db.service.healthcheck.test == (
        "CMD-SHELL", "pg_isready -U ${POSTGRES_USER} -d ${POSTGRES_DB}",
    )  # fmt: skip


def test_import_marks_credential_variables_as_secrets(shop):
    """Variables named like credentials become template secrets."""
    templates = by_name(shop)
    assert templates["db"].secrets == ("POSTGRES_PASSWORD",)
    assert templates["web"].secrets == ("DJANGO_SECRET_KEY",)


def test_import_merges_yaml_anchors(shop):
    """Environment entries merged from an x- anchor are kept."""
    assert by_name(shop)["db"].service.environment["TZ"] == "Europe/Berlin"


def test_bind_mounts_become_slugified_named_volumes():
    """Host paths become named volumes after their last segment, slugified, unique per template."""
    result = templates_from_compose(
        compose(
            """\
            app:
              image: busybox:1
              volumes:
                - ./My_Data:/a
                - /srv/other/my-data:/b:ro
                - .:/code
                - /var/run/docker.sock:/var/run/docker.sock
                - type: tmpfs
                  target: /run/x
            """
        ),
        origin="c.yml",
    )
    volumes = {v.target: v for v in result.templates[0].service.volumes}
    assert volumes["/a"].source == "my-data"
    assert volumes["/b"].source == "my-data-2"
    assert volumes["/b"].read_only
    assert volumes["/code"].source == "code"
    assert volumes["/var/run/docker.sock"].source == "docker-sock"
    assert volumes["/run/x"].type == "tmpfs"
    assert all(v.type in ("volume", "tmpfs") for v in volumes.values())


def test_ports_in_every_compose_form_keep_the_container_side():
    """Short, host-bound, ranged, udp and long-form ports all become container ports."""
    result = templates_from_compose(
        compose(
            """\
            app:
              image: busybox:1
              ports:
                - 80
                - "8443:443"
                - "127.0.0.1:5353:53/udp"
                - "7000-7002"
                - target: 9000
                  published: 19000
                  protocol: tcp
            """
        ),
        origin="c.yml",
    )
    ports = [p.key for p in result.templates[0].service.ports]
    assert ports == ["53/udp", "80/tcp", "443/tcp", "7000/tcp", "7001/tcp", "7002/tcp", "9000/tcp"]
    assert all(p.host is None for p in result.templates[0].service.ports)


def test_environment_mapping_form_and_string_healthcheck():
    """Mapping-form env (numbers, booleans) is kept as text; a string test becomes CMD-SHELL."""
    result = templates_from_compose(
        compose(
            """\
            api:
              image: node:20
              environment: {PORT: 3000, DEBUG: true, NAME: api}
              healthcheck:
                test: wget -q -O- http://127.0.0.1:3000/health
            """
        ),
        origin="c.yml",
    )
    spec = result.templates[0].service
    assert dict(spec.environment) == {"DEBUG": "true", "NAME": "api", "PORT": "3000"}
    assert spec.healthcheck is not None
    assert spec.healthcheck.test == ("CMD-SHELL", "wget -q -O- http://127.0.0.1:3000/health")


def test_disabled_healthcheck_is_dropped():
    """healthcheck.disable and test NONE leave the template without a healthcheck."""
    result = templates_from_compose(
        compose(
            """\
            a: {image: busybox:1, healthcheck: {disable: true}}
            b: {image: busybox:1, healthcheck: {test: ["NONE"]}}
            """
        ),
        origin="c.yml",
    )
    assert [t.service.healthcheck for t in result.templates] == [None, None]


def test_service_selects_one_and_names_are_slugified():
    """service= picks one service; its template name is the slugified service name."""
    text = compose(
        """\
        My_Web: {image: nginx:1.27}
        db: {image: postgres:16}
        """
    )
    result = templates_from_compose(text, origin="c.yml", service="My_Web", version="2.1")
    assert [(t.name, t.version) for t in result.templates] == [("my-web", "2.1")]


def test_unknown_service_lists_the_services():
    """Selecting a service the file does not have is a NotFoundError listing the services."""
    with pytest.raises(NotFoundError, match=r"'nope'.*defines: web, db, cache, assets"):
        templates_from_compose(SHOP, origin="shop.yml", service="nope")


def test_selecting_a_build_only_service_is_an_error():
    """Asking for a service without an image fails, naming services.<name>.image."""
    with pytest.raises(TemplateError) as info:
        templates_from_compose(SHOP, origin="shop.yml", service="assets")
    assert [p.path for p in info.value.problems] == ["services.assets.image"]


def test_invalid_values_are_reported_per_service_with_paths():
    """Values devarch cannot use are reported at services.<name>.<field>, all at once."""
    text = compose(
        """\
        a: {image: busybox:1, ports: ["99999"]}
        b: {image: busybox:1, restart: sometimes, volumes: ["data:relative/path"]}
        """
    )
    with pytest.raises(TemplateError) as info:
        templates_from_compose(text, origin="c.yml")
    paths = {p.path for p in info.value.problems}
    assert {"services.a.ports[0]", "services.b.restart", "services.b.volumes[0]"} <= paths
    assert "c.yml" in str(info.value)


def test_a_file_without_services_is_an_error():
    """A YAML file without a services mapping is a TemplateError naming the file."""
    with pytest.raises(TemplateError, match=r"c\.yml.*services"):
        templates_from_compose("version: '3'\n", origin="c.yml")


def test_bad_yaml_names_the_file_and_line():
    """Compose text that is not YAML is a TemplateError naming the file and the line."""
    with pytest.raises(TemplateError, match=r"c\.yml.*line 2"):
        templates_from_compose("services:\n\tweb: {image: busybox:1}\n", origin="c.yml")


def test_imported_templates_round_trip_through_template_yaml(shop):
    """An imported template written with template_to_yaml reads back identical."""
    for template in shop.templates:
        assert parse_template_text(template_to_yaml(template), "x.yaml") == template

"""Single-field rules: values the engine would refuse, or that would be dropped, are refused.

Issue 11, items 8, 9, 12 and 13: each rule is refused with its path on every parse path
(template, overrides and so the CLI, manifest, compose import).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_adapters.probe import SocketPortProbe
from devarch_core.compose_import import templates_from_compose
from devarch_core.errors import ValidationError
from devarch_core.manifest import Manifest
from devarch_core.overrides import Overrides
from devarch_core.spec import ServiceSpec
from devarch_core.template import Template
from devarch_core.testing import fake_devarch
from devarch_core.validators import (
    check_domain,
    check_env_name,
    check_host_ip,
    check_image,
    check_label_key,
    check_restart,
    check_user,
    check_working_dir,
    parse_port_range,
)

ROOT = Path(__file__).resolve().parents[2]

BASE_TEMPLATE: dict[str, Any] = {
    "name": "t",
    "version": "1",
    "service": {"image": "nginx:1.27", "environment": {"A": "1"}},
}


def template_problems(changes: dict[str, Any]) -> dict[str, str]:
    """Parse BASE_TEMPLATE with ``changes`` (dotted keys) and return {path: message}."""
    data = copy.deepcopy(BASE_TEMPLATE)
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    try:
        Template.from_data(data)
    except ValidationError as exc:
        return {p.path: p.message for p in exc.problems}
    return {}


def override_problems(data: object) -> dict[str, str]:
    """Parse ``data`` as instance overrides under a manifest-like path; return {path: message}."""
    try:
        Overrides.from_data(data, "instances.web.overrides")
    except ValidationError as exc:
        return {p.path: p.message for p in exc.problems}
    return {}


def compose_problems(service: str) -> dict[str, str]:
    """Import a one-service compose file (``service`` is its YAML body); return {path: message}."""
    text = "services:\n  web:\n" + "".join(f"    {line}\n" for line in service.splitlines())
    try:
        templates_from_compose(text, origin="compose.yml")
    except ValidationError as exc:
        return {p.path: p.message for p in exc.problems}
    return {}


# -- item 8: compose port ranges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "path", "message"),
    [
        ('"1-65535"', "services.web.ports[0]", "more than 100 ports are not supported"),
        ('"1-999999999"', "services.web.ports[0]", "999999999 is out of range 1-65535"),
        ('"99999999999999999999-1"', "services.web.ports[0]", "not a port number or range"),
        ('"0"', "services.web.ports[0]", "port 0 is out of range"),
        ("70000", "services.web.ports[0]", "port 70000 is out of range"),
        ('"70000:80"', "services.web.ports[0]", "host port 70000 is out of range"),
        ('"1-70000:80"', "services.web.ports[0]", "host port 70000 is out of range"),
        ('"90-80"', "services.web.ports[0]", "ends before it starts"),
        ('"80/sctp"', "services.web.ports[0]", "must be tcp or udp"),
        ("{target: 0}", "services.web.ports[0].target", "port 0 is out of range"),
        ('{target: "1-65535"}', "services.web.ports[0].target", "more than 100 ports"),
        ("{target: 80, published: 99999}", "services.web.ports[0].published", "99999"),
        ("{target: 80, published: [1]}", "services.web.ports[0].published", "got a list"),
        ("[80]", "services.web.ports[0]", "expected a port, got a list"),
    ],
)
def test_compose_ports_out_of_range_are_refused_with_their_path_at_once(port, path, message):
    """Every compose port number (container and host side) is 1-65535; ranges are bounded."""
    start = time.monotonic()
    problems = compose_problems(f"image: nginx\nports: [{port}]")
    assert time.monotonic() - start < 0.5
    assert path in problems, problems
    assert message in problems[path]


def test_compose_ports_not_a_list_are_refused():
    """`ports: 80` was silently ignored; it is refused with its path."""
    assert "services.web.ports" in compose_problems("image: nginx\nports: 80")


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ('"8000-8002"', [8000, 8001, 8002]),
        ('"9000-9001:80-81"', [80, 81]),
        ('"127.0.0.1:5000-5001:5000-5001/udp"', [5000, 5001]),
        ('{target: 53, published: "1053-1054", protocol: udp}', [53]),
    ],
)
def test_small_compose_port_ranges_become_one_port_each(port, expected):
    """A range of at most MAX_PORT_RANGE ports is checked, then expanded into container ports."""
    result = templates_from_compose(
        f"services:\n  web:\n    image: nginx\n    ports: [{port}]\n", origin="c.yml"
    )
    assert [p.container for p in result.templates[0].service.ports] == expected


def test_the_largest_allowed_range_is_accepted_and_one_more_is_refused():
    """The limit is exact: 100 ports pass, 101 are refused."""
    assert parse_port_range("1000-1099") == (1000, 1099)
    with pytest.raises(ValueError, match="101 ports"):
        parse_port_range("1000-1100")


# -- item 9: host ip literals --------------------------------------------------------------------

BAD_IPS = ["not-an-ip", "; rm -rf /", "localhost", "256.1.1.1", "1.2.3", "fe80::1%eth0", ""]


@pytest.mark.parametrize("ip", [i for i in BAD_IPS if i])
def test_template_host_ip_must_be_an_ip_literal(ip):
    """A template's long-form port host_ip is an IP literal, refused with its path otherwise."""
    problems = template_problems({"service.ports": [{"container": 80, "host_ip": ip}]})
    assert (
        "not an IP address" in problems["service.ports[0].host_ip"]
        or "zone" in (problems["service.ports[0].host_ip"])
    )


@pytest.mark.parametrize("ip", ["not-an-ip", "localhost", "999.0.0.1"])
def test_template_short_port_host_ip_is_checked_even_though_it_is_ignored(ip):
    """`IP:HOST:CONTAINER` in a template: the host side is dropped, but a bad value is refused."""
    problems = template_problems({"service.ports": [f"{ip}:8080:80"]})
    assert "not an IP address" in problems["service.ports[0]"]


@pytest.mark.parametrize("ip", [i for i in BAD_IPS if i])
def test_override_host_ip_must_be_an_ip_literal(ip):
    """Overrides (manifest, --set, --from-yaml all go through them) refuse a non-IP host_ip."""
    problems = override_problems({"ports": [{"container": 80, "host": 18080, "host_ip": ip}]})
    assert "instances.web.overrides.ports[0].host_ip" in problems


def test_override_short_port_host_ip_must_be_an_ip_literal():
    """The short form `IP:HOST:CONTAINER` of an override is checked too."""
    problems = override_problems({"ports": ["not-an-ip:18080:80"]})
    assert "not an IP address" in problems["instances.web.overrides.ports[0]"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("::1", "::1"), ("[::1]", "::1"),  # noqa: S104
     ("0:0:0:0:0:0:0:1", "::1")],
)  # fmt: skip
def test_good_host_ips_are_kept_normalized(given, stored):
    """IPv4 and IPv6 literals (brackets optional) are accepted and stored in canonical form."""
    overrides = Overrides.from_data({"ports": [{"container": 80, "host_ip": given}]})
    assert overrides.ports[0].host_ip == stored


def test_manifest_host_ip_is_refused_with_the_instance_path():
    """Through a manifest the path names the instance: instances.web.overrides.ports[0].host_ip."""
    data = {
        "version": 1,
        "stack": {"name": "shop"},
        "instances": {
            "web": {
                "template": "bb-web",
                "overrides": {"ports": [{"container": 80, "host_ip": "; rm -rf /"}]},
            }
        },
    }
    with pytest.raises(ValidationError) as info:
        Manifest.from_data(data)
    assert "instances.web.overrides.ports[0].host_ip" in {p.path for p in info.value.problems}


@pytest.mark.parametrize(
    ("port", "path"),
    [
        ('"not-an-ip:8080:80"', "services.web.ports[0]"),
        ('{target: 80, host_ip: "; rm -rf /"}', "services.web.ports[0].host_ip"),
    ],
)
def test_compose_host_ip_must_be_an_ip_literal(port, path):
    """Compose import drops the host side but refuses a host ip that is not an IP literal."""
    problems = compose_problems(f"image: nginx\nports: [{port}]")
    assert "not an IP address" in problems[path]


def test_instance_set_refuses_a_bad_host_ip_and_leaves_the_store_unchanged():
    """The CLI's --set delta goes through the same override parse; nothing is written."""
    devarch = fake_devarch(load_catalog_dirs([ROOT / "examples" / "catalog"]))
    devarch.create_stack("shop")
    devarch.add_instance("shop", "web", "bb-web")
    before = devarch.export_yaml("shop")
    with pytest.raises(ValidationError, match="not an IP address"):
        devarch.set_overrides(
            "shop", "web", {"ports": [{"container": 80, "host": 18080, "host_ip": "not-an-ip"}]}
        )
    assert devarch.export_yaml("shop") == before


def test_the_port_probe_never_resolves_a_host_name():
    """A host ip stored before the check existed is refused by the probe, never looked up."""
    with pytest.raises(ValidationError, match="not an IP address"):
        SocketPortProbe().is_free("not-an-ip.invalid", 18080)


# -- item 12: names and references ---------------------------------------------------------------

EVIL_PREFIX = "LD_PRELOAD=/tmp/evil.so "


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        # environment names (imports, exports, secrets, the service's own)
        ({"imports": [{"name": "db", "type": "pg", "prefix": EVIL_PREFIX}]}, "imports[0].prefix",
         "not a valid environment variable name prefix"),
        ({"imports": [{"name": "db", "type": "pg", "prefix": "1X_"}]}, "imports[0].prefix",
         "prefix"),
        ({"imports": [{"name": "db", "type": "pg", "rename": {"A B": "C"}}]},
         "imports[0].rename.A B", "not a valid environment variable name"),
        ({"imports": [{"name": "db", "type": "pg", "rename": {"URL": "LD_PRELOAD=x"}}]},
         "imports[0].rename.URL", "not a valid environment variable name"),
        ({"exports": [{"name": "e", "type": "t", "env": {"X=Y": "v"}}]}, "exports[0].env.X=Y",
         "not a valid environment variable name"),
        ({"secrets": ["BAD NAME"]}, "secrets[0]", "not a valid environment variable name"),
        ({"service.environment": {"A B": "1"}}, "service.environment.A B",
         "not a valid environment variable name"),
        ({"service.environment": ["9LIVES=1"]}, "service.environment.9LIVES", "not a valid"),
        ({"exports": [{"name": "e", "type": "t", "port": 99999}]}, "exports[0].port",
         "port 99999 is out of range"),
        ({"exports": [{"name": "e", "type": "t", "port": 0}]}, "exports[0].port",
         "port 0 is out of range"),
        # image, user, working_dir, domains, labels, restart
        ({"service.image": "Nginx:1"}, "service.image", "must be lowercase"),
        ({"service.image": "nginx 1"}, "service.image", "spaces or control characters"),
        ({"service.image": "nginx:\n1"}, "service.image", "not a valid image reference"),
        ({"service.image": "nginx::1"}, "service.image", "not a valid image reference"),
        ({"service.image": "nginx@sha256:xyz"}, "service.image", "not a valid image reference"),
        ({"service.user": "root; id"}, "service.user", "not a user"),
        ({"service.user": "a:b:c"}, "service.user", "not a user"),
        ({"service.working_dir": "app"}, "service.working_dir", "absolute path"),
        ({"service.working_dir": "/app\0x"}, "service.working_dir", "NUL"),
        ({"service.domains": ["bad domain"]}, "service.domains[0]", "not a domain name"),
        ({"service.domains": ["-x.test"]}, "service.domains[0]", "not a domain name"),
        ({"service.domains": ["a" * 64 + ".test"]}, "service.domains[0]", "not a domain name"),
        ({"service.depends_on": ["Bad_Name"]}, "service.depends_on[0]", "not an instance name"),
        ({"service.labels": {"a b": "x"}}, "service.labels.a b", "not a valid label key"),
        ({"service.labels": {"a=b": "x"}}, "service.labels.a=b", "not a valid label key"),
        ({"service.labels": ["devarch.owner=x"]}, "service.labels.devarch.owner", "reserved"),
        ({"service.restart": "sometimes"}, "service.restart", "must be one of"),
        ({"service.restart": "always:3"}, "service.restart", "must be one of"),
        ({"service.restart": "on-failure:x"}, "service.restart", "must be one of"),
        ({"service.restart": "on-failure:99999"}, "service.restart", "at most 10000"),
        # healthcheck numbers, sizes, CPUs
        ({"service.healthcheck": {"test": "true", "retries": -1}}, "service.healthcheck.retries",
         "out of range"),
        ({"service.healthcheck": {"test": "true", "retries": 10**9}},
         "service.healthcheck.retries", "out of range"),
        ({"service.healthcheck": {"test": "true", "retries": 1.5}},
         "service.healthcheck.retries", "expected an integer"),
        ({"service.healthcheck": {"test": "true", "interval": "10us"}},
         "service.healthcheck.interval", "minimum of 1ms"),
        ({"service.healthcheck": {"test": "true", "timeout": "999h"}},
         "service.healthcheck.timeout", "maximum of 24h"),
        ({"service.resources": {"memory_limit": "1m"}}, "service.resources.memory_limit",
         "minimum of 6m"),
        ({"service.resources": {"memory_limit": "9999t"}}, "service.resources.memory_limit",
         "maximum"),
        ({"service.resources": {"cpu_limit": "1e30"}}, "service.resources.cpu_limit", "maximum"),
        ({"service.resources": {"cpu_limit": 2000}}, "service.resources.cpu_limit", "maximum"),
    ],
)  # fmt: skip
def test_template_fields_the_engine_would_refuse_are_refused_with_their_path(
    changes, path, message
):
    """Each single-field rule, in a template, names the field and says why."""
    problems = template_problems(changes)
    assert path in problems, problems
    assert message in problems[path]


@pytest.mark.parametrize(
    "changes",
    [
        {"imports": [{"name": "db", "type": "pg", "prefix": "CACHE_", "rename": {"U": "V"}}]},
        {"service.environment": {"discovery.type": "single-node", "_X": "1"}},
        {"service.image": "registry.local:5000/team/api:dev"},
        {"service.image": "localhost:5000/a/b-c__d.e:1.0-rc_1"},
        {"service.image": "postgres@sha256:" + "a" * 64},
        {"service.image": "[::1]:5000/app:1"},
        {"service.user": "1000:1000"},
        {"service.user": "www-data"},
        {"service.user": 1000},
        {"service.working_dir": "/srv/app"},
        {"service.domains": ["shop.test", "API.Shop.test", "localhost"]},
        {"service.labels": {"traefik.http.routers.x.rule": "Host(`a`)"}},
        {"service.restart": "on-failure:5"},
        {"service.restart": "unless-stopped"},
        {"service.healthcheck": {"test": "true", "retries": 0, "interval": "0s"}},
        {"service.resources": {"cpu_limit": 1024, "memory_limit": "1024t"}},
    ],
)
def test_values_the_engine_accepts_still_parse(changes):
    """The rules are not stricter than the engine for values real templates use."""
    assert template_problems(changes) == {}


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"image": "Bad Image"}, "instances.web.overrides.image", "not a valid image reference"),
        ({"user": "a b"}, "instances.web.overrides.user", "not a user"),
        ({"working_dir": "rel"}, "instances.web.overrides.working_dir", "absolute"),
        ({"restart": "always:2"}, "instances.web.overrides.restart", "must be one of"),
        ({"environment": {"LD_PRELOAD=x": "1"}}, "instances.web.overrides.environment.LD_PRELOAD=x",
         "not a valid environment variable name"),
        ({"secrets": ["A B"]}, "instances.web.overrides.secrets[0]", "not a valid"),
        ({"labels": {"a\tb": "x"}}, "instances.web.overrides.labels.'a\\tb'", "label key"),
        ({"domains": ["bad_domain!"]}, "instances.web.overrides.domains[0]", "not a domain"),
        ({"domains": [{"domain": "x y", "remove": True}]},
         "instances.web.overrides.domains[0].domain", "not a domain"),
        ({"depends_on": ["Web"]}, "instances.web.overrides.depends_on[0]", "instance name"),
        ({"healthcheck": {"test": "true", "retries": -3}},
         "instances.web.overrides.healthcheck.retries", "out of range"),
        ({"resources": {"cpu_limit": "5000"}}, "instances.web.overrides.resources.cpu_limit",
         "maximum"),
    ],
)  # fmt: skip
def test_override_fields_follow_the_same_rules(data, path, message):
    """Overrides (and so the CLI's --set) call the same rule as templates."""
    problems = override_problems(data)
    assert path in problems, problems
    assert message in problems[path]


def test_manifest_secret_placeholder_variable_must_be_an_environment_name():
    """A `${secret:...}` variable is checked before it is taken out of the environment."""
    data = {
        "version": 1,
        "stack": {"name": "shop"},
        "instances": {
            "web": {
                "template": "bb-web",
                "overrides": {"environment": {"LD_PRELOAD=x": "${secret:PW}"}},
            }
        },
    }
    with pytest.raises(ValidationError) as info:
        Manifest.from_data(data)
    paths = {p.path for p in info.value.problems}
    assert "instances.web.overrides.environment.LD_PRELOAD=x" in paths


@pytest.mark.parametrize("name", ["A B", "X=Y", "", "1A", "A\n"])
def test_secret_set_refuses_names_that_are_not_environment_names(name):
    """`devarch secret set` checks the name with the same rule; nothing is stored."""
    devarch = fake_devarch(load_catalog_dirs([ROOT / "examples" / "catalog"]))
    devarch.create_stack("shop")
    devarch.add_instance("shop", "web", "bb-web")
    with pytest.raises(ValidationError, match="invalid secret name"):
        devarch.set_secret("shop", "web", name, "value")
    assert devarch.list_secrets("shop") == []


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (check_env_name, "A" * 300),
        (check_image, "a" * 2000),
        (check_domain, "a." * 200),
        (check_label_key, "k" * 2000),
        (check_user, "u" * 2000),
        (check_restart, "x" * 2000),
        (check_host_ip, "x" * 2000),
        (check_working_dir, "/" + "x" * 5000),
    ],
)
def test_refusals_never_repeat_an_unbounded_value(check, value):
    """Messages quote at most a bounded prefix of the offending value."""
    with pytest.raises(ValueError, match=r"\w") as info:
        check(value)
    assert len(str(info.value)) < 300


# -- item 13: values silently dropped or stringified ---------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"service.depends_on": [["db"]]}, "service.depends_on[0]"),
        ({"service.depends_on": [5]}, "service.depends_on[0]"),
        ({"service.domains": [["a.test"]]}, "service.domains[0]"),
        ({"service.domains": [{"a": 1}]}, "service.domains[0]"),
        ({"service.deploy": "x"}, "service.deploy"),
        ({"service.deploy": {"resources": ["x"]}}, "service.deploy.resources"),
        ({"service.deploy": {"resources": {"limits": "1"}}}, "service.deploy.resources.limits"),
        ({"imports": [{"name": "db", "type": "pg", "rename": {"URL": ["DB_URL"]}}]},
         "imports[0].rename.URL"),
        ({"imports": [{"name": "db", "type": "pg", "rename": {"URL": 5}}]},
         "imports[0].rename.URL"),
        ({"secrets": [["A"]]}, "secrets[0]"),
        ({"secrets": [1]}, "secrets[0]"),
        ({"version": 16.10}, "version"),
        ({"service.user": 1.5}, "service.user"),
    ],
)  # fmt: skip
def test_template_values_are_never_stringified_or_dropped(changes, path):
    """Lists, mappings and floats where a name or text belongs are refused, not str()-ed."""
    assert path in template_problems(changes)


def test_float_versions_are_refused_once_with_a_hint_to_quote():
    """`version: 16.10` would silently become "16.1"; one problem says to quote it."""
    problems = template_problems({"version": 16.10})
    assert problems == {
        "version": "expected a version string, got a number; quote it (YAML reads 16.10 as 16.1)"
    }


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"secrets": [1]}, "instances.web.overrides.secrets[0]"),
        ({"secrets": [["A"]]}, "instances.web.overrides.secrets[0]"),
        ({"depends_on": [["db"]]}, "instances.web.overrides.depends_on[0]"),
        ({"domains": [["a.test"]]}, "instances.web.overrides.domains[0]"),
        ({"image": 1.5}, "instances.web.overrides.image"),
    ],
)
def test_override_values_are_never_stringified_or_dropped(data, path):
    """Non-string secret names were silently dropped; now every such entry is refused."""
    assert path in override_problems(data)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ("image: nginx\nenvironment: [5]", "services.web.environment[0]"),
        ("image: nginx\nlabels: [[a]]", "services.web.labels[0]"),
        ("image: nginx\nvolumes: [{type: volume, source: [a], target: /d}]",
         "services.web.volumes[0].source"),
        ('image: nginx\nvolumes: [{source: a, target: /d, read_only: "false"}]',
         "services.web.volumes[0].read_only"),
        ("image: nginx\nvolumes: /data", "services.web.volumes"),
        ("image: nginx\nhealthcheck: x", "services.web.healthcheck"),
        ("image: nginx\ndeploy: x", "services.web.deploy"),
        ("image: nginx\ndeploy: {resources: [x]}", "services.web.deploy.resources"),
        ("image: nginx\ndepends_on: 5", "services.web.depends_on"),
    ],
)  # fmt: skip
def test_compose_values_are_never_stringified_or_dropped(body, path):
    """Compose import refuses values it used to str() or ignore, naming the compose path."""
    assert path in compose_problems(body)


def test_a_service_spec_refuses_deploy_that_is_not_a_mapping():
    """ServiceSpec.from_compose (the Python API) applies the same rule."""
    with pytest.raises(ValidationError, match=r"service\.deploy: expected a mapping"):
        ServiceSpec.from_compose({"image": "nginx", "deploy": "x"})

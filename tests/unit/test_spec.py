"""Parsing a template's service definition: Compose forms normalize, every problem has a path."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from tests.strategies import service_data

from devarch_core.errors import TemplateError, ValidationError
from devarch_core.spec import ConfigFile, Healthcheck, PortSpec, Resources, ServiceSpec, VolumeSpec
from devarch_core.template import Template


def problems_of(service: Any) -> dict[str, str]:
    """Parse a service expecting a ValidationError; return its problems as path -> message."""
    with pytest.raises(ValidationError) as caught:
        ServiceSpec.from_compose(service)
    found: dict[str, str] = {}
    for problem in caught.value.problems:
        found[problem.path] = "; ".join(filter(None, (found.get(problem.path), problem.message)))
    return found


def test_every_problem_of_a_service_is_reported_at_once() -> None:
    """One bad service yields one ValidationError naming every mistake and where it is."""
    found = problems_of(
        {
            "image": "",
            "networkz": ["x"],
            "restart": "sometimes",
            "environment": ["GOOD=1", "BAD NAME=2", "=nameless"],
            "labels": {"devarch.owner": "me"},
            "ports": ["http", 0, "70000", "80", {"target": 80}, "8000-8010"],
            "volumes": ["data:relative", "a:b:c:d", "data:/x", "other:/x"],
            "healthcheck": {"test": ["RUN", "x"], "interval": "soon", "retries": "many"},
            "resources": {"cpu_limit": "1", "cpu_reservation": "2", "memory_limit": "tiny"},
            "config_files": [
                {"path": "etc/app.conf", "content": ""},
                {"path": "/etc/../shadow", "content": ""},
                {"path": "/etc/a", "mode": "rw"},
            ],
        }
    )
    assert set(found) == {
        "service.image",
        "service.networkz",
        "service.restart",
        "service.environment.BAD NAME",
        "service.environment",
        "service.labels.devarch.owner",
        "service.ports[0]",
        "service.ports[1]",
        "service.ports[2]",
        "service.ports[4]",
        "service.ports[5]",
        "service.volumes[0]",
        "service.volumes[1]",
        "service.volumes[3]",
        "service.healthcheck.test",
        "service.healthcheck.interval",
        "service.healthcheck.retries",
        "service.resources",
        "service.resources.memory_limit",
        "service.config_files[0].path",
        "service.config_files[1].path",
        "service.config_files[2].mode",
    }
    assert "required" in found["service.image"]
    assert "out of range" in found["service.ports[1]"]
    assert "out of range" in found["service.ports[2]"]
    assert "listed twice" in found["service.ports[4]"]
    assert "must be an absolute path" in found["service.volumes[0]"]
    assert "mounted twice" in found["service.volumes[3]"]
    assert "cpu_reservation 2 is above cpu_limit 1" in found["service.resources"]
    assert "reserved" in found["service.labels.devarch.owner"]
    assert "'..'" in found["service.config_files[1].path"]


@pytest.mark.parametrize(
    ("service", "path", "fragment"),
    [
        ({"image": "x", "ports": ["80/sctp"]}, "service.ports[0]", "tcp or udp"),
        (
            {"image": "x", "ports": [{"published": 80}]},
            "service.ports[0]",
            "needs a container port",
        ),
        (
            {"image": "x", "ports": [{"target": 80, "mode": "host", "extra": 1}]},
            "service.ports[0].extra",
            "unknown key",
        ),
        ({"image": "x", "volumes": ["data:/x:rx"]}, "service.volumes[0]", "ro or rw"),
        ({"image": "x", "volumes": ["Bad_Volume:/x"]}, "service.volumes[0]", "lowercase DNS label"),
        (
            {"image": "x", "volumes": [{"source": "data"}]},
            "service.volumes[0].target",
            "needs a target",
        ),
        (
            {"image": "x", "volumes": [{"target": "rel", "type": "tmpfs"}]},
            "service.volumes[0]",
            "absolute",
        ),
        (
            {"image": "x", "healthcheck": {"test": []}},
            "service.healthcheck.test",
            "list of strings",
        ),
        ({"image": "x", "healthcheck": "pg_isready"}, "service.healthcheck", "expected a mapping"),
        (
            {"image": "x", "resources": {"memory_limit": "64m", "memory_reservation": "128m"}},
            "service.resources",
            "memory_reservation 128m is above memory_limit 64m",
        ),
        (
            {
                "image": "x",
                "deploy": {"resources": {"limits": {"cpus": "0.5"}, "reservations": {"cpus": "1"}}},
            },
            "service.resources",
            "cpu_reservation 1 is above cpu_limit 0.5",
        ),
        (
            {"image": "x", "resources": {"memory_limit": "1m"}},
            "service.resources.memory_limit",
            "minimum of 6m",
        ),
        ({"image": "x", "resources": {"gpus": 1}}, "service.resources.gpus", "unknown key"),
        (
            {"image": "x", "environment": {"A B": "1"}},
            "service.environment.A B",
            "not a valid environment variable",
        ),
        ({"image": "x", "environment": ["A=1", 2]}, "service.environment[1]", "NAME=value"),
        (
            {"image": "x", "config_files": [{"path": "relative.conf"}]},
            "service.config_files[0].path",
            "absolute",
        ),
        (
            {"image": "x", "config_files": [{"path": "/a/../../etc/passwd"}]},
            "service.config_files[0].path",
            "'..'",
        ),
        ({"image": "x", "command": {"sh": "-c"}}, "service.command", "list of strings or a string"),
        ("just-a-string", "service", "expected a mapping"),
    ],
)
def test_bad_service_values_are_reported_with_their_path(
    service: Any, path: str, fragment: str
) -> None:
    """Each kind of bad value names the exact field and says what is wrong with it."""
    found = problems_of(service)
    assert path in found, found
    assert fragment in found[path]


SHORT_FORM = {
    "image": "postgres:16",
    "command": "postgres -c 'shared_buffers=256MB'",
    "environment": ["POSTGRES_USER=app", "POSTGRES_DB=app", "EMPTY="],
    "labels": ["com.example.team=data"],
    "ports": ["5432", "8080:80", "127.0.0.1:5353:53/udp", 9187],
    "volumes": ["data:/var/lib/postgresql/data/", "/etc/pg:/etc/pg:ro", "/scratch"],
    "depends_on": ["backup", "cache"],
    "healthcheck": {"test": "pg_isready -U app", "interval": "5s", "start_period": 60},
    "deploy": {
        "resources": {
            "limits": {"cpus": "0.50", "memory": "512M"},
            "reservations": {"memory": "128m"},
        }
    },
    "config_files": [{"path": "/etc/pg/extra.conf", "content": "x=1\n", "mode": 0o640}],
}
LONG_FORM = {
    "image": "postgres:16",
    "command": ["postgres", "-c", "shared_buffers=256MB"],
    "environment": {"POSTGRES_USER": "app", "POSTGRES_DB": "app", "EMPTY": ""},
    "labels": {"com.example.team": "data"},
    "ports": [
        {"target": 5432},
        {"target": 80, "published": 8080},
        {"container": 53, "protocol": "udp"},
        {"container": 9187, "protocol": "tcp"},
    ],
    "volumes": [
        {"type": "volume", "source": "data", "target": "/var/lib/postgresql/data"},
        {"type": "bind", "source": "/etc/pg", "target": "/etc/pg", "read_only": True},
        {"target": "/scratch"},
    ],
    "depends_on": {
        "cache": {"condition": "service_started"},
        "backup": {"condition": "service_healthy"},
    },
    "healthcheck": {
        "test": ["CMD-SHELL", "pg_isready -U app"],
        "interval": 5,
        "start_period": "1m",
    },
    "resources": {"cpu_limit": "0.5", "memory_limit": "512m", "memory_reservation": "128m"},
    "config_files": [{"path": "/etc/pg/extra.conf", "content": "x=1\n", "mode": "0640"}],
}


def test_compose_short_and_long_forms_normalize_to_the_same_spec() -> None:
    """Compose short and long spellings of every field give one ServiceSpec and one hash."""
    short, long = ServiceSpec.from_compose(SHORT_FORM), ServiceSpec.from_compose(LONG_FORM)
    assert short == long
    assert short.to_data() == long.to_data()
    hashes = {
        Template.from_data({"name": "pg", "version": "1", "service": s}).content_hash
        for s in (SHORT_FORM, LONG_FORM)
    }
    assert len(hashes) == 1


def test_normalized_spec_values() -> None:
    """The normalized spec holds container ports, absolute mounts, list tests and parsed units."""
    spec = ServiceSpec.from_compose(SHORT_FORM)
    assert spec.command == ("postgres", "-c", "shared_buffers=256MB")
    assert spec.ports == (
        PortSpec(container=53, protocol="udp"),
        PortSpec(container=80),
        PortSpec(container=5432),
        PortSpec(container=9187),
    )
    assert spec.volumes == (
        VolumeSpec(target="/etc/pg", source="/etc/pg", type="bind", read_only=True),
        VolumeSpec(target="/scratch"),
        VolumeSpec(target="/var/lib/postgresql/data", source="data"),
    )
    assert spec.healthcheck == Healthcheck(
        test=("CMD-SHELL", "pg_isready -U app"), interval=Decimal(5), start_period=Decimal(60)
    )
    assert spec.resources == Resources(
        cpu_limit=Decimal("0.5"), memory_limit=512 * 1024**2, memory_reservation=128 * 1024**2
    )
    assert spec.config_files == (
        ConfigFile(path="/etc/pg/extra.conf", content="x=1\n", mode=0o640),
    )
    assert spec.depends_on == ("backup", "cache")
    assert spec.environment == {"EMPTY": "", "POSTGRES_DB": "app", "POSTGRES_USER": "app"}


def test_a_template_ignores_host_ports_in_every_spelling() -> None:
    """Templates declare container ports: a host side, short or long, is never a pin.

    See docs/architecture.md#naming.
    """
    spec = ServiceSpec.from_compose(
        {"image": "x", "ports": ["8080:80", "0.0.0.0:9090:90", {"target": 70, "published": 7070}]}
    )
    assert [p.host for p in spec.ports] == [None, None, None]


def test_healthcheck_test_string_is_never_split() -> None:
    """A test string with spaces is one CMD-SHELL argument; a list is kept item by item."""
    spec = ServiceSpec.from_compose({"image": "x", "healthcheck": {"test": "a b  'c d'"}})
    assert spec.healthcheck is not None
    assert spec.healthcheck.test == ("CMD-SHELL", "a b  'c d'")
    spec = ServiceSpec.from_compose({"image": "x", "healthcheck": {"test": ["CMD", "a b", "c"]}})
    assert spec.healthcheck is not None
    assert spec.healthcheck.to_data()["test"] == ["CMD", "a b", "c"]


def test_disabled_healthcheck_in_a_template_means_none() -> None:
    """Compose's {disable: true} leaves the service without a healthcheck."""
    assert (
        ServiceSpec.from_compose({"image": "x", "healthcheck": {"disable": True}}).healthcheck
        is None
    )


def test_environment_list_entry_without_value_is_dropped() -> None:
    """A bare NAME in a Compose environment list (meaning: from the host) sets nothing."""
    assert ServiceSpec.from_compose({"image": "x", "environment": ["A", "B=2"]}).environment == {
        "B": "2"
    }


def test_template_errors_carry_template_paths() -> None:
    """Template parsing reports service problems under service.* together with its own."""
    with pytest.raises(TemplateError) as caught:
        Template.from_data(
            {
                "name": "Bad Name",
                "service": {"image": "x", "ports": [0], "environment": {"A": "1"}},
                "secrets": ["MISSING"],
            },
            origin="catalog/bad.yaml",
        )
    paths = {p.path for p in caught.value.problems}
    assert paths == {"name", "version", "service.ports[0]", "secrets[0]"}
    assert "catalog/bad.yaml" in str(caught.value)


@settings(deadline=None)
@given(service_data())
def test_canonical_service_data_parses_back_equal(data: dict[str, Any]) -> None:
    """A parsed service's canonical data parses to the same spec (the catalog and store format)."""
    spec = ServiceSpec.from_compose(data)
    assert ServiceSpec.from_compose(spec.to_data()) == spec
    assert ServiceSpec.from_compose(spec.to_data()).to_data() == spec.to_data()

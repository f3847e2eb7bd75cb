"""Parsing instance overrides (the manifest form): every problem reported at once, with its path."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from devarch_core.errors import ValidationError
from devarch_core.overrides import Overrides, PortOverride, VolumeOverride
from devarch_core.spec import Healthcheck, Resources


def problems_of(data: Any, path: str = "overrides") -> dict[str, str]:
    """Parse ``data`` expecting a ValidationError; return its problems as path -> message."""
    with pytest.raises(ValidationError) as caught:
        Overrides.from_data(data, path)
    found = {p.path: p.message for p in caught.value.problems}
    assert len(found) == len(caught.value.problems), "one problem per path in these tests"
    return found


def test_empty_overrides_inherit_everything() -> None:
    """Missing and empty overrides parse to the empty Overrides, whose manifest form is empty."""
    assert Overrides.from_data(None) == Overrides()
    assert Overrides.from_data({}).is_empty()
    assert Overrides().to_data() == {}


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    """One bad document yields one ValidationError naming every mistake and where it is."""
    found = problems_of(
        {
            "imaeg": "typo",
            "restart": "sometimes",
            "environment": {"BAD NAME": "1", "A=B": "2", "OK": {"nested": 1}},
            "labels": {"devarch.owner": "me"},
            "ports": ["http", 70000, {"container": 80, "host": 0}, "8080", 8080, "1000-1002"],
            "volumes": ["relative/path", {"target": "data"}, "a:b:c:d", {"remove": True}],
            "healthcheck": {"test": 5, "interval": "soon"},
            "resources": {"cpu_limit": "lots", "memory_limit": "1k", "swap": "1g"},
            "config_files": [
                {"path": "etc/app.conf"},
                {"path": "/etc/../passwd"},
                {"content": "x"},
            ],
        },
        path="instances.web.overrides",
    )
    p = "instances.web.overrides"
    assert set(found) == {
        f"{p}.imaeg",
        f"{p}.restart",
        f"{p}.environment.BAD NAME",
        f"{p}.environment.A=B",
        f"{p}.environment.OK",
        f"{p}.labels.devarch.owner",
        f"{p}.ports[0]",
        f"{p}.ports[1]",
        f"{p}.ports[2].host",
        f"{p}.ports[4]",
        f"{p}.ports[5]",
        f"{p}.volumes[0]",
        f"{p}.volumes[1]",
        f"{p}.volumes[2]",
        f"{p}.volumes[3].target",
        f"{p}.healthcheck.test",
        f"{p}.resources.cpu_limit",
        f"{p}.resources.memory_limit",
        f"{p}.resources.swap",
        f"{p}.config_files[0].path",
        f"{p}.config_files[1].path",
        f"{p}.config_files[2].path",
    }
    assert "out of range" in found[f"{p}.ports[1]"]
    assert "out of range" in found[f"{p}.ports[2].host"]
    assert "listed twice" in found[f"{p}.ports[4]"]
    assert "ranges are not supported" in found[f"{p}.ports[5]"]
    assert "absolute" in found[f"{p}.volumes[0]"]
    assert "reserved" in found[f"{p}.labels.devarch.owner"]
    assert "'..'" in found[f"{p}.config_files[1].path"]
    assert "absolute" in found[f"{p}.config_files[0].path"]


def test_error_message_lists_every_problem() -> None:
    """The error's message names each problem on its own line, so the CLI can print it as is."""
    with pytest.raises(ValidationError) as caught:
        Overrides.from_data({"ports": [0], "volumes": ["x"]})
    message = str(caught.value)
    assert "2 problems" in message
    assert "overrides.ports[0]" in message
    assert "overrides.volumes[0]" in message


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        (
            {"ports": [{"container": 80, "protocol": "sctp"}]},
            "overrides.ports[0].protocol",
            "tcp or udp",
        ),
        ({"ports": ["80/sctp"]}, "overrides.ports[0]", "tcp or udp"),
        ({"ports": [{"host": 8080}]}, "overrides.ports[0]", "needs a container port"),
        (
            {"ports": [{"container": 80, "publish": "no"}]},
            "overrides.ports[0].publish",
            "true or false",
        ),
        ({"ports": ["99999:80"]}, "overrides.ports[0]", "host port 99999 is out of range"),
        ({"ports": "80"}, "overrides.ports", "expected a list"),
        ({"volumes": ["data:/x:rx"]}, "overrides.volumes[0]", "ro or rw"),
        ({"volumes": ["Bad_Name:/x"]}, "overrides.volumes[0]", "lowercase DNS label"),
        (
            {"volumes": [{"target": "/x", "type": "nfs"}]},
            "overrides.volumes[0].type",
            "volume, bind or tmpfs",
        ),
        (
            {"volumes": [{"target": "x/", "remove": True}]},
            "overrides.volumes[0].target",
            "absolute",
        ),
        ({"healthcheck": {"test": ["RUN", "x"]}}, "overrides.healthcheck.test", "starts with CMD"),
        (
            {"healthcheck": {"test": ["CMD", "x"], "retries": "many"}},
            "overrides.healthcheck.retries",
            "integer",
        ),
        (
            {"healthcheck": {"test": ["CMD", "x"], "timeout": "5 parsecs"}},
            "overrides.healthcheck.timeout",
            "duration",
        ),
        (
            {"healthcheck": {"test": ["CMD", "x"], "tries": 3}},
            "overrides.healthcheck.tries",
            "unknown key",
        ),
        ({"resources": {"cpu_limit": "0.001"}}, "overrides.resources.cpu_limit", "minimum"),
        ({"resources": {"cpu_limit": "0.125"}}, "overrides.resources.cpu_limit", "two decimals"),
        (
            {"resources": {"memory_reservation": "lots"}},
            "overrides.resources.memory_reservation",
            "memory size",
        ),
        ({"environment": ["A=1"]}, "overrides.environment", "expected a mapping"),
        (
            {"environment": {"": "x"}},
            "overrides.environment",
            "not a valid environment variable name",
        ),
        (
            {"config_files": [{"path": "/etc/a", "mode": "0999"}]},
            "overrides.config_files[0].mode",
            "octal",
        ),
        (
            {"config_files": [{"path": "/etc/a", "mode": 0o7777}]},
            "overrides.config_files[0].mode",
            "out of range",
        ),
        (
            {"config_files": [{"path": "/etc/a", "owner": "root"}]},
            "overrides.config_files[0].owner",
            "unknown key",
        ),
        ({"config_files": ["/etc/a"]}, "overrides.config_files[0]", "expected a mapping"),
        ({"domains": [42]}, "overrides.domains[0]", "expected a name"),
        (
            {"depends_on": [{"instance": "db", "remove": "yes"}]},
            "overrides.depends_on[0].remove",
            "true or false",
        ),
        ({"image": ["app"]}, "overrides.image", "expected a string"),
        ({"command": {"run": 1}}, "overrides.command", "list of strings or a string"),
        ({"command": "echo 'unterminated"}, "overrides.command", "cannot split"),
        ("image: app", "overrides", "expected a mapping"),
    ],
)
def test_bad_values_are_reported_with_their_path(data: Any, path: str, fragment: str) -> None:
    """Each kind of bad value names the exact field and says what is wrong with it."""
    found = problems_of(data)
    assert path in found, found
    assert fragment in found[path]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"ports": [{"container": 80, "host": 8080, "remove": True}]}, "overrides.ports[0].host"),
        (
            {"volumes": [{"target": "/x", "source": "data", "remove": True}]},
            "overrides.volumes[0].source",
        ),
        (
            {"config_files": [{"path": "/a", "content": "x", "remove": True}]},
            "overrides.config_files[0].content",
        ),
    ],
)
def test_a_removal_names_only_its_key(data: dict[str, Any], path: str) -> None:
    """A remove marker that also sets values is contradictory and reported at the extra field."""
    found = problems_of(data)
    assert "a removed entry takes only" in found[path]


def test_port_forms_pin_host_ports() -> None:
    """Short and long port forms in an override parse to the same pins."""
    short = Overrides.from_data({"ports": ["15432:5432", "0.0.0.0:8080:80", "53/udp"]})
    long = Overrides.from_data(
        {
            "ports": [
                {"container": 5432, "host": 15432},
                {"target": 80, "published": 8080, "host_ip": "0.0.0.0"},  # noqa: S104 - data
                {"container": 53, "protocol": "udp"},
            ]
        }
    )
    assert short == long
    assert short.ports == (
        PortOverride(container=53, protocol="udp"),
        PortOverride(container=80, host=8080, host_ip="0.0.0.0"),  # noqa: S104 - data
        PortOverride(container=5432, host=15432),
    )


def test_port_override_keeps_only_what_the_user_set() -> None:
    """Fields the user did not write stay None so the merge inherits them."""
    parsed = Overrides.from_data({"ports": [{"container": 80, "publish": False}, 443]})
    assert parsed.ports == (
        PortOverride(container=80, publish=False),
        PortOverride(container=443),
    )


def test_udp_and_tcp_on_one_number_are_two_ports() -> None:
    """The same number with two protocols is two entries, not a duplicate."""
    parsed = Overrides.from_data(
        {"ports": ["53", {"container": 53, "protocol": "udp", "host": 1053}]}
    )
    assert [p.key for p in parsed.ports] == ["53/tcp", "53/udp"]
    assert parsed.ports[1].host == 1053


def test_volume_forms_normalize() -> None:
    """Short and long volume forms and trailing slashes give the same keyed changes."""
    short = Overrides.from_data(
        {"volumes": ["data:/data/", "/srv/conf:/conf:ro", {"target": "/old/", "remove": True}]}
    )
    long = Overrides.from_data(
        {
            "volumes": [
                {"target": "/data", "source": "data", "type": "volume"},
                {"target": "/conf", "source": "/srv/conf", "type": "bind", "read_only": True},
                {"target": "/old", "remove": True},
            ]
        }
    )
    assert short == long
    assert short.volumes[2] == VolumeOverride(target="/old", remove=True)


def test_healthcheck_forms() -> None:
    """A string test is one CMD-SHELL item; "disable" and {disable: true} both disable it."""
    parsed = Overrides.from_data(
        {"healthcheck": {"test": "curl -f http://x/ || exit 1", "interval": "90s"}}
    )
    assert parsed.healthcheck == Healthcheck(
        test=("CMD-SHELL", "curl -f http://x/ || exit 1"), interval=Decimal(90)
    )
    assert parsed.to_data()["healthcheck"] == {
        "test": ["CMD-SHELL", "curl -f http://x/ || exit 1"],
        "interval": "1m30s",
    }
    for spelling in ("disable", {"disable": True}):
        disabled = Overrides.from_data({"healthcheck": spelling})
        assert disabled.healthcheck_disabled
        assert disabled.to_data() == {"healthcheck": "disable"}


def test_resources_override_is_partial() -> None:
    """An override may set a reservation alone; the merge checks it against the template's limit."""
    parsed = Overrides.from_data({"resources": {"memory_reservation": "2g"}})
    assert parsed.resources == Resources(memory_reservation=2 * 1024**3)
    assert parsed.to_data() == {"resources": {"memory_reservation": "2g"}}


def test_environment_values_become_text_and_null_unsets() -> None:
    """Numbers and booleans become text as Compose writes them; null stays as the unset marker."""
    parsed = Overrides.from_data(
        {"environment": {"PORT": 8080, "DEBUG": True, "RATIO": 0.5, "OLD": None}}
    )
    assert parsed.environment == {"DEBUG": "true", "OLD": None, "PORT": "8080", "RATIO": "0.5"}


def test_manifest_form_is_canonical() -> None:
    """to_data writes keys in a fixed order with sorted entries, and parses back equal."""
    data = {
        "resources": {"cpu_limit": "0.50"},
        "ports": [{"container": 443, "remove": True}, "8080:80"],
        "domains": [{"domain": "old.test", "remove": True}, "new.test"],
        "depends_on": ["mail", {"instance": "queue", "remove": True}],
        "environment": {"B": "2", "A": None},
        "image": "app:2",
        "config_files": [
            {"path": "/etc/b.conf", "remove": True},
            {"path": "/etc/a.conf", "mode": 0o600},
        ],
    }
    parsed = Overrides.from_data(data)
    assert parsed.to_data() == {
        "image": "app:2",
        "environment": {"A": None, "B": "2"},
        "ports": [{"container": 80, "host": 8080}, {"container": 443, "remove": True}],
        "domains": ["new.test", {"domain": "old.test", "remove": True}],
        "depends_on": ["mail", {"instance": "queue", "remove": True}],
        "config_files": [
            {"path": "/etc/a.conf", "mode": "0600"},
            {"path": "/etc/b.conf", "remove": True},
        ],
        "resources": {"cpu_limit": "0.5"},
    }
    assert list(parsed.to_data()) == [
        "image",
        "environment",
        "ports",
        "domains",
        "depends_on",
        "config_files",
        "resources",
    ]
    assert Overrides.from_data(parsed.to_data()) == parsed

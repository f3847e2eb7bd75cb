"""The hand-built create bodies are the very JSON the docker SDK posts for the same arguments.

Reference: the SDK call the runtime made before its writes went over the standard-library
client (``APIClient.create_container`` with ``create_host_config`` and
``create_networking_config``, ``create_network``, ``create_volume``, network connect and
disconnect), run against a fake transport that keeps what would be posted. Both sides are
compared as decoded JSON with ``None`` values dropped (the SDK leaves some inside, the engine
reads them as unset).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import attrs
import docker
import docker.types
import pytest
import requests
from docker.utils.proxy import ProxyConfig
from hypothesis import given, settings
from hypothesis import strategies as st

from devarch_adapters.docker import _bodies
from devarch_core.engine import ContainerSpec, Mount, PublishedPort
from devarch_core.secrets import Secret
from devarch_core.spec import Healthcheck, Resources

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

VERSIONS = ("1.41", "1.45")
IMAGE = "devarch-test/busybox:latest"


def _drop_none(value: object) -> object:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


class _Capture:
    """An SDK low-level client whose POSTs are kept instead of sent."""

    def __init__(self, version: str, *, proxies: bool = False) -> None:
        client = docker.APIClient(base_url="unix:///nonexistent.sock", version=version)
        self.api: Any = cast("Any", client)  # its private transport is replaced below
        if not proxies:  # not this machine's client config (tested on its own below)
            self.api._proxy_configs = ProxyConfig()
        self.posts: list[tuple[str, dict[str, Any], Any]] = []
        self.api._post = self._post

    def _post(self, url: str, **kwargs: Any) -> requests.Response:
        path = url.split("/v" + self.api._version, 1)[1]
        self.posts.append((path, dict(kwargs.get("params") or {}), json.loads(kwargs["data"])))
        response = requests.Response()
        response.status_code = 201
        response._content = b'{"Id": "0123"}'
        response.headers["Content-Type"] = "application/json"
        return response

    def last(self) -> tuple[str, dict[str, Any], object]:
        path, params, body = self.posts[-1]
        return path, params, _drop_none(body)


@pytest.fixture(params=VERSIONS)
def sdk(request: pytest.FixtureRequest) -> Iterator[_Capture]:
    capture = _Capture(request.param)
    yield capture
    capture.api.close()


def _sdk_resources(r: Resources) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if r.cpu_limit is not None:
        resources["nano_cpus"] = int(r.cpu_limit * 1_000_000_000)
    if r.cpu_reservation is not None:
        resources["cpu_shares"] = max(2, int(r.cpu_reservation * 1024))
    if r.memory_limit is not None:
        resources["mem_limit"] = r.memory_limit
    if r.memory_reservation is not None:
        resources["mem_reservation"] = r.memory_reservation
    return resources


def _sdk_healthcheck(check: Healthcheck | None) -> dict[str, Any] | None:
    if check is None:
        return None
    healthcheck: dict[str, Any] = {"test": list(check.test)}
    for key in ("interval", "timeout", "start_period"):
        value = getattr(check, key)
        if value is not None:
            healthcheck[key] = int(value * 1_000_000_000)
    if check.retries is not None:
        healthcheck["retries"] = check.retries
    return healthcheck


def _sdk_create_args(
    api: docker.APIClient, spec: ContainerSpec, *, aliases: bool = True
) -> dict[str, Any]:
    """The runtime's former ``create_container`` arguments for ``spec`` (the SDK builds them)."""
    bindings: dict[str, list[tuple[str, int]]] = {}
    for port in spec.ports:
        bindings.setdefault(f"{port.container}/{port.protocol}", []).append(
            (port.host_ip, port.host_port)
        )
    mounts = [
        docker.types.Mount(
            target=m.target, source=m.source or "", type=m.type, read_only=m.read_only
        )
        for m in spec.mounts
    ]
    restart = None
    if spec.restart is not None:
        name, _, count = spec.restart.partition(":")
        restart = {"Name": name} | ({"MaximumRetryCount": int(count)} if count else {})
    host_config = api.create_host_config(
        network_mode=spec.network,
        port_bindings={k: v[0] if len(v) == 1 else v for k, v in bindings.items()} or None,
        mounts=mounts or None,
        restart_policy=restart,
        init=spec.init,
        **_sdk_resources(spec.resources),
    )
    endpoint = api.create_endpoint_config(
        aliases=list(spec.aliases) if aliases and spec.aliases else None
    )
    return {
        "image": spec.image,
        "name": spec.name,
        "command": list(spec.command) if spec.command is not None else None,
        "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "environment": {
            k: v.reveal() if isinstance(v, Secret) else v for k, v in spec.environment.items()
        },
        "labels": dict(spec.labels),
        "working_dir": spec.working_dir,
        "user": spec.user,
        "ports": [(p.container, p.protocol) for p in spec.ports] or None,
        "healthcheck": _sdk_healthcheck(spec.healthcheck),
        "stop_signal": spec.stop_signal,
        "stop_timeout": (
            None if spec.stop_grace_period is None else math.ceil(spec.stop_grace_period)
        ),
        "host_config": host_config,
        "networking_config": api.create_networking_config({spec.network: endpoint}),  # type: ignore[arg-type]
        "detach": True,
    }


def _spec(**fields: Any) -> ContainerSpec:
    base: dict[str, Any] = {"name": "devarch-s-web", "image": IMAGE, "network": "devarch-s"}
    return ContainerSpec(**(base | fields))


CORPUS = {
    "bare": _spec(),
    "ports": _spec(
        ports=(
            PublishedPort(container=80, host_port=8080),
            PublishedPort(container=53, protocol="udp", host_ip="0.0.0.0", host_port=5353),  # noqa: S104
            PublishedPort(container=443, host_ip="::1", host_port=8443),
            # a range, expanded one port each, and one port published on two host ports
            PublishedPort(container=9000, host_port=19000),
            PublishedPort(container=9001, host_port=19001),
            PublishedPort(container=9002, host_port=19002),
            PublishedPort(container=5432, host_ip="127.0.0.1", host_port=15432),
            PublishedPort(container=5432, host_ip="192.168.1.2", host_port=25432),
        )
    ),
    "env_and_secrets": _spec(
        environment={
            "PLAIN": "x",
            "EMPTY": "",
            "SPACES": "a b=c",
            "PASSWORD": Secret("s3cr=t"),
            "UNICODE": "é😀",
        },
        labels={"devarch.stack": "s", "com.example/x": "y", "empty": ""},
    ),
    "process": _spec(
        command=("sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"),
        entrypoint=("/bin/env", "--"),
        user="1000:1000",
        working_dir="/srv/app",
        restart="unless-stopped",
        stop_signal="SIGINT",
        stop_grace_period=Decimal("2.5"),
        init=True,
    ),
    "reset_entrypoint": _spec(
        command=(), entrypoint=(), restart="on-failure:3", init=False, stop_grace_period=Decimal(0)
    ),
    "mounts": _spec(
        mounts=(
            Mount(type="volume", source="devarch-s-web-data", target="/data"),
            Mount(type="volume", source="devarch-s-cache", target="/cache", read_only=True),
            Mount(type="bind", source="/srv/devarch/s/web/app.conf", target="/etc/app.conf"),
            Mount(
                type="bind", source="/var/lib/devarch/s/web/nginx.conf", target="/n", read_only=True
            ),
            Mount(type="tmpfs", source=None, target="/run"),
        )
    ),
    "resources_all": _spec(
        resources=Resources(
            cpu_limit=Decimal("1.5"),
            cpu_reservation=Decimal("0.25"),
            memory_limit=512 * 1024 * 1024,
            memory_reservation=256 * 1024 * 1024,
        )
    ),
    "resources_tiny": _spec(
        resources=Resources(cpu_limit=Decimal("0.001"), cpu_reservation=Decimal("0.0001"))
    ),
    "resources_memory_only": _spec(resources=Resources(memory_limit=6 * 1024 * 1024)),
    "healthcheck_full": _spec(
        healthcheck=Healthcheck(
            test=("CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"),
            interval=Decimal("0.5"),
            timeout=Decimal(3),
            retries=0,
            start_period=Decimal("1.25"),
        )
    ),
    "healthcheck_test_only": _spec(healthcheck=Healthcheck(test=("CMD", "true"))),
    "healthcheck_none": _spec(healthcheck=Healthcheck(test=("NONE",))),
    "aliases": _spec(aliases=("web", "www.shop.test")),
    "restart_always": _spec(restart="always", aliases=("db",)),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
@pytest.mark.parametrize("aliases", [True, False])
def test_container_body_is_what_the_sdk_posts(sdk: _Capture, case: str, aliases: bool) -> None:
    spec = CORPUS[case]
    sdk.api.create_container(**_sdk_create_args(sdk.api, spec, aliases=aliases))
    path, params, body = sdk.last()
    assert (path, params) == ("/containers/create", {"name": spec.name})
    ours = _bodies.container_body(spec, aliases=aliases, proxy_env={})
    assert _drop_none(ours) == body
    assert json.loads(json.dumps(ours)) == ours  # plain JSON, as the wire client sends it


def _default(field: attrs.Attribute[Any]) -> object:
    default: Any = field.default
    return default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (ContainerSpec, list(CORPUS.values())),
        (Resources, [s.resources for s in CORPUS.values()]),
        (Healthcheck, [s.healthcheck for s in CORPUS.values() if s.healthcheck is not None]),
    ],
    ids=["spec", "resources", "healthcheck"],
)
def test_the_corpus_sets_every_field_the_runtime_maps(cls: type, values: list[object]) -> None:
    """Each optional field of a ContainerSpec, its Resources and Healthcheck is set somewhere."""
    fields = [f for f in attrs.fields(cls) if f.default is not attrs.NOTHING]
    unset = [f.name for f in fields if all(getattr(v, f.name) == _default(f) for v in values)]
    assert not unset, f"{cls.__name__}: {unset} never set in the corpus"


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
_decimal = st.decimals(min_value=0, max_value=100, places=3)


@st.composite
def _specs(draw: st.DrawFn) -> ContainerSpec:
    ports = draw(
        st.lists(
            st.builds(
                PublishedPort,
                container=st.integers(1, 65535),
                protocol=st.sampled_from(["tcp", "udp"]),
                host_ip=st.sampled_from(["127.0.0.1", "0.0.0.0", "::1", ""]),  # noqa: S104
                host_port=st.integers(1, 65535),
            ),
            max_size=4,
        )
    )
    mounts = draw(
        st.lists(
            st.builds(
                Mount,
                type=st.sampled_from(["volume", "bind", "tmpfs"]),
                source=st.one_of(st.none(), st.just("/srv/x"), st.just("vol")),
                target=st.just("/t") | st.just("/u"),
                read_only=st.booleans(),
            ),
            max_size=3,
        )
    )
    check = draw(
        st.none()
        | st.builds(
            Healthcheck,
            test=st.tuples(st.just("CMD"), _text),
            interval=st.none() | _decimal,
            timeout=st.none() | _decimal,
            retries=st.none() | st.integers(0, 10),
            start_period=st.none() | _decimal,
        )
    )
    resources = draw(
        st.builds(
            Resources,
            cpu_limit=st.none() | _decimal,
            cpu_reservation=st.none() | _decimal,
            memory_limit=st.none() | st.integers(0, 2**40),
            memory_reservation=st.none() | st.integers(0, 2**40),
        )
    )
    return _spec(
        environment=draw(
            st.dictionaries(
                st.from_regex(r"[A-Z_][A-Z0-9_]{0,6}", fullmatch=True),
                _text | _text.map(Secret),
                max_size=4,
            )
        ),
        labels=draw(st.dictionaries(st.from_regex(r"[a-z.]{1,8}", fullmatch=True), _text)),
        aliases=tuple(draw(st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), max_size=3))),
        ports=tuple(ports),
        mounts=tuple(mounts),
        healthcheck=check,
        resources=resources,
        command=draw(st.none() | st.lists(_text, max_size=3).map(tuple)),
        entrypoint=draw(st.none() | st.lists(_text, max_size=2).map(tuple)),
        working_dir=draw(st.none() | st.just("/w")),
        user=draw(st.none() | st.just("nobody")),
        restart=draw(st.sampled_from([None, "no", "always", "on-failure:2", "unless-stopped"])),
        stop_signal=draw(st.none() | st.just("SIGQUIT")),
        stop_grace_period=draw(st.none() | _decimal),
        init=draw(st.none() | st.booleans()),
    )


@settings(max_examples=150, deadline=None)
@given(spec=_specs(), aliases=st.booleans())
def test_any_spec_body_is_what_the_sdk_posts(spec: ContainerSpec, aliases: bool) -> None:
    sdk = _Capture("1.41")
    try:
        sdk.api.create_container(**_sdk_create_args(sdk.api, spec, aliases=aliases))
        assert _drop_none(_bodies.container_body(spec, aliases=aliases)) == sdk.last()[2]
    finally:
        sdk.api.close()


def test_proxy_variables_from_the_client_config_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK injects the client's configured proxies into every container's environment."""
    config = {
        "proxies": {
            "default": {"httpProxy": "http://proxy:3128", "noProxy": "localhost"},
            "unix:///other.sock": {"httpsProxy": "http://other:1"},
        }
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    spec = CORPUS["env_and_secrets"]
    sdk = _Capture("1.41", proxies=True)  # reads the config as it starts
    try:
        sdk.api.create_container(**_sdk_create_args(sdk.api, spec))
        proxies = _bodies.proxy_environment("unix:///nonexistent.sock")
        assert proxies == {
            "http_proxy": "http://proxy:3128",
            "HTTP_PROXY": "http://proxy:3128",
            "no_proxy": "localhost",
            "NO_PROXY": "localhost",
        }
        assert _drop_none(_bodies.container_body(spec, proxy_env=proxies)) == sdk.last()[2]
    finally:
        sdk.api.close()
    assert _bodies.proxy_environment("unix:///other.sock") == {
        "https_proxy": "http://other:1",
        "HTTPS_PROXY": "http://other:1",
    }
    (tmp_path / "config.json").write_text("not json")
    assert _bodies.proxy_environment(None) == {}


@pytest.mark.parametrize(
    "options",
    [
        {"driver": "bridge"},
        {"driver": "overlay", "attachable": True, "scope": "swarm"},
    ],
)
def test_network_body_is_what_the_sdk_posts(sdk: _Capture, options: dict[str, Any]) -> None:
    labels = {"devarch.stack": "s", "devarch.owner": "o"}
    sdk.api.create_network("devarch-s", labels=dict(labels), check_duplicate=True, **options)
    assert sdk.last() == (
        "/networks/create",
        {},
        _bodies.network_body("devarch-s", labels, options),
    )


def test_network_body_refuses_an_option_it_does_not_know() -> None:
    with pytest.raises(TypeError, match="ipam"):
        _bodies.network_body("n", {}, {"ipam": {}})


def test_volume_body_is_what_the_sdk_posts(sdk: _Capture) -> None:
    labels = {"devarch.stack": "s"}
    sdk.api.create_volume("devarch-s-data", driver="local", labels=dict(labels))
    assert sdk.last() == ("/volumes/create", {}, _bodies.volume_body("devarch-s-data", labels))


@pytest.mark.parametrize("aliases", [["web", "www"], None])
def test_connect_and_disconnect_bodies_are_what_the_sdk_posts(
    sdk: _Capture, aliases: list[str] | None
) -> None:
    sdk.api.connect_container_to_network("0123", "devarch-s", aliases=aliases)
    assert sdk.last() == (
        "/networks/devarch-s/connect",
        {},
        _bodies.connect_body("0123", aliases),
    )
    sdk.api.disconnect_container_from_network("0123", "devarch-s")
    assert sdk.last() == ("/networks/devarch-s/disconnect", {}, _bodies.disconnect_body("0123"))

"""Hypothesis strategies for templates, overrides, wire injections and stacks, shared by tests.

Import them as ``from tests.strategies import templates, overrides_data, ...``. This works without
a ``tests/__init__.py`` and without touching ``sys.path``: pytest runs with
``--import-mode=importlib`` and resolves a test module under ``tests/`` as ``tests.unit.test_x``,
registering ``tests`` as a namespace package rooted at the repository, so ``tests.strategies`` is
importable from any test (also under xdist, and from any working directory).

Names come from small shared pools so that generated overrides often hit what the template (or a
wire) already has, which is where merge rules matter. Everything a template or an override
generates is valid input: strategies build the user-facing data (Compose and manifest forms, short
and long spellings) and parse it with the real parsers, so properties exercise parsing too.

Disjoint pools (``ABSENT_*``) hold names no template or injection strategy ever produces, so an
override removing them is known to name something the template does not have.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from devarch_core.merge import WireInjection
from devarch_core.model import Instance, Stack
from devarch_core.overrides import Overrides
from devarch_core.secrets import Secret
from devarch_core.template import Template

__all__ = [
    "ABSENT_CONFIG_PATHS",
    "ABSENT_DEPENDS",
    "ABSENT_DOMAINS",
    "ABSENT_ENV",
    "ABSENT_LABELS",
    "ABSENT_PORTS",
    "ABSENT_TARGETS",
    "INSTANCE_NAME",
    "absent_removals_data",
    "injections",
    "instance_for",
    "overrides",
    "overrides_data",
    "service_data",
    "stacks",
    "template_data",
    "templates",
]

#: The instance every generated template is resolved as; no pool contains it.
INSTANCE_NAME = "web"

ENV_NAMES = ("A", "B", "DB_HOST", "DB_PASSWORD", "DEBUG", "PORT", "TOKEN")
LABEL_KEYS = ("com.example.team", "com.example.tier", "owner", "traefik.enable")
CONTAINER_PORTS = (53, 80, 443, 5432, 8080)
TARGETS = ("/data", "/var/log/app", "/etc/app", "/cache", "/srv/www")
DOMAINS = ("shop.test", "api.shop.test", "admin.shop.test")
INSTANCES = ("db", "cache", "queue", "mail")
CONFIG_PATHS = ("/etc/app/app.conf", "/etc/app/extra.conf", "/etc/nginx/conf.d/site.conf")
PROVIDERS = ("db", "cache", "queue")

ABSENT_ENV = ("GONE_1", "GONE_2")
ABSENT_LABELS = ("com.example.gone",)
ABSENT_PORTS = (60001, 60002)
ABSENT_TARGETS = ("/gone", "/var/gone")
ABSENT_DOMAINS = ("gone.test",)
ABSENT_DEPENDS = ("gone",)
ABSENT_CONFIG_PATHS = ("/etc/gone.conf",)

_TEXT = st.text(alphabet="abcXYZ019 _-=:/.'\"$", max_size=12)
_WORD = st.text(alphabet="abcdefxyz0189-_./", min_size=1, max_size=10)
_IMAGES = st.sampled_from(("app:1", "app:2", "busybox:1.36", "registry.local/team/api:dev"))
_VOLUME_NAMES = st.sampled_from(("data", "cache", "logs", "pgdata"))
_HOST_PATHS = st.sampled_from(("/srv/data", "/opt/x", "/etc/app"))
_RESTARTS = st.sampled_from(("no", "always", "on-failure", "on-failure:3", "unless-stopped"))
_DURATIONS = st.one_of(
    st.sampled_from(("5s", "1m30s", "500ms", "2m", "1h", "1500us", "1.5s")),
    st.integers(min_value=0, max_value=600),
)


def _commands() -> st.SearchStrategy[Any]:
    """Generate a command as a list (items may hold spaces) or a shell-like string."""
    return st.one_of(
        st.lists(_TEXT.filter(bool), min_size=1, max_size=4),
        st.lists(_WORD, min_size=1, max_size=3).map(" ".join),
    )


def _env_values() -> st.SearchStrategy[Any]:
    return st.one_of(_TEXT, st.integers(min_value=0, max_value=99999), st.booleans())


def _port_spec_data(ports: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """One template port in any Compose spelling (host sides are ignored in templates)."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        number = draw(st.sampled_from(ports))
        proto = draw(st.sampled_from(("tcp", "udp")))
        form = draw(st.sampled_from(("int", "short", "host", "long")))
        if form == "int" and proto == "tcp":
            return number
        if form in ("int", "short"):
            return f"{number}/{proto}" if proto == "udp" or draw(st.booleans()) else str(number)
        if form == "host":
            return f"{draw(st.integers(1024, 65535))}:{number}/{proto}"
        return {"target": number, "protocol": proto}

    return build()


def _healthcheck_data() -> st.SearchStrategy[dict[str, Any]]:
    test = st.one_of(
        st.lists(_TEXT.filter(bool), min_size=1, max_size=3).map(lambda t: ["CMD", *t]),
        st.lists(_TEXT.filter(bool), min_size=1, max_size=1).map(lambda t: ["CMD-SHELL", *t]),
        _TEXT.filter(lambda t: bool(t.strip())),
    )
    return st.fixed_dictionaries(
        {"test": test},
        optional={
            "interval": _DURATIONS,
            "timeout": _DURATIONS,
            "retries": st.integers(0, 20),
            "start_period": _DURATIONS,
        },
    )


def _resources_data() -> st.SearchStrategy[dict[str, Any]]:
    """Resources whose reservations come from the low pools and limits from the high ones.

    Whatever layer each field comes from, a merge never puts a reservation above its limit (the
    refusal of that is a golden case).
    """
    return st.fixed_dictionaries(
        {},
        optional={
            "cpu_limit": st.sampled_from(("1", "1.5", "2", "4")),
            "cpu_reservation": st.sampled_from(("0.1", "0.25", "0.5")),
            "memory_limit": st.sampled_from(("512m", "1g", "1536m", "2g")),
            "memory_reservation": st.sampled_from(("64m", "128m", "256m")),
        },
    )


#: Stop fields in the spellings users write (durations, signal names in any case, numbers).
_STOP_GRACE = st.sampled_from(("10s", "1m30s", "500ms", 30, "0s"))
_STOP_SIGNALS = st.sampled_from(("SIGTERM", "sigint", "SIGQUIT", 15, "9"))


@st.composite
def service_data(draw: st.DrawFn) -> dict[str, Any]:
    """Generate a Compose service mapping with every field devarch merges, in mixed spellings."""
    data: dict[str, Any] = {"image": draw(_IMAGES)}
    for key, strategy in (
        ("command", _commands()),
        ("entrypoint", _commands()),
        ("working_dir", st.sampled_from(("/app", "/srv", "/"))),
        ("user", st.sampled_from(("1000", "app", "1000:1000"))),
        ("restart", _RESTARTS),
        ("stop_grace_period", _STOP_GRACE),
        ("stop_signal", _STOP_SIGNALS),
        ("init", st.booleans()),
    ):
        if draw(st.booleans()):
            data[key] = draw(strategy)
    env = draw(st.dictionaries(st.sampled_from(ENV_NAMES), _env_values(), max_size=5))
    if env:
        data["environment"] = (
            [f"{k}={'true' if v is True else 'false' if v is False else v}" for k, v in env.items()]
            if draw(st.booleans())
            else env
        )
    labels = draw(st.dictionaries(st.sampled_from(LABEL_KEYS), _TEXT, max_size=3))
    if labels:
        data["labels"] = labels
    ports = draw(st.lists(_port_spec_data(CONTAINER_PORTS), max_size=4))
    data["ports"] = _unique(ports, _port_key)
    volumes = draw(st.lists(_volume_data(TARGETS), max_size=3))
    data["volumes"] = _unique(volumes, _volume_target)
    data["domains"] = draw(st.lists(st.sampled_from(DOMAINS), unique=True, max_size=2))
    data["depends_on"] = draw(st.lists(st.sampled_from(INSTANCES), unique=True, max_size=2))
    if draw(st.booleans()):
        data["healthcheck"] = draw(_healthcheck_data())
    data["config_files"] = [
        {
            "path": path,
            "content": draw(_TEXT),
            **({"mode": draw(_MODES)} if draw(st.booleans()) else {}),
        }
        for path in draw(st.lists(st.sampled_from(CONFIG_PATHS), unique=True, max_size=2))
    ]
    resources = draw(_resources_data())
    if resources:
        data["resources"] = resources
    return data


_MODES = st.sampled_from(("0644", "0600", "0640", "0755", "644"))


def _volume_data(targets: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """One mount in the short or long form: named volume, bind or tmpfs."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        target = draw(st.sampled_from(targets))
        kind = draw(st.sampled_from(("volume", "bind", "tmpfs")))
        read_only = draw(st.booleans())
        if kind == "tmpfs":
            return {"target": target, "type": "tmpfs"}
        source = draw(_VOLUME_NAMES if kind == "volume" else _HOST_PATHS)
        if draw(st.booleans()):
            return f"{source}:{target}" + (
                ":ro" if read_only else draw(st.sampled_from(("", ":rw")))
            )
        return {"target": target, "source": source, "type": kind, "read_only": read_only}

    return build()


def _port_key(item: Any) -> tuple[int, str]:
    if isinstance(item, int):
        return (item, "tcp")
    if isinstance(item, str):
        text, _, proto = item.partition("/")
        return (int(text.rsplit(":", 1)[-1]), proto or "tcp")
    return (int(item.get("container", item.get("target"))), item.get("protocol", "tcp"))


def _volume_target(item: Any) -> str:
    return item["target"] if isinstance(item, dict) else str(item.split(":")[1])


def _unique(items: list[Any], key: Any) -> list[Any]:
    seen: dict[Any, Any] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


@st.composite
def template_data(draw: st.DrawFn, *, with_secrets: bool = True) -> dict[str, Any]:
    """Generate a template file's data; some environment entries may be declared secret."""
    service = draw(service_data())
    data: dict[str, Any] = {"name": "gen", "version": "1", "service": service}
    env = service.get("environment") or {}
    names = sorted(env) if isinstance(env, dict) else sorted(e.split("=", 1)[0] for e in env)
    if with_secrets and names:
        data["secrets"] = draw(st.lists(st.sampled_from(names), unique=True, max_size=2))
    return data


def templates(*, with_secrets: bool = True) -> st.SearchStrategy[Template]:
    """Generate validated templates (parsed from generated template data)."""
    return template_data(with_secrets=with_secrets).map(Template.from_data)


@st.composite
def _port_override_data(draw: st.DrawFn) -> Any:
    """One port override in the manifest form: pin, host ip, publish off, add, or remove."""
    number = draw(st.sampled_from((*CONTAINER_PORTS, 9000)))
    proto = draw(st.sampled_from(("tcp", "udp")))
    action = draw(st.sampled_from(("pin", "pin-short", "host_ip", "publish", "add", "remove")))
    base: dict[str, Any] = {"container": number, **({"protocol": proto} if proto == "udp" else {})}
    suffix = "/udp" if proto == "udp" else ""
    host = draw(st.integers(1024, 65535))
    if action == "pin":
        return {**base, "host": host}
    if action == "pin-short":
        ip = draw(st.sampled_from(("", "0.0.0.0:", "127.0.0.2:")))
        return f"{ip}{host}:{number}{suffix}"
    if action == "host_ip":
        ips = ("0.0.0.0", "127.0.0.1", "::1")  # noqa: S104 - override data, nothing binds here
        return {**base, "host_ip": draw(st.sampled_from(ips))}
    if action == "publish":
        return {**base, "publish": draw(st.booleans())}
    if action == "add":
        return f"{number}{suffix}"
    return {**base, "remove": True}


@st.composite
def _volume_override_data(draw: st.DrawFn) -> Any:
    target = draw(st.sampled_from((*TARGETS, "/extra")))
    action = draw(st.sampled_from(("source", "read_only", "mount", "remove")))
    if action == "source":
        return {"target": target, "source": draw(_VOLUME_NAMES)}
    if action == "read_only":
        return {"target": target, "read_only": draw(st.booleans())}
    if action == "remove":
        return {"target": target + draw(st.sampled_from(("", "/"))), "remove": True}
    return draw(_volume_data((target,)))


@st.composite
def _config_file_override_data(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(st.sampled_from((*CONFIG_PATHS, "/etc/new.conf")))
    if draw(st.integers(0, 3)) == 0:
        return {"path": path, "remove": True}
    data: dict[str, Any] = {"path": path}
    if draw(st.booleans()):
        data["content"] = draw(_TEXT)
    if draw(st.booleans()) or "content" not in data:
        data["mode"] = draw(_MODES)
    return data


def _keyed_set_data(names: tuple[str, ...], key: str) -> st.SearchStrategy[list[Any]]:
    entry = st.sampled_from(names).flatmap(
        lambda n: st.sampled_from((n, {key: n}, {key: n, "remove": True}))
    )
    return st.lists(entry, max_size=3, unique_by=lambda e: e if isinstance(e, str) else e[key])


@st.composite
def overrides_data(draw: st.DrawFn) -> dict[str, Any]:  # noqa: C901 - one draw per field
    """Generate an instance's overrides in the manifest form, touching every merged field."""
    data: dict[str, Any] = {}
    for key, strategy in (
        ("image", _IMAGES),
        ("command", _commands()),
        ("entrypoint", _commands()),
        ("working_dir", st.sampled_from(("/app", "/work"))),
        ("user", st.sampled_from(("root", "2000"))),
        ("restart", _RESTARTS),
        ("stop_grace_period", _STOP_GRACE),
        ("stop_signal", _STOP_SIGNALS),
        ("init", st.booleans()),
    ):
        if draw(st.integers(0, 3)) == 0:
            data[key] = draw(strategy)
    env = draw(st.dictionaries(st.sampled_from(ENV_NAMES), st.none() | _env_values(), max_size=4))
    if env:
        data["environment"] = env
    labels = draw(st.dictionaries(st.sampled_from(LABEL_KEYS), st.none() | _TEXT, max_size=3))
    if labels:
        data["labels"] = labels
    ports = _unique(draw(st.lists(_port_override_data(), max_size=4)), _port_key)
    if ports:
        data["ports"] = ports
    volumes = _unique(draw(st.lists(_volume_override_data(), max_size=3)), _override_target)
    if volumes:
        data["volumes"] = volumes
    for key, names, item_key in (
        ("domains", DOMAINS, "domain"),
        ("depends_on", INSTANCES, "instance"),
    ):
        entries = draw(_keyed_set_data(names, item_key))
        if entries:
            data[key] = entries
    healthcheck = draw(st.integers(0, 4))
    if healthcheck == 0:
        data["healthcheck"] = draw(st.sampled_from(("disable", {"disable": True})))
    elif healthcheck == 1:
        data["healthcheck"] = draw(_healthcheck_data())
    files = draw(st.lists(_config_file_override_data(), max_size=3, unique_by=lambda f: f["path"]))
    if files:
        data["config_files"] = files
    resources = draw(_resources_data())
    if resources:
        data["resources"] = resources
    return data


def _override_target(item: Any) -> str:
    target = _volume_target(item)
    return target.rstrip("/") or "/"


def overrides() -> st.SearchStrategy[Overrides]:
    """Generate parsed overrides (from generated manifest data)."""
    return overrides_data().map(Overrides.from_data)


@st.composite
def absent_removals_data(draw: st.DrawFn) -> dict[str, Any]:
    """Generate overrides data removing only entries no generated template or wire has."""
    data: dict[str, Any] = {}
    env = draw(st.lists(st.sampled_from(ABSENT_ENV), unique=True))
    if env:
        data["environment"] = dict.fromkeys(env)
    labels = draw(st.lists(st.sampled_from(ABSENT_LABELS), unique=True))
    if labels:
        data["labels"] = dict.fromkeys(labels)
    ports = draw(st.lists(st.sampled_from(ABSENT_PORTS), unique=True))
    if ports:
        data["ports"] = [{"container": p, "remove": True} for p in ports]
    targets = draw(st.lists(st.sampled_from(ABSENT_TARGETS), unique=True))
    if targets:
        data["volumes"] = [{"target": t, "remove": True} for t in targets]
    for key, names, item_key in (
        ("domains", ABSENT_DOMAINS, "domain"),
        ("depends_on", ABSENT_DEPENDS, "instance"),
        ("config_files", ABSENT_CONFIG_PATHS, "path"),
    ):
        chosen = draw(st.lists(st.sampled_from(names), unique=True))
        if chosen:
            data[key] = [{item_key: n, "remove": True} for n in chosen]
    return data


@st.composite
def injections(draw: st.DrawFn) -> list[WireInjection]:
    """Generate what resolved wires inject: environment (some secret) from pooled providers."""
    result = []
    for provider in draw(st.lists(st.sampled_from(PROVIDERS), unique=True, max_size=2)):
        env = draw(st.dictionaries(st.sampled_from(ENV_NAMES), _TEXT, max_size=3))
        secret = draw(st.sets(st.sampled_from(sorted(env)))) if env else set()
        result.append(
            WireInjection(
                provider=provider,
                import_name=f"{provider}-import",
                environment={k: Secret(v) if k in secret else v for k, v in env.items()},
            )
        )
    return result


def stacks() -> st.SearchStrategy[Stack]:
    """Stacks with valid names and optional custom networks."""
    return st.builds(
        Stack,
        id=st.uuids().map(str),
        name=st.sampled_from(("shop", "blog", "a1")),
        network=st.none() | st.just("custom-net"),
        enabled=st.booleans(),
    )


def instance_for(stack: Stack, template: Template, overrides: Overrides) -> Instance:
    """Build the instance ``INSTANCE_NAME`` of ``template`` in ``stack`` with ``overrides``."""
    return Instance(
        id=f"{stack.id}-{INSTANCE_NAME}",
        stack_id=stack.id,
        stack=stack.name,
        name=INSTANCE_NAME,
        template=template.name,
        template_version=template.version,
        overrides=overrides,
    )

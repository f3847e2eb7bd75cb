"""The JSON bodies of the Engine API writes devarch sends, built without the docker SDK.

A cold ``apply`` on a local socket sends its creates through the standard-library client
(:mod:`devarch_adapters.docker._wire`), so importing the SDK (requests, urllib3) and
negotiating its API version are not paid on every apply. These functions build the very bodies
the SDK's ``create_container`` (with ``create_host_config`` and ``create_networking_config``),
``create_network``, ``create_volume`` and ``connect_container_to_network`` would post for the
same arguments; tests/unit/test_engine_bodies.py compares them with the SDK's own for a corpus
of specs. Every engine (local or remote) is sent these bodies.
"""

from __future__ import annotations

import json
import math
import os
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from devarch_core.secrets import Secret

if TYPE_CHECKING:
    from collections.abc import Mapping

    from devarch_core.engine import ContainerSpec
    from devarch_core.spec import Healthcheck, Resources

__all__ = [
    "connect_body",
    "container_body",
    "disconnect_body",
    "network_body",
    "proxy_environment",
    "volume_body",
]

#: CPU shares per reserved CPU: Docker's default weight of one container is 1024.
CPU_SHARES_PER_CPU: Final = 1024
_NANO: Final = Decimal(1_000_000_000)
#: ``create_network`` keyword arguments a runtime's network options may use, by body key.
_NETWORK_KEYS: Final = {
    "driver": "Driver",
    "options": "Options",
    "internal": "Internal",
    "attachable": "Attachable",
    "scope": "Scope",
    "ingress": "Ingress",
}


def _nanos(seconds: Decimal | None) -> int | None:
    return None if seconds is None else int(seconds * _NANO)


def _restart_policy(restart: str | None) -> dict[str, Any] | None:
    if restart is None:
        return None
    name, _, count = restart.partition(":")
    policy: dict[str, Any] = {"Name": name}
    if count:
        policy["MaximumRetryCount"] = int(count)
    return policy


def _healthcheck(check: Healthcheck | None) -> dict[str, Any] | None:
    """The container's ``Healthcheck`` (durations in nanoseconds; unset ones left out)."""
    if check is None:
        return None
    data: dict[str, Any] = {"Test": list(check.test)}
    for key, field in (("Interval", "interval"), ("Timeout", "timeout")):
        value = _nanos(getattr(check, field))
        if value is not None:
            data[key] = value
    if check.retries is not None:
        data["Retries"] = check.retries
    start = _nanos(check.start_period)
    if start is not None:
        data["StartPeriod"] = start
    return data


def _resources(resources: Resources) -> dict[str, Any]:
    """Host-config resource fields.

    ``cpu_limit`` is a hard cap (``NanoCpus``). Docker has no CPU reservation outside Swarm, so
    ``cpu_reservation`` becomes a proportional weight: ``CpuShares`` = 1024 per reserved CPU
    (a container reserving 0.5 CPU gets half the default weight when CPUs are contended).
    ``memory_reservation`` is the soft limit reclaimed under memory pressure. A zero CPU limit,
    CPU weight or memory reservation is left out (the SDK did the same: zero means unset).
    """
    host: dict[str, Any] = {}
    if resources.cpu_limit is not None and int(resources.cpu_limit * _NANO):
        host["NanoCpus"] = int(resources.cpu_limit * _NANO)
    if resources.cpu_reservation is not None:
        host["CpuShares"] = max(2, int(resources.cpu_reservation * CPU_SHARES_PER_CPU))
    if resources.memory_limit is not None:
        host["Memory"] = resources.memory_limit
    if resources.memory_reservation:
        host["MemoryReservation"] = resources.memory_reservation
    return host


def _host_config(spec: ContainerSpec) -> dict[str, Any]:
    host: dict[str, Any] = {"NetworkMode": spec.network or "default"}
    restart = _restart_policy(spec.restart)
    if restart:
        host["RestartPolicy"] = restart
    if spec.ports:
        bindings: dict[str, list[dict[str, str]]] = {}
        for port in spec.ports:
            bindings.setdefault(f"{port.container}/{port.protocol}", []).append(
                {"HostIp": port.host_ip, "HostPort": str(port.host_port)}
            )
        host["PortBindings"] = bindings
    if spec.init is not None:
        host["Init"] = spec.init
    if spec.mounts:
        host["Mounts"] = [
            {"Target": m.target, "Source": m.source or "", "Type": m.type, "ReadOnly": m.read_only}
            for m in spec.mounts
        ]
    host.update(_resources(spec.resources))
    return host


def container_body(
    spec: ContainerSpec, *, aliases: bool = True, proxy_env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The body of ``POST /containers/create?name=NAME`` for ``spec`` (secrets revealed).

    ``aliases`` False leaves the network aliases out (Podman sets them by reconnecting).
    ``proxy_env`` (:func:`proxy_environment`) goes before the spec's own variables, which win.
    """
    env = [f"{k}={v}" for k, v in (proxy_env or {}).items()]
    env += [
        f"{k}={v.reveal() if isinstance(v, Secret) else v}" for k, v in spec.environment.items()
    ]
    endpoint: dict[str, Any] = {"Aliases": list(spec.aliases)} if aliases and spec.aliases else {}
    body: dict[str, Any] = {
        "Image": spec.image,
        "Labels": dict(spec.labels),
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "NetworkDisabled": False,
        "HostConfig": _host_config(spec),
        "NetworkingConfig": {"EndpointsConfig": {spec.network: endpoint}},
    }
    optional: dict[str, Any] = {
        "Env": env or None,
        "Cmd": list(spec.command) if spec.command is not None else None,
        "Entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "WorkingDir": spec.working_dir,
        "User": spec.user,
        "ExposedPorts": {f"{p.container}/{p.protocol}": {} for p in spec.ports} or None,
        "Healthcheck": _healthcheck(spec.healthcheck),
        "StopSignal": spec.stop_signal,
        "StopTimeout": (
            None if spec.stop_grace_period is None else math.ceil(spec.stop_grace_period)
        ),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def network_body(
    name: str, labels: Mapping[str, str], options: Mapping[str, Any]
) -> dict[str, Any]:
    """The body of ``POST /networks/create``; ``options`` in ``create_network``'s words.

    The engine refuses a second network of the same name (``CheckDuplicate``).
    """
    body: dict[str, Any] = {"Name": name, "CheckDuplicate": True, "Labels": dict(labels)}
    for key, value in options.items():
        if key not in _NETWORK_KEYS:
            raise TypeError(f"unknown network option {key!r}")
        if value is not None:
            body[_NETWORK_KEYS[key]] = value
    return body


def volume_body(name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The body of ``POST /volumes/create`` for a local volume."""
    return {"Name": name, "Driver": "local", "Labels": dict(labels)}


def connect_body(container: str, aliases: list[str] | None = None) -> dict[str, Any]:
    """The body of ``POST /networks/{id}/connect`` (with the container's aliases there)."""
    return {"Container": container, "EndpointConfig": {"Aliases": aliases} if aliases else {}}


def disconnect_body(container: str) -> dict[str, Any]:
    """The body of ``POST /networks/{id}/disconnect``."""
    return {"Container": container}


def _docker_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """The docker CLI's ``config.json`` as the SDK finds it; ``{}`` when absent or unreadable."""
    paths = []
    if environ.get("DOCKER_CONFIG"):
        paths.append(os.path.join(environ["DOCKER_CONFIG"], "config.json"))  # noqa: PTH118
    home = os.path.expanduser("~")  # noqa: PTH111 - as the SDK resolves it
    paths += [os.path.join(home, ".docker", "config.json"), os.path.join(home, ".dockercfg")]  # noqa: PTH118
    for path in paths:
        if os.path.exists(path):  # noqa: PTH110
            try:
                with open(path, encoding="utf-8") as handle:  # noqa: PTH123
                    data = json.load(handle)
            except (OSError, ValueError):
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def proxy_environment(
    base_url: str | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The proxy variables the docker CLI (and SDK) give every container it creates.

    From ``proxies`` in the client's ``config.json`` (the entry for ``base_url``, else
    ``default``): ``http_proxy``/``HTTP_PROXY`` and the others; empty when none are configured.
    """
    config = _docker_config(os.environ if environ is None else environ)
    proxies = config.get("proxies") or {}
    if not isinstance(proxies, dict):
        return {}
    chosen = proxies[base_url] if base_url in proxies else proxies.get("default") or {}
    if not isinstance(chosen, dict):
        return {}
    env: dict[str, str] = {}
    for key, name in (
        ("httpProxy", "http_proxy"),
        ("httpsProxy", "https_proxy"),
        ("ftpProxy", "ftp_proxy"),
        ("noProxy", "no_proxy"),
    ):
        value = chosen.get(key)
        if value:
            env[name] = env[name.upper()] = str(value)
    return env

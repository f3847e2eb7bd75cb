"""From an effective config to the exact container the engine should run (names, labels, mounts).

This is where the isolation rules (docs/architecture.md#naming) become engine names: the
container, network and named volumes of an instance are derived from its stack and instance
names only, and every resource carries the identity labels that let devarch recognise what it owns.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from devarch_core import naming
from devarch_core._digest import sha256
from devarch_core._parsing import Problems
from devarch_core.engine import ContainerSpec, Mount, PublishedPort
from devarch_core.errors import Problem, ValidationError
from devarch_core.merge import EffectiveConfig, canonical_json
from devarch_core.ownership import owned_by  # re-exported: its home is ownership.py
from devarch_core.secrets import Secret
from devarch_core.spec import check_container_path, config_file_overlaps
from devarch_core.units import format_duration

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from devarch_core.model import PortAllocation

__all__ = [
    "config_file_relpath",
    "container_spec",
    "identity_labels",
    "network_labels",
    "owned_by",
    "spec_hash",
    "volume_labels",
]


def identity_labels(effective: EffectiveConfig, owner: str) -> dict[str, str]:
    """The labels every container devarch creates carries (docs/architecture.md#naming)."""
    return {
        naming.LABEL_MANAGED_BY: naming.MANAGED_BY,
        naming.LABEL_OWNER: owner,
        naming.LABEL_STACK_ID: effective.stack_id,
        naming.LABEL_STACK_NAME: effective.stack,
        naming.LABEL_INSTANCE_ID: effective.instance_id,
        naming.LABEL_INSTANCE_NAME: effective.instance,
        naming.LABEL_TEMPLATE_SERVICE_ID: effective.template_ref,
    }


def network_labels(stack: str, stack_id: str, owner: str) -> dict[str, str]:
    """Labels of a stack network."""
    return {**owned_by(owner, stack_id), naming.LABEL_STACK_NAME: stack}


def volume_labels(effective: EffectiveConfig, owner: str) -> dict[str, str]:
    """Labels of an instance's named volumes."""
    labels = identity_labels(effective, owner)
    labels.pop(naming.LABEL_TEMPLATE_SERVICE_ID)
    return labels


def config_file_relpath(path: str) -> str:
    """Where a config file lives in the instance directory; refuses anything escaping it.

    The container path ``/etc/app/x.conf`` lives at ``etc/app/x.conf``. The rules are those of
    :func:`~devarch_core.spec.check_container_path` (the same ones checked when a path is written).
    """
    problems = Problems()
    norm = check_container_path(path, "", problems)
    if norm is None:
        raise ValidationError(problems.items, what="invalid config file path")
    return norm.lstrip("/")


def container_spec(
    effective: EffectiveConfig,
    *,
    owner: str,
    allocations: Mapping[str, PortAllocation],
    config_dir: str | None,
) -> ContainerSpec:
    """The engine-level definition of an instance's container (without the config-hash label).

    ``allocations`` maps ``5432/tcp`` to the host port chosen for it; a published port without an
    allocation is an error of the caller. ``config_dir`` is the instance's host directory for
    config files (required when the service has any).
    """
    service = effective.service
    ports = []
    for port in service.ports:
        if not port.publish:
            continue
        allocation = allocations.get(port.key)
        host_port = (
            port.host if port.host is not None else (allocation.host_port if allocation else None)
        )
        if host_port is None:
            msg = f"no host port allocated for {effective.instance} {port.key}"
            raise ValidationError(msg)
        ports.append(
            PublishedPort(
                container=port.container,
                protocol=port.protocol,
                host_ip=port.host_ip,
                host_port=host_port,
            )
        )
    mounts = []
    for volume in service.volumes:
        if volume.type == "volume":
            source = (
                naming.volume_name(effective.stack, effective.instance, volume.source)
                if volume.source
                else None
            )
        else:
            source = volume.source
        mounts.append(
            Mount(type=volume.type, source=source, target=volume.target, read_only=volume.read_only)
        )
    if service.config_files:
        overlaps = config_file_overlaps(f.path for f in service.config_files)
        if overlaps:
            raise ValidationError(
                [Problem("", m) for m in overlaps],
                what=f"invalid config files of {effective.instance}",
            )
        if config_dir is None:
            msg = f"instance {effective.instance} has config files but no config directory"
            raise ValidationError(msg)
        for file in service.config_files:
            rel = config_file_relpath(file.path)
            mounts.append(
                Mount(
                    type="bind",
                    source=posixpath.join(config_dir, rel),
                    target=file.path,
                    read_only=True,
                )
            )
    labels = {**service.labels, **identity_labels(effective, owner)}
    return ContainerSpec(
        name=effective.container_name,
        image=service.image,
        **service.process_settings(),
        environment=dict(service.environment),
        labels=labels,
        network=effective.network,
        aliases=(effective.instance, *service.domains),
        ports=tuple(ports),
        mounts=tuple(mounts),
        healthcheck=service.healthcheck,
        resources=service.resources,
    )


def spec_data(spec: ContainerSpec, hash_secret: Callable[[str], str]) -> dict[str, Any]:
    """Canonical plain data of a container spec; secrets replaced by ``hash_secret(value)``."""
    return {
        "name": spec.name,
        "image": spec.image,
        "command": list(spec.command) if spec.command is not None else None,
        "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "working_dir": spec.working_dir,
        "user": spec.user,
        "restart": spec.restart,
        **_stop_data(spec),
        "environment": {
            k: (hash_secret(v.reveal()) if isinstance(v, Secret) else v)
            for k, v in sorted(spec.environment.items())
        },
        "labels": {k: v for k, v in spec.labels.items() if k != naming.LABEL_CONFIG_HASH},
        "network": spec.network,
        "aliases": list(spec.aliases),
        "ports": [[p.container, p.protocol, p.host_ip, p.host_port] for p in spec.ports],
        "mounts": [[m.type, m.source, m.target, m.read_only] for m in spec.mounts],
        "healthcheck": spec.healthcheck.to_data() if spec.healthcheck else None,
        "resources": spec.resources.to_data(),
    }


def _stop_data(spec: ContainerSpec) -> dict[str, Any]:
    """How the container stops, only when set (so specs without them keep their hash)."""
    data: dict[str, Any] = {
        "stop_grace_period": (
            None if spec.stop_grace_period is None else format_duration(spec.stop_grace_period)
        ),
        "stop_signal": spec.stop_signal,
        "init": spec.init,
    }
    return {k: v for k, v in data.items() if v is not None}


def spec_hash(spec: ContainerSpec, hash_secret: Callable[[str], str], extra: object = None) -> str:
    """The ``devarch.config_hash`` label: a short hash of everything that shapes the container.

    That includes ``extra``, e.g. config file contents. Secrets enter only as keyed hashes.
    """
    data = {"spec": spec_data(spec, hash_secret), "extra": extra}
    return sha256(canonical_json(data).encode()).hexdigest()[:16]

"""Docker Swarm behind the Runtime port: one replicated service per instance.

The port speaks of containers; on Swarm each one is a service named like the container
(``devarch-{stack}-{instance}``) whose tasks run it. The mapping (see docs/swarm.md):

- create: the service with 0 replicas (state ``created``); start: 1 replica, and the call returns
  once its task runs (or raises with the task's error); stop: 0 replicas (state ``exited``);
  remove: the service, its Swarm secrets and configs.
- :meth:`SwarmRuntime.update_container` changes an existing service in place: a rolling update
  that waits for the new task (healthy when it has a healthcheck) and rolls back on failure.
- networks are attachable overlay networks; services join them with the spec's aliases, in
  endpoint mode ``dnsrr`` where virtual-IP routing (IPVS) is not available (:attr:`endpoint_mode`).
- secret environment values become Swarm secrets, mounted as files and exported by a small
  ``sh`` wrapper before the image's entrypoint runs: the service spec never holds them.
- read-only bind mounts of files (devarch's config files) become Swarm configs.
- published ports use host mode: Swarm binds them on every interface of the node.
- volumes are the node's local volumes; an instance that mounts one is pinned to a node.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import docker.errors
import docker.types

from devarch_adapters.docker._bodies import _nanos
from devarch_adapters.docker.runtime import (
    DockerRuntime,
    _explain,
    _has_labels,
    _is_name_conflict,
)
from devarch_core.engine import ContainerInfo, EngineInfo, HealthStatus, PublishedPort
from devarch_core.errors import ConflictError, EngineError, NotFoundError
from devarch_core.secrets import Secret

if TYPE_CHECKING:
    from collections.abc import Mapping

    from devarch_core.engine import ContainerSpec, Mount
    from devarch_core.spec import Resources

__all__ = ["PLACEMENT_LABEL", "SERVICE_LABEL", "EndpointMode", "SwarmRuntime"]

EndpointMode = Literal["vip", "dnsrr"]

#: An instance label naming placement constraints, ``;``-separated (``node.hostname==db1``);
#: ``devarch.*`` labels are reserved for devarch, so it has its own prefix.
PLACEMENT_LABEL: Final = "swarm.placement"
#: The label tying a Swarm secret or config to the service that uses it.
SERVICE_LABEL: Final = "devarch.swarm.service"
#: Where the secret environment values are mounted in a task (one file per variable).
SECRET_DIR: Final = "/run/secrets/devarch-env"  # noqa: S105 - a path, not a secret
#: Exports every file of SECRET_DIR as a variable, then runs the real entrypoint ("$@").
#: ``$(cat f; printf x)`` keeps trailing newlines of a value; the ``x`` is cut again.
_WRAPPER: Final = (
    f'for f in {SECRET_DIR}/*; do [ -f "$f" ] || continue; v="$(cat "$f"; printf x)"; '
    'export "${f##*/}=${v%x}"; done; exec "$@"'
)
_PENDING: Final = frozenset(
    {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready"}
)
_TERMINAL: Final = frozenset({"complete", "shutdown", "failed", "rejected", "orphaned", "remove"})
_HEALTH: Final[Mapping[str, HealthStatus]] = {
    "healthy": "healthy",
    "unhealthy": "unhealthy",
    "starting": "starting",
}


def _label_filters(labels: Mapping[str, str]) -> dict[str, list[str]] | None:
    """A docker SDK ``filters`` argument selecting every ``key=value`` of ``labels``."""
    return (
        {"label": [f"{key}={value}" for key, value in sorted(labels.items())]} if labels else None
    )


def _short(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _task_key(task: Mapping[str, Any]) -> tuple[int, str]:
    return (int((task.get("Version") or {}).get("Index") or 0), str(task.get("CreatedAt") or ""))


def _latest(tasks: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The task that says how the service is now: the newest one that should run, else newest."""
    wanted = [t for t in tasks if t.get("DesiredState") == "running"]
    pool = wanted or tasks
    return max(pool, key=_task_key) if pool else None


def _same_template(task_spec: Mapping[str, Any], template: Mapping[str, Any]) -> bool:
    """Whether a task was made from ``template`` (the API adds ``Runtime`` to the service's)."""
    keys = (set(task_spec) | set(template)) - {"Runtime"}
    return all(task_spec.get(k) == template.get(k) for k in keys)


def _replicas(service: Mapping[str, Any]) -> int:
    mode = (service.get("Spec") or {}).get("Mode") or {}
    return int((mode.get("Replicated") or {}).get("Replicas") or 0)


def _task_state(task: Mapping[str, Any] | None) -> str:
    return str(((task or {}).get("Status") or {}).get("State") or "")


def _state(service: Mapping[str, Any], tasks: list[dict[str, Any]]) -> str:
    """The container-like state of a service: created, running, restarting or exited."""
    task = _latest(tasks)
    state = _task_state(task)
    if _replicas(service) == 0:
        # Stopped = scaled to 0 after a start. Swarm may already have pruned the stopped task
        # (then no task is listed); a service that was ever changed (started) has a PreviousSpec.
        return "exited" if tasks or service.get("PreviousSpec") else "created"
    if state in {"running", "starting"}:
        return "running"
    if state in _PENDING or not state:
        return "created"
    return "exited"


def _restart_policy(restart: str | None) -> docker.types.RestartPolicy:
    """Docker's restart policies as Swarm conditions (``no``/none: the task is not restarted)."""
    name, _, count = (restart or "no").partition(":")
    if name == "on-failure":
        return docker.types.RestartPolicy(condition="on-failure", max_attempts=int(count or 0))
    if name in {"always", "unless-stopped"}:
        return docker.types.RestartPolicy(condition="any")
    return docker.types.RestartPolicy(condition="none")


def _resources(resources: Resources) -> docker.types.Resources:
    """Limits are the container's caps; reservations are what the scheduler sets aside."""
    nano = _nanos
    return docker.types.Resources(
        cpu_limit=nano(resources.cpu_limit),
        mem_limit=resources.memory_limit,
        cpu_reservation=nano(resources.cpu_reservation),
        mem_reservation=resources.memory_reservation,
    )


def _endpoint_mode_from_kernel() -> tuple[EndpointMode, str]:
    """Whether this machine's kernel has IPVS, which Swarm's virtual IPs need."""
    if Path("/sys/module/ip_vs").exists() or Path("/proc/net/ip_vs").exists():
        return "vip", "IPVS is loaded in this machine's kernel: services get a virtual IP"
    return (
        "dnsrr",
        (
            "IPVS is not available in this machine's kernel, so Swarm's virtual IPs do not "
            "route (No route to host): services use DNS round robin (dnsrr)"
        ),
    )


class SwarmRuntime(DockerRuntime):
    """A Docker Swarm manager as a :class:`~devarch_core.ports.Runtime` (one service per instance).

    ``base_url`` is the manager's Docker API URL, as for :class:`DockerRuntime` (``None`` reads
    ``DOCKER_HOST``). ``endpoint_mode`` is ``vip``, ``dnsrr`` or ``auto``: auto picks ``vip``
    when the engine is on this machine and its kernel has IPVS, else ``dnsrr`` (which works
    everywhere; a remote manager's kernel cannot be checked from here). ``wait`` bounds how long
    start, stop, remove and update wait for the swarm's tasks, in seconds.
    """

    name = "swarm"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 60,
        endpoint_mode: str = "auto",
        wait: float = 120,
    ) -> None:
        super().__init__(base_url, timeout=timeout)
        if endpoint_mode not in {"auto", "vip", "dnsrr"}:
            msg = f"swarm endpoint mode {endpoint_mode!r} must be auto, vip or dnsrr"
            raise EngineError(msg)
        self._endpoint_setting = endpoint_mode
        self._mode: tuple[EndpointMode, str] | None = None
        self._wait = wait
        self._node_id: str | None = None

    @property
    def _sw(self) -> Any:  # noqa: ANN401 - see the docstring
        """The low-level client, untyped: the SDK's stubs leave most swarm calls untyped."""
        return self.api

    # -- engine ------------------------------------------------------------------------------
    @property
    def endpoint_mode(self) -> EndpointMode:
        """``vip`` or ``dnsrr``: how services are reached on their overlay network."""
        return self._endpoint()[0]

    @property
    def endpoint_mode_reason(self) -> str:
        """Why :attr:`endpoint_mode` was chosen (doctor prints it)."""
        return self._endpoint()[1]

    def _endpoint(self) -> tuple[EndpointMode, str]:
        if self._mode is None:
            if self._endpoint_setting in {"vip", "dnsrr"}:
                mode: EndpointMode = "vip" if self._endpoint_setting == "vip" else "dnsrr"
                self._mode = (mode, f"endpoint mode {mode} as configured")
            elif self.endpoint.startswith("unix:"):
                self._mode = _endpoint_mode_from_kernel()
            else:
                self._mode = (
                    "dnsrr",
                    (
                        f"the manager at {self.endpoint} is remote, so its IPVS support cannot "
                        "be checked: services use DNS round robin (dnsrr), which needs none"
                    ),
                )
        return self._mode  # type: ignore[return-value]  # set above

    def info(self) -> EngineInfo:
        """The manager's Docker version; ``EngineError`` unless it is an active swarm manager."""
        with self._errors("engine info"):
            version = self._sw.version()
            info = self._sw.info()
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            msg = (
                f"the engine at {self.endpoint} is not a swarm manager (swarm state "
                f"{swarm.get('LocalNodeState') or 'unknown'}); run `docker swarm init` there, "
                "or point DEVARCH_RUNTIME=swarm at a manager"
            )
            raise EngineError(msg)
        self._node_id = swarm.get("NodeID") or None
        return EngineInfo(
            engine="swarm",
            version=str(version.get("Version", "")),
            endpoint=self.endpoint,
            rootless=bool(info.get("Rootless")),
            cpus=int(info.get("NCPU") or 1),
            memory=int(info.get("MemTotal") or 0),
            enforces=self._enforces(info),
            security=(f"endpoint-mode={self.endpoint_mode}",),
            binds_host_ip=False,
        )

    def node_id(self) -> str:
        """The swarm node id of the engine devarch talks to."""
        if self._node_id is None:
            self.info()
        if self._node_id is None:  # pragma: no cover - info() raised otherwise
            msg = f"the engine at {self.endpoint} reports no swarm node id"
            raise EngineError(msg)
        return self._node_id

    def nodes(self) -> list[dict[str, Any]]:
        """The swarm's nodes as the engine reports them (for doctor and placement checks)."""
        with self._errors("list nodes"):
            return list(self._sw.nodes())

    def exposed(self, labels: Mapping[str, str]) -> list[tuple[str, PublishedPort]]:
        """``(service, port)`` for every port the services carrying ``labels`` publish."""
        with self._errors("list services"):
            services = self._services(labels)
        return [(s["Spec"]["Name"], port) for s in services for port in self._service_ports(s)]

    # -- networks ----------------------------------------------------------------------------
    def _network_options(self) -> dict[str, Any]:
        return {"driver": "overlay", "attachable": True, "scope": "swarm"}

    # -- volumes -----------------------------------------------------------------------------
    def remove_volume(self, name: str) -> bool:
        """Remove a local volume; ``EngineError`` while a service mounts it (running or not)."""
        with self._errors(f"remove volume {name}"):
            for service in self._sw.services():
                spec = service["Spec"]["TaskTemplate"].get("ContainerSpec") or {}
                if any(m.get("Source") == name for m in spec.get("Mounts") or ()):
                    msg = f"remove volume {name}: it is in use by service {service['Spec']['Name']}"
                    raise EngineError(msg)
        return super().remove_volume(name)

    # -- services as containers --------------------------------------------------------------
    def _services(self, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        found = self._sw.services(filters=_label_filters(labels))
        return [s for s in found if _has_labels(s["Spec"].get("Labels"), labels)]

    def _service(self, name: str) -> dict[str, Any] | None:
        try:
            data = self._sw.inspect_service(name)
        except docker.errors.NotFound:
            return None
        return data if data["Spec"]["Name"] == name else None

    def _tasks(self, service_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        by_service: dict[str, list[dict[str, Any]]] = {i: [] for i in service_ids}
        if service_ids:
            for task in self._sw.tasks(filters={"service": service_ids}):
                if task.get("ServiceID") in by_service:
                    by_service[task["ServiceID"]].append(task)
        return by_service

    def _network_names(self) -> dict[str, str]:
        return {n["Id"]: n["Name"] for n in self._sw.networks()}

    @staticmethod
    def _service_ports(service: Mapping[str, Any]) -> tuple[PublishedPort, ...]:
        ports = ((service.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports") or ()
        return tuple(
            sorted(
                (
                    PublishedPort(
                        container=int(p["TargetPort"]),
                        protocol="udp" if p.get("Protocol") == "udp" else "tcp",
                        host_ip="0.0.0.0",  # noqa: S104 - Swarm binds every interface
                        host_port=int(p["PublishedPort"]),
                    )
                    for p in ports
                    if p.get("PublishedPort")
                ),
                key=lambda p: (p.container, p.protocol, p.host_port),
            )
        )

    def _info(
        self, service: Mapping[str, Any], tasks: list[dict[str, Any]], networks: Mapping[str, str]
    ) -> ContainerInfo:
        spec = service["Spec"]
        template = spec["TaskTemplate"]
        container = template.get("ContainerSpec") or {}
        attached = template.get("Networks") or spec.get("Networks") or ()
        return ContainerInfo(
            id=service["ID"],
            name=spec["Name"],
            image=str(container.get("Image", "")).partition("@")[0],
            labels=spec.get("Labels") or {},
            state=_state(service, tasks),
            health=self._task_health(container, _latest(tasks)),
            ports=self._service_ports(service),
            networks=tuple(sorted(networks.get(n["Target"], n["Target"]) for n in attached)),
        )

    def _task_health(
        self, container: Mapping[str, Any], task: Mapping[str, Any] | None
    ) -> HealthStatus:
        """Health from the task state, refined by the container's own check when it is local."""
        test = (container.get("Healthcheck") or {}).get("Test") or []
        if not test or test[0] == "NONE":
            return "none"
        state = _task_state(task)
        container_id = (
            ((task or {}).get("Status") or {}).get("ContainerStatus", {}).get("ContainerID")
        )
        if container_id and state in {"starting", "running"}:
            try:
                data = self._sw.inspect_container(container_id)
            except docker.errors.NotFound:
                pass  # on another node: the task state says enough
            else:
                status = ((data.get("State") or {}).get("Health") or {}).get("Status")
                if isinstance(status, str) and status in _HEALTH:
                    return _HEALTH[status]
        if state == "running":
            return "healthy"  # Swarm reports a task with a healthcheck running once healthy
        if state in _TERMINAL and "unhealthy" in str((task or {}).get("Status", {}).get("Err")):
            return "unhealthy"
        return "starting"

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        """Services carrying all ``labels`` (any state), by name, with their tasks' state."""
        with self._errors("list services"):
            services = self._services(labels)
            tasks = self._tasks([s["ID"] for s in services])
            networks = self._network_names() if services else {}
        return sorted(
            (self._info(s, tasks[s["ID"]], networks) for s in services), key=lambda c: c.name
        )

    def inspect_container(self, name: str) -> ContainerInfo | None:
        """The service called ``name`` as a container, or None."""
        with self._errors(f"inspect service {name}"):
            service = self._service(name)
            if service is None:
                return None
            tasks = self._tasks([service["ID"]])[service["ID"]]
            networks = self._network_names()
        return self._info(service, tasks, networks)

    def health(self, name: str) -> HealthStatus:
        """Health of the service's current task; ``NotFoundError`` if there is no such service."""
        info = self.inspect_container(name)
        if info is None:
            raise NotFoundError("service", name)
        return info.health

    # -- building a service ------------------------------------------------------------------
    def _image_command(self, spec: ContainerSpec) -> list[str]:
        """The argv the container would run (entrypoint + command, the image's where unset)."""
        entrypoint = list(spec.entrypoint) if spec.entrypoint is not None else None
        command = list(spec.command) if spec.command is not None else None
        if entrypoint is None or command is None:
            with self._errors(f"inspect image {spec.image}"):
                try:
                    config = self._sw.inspect_image(spec.image).get("Config") or {}
                except docker.errors.NotFound:
                    config = {}
            if entrypoint is None:
                entrypoint = list(config.get("Entrypoint") or [])
                if command is None:
                    command = list(config.get("Cmd") or [])
            command = command or []
        return [*entrypoint, *command]

    def _secret_refs(self, spec: ContainerSpec) -> list[docker.types.SecretReference]:
        """Create one Swarm secret per secret env value (fresh names: secrets are immutable)."""
        refs = []
        for key, value in sorted(spec.environment.items()):
            if not isinstance(value, Secret):
                continue
            name = f"devarch-s-{_short(spec.name, key)}-{uuid.uuid4().hex[:12]}"
            labels = {**spec.labels, SERVICE_LABEL: spec.name}
            with self._errors(f"create secret for {spec.name} {key}"):
                created = self._sw.create_secret(name, value.reveal().encode(), labels=labels)
            refs.append(
                docker.types.SecretReference(
                    created["ID"], name, filename=f"{SECRET_DIR}/{key}", mode=0o400
                )
            )
        return refs

    def _config_ref(self, spec: ContainerSpec, mount: Mount) -> docker.types.ConfigReference:
        """A Swarm config with the content of a read-only bind-mounted file."""
        source = mount.source or ""
        data = Path(source).read_bytes()
        mode = Path(source).stat().st_mode & 0o777
        digest = hashlib.sha256(data).hexdigest()
        name = f"devarch-c-{_short(spec.name, mount.target)}-{digest[:12]}"
        labels = {**spec.labels, SERVICE_LABEL: spec.name}
        with self._errors(f"create config for {spec.name} {mount.target}"):
            found = [
                c for c in self._sw.configs(filters={"name": name}) if c["Spec"]["Name"] == name
            ]
            if found:
                config_id = found[0]["ID"]
            else:
                try:
                    config_id = self._sw.create_config(name, data, labels=labels)["ID"]
                except docker.errors.APIError as exc:
                    if not _is_name_conflict(exc):
                        raise
                    config_id = self._sw.configs(filters={"name": name})[0]["ID"]
        return docker.types.ConfigReference(config_id, name, filename=mount.target, mode=mode)

    def _task_template(self, spec: ContainerSpec, *, force_update: int = 0) -> dict[str, Any]:
        plain = [
            f"{k}={v}" for k, v in sorted(spec.environment.items()) if not isinstance(v, Secret)
        ]
        secrets = self._secret_refs(spec)
        mounts: list[docker.types.Mount] = []
        configs: list[docker.types.ConfigReference] = []
        for mount in spec.mounts:
            if (
                mount.type == "bind"
                and mount.read_only
                and mount.source
                and Path(mount.source).is_file()
            ):
                configs.append(self._config_ref(spec, mount))
                continue
            mounts.append(
                docker.types.Mount(
                    target=mount.target,
                    source=mount.source or "",
                    type=mount.type,
                    read_only=mount.read_only,
                )
            )
        if secrets:
            command: list[str] | None = ["/bin/sh", "-c", _WRAPPER, "devarch-env"]
            args: list[str] | None = self._image_command(spec)
        else:
            command = list(spec.entrypoint) if spec.entrypoint is not None else None
            args = list(spec.command) if spec.command is not None else None
        healthcheck = None
        if spec.healthcheck is not None:
            check = spec.healthcheck
            healthcheck = docker.types.Healthcheck(
                test=list(check.test),
                interval=_nanos(check.interval),
                timeout=_nanos(check.timeout),
                start_period=_nanos(check.start_period),
                retries=check.retries,
            )
        container = docker.types.ContainerSpec(
            image=spec.image,
            command=command,
            args=args,
            env=plain or None,
            workdir=spec.working_dir,
            user=spec.user,
            labels=dict(spec.labels),
            mounts=mounts or None,
            stop_grace_period=_nanos(spec.stop_grace_period),
            stop_signal=spec.stop_signal,
            healthcheck=healthcheck,
            secrets=secrets or None,
            configs=configs or None,
            init=spec.init,
        )
        constraints = [
            c.strip() for c in spec.labels.get(PLACEMENT_LABEL, "").split(";") if c.strip()
        ]
        if not constraints and any(m.type == "volume" and m.source for m in spec.mounts):
            # A named volume lives on one node: keep the task where its data is.
            constraints = [f"node.id=={self.node_id()}"]
        template = docker.types.TaskTemplate(
            container_spec=container,
            resources=_resources(spec.resources),
            restart_policy=_restart_policy(spec.restart),
            placement=docker.types.Placement(constraints=constraints) if constraints else None,
            networks=[
                docker.types.NetworkAttachmentConfig(
                    target=spec.network, aliases=list(spec.aliases) or None
                )
            ],
            force_update=force_update or None,
        )
        return dict(template)

    def _endpoint_spec(self, spec: ContainerSpec) -> docker.types.EndpointSpec:
        ports = [
            {
                "Protocol": p.protocol,
                "TargetPort": p.container,
                "PublishedPort": p.host_port,
                "PublishMode": "host",
            }
            for p in spec.ports
        ]
        return docker.types.EndpointSpec(mode=self.endpoint_mode, ports=ports or None)  # type: ignore[arg-type]

    @staticmethod
    def _update_config(spec: ContainerSpec) -> docker.types.UpdateConfig:
        """One task at a time, rolled back if it fails; a new task first where two may overlap.

        A host port or a named volume cannot be held by two tasks, so those stop first.
        """
        overlap_ok = not spec.ports and not any(m.type == "volume" for m in spec.mounts)
        return docker.types.UpdateConfig(
            parallelism=1,
            failure_action="rollback",
            monitor=5_000_000_000,
            order="start-first" if overlap_ok else "stop-first",
        )

    def create_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create the service with no replica yet (``created``); ``ConflictError`` if taken."""
        with self._errors(f"create service {spec.name}"):
            existing = self._service(spec.name)
        if existing is not None:
            msg = f"service name {spec.name} is already taken"
            raise ConflictError(msg)
        template = self._task_template(spec)
        with self._errors(f"create service {spec.name}"):
            try:
                created = self._sw.create_service(
                    template,
                    name=spec.name,
                    labels=dict(spec.labels),
                    mode=docker.types.ServiceMode("replicated", replicas=0),
                    update_config=self._update_config(spec),
                    endpoint_spec=self._endpoint_spec(spec),
                )
            except docker.errors.APIError as exc:
                self._drop_created_secrets(template)
                if _is_name_conflict(exc):
                    msg = f"service name {spec.name} is already taken: {_explain(exc)}"
                    raise ConflictError(msg) from exc
                raise
        # Secrets a killed earlier attempt made for this name are not used by anything now.
        self._drop_unused(spec.name, keep=template)
        return ContainerInfo(
            id=str(created["ID"]),
            name=spec.name,
            image=spec.image,
            labels=spec.labels,
            state="created",
            health="none" if spec.healthcheck is None else "starting",
            ports=tuple(
                PublishedPort(
                    container=p.container,
                    protocol=p.protocol,
                    host_ip="0.0.0.0",  # noqa: S104 - Swarm binds every interface
                    host_port=p.host_port,
                )
                for p in spec.ports
            ),
            networks=(spec.network,),
        )

    def update_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Change the service to ``spec`` in place: a rolling, health-aware update.

        The new task must run (healthy, with a healthcheck) within the update's monitor period,
        else Swarm rolls back and this raises ``EngineError``. A service that does not exist is
        created instead.
        """
        with self._errors(f"update service {spec.name}"):
            service = self._service(spec.name)
        if service is None:
            return self.create_container(spec)
        template = self._task_template(spec)
        with self._errors(f"update service {spec.name}"):
            self._sw.update_service(
                service["ID"],
                service["Version"]["Index"],
                task_template=template,
                name=spec.name,
                labels=dict(spec.labels),
                mode=docker.types.ServiceMode("replicated", replicas=_replicas(service)),
                update_config=self._update_config(spec),
                endpoint_spec=self._endpoint_spec(spec),
            )
        if _replicas(service):
            self._await_update(spec.name, service.get("UpdateStatus"))
        self._drop_unused(spec.name, keep=template)
        info = self.inspect_container(spec.name)
        if info is None:  # pragma: no cover - removed by someone else meanwhile
            raise NotFoundError("service", spec.name)
        return info

    def _await_update(self, name: str, before: Mapping[str, Any] | None) -> None:
        """Wait until the one task that should run has the service's current spec and runs.

        ``before`` is the service's update status before this update: a rollback reported
        after it raises ``EngineError`` once the old task runs again.
        """
        end = time.monotonic() + self._wait
        while True:
            with self._errors(f"update service {name}"):
                service = self._service(name)
                if service is None:
                    raise NotFoundError("service", name)
                tasks = self._tasks([service["ID"]])[service["ID"]]
            status = service.get("UpdateStatus") or {}
            state = status.get("State")
            fresh = status != (before or {})
            wanted = [t for t in tasks if t.get("DesiredState") == "running"]
            settled = (
                len(wanted) == 1
                and _task_state(wanted[0]) == "running"
                and _same_template(wanted[0].get("Spec") or {}, service["Spec"]["TaskTemplate"])
            )
            if fresh and state in {"rollback_completed", "rollback_paused", "paused"}:
                # Raised once the previous spec's task runs again (or it never will).
                if settled or state != "rollback_completed" or time.monotonic() > end:
                    msg = (
                        f"update of service {name} failed and was rolled back: "
                        f"{status.get('Message')}"
                    )
                    raise EngineError(msg)
                time.sleep(0.5)
                continue
            stuck = [
                t
                for t in wanted
                if _task_state(t) == "pending" and (t.get("Status") or {}).get("Err")
            ]
            if stuck and service.get("PreviousSpec"):
                # Swarm keeps a task that no node can take pending, and the update with it.
                self._roll_back(service)
                msg = (
                    f"update of service {name} cannot run ({stuck[0]['Status']['Err']}) "
                    "and was rolled back"
                )
                raise EngineError(msg)
            if (
                settled
                and state not in {"updating", "rollback_started"}
                and not (fresh and state and state.startswith("rollback"))
            ):
                return
            if time.monotonic() > end:
                msg = f"update of service {name} did not finish within {self._wait:g}s ({state})"
                raise EngineError(msg)
            time.sleep(0.5)

    def _roll_back(self, service: Mapping[str, Any]) -> None:
        """Put the service's previous spec back (what ``docker service rollback`` does)."""
        previous = service["PreviousSpec"]
        with self._errors(f"roll back service {previous['Name']}"):
            self._sw.update_service(
                service["ID"],
                service["Version"]["Index"],
                task_template=previous["TaskTemplate"],
                name=previous["Name"],
                labels=previous.get("Labels"),
                mode=previous.get("Mode"),
                update_config=previous.get("UpdateConfig"),
                endpoint_spec=previous.get("EndpointSpec"),
                rollback_config=previous.get("RollbackConfig"),
            )

    def _drop_unused(self, name: str, *, keep: Mapping[str, Any]) -> None:
        """Remove the service's Swarm secrets and configs that ``keep`` does not reference."""
        container = keep.get("ContainerSpec") or {}
        used = {s.get("SecretID") for s in container.get("Secrets") or ()} | {
            c.get("ConfigID") for c in container.get("Configs") or ()
        }
        self._drop_objects(name, used)

    def _drop_created_secrets(self, template: Mapping[str, Any]) -> None:
        """Remove the secrets made for a service that was not created after all."""
        for ref in (template.get("ContainerSpec") or {}).get("Secrets") or ():
            with contextlib.suppress(docker.errors.APIError):
                self._sw.remove_secret(ref["SecretID"])

    def _drop_objects(self, name: str, used: set[Any]) -> None:
        filters = {"label": [f"{SERVICE_LABEL}={name}"]}
        with self._errors(f"clean up secrets of {name}"):
            for secret in self._sw.secrets(filters=filters):
                if secret["ID"] not in used:
                    with contextlib.suppress(docker.errors.APIError):
                        self._sw.remove_secret(secret["ID"])
            for config in self._sw.configs(filters=filters):
                if config["ID"] not in used:
                    with contextlib.suppress(docker.errors.APIError):
                        self._sw.remove_config(config["ID"])

    def _scale(self, service: Mapping[str, Any], replicas: int, *, force: bool = False) -> None:
        spec = service["Spec"]
        template = dict(spec["TaskTemplate"])
        if force:
            template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
        self._sw.update_service(
            service["ID"],
            service["Version"]["Index"],
            task_template=template,
            name=spec["Name"],
            labels=spec.get("Labels"),
            mode=docker.types.ServiceMode("replicated", replicas=replicas),
            update_config=spec.get("UpdateConfig"),
            endpoint_spec=spec.get("EndpointSpec"),
            rollback_config=spec.get("RollbackConfig"),
        )

    def start_container(self, name: str) -> None:
        """Run one task of the service and wait until it runs; no-op if it runs.

        ``EngineError`` with the swarm's reason when the task cannot run (a host port in use,
        an image the node lacks); the service is then scaled back to 0.
        """
        with self._errors(f"start service {name}"):
            service = self._service(name)
            if service is None:
                raise NotFoundError("container", name)
            tasks = self._tasks([service["ID"]])[service["ID"]]
            state = _state(service, tasks)
            if state == "running":
                return
            if _replicas(service) == 0:
                self._scale(service, 1)
            elif state == "exited":
                self._scale(service, 1, force=True)  # a finished task: run a fresh one
            began = time.monotonic()
            while True:
                task = _latest(self._tasks([service["ID"]])[service["ID"]])
                state = _task_state(task)
                status = (task or {}).get("Status") or {}
                err = status.get("Err") or ""
                if state in {"running", "starting", "complete"}:
                    return
                failed = state in {"failed", "rejected"} or (state == "pending" and err)
                if failed or time.monotonic() - began > self._wait:
                    current = self._service(name)
                    if current is not None:
                        self._scale(current, 0)
                    reason = err or status.get("Message") or f"task {state or 'not scheduled'}"
                    msg = f"start service {name}: {reason}"
                    raise EngineError(msg)
                time.sleep(0.2)

    def stop_container(self, name: str, timeout: float | None = None) -> None:
        """Scale to 0 and wait until its tasks stopped; no-op if stopped or gone.

        A task container on this node is stopped directly with the grace period (``timeout``,
        else the service's ``stop_grace_period``, else 10 s); elsewhere Swarm stops it with the
        service's own grace period.
        """
        with self._errors(f"stop service {name}"):
            service = self._service(name)
            if service is None:
                return
            if _replicas(service):
                self._scale(service, 0)
            grace = timeout
            if grace is None:
                period = (service["Spec"]["TaskTemplate"].get("ContainerSpec") or {}).get(
                    "StopGracePeriod"
                )
                grace = 10 if period is None else period / 1e9
            end = time.monotonic() + grace + self._wait
            while True:
                live = [
                    t
                    for t in self._tasks([service["ID"]])[service["ID"]]
                    if _task_state(t) in {"running", "starting"} | _PENDING
                ]
                if not live:
                    return
                for task in live:
                    cid = (task.get("Status") or {}).get("ContainerStatus", {}).get("ContainerID")
                    if cid:
                        with contextlib.suppress(docker.errors.APIError):
                            self._sw.stop(cid, timeout=math.ceil(grace))
                if time.monotonic() > end:
                    msg = f"stop service {name}: its task still runs after {grace + self._wait:g}s"
                    raise EngineError(msg)
                time.sleep(0.2)

    def remove_container(self, name: str) -> bool:
        """Remove the service, its secrets and configs; False if it did not exist.

        Waits until its task containers on this node are gone, so a volume they mounted can be
        removed next.
        """
        with self._errors(f"remove service {name}"):
            service = self._service(name)
            if service is None:
                return False
            try:
                self._sw.remove_service(service["ID"])
            except docker.errors.NotFound:
                return False
            end = time.monotonic() + self._wait
            label = {"label": [f"com.docker.swarm.service.id={service['ID']}"]}
            while self._sw.containers(all=True, filters=label) and time.monotonic() < end:
                time.sleep(0.2)
            self._drop_objects(name, set())
        return True

    # -- a task's container (logs, exec) ---------------------------------------------------------
    def task_container_id(self, name: str) -> str | None:
        """The container of the service's current task on the node devarch talks to.

        None when the service never ran a task, or its task runs on another node (the Docker
        API reaches containers of its own node only); ``NotFoundError`` without the service.
        """
        with self._errors(f"inspect service {name}"):
            service = self._service(name)
            if service is None:
                raise NotFoundError("container", name)
            tasks = self._tasks([service["ID"]])[service["ID"]]
            for task in sorted(tasks, key=_task_key, reverse=True):
                status = task.get("Status") or {}
                container_id = (status.get("ContainerStatus") or {}).get("ContainerID")
                if not container_id:
                    continue
                try:
                    self._sw.inspect_container(container_id)
                except docker.errors.NotFound:
                    continue
                return str(container_id)
        return None

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Any:  # noqa: ANN401 - the engine adapter's log iterator
        """The log lines of the service's current task container (as Docker's ``logs``).

        ``NotFoundError`` without the service, or when no task of it ran on this node.
        """
        container_id = self.task_container_id(name)
        if container_id is None:
            raise NotFoundError("container on this node for service", name)
        parent: Any = super()
        return parent.logs(container_id, follow=follow, tail=tail)

    def exec_command(self, container: str, command: Any, **options: Any) -> Any:  # noqa: ANN401 - forwarded as they are
        """``docker exec`` into the service's current task container on this node."""
        container_id = self.task_container_id(container)
        if container_id is None:
            raise NotFoundError("container on this node for service", container)
        parent: Any = super()
        return parent.exec_command(container_id, command, **options)

"""Plan, apply, down, status and compose: from desired state to the engine (DESIGN §6)."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import attrs
from attrs import frozen

from devarch_core import naming
from devarch_core.compose import compose_items, render_compose, render_instance
from devarch_core.desired import container_spec, network_labels, owned_by, spec_hash, volume_labels
from devarch_core.engine import ContainerInfo, ContainerSpec
from devarch_core.errors import (
    ApplyError,
    ConflictError,
    DevarchError,
    NotFoundError,
    PortConflictError,
    Problem,
    StalePlanError,
    ValidationError,
    WiringError,
)
from devarch_core.hostports import PortRequest, allocate_ports
from devarch_core.merge import EffectiveConfig, flatten_service
from devarch_core.model import Instance, PortAllocation, Stack
from devarch_core.planning import (
    DesiredInstance,
    Plan,
    PlanDiagnostic,
    compute_plan,
    explain_staleness,
)
from devarch_core.ports import (
    AppliedRecord,
    Runtime,
    StoreSession,
)
from devarch_core.secrets import REDACTED, Secret
from devarch_core.spec import Resources
from devarch_core.usecases.wires import WireCases
from devarch_core.wiring import (
    WiringNode,
    solve_wiring,
    wiring_graph,
)

__all__ = ["ApplyCases", "ApplyResult", "InstanceStatus", "default_holder"]

@frozen(kw_only=True)
class InstanceStatus:
    """What the engine says about one instance's container."""

    instance: str
    container: str
    enabled: bool
    state: str
    health: str = "none"
    ports: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        return attrs.asdict(self, recurse=True, value_serializer=lambda _i, _a, v: list(v) if isinstance(v, tuple) else v)


@frozen(kw_only=True)
class ApplyResult:
    """What an apply did, with per-phase timings in seconds."""

    stack: str
    plan: Plan
    timings: Mapping[str, float]

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        return {"stack": self.stack, "plan": self.plan.to_data(), "timings": {k: round(v, 3) for k, v in self.timings.items()}}


@frozen(kw_only=True)
class _Desired:
    """Everything a plan is computed from (internal)."""

    stack: Stack
    instances: tuple[Instance, ...]
    items: tuple[DesiredInstance, ...]
    diagnostics: tuple[PlanDiagnostic, ...]
    wiring: tuple[Mapping[str, Any], ...]
    waves: tuple[tuple[str, ...], ...]
    observed: tuple[ContainerInfo, ...]
    new_ports: tuple[tuple[str, PortAllocation], ...]
    inputs: Mapping[str, str]


#: Plan diagnostics that are host port clashes (apply refuses them as ``PortConflictError``).
PORT_CLASH_CODES = frozenset({"port-conflict", "port-in-use"})


class ApplyCases(WireCases):
    """Planning and applying stacks on the engine. (A mixin of :class:`~devarch_core.app.Devarch`.)"""

    # -- plan -------------------------------------------------------------------------------
    def _fields(self, eff: EffectiveConfig, spec: ContainerSpec | None = None) -> dict[str, Any]:
        """Flat fields for diffs: secrets as keyed hashes, published ports with their host port."""
        fields = flatten_service(eff.service)
        for published in spec.ports if spec is not None else ():
            key = f"ports.{published.container}/{published.protocol}"
            if isinstance(fields.get(key), dict):
                fields[key] = {**fields[key], "host": published.host_port}
        for name in eff.secret_env:
            value = eff.service.environment[name]
            if isinstance(value, Secret):
                fields[f"environment.{name}"] = self.secrets.keyed_hash(value.reveal())
        return fields

    def _desired(self, stack_name: str, *, observe: bool = True) -> _Desired:
        """Desired state; without ``observe`` (compose previews) the engine and host are not asked."""
        runtime = self._require_runtime() if observe else None
        owner = self.owner
        with self._tx() as tx:
            stack = self._stack(tx, stack_name)
            instances, effective, diagnostics, wiring_rows, waves = self._resolve_stack(tx, stack)
            existing = self._all_allocations(tx, stack.name)
        observed = (
            runtime.list_containers(
                owned_by(owner, stack.id)
            )
            if runtime is not None
            else []
        )
        own_bound = [(p.host_ip, p.host_port) for c in observed if c.running for p in c.ports]
        requests = [
            PortRequest(
                stack=stack.name,
                instance=eff.instance,
                instance_id=eff.instance_id,
                key=port.key,
                container_port=port.container,
                protocol=port.protocol,
                host_ip=port.host_ip,
                pinned=port.host,
            )
            for eff in effective.values()
            for port in eff.service.ports
            if port.publish
        ]
        probe = self.port_probe if observe else None
        resolution = allocate_ports(requests, existing, probe=probe, own_bound=own_bound, port_range=self.port_range)
        diagnostics.extend(resolution.diagnostics)
        if runtime is not None:
            diagnostics.extend(self._resource_diagnostics(runtime, effective))
        items = []
        for name in sorted(effective):
            eff = effective[name]
            config_dir = self.config_files.host_path(stack.name, name) if self.config_files and eff.service.config_files else None
            try:
                spec = container_spec(eff, owner=owner, allocations=resolution.chosen.get(eff.instance_id, {}), config_dir=config_dir)
            except ValidationError as exc:
                diagnostics.append(PlanDiagnostic(severity="error", code="invalid", instance=name, message=str(exc)))
                continue
            files = [[f.path, f.mode, f.content] for f in eff.service.config_files]
            config_hash = spec_hash(spec, self.secrets.keyed_hash, extra=files)
            spec = attrs.evolve(spec, labels={**spec.labels, naming.LABEL_CONFIG_HASH: config_hash})
            new_ports = {a.key: a.host_port for i_id, a in resolution.new if i_id == eff.instance_id}
            items.append(
                DesiredInstance(
                    effective=eff,
                    spec=spec,
                    config_hash=config_hash,
                    fields=self._fields(eff, spec),
                    depends_on=eff.service.depends_on,
                    new_ports=new_ports,
                )
            )
        return _Desired(
            stack=stack,
            instances=tuple(instances),
            items=tuple(items),
            diagnostics=tuple(diagnostics),
            wiring=tuple(wiring_rows),
            waves=tuple(tuple(w) for w in waves),
            observed=tuple(observed),
            new_ports=resolution.new,
            inputs={f"template {i.template}@{i.template_version}": self.template_for(i).content_hash for i in instances},
        )

    def _resource_diagnostics(self, runtime: Runtime, effective: Mapping[str, EffectiveConfig]) -> list[PlanDiagnostic]:
        """Warnings for limits the engine cannot enforce and CPU limits above the host's CPUs."""
        wanted = {name: eff.service.resources for name, eff in effective.items() if eff.service.resources}
        if not wanted:
            return []
        if self._engine_info is None:
            self._engine_info = runtime.info()
        info = self._engine_info
        found = []
        for name, res in sorted(wanted.items()):
            for field in Resources.FIELDS:
                if getattr(res, field) is not None and field not in info.enforces:
                    found.append(
                        PlanDiagnostic(
                            severity="warning",
                            code="limit-not-enforced",
                            instance=name,
                            message=f"{name}: {info.engine} cannot enforce {field} here; it is recorded but has no effect",
                        )
                    )
            for field in ("cpu_limit", "cpu_reservation"):
                value = getattr(res, field)
                if value is not None and info.cpus and value > info.cpus:
                    # Docker refuses a CPU limit above the host's CPUs at create; Podman accepts it.
                    refused = info.engine == "docker" and field == "cpu_limit"
                    found.append(
                        PlanDiagnostic(
                            severity="error" if refused else "warning",
                            code="cpus-above-host",
                            instance=name,
                            message=f"{name}: {field} {value} is more than the {info.cpus} CPUs of the engine's host"
                            + ("; Docker refuses it" if refused else ""),
                        )
                    )
        return found

    def _make_plan(self, desired: _Desired) -> Plan:
        with self._tx() as tx:
            applied = {item.effective.instance_id: tx.get_applied(item.effective.instance_id) for item in desired.items}
        return compute_plan(
            stack=desired.stack.name,
            desired=desired.items,
            observed=desired.observed,
            applied={k: v for k, v in applied.items() if v is not None},
            diagnostics=desired.diagnostics,
            wiring=desired.wiring,
            extra_basis=desired.inputs,
        )

    def plan(self, stack: str) -> Plan:
        """The plan for a stack: what apply would change, with diagnostics and a staleness token."""
        return self._make_plan(self._desired(stack))

    # -- apply ------------------------------------------------------------------------------
    def apply(self, stack: str, plan: Plan | None = None, *, lock_timeout: float | None = None, holder: str | None = None) -> ApplyResult:
        """Execute a plan under the stack's lock (planning first when none is given).

        Refuses a stale plan (``StalePlanError``) and a plan with errors (``WiringError``/``ApplyError``).
        """
        runtime = self._require_runtime()
        if self.lock is None:
            raise ApplyError("no stack lock configured", step="lock")
        who = holder or default_holder()
        with self.lock.acquire(stack, holder=who, timeout=lock_timeout):
            timings: dict[str, float] = {}
            start = self.clock.monotonic()
            desired = self._desired(stack)
            current = self._make_plan(desired)
            timings["plan"] = self.clock.monotonic() - start
            if plan is not None and plan.token != current.token:
                raise StalePlanError(stack, explain_staleness(plan, current))
            self._refuse_plan_errors(stack, current)
            if current.actions:
                self._execute(runtime, desired, current, timings)
            else:
                self._record_applied(desired, set())
        return ApplyResult(stack=stack, plan=current, timings=timings)

    @staticmethod
    def _refuse_plan_errors(stack: str, plan: Plan) -> None:
        """Raise what apply raises for a plan with errors.

        Raise what apply raises for a plan with errors (host port clashes alone are a
        ``PortConflictError``, anything else a ``WiringError``).
        """
        if not plan.errors:
            return
        if all(d.code in PORT_CLASH_CODES for d in plan.errors):
            raise PortConflictError(
                [Problem("", d.message) for d in plan.errors], what=f"cannot apply stack {stack}"
            )
        detail = "; ".join(d.message for d in plan.errors)
        raise WiringError(f"cannot apply stack {stack}: {detail}")

    @contextmanager
    def _phase(self, name: str, timings: dict[str, float], total: int = 0) -> Iterator[None]:
        self.reporter.phase_started(name, total)
        start = self.clock.monotonic()
        try:
            yield
        finally:
            elapsed = self.clock.monotonic() - start
            timings[name] = elapsed
            self.reporter.phase_finished(name, elapsed)

    def _execute(self, runtime: Runtime, desired: _Desired, plan: Plan, timings: dict[str, float]) -> None:  # noqa: C901, PLR0912, PLR0915
        stack = desired.stack
        owner = self.owner
        items = {d.effective.instance: d for d in desired.items}
        acting = {a.instance: a for a in plan.actions}
        if desired.items:
            with self._phase("network", timings, 1):
                try:
                    network = runtime.ensure_network(stack.network_name, network_labels(stack.name, stack.id, owner))
                except DevarchError as exc:
                    raise ApplyError(f"network {stack.network_name}: {exc}", step="network") from exc
                self._refuse_foreign("network", network.name, network.labels, stack_id=stack.id)
        if desired.new_ports:
            with self._tx() as tx:
                for instance_id, alloc in desired.new_ports:
                    tx.put_port_allocation(instance_id, alloc)
        to_build = [items[a.instance] for a in plan.actions if a.action in ("add", "modify") and a.instance in items]
        with_files = [d for d in to_build if d.effective.service.config_files]
        if with_files and self.config_files is not None:
            with self._phase("config", timings, len(with_files)):
                for item in with_files:
                    files = {f.path.lstrip("/"): (f.content, f.mode) for f in item.effective.service.config_files}
                    try:
                        self.config_files.write(stack.name, item.effective.instance, files)
                    except DevarchError as exc:
                        raise ApplyError(f"config files of {item.effective.instance}: {exc}", step="config", instance=item.effective.instance) from exc
                    self.reporter.step("config", item.effective.instance, "written")
        images = sorted({d.spec.image for d in to_build})
        if images:
            with self._phase("images", timings, len(images)):
                for image in images:
                    if runtime.inspect_image(image) is None:
                        self.reporter.step("images", image, "pulling")
                        try:
                            runtime.pull_image(image)
                        except DevarchError as exc:
                            raise ApplyError(f"image {image}: {exc}", step="images") from exc
                    self.reporter.step("images", image, "present")
        removals = [a for a in plan.actions if a.action == "remove"]
        done: set[str] = set()
        with self._phase("containers", timings, len(plan.actions)):
            pool = ThreadPoolExecutor(max_workers=self.parallelism)
            try:
                if removals:
                    list(pool.map(lambda a: self._remove(runtime, a.container, a.instance), removals))
                    done.update(a.instance for a in removals)
                needed_health = {dep for d in desired.items for dep in d.depends_on}
                for wave in desired.waves:
                    batch = [name for name in wave if name in acting and acting[name].action != "remove"]
                    errors: list[BaseException] = []
                    futures = {name: pool.submit(self._converge, runtime, items[name], acting[name].action) for name in batch}
                    for name, future in futures.items():
                        failure = future.exception()
                        if failure is not None:
                            errors.append(failure)
                        else:
                            done.add(name)
                    if errors:
                        first = errors[0]
                        self._record_applied(desired, done)
                        if isinstance(first, DevarchError):
                            raise first
                        raise ApplyError(str(first), step="containers") from first
                    waiting = [n for n in wave if n in needed_health and n in items and items[n].spec.healthcheck is not None]
                    if waiting:
                        list(pool.map(lambda n: self._wait_healthy(runtime, items[n]), waiting))
            finally:
                pool.shutdown(wait=True)
        self._record_applied(desired, done)

    def _refuse_foreign(self, kind: str, name: str, labels: Mapping[str, str], *, stack_id: str) -> None:
        """devarch never adopts a network or volume it did not create for this store and stack."""
        ours = (
            labels.get(naming.LABEL_MANAGED_BY) == naming.MANAGED_BY
            and labels.get(naming.LABEL_OWNER) == self.owner
            and labels.get(naming.LABEL_STACK_ID) == stack_id
        )
        if not ours:
            raise ApplyError(
                f"a {kind} named {name} already exists and was not created by devarch for this stack "
                f"(labels: {dict(labels) or 'none'}); devarch never adopts it — remove or rename it yourself",
                step=kind,
            )

    def _remove(self, runtime: Runtime, container: str, instance: str) -> None:
        self.reporter.step("containers", instance, "removing")
        runtime.stop_container(container, timeout=10)
        runtime.remove_container(container)
        self.reporter.step("containers", instance, "removed")

    def _converge(self, runtime: Runtime, item: DesiredInstance, action: str) -> None:
        name = item.effective.instance
        container = item.spec.name
        try:
            if action == "start":
                self.reporter.step("containers", name, "starting")
                runtime.start_container(container)
                self.reporter.step("containers", name, "started")
                return
            existing = runtime.inspect_container(container)
            if existing is not None:
                if existing.labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY or existing.labels.get(naming.LABEL_OWNER) != self.owner:
                    raise ConflictError(
                        f"a container named {container} exists and is not managed by this devarch store; "
                        "devarch never touches it — remove or rename it yourself"
                    )
                self.reporter.step("containers", name, "recreating")
                runtime.stop_container(container, timeout=10)
                runtime.remove_container(container)
            owner = self.owner
            for mount in item.spec.mounts:
                if mount.type == "volume" and mount.source:
                    volume = runtime.ensure_volume(mount.source, volume_labels(item.effective, owner))
                    self._refuse_foreign("volume", volume.name, volume.labels, stack_id=item.effective.stack_id)
            self.reporter.step("containers", name, "creating")
            runtime.create_container(item.spec)
            runtime.start_container(container)
            self.reporter.step("containers", name, "started")
        except DevarchError as exc:
            self.reporter.step("containers", name, "failed")
            message = _redact(str(exc), item.spec.environment.values())
            if message != str(exc):
                # The engine quoted a secret: keep it out of the message and the exception chain.
                raise ApplyError(f"{name}: {message}", step="containers", instance=name) from None
            raise ApplyError(f"{name}: {message}", step="containers", instance=name) from exc

    def _wait_healthy(self, runtime: Runtime, item: DesiredInstance) -> None:
        name = item.effective.instance
        deadline = self.clock.monotonic() + self.health_timeout
        # Poll at a fixed short interval: the engine turns a service healthy within its own
        # check interval, and a backing-off poll would notice it late (measured in benchmarks/).
        interval = item.spec.healthcheck.interval if item.spec.healthcheck else None
        delay = min(0.2, float(interval) / 2) if interval else 0.2
        self.reporter.step("health", name, "waiting")
        while True:
            status = runtime.health(item.spec.name)
            if status in ("healthy", "none"):
                self.reporter.step("health", name, "healthy")
                return
            if status == "unhealthy":
                raise ApplyError(f"{name} is unhealthy; see `docker logs {item.spec.name}`", step="health", instance=name)
            if self.clock.monotonic() > deadline:
                raise ApplyError(f"{name} did not become healthy within {self.health_timeout:.0f}s", step="health", instance=name)
            self.clock.sleep(delay)

    def _record_applied(self, desired: _Desired, done: set[str]) -> None:
        now = self._now()
        desired_ids = {d.effective.instance_id for d in desired.items}
        with self._tx() as tx:
            for item in desired.items:
                if item.effective.instance in done or tx.get_applied(item.effective.instance_id) is None:
                    if item.effective.instance not in done and not any(
                        c.name == item.spec.name and c.labels.get(naming.LABEL_CONFIG_HASH) == item.config_hash for c in desired.observed
                    ):
                        continue
                    tx.put_applied(
                        AppliedRecord(instance_id=item.effective.instance_id, config_hash=item.config_hash, config=dict(item.fields), applied_at=now)
                    )
            for inst in desired.instances:
                if inst.id not in desired_ids and inst.name in done:
                    tx.delete_applied(inst.id)

    # -- compose and graph -------------------------------------------------------------------
    def compose(self, stack: str, instance: str | None = None, *, reveal_secrets: bool = False, project: str | None = None) -> str:
        """The stack (or one instance) as a Compose file with the same names devarch uses.

        Secrets are ``***`` unless ``reveal_secrets`` (then the file holds plaintext: handle it
        like the secret it is). Host ports are the ones devarch allocated or would allocate.
        """
        desired = self._desired(stack, observe=False)
        errors = [d for d in desired.diagnostics if d.severity == "error" and d.code != "port-in-use"]
        if errors and all(d.code in PORT_CLASH_CODES for d in errors):
            raise PortConflictError(
                [Problem("", d.message) for d in errors], what=f"cannot render stack {stack}"
            )
        if errors:
            raise WiringError(f"cannot render stack {stack}: " + "; ".join(d.message for d in errors))
        items = compose_items((d.effective.instance, d.spec, d.depends_on) for d in desired.items)
        labels = network_labels(desired.stack.name, desired.stack.id, self.owner)
        if instance is not None:
            item = next((i for i in items if i.name == instance), None)
            if item is None:
                raise NotFoundError("enabled instance", f"{stack}/{instance}")
            return render_instance(item, network_labels=labels, project=project, reveal_secrets=reveal_secrets)
        return render_compose(
            desired.stack.name, desired.stack.network_name, items, network_labels=labels, project=project, reveal_secrets=reveal_secrets
        )

    def graph(self, stack: str, *, fmt: str = "mermaid") -> str:
        """The stack's wiring graph as Mermaid or DOT text."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            instances = tx.list_instances(st.id)
            nodes = [WiringNode(name=i.name, enabled=i.enabled and st.enabled, template=self.template_for(i)) for i in instances]
            plan = solve_wiring(nodes, tx.list_wires(st.id), stack=st.name)
        return wiring_graph(nodes, plan, fmt=fmt, stack=st.name)  # type: ignore[arg-type]

    # -- down / status ----------------------------------------------------------------------
    def _teardown(self, stack: Stack, *, remove_volumes: bool) -> int:
        runtime = self._require_runtime()
        owner = self.owner
        labels = owned_by(owner, stack.id)
        containers = runtime.list_containers(labels)
        if containers:
            with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
                list(pool.map(lambda c: self._remove(runtime, c.name, c.labels.get(naming.LABEL_INSTANCE_NAME, c.name)), containers))
        for network in runtime.list_networks(labels):
            runtime.remove_network(network.name)
        if remove_volumes:
            for volume in runtime.list_volumes(labels):
                runtime.remove_volume(volume.name)
        return len(containers)

    def down(self, stack: str, *, volumes: bool = False, lock_timeout: float | None = None) -> int:
        """Remove a stack's containers and network (and named volumes if asked); keep its definition.

        Returns how many containers were removed.
        """
        with self._tx() as tx:
            st = self._stack(tx, stack)
        if self.lock is None:
            raise ApplyError("no stack lock configured", step="lock")
        with self.lock.acquire(stack, holder="devarch down " + default_holder(), timeout=lock_timeout):
            removed = self._teardown(st, remove_volumes=volumes)
            with self._tx() as tx:
                for inst in tx.list_instances(st.id):
                    tx.delete_applied(inst.id)
        return removed

    def status(self, stack: str) -> list[InstanceStatus]:
        """Each instance's container state, health and published ports."""
        runtime = self._require_runtime()
        with self._tx() as tx:
            st = self._stack(tx, stack)
            instances = tx.list_instances(st.id)
        observed = {
            c.name: c
            for c in runtime.list_containers(
                owned_by(self.owner, st.id)
            )
        }
        rows = []
        for inst in instances:
            c = observed.pop(inst.container_name, None)
            rows.append(
                InstanceStatus(
                    instance=inst.name,
                    container=inst.container_name,
                    enabled=inst.enabled,
                    state=c.state if c else "absent",
                    health=runtime.health(c.name) if c and c.running else "none",
                    ports=tuple(f"{p.host_ip}:{p.host_port}->{p.container}/{p.protocol}" for p in (c.ports if c else ())),
                )
            )
        for name, c in sorted(observed.items()):
            rows.append(InstanceStatus(instance=c.labels.get(naming.LABEL_INSTANCE_NAME, name), container=name, enabled=False, state=f"orphan ({c.state})"))
        return rows


def _redact(text: str, values: Iterable[object]) -> str:
    """Replace every secret value (and its escaped forms) in ``text`` by ``***``.

    A value is replaced where it stands on its own (quoted, after ``=``, between spaces), not
    inside a longer name: a password ``devarch`` must not turn ``devarch-shop-db`` into ``***-shop-db``.
    """
    for value in values:
        if isinstance(value, Secret) and value.reveal():
            plain = value.reveal()
            for form in {plain, repr(plain)[1:-1], plain.encode("unicode_escape").decode("ascii", "replace")}:
                if form:
                    text = re.sub(rf"(?<![\w.-]){re.escape(form)}(?![\w.-])", REDACTED, text)
    return text


def default_holder() -> str:
    """A description of this process for lock messages."""
    import getpass  # noqa: PLC0415

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"pid {os.getpid()} on {socket.gethostname()} by {user}"


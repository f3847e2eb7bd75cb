"""Plan, apply, down, status and compose: from desired state to the engine.

See docs/architecture.md#plan-apply.
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, overload

import attrs
from attrs import frozen

from devarch_core import _convert, naming
from devarch_core.compose import compose_items, render_compose, render_instance
from devarch_core.desired import container_spec, network_labels, spec_hash, volume_labels
from devarch_core.engine import ContainerInfo, ContainerSpec, PublishedPort
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
from devarch_core.health import poll_interval, wait_healthy
from devarch_core.hostports import PortRequest, allocate_ports
from devarch_core.lockpolicy import DEFAULT_LOCKFILE, check_lockfile, refreshes
from devarch_core.manifest import Lockfile
from devarch_core.merge import TEMPLATE, EffectiveConfig, flatten_service
from devarch_core.model import Instance, PortAllocation, Stack
from devarch_core.ownership import has_labels, is_owned, owned_by
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
)
from devarch_core.portspec import format_published
from devarch_core.rendering import wiring_graph
from devarch_core.secrets import REDACTED, Secret
from devarch_core.spec import Resources
from devarch_core.status import StatusReport
from devarch_core.usecases.wires import WireCases
from devarch_core.wiring import (
    WiringNode,
    solve_wiring,
)

if TYPE_CHECKING:
    from devarch_core._svg import SvgGraph

__all__ = ["ApplyCases", "ApplyResult", "DownResult", "InstanceStatus", "default_holder"]

#: Plan error codes that mean "another owner holds this name" (apply raises ConflictError).
_CONFLICTS = frozenset({"network-conflict", "container-conflict", "volume-conflict"})

@frozen(kw_only=True)
class InstanceStatus:
    """What the engine says about one instance's container."""

    instance: str
    container: str
    enabled: bool
    state: str
    health: str = "none"
    #: Published ports as text, ``127.0.0.1:15432->5432/tcp``.
    ports: tuple[str, ...] = ()
    #: The same ports as numbers (``host_port``, ``container``, ``protocol``, ``host_ip``).
    host_ports: tuple[PublishedPort, ...] = ()

    def host_port(self, container: int, protocol: str = "tcp") -> int | None:
        """The host port a container port is published on, or None if it is not published."""
        ports = (p for p in self.host_ports if (p.container, p.protocol) == (container, protocol))
        return next((p.host_port for p in ports), None)

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = _convert.unstructure(self)
        return data


@frozen(kw_only=True)
class ApplyResult:
    """What an apply did, with per-phase timings in seconds."""

    stack: str
    plan: Plan
    timings: Mapping[str, float]
    #: The stack's lockfile after the apply, for the caller to write: set when a lockfile policy
    #: was asked for (``lockfile=`` or ``locked=True``) and the lockfile records this stack.
    lockfile: Lockfile | None = None
    #: How the stack diverged from the given lockfile before the apply (warnings, not refusals).
    lockfile_warnings: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = _convert.unstructure(self)
        return data


@frozen(kw_only=True)
class DownResult:
    """What ``down`` removed (names), and same-named objects of other owners it left alone."""

    stack: str
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    left_alone: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = _convert.unstructure(self)
        return data

    def describe(self) -> str:
        """One sentence: what was removed (or that nothing was)."""
        parts = []
        if self.containers:
            parts.append(f"{len(self.containers)} container(s)")
        if self.networks:
            parts.append("network " + ", ".join(self.networks))
        if self.volumes:
            parts.append(f"{len(self.volumes)} volume(s)")
        text = (
            "removed " + ", ".join(parts)
            if parts
            else "removed nothing (none of its containers or networks were on the engine)"
        )
        for note in self.left_alone:
            text += f"; {note}"
        return text


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
    #: Container name -> why it cannot be created (another owner holds that name).
    blocked: Mapping[str, str] = attrs.field(factory=dict)
    #: Networks this stack created earlier under another name (its network was changed).
    old_networks: tuple[str, ...] = ()


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
        if runtime is not None:
            runtime = self._runtime_for(stack)
            diagnostics.extend(self._engine_diagnostics(runtime, stack))
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
        blocked: dict[str, str] = {}
        old_networks: tuple[str, ...] = ()
        if runtime is not None and items:
            found, blocked, old_networks = self._ownership(runtime, stack, items, observed)
            diagnostics.extend(found)
        return _Desired(
            stack=stack,
            blocked=blocked,
            old_networks=old_networks,
            instances=tuple(instances),
            items=tuple(items),
            diagnostics=tuple(diagnostics),
            wiring=tuple(wiring_rows),
            waves=tuple(tuple(w) for w in waves),
            observed=tuple(observed),
            new_ports=resolution.new,
            inputs={f"template {i.template}@{i.template_version}": self.template_for(i).content_hash for i in instances},
        )

    def _engine_diagnostics(self, runtime: Runtime, stack: Stack) -> list[PlanDiagnostic]:
        """A warning when the user chose an engine other than the one the stack lives on."""
        recorded = self.stack_engine(stack.name)
        current = self._engine_kind(runtime)
        if not recorded or recorded == current:
            return []
        return [
            PlanDiagnostic(
                severity="warning",
                code="other-engine",
                message=(
                    f"stack {stack.name} was applied on {recorded}; this plan is against "
                    f"{current}, as selected: apply builds the stack there too, and leaves "
                    f"what runs on {recorded} as it is"
                ),
            )
        ]

    def _holder(self, labels: Mapping[str, str]) -> tuple[str, str]:
        """Who owns an engine object, in words, and what to add to the advice.

        devarch never advises removing what another devarch store owns: that would break the
        other store's stack.
        """
        if labels.get(naming.LABEL_MANAGED_BY) != naming.MANAGED_BY:
            return (
                "was not created by devarch",
                "if it is yours and unused, remove or rename it; otherwise ",
            )
        owner = labels.get(naming.LABEL_OWNER, "?")
        stack = labels.get(naming.LABEL_STACK_NAME, "?")
        if owner != self.owner:
            return (
                f"belongs to another devarch store (owner {owner}, its stack {stack})",
                "devarch never touches another store's objects: ",
            )
        stack_id = labels.get(naming.LABEL_STACK_ID, "?")
        return (
            f"belongs to another stack of this store (stack {stack}, id {stack_id})",
            "`devarch doctor` lists leftovers; ",
        )

    def _ownership(
        self,
        runtime: Runtime,
        stack: Stack,
        items: Iterable[DesiredInstance],
        observed: Iterable[ContainerInfo],
    ) -> tuple[list[PlanDiagnostic], dict[str, str], tuple[str, ...]]:
        """Same-named objects another owner holds (errors), and this stack's old networks.

        The stack's network, containers and volumes have devarch-{stack}-... names: a second
        store (another DEVARCH_HOME) with a stack of the same name would collide with the first
        one's objects. That is a plan error naming the owner, before apply touches anything.
        """
        items = list(items)
        mine = owned_by(self.owner, stack.id)
        diagnostics, old = self._network_ownership(runtime, stack, mine)
        blocked: dict[str, str] = {}
        seen = {c.name for c in observed}
        for item in items:
            name, instance = item.spec.name, item.effective.instance
            existing = None if name in seen else runtime.inspect_container(name)
            if existing is None:
                continue
            who, then = self._holder(existing.labels)
            blocked[name] = f"conflict: {name} already exists and {who}"
            diagnostics.append(
                PlanDiagnostic(
                    severity="error",
                    code="container-conflict",
                    instance=instance,
                    message=(
                        f"container {name} for {stack.name}/{instance} already exists and {who}; "
                        f"{then}rename the instance "
                        f"(`devarch instance rename {stack.name} {instance} NEW`) or use another "
                        f"stack name (`devarch stack clone {stack.name} NEW`)"
                    ),
                )
            )
        diagnostics.extend(self._volume_ownership(runtime, stack, items, mine))
        return diagnostics, blocked, old

    def _network_ownership(
        self, runtime: Runtime, stack: Stack, mine: Mapping[str, str]
    ) -> tuple[list[PlanDiagnostic], tuple[str, ...]]:
        """A same-named network of another owner (error); this stack's earlier networks."""
        diagnostics = []
        old = []
        for network in runtime.list_networks({}):
            ours = has_labels(network.labels, mine)
            if network.name == stack.network_name and not ours:
                who, then = self._holder(network.labels)
                diagnostics.append(
                    PlanDiagnostic(
                        severity="error",
                        code="network-conflict",
                        message=(
                            f"network {network.name} already exists and {who}; {then}give stack "
                            f"{stack.name} its own network: "
                            f"`devarch stack update {stack.name} --network NAME`"
                        ),
                    )
                )
            elif ours and network.name != stack.network_name:
                old.append(network.name)
                diagnostics.append(
                    PlanDiagnostic(
                        severity="warning",
                        code="old-network",
                        message=(
                            f"network {network.name} was this stack's network before it became "
                            f"{stack.network_name}; apply removes it once no container uses it"
                        ),
                    )
                )
        return diagnostics, tuple(sorted(old))

    def _volume_ownership(
        self, runtime: Runtime, stack: Stack, items: Iterable[DesiredInstance], mine: Mapping[str, str]
    ) -> list[PlanDiagnostic]:
        """Named volumes the stack would mount that exist and belong to another owner."""
        wanted = {
            mount.source: item.effective.instance
            for item in items
            for mount in item.spec.mounts
            if mount.type == "volume" and mount.source
        }
        if not wanted:
            return []
        conflicts = [
            (volume.name, user, volume.labels)
            for volume in runtime.list_volumes({})
            if (user := wanted.get(volume.name)) is not None
            and not has_labels(volume.labels, mine)
        ]
        return [self._volume_conflict(stack, *conflict) for conflict in conflicts]

    def _volume_conflict(
        self, stack: Stack, volume: str, user: str, labels: Mapping[str, str]
    ) -> PlanDiagnostic:
        who, then = self._holder(labels)
        return PlanDiagnostic(
            severity="error",
            code="volume-conflict",
            instance=user,
            message=(
                f"volume {volume} for {stack.name}/{user} already exists and {who}; "
                f"{then}rename the instance (`devarch instance rename {stack.name} {user} NEW`) "
                "or use another stack name"
            ),
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
            blocked=desired.blocked,
        )

    def plan(self, stack: str) -> Plan:
        """The plan for a stack: what apply would change, with diagnostics and a staleness token."""
        return self._make_plan(self._desired(stack))

    # -- the stack lock ---------------------------------------------------------------------
    @contextmanager
    def locked(
        self, stack: str, *, timeout: float | None = None, holder: str | None = None
    ) -> Iterator[None]:
        """Hold the stack's lock for the block (``StackLockedError`` at once if another holds it).

        ``apply``, ``down`` and ``delete_stack`` called inside the block, from the same thread, use
        this hold instead of taking the lock again. A front end takes it *before* planning, so a
        second apply is refused before it shows a plan the first one is about to change.
        """
        with self._tx() as tx:
            self._stack(tx, stack)  # a missing stack is NotFoundError, not a lock file for nothing
        with self._stack_lock(stack, holder or default_holder(), timeout):
            yield

    @contextmanager
    def _stack_lock(self, stack: str, holder: str, timeout: float | None) -> Iterator[None]:
        if self.lock is None:
            raise ApplyError("no stack lock configured", step="lock")
        me = threading.get_ident()
        if self._held_locks.get(stack) == me:
            yield  # this thread already holds it (inside ``locked``)
            return
        with self.lock.acquire(stack, holder=holder, timeout=timeout):
            self._held_locks[stack] = me
            try:
                yield
            finally:
                self._held_locks.pop(stack, None)

    # -- apply ------------------------------------------------------------------------------
    def apply(
        self,
        stack: str,
        plan: Plan | None = None,
        *,
        lock_timeout: float | None = None,
        holder: str | None = None,
        lockfile: Lockfile | None = None,
        locked: bool = False,
        lockfile_origin: str | None = None,
    ) -> ApplyResult:
        """Execute a plan under the stack's lock (planning first when none is given).

        Refuses a plan made for another stack (``ValidationError``, before anything else), a stale
        plan (``StalePlanError``) and a plan with errors (``WiringError``/``ApplyError``).

        Lockfile policy (:mod:`devarch_core.lockpolicy`), when ``lockfile``, ``locked`` or
        ``lockfile_origin`` (where the caller keeps the lockfile, for messages) is given: the stack
        is checked against ``lockfile`` under the lock before anything runs — a divergence is
        reported as a warning (``result.lockfile_warnings``), or refused with ``locked``, as is
        ``locked`` without a lockfile — and ``result.lockfile`` is the refreshed lockfile.
        """
        if plan is not None and plan.stack != stack:
            message = f"this plan is for stack {plan.stack}, not {stack}"
            raise ValidationError(message, what="wrong plan")
        runtime = self._require_runtime()
        who = holder or default_holder()
        policy = lockfile is not None or locked or lockfile_origin is not None
        origin = lockfile_origin or DEFAULT_LOCKFILE
        with self._stack_lock(stack, who, lock_timeout):
            warnings: list[str] = []
            if policy:
                as_is = functools.partial(self.lock_stack, stack)  # type: ignore[attr-defined]
                warnings = check_lockfile(stack, lockfile, as_is, locked=locked, origin=origin)
                for item in warnings:
                    self.reporter.warning(f"{origin}: {item}")
            timings: dict[str, float] = {}
            start = self.clock.monotonic()
            desired = self._desired(stack)
            current = self._make_plan(desired)
            timings["plan"] = self.clock.monotonic() - start
            if plan is not None and plan.token != current.token:
                raise StalePlanError(stack, explain_staleness(plan, current))
            if any(d.code in _CONFLICTS for d in current.errors):
                detail = "; ".join(d.message for d in current.errors)
                raise ConflictError(f"cannot apply stack {stack}: {detail}")
            self._refuse_plan_errors(stack, current)
            self._record_engine(runtime, desired.stack)
            if current.actions:
                self._execute(runtime, desired, current, timings)
            else:
                self._record_applied(desired, set())
            self._remove_old_networks(runtime, desired)
            fresh = None
            if policy and refreshes(stack, lockfile):
                fresh = self.lock_stack(stack)  # type: ignore[attr-defined]
        return ApplyResult(
            stack=stack,
            plan=current,
            timings=timings,
            lockfile=fresh,
            lockfile_warnings=tuple(warnings),
        )

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
        # Every secret of the stack: an engine error about one container may quote a wired value.
        scrub = _Scrub.of(desired.items)
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
                    futures = {
                        name: pool.submit(
                            self._converge, runtime, items[name], acting[name].action, scrub
                        )
                        for name in batch
                    }
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

    def _remove_old_networks(self, runtime: Runtime, desired: _Desired) -> None:
        """Remove this stack's earlier networks (its network was renamed) once nothing uses them."""
        for name in desired.old_networks:
            try:
                runtime.remove_network(name)
            except DevarchError as exc:
                self.reporter.step("network", name, f"kept: {exc}")
            else:
                self.reporter.step("network", name, "removed (the stack's old network)")

    def _refuse_foreign(self, kind: str, name: str, labels: Mapping[str, str], *, stack_id: str) -> None:
        """devarch never adopts a network or volume it did not create for this store and stack."""
        if not is_owned(labels, self.owner, stack_id):
            who, then = self._holder(labels)
            raise ApplyError(
                f"a {kind} named {name} already exists and {who}; devarch never adopts it — "
                f"{then}give this stack another name for it",
                step=kind,
            )

    def _remove(self, runtime: Runtime, container: str, instance: str) -> None:
        self.reporter.step("containers", instance, "removing")
        runtime.stop_container(container)
        runtime.remove_container(container)
        self.reporter.step("containers", instance, "removed")

    def _converge(
        self, runtime: Runtime, item: DesiredInstance, action: str, scrub: _Scrub | None = None
    ) -> None:
        """Create, recreate or start one container.

        An error quoting a secret of the stack (``scrub``; by default the instance's own) is
        scrubbed and cut from its exception chain.
        """
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
                if not is_owned(existing.labels, self.owner):
                    who, then = self._holder(existing.labels)
                    msg = f"a container named {container} exists and {who}; devarch never touches it — {then}rename the instance"
                    raise ConflictError(msg)
                self.reporter.step("containers", name, "recreating")
                runtime.stop_container(container)
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
        except Exception as exc:
            self.reporter.step("containers", name, "failed")
            scrub = scrub or _Scrub.of([item])
            message = scrub(str(exc))
            if not scrub.quoted_in(exc):
                if not isinstance(exc, DevarchError):
                    raise
                raise ApplyError(f"{name}: {message}", step="containers", instance=name) from exc
        else:
            return
        # The engine quoted a secret: raised here, outside the handler, so neither the message
        # nor the exception chain (``__cause__``/``__context__``) holds it.
        raise ApplyError(f"{name}: {message}", step="containers", instance=name)

    def _wait_healthy(self, runtime: Runtime, item: DesiredInstance) -> None:
        interval = item.spec.healthcheck.interval if item.spec.healthcheck else None
        wait_healthy(
            runtime,
            self.clock,
            item.spec.name,
            instance=item.effective.instance,
            timeout=self.health_timeout,
            interval=poll_interval(interval),
            reporter=self.reporter,
        )

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

    @overload
    def graph(self, stack: str, *, fmt: Literal["svg"]) -> SvgGraph: ...
    @overload
    def graph(self, stack: str, *, fmt: Literal["mermaid", "dot"] = "mermaid") -> str: ...
    @overload
    def graph(self, stack: str, *, fmt: str) -> str | SvgGraph: ...
    def graph(self, stack: str, *, fmt: str = "mermaid") -> str | SvgGraph:
        """The stack's wiring graph as Mermaid or DOT text, or an SVG drawing (``fmt="svg"``)."""
        with self._tx() as tx:
            st = self._stack(tx, stack)
            instances = tx.list_instances(st.id)
            nodes = [WiringNode(name=i.name, enabled=i.enabled and st.enabled, template=self.template_for(i)) for i in instances]
            plan = solve_wiring(nodes, tx.list_wires(st.id), stack=st.name)
        if fmt == "svg":
            from devarch_core._svg import wiring_svg  # noqa: PLC0415 - only notebooks draw SVG

            return wiring_svg(nodes, plan, stack=st.name)
        return wiring_graph(nodes, plan, fmt=fmt, stack=st.name)  # type: ignore[arg-type]

    # -- down / status ----------------------------------------------------------------------
    def _teardown(self, stack: Stack, *, remove_volumes: bool) -> DownResult:
        """Remove only what this store created for this stack (selected by owner and stack id)."""
        runtime = self._runtime_for(stack)
        owner = self.owner
        labels = owned_by(owner, stack.id)
        containers = runtime.list_containers(labels)
        if containers:
            with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
                list(pool.map(lambda c: self._remove(runtime, c.name, c.labels.get(naming.LABEL_INSTANCE_NAME, c.name)), containers))
        networks = [n.name for n in runtime.list_networks(labels)]
        for name in networks:
            runtime.remove_network(name)
        volumes = [v.name for v in runtime.list_volumes(labels)] if remove_volumes else []
        for name in volumes:
            runtime.remove_volume(name)
        left_alone = []
        if stack.network_name not in networks:
            for network in runtime.list_networks({}):
                if network.name == stack.network_name:
                    who, _ = self._holder(network.labels)
                    left_alone.append(f"network {network.name} {who} and was left alone")
        return DownResult(
            stack=stack.name,
            containers=tuple(sorted(c.name for c in containers)),
            networks=tuple(networks),
            volumes=tuple(volumes),
            left_alone=tuple(left_alone),
        )

    def down(self, stack: str, *, volumes: bool = False, lock_timeout: float | None = None) -> int:
        """Remove a stack's containers and network (and named volumes if asked); keep its definition.

        Returns how many containers were removed (:meth:`down_report` says what exactly).
        """
        return len(self.down_report(stack, volumes=volumes, lock_timeout=lock_timeout).containers)

    def down_report(
        self, stack: str, *, volumes: bool = False, lock_timeout: float | None = None
    ) -> DownResult:
        """Like :meth:`down`, returning what was removed: containers, networks, volumes.

        Only objects this store created for this stack are removed; a same-named object of
        another owner is listed in ``left_alone``.
        """
        with self._tx() as tx:
            st = self._stack(tx, stack)
        with self._stack_lock(stack, "devarch down " + default_holder(), lock_timeout):
            result = self._teardown(st, remove_volumes=volumes)
            with self._tx() as tx:
                for inst in tx.list_instances(st.id):
                    tx.delete_applied(inst.id)
        return result

    def status(self, stack: str) -> StatusReport:
        """Each instance's container state, health and published ports, as a list.

        The wrapping list knows its stack and renders as a table in notebooks.
        """
        self._require_runtime()
        with self._tx() as tx:
            st = self._stack(tx, stack)
            instances = tx.list_instances(st.id)
        runtime = self._runtime_for(st)
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
                    ports=tuple(format_published(p) for p in (c.ports if c else ())),
                    host_ports=tuple(c.ports) if c else (),
                )
            )
        for name, c in sorted(observed.items()):
            rows.append(InstanceStatus(instance=c.labels.get(naming.LABEL_INSTANCE_NAME, name), container=name, enabled=False, state=f"orphan ({c.state})"))
        return StatusReport(rows, stack=st.name)


#: Secret forms at least this long are replaced wherever they appear, even inside a longer word
#: (``bad value: <secret>.``, ``<secret>-x``, ``"<secret>"``): a garbled name is better than a
#: leak. Shorter ones are replaced only where no letter or digit touches them, or a one-letter
#: value would blank out the whole message.
MIN_REDACT_LENGTH = 4


def _forms(value: str) -> set[str]:
    """A value as an error may quote it: plain, repr- and JSON-escaped."""
    return {
        value,
        repr(value)[1:-1],
        value.encode("unicode_escape").decode("ascii", "replace"),
        json.dumps(value)[1:-1],
    } - {""}


@frozen
class _Scrub:
    """The secret values of a stack to keep out of error text.

    ``given`` are values someone set (``secret set``, a sealed override, a wire carrying one):
    replaced as plain substrings. ``published`` are defaults the template itself declares
    (``POSTGRES_PASSWORD: devarch`` in a catalog file anyone can read with ``catalog show``):
    replaced only where they stand alone, so ``devarch-shop-db`` stays readable.
    """

    given: frozenset[str] = frozenset()
    published: frozenset[str] = frozenset()

    @classmethod
    def of(cls, items: Iterable[DesiredInstance]) -> _Scrub:
        given: set[str] = set()
        published: set[str] = set()
        for item in items:
            for name, value in item.spec.environment.items():
                if isinstance(value, Secret) and value.reveal():
                    source = item.effective.source_of(f"environment.{name}")
                    (published if source == TEMPLATE else given).add(value.reveal())
        # A value equal to a published default (wired on to a consumer, or set to the same
        # text) is in the catalog for anyone to read: it counts as published.
        return cls(given=frozenset(given - published), published=frozenset(published))

    def __call__(self, text: str) -> str:
        text = _redact(text, [Secret(v) for v in self.given])
        published = {f for v in self.published for f in _forms(v)}
        for form in sorted(published, key=lambda f: (-len(f), f)):
            text = re.sub(rf"(?<![\w.-]){re.escape(form)}(?![\w.-])", REDACTED, text)
        return text

    def quoted_in(self, exc: BaseException) -> bool:
        """True if ``exc`` or any exception it was raised from or during shows a secret."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if any(self(text) != text for text in (str(current), repr(current))):
                return True
            current = current.__cause__ or current.__context__
        return False


def _redact(text: str, values: Iterable[object]) -> str:
    """Replace every secret value (and its escaped forms) in ``text`` by ``***``, longest first."""
    forms: set[str] = set()
    for value in values:
        if isinstance(value, Secret) and value.reveal():
            forms.update(_forms(value.reveal()))
    for form in sorted(forms, key=lambda f: (-len(f), f)):
        if len(form) >= MIN_REDACT_LENGTH:
            text = text.replace(form, REDACTED)
        else:
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", REDACTED, text)
    return text


def default_holder() -> str:
    """A description of this process for lock messages."""
    import getpass  # noqa: PLC0415

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"pid {os.getpid()} on {socket.gethostname()} by {user}"


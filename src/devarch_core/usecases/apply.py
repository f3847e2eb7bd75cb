"""Apply, down and status: from a plan to the engine, and back from the engine.

:class:`ApplyService` executes a plan the :class:`~devarch_core.usecases.planner.PlanService`
made, under the stack lock; see docs/architecture.md#plan-apply.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from attrs import frozen

from devarch_core import _convert, naming
from devarch_core.desired import network_labels, volume_labels
from devarch_core.engine import ContainerInfo, PublishedPort
from devarch_core.errors import (
    ApplyError,
    ConflictError,
    DevarchError,
    StalePlanError,
    ValidationError,
)
from devarch_core.lockpolicy import DEFAULT_LOCKFILE, check_lockfile, refreshes
from devarch_core.manifest import Lockfile
from devarch_core.merge import TEMPLATE
from devarch_core.ownership import is_owned, owned_by
from devarch_core.planning import DesiredInstance, Plan, explain_staleness
from devarch_core.ports import AppliedRecord, UpdatingRuntime
from devarch_core.portspec import format_published
from devarch_core.secrets import REDACTED, Secret
from devarch_core.status import StatusReport
from devarch_core.usecases._helpers import Service, stack_of
from devarch_core.usecases.engines import default_holder, holder_of
from devarch_core.usecases.planner import CONFLICT_CODES, refuse_plan_errors

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import ThreadPoolExecutor

    from devarch_core.model import Stack
    from devarch_core.ports import Runtime
    from devarch_core.usecases.planner import Desired

__all__ = [
    "ApplyResult",
    "ApplyService",
    "DownResult",
    "InstanceStatus",
    "MoveResult",
    "default_holder",
]

_P = ParamSpec("_P")

#: Most containers a teardown stops at the same time (see ``ApplyService.teardown``).
MAX_PARALLEL_STOPS = 64
#: Creates/starts apply runs at once by default: this many per CPU of the engine, within the
#: bounds below. Measured with benchmarks/parallel.py on a 2-core machine (20 containers, Docker
#: 20.10 and Podman 4.3, with and without dependencies): 8 at once was the best on both engines,
#: 4 clearly slower, 16, 20 and 32 no faster (slower with dependencies: the engine's work per
#: container is CPU-bound, so more at once only lengthens each start), see benchmarks/README.md.
PARALLEL_PER_CPU = 4
MIN_PARALLEL = 8
MAX_PARALLEL = 32


@frozen(kw_only=True)
class InstanceStatus(_convert.Unstructured):
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


@frozen(kw_only=True)
class ApplyResult(_convert.Unstructured):
    """What an apply did, with per-phase timings in seconds."""

    stack: str
    plan: Plan
    timings: Mapping[str, float]
    #: The stack's lockfile after the apply, for the caller to write: set when a lockfile policy
    #: was asked for (``lockfile=`` or ``locked=True``) and the lockfile records this stack.
    lockfile: Lockfile | None = None
    #: How the stack diverged from the given lockfile before the apply (warnings, not refusals).
    lockfile_warnings: tuple[str, ...] = ()


@frozen(kw_only=True)
class MoveResult(_convert.Unstructured):
    """A stack move: what was removed on the old engine, and the apply on the new one."""

    stack: str
    source: str | None
    target: str
    down: DownResult | None
    applied: ApplyResult


@frozen(kw_only=True)
class DownResult(_convert.Unstructured):
    """What ``down`` removed (names), and same-named objects of other owners it left alone."""

    stack: str
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    left_alone: tuple[str, ...] = ()

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


def _counting(
    report: Callable[Concatenate[ApplyService, _P], DownResult],
) -> Callable[Concatenate[ApplyService, _P], int]:
    """``down`` from ``down_report``: the same parameters, written once; a count as result."""

    def down(self: ApplyService, /, *args: _P.args, **kwargs: _P.kwargs) -> int:
        """Remove a stack's containers and network (and named volumes if asked), not its definition.

        Returns how many containers were removed (:meth:`down_report` says what exactly).
        """
        removed: DownResult = getattr(self, report.__name__)(*args, **kwargs)
        return len(removed.containers)

    down.__qualname__ = "ApplyService.down"
    # help(), the API docs and the facade's forward show down_report's parameters, not *args.
    down.__dict__["__signature__"] = inspect.signature(report).replace(return_annotation="int")
    down.__annotations__ = {**report.__annotations__, "return": "int"}
    return down


class ApplyService(Service):
    """Apply, down and status (ports: the engine, the stack lock, config files, clock, reporter).

    ``lock_stack`` returns a stack's lockfile as it is now (the manifest service's): apply's
    lockfile policy checks and refreshes it.
    """

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
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
        runtime = self._ctx.engines.for_stack(st)
        who = holder or default_holder()
        policy = lockfile is not None or locked or lockfile_origin is not None
        origin = lockfile_origin or DEFAULT_LOCKFILE
        with self._ctx.locks.hold(stack, who, lock_timeout):
            warnings: list[str] = []
            if policy:
                as_is = functools.partial(self._ctx.lock_stack, stack)
                warnings = check_lockfile(stack, lockfile, as_is, locked=locked, origin=origin)
                for item in warnings:
                    self._ctx.reporter.warning(f"{origin}: {item}")
            timings: dict[str, float] = {}
            start = self._ctx.clock.monotonic()
            desired = self._ctx.planner.desired(stack)
            current = self._ctx.planner.make_plan(desired)
            timings["plan"] = self._ctx.clock.monotonic() - start
            if plan is not None and plan.token != current.token:
                raise StalePlanError(stack, explain_staleness(plan, current))
            if any(d.code in CONFLICT_CODES for d in current.errors):
                detail = "; ".join(d.message for d in current.errors)
                raise ConflictError(f"cannot apply stack {stack}: {detail}")
            refuse_plan_errors(stack, current)
            self._ctx.engines.record(runtime, desired.stack)
            if current.actions:
                self._execute(runtime, desired, current, timings)
            else:
                self._record_applied(desired, set())
            self._remove_old_networks(runtime, desired)
            fresh = None
            if policy and refreshes(stack, lockfile):
                fresh = self._ctx.lock_stack(stack)
        return ApplyResult(
            stack=stack,
            plan=current,
            timings=timings,
            lockfile=fresh,
            lockfile_warnings=tuple(warnings),
        )

    @contextmanager
    def _phase(self, name: str, timings: dict[str, float], total: int = 0) -> Iterator[None]:
        self._ctx.reporter.phase_started(name, total)
        start = self._ctx.clock.monotonic()
        try:
            yield
        finally:
            elapsed = self._ctx.clock.monotonic() - start
            timings[name] = elapsed
            self._ctx.reporter.phase_finished(name, elapsed)

    def _execute(  # noqa: C901, PLR0912, PLR0915 - the phases of one apply, in order
        self, runtime: Runtime, desired: Desired, plan: Plan, timings: dict[str, float]
    ) -> None:
        stack = desired.stack
        owner = self._ctx.uow.owner
        items = {d.effective.instance: d for d in desired.items}
        acting = {a.instance: a for a in plan.actions}
        if desired.items:
            with self._phase("network", timings, 1):
                try:
                    network = runtime.ensure_network(
                        stack.network_name, network_labels(stack.name, stack.id, owner)
                    )
                except DevarchError as exc:
                    raise ApplyError(
                        f"network {stack.network_name}: {exc}", step="network"
                    ) from exc
                self._refuse_foreign("network", network.name, network.labels, stack_id=stack.id)
        if desired.new_ports:
            with self._ctx.uow.transaction() as tx:
                for instance_id, alloc in desired.new_ports:
                    tx.put_port_allocation(instance_id, alloc)
        to_build = [
            items[a.instance]
            for a in plan.actions
            if a.action in ("add", "modify") and a.instance in items
        ]
        with_files = [d for d in to_build if d.effective.service.config_files]
        if with_files and self._ctx.config_files is not None:
            with self._phase("config", timings, len(with_files)):
                for item in with_files:
                    files = {
                        f.path.lstrip("/"): (f.content, f.mode)
                        for f in item.effective.service.config_files
                    }
                    try:
                        self._ctx.config_files.write(stack.name, item.effective.instance, files)
                    except DevarchError as exc:
                        raise ApplyError(
                            f"config files of {item.effective.instance}: {exc}",
                            step="config",
                            instance=item.effective.instance,
                        ) from exc
                    self._ctx.reporter.step("config", item.effective.instance, "written")
        images = sorted({d.spec.image for d in to_build})
        if images:
            with self._phase("images", timings, len(images)):
                for image in images:
                    if runtime.inspect_image(image) is None:
                        self._ctx.reporter.step("images", image, "pulling")
                        try:
                            runtime.pull_image(image)
                        except DevarchError as exc:
                            raise ApplyError(f"image {image}: {exc}", step="images") from exc
                    self._ctx.reporter.step("images", image, "present")
        removals = [a for a in plan.actions if a.action == "remove"]
        # Every secret of the stack: an engine error about one container may quote a wired value.
        scrub = _Scrub.of(desired.items)
        done: set[str] = set()
        with self._phase("containers", timings, len(plan.actions)):
            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - not for a no-op

            pool = ThreadPoolExecutor(max_workers=self._workers(runtime))
            try:
                if removals:
                    list(
                        pool.map(lambda a: self._remove(runtime, a.container, a.instance), removals)
                    )
                    done.update(a.instance for a in removals)
                errors = self._converge_all(
                    runtime, desired, acting=acting, scrub=scrub, pool=pool, done=done
                )
            finally:
                pool.shutdown(wait=True)
            if errors:
                first = errors[0]
                self._record_applied(desired, done)
                if isinstance(first, DevarchError):
                    raise first
                raise ApplyError(str(first), step="containers") from first
        self._record_applied(desired, done)

    def _workers(self, runtime: Runtime) -> int:
        """Containers converged at once: ``parallelism``, else scaled to the engine's CPUs."""
        if self._ctx.parallelism is not None:
            return self._ctx.parallelism
        cpus = self._ctx.engines.info(runtime).cpus
        return max(MIN_PARALLEL, min(MAX_PARALLEL, PARALLEL_PER_CPU * cpus))

    def _converge_all(  # noqa: C901, PLR0915 - one scheduler, its callbacks inside
        self,
        runtime: Runtime,
        desired: Desired,
        *,
        acting: Mapping[str, Any],
        scrub: _Scrub,
        pool: ThreadPoolExecutor,
        done: set[str],
    ) -> list[BaseException]:
        """Converge every instance as soon as its own dependencies are ready; the errors.

        An instance is ready once converged (created/started, or unchanged) and, when another
        instance depends on it and it has a healthcheck, healthy. Nothing waits for a whole
        wave: a dependent starts the moment its own dependencies are ready, while the pool
        (``parallelism`` workers) keeps as many engine calls in flight as it holds. After a
        failure nothing new starts; what is in flight finishes. ``done`` collects the converged.
        """
        items = {d.effective.instance: d for d in desired.items}
        observed = {c.name: c for c in desired.observed}
        needed_health = {dep for d in desired.items for dep in d.depends_on}
        order = [name for wave in desired.waves for name in wave if name in items]
        waiting_on = {
            name: {dep for dep in items[name].depends_on if dep in items} for name in order
        }
        dependents: dict[str, list[str]] = {name: [] for name in order}
        for name, deps in waiting_on.items():
            for dep in deps:
                dependents[dep].append(name)
        lock = threading.Lock()
        settled = threading.Condition(lock)
        errors: list[BaseException] = []
        skipped: set[str] = set()
        pending = len(order)

        def work(name: str) -> None:
            action = acting.get(name)
            if action is not None and action.action != "remove":
                existing = observed.get(items[name].spec.name)
                self._converge(runtime, items[name], action.action, scrub, existing=existing)
                with lock:
                    done.add(name)
            if name in needed_health and items[name].spec.healthcheck is not None:
                self._wait_healthy(runtime, items[name])

        def finished(name: str, failure: BaseException | None) -> None:
            nonlocal pending
            with settled:
                pending -= 1
                if failure is not None:
                    errors.append(failure)
                    # Its dependents never start: count them (and theirs) as settled.
                    newly = self._dependents_closure(name, dependents) - skipped
                    skipped.update(newly)
                    pending -= len(newly)
                else:
                    for other in dependents[name]:
                        waiting_on[other].discard(name)
                        if not waiting_on[other] and other not in skipped:
                            submit(other)
                settled.notify_all()

        def run(name: str) -> None:
            try:
                if not errors:
                    work(name)
            except BaseException as exc:  # noqa: BLE001 - reported by the caller, in order
                finished(name, exc)
            else:
                finished(name, None)

        def submit(name: str) -> None:
            pool.submit(run, name)

        with settled:
            for name in order:
                if not waiting_on[name]:
                    submit(name)
            while pending > 0:
                settled.wait()
        return errors

    @staticmethod
    def _dependents_closure(name: str, dependents: Mapping[str, list[str]]) -> set[str]:
        """Every instance that depends on ``name``, directly or through others."""
        found: set[str] = set()
        todo = list(dependents.get(name, ()))
        while todo:
            other = todo.pop()
            if other not in found:
                found.add(other)
                todo.extend(dependents.get(other, ()))
        return found

    def _remove_old_networks(self, runtime: Runtime, desired: Desired) -> None:
        """Remove this stack's earlier networks (its network was renamed) once nothing uses them."""
        for name in desired.old_networks:
            try:
                runtime.remove_network(name)
            except DevarchError as exc:
                self._ctx.reporter.step("network", name, f"kept: {exc}")
            else:
                self._ctx.reporter.step("network", name, "removed (the stack's old network)")

    def _refuse_foreign(
        self, kind: str, name: str, labels: Mapping[str, str], *, stack_id: str
    ) -> None:
        """Devarch never adopts a network or volume it did not create for this store and stack."""
        owner = self._ctx.uow.owner
        if not is_owned(labels, owner, stack_id):
            who, then = holder_of(labels, owner)
            raise ApplyError(
                f"a {kind} named {name} already exists and {who}; devarch never adopts it — "
                f"{then}give this stack another name for it",
                step=kind,
            )

    def _remove(self, runtime: Runtime, container: str, instance: str) -> None:
        self._ctx.reporter.step("containers", instance, "removing")
        runtime.stop_container(container)
        runtime.remove_container(container)
        self._ctx.reporter.step("containers", instance, "removed")

    def _converge(  # noqa: C901 - create, re-create or update one container, in order
        self,
        runtime: Runtime,
        item: DesiredInstance,
        action: str,
        scrub: _Scrub | None = None,
        *,
        existing: ContainerInfo | None,
    ) -> None:
        """Create, recreate or start one container.

        ``existing`` is the container of that name as the plan's listing saw it (under the
        same lock: this store's containers of the stack; another owner's same-named container is
        a plan error), so no inspect is needed. An error quoting
        a secret of the stack (``scrub``; by default the instance's own) is scrubbed and cut
        from its exception chain.
        """
        name = item.effective.instance
        container = item.spec.name
        try:
            if action == "start":
                self._ctx.reporter.step("containers", name, "starting")
                runtime.start_container(container)
                self._ctx.reporter.step("containers", name, "started")
                return
            owner = self._ctx.uow.owner
            # Swarm changes a service in place (a rolling update) instead of a re-create.
            updating = existing is not None and isinstance(runtime, UpdatingRuntime)
            if existing is not None:
                if not is_owned(existing.labels, owner):
                    who, then = holder_of(existing.labels, owner)
                    msg = (
                        f"a container named {container} exists and {who}; devarch never touches "
                        f"it — {then}rename the instance"
                    )
                    raise ConflictError(msg)  # noqa: TRY301 - reported and scrubbed as below
                if not updating:
                    self._ctx.reporter.step("containers", name, "recreating")
                    runtime.stop_container(container)
                    runtime.remove_container(container)
            for mount in item.spec.mounts:
                if mount.type == "volume" and mount.source:
                    volume = runtime.ensure_volume(
                        mount.source, volume_labels(item.effective, owner)
                    )
                    self._refuse_foreign(
                        "volume", volume.name, volume.labels, stack_id=item.effective.stack_id
                    )
            if updating and isinstance(runtime, UpdatingRuntime):
                self._ctx.reporter.step("containers", name, "updating")
                runtime.update_container(item.spec)
            else:
                self._ctx.reporter.step("containers", name, "creating")
                runtime.create_container(item.spec)
            runtime.start_container(container)
            self._ctx.reporter.step("containers", name, "started")
        except Exception as exc:
            self._ctx.reporter.step("containers", name, "failed")
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
        self._ctx.wait_healthy(
            runtime, item.spec.name, item.effective.instance, item.spec.healthcheck
        )

    def _record_applied(self, desired: Desired, done: set[str]) -> None:
        now = self._ctx.uow.now()
        desired_ids = {d.effective.instance_id for d in desired.items}
        with self._ctx.uow.transaction() as tx:
            for item in desired.items:
                if (
                    item.effective.instance in done
                    or tx.get_applied(item.effective.instance_id) is None
                ):
                    if item.effective.instance not in done and not any(
                        c.name == item.spec.name
                        and c.labels.get(naming.LABEL_CONFIG_HASH) == item.config_hash
                        for c in desired.observed
                    ):
                        continue
                    tx.put_applied(
                        AppliedRecord(
                            instance_id=item.effective.instance_id,
                            config_hash=item.config_hash,
                            config=dict(item.fields),
                            applied_at=now,
                        )
                    )
            for inst in desired.instances:
                if inst.id not in desired_ids and inst.name in done:
                    tx.delete_applied(inst.id)

    # -- down / status ----------------------------------------------------------------------
    def teardown(
        self, stack: Stack, *, volumes: bool, ordered: bool = False, runtime: Runtime | None = None
    ) -> DownResult:
        """Remove only what this store created for this stack (selected by owner and stack id).

        Every container is stopped at once (each waits its own ``stop_grace_period``, with its
        ``stop_signal``); with ``ordered`` dependents are stopped before what they depend on, one
        dependency level at a time (what the stack no longer defines goes first). Progress and
        per-phase times go to the reporter, as for apply. On the stack's engine, or on
        ``runtime`` (a stack move tears down where it was).
        """
        runtime = runtime or self._ctx.engines.for_stack(stack)
        owner = self._ctx.uow.owner
        labels = owned_by(owner, stack.id)
        containers = runtime.list_containers(labels)
        timings: dict[str, float] = {}
        if containers:
            with self._phase("containers", timings, len(containers)):
                groups = self._stop_order(stack, containers) if ordered else [containers]
                for group in groups:
                    self._remove_all(runtime, group)
        networks = [n.name for n in runtime.list_networks(labels)]
        if networks:
            with self._phase("network", timings, len(networks)):
                for name in networks:
                    runtime.remove_network(name)
                    self._ctx.reporter.step("network", name, "removed")
        removed = [v.name for v in runtime.list_volumes(labels)] if volumes else []
        if removed:
            with self._phase("volumes", timings, len(removed)):
                for name in removed:
                    runtime.remove_volume(name)
                    self._ctx.reporter.step("volumes", name, "removed")
        left_alone = []
        if stack.network_name not in networks:
            for network in runtime.list_networks({}):
                if network.name == stack.network_name:
                    who, _ = holder_of(network.labels, owner)
                    left_alone.append(f"network {network.name} {who} and was left alone")
        return DownResult(
            stack=stack.name,
            containers=tuple(sorted(c.name for c in containers)),
            networks=tuple(networks),
            volumes=tuple(removed),
            left_alone=tuple(left_alone),
        )

    def _remove_all(self, runtime: Runtime, containers: list[ContainerInfo]) -> None:
        """Stop and remove ``containers`` all at once.

        A stop mostly waits (for the process to exit, or for its grace period when it ignores
        the stop signal), so stopping in batches would add one grace period per batch. Capped
        so a huge stack does not open unbounded connections.
        """
        workers = min(len(containers), MAX_PARALLEL_STOPS)
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - see apply

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(
                pool.map(
                    lambda c: self._remove(
                        runtime, c.name, c.labels.get(naming.LABEL_INSTANCE_NAME, c.name)
                    ),
                    containers,
                )
            )

    def _stop_order(
        self, stack: Stack, containers: list[ContainerInfo]
    ) -> list[list[ContainerInfo]]:
        """``containers`` grouped for a teardown in reverse dependency order.

        First what the stack no longer defines (orphans, disabled instances), then the
        dependency levels from the last to the first. The levels come from the stack's
        definition; when it does not resolve, everything is one group (stopped at once).
        """
        try:
            waves = self._ctx.planner.desired(stack.name, observe=False).waves
        except DevarchError as exc:
            self._ctx.reporter.warning(
                f"stack {stack.name} does not resolve ({exc}); stopping everything at once"
            )
            return [containers]
        level = {name: index for index, wave in enumerate(waves) for name in wave}
        by_level: dict[int, list[ContainerInfo]] = {}
        for container in containers:
            instance = container.labels.get(naming.LABEL_INSTANCE_NAME, container.name)
            by_level.setdefault(level.get(instance, len(waves)), []).append(container)
        return [by_level[index] for index in sorted(by_level, reverse=True)]

    def down_report(
        self,
        stack: str,
        *,
        volumes: bool = False,
        lock_timeout: float | None = None,
        ordered: bool = False,
    ) -> DownResult:
        """Like :meth:`down`, returning what was removed: containers, networks, volumes.

        Only objects this store created for this stack are removed; a same-named object of
        another owner is listed in ``left_alone``.
        """
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
        with self._ctx.locks.hold(stack, "devarch down " + default_holder(), lock_timeout):
            result = self.teardown(st, volumes=volumes, ordered=ordered)
            with self._ctx.uow.transaction() as tx:
                for inst in tx.list_instances(st.id):
                    tx.delete_applied(inst.id)
        return result

    down = _counting(down_report)

    def status(self, stack: str) -> StatusReport:
        """Each instance's container state, health and published ports, as a list.

        The wrapping list knows its stack and renders as a table in notebooks.
        """
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            instances = tx.list_instances(st.id)
        runtime = self._ctx.engines.for_stack(st)
        observed = {
            c.name: c for c in runtime.list_containers(owned_by(self._ctx.uow.owner, st.id))
        }
        # An engine whose listing carries each container's health (Docker: ``Up 3s (healthy)``)
        # says so with ``lists_health``; others are asked per running container.
        listed = bool(getattr(runtime, "lists_health", False))
        rows = []
        for inst in instances:
            c = observed.pop(inst.container_name, None)
            rows.append(
                InstanceStatus(
                    instance=inst.name,
                    container=inst.container_name,
                    enabled=inst.enabled,
                    state=c.state if c else "absent",
                    health=(c.health if listed else runtime.health(c.name))
                    if c and c.running
                    else "none",
                    ports=tuple(format_published(p) for p in (c.ports if c else ())),
                    host_ports=tuple(c.ports) if c else (),
                )
            )
        for name, c in sorted(observed.items()):
            rows.append(
                InstanceStatus(
                    instance=c.labels.get(naming.LABEL_INSTANCE_NAME, name),
                    container=name,
                    enabled=False,
                    state=f"orphan ({c.state})",
                )
            )
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

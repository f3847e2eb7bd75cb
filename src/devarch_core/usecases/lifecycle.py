"""Instance lifecycle as Compose users know it: logs, start, stop, restart (and exec's target).

These act on the containers an apply created and never change the definition or recreate a
container: ``stop`` keeps the container (its id, its writable layer, its volumes), ``start``
starts the existing one. A stopped instance is not drift: ``plan`` shows it as ``> start``
(never ``~``) and ``apply`` starts it again, as ``docker compose up`` does. See
docs/lifecycle.md.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import attrs
from attrs import frozen

from devarch_core import _convert, errors
from devarch_core.engine import ContainerInfo
from devarch_core.model import Instance
from devarch_core.ownership import owned_by
from devarch_core.usecases._helpers import Service, instance_of, stack_of
from devarch_core.usecases.apply import MIN_PARALLEL, _Scrub
from devarch_core.usecases.engines import default_holder, holder_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from devarch_core.engine import LogLine
    from devarch_core.model import Stack
    from devarch_core.planning import DesiredInstance
    from devarch_core.ports import LogIterator, Runtime

__all__ = ["InstanceNames", "LifecycleResult", "LifecycleService", "StackLogs"]

Verb = Literal["start", "stop", "restart"]
_Step = Literal["start", "stop"]
#: What the reporter is told before and after a container's step.
_STEP_WORDS: dict[_Step, tuple[str, str]] = {
    "start": ("starting", "started"),
    "stop": ("stopping", "stopped"),
}
#: The instances a verb acts on: their names (one name may be a plain string), None for all.
InstanceNames: TypeAlias = Iterable[str] | None


@frozen(kw_only=True)
class LifecycleResult:
    """What ``start``, ``stop`` or ``restart`` did to a stack's containers."""

    stack: str
    action: Verb
    #: Instances whose container this call started, stopped or restarted, in that order.
    changed: tuple[str, ...] = ()
    #: Instances that already were as asked (running for start, stopped for stop).
    unchanged: tuple[str, ...] = ()

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = _convert.unstructure(self)
        return data

    def describe(self) -> str:
        """One sentence for people."""
        done = {"start": "started", "stop": "stopped", "restart": "restarted"}[self.action]
        text = f"{done} " + (", ".join(self.changed) if self.changed else "nothing")
        if self.unchanged:
            already = "running" if self.action == "start" else "stopped"
            text += f"; already {already}: " + ", ".join(self.unchanged)
        return f"Stack {self.stack}: {text}."


@frozen
class _Target:
    instance: Instance
    container: ContainerInfo


def _time_key(stamp: str | None) -> tuple[str, str, str]:
    """Sort key of an RFC 3339 timestamp whose fraction may be trimmed (``.5`` after ``.123``)."""
    match = re.match(r"^([^.Z+]*)(?:\.(\d+))?(.*)$", stamp or "")
    if match is None:  # pragma: no cover - the pattern matches any text
        return (stamp or "", "", "")
    return (match[1], (match[2] or "").ljust(9, "0"), match[3])


class StackLogs:
    """The log lines of one or more instances, each line with its ``instance`` set.

    A :class:`~devarch_core.ports.LogIterator`: ``close()`` ends it from any thread. Several
    instances without ``follow`` come merged in time order; with ``follow`` lines come as they
    are written, until every container stopped or the iterator is closed. An engine error met
    while reading is raised with the stack's secret values scrubbed from its message.
    """

    def __init__(
        self, sources: Sequence[tuple[str, LogIterator]], scrub: _Scrub, *, follow: bool
    ) -> None:
        self._sources = list(sources)
        self._scrub = scrub
        self._closed = threading.Event()
        self._lines: Iterator[LogLine]
        if follow and len(self._sources) > 1:
            self._lines = self._interleave()
        else:
            self._lines = self._merged()

    def __iter__(self) -> StackLogs:
        return self

    def __next__(self) -> LogLine:
        if self._closed.is_set():
            raise StopIteration
        try:
            return next(self._lines)
        except errors.DevarchError as exc:
            self.close()
            message = self._scrub(str(exc))
            if message == str(exc) and not self._scrub.quoted_in(exc):
                raise
            # Raised outside the handler's chain, so no exception in it shows the secret.
        raise errors.EngineError(message)

    def close(self) -> None:
        """End the iteration and every container's log stream (idempotent, any thread)."""
        self._closed.set()
        for _, source in self._sources:
            try:
                source.close()
            except (ValueError, RuntimeError):  # pragma: no cover - a generator mid-step
                continue

    def _read(self, instance: str, source: LogIterator) -> Iterator[LogLine]:
        for line in source:
            yield attrs.evolve(line, instance=instance)

    def _merged(self) -> Iterator[LogLine]:
        if len(self._sources) == 1:
            yield from self._read(*self._sources[0])
            return
        lines = [line for name, source in self._sources for line in self._read(name, source)]
        # Stable: lines of one container keep their order when timestamps tie.
        yield from sorted(lines, key=lambda line: _time_key(line.timestamp))

    def _interleave(self) -> Iterator[LogLine]:
        found: queue.SimpleQueue[LogLine | BaseException | None] = queue.SimpleQueue()

        def pump(instance: str, source: LogIterator) -> None:
            try:
                for line in self._read(instance, source):
                    if self._closed.is_set():
                        break
                    found.put(line)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader
                found.put(exc)
            finally:
                found.put(None)

        for name, source in self._sources:
            threading.Thread(target=pump, args=(name, source), daemon=True).start()
        running = len(self._sources)
        while running:
            item = found.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item


class LifecycleService(Service):
    """Logs, start, stop and restart of applied instances.

    Ports: the engine (through :class:`EngineAccess`), the stack lock, the clock and reporter
    (health waits), the planner (dependency order, read only) and the secrets (to scrub errors).
    """

    # -- selection ---------------------------------------------------------------------------
    def _select(
        self, stack: str, names: InstanceNames
    ) -> tuple[Stack, Runtime, list[_Target], list[Instance]]:
        """The stack, its engine, the chosen instances' containers, and the instances asked for.

        Unknown stacks and instances are ``NotFoundError``; an instance without a container is
        ``NotFoundError`` saying to apply first; a same-named container of another owner is a
        ``ConflictError`` (devarch never touches it). A stack bound to a named engine needs no
        engine in the caller's environment; an unbound one does (``for_stack`` says how).
        """
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            if names is None:
                chosen = tx.list_instances(st.id)
            else:
                # One name given as a plain string means that instance, not its letters.
                wanted = list(dict.fromkeys([names] if isinstance(names, str) else names))
                chosen = [instance_of(tx, st, name) for name in wanted]
        runtime = self._ctx.engines.for_stack(st)
        owner = self._ctx.uow.owner
        observed = {c.name: c for c in runtime.list_containers(owned_by(owner, st.id))}
        if not observed:
            raise errors.NotFoundError(
                "container of stack",
                st.name,
                hint=(
                    f"stack {st.name} was never applied, or is down; "
                    f"run `devarch apply {st.name}` first"
                ),
            )
        targets = []
        for inst in chosen:
            container = observed.get(inst.container_name)
            if container is not None:
                targets.append(_Target(inst, container))
                continue
            if names is None:
                continue  # added since the last apply: nothing to act on yet
            other = runtime.inspect_container(inst.container_name)
            if other is not None:
                who, then = holder_of(other.labels, owner)
                raise errors.ConflictError(
                    f"container {inst.container_name} of {st.name}/{inst.name} exists and "
                    f"{who}; devarch never touches it — {then}rename the instance"
                )
            raise errors.NotFoundError(
                "container of instance",
                f"{st.name}/{inst.name}",
                hint=f"it has none yet (or the stack is down); run `devarch apply {st.name}`",
            )
        return st, runtime, targets, chosen

    def _scrub(self, stack: Stack, items: Iterable[DesiredInstance] = ()) -> _Scrub:
        """The stack's secret values to keep out of error text."""
        with self._ctx.uow.transaction() as tx:
            opened = self._ctx.secrets.open_all(tx, stack)
        given = {v.reveal() for values in opened.values() for v in values.values() if v.reveal()}
        known = _Scrub.of(items)
        return _Scrub(given=frozenset(given | known.given), published=known.published)

    def _desired(self, stack: str) -> Any:  # noqa: ANN401 - a planner Desired, or None
        """The stack's desired state without asking the engine (for order and health), or None."""
        try:
            return self._ctx.planner.desired(stack, observe=False)
        except errors.DevarchError:  # an unresolvable definition: act in name order, without waits
            return None

    # -- logs --------------------------------------------------------------------------------
    def logs(
        self,
        stack: str,
        instance: str | Iterable[str] | None = None,
        *,
        follow: bool = False,
        tail: int | None = None,
    ) -> StackLogs:
        """The log lines of one instance, several, or every one with a container (interleaved).

        ``instance`` is one name, several names (as ``docker compose logs web worker``), or
        None for the whole stack. ``tail`` is per container, as with ``docker compose logs``.
        Each line's ``instance`` says who wrote it. No lock is taken: reading logs never changes
        anything.
        """
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
            raise errors.ValidationError(
                [errors.Problem("tail", f"must be 0 or more lines, not {tail!r}")]
            )
        st, runtime, targets, _ = self._select(stack, instance)
        scrub = self._scrub(st)
        sources: list[tuple[str, LogIterator]] = []
        try:
            for target in targets:
                source = runtime.logs(target.container.name, follow=follow, tail=tail)
                sources.append((target.instance.name, source))
        except errors.DevarchError as exc:
            for _, source in sources:
                source.close()
            message = scrub(str(exc))
            if message == str(exc) and not scrub.quoted_in(exc):
                raise
        else:
            return StackLogs(sources, scrub, follow=follow)
        raise errors.EngineError(message)

    # -- start / stop / restart --------------------------------------------------------------
    def start(
        self, stack: str, instances: InstanceNames = None, *, lock_timeout: float | None = None
    ) -> LifecycleResult:
        """Start existing containers in dependency order, waiting for health like apply.

        Under the stack lock. A dependency with a healthcheck must be healthy before the
        instances that depend on it start. Disabled instances are skipped when none are named,
        refused when named.
        """
        return self._act("start", stack, instances, lock_timeout)

    def stop(
        self, stack: str, instances: InstanceNames = None, *, lock_timeout: float | None = None
    ) -> LifecycleResult:
        """Stop containers (dependents first), keeping them; each waits its own grace period."""
        return self._act("stop", stack, instances, lock_timeout)

    def restart(
        self, stack: str, instances: InstanceNames = None, *, lock_timeout: float | None = None
    ) -> LifecycleResult:
        """Stop, then start, the chosen containers (stopped ones are started), under one lock."""
        return self._act("restart", stack, instances, lock_timeout)

    def _act(
        self, action: Verb, stack: str, names: InstanceNames, lock_timeout: float | None
    ) -> LifecycleResult:
        """``action`` on the chosen containers, under the stack lock (held as ``devarch <action>``).

        Start and restart act only on startable instances (:meth:`_startable`); restart stops
        them first and starts them all, stopped ones too.
        """
        with self._ctx.locks.hold(stack, f"devarch {action} " + default_holder(), lock_timeout):
            st, runtime, targets, chosen = self._select(stack, names)
            if action != "stop":
                targets = self._startable(st, targets, chosen, named=names is not None)
            if action == "start":
                changed, unchanged = self._start(st, runtime, targets)
            elif action == "stop":
                changed, unchanged = self._stop(st, runtime, targets)
            else:
                self._stop(st, runtime, targets)
                changed, _ = self._start(st, runtime, targets, restarting=True)
                unchanged = ()
        return LifecycleResult(stack=st.name, action=action, changed=changed, unchanged=unchanged)

    def running_container(self, stack: str, instance: str) -> str:
        """The name of an instance's running container (what ``devarch exec`` runs in).

        ``NotFoundError`` when it has none, ``ConflictError`` when it is not running.
        """
        st, _, targets, _ = self._select(stack, [instance])
        container = targets[0].container
        if not container.running:
            raise errors.ConflictError(
                f"container {container.name} of {st.name}/{instance} is {container.state}; "
                f"start it with `devarch start {st.name} {instance}`"
            )
        return container.name

    @contextmanager
    def _phase(self, name: str, total: int) -> Iterator[None]:
        if not total:
            yield
            return
        self._ctx.reporter.phase_started(name, total)
        began = self._ctx.clock.monotonic()
        try:
            yield
        finally:
            self._ctx.reporter.phase_finished(name, self._ctx.clock.monotonic() - began)

    def _startable(
        self, st: Stack, targets: list[_Target], chosen: Sequence[Instance], *, named: bool
    ) -> list[_Target]:
        """The targets that may start: disabled ones are refused when named, else skipped."""
        if named:
            self._refuse_disabled(st, chosen)
        return [t for t in targets if t.instance.enabled and st.enabled]

    def _refuse_disabled(self, st: Stack, chosen: Sequence[Instance]) -> None:
        if not st.enabled:
            raise errors.ValidationError(
                f"stack {st.name} is disabled: enable it (`devarch stack enable {st.name}`) and "
                "apply",
                what="cannot start",
            )
        off = [i.name for i in chosen if not i.enabled]
        if off:
            raise errors.ValidationError(
                [
                    errors.Problem(
                        f"instances.{name}",
                        f"disabled: enable it (`devarch instance enable {st.name} {name}`) "
                        "and apply",
                    )
                    for name in off
                ],
                what="cannot start disabled instances",
            )

    def _order(self, names: Iterable[str], desired: Any) -> list[list[str]]:  # noqa: ANN401
        """``names`` grouped in dependency waves (dependencies first); unknown ones last."""
        names = set(names)
        waves = [[n for n in wave if n in names] for wave in (desired.waves if desired else ())]
        placed = {n for wave in waves for n in wave}
        rest = sorted(names - placed)
        return [w for w in [*waves, rest] if w]

    def _start(
        self, st: Stack, runtime: Runtime, targets: Sequence[_Target], *, restarting: bool = False
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        desired = self._desired(st.name)
        items = {d.effective.instance: d for d in (desired.items if desired else ())}
        scrub = self._scrub(st, items.values())
        by_name = {t.instance.name: t for t in targets}
        already = tuple(
            sorted(n for n, t in by_name.items() if t.container.running and not restarting)
        )
        todo = [n for n in by_name if n not in already]
        needed = {dep for item in items.values() for dep in item.depends_on}
        self._warn_drift(todo, by_name, items)
        self._warn_missing_dependencies(st, todo, by_name, items, runtime)
        started: list[str] = []
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - not for a no-op

        with (
            self._phase("start", len(todo)),
            ThreadPoolExecutor(max_workers=max(1, self._ctx.parallelism or MIN_PARALLEL)) as pool,
        ):
            for wave in self._order(todo, desired):
                list(pool.map(lambda n: self._one("start", runtime, by_name[n], scrub), wave))
                started.extend(wave)
                waiting = [n for n in wave if n in needed]
                list(pool.map(lambda n: self._wait(runtime, by_name[n], items.get(n)), waiting))
        return tuple(started), already

    def _one(self, step: _Step, runtime: Runtime, target: _Target, scrub: _Scrub) -> None:
        """Start or stop one container, reported as a step (errors scrubbed of secrets)."""
        name, container = target.instance.name, target.container.name
        doing, done = _STEP_WORDS[step]
        call = runtime.start_container if step == "start" else runtime.stop_container
        self._ctx.reporter.step(step, name, doing)
        _guarded(scrub, step, name, lambda: call(container))
        self._ctx.reporter.step(step, name, done)

    def _wait(self, runtime: Runtime, target: _Target, item: DesiredInstance | None) -> None:
        check = item.spec.healthcheck if item is not None else None
        self._ctx.wait_healthy(runtime, target.container.name, target.instance.name, check)

    def _warn_drift(
        self,
        todo: Iterable[str],
        by_name: dict[str, _Target],
        items: dict[str, DesiredInstance],
    ) -> None:
        from devarch_core import naming  # noqa: PLC0415 - one label name

        for name in sorted(todo):
            item = items.get(name)
            label = by_name[name].container.labels.get(naming.LABEL_CONFIG_HASH)
            if item is not None and label != item.config_hash:
                self._ctx.reporter.warning(
                    f"{name}: its configuration changed since the last apply; it starts as it "
                    "was applied (`devarch apply` recreates it with the new one)"
                )

    def _warn_missing_dependencies(
        self,
        st: Stack,
        todo: Sequence[str],
        by_name: dict[str, _Target],
        items: dict[str, DesiredInstance],
        runtime: Runtime,
    ) -> None:
        starting = set(todo)
        for name in sorted(starting):
            item = items.get(name)
            for dep in item.depends_on if item is not None else ():
                if dep in starting:
                    continue
                target = by_name.get(dep)
                info = target.container if target else None
                if info is None:
                    dep_item = items.get(dep)
                    info = runtime.inspect_container(dep_item.spec.name) if dep_item else None
                if info is None or not info.running:
                    self._ctx.reporter.warning(
                        f"{name} depends on {dep}, which is not running "
                        f"(`devarch start {st.name} {dep}`)"
                    )

    def _stop(
        self, st: Stack, runtime: Runtime, targets: Sequence[_Target]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        by_name = {t.instance.name: t for t in targets}
        already = tuple(sorted(n for n, t in by_name.items() if not t.container.running))
        todo = [n for n in by_name if n not in already]
        stopped: list[str] = []
        desired = self._desired(st.name) if len(todo) > 1 else None
        scrub = self._scrub(st, desired.items if desired else ())
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - see start

        with (
            self._phase("stop", len(todo)),
            ThreadPoolExecutor(max_workers=max(1, min(len(todo), 64))) as pool,
        ):
            for wave in reversed(self._order(todo, desired)):
                list(pool.map(lambda n: self._one("stop", runtime, by_name[n], scrub), wave))
                stopped.extend(wave)
        return tuple(stopped), already


def _guarded(scrub: _Scrub, step: str, instance: str, call: Callable[[], None]) -> None:
    """Run an engine call; its error becomes an ``ApplyError`` with secret values scrubbed.

    When the engine's text quoted a secret, the error is raised outside the handler, so neither
    its message nor its exception chain holds the value.
    """
    try:
        call()
    except errors.DevarchError as exc:
        message = scrub(str(exc))
        if message == str(exc) and not scrub.quoted_in(exc):
            raise errors.ApplyError(f"{instance}: {message}", step=step, instance=instance) from exc
    else:
        return
    raise errors.ApplyError(f"{instance}: {message}", step=step, instance=instance)

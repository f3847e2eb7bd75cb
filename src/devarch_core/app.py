"""The facade: :class:`Devarch` composes the use-case services and delegates to them.

The use cases are plain services in :mod:`devarch_core.usecases`, one module per area (stacks,
instances, wires, secrets, keys, planner, apply, manifests). Each takes the unit of work (one
store transaction per use case, so a refused call leaves the store as it was) and only the ports
it needs. This module builds them from the adapters given to the constructor (see
``devarch_adapters.connect`` for the composition root that builds those from configuration) and
holds no rule of its own. See docs/architecture.md#layers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Self, overload

from devarch_core.hostports import DEFAULT_RANGE
from devarch_core.reporting import NullReporter
from devarch_core.usecases._helpers import UnitOfWork, template_for
from devarch_core.usecases.apply import ApplyResult, ApplyService, DownResult, InstanceStatus
from devarch_core.usecases.engines import EngineAccess, StackLocks
from devarch_core.usecases.instances import InstanceService
from devarch_core.usecases.keys import KeyService
from devarch_core.usecases.manifests import ManifestService
from devarch_core.usecases.planner import PlanService
from devarch_core.usecases.secrets import SecretService
from devarch_core.usecases.stacks import StackService, StackSummary
from devarch_core.usecases.wires import WireService

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from contextlib import AbstractContextManager
    from types import TracebackType

    from devarch_core._svg import SvgGraph
    from devarch_core.catalog import Catalog
    from devarch_core.errors import Problem
    from devarch_core.manifest import Lockfile, Manifest
    from devarch_core.merge import EffectiveConfig
    from devarch_core.model import Instance, Stack, Wire
    from devarch_core.overrides import Overrides
    from devarch_core.planning import Plan
    from devarch_core.ports import (
        Clock,
        ConfigFiles,
        KeyProvider,
        PortProbe,
        Reporter,
        Runtime,
        StackLock,
        Store,
    )
    from devarch_core.secrets import SecretBox
    from devarch_core.status import StatusReport
    from devarch_core.template import Template
    from devarch_core.usecases.keys import KeyCheck
    from devarch_core.usecases.manifests import ImportResult, InitPreview, InitResult

__all__ = ["ApplyResult", "Devarch", "DownResult", "InstanceStatus", "StackSummary", "SystemClock"]


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """UTC now."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """``time.sleep()``."""
        time.sleep(seconds)


class Devarch:
    """The devarch facade: stacks, instances, wires, secrets, plan/apply, compose.

    Build it with ``devarch_adapters.connect()`` or pass your own adapters (any object that
    satisfies the ports in :mod:`devarch_core.ports`; fakes are in :mod:`devarch_core.testing`).
    Use it as a context manager, or call :meth:`close`, to release the store's connections.
    """

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        keys: KeyProvider,
        runtime: Runtime | None = None,
        lock: StackLock | None = None,
        config_files: ConfigFiles | None = None,
        port_probe: PortProbe | None = None,
        clock: Clock | None = None,
        reporter: Reporter | None = None,
        port_range: tuple[int, int] = DEFAULT_RANGE,
        health_timeout: float = 120.0,
        parallelism: int | None = None,
        runtime_problem: str | None = None,
        runtime_auto: bool = False,
        runtime_note: str | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.runtime = runtime
        self.lock = lock
        self.config_files = config_files
        self.port_probe = port_probe
        self.clock: Clock = clock or SystemClock()
        self.reporter: Reporter = reporter or NullReporter()
        self.port_range = port_range
        self.health_timeout = health_timeout
        self.parallelism = parallelism
        #: True when the engine was picked automatically (``DEVARCH_RUNTIME=auto``): then a stack
        #: applied on another engine is refused instead of planned against this one.
        self.runtime_auto = runtime_auto
        #: Why this engine was picked, when that is worth saying (e.g. Docker did not answer).
        self.runtime_note = runtime_note
        #: Why no engine is configured (``runtime`` is None), as the composition root found it.
        self.runtime_problem = runtime_problem
        #: The configuration this facade was built from, when built by ``devarch_adapters.connect``.
        self.settings: object | None = None
        self._keys = keys
        self._closed = False

        uow = UnitOfWork(store, self.clock)
        self._uow = uow
        self._key_service = KeyService(uow, keys)
        self._engines = EngineAccess(
            uow, runtime, problem=runtime_problem, auto=runtime_auto, note=runtime_note
        )
        self._locks = StackLocks(uow, lock)
        self._secret_values = SecretService(uow, self._key_service)
        self._instances = InstanceService(uow, catalog, self._secret_values)
        self._wires = WireService(uow, catalog)
        self._planner = PlanService(
            uow,
            catalog,
            secrets=self._secret_values,
            box=self._key_service.box,
            engines=self._engines,
            config_files=config_files,
            port_probe=port_probe,
            port_range=port_range,
        )
        self._applier = ApplyService(
            uow,
            self._planner,
            engines=self._engines,
            locks=self._locks,
            config_files=config_files,
            clock=self.clock,
            reporter=self.reporter,
            health_timeout=health_timeout,
            parallelism=parallelism,
            lock_stack=self.lock_stack,
        )
        self._stacks = StackService(
            uow,
            catalog,
            keys=self._key_service,
            engines=self._engines,
            locks=self._locks,
            applier=self._applier,
            config_files=config_files,
        )
        self._manifests = ManifestService(
            uow,
            catalog,
            keys=self._key_service,
            secrets=self._secret_values,
            engines=self._engines,
            planner=self._planner,
            applier=self._applier,
        )

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the store, and the runtime and lock when they hold resources; idempotent.

        Each adapter with a ``close()`` method is closed once (the store first); the facade
        should not be used afterwards.
        """
        if self._closed:
            return
        self._closed = True
        seen: set[int] = set()
        for adapter in (self.store, self.runtime, self.lock):
            closer = getattr(adapter, "close", None)
            if adapter is None or id(adapter) in seen or not callable(closer):
                continue
            seen.add(id(adapter))
            closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- identity and engine ---------------------------------------------------------------------
    @property
    def secrets(self) -> SecretBox:
        """The secret box: seals and opens values, keyed hashes for plans (never a plaintext)."""
        return self._key_service.box

    @property
    def owner(self) -> str:
        """The store's identity, written into every resource's ``devarch.owner`` label."""
        return self._uow.owner

    def template_for(self, instance: Instance) -> Template:
        """The catalog template an instance was made from (its pinned version)."""
        return template_for(self.catalog, instance)

    def stack_engine(self, name: str) -> str | None:
        """The engine kind a stack was last applied on (``docker``, ``podman``), or None."""
        return self._engines.stack_engine(name)

    def _require_runtime(self) -> Runtime:
        """The runtime, or ``EngineError`` saying how to configure one (the plugin's guard)."""
        return self._engines.require()

    def locked(
        self, stack: str, *, timeout: float | None = None, holder: str | None = None
    ) -> AbstractContextManager[None]:
        """Hold the stack's lock for the block (``StackLockedError`` at once if another holds it).

        ``apply``, ``down`` and ``delete_stack`` called inside the block, from the same thread, use
        this hold instead of taking the lock again. A front end takes it *before* planning, so a
        second apply is refused before it shows a plan the first one is about to change.
        """
        return self._locks.locked(stack, timeout=timeout, holder=holder)

    # -- stacks ------------------------------------------------------------------------------
    def create_stack(
        self, name: str, *, description: str = "", network: str | None = None
    ) -> Stack:
        """Create an empty stack; ``ConflictError`` if the name is taken."""
        return self._stacks.create_stack(name, description=description, network=network)

    def get_stack(self, name: str) -> Stack:
        """One stack."""
        return self._stacks.get_stack(name)

    def list_stacks(self, *, with_runtime: bool = True) -> list[StackSummary]:
        """Every stack with instance counts (and running counts when an engine answers)."""
        return self._stacks.list_stacks(with_runtime=with_runtime)

    def show_stack(self, name: str) -> dict[str, Any]:
        """A stack with its instances, wires and last applied times (plain data)."""
        return self._stacks.show_stack(name)

    def update_stack(
        self, name: str, *, description: str | None = None, network: str | None = None
    ) -> Stack:
        """Change a stack's description or custom network name (the name itself never changes)."""
        return self._stacks.update_stack(name, description=description, network=network)

    def set_stack_enabled(self, name: str, enabled: bool) -> Stack:
        """Enable or disable a stack (a disabled stack plans to remove its containers)."""
        return self._stacks.set_stack_enabled(name, enabled)

    def delete_stack(
        self, name: str, *, keep_volumes: bool = False, lock_timeout: float | None = None
    ) -> None:
        """Delete a stack: its containers, network, volumes (with an engine), then its definition.

        Runs under the stack's lock, like apply and down: while an apply runs it fails at once with
        ``StackLockedError`` (or waits up to ``lock_timeout`` seconds) and deletes nothing.
        """
        return self._stacks.delete_stack(name, keep_volumes=keep_volumes, lock_timeout=lock_timeout)

    def clone_stack(self, source: str, name: str, *, description: str | None = None) -> Stack:
        """Copy a stack under a new name (host ports are not copied).

        Copy a stack under a new name: instances, overrides, wires and secrets (re-sealed for the
        new slots). Host ports are not copied: pinned ones are dropped so devarch allocates the
        clone its own at its first plan (a host port belongs to one instance of the store).
        """
        return self._stacks.clone_stack(source, name, description=description)

    # -- instances ---------------------------------------------------------------------------
    def add_instance(
        self,
        stack: str,
        name: str,
        template: str,
        *,
        version: str | None = None,
        description: str = "",
        enabled: bool = True,
        overrides: Mapping[str, Any] | Overrides | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> Instance:
        """Instantiate a template in a stack (optionally with overrides and secret values)."""
        return self._instances.add_instance(
            stack,
            name,
            template,
            version=version,
            description=description,
            enabled=enabled,
            overrides=overrides,
            secrets=secrets,
        )

    def list_instances(self, stack: str) -> list[Instance]:
        """A stack's instances, by name."""
        return self._instances.list_instances(stack)

    def get_instance(self, stack: str, name: str) -> Instance:
        """One instance."""
        return self._instances.get_instance(stack, name)

    def show_instance(self, stack: str, name: str) -> dict[str, Any]:
        """An instance with every override and its secret names (plain data, no secret values)."""
        return self._instances.show_instance(stack, name)

    def update_instance(
        self, stack: str, name: str, *, description: str | None = None, enabled: bool | None = None
    ) -> Instance:
        """Change an instance's description or enabled flag."""
        return self._instances.update_instance(
            stack, name, description=description, enabled=enabled
        )

    def set_overrides(self, stack: str, name: str, delta: Mapping[str, Any]) -> Instance:
        """Merge an override delta (manifest form) into an instance's overrides, by key.

        Values of secret variables are sealed in the store, never kept in the overrides.
        """
        return self._instances.set_overrides(stack, name, delta)

    def unset_override(self, stack: str, name: str, field: str) -> Instance:
        """Drop one override so the field inherits again.

        ``field`` is a path such as ``environment.FOO``, ``ports.5432/tcp`` or ``image``.
        """
        return self._instances.unset_override(stack, name, field)

    def remove_instance(self, stack: str, name: str) -> None:
        """Delete an instance (and the wires that name it); its container goes at the next apply."""
        return self._instances.remove_instance(stack, name)

    def duplicate_instance(self, stack: str, name: str, new_name: str) -> Instance:
        """Copy an instance (overrides and secrets) under a new name in the same stack."""
        return self._instances.duplicate_instance(stack, name, new_name)

    def rename_instance(self, stack: str, name: str, new_name: str) -> Instance:
        """Rename an instance (its id, secrets and port pins stay; wires follow)."""
        return self._instances.rename_instance(stack, name, new_name)

    def effective(self, stack: str, name: str) -> EffectiveConfig:
        """An instance's effective config: template + wires + overrides, each with its source."""
        return self._instances.effective(stack, name)

    # -- wires -------------------------------------------------------------------------------
    def list_wires(self, stack: str) -> list[Wire]:
        """A stack's explicit wires."""
        return self._wires.list_wires(stack)

    def add_wire(
        self,
        stack: str,
        consumer: str,
        import_name: str,
        provider: str | None,
        *,
        export: str | None = None,
    ) -> Wire:
        """Pin a provider for one import of a consumer (replaces an earlier pin for that import).

        ``provider=None`` leaves an optional import unwired on purpose; a required import is
        refused (``ValidationError``).
        """
        return self._wires.add_wire(stack, consumer, import_name, provider, export=export)

    def remove_wire(self, stack: str, consumer: str, import_name: str) -> None:
        """Drop an explicit wire (auto-wiring applies again)."""
        return self._wires.remove_wire(stack, consumer, import_name)

    # -- secrets -----------------------------------------------------------------------------
    def set_secret(self, stack: str, instance: str, name: str, value: str) -> None:
        """Seal a secret environment value for an instance (it wins over template and wires)."""
        return self._secret_values.set_secret(stack, instance, name, value)

    def unset_secret(self, stack: str, instance: str, name: str) -> None:
        """Forget a secret value (the variable falls back to the template or wires)."""
        return self._secret_values.unset_secret(stack, instance, name)

    def list_secrets(self, stack: str) -> list[dict[str, str]]:
        """Secret names per instance (never values)."""
        return self._secret_values.list_secrets(stack)

    # -- keys --------------------------------------------------------------------------------
    def rotate_key(self, new_key: bytes) -> int:
        """Re-seal every value of the store under ``new_key``; crash-safe at every step.

        1. ``new_key`` is made durable beside the current key (``secret.key.next``);
        2. every secret and the hash key are re-sealed under it in one transaction, which also
           records its key id in the store;
        3. it replaces the current key (an atomic rename).

        A crash before step 2 commits leaves the store on the old key, after it on the new one;
        both keys are offered until step 3, so every value stays readable. The next rotation,
        ``finish_key_rotation`` or ``set_secret`` completes an interrupted one. Rotations run one
        at a time (the key provider's rotation lock); a concurrent ``set_secret`` seals under the
        key the store records when it writes, and rotation re-seals what was written before.
        Returns how many secrets were re-sealed.
        """
        return self._key_service.rotate_key(new_key)

    def finish_key_rotation(self) -> bool:
        """Complete an interrupted key rotation (re-seal if needed, switch the key files).

        Returns False when there was none. Waits for a rotation that is running.
        """
        return self._key_service.finish_key_rotation()

    def check_key(self) -> list[KeyCheck]:
        """Does the key match the store, and is a rotation pending? Reads only (for doctor)."""
        return self._key_service.check_key()

    # -- planner -----------------------------------------------------------------------------
    def plan(self, stack: str) -> Plan:
        """The plan for a stack: what apply would change, with diagnostics and a staleness token."""
        return self._planner.plan(stack)

    def compose(
        self,
        stack: str,
        instance: str | None = None,
        *,
        reveal_secrets: bool = False,
        project: str | None = None,
    ) -> str:
        """The stack (or one instance) as a Compose file with the same names devarch uses.

        Secrets are ``***`` unless ``reveal_secrets`` (then the file holds plaintext: handle it
        like the secret it is). Host ports are the ones devarch allocated or would allocate.
        """
        return self._planner.compose(
            stack, instance, reveal_secrets=reveal_secrets, project=project
        )

    @overload
    def graph(self, stack: str, *, fmt: Literal["svg"]) -> SvgGraph: ...
    @overload
    def graph(self, stack: str, *, fmt: Literal["mermaid", "dot"] = "mermaid") -> str: ...
    @overload
    def graph(self, stack: str, *, fmt: str) -> str | SvgGraph: ...
    def graph(self, stack: str, *, fmt: str = "mermaid") -> str | SvgGraph:
        """The stack's wiring graph as Mermaid or DOT text, or an SVG drawing (``fmt="svg"``)."""
        return self._planner.graph(stack, fmt=fmt)

    # -- apply -------------------------------------------------------------------------------
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
        return self._applier.apply(
            stack,
            plan,
            lock_timeout=lock_timeout,
            holder=holder,
            lockfile=lockfile,
            locked=locked,
            lockfile_origin=lockfile_origin,
        )

    def down(
        self,
        stack: str,
        *,
        volumes: bool = False,
        lock_timeout: float | None = None,
        ordered: bool = False,
    ) -> int:
        """Remove a stack's containers and network (and named volumes if asked), not its definition.

        Every container is stopped at once; ``ordered=True`` stops dependents before what they
        depend on, one dependency level at a time. Returns how many containers were removed
        (:meth:`down_report` says what exactly).
        """
        return self._applier.down(
            stack, volumes=volumes, lock_timeout=lock_timeout, ordered=ordered
        )

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
        return self._applier.down_report(
            stack, volumes=volumes, lock_timeout=lock_timeout, ordered=ordered
        )

    def status(self, stack: str) -> StatusReport:
        """Each instance's container state, health and published ports, as a list.

        The wrapping list knows its stack and renders as a table in notebooks.
        """
        return self._applier.status(stack)

    # -- manifests ---------------------------------------------------------------------------
    def export_manifest(self, stack: str, *, digests: bool = False) -> Manifest:
        """A stack as a manifest: overrides, explicit wires, host port pins, secret placeholders."""
        return self._manifests.export_manifest(stack, digests=digests)

    def export_yaml(self, stack: str, *, digests: bool = False) -> str:
        """``devarch.yml`` text of a stack (deterministic)."""
        return self._manifests.export_yaml(stack, digests=digests)

    def import_manifest(
        self,
        manifest: Manifest,
        *,
        prune: bool = False,
        dry_run: bool = False,
        secret_values: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        lockfile: Lockfile | None = None,
        parse_problems: Sequence[Problem] = (),
        ignore_pins: bool = False,
    ) -> ImportResult:
        """Create or update the manifest's stack in one transaction, after validating everything.

        ``${secret:NAME}`` keeps an existing secret of the instance, else takes
        ``environ["DEVARCH_SECRET_NAME"]``, else ``secret_values[NAME]``; every missing secret is
        reported at once. With ``prune`` instances the file no longer has are removed. A
        ``lockfile`` supplies host ports for instances the manifest does not pin. Returns the
        changes in the plan's diff format; with ``dry_run`` nothing is written. With
        ``ignore_pins`` the manifest's ``pins:`` block (host ports, image digests) is ignored.

        Every rule plan and apply enforce on what is written is checked here first (see
        docs/manifest.md): nothing is written when one fails.
        """
        return self._manifests.import_manifest(
            manifest,
            prune=prune,
            dry_run=dry_run,
            secret_values=secret_values,
            environ=environ,
            lockfile=lockfile,
            parse_problems=parse_problems,
            ignore_pins=ignore_pins,
        )

    def import_yaml(
        self,
        text: str | bytes,
        *,
        origin: str = "devarch.yml",
        **options: Any,  # noqa: ANN401
    ) -> ImportResult:
        """Parse ``devarch.yml`` text and import it (see :meth:`import_manifest`)."""
        return self._manifests.import_yaml(text, origin=origin, **options)

    def lock_stack(self, stack: str) -> Lockfile:
        """The stack's lockfile as it is now: template hashes, images (engine ids), host ports."""
        return self._manifests.lock_stack(stack)

    def check_lock(self, stack: str, lockfile: Lockfile) -> list[str]:
        """How the stack diverges from a lockfile (empty when it matches)."""
        return self._manifests.check_lock(stack, lockfile)

    def init_stack(
        self,
        manifest: Manifest,
        *,
        lockfile: Lockfile | None = None,
        strict: bool = False,
        secret_values: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        lock_timeout: float | None = None,
        confirm: Callable[[ImportResult, Plan], bool] | None = None,
    ) -> InitResult:
        """From a manifest (and lockfile) to a running stack: import, check the lock, apply, lock.

        Running it twice changes nothing: the import reports no changes and the plan is empty.
        With ``strict`` a divergence from the lockfile (template content, image, host ports) is
        refused before anything runs; otherwise it is returned as a warning.

        Atomic up to the engine: when the apply is refused before it touches the engine (no
        engine, an invalid manifest, wiring or host port errors in the plan, a lockfile
        divergence with ``strict``, another session applying, ``confirm`` saying no) the import
        is rolled back and the store is as it was. Once the engine was touched, a failure keeps
        the import and says so (:meth:`preview_init` changes nothing). ``confirm`` is given the
        import's changes and the plan before anything is applied (only when something would
        change); its refusal, or an error it raises, rolls the import back.
        """
        return self._manifests.init_stack(
            manifest,
            lockfile=lockfile,
            strict=strict,
            secret_values=secret_values,
            environ=environ,
            lock_timeout=lock_timeout,
            confirm=confirm,
        )

    def preview_init(
        self,
        manifest: Manifest,
        *,
        lockfile: Lockfile | None = None,
        strict: bool = False,
        secret_values: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> InitPreview:
        """What :meth:`init_stack` would do, changing nothing (``init --dry-run``).

        Refuses what init would refuse before it imports (an invalid manifest, with ``strict`` a
        divergence from the lockfile or from ``pins.image``); otherwise returns the import's
        changes, the lockfile divergence as warnings, and the plan when the import changes
        nothing.
        """
        return self._manifests.preview_init(
            manifest, lockfile=lockfile, strict=strict, secret_values=secret_values, environ=environ
        )

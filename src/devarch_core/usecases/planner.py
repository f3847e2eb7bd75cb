"""Plan, compose preview and wiring graph: from the store's definitions to the desired state.

:class:`PlanService` resolves a stack in one pass (:mod:`~devarch_core.usecases.resolution`),
allocates host ports, builds each container's engine spec and diffs it against what the engine
runs. See docs/architecture.md#data-path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen

from devarch_core import errors, naming
from devarch_core.compose import compose_items, render_compose, render_instance
from devarch_core.desired import container_spec, network_labels, spec_hash
from devarch_core.engine import ContainerInfo
from devarch_core.hostports import PortRequest, allocate_ports
from devarch_core.model import Instance, PortAllocation, Stack
from devarch_core.ownership import has_labels, owned_by
from devarch_core.planning import DesiredInstance, Plan, PlanDiagnostic, compute_plan
from devarch_core.rendering import wiring_graph
from devarch_core.secrets import Secret
from devarch_core.spec import Resources
from devarch_core.usecases._helpers import Service, stack_of, template_for
from devarch_core.usecases.engines import holder_of
from devarch_core.usecases.resolution import ResolvedStack, resolve_stack
from devarch_core.usecases.rules import all_allocations
from devarch_core.wiring import ResolvedWire, WiringNode, solve_wiring

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from devarch_core._svg import SvgGraph
    from devarch_core.engine import ContainerSpec
    from devarch_core.merge import EffectiveConfig
    from devarch_core.ports import Runtime

__all__ = [
    "CONFLICT_CODES",
    "PORT_CLASH_CODES",
    "Desired",
    "PlanService",
    "refuse_errors",
    "refuse_plan_errors",
]

#: Plan error codes that mean "another owner holds this name" (apply raises ConflictError).
CONFLICT_CODES = frozenset({"network-conflict", "container-conflict", "volume-conflict"})
#: Plan diagnostics that are host port clashes (apply refuses them as ``PortConflictError``).
PORT_CLASH_CODES = frozenset({"port-conflict", "port-in-use"})


@frozen(kw_only=True)
class Desired:
    """Everything a plan is computed from, and apply works from."""

    stack: Stack
    #: The enabled instances resolved once with their wires (instances, wiring, waves below).
    resolved: ResolvedStack
    items: tuple[DesiredInstance, ...]
    diagnostics: tuple[PlanDiagnostic, ...]
    observed: tuple[ContainerInfo, ...]
    new_ports: tuple[tuple[str, PortAllocation], ...]
    inputs: Mapping[str, str]
    #: Container name -> why it cannot be created (another owner holds that name).
    blocked: Mapping[str, str] = attrs.field(factory=dict)
    #: Networks this stack created earlier under another name (its network was changed).
    old_networks: tuple[str, ...] = ()

    @property
    def instances(self) -> tuple[Instance, ...]:
        """The stack's enabled instances."""
        return self.resolved.instances

    @property
    def wiring(self) -> tuple[ResolvedWire, ...]:
        """The wires the solver chose, typed."""
        return self.resolved.wiring.wires

    @property
    def waves(self) -> tuple[tuple[str, ...], ...]:
        """Instances that can start together, dependencies first."""
        return self.resolved.waves


def refuse_plan_errors(stack: str, plan: Plan) -> None:
    """Raise what apply raises for a plan with errors (see :func:`refuse_errors`)."""
    refuse_errors(plan.errors, f"cannot apply stack {stack}")


def refuse_errors(found: Sequence[PlanDiagnostic], what: str) -> None:
    """Refuse ``what`` (``cannot apply stack s``) when any diagnostic was ``found``.

    Host port clashes alone are a ``PortConflictError``, anything else a ``WiringError``.
    """
    if not found:
        return
    if all(d.code in PORT_CLASH_CODES for d in found):
        raise errors.PortConflictError([errors.Problem("", d.message) for d in found], what=what)
    raise errors.WiringError(f"{what}: " + "; ".join(d.message for d in found))


def _memo(hash_secret: Callable[[str], str]) -> Callable[[str], str]:
    """``hash_secret`` computed once per value (for the span of one desired state)."""
    seen: dict[str, str] = {}

    def hashed(value: str) -> str:
        if value not in seen:
            seen[value] = hash_secret(value)
        return seen[value]

    return hashed


class PlanService(Service):
    """The desired state of a stack and its plan.

    Ports: the catalog, the engine (through :class:`EngineAccess`, read only), the config files
    (their host paths), the port probe and the secret box (keyed hashes of secrets).
    """

    def fields(
        self,
        eff: EffectiveConfig,
        spec: ContainerSpec | None = None,
        hash_secret: Callable[[str], str] | None = None,
    ) -> dict[str, Any]:
        """Flat fields for diffs: secrets as keyed hashes, published ports with their host port.

        ``hash_secret`` is the keyed hash to use (default: the secret box's).
        """
        hash_secret = hash_secret or self._ctx.keys.box.keyed_hash
        fields = eff.fields()
        for published in spec.ports if spec is not None else ():
            key = f"ports.{published.container}/{published.protocol}"
            if isinstance(fields.get(key), dict):
                fields[key] = {**fields[key], "host": published.host_port}
        for name in eff.secret_env:
            value = eff.service.environment[name]
            if isinstance(value, Secret):
                fields[f"environment.{name}"] = hash_secret(value.reveal())
        return fields

    def desired(self, stack_name: str, *, observe: bool = True) -> Desired:
        """The stack's desired state.

        Without ``observe`` (compose previews) the engine and the host are not asked.
        """
        owner = self._ctx.uow.owner
        runtime = None
        if observe and self._ctx.runtime is not None:
            # Most stacks live on the environment's engine: its info is asked meanwhile.
            self._ctx.engines.prefetch_info(self._ctx.runtime)
        with self._ctx.uow.transaction() as tx:
            stack = stack_of(tx, stack_name)
            target = self._ctx.engines.target(tx, stack) if observe else None
            resolved = resolve_stack(
                tx, self._ctx.catalog, stack, self._ctx.secrets.open_all(tx, stack)
            )
            # Host ports are per engine: stacks bound to other engines do not take them.
            existing = all_allocations(
                tx, stack.name, resolved.instances, engine=target.name if target else None
            )
        effective = resolved.effective
        diagnostics = list(resolved.diagnostics)
        if observe:
            runtime = self._ctx.engines.for_stack(stack)
            diagnostics.extend(self._engine_diagnostics(runtime, stack))
            if not self._ctx.engines.info(runtime).binds_host_ip:
                effective, found = publish_on_every_interface(effective)
                diagnostics.extend(found)
        observed = runtime.list_containers(owned_by(owner, stack.id)) if runtime is not None else []
        own_bound = [(p.host_ip, p.host_port) for c in observed if c.running for p in c.ports]
        requests = [
            PortRequest.of_port(
                port, stack=stack.name, instance=eff.instance, instance_id=eff.instance_id
            )
            for eff in effective.values()
            for port in eff.service.ports
            if port.publish
        ]
        # The probe asks this machine: meaningless for an engine reached over tcp:// or ssh://.
        probe = self._ctx.port_probe if observe and target is not None and target.is_local else None
        resolution = allocate_ports(
            requests, existing, probe=probe, own_bound=own_bound, port_range=self._ctx.port_range
        )
        diagnostics.extend(resolution.diagnostics)
        if runtime is not None:
            diagnostics.extend(self._resource_diagnostics(runtime, effective))
        items = []
        hash_secret = _memo(self._ctx.keys.box.keyed_hash)  # one secret wired into many: one HMAC
        # The host ports this plan allocates, by instance (not a scan of them per instance).
        new_by_instance: dict[str, dict[str, int]] = {}
        for instance_id, alloc in resolution.new:
            new_by_instance.setdefault(instance_id, {})[alloc.key] = alloc.host_port
        for name in sorted(effective):
            eff = effective[name]
            config_dir = (
                self._ctx.config_files.host_path(stack.name, name)
                if self._ctx.config_files and eff.service.config_files
                else None
            )
            try:
                spec = container_spec(
                    eff,
                    owner=owner,
                    allocations=resolution.chosen.get(eff.instance_id, {}),
                    config_dir=config_dir,
                )
            except errors.ValidationError as exc:
                diagnostics.append(
                    PlanDiagnostic(
                        severity="error", code="invalid", instance=name, message=str(exc)
                    )
                )
                continue
            files = [[f.path, f.mode, f.content] for f in eff.service.config_files]
            config_hash = spec_hash(spec, hash_secret, extra=files)
            spec = attrs.evolve(spec, labels={**spec.labels, naming.LABEL_CONFIG_HASH: config_hash})
            new_ports = new_by_instance.get(eff.instance_id, {})
            items.append(
                DesiredInstance(
                    effective=eff,
                    spec=spec,
                    fields=self.fields(eff, spec, hash_secret),
                    depends_on=eff.service.depends_on,
                    new_ports=new_ports,
                )
            )
        blocked: dict[str, str] = {}
        old_networks: tuple[str, ...] = ()
        if runtime is not None and items:
            found, blocked, old_networks = self._ownership(runtime, stack, items, observed)
            diagnostics.extend(found)
        return Desired(
            stack=stack,
            resolved=resolved,
            items=tuple(items),
            diagnostics=tuple(diagnostics),
            observed=tuple(observed),
            new_ports=resolution.new,
            inputs={
                f"template {i.template}@{i.template_version}": template_for(
                    self._ctx.catalog, i
                ).content_hash
                for i in resolved.instances
            },
            blocked=blocked,
            old_networks=old_networks,
        )

    def _engine_diagnostics(self, runtime: Runtime, stack: Stack) -> list[PlanDiagnostic]:
        """A warning when the user chose an engine other than the one the stack lives on."""
        recorded = self._ctx.engines.stack_engine(stack.name)
        current = self._ctx.engines.kind(runtime)
        if stack.engine or not recorded or recorded == current:
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
        owner = self._ctx.uow.owner
        mine = owned_by(owner, stack.id)
        diagnostics, old = self._network_ownership(runtime, stack, mine)
        blocked: dict[str, str] = {}
        seen = {c.name for c in observed}
        # One listing of every container instead of an inspect per container this stack does
        # not own yet (all of them on a first apply).
        unseen = any(item.spec.name not in seen for item in items)
        others = {c.name: c for c in runtime.list_containers({})} if unseen else {}
        for item in items:
            name, instance = item.spec.name, item.effective.instance
            existing = None if name in seen else others.get(name)
            if existing is None:
                continue
            who, then = holder_of(existing.labels, owner)
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
                who, then = holder_of(network.labels, self._ctx.uow.owner)
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
        self,
        runtime: Runtime,
        stack: Stack,
        items: Iterable[DesiredInstance],
        mine: Mapping[str, str],
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
            if (user := wanted.get(volume.name)) is not None and not has_labels(volume.labels, mine)
        ]
        return [self._volume_conflict(stack, *conflict) for conflict in conflicts]

    def _volume_conflict(
        self, stack: Stack, volume: str, user: str, labels: Mapping[str, str]
    ) -> PlanDiagnostic:
        who, then = holder_of(labels, self._ctx.uow.owner)
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

    def _resource_diagnostics(
        self, runtime: Runtime, effective: Mapping[str, EffectiveConfig]
    ) -> list[PlanDiagnostic]:
        """Warnings for limits the engine cannot enforce and CPU limits above the host's CPUs."""
        wanted = {
            name: eff.service.resources for name, eff in effective.items() if eff.service.resources
        }
        if not wanted:
            return []
        info = self._ctx.engines.info(runtime)
        found: list[PlanDiagnostic] = []
        for name, res in sorted(wanted.items()):
            found.extend(
                PlanDiagnostic(
                    severity="warning",
                    code="limit-not-enforced",
                    instance=name,
                    message=(
                        f"{name}: {info.engine} cannot enforce {field} here; it is "
                        "recorded but has no effect"
                    ),
                )
                for field in Resources.FIELDS
                if getattr(res, field) is not None and field not in info.enforces
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
                            message=(
                                f"{name}: {field} {value} is more than the {info.cpus} CPUs of "
                                "the engine's host" + ("; Docker refuses it" if refused else "")
                            ),
                        )
                    )
        return found

    def make_plan(self, desired: Desired) -> Plan:
        """Diff ``desired`` against what the engine runs and the last applied records."""
        # compute_plan reads a record only where a container runs with another config hash
        # than the desired one (to diff against what was applied): read just those.
        running = {c.name: c.labels.get(naming.LABEL_CONFIG_HASH) for c in desired.observed}
        wanted = {
            item.effective.instance_id
            for item in desired.items
            if item.effective.container_name in running
            and running[item.effective.container_name] != item.config_hash
        }
        records = {}
        if wanted:
            with self._ctx.uow.transaction() as tx:
                records = {r.instance_id: r for r in tx.list_applied(desired.stack.id)}
        return compute_plan(
            stack=desired.stack.name,
            desired=desired.items,
            observed=desired.observed,
            applied={k: v for k, v in records.items() if k in wanted},
            diagnostics=desired.diagnostics,
            # The plan is the edge where wires become rows (its ``wiring`` list).
            wiring=[w.to_data() for w in desired.wiring],
            extra_basis=desired.inputs,
            blocked=desired.blocked,
        )

    def plan(self, stack: str) -> Plan:
        """The plan for a stack: what apply would change, with diagnostics and a staleness token."""
        return self.make_plan(self.desired(stack))

    # -- compose and graph -------------------------------------------------------------------
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
        desired = self.desired(stack, observe=False)
        found = [
            d for d in desired.diagnostics if d.severity == "error" and d.code != "port-in-use"
        ]
        refuse_errors(found, f"cannot render stack {stack}")
        items = compose_items((d.effective.instance, d.spec, d.depends_on) for d in desired.items)
        labels = network_labels(desired.stack.name, desired.stack.id, self._ctx.uow.owner)
        if instance is not None:
            item = next((i for i in items if i.name == instance), None)
            if item is None:
                raise errors.NotFoundError("enabled instance", f"{stack}/{instance}")
            return render_instance(
                item, network_labels=labels, project=project, reveal_secrets=reveal_secrets
            )
        return render_compose(
            desired.stack.name,
            desired.stack.network_name,
            items,
            network_labels=labels,
            project=project,
            reveal_secrets=reveal_secrets,
        )

    def graph(self, stack: str, *, fmt: str = "mermaid") -> str | SvgGraph:
        """The stack's wiring graph as Mermaid or DOT text, or an SVG drawing (``fmt="svg"``).

        Typed loosely: the facade's ``Devarch.graph`` carries the per-format overloads.
        """
        with self._ctx.uow.transaction() as tx:
            st = stack_of(tx, stack)
            instances = tx.list_instances(st.id)
            nodes = [
                WiringNode(
                    name=i.name,
                    enabled=i.enabled and st.enabled,
                    template=template_for(self._ctx.catalog, i),
                )
                for i in instances
            ]
            plan = solve_wiring(nodes, tx.list_wires(st.id), stack=st.name)
        if fmt == "svg":
            from devarch_core._svg import wiring_svg  # noqa: PLC0415 - only notebooks draw SVG

            return wiring_svg(nodes, plan, stack=st.name)
        return wiring_graph(nodes, plan, fmt=fmt, stack=st.name)  # type: ignore[arg-type]


def publish_on_every_interface(
    effective: Mapping[str, EffectiveConfig],
) -> tuple[dict[str, EffectiveConfig], list[PlanDiagnostic]]:
    """Ports for an engine that publishes on every interface (Docker Swarm; docs/swarm.md).

    Only a port with an explicit ``host`` is published there, with a warning that it is reachable
    on every interface of the node; the others are not published (an info line says so).
    """
    changed: dict[str, EffectiveConfig] = {}
    found: list[PlanDiagnostic] = []
    for name, eff in effective.items():
        ports = []
        for port in eff.service.ports:
            if port.publish and port.host is None:
                found.append(
                    PlanDiagnostic(
                        severity="info",
                        code="port-not-published",
                        instance=name,
                        message=(
                            f"{name}: port {port.key} is not published on this engine, which "
                            "would expose it on every interface; set its host port to publish it"
                        ),
                    )
                )
                port = attrs.evolve(port, publish=False)  # noqa: PLW2901 - the changed copy
            elif port.publish:
                found.append(
                    PlanDiagnostic(
                        severity="warning",
                        code="port-on-every-interface",
                        instance=name,
                        message=(
                            f"{name}: port {port.key} is published on host port {port.host} of "
                            f"every interface of the node, not only {port.host_ip}"
                        ),
                    )
                )
            ports.append(port)
        service = attrs.evolve(eff.service, ports=tuple(ports))
        changed[name] = attrs.evolve(eff, service=service)
    return changed, found

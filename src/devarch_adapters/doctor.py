"""``devarch doctor``: checks of the machine devarch runs on, each pass / warn / fail with a fix.

The checks look at the world (engine socket, files, disk, host ports), so they live with the
adapters; they reach the store and engine only through the facade's ports.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from attrs import frozen

from devarch_core import _convert, naming
from devarch_core.errors import DevarchError
from devarch_core.hostports import holder_command
from devarch_core.ownership import find_orphans, managed_selector, owned_by

if TYPE_CHECKING:
    from devarch_core.app import Devarch

__all__ = ["Check", "run_doctor"]

Status = Literal["pass", "warn", "fail"]
MIN_FREE_WARN = 2 * 1024**3
MIN_FREE_FAIL = 256 * 1024**2
#: How many orphaned resources the orphans check names before it says "and N more".
ORPHANS_LISTED = 10


@_convert.register_result
@frozen(kw_only=True)
class Check:
    """One doctor check."""

    name: str
    status: Status
    message: str
    fix: str = ""

    def to_data(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = _convert.unstructure(self)
        return data


def _failed(name: str, exc: DevarchError, fix: str) -> list[Check]:
    """The one failed check of ``name`` when probing it raised ``exc``."""
    return [Check(name=name, status="fail", message=str(exc), fix=fix)]


def _engine(devarch: Devarch) -> list[Check]:
    if devarch.runtime is None:
        why = devarch.runtime_problem or "no engine configured"
        # The composition root's reason may already say "no container engine reachable (...)":
        # keep only what is in the brackets so the message does not say it twice.
        detail = why.removeprefix("no container engine reachable").strip()
        if detail != why.strip() and detail.startswith("(") and detail.endswith(")"):
            why = detail[1:-1]
        return [
            Check(
                name="engine",
                status="fail",
                message=f"no container engine reachable: {why}",
                fix="start Docker (`dockerd` / `systemctl start docker`) or Podman's API socket "
                "(`podman system service --time=0 unix:///run/podman/podman.sock`), "
                "or set DOCKER_HOST / DEVARCH_RUNTIME",
            )
        ]
    try:
        info = devarch.runtime.info()
    except DevarchError as exc:
        return _failed("engine", exc, "start the engine or fix DOCKER_HOST")
    checks = [
        Check(
            name="engine",
            status="pass",
            message=f"{info.engine} {info.version} at {info.endpoint}"
            + (" (rootless)" if info.rootless else "")
            + (f" (chosen automatically: {devarch.runtime_note})" if devarch.runtime_note else ""),
        )
    ]
    selinux = Path("/sys/fs/selinux/enforce")
    if selinux.exists() and selinux.read_text().strip() == "1":
        checks.append(
            Check(
                name="selinux",
                status="warn",
                message="SELinux is enforcing: bind-mounted config files need a matching label",
                fix="label the devarch home for containers: "
                f"`chcon -Rt container_file_t {devarch_home(devarch)}`",
            )
        )
    else:
        checks.append(Check(name="selinux", status="pass", message="SELinux is not enforcing"))
    missing = {"cpu_limit", "cpu_reservation", "memory_limit", "memory_reservation"} - set(
        info.enforces
    )
    if missing:
        checks.append(
            Check(
                name="resource-limits",
                status="warn",
                message=f"{info.engine} cannot enforce: {', '.join(sorted(missing))}",
                fix="use a rootful engine with cgroups v2 to enforce every limit",
            )
        )
    return checks


def devarch_home(devarch: Devarch) -> Path:
    """The devarch home of a facade built by ``connect()`` (else the current directory)."""
    settings = devarch.settings
    return Path(getattr(settings, "home", ".")).absolute()


def _ports(devarch: Devarch) -> list[Check]:
    probe = devarch.port_probe
    if probe is None:
        return []
    problems = []
    own: set[int] = set()
    if devarch.runtime is not None:
        try:
            containers = devarch.runtime.list_containers(managed_selector())
        except DevarchError:
            containers = []
        own = {p.host_port for c in containers if c.running for p in c.ports}
    elsewhere = _stacks_elsewhere(devarch)
    with devarch.store.transaction() as tx:
        enabled = {s.name for s in tx.list_stacks() if s.enabled}
        allocations = [
            a
            for a in tx.list_port_allocations(None)
            if a.stack in enabled and a.stack not in elsewhere
        ]
    for alloc in allocations:
        if alloc.host_port in own:
            continue
        if not probe.is_free(alloc.host_ip, alloc.host_port, alloc.protocol):
            problems.append(
                Check(
                    name="host-ports",
                    status="fail",
                    message=(
                        f"host port {alloc.host_ip}:{alloc.host_port}/{alloc.protocol} "
                        f"of {alloc.stack}/{alloc.instance} is bound by another process"
                    ),
                    fix=(
                        f"stop the process using port {alloc.host_port} "
                        f"(`{holder_command(alloc.host_port, alloc.protocol)}` shows it), "
                        "or pin another port: "
                        f"`devarch instance set {alloc.stack} {alloc.instance} "
                        f"port=<free port>:{alloc.container_port}`"
                    ),
                )
            )
    if not problems:
        return [
            Check(
                name="host-ports",
                status="pass",
                message=f"{len(allocations)} allocated host ports are free or ours",
            )
        ]
    return problems


def _stacks_elsewhere(devarch: Devarch) -> dict[str, str]:
    """Stacks applied on another engine than the one in use: stack name -> that engine.

    Their containers run on the other engine, so their host ports are held by it (not by a
    foreign process) and their resources are not visible here.
    """
    runtime = devarch.runtime
    if runtime is None:
        return {}
    with devarch.store.transaction() as tx:
        stacks = tx.list_stacks()
    found = {}
    for stack in stacks:
        if stack.engine:
            # Bound to a named engine (docs/engines.md): elsewhere unless it is this runtime.
            try:
                there = devarch.engine_runtime(devarch.engine_of(stack.name))
            except DevarchError:
                there = None
            if there is not runtime:
                found[stack.name] = stack.engine
            continue
        engine = devarch.stack_engine(stack.name)
        if engine and engine != runtime.name:
            found[stack.name] = engine
    return found


def _engines(devarch: Devarch) -> list[Check]:
    runtime = devarch.runtime
    if runtime is None:
        return []
    elsewhere = _stacks_elsewhere(devarch)
    if not elsewhere:
        return []
    listed = ", ".join(f"{stack} ({engine})" for stack, engine in sorted(elsewhere.items()))
    engines = sorted(set(elsewhere.values()))
    how = " or ".join(f"`--runtime {e}`" for e in engines)
    return [
        Check(
            name="stack-engines",
            status="warn",
            message=f"{len(elsewhere)} stack(s) live on another engine than {runtime.name}: "
            f"{listed}; their ports and resources were not checked",
            fix=f"the `engine NAME` checks ask named engines; for the others: {how} "
            "(or DEVARCH_RUNTIME)",
        )
    ]


def _swarm(devarch: Devarch) -> list[Check]:
    """On Docker Swarm: how services reach each other, and which ports devarch exposes."""
    from devarch_adapters.swarm import SwarmRuntime  # noqa: PLC0415 - only for a swarm

    runtime = devarch.runtime
    if not isinstance(runtime, SwarmRuntime):
        return []
    nodes = runtime.nodes()
    checks = [
        Check(
            name="swarm-endpoint-mode",
            status="pass",
            message=f"endpoint mode {runtime.endpoint_mode}: {runtime.endpoint_mode_reason}; "
            f"{len(nodes)} node(s)",
            fix="set DEVARCH_SWARM_ENDPOINT_MODE=vip or dnsrr to choose",
        )
    ]
    exposed = runtime.exposed(owned_by(devarch.owner))
    if exposed:
        listed = ", ".join(
            f"{service} {p.host_port}->{p.container}/{p.protocol}" for service, p in exposed
        )
        checks.append(
            Check(
                name="swarm-exposed",
                status="warn",
                message=f"{len(exposed)} port(s) published on every interface of the swarm's "
                f"nodes: {listed}",
                fix="remove the instance's host port to stop publishing it",
            )
        )
    return checks


def _disk(devarch: Devarch) -> list[Check]:
    home = devarch_home(devarch)
    target = home if home.exists() else home.parent
    usage = shutil.disk_usage(target)
    free_gib = usage.free / 1024**3
    if usage.free < MIN_FREE_FAIL:
        return [
            Check(
                name="disk",
                status="fail",
                message=f"only {free_gib:.2f} GiB free at {target}",
                fix="free disk space (`docker system prune`)",
            )
        ]
    if usage.free < MIN_FREE_WARN:
        return [
            Check(
                name="disk",
                status="warn",
                message=f"{free_gib:.1f} GiB free at {target}",
                fix="free disk space (`docker system prune`)",
            )
        ]
    return [Check(name="disk", status="pass", message=f"{free_gib:.1f} GiB free at {target}")]


def _store(devarch: Devarch) -> list[Check]:
    try:
        version = devarch.store.schema_version()
        with devarch.store.transaction() as tx:
            count = len(tx.list_stacks())
    except DevarchError as exc:
        return _failed("store", exc, "check DEVARCH_STORE and that the database is running")
    return [
        Check(
            name="store",
            status="pass",
            message=f"{devarch.store.url} reachable, schema version {version}, {count} stacks",
        )
    ]


def _keyfile(devarch: Devarch) -> list[Check]:
    keys = devarch._keys  # noqa: SLF001 - the doctor inspects the configured key provider
    path = getattr(keys, "path", None)
    if path is None:
        return [Check(name="key-file", status="pass", message="keys come from a custom provider")]
    try:
        found = keys.read_keys()  # never creates a key, never follows a symlink
    except DevarchError as exc:
        return _failed("key-file", exc, "restore the key file from a backup")
    if found.current is None:
        if any(c.status == "fail" for c in devarch.check_key()):
            return [
                Check(
                    name="key-file",
                    status="fail",
                    message=f"{path} is missing, but the store holds values sealed with a key",
                    fix="restore the key file from a backup (see the key-store check)",
                )
            ]
        return [
            Check(
                name="key-file",
                status="warn",
                message=f"{path} does not exist yet",
                fix="it is created on first use; back it up once it exists",
            )
        ]
    problems = keys.permission_problems() if hasattr(keys, "permission_problems") else []
    if problems:
        return [
            Check(
                name="key-file",
                status="fail",
                message="; ".join(problems),
                fix=f"chmod 600 {path} && chmod 700 {Path(path).parent}",
            )
        ]
    return [Check(name="key-file", status="pass", message=f"{path} present with mode 0600")]


def _key_store(devarch: Devarch) -> list[Check]:
    """The key matches the key id the store records; a rotation is not left half done."""
    severity: tuple[Status, ...] = ("fail", "warn", "pass")
    ordered = sorted(devarch.check_key(), key=lambda c: severity.index(c.status))
    return [
        Check(
            name="key-store",
            status=ordered[0].status,
            message="; ".join(c.message for c in ordered),
            fix="; ".join(c.fix for c in ordered if c.fix and c.status != "pass"),
        )
    ]


def _locks(devarch: Devarch) -> list[Check]:
    lock = devarch.lock
    if lock is None:
        return []
    checks = []
    with devarch.store.transaction() as tx:
        stacks = [s.name for s in tx.list_stacks()]
    lock_dir = getattr(lock, "lock_dir", None)
    for stack in stacks:
        holder = lock.holder(stack)
        if holder is not None:
            checks.append(
                Check(
                    name="locks",
                    status="warn",
                    message=f"stack {stack} is being applied by {holder}",
                    fix="wait for it to finish; "
                    "if that process is stuck, stop it — the lock dies with it",
                )
            )
            continue
        if lock_dir is not None:
            path = Path(lock_dir) / f"{stack}.lock"
            if path.exists() and path.stat().st_size > 0:
                left = path.read_text(errors="replace").strip()
                checks.append(
                    Check(
                        name="locks",
                        status="warn",
                        message=f"stale lock record for stack {stack} left by a crashed apply "
                        f"({left}); the lock itself is free",
                        fix=f"nothing blocks applies; clear the record with `: > {path}`",
                    )
                )
    return checks or [Check(name="locks", status="pass", message="no stack is locked")]


def _orphans(devarch: Devarch) -> list[Check]:
    runtime = devarch.runtime
    if runtime is None:
        return []
    labels = owned_by(devarch.owner)
    with devarch.store.transaction() as tx:
        stacks = tx.list_stacks()
        network_of = {s.id: s.network_name for s in stacks}
        instance_ids = {i.id for s in stacks for i in tx.list_instances(s.id)}
    try:
        containers = runtime.list_containers(labels)
        networks = runtime.list_networks(labels)
        volumes = runtime.list_volumes(labels)
    except DevarchError:
        return []
    orphans = [
        str(o)
        for o in find_orphans(
            containers=containers,
            networks=networks,
            volumes=volumes,
            network_of=network_of,
            instance_ids=instance_ids,
        )
    ]
    if not orphans:
        return [
            Check(
                name="orphans", status="pass", message="no orphaned devarch resources of this store"
            )
        ]
    names = ", ".join(orphans[:ORPHANS_LISTED]) + (
        f" and {len(orphans) - ORPHANS_LISTED} more" if len(orphans) > ORPHANS_LISTED else ""
    )
    return [
        Check(
            name="orphans",
            status="warn",
            message=f"{len(orphans)} devarch resources of this store belong to no stack "
            f"or instance: {names}",
            fix="remove them: `docker rm -f <container>`, `docker network rm <net>`, "
            "`docker volume rm <vol>` "
            f"(they carry the label {naming.LABEL_OWNER}={devarch.owner})",
        )
    ]


def _named_engines(devarch: Devarch) -> list[Check]:
    """Every engine the store knows answers (docs/engines.md)."""
    checks = []
    for row in devarch.list_engines():
        engine = row.engine
        bound = f" ({len(row.stacks)} stacks bound)" if row.stacks else ""
        try:
            info = devarch.engine_runtime(engine).info()
        except DevarchError as exc:
            checks.append(
                Check(
                    name=f"engine {engine.name}",
                    status="fail" if row.stacks else "warn",
                    message=f"engine {engine.name} ({engine.where}) does not answer{bound}: {exc}",
                    fix="start it, or move its stacks: `devarch stack move STACK --engine OTHER`",
                )
            )
            continue
        checks.append(
            Check(
                name=f"engine {engine.name}",
                status="pass",
                message=f"engine {engine.name}: {info.engine} {info.version} at {engine.where}"
                + bound,
            )
        )
    return checks


def run_doctor(devarch: Devarch) -> list[Check]:
    """Every check, in a stable order."""
    checks: list[Check] = []
    for check in (
        _engine,
        _named_engines,
        _store,
        _keyfile,
        _key_store,
        _engines,
        _ports,
        _disk,
        _locks,
        _orphans,
        _swarm,
    ):
        try:
            checks.extend(check(devarch))
        except DevarchError as exc:
            checks.append(Check(name=check.__name__.lstrip("_"), status="fail", message=str(exc)))
        except OSError as exc:
            checks.append(
                Check(
                    name=check.__name__.lstrip("_"),
                    status="fail",
                    message=f"{exc.strerror}: {exc.filename}",
                )
            )
    return checks


def exit_status(checks: list[Check]) -> int:
    """1 if any check failed, else 0."""
    return 1 if any(c.status == "fail" for c in checks) else 0

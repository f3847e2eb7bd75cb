"""The JSON API under ``/api/v1``: one route per facade call, no rule of its own.

Request bodies are small attrs classes (Litestar validates them and documents them in the
OpenAPI document); response data is the same JSON the CLI prints with ``--json``. Long
operations (apply, down, init) answer ``202`` with a job whose progress streams as Server-Sent
Events at ``/api/v1/operations/{id}/events``; a refusal that comes before the operation touches the
engine (locked stack, stale plan, plan errors) is the request's own answer (423, 409, 409).
See docs/web.md#api.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

import attrs
from litestar import Request, Response, delete, get, patch, post, put, route
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from devarch_adapters.cli import _render as render
from devarch_adapters.web.errors import name_field
from devarch_core.errors import Problem, StalePlanError, ValidationError

if TYPE_CHECKING:
    import threading
    from collections.abc import AsyncIterator, Callable

    from devarch_adapters.web.jobs import Job

    # Resolved at run time through the app's signature namespace (devarch_adapters.web.app).
    from devarch_adapters.web.state import WebState
    from devarch_core.app import Devarch

__all__ = ["api_handlers"]

Data = dict[str, Any]
#: Seconds between looks at a job's events, and of silence before an SSE keep-alive comment.
POLL = 0.1
KEEPALIVE = 15.0

# -- request bodies --------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class StackCreate:
    """A new stack."""

    name: str
    description: str = ""
    network: str | None = None


@attrs.define(kw_only=True)
class StackUpdate:
    """Changes to a stack; absent fields stay as they are."""

    description: str | None = None
    network: str | None = None
    enabled: bool | None = None


@attrs.define(kw_only=True)
class StackClone:
    """Where to copy a stack."""

    name: str
    description: str | None = None


@attrs.define(kw_only=True)
class InstanceCreate:
    """A new instance of a template; ``overrides`` in the manifest form (docs/manifest.md)."""

    name: str
    template: str
    version: str | None = None
    description: str = ""
    enabled: bool = True
    overrides: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None


@attrs.define(kw_only=True)
class NewName:
    """The name of a copy, or an instance's new name."""

    new_name: str


@attrs.define(kw_only=True)
class SecretValue:
    """A secret's value: sealed at once, never returned."""

    value: str


@attrs.define(kw_only=True)
class ComposeImport:
    """A compose file's text, to turn into templates (nothing is written on the server)."""

    text: str
    service: str | None = None
    version: str = "1.0"
    origin: str = "compose.yml"


@attrs.define(kw_only=True)
class DownRequest:
    """Options of down (as ``devarch down --volumes --ordered``)."""

    volumes: bool = False
    ordered: bool = False


@attrs.define(kw_only=True)
class ManifestImport:
    """A devarch.yml text to import (create or update its stack; does not apply)."""

    manifest: str
    prune: bool = False
    dry_run: bool = False
    ignore_pins: bool = False
    secrets: dict[str, str] | None = None
    origin: str = "devarch.yml"


@attrs.define(kw_only=True)
class InitRequest:
    """A devarch.yml (and optionally devarch.lock) to bring up: import, check, apply, lock."""

    manifest: str
    lockfile: str | None = None
    strict: bool = False
    dry_run: bool = False
    secrets: dict[str, str] | None = None


@attrs.define(kw_only=True)
class LockCheck:
    """A devarch.lock text to compare the stack with."""

    lockfile: str


# -- helpers ---------------------------------------------------------------------------------------


def _instance(devarch: Devarch, stack: str, name: str) -> Data:
    return devarch.show_instance(stack, name)


def _job_answer(job: Job) -> Response[Data]:
    """Wait until the job refused or started; raise its refusal, or answer 202 (200 if done)."""
    job.wait_started()
    if job.error is not None:
        raise job.error
    status = HTTP_200_OK if job.done else HTTP_202_ACCEPTED
    data = job.to_data()
    data["events_url"] = f"/api/v1/operations/{job.id}/events"
    return Response(data, status_code=status)


def _text(text: str, media_type: str, filename: str | None = None) -> Response[str]:
    headers = {"cache-control": "no-store"}
    if filename:
        headers["content-disposition"] = f'attachment; filename="{filename}"'
    return Response(text, media_type=media_type, headers=headers)


# -- stacks ----------------------------------------------------------------------------------------


@get("/stacks", sync_to_thread=True, tags=["stacks"])
def list_stacks(devarch: Devarch) -> list[Data]:
    """Every stack with instance counts and running containers."""
    return [s.to_data() for s in devarch.list_stacks()]


@post("/stacks", sync_to_thread=True, tags=["stacks"], status_code=HTTP_201_CREATED)
def create_stack(devarch: Devarch, data: StackCreate) -> Data:
    """Create an empty stack (409 if the name is taken)."""
    with name_field("stack", "name"):
        stack = devarch.create_stack(data.name, description=data.description, network=data.network)
    return render.stack_data(stack)


@get("/stacks/{stack:str}", sync_to_thread=True, tags=["stacks"])
def show_stack(devarch: Devarch, stack: str) -> Data:
    """A stack with its instances and wires."""
    return devarch.show_stack(stack)


@patch("/stacks/{stack:str}", sync_to_thread=True, tags=["stacks"])
def update_stack(devarch: Devarch, stack: str, data: StackUpdate) -> Data:
    """Change a stack's description, network name or enabled flag."""
    if data.description is not None or data.network is not None:
        devarch.update_stack(stack, description=data.description, network=data.network)
    if data.enabled is not None:
        devarch.set_stack_enabled(stack, data.enabled)
    return render.stack_data(devarch.get_stack(stack))


@delete("/stacks/{stack:str}", sync_to_thread=True, tags=["stacks"], status_code=HTTP_200_OK)
def delete_stack(devarch: Devarch, stack: str, keep_volumes: bool = False) -> Data:
    """Delete a stack: its containers, network, volumes (unless ``keep_volumes``), definition."""
    # A bound stack is torn down on its engine even when the server's environment names none.
    engine_used = devarch.runtime is not None or bool(devarch.get_stack(stack).engine)
    devarch.delete_stack(stack, keep_volumes=keep_volumes)
    return {"deleted": stack, "engine": engine_used}


@post("/stacks/{stack:str}/clone", sync_to_thread=True, tags=["stacks"], status_code=201)
def clone_stack(devarch: Devarch, stack: str, data: StackClone) -> Data:
    """Copy a stack (instances, overrides, wires, secrets) under a new name."""
    with name_field("stack", "name"):
        clone = devarch.clone_stack(stack, data.name, description=data.description)
    return render.stack_data(clone)


@post("/stacks/{stack:str}/enable", sync_to_thread=True, tags=["stacks"], status_code=200)
def enable_stack(devarch: Devarch, stack: str) -> Data:
    """Enable a stack."""
    return render.stack_data(devarch.set_stack_enabled(stack, enabled=True))


@post("/stacks/{stack:str}/disable", sync_to_thread=True, tags=["stacks"], status_code=200)
def disable_stack(devarch: Devarch, stack: str) -> Data:
    """Disable a stack (its containers go at the next apply)."""
    return render.stack_data(devarch.set_stack_enabled(stack, enabled=False))


# -- instances -------------------------------------------------------------------------------------


@get("/stacks/{stack:str}/instances", sync_to_thread=True, tags=["instances"])
def list_instances(devarch: Devarch, stack: str) -> list[Data]:
    """A stack's instances."""
    return [render.instance_data(i) for i in devarch.list_instances(stack)]


@post("/stacks/{stack:str}/instances", sync_to_thread=True, tags=["instances"], status_code=201)
def add_instance(devarch: Devarch, stack: str, data: InstanceCreate) -> Data:
    """Instantiate a catalog template (optionally with overrides and secret values)."""
    with name_field("instance", "name"):
        devarch.add_instance(
            stack,
            data.name,
            data.template,
            version=data.version,
            description=data.description,
            enabled=data.enabled,
            overrides=data.overrides,
            secrets=data.secrets,
        )
    return _instance(devarch, stack, data.name)


@get("/stacks/{stack:str}/instances/{name:str}", sync_to_thread=True, tags=["instances"])
def show_instance(devarch: Devarch, stack: str, name: str) -> Data:
    """An instance with its overrides and secret names (never values)."""
    return _instance(devarch, stack, name)


@patch("/stacks/{stack:str}/instances/{name:str}", sync_to_thread=True, tags=["instances"])
def update_instance(devarch: Devarch, stack: str, name: str, data: dict[str, Any]) -> Data:
    """Change an instance: the body is an override delta in the manifest form.

    Every override kind (``image``, ``command``, ``environment``, ``ports``, ``volumes``,
    ``resources``, ``healthcheck``...) merges by key; a top-level ``null`` unsets that override
    (the field inherits again); inside a map, ``null`` removes the entry (``environment:
    {FOO: null}`` drops an inherited variable). ``description`` and ``enabled`` change the
    instance itself.
    """
    delta = dict(data)
    description = delta.pop("description", None)
    enabled = delta.pop("enabled", None)
    problems = []
    if description is not None and not isinstance(description, str):
        problems.append(Problem("description", "expected a string"))
    if enabled is not None and not isinstance(enabled, bool):
        problems.append(Problem("enabled", "expected true or false"))
    if problems:
        raise ValidationError(problems, what="invalid request")
    unset = sorted(key for key, value in delta.items() if value is None)
    changes = {key: value for key, value in delta.items() if value is not None}
    devarch.get_instance(stack, name)  # 404 before anything changes
    if changes:
        devarch.set_overrides(stack, name, changes)
    present = devarch.get_instance(stack, name).overrides.to_data()
    for key in unset:
        if key in present:
            devarch.unset_override(stack, name, key)
    if description is not None or enabled is not None:
        devarch.update_instance(stack, name, description=description, enabled=enabled)
    return _instance(devarch, stack, name)


@delete(
    "/stacks/{stack:str}/instances/{name:str}",
    sync_to_thread=True,
    tags=["instances"],
    status_code=HTTP_200_OK,
)
def remove_instance(devarch: Devarch, stack: str, name: str) -> Data:
    """Remove an instance (its container goes at the next apply)."""
    devarch.remove_instance(stack, name)
    return {"removed": f"{stack}/{name}"}


@post(
    "/stacks/{stack:str}/instances/{name:str}/duplicate",
    sync_to_thread=True,
    tags=["instances"],
    status_code=201,
)
def duplicate_instance(devarch: Devarch, stack: str, name: str, data: NewName) -> Data:
    """Copy an instance (overrides and secrets) under a new name."""
    with name_field("instance", "new_name"):
        devarch.duplicate_instance(stack, name, data.new_name)
    return _instance(devarch, stack, data.new_name)


@post(
    "/stacks/{stack:str}/instances/{name:str}/rename",
    sync_to_thread=True,
    tags=["instances"],
    status_code=HTTP_200_OK,  # nothing is created
)
def rename_instance(devarch: Devarch, stack: str, name: str, data: NewName) -> Data:
    """Rename an instance (wires follow)."""
    with name_field("instance", "new_name"):
        devarch.rename_instance(stack, name, data.new_name)
    return _instance(devarch, stack, data.new_name)


@delete(
    "/stacks/{stack:str}/instances/{name:str}/overrides/{field:path}",
    sync_to_thread=True,
    tags=["instances"],
    status_code=HTTP_200_OK,
)
def unset_override(devarch: Devarch, stack: str, name: str, field: str) -> Data:
    """Drop one override (``environment.FOO``, ``ports.5432/tcp``, ``image``...)."""
    devarch.unset_override(stack, name, field.lstrip("/"))
    return _instance(devarch, stack, name)


@get("/stacks/{stack:str}/instances/{name:str}/effective", sync_to_thread=True, tags=["instances"])
def effective(devarch: Devarch, stack: str, name: str, explain: bool = False) -> Data:
    """The effective config: template + wires + overrides; ``explain`` adds each field's source."""
    eff = devarch.effective(stack, name)
    data = eff.to_data()
    if explain:
        data["explain"] = render.explain_rows(eff)
    return data


# -- wires and secrets -----------------------------------------------------------------------------


@get("/stacks/{stack:str}/wires", sync_to_thread=True, tags=["wires"])
def list_wires(devarch: Devarch, stack: str) -> list[Data]:
    """A stack's explicit wires."""
    return [render.wire_data(w) for w in devarch.list_wires(stack)]


@post("/stacks/{stack:str}/wires", sync_to_thread=True, tags=["wires"], status_code=200)
def set_wire(devarch: Devarch, stack: str, data: dict[str, Any]) -> Data:
    """Pin the provider of one import: ``{consumer, import, provider, export?}``.

    It replaces an earlier pin for that import; ``provider: null`` leaves an optional import
    unwired on purpose (a required one is refused).
    """
    problems = [
        Problem(key, "expected a string")
        for key in ("consumer", "import")
        if not isinstance(data.get(key), str)
    ]
    if "provider" not in data or not isinstance(data["provider"], str | None):
        problems.append(Problem("provider", "expected an instance name or null"))
    if not isinstance(data.get("export"), str | None):
        problems.append(Problem("export", "expected an export name or null"))
    problems.extend(
        Problem(str(key), "unknown key; expected consumer, import, provider, export")
        for key in data
        if key not in ("consumer", "import", "provider", "export")
    )
    if problems:
        raise ValidationError(problems, what="invalid wire")
    wire = devarch.add_wire(
        stack, data["consumer"], data["import"], data["provider"], export=data.get("export")
    )
    return render.wire_data(wire)


@delete("/stacks/{stack:str}/wires", sync_to_thread=True, tags=["wires"], status_code=200)
def remove_wire(
    devarch: Devarch,
    stack: str,
    consumer: str,
    import_name: Annotated[str, Parameter(query="import")],
) -> Data:
    """Drop the explicit wire of ``?consumer=&import=`` (auto-wiring applies again)."""
    devarch.remove_wire(stack, consumer, import_name)
    return {"removed": {"consumer": consumer, "import": import_name}}


@get("/stacks/{stack:str}/secrets", sync_to_thread=True, tags=["secrets"])
def list_secrets(devarch: Devarch, stack: str) -> list[dict[str, str]]:
    """Secret names per instance (never values)."""
    return devarch.list_secrets(stack)


@get("/stacks/{stack:str}/instances/{name:str}/secrets", sync_to_thread=True, tags=["secrets"])
def list_instance_secrets(devarch: Devarch, stack: str, name: str) -> list[str]:
    """The names of an instance's secrets (never values)."""
    devarch.get_instance(stack, name)
    return [r["name"] for r in devarch.list_secrets(stack) if r["instance"] == name]


@put(
    "/stacks/{stack:str}/instances/{name:str}/secrets/{secret:str}",
    sync_to_thread=True,
    tags=["secrets"],
)
def set_secret(devarch: Devarch, stack: str, name: str, secret: str, data: SecretValue) -> Data:
    """Seal a secret value (the answer says only that it is set)."""
    devarch.set_secret(stack, name, secret, data.value)
    return {"stack": stack, "instance": name, "name": secret, "set": True}


@delete(
    "/stacks/{stack:str}/instances/{name:str}/secrets/{secret:str}",
    sync_to_thread=True,
    tags=["secrets"],
    status_code=HTTP_200_OK,
)
def unset_secret(devarch: Devarch, stack: str, name: str, secret: str) -> Data:
    """Forget a secret value."""
    devarch.unset_secret(stack, name, secret)
    return {"stack": stack, "instance": name, "name": secret, "set": False}


# -- catalog ---------------------------------------------------------------------------------------


@get("/catalog", sync_to_thread=True, tags=["catalog"])
def catalog_list(devarch: Devarch) -> list[Data]:
    """Every template of the catalog."""
    return [render.template_data(t) for t in devarch.catalog.list()]


@get("/catalog/{name:str}", sync_to_thread=True, tags=["catalog"])
def catalog_show(devarch: Devarch, name: str, version: str | None = None) -> Data:
    """One template (the highest version unless ``version``)."""
    return devarch.catalog.get(name, version).to_data()


@post("/catalog/import-compose", sync_to_thread=True, tags=["catalog"], status_code=HTTP_200_OK)
def catalog_import_compose(data: ComposeImport) -> Data:
    """Turn compose services into templates (returned as data and YAML; nothing is written)."""
    from devarch_core.compose_import import template_to_yaml, templates_from_compose  # noqa: PLC0415

    result = templates_from_compose(
        data.text, origin=data.origin, service=data.service, version=data.version
    )
    return {
        "templates": [t.to_data() for t in result.templates],
        "yaml": [template_to_yaml(t) for t in result.templates],
        "warnings": list(result.warnings),
    }


# -- plan, apply, down, status, compose, graph -----------------------------------------------------


@route(
    "/stacks/{stack:str}/plan",
    http_method=["GET", "POST"],
    sync_to_thread=True,
    tags=["deploy"],
    status_code=HTTP_200_OK,  # Litestar's default for a route that takes POST is 201 Created
)
def plan(devarch: Devarch, web: WebState, stack: str) -> Response[Data]:
    """The plan (what apply would change) as ``plan --json`` prints it; apply it by its ``token``.

    While an apply runs, the ``X-Devarch-Locked-By`` header names it (the plan shows a world in
    motion then).
    """
    result = devarch.plan(stack)
    web.plans.put(result)
    lock = devarch.lock
    holder = lock.holder(stack) if lock is not None else None
    headers = {"x-devarch-locked-by": holder} if holder else {}
    return Response(result.to_data(), headers=headers)


@post("/stacks/{stack:str}/apply", sync_to_thread=True, tags=["deploy"], status_code=202)
def apply(web: WebState, stack: str, data: dict[str, Any]) -> Response[Data]:
    """Apply exactly one plan in the background: 409 when stale, 423 while another apply runs.

    The body is a plan as ``.../plan`` returned it, or ``{"token": ...}`` of a plan this server
    returned (it keeps the last 64); ``"locked": true`` refuses a divergence from the lockfile.
    """
    from devarch_core.planning import Plan  # noqa: PLC0415

    locked = data.get("locked", False)
    if not isinstance(locked, bool):
        raise ValidationError([Problem("locked", "expected true or false")], what="invalid request")
    if "format" in data:
        saved: Plan | None = Plan.from_data({k: v for k, v in data.items() if k != "locked"})
    elif isinstance(data.get("token"), str):
        saved = web.plans.get(stack, data["token"])
        if saved is None:
            moved = ["this server gave out no plan with that token (plan again)"]
            raise StalePlanError(stack, moved)
    else:
        raise ValidationError(
            [Problem("token", "expected a plan, or the token of one this server returned")],
            what="invalid request",
        )
    assert saved is not None  # noqa: S101 - for the type checker
    job = web.jobs.start(
        "apply",
        stack,
        lambda d, holder: d.apply(stack, saved, holder=holder, locked=locked),
    )
    return _job_answer(job)


@post("/stacks/{stack:str}/down", sync_to_thread=True, tags=["deploy"], status_code=202)
def down(web: WebState, stack: str, data: DownRequest | None = None) -> Response[Data]:
    """Remove the stack's containers and network in the background (the definition stays).

    ``volumes`` removes its named volumes too; ``ordered`` stops dependents before their
    dependencies, one level at a time (default: every container at once).
    """
    volumes = data.volumes if data is not None else False
    ordered = data.ordered if data is not None else False
    web.devarch.get_stack(stack)  # 404 now, not in the job
    job = web.jobs.start(
        "down",
        stack,
        lambda d, _holder: d.down_report(stack, volumes=volumes, ordered=ordered),
    )
    return _job_answer(job)


@get("/stacks/{stack:str}/status", sync_to_thread=True, tags=["deploy"])
def status(devarch: Devarch, stack: str) -> list[Data]:
    """Each instance's container state, health and published ports."""
    return [r.to_data() for r in devarch.status(stack)]


@get("/stacks/{stack:str}/compose", sync_to_thread=True, tags=["deploy"])
def compose(
    devarch: Devarch,
    stack: str,
    instance: str | None = None,
    project: str | None = None,
    download: bool = False,
) -> Response[str]:
    """The stack (or one instance) as a Compose file; secrets are always ``***`` here."""
    text = devarch.compose(stack, instance, project=project)
    name = f"{stack}-{instance}.compose.yml" if instance else f"{stack}.compose.yml"
    return _text(text, "application/yaml", name if download else None)


@get("/stacks/{stack:str}/graph", sync_to_thread=True, tags=["deploy"])
def graph(
    devarch: Devarch,
    stack: str,
    fmt: Annotated[Literal["svg", "mermaid", "dot"], Parameter(query="format")] = "svg",
) -> Response[str]:
    """The wiring graph: an SVG drawing (default), Mermaid or DOT text."""
    drawing = devarch.graph(stack, fmt=fmt)
    return _text(str(drawing), "image/svg+xml" if fmt == "svg" else "text/plain")


# -- manifests, lockfiles, doctor ------------------------------------------------------------------


@get("/stacks/{stack:str}/export", sync_to_thread=True, tags=["manifests"])
def export_manifest(devarch: Devarch, stack: str, digests: bool = False) -> Response[str]:
    """The stack as devarch.yml (secret values are ``${secret:NAME}`` placeholders)."""
    return _text(devarch.export_yaml(stack, digests=digests), "application/yaml", "devarch.yml")


@post("/import", sync_to_thread=True, tags=["manifests"], status_code=HTTP_200_OK)
def import_manifest(devarch: Devarch, data: ManifestImport) -> Data:
    """Create or update a stack from devarch.yml text (does not apply)."""
    result = devarch.import_yaml(
        data.manifest,
        origin=data.origin,
        prune=data.prune,
        dry_run=data.dry_run,
        secret_values=data.secrets or {},
        ignore_pins=data.ignore_pins,
    )
    return result.to_data()


@post("/init", sync_to_thread=True, tags=["manifests"], status_code=202)
def init(devarch: Devarch, web: WebState, data: InitRequest) -> Response[Data]:
    """Bring a stack up from devarch.yml (and devarch.lock) in the background."""
    from devarch_core.manifest import Lockfile, Manifest  # noqa: PLC0415

    manifest = Manifest.parse(data.manifest, "devarch.yml")
    lockfile = Lockfile.parse(data.lockfile, "devarch.lock") if data.lockfile else None
    secrets = data.secrets or {}
    if data.dry_run:
        preview = devarch.preview_init(
            manifest, lockfile=lockfile, strict=data.strict, secret_values=secrets
        )
        return Response(preview.to_data(), status_code=HTTP_200_OK)
    job = web.jobs.start(
        "init",
        manifest.stack,
        lambda d, _holder: d.init_stack(
            manifest, lockfile=lockfile, strict=data.strict, secret_values=secrets
        ),
    )
    return _job_answer(job)


@get("/stacks/{stack:str}/lock", sync_to_thread=True, tags=["manifests"])
def lock_stack(devarch: Devarch, stack: str, yaml: bool = False) -> Response[Any]:
    """The stack's lockfile as it is now (JSON, or devarch.lock text with ``yaml``)."""
    lockfile = devarch.lock_stack(stack)
    if yaml:
        return _text(lockfile.to_yaml(), "application/yaml", "devarch.lock")
    return Response(lockfile.to_data())


@post("/stacks/{stack:str}/lock/check", sync_to_thread=True, tags=["manifests"], status_code=200)
def check_lock(devarch: Devarch, stack: str, data: LockCheck) -> Data:
    """How the stack diverges from a devarch.lock text (empty when it matches)."""
    from devarch_core.manifest import Lockfile  # noqa: PLC0415

    divergence = devarch.check_lock(stack, Lockfile.parse(data.lockfile, "devarch.lock"))
    return {"stack": stack, "matches": not divergence, "divergence": divergence}


@get("/doctor", sync_to_thread=True, tags=["system"])
def doctor(devarch: Devarch) -> Data:
    """The doctor's checks (engine, store, key, ports, locks, orphans)."""
    from devarch_adapters.doctor import exit_status, run_doctor  # noqa: PLC0415

    checks = run_doctor(devarch)
    return {"checks": [c.to_data() for c in checks], "ok": exit_status(checks) == 0}


# -- operations (jobs) -----------------------------------------------------------------------------


def _job(web: WebState, job_id: str) -> Job:
    job = web.jobs.get(job_id)
    if job is None:
        raise NotFoundException(f"operation {job_id} not found")
    return job


# ``/jobs/...``, these routes' first name, is used by the dashboard's pages: kept as an alias.
@get(["/operations", "/jobs"], sync_to_thread=False, tags=["operations"])
def list_jobs(web: WebState, stack: str | None = None, running: bool = False) -> list[Data]:
    """The server's recent jobs (of one ``stack``; only the ``running`` ones), oldest first."""
    return [
        j.to_data()
        for j in web.jobs.all()
        if (stack is None or j.stack == stack) and (not running or not j.done)
    ]


@get(["/operations/{job_id:str}", "/jobs/{job_id:str}"], sync_to_thread=False, tags=["operations"])
def job_state(web: WebState, job_id: str) -> Data:
    """A job's state, and its result or error once done."""
    return _job(web, job_id).to_data()


@get(
    ["/operations/{job_id:str}/events", "/jobs/{job_id:str}/events"],
    sync_to_thread=False,
    tags=["operations"],
)
def job_events(web: WebState, request: Request[Any, Any, Any], job_id: str) -> ServerSentEvent:
    """The job's progress as Server-Sent Events, from the start (or after ``Last-Event-ID``).

    Each event is a ``phase_started``/``phase_finished``/``step``/``warning`` with the same fields
    the CLI's progress shows; the last is ``done`` with the job's state and result or error.
    Disconnecting stops the stream, never the job. When the server stops (Ctrl-C), the stream
    ends without ``done`` while the job runs on; ``GET /operations/{id}`` is gone with the server.
    """
    job = _job(web, job_id)
    last = request.headers.get("last-event-id", "")
    start = int(last) + 1 if last.isdigit() else 0
    return ServerSentEvent(_stream(job, start, web.streams.stopping))


async def _stream(
    job: Job, start: int, stopping: threading.Event | None = None
) -> AsyncIterator[ServerSentEventMessage]:
    sent = start
    quiet = 0.0
    while True:
        done = job.done
        events = job.events[sent:]
        for event in events:
            yield ServerSentEventMessage(
                data=json.dumps(event), event=str(event["event"]), id=str(sent)
            )
            sent += 1
            quiet = 0.0
        if done and sent >= len(job.events):
            yield ServerSentEventMessage(data=json.dumps(job.to_data()), event="done")
            return
        if stopping is not None and stopping.is_set() and not done:
            return  # the server is stopping: do not hold it up (it waits for the job itself)
        if quiet >= KEEPALIVE:
            # A comment line keeps the connection alive through a long health wait.
            yield ServerSentEventMessage(comment="waiting")
            quiet = 0.0
        await asyncio.sleep(POLL)
        quiet += POLL


def api_handlers() -> list[Callable[..., Any]]:
    """Every route of the API (mounted under ``/api/v1`` by the app)."""
    return [
        list_stacks,
        create_stack,
        show_stack,
        update_stack,
        delete_stack,
        clone_stack,
        enable_stack,
        disable_stack,
        list_instances,
        add_instance,
        show_instance,
        update_instance,
        remove_instance,
        duplicate_instance,
        rename_instance,
        unset_override,
        effective,
        list_wires,
        set_wire,
        remove_wire,
        list_secrets,
        list_instance_secrets,
        set_secret,
        unset_secret,
        catalog_list,
        catalog_show,
        catalog_import_compose,
        plan,
        apply,
        down,
        status,
        compose,
        graph,
        export_manifest,
        import_manifest,
        init,
        lock_stack,
        check_lock,
        doctor,
        list_jobs,
        job_state,
        job_events,
    ]

"""The dashboard's routes: each page is a view of facade calls, each form one facade call.

A form handler reads the posted fields, makes one call on the shared facade (in a worker thread:
the facade is synchronous) and redirects to the page it belongs to. When the core refuses, the
same page is rendered again with the error (message and every problem with its path) inside the
form that caused it, and the HTTP status the API would give (422 for invalid input...).
Long operations (apply, down) run as the API's background jobs; their page follows the job's
Server-Sent Events.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import anyio.to_thread
import jinja2
from litestar import MediaType, Request, Response, Router, get, post
from litestar.response import Redirect, ServerSentEvent
from litestar.static_files import create_static_files_router

from devarch_adapters.web.errors import error_body, name_field, status_of
from devarch_adapters.web.lifecycle_api import log_events
from devarch_core.assignments import parse_assignments
from devarch_core.errors import (
    DevarchError,
    NotFoundError,
    Problem,
    StalePlanError,
    ValidationError,
)
from devarch_core.fields import FIELDS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from litestar.datastructures import FormMultiDict

    from devarch_adapters.web.state import WebState
    from devarch_core.app import Devarch
    from devarch_core.fields import Field

__all__ = ["build_router"]

HERE = Path(__file__).parent
TABS = ("instances", "compose", "wiring", "deploy")
#: Log lines shown when the instance page opens (older ones: ``devarch logs --tail``).
LOG_TAIL = 200
#: Notices a redirect may ask the next page to show (``?done=CODE``), by code.
NOTICES = {
    "created": "Stack created.",
    "updated": "Saved.",
    "enabled": "Enabled.",
    "disabled": "Disabled.",
    "cloned": "Stack cloned.",
    "deleted": "Stack deleted.",
    "added": "Instance added. Its plan is on the Deploy tab.",
    "removed": "Instance removed.",
    "override": "Override saved. The Deploy tab shows its effect.",
    "unset": "Override removed; the field inherits again.",
    "secret": "Secret saved (encrypted; its value is never shown).",
    "secret-unset": "Secret removed.",
    "wired": "Wire saved.",
    "unwired": "Explicit wire removed; auto-wiring applies again.",
    "started": "Started.",
    "stopped": "Stopped.",
    "restarted": "Restarted.",
}


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.filters["plain"] = _plain
    return env


def _plain(value: object) -> str:
    """A plan/explain value as one line of text (mappings and lists as compact JSON)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _render(name: str, **context: Any) -> str:  # noqa: ANN401 - template context
    context.setdefault("notice", None)
    return _env().get_template(name).render(**context)


def _html(text: str, status: int = 200) -> Response[str]:
    return Response(
        text,
        media_type=MediaType.HTML,
        status_code=status,
        headers={"cache-control": "no-store"},
    )


async def _thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def _error_view(exc: DevarchError) -> dict[str, Any]:
    body = error_body(exc)
    body["status"] = status_of(exc)
    return body


def _url(*parts: str, **query: str) -> str:
    path = "/" + "/".join(quote(p, safe="") for p in parts)
    return path + ("?" + urlencode(query) if query else "")


def _notice(request: Request[Any, Any, Any]) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


def _text(form: FormMultiDict, key: str, *, required: bool = True) -> str:
    value = form.get(key)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise ValidationError([Problem(key, f"{key} is required")], what="invalid form")
    return text


async def _act(
    request: Request[Any, Any, Any],
    action: Callable[[FormMultiDict], str],
    page: Callable[[dict[str, Any]], str],
    form_id: str,
) -> Response[Any]:
    """Run ``action(form)`` (returns where to go) or show ``page`` with the error in ``form_id``."""
    form = await request.form()
    try:
        target = await _thread(action, form)
    except DevarchError as exc:
        view = _error_view(exc)
        text = await _thread(page, {form_id: view, "_values": dict(form.items())})
        return _html(text, view["status"])
    return Redirect(target, status_code=303)


def _stack_page(
    devarch: Devarch, web: WebState, stack: str, tab: str
) -> Callable[[dict[str, Any]], str]:
    """The error page of a stack form (:func:`_act`'s ``page``): that stack, on ``tab``."""
    return lambda errors: _stack_view(devarch, web, stack, tab, errors)


def _instance_page(devarch: Devarch, stack: str, name: str) -> Callable[[dict[str, Any]], str]:
    """The error page of an instance form (:func:`_act`'s ``page``): that instance."""
    return lambda errors: _instance_view(devarch, stack, name, errors)


def _job_url(web: WebState, kind: str, stack: str, run: Callable[[Devarch, str], object]) -> str:
    """Start a background job; once it holds the stack lock (or failed to), the job's page."""
    job = web.jobs.start(kind, stack, run)
    job.wait_started()
    if job.error is not None:
        raise job.error
    return _url("stacks", stack, "jobs", job.id)


# -- view models ---------------------------------------------------------------------------------


def _health_of(devarch: Devarch, stack: str) -> dict[str, Any]:
    try:
        rows = devarch.status(stack)
    except DevarchError as exc:
        return {"error": exc.message, "rows": []}
    health = [r.health for r in rows if r.state == "running"]
    if not health:
        summary = "not running"
    elif all(h in ("healthy", "none") for h in health):
        summary = "healthy"
    elif any(h == "unhealthy" for h in health):
        summary = "unhealthy"
    else:
        summary = "starting"
    return {"error": None, "rows": rows, "summary": summary}


def _stacks_view(devarch: Devarch, errors: Mapping[str, Any] | None = None, **extra: Any) -> str:  # noqa: ANN401
    summaries = devarch.list_stacks(with_runtime=True)
    stacks = [
        {
            "summary": s,
            "health": _health_of(devarch, s.stack.name)["summary"] if s.running else "not running",
        }
        for s in summaries
    ]
    return _render("stacks.html", stacks=stacks, errors=errors or {}, **extra)


def _engine_of(devarch: Devarch, stack: str) -> str | None:
    """``NAME (ENDPOINT)`` of the engine the stack is bound to (or gets), None when none is."""
    try:
        engine = devarch.engine_of(stack)
    except DevarchError:
        return None
    return f"{engine.name} ({engine.where})"


def _stack_view(
    devarch: Devarch,
    web: WebState,
    stack: str,
    tab: str,
    errors: Mapping[str, Any] | None = None,
    **extra: Any,  # noqa: ANN401
) -> str:
    st = devarch.get_stack(stack)
    context: dict[str, Any] = {
        "stack": st,
        "engine": _engine_of(devarch, stack),
        "tab": tab,
        "tabs": TABS,
        "errors": errors or {},
        "instances": devarch.list_instances(stack),
    }
    if tab == "instances":
        context["status"] = _health_of(devarch, stack)
        context["templates"] = sorted(devarch.catalog.list(), key=lambda t: (t.name, t.version))
    elif tab == "compose":
        context["compose"] = devarch.compose(stack)
    elif tab == "wiring":
        context["svg"] = devarch.graph(stack, fmt="svg").svg
        context["wires"] = devarch.list_wires(stack)
    elif tab == "deploy":
        try:
            plan = devarch.plan(stack)
        except DevarchError as exc:
            context["plan_error"] = _error_view(exc)
            context["plan"] = None
        else:
            web.plans.put(plan)
            context["plan"] = plan
            context["plan_error"] = None
        lock = devarch.lock
        context["locked_by"] = lock.holder(stack) if lock is not None else None
        context["jobs"] = [j for j in web.jobs.running() if j.stack == stack]
    return _render("stack.html", **context, **extra)


def _field_rows(devarch: Devarch, stack: str, name: str) -> list[dict[str, Any]]:
    """One editor row per service field: template value, override, effective value and source."""
    from devarch_core.merge import flatten_service  # noqa: PLC0415

    instance = devarch.get_instance(stack, name)
    template = devarch.template_for(instance)
    overrides = devarch.show_instance(stack, name).get("overrides", {})
    effective = devarch.effective(stack, name)
    template_values = flatten_service(template.service)
    explain = effective.explain()
    rows = []
    for field in FIELDS:
        prefix = field.name + "."
        mine = [
            (p, v) for p, v in template_values.items() if p == field.name or p.startswith(prefix)
        ]
        eff = [(p, v, s) for p, v, s in explain if p == field.name or p.startswith(prefix)]
        rows.append(
            {
                "field": field,
                "cli": field.cli_names[0] if field.cli_names else None,
                "template": mine,
                "override": overrides.get(field.name),
                "unset": _unset_paths(field, overrides.get(field.name)),
                "effective": eff,
            }
        )
    return rows


def _unset_paths(field: Field, data: object) -> list[str]:
    """The ``unset`` paths of a field's overrides (one per map key or list entry)."""
    if data is None:
        return []
    if isinstance(data, dict):
        if field.kind in ("map", "per_field"):
            return [f"{field.name}.{key}" for key in data]
        return [field.name]
    if isinstance(data, list) and field.entry_key is not None:
        return [f"{field.name}.{field.entry_key(item)}" for item in data]
    return [field.name]


def _instance_view(
    devarch: Devarch,
    stack: str,
    name: str,
    errors: Mapping[str, Any] | None = None,
    **extra: Any,  # noqa: ANN401
) -> str:
    st = devarch.get_stack(stack)
    instance = devarch.get_instance(stack, name)
    template = devarch.template_for(instance)
    shown = devarch.show_instance(stack, name)
    try:
        lines = [line.text for line in devarch.logs(stack, name, follow=False, tail=LOG_TAIL)]
        logs_error = None
    except DevarchError as exc:
        lines, logs_error = [], exc.message
    status = _health_of(devarch, stack)
    row = next((r for r in status["rows"] if r.instance == name), None)
    return _render(
        "instance.html",
        stack=st,
        instance=instance,
        template=template,
        rows=_field_rows(devarch, stack, name),
        explain=devarch.effective(stack, name).explain(),
        secret_vars=sorted(set(template.secrets) | set(shown.get("secrets", []))),
        secrets_set=set(shown.get("secrets", [])),
        choices=devarch.import_choices(stack, name),
        logs=lines,
        logs_error=logs_error,
        status=row,
        errors=errors or {},
        **extra,
    )


# -- pages: stacks -----------------------------------------------------------------------------


@get("/", sync_to_thread=False, include_in_schema=False)
def home() -> Redirect:
    """The dashboard starts at the stacks list."""
    return Redirect("/stacks", status_code=303)


@get("/stacks", include_in_schema=False)
async def stacks_page(request: Request[Any, Any, Any], devarch: Devarch) -> Response[str]:
    """Every stack with its instance and running counts and health."""
    return _html(await _thread(_stacks_view, devarch, notice=_notice(request)))


@post("/stacks", include_in_schema=False)
async def stack_create(request: Request[Any, Any, Any], devarch: Devarch) -> Response[Any]:
    """Create a stack."""

    def action(form: FormMultiDict) -> str:
        name = _text(form, "name")
        with name_field("stack", "name"):
            devarch.create_stack(name, description=_text(form, "description", required=False))
        return _url("stacks", name, done="created")

    return await _act(request, action, lambda e: _stacks_view(devarch, e), "create")


@post("/stacks/{stack:str}/edit", include_in_schema=False)
async def stack_edit(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str
) -> Response[Any]:
    """Change a stack's description."""

    def action(form: FormMultiDict) -> str:
        devarch.update_stack(stack, description=_text(form, "description", required=False))
        return _url("stacks", stack, done="updated")

    return await _act(request, action, lambda e: _stacks_view(devarch, e), f"edit-{stack}")


@post("/stacks/{stack:str}/enabled", include_in_schema=False)
async def stack_enabled(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str
) -> Response[Any]:
    """Enable or disable a stack (``enabled=1|0``)."""

    def action(form: FormMultiDict) -> str:
        enabled = _text(form, "enabled") == "1"
        devarch.set_stack_enabled(stack, enabled)
        return _url("stacks", done="enabled" if enabled else "disabled")

    return await _act(request, action, lambda e: _stacks_view(devarch, e), f"row-{stack}")


@post("/stacks/{stack:str}/clone", include_in_schema=False)
async def stack_clone(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str
) -> Response[Any]:
    """Clone a stack under a new name."""

    def action(form: FormMultiDict) -> str:
        name = _text(form, "name")
        with name_field("stack", "name"):
            devarch.clone_stack(stack, name)
        return _url("stacks", name, done="cloned")

    return await _act(request, action, lambda e: _stacks_view(devarch, e), f"clone-{stack}")


@get("/stacks/{stack:str}/delete", include_in_schema=False)
async def stack_delete_page(devarch: Devarch, stack: str) -> Response[str]:
    """Ask before deleting a stack."""

    def view() -> str:
        st = devarch.get_stack(stack)
        return _render("delete.html", stack=st, instances=devarch.list_instances(stack), errors={})

    return _html(await _thread(view))


@post("/stacks/{stack:str}/delete", include_in_schema=False)
async def stack_delete(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str
) -> Response[Any]:
    """Delete a stack (its containers first) once its name was typed to confirm."""

    def action(form: FormMultiDict) -> str:
        if _text(form, "confirm", required=False) != stack:
            problem = Problem("confirm", f"type the stack's name ({stack}) to confirm")
            raise ValidationError([problem], what="not confirmed")
        devarch.delete_stack(stack, keep_volumes=form.get("keep_volumes") == "1")
        return _url("stacks", done="deleted")

    def page(errors: dict[str, Any]) -> str:
        st = devarch.get_stack(stack)
        return _render(
            "delete.html", stack=st, instances=devarch.list_instances(stack), errors=errors
        )

    return await _act(request, action, page, "delete")


# -- pages: one stack ----------------------------------------------------------------------------


@get("/stacks/{stack:str}", include_in_schema=False)
async def stack_page(
    request: Request[Any, Any, Any], devarch: Devarch, web: WebState, stack: str
) -> Response[str]:
    """A stack's tabs: instances (live status), compose, wiring, deploy (plan, apply, down)."""
    tab = request.query_params.get("tab", "instances")
    if tab not in TABS:
        tab = "instances"
    return _html(await _thread(_stack_view, devarch, web, stack, tab, notice=_notice(request)))


@get("/stacks/{stack:str}/fragments/status", include_in_schema=False)
async def status_fragment(devarch: Devarch, stack: str) -> Response[str]:
    """The instances table's body, polled by the page for live status."""

    def view() -> str:
        return _render(
            "_status_rows.html",
            stack=devarch.get_stack(stack),
            instances=devarch.list_instances(stack),
            status=_health_of(devarch, stack),
        )

    return _html(await _thread(view))


@get("/stacks/{stack:str}/compose.yml", include_in_schema=False)
async def compose_download(devarch: Devarch, stack: str) -> Response[str]:
    """The stack's Compose file as a download (secrets redacted)."""
    text = await _thread(devarch.compose, stack)
    return Response(
        text,
        media_type="application/yaml",
        headers={
            "content-disposition": f'attachment; filename="{stack}.compose.yml"',
            "cache-control": "no-store",
        },
    )


@post("/stacks/{stack:str}/instances", include_in_schema=False)
async def instance_add(
    request: Request[Any, Any, Any], devarch: Devarch, web: WebState, stack: str
) -> Response[Any]:
    """Add an instance of a catalog template (``template`` is ``name`` or ``name@version``)."""

    def action(form: FormMultiDict) -> str:
        ref = _text(form, "template")
        name = _text(form, "name", required=False) or ref.split("@", 1)[0]
        template, _, version = ref.partition("@")
        with name_field("instance", "name"):
            devarch.add_instance(stack, name, template, version=version or None)
        return _url("stacks", stack, "instances", name, done="added")

    return await _act(request, action, _stack_page(devarch, web, stack, "instances"), "add")


@post("/stacks/{stack:str}/apply", include_in_schema=False)
async def apply(
    request: Request[Any, Any, Any], devarch: Devarch, web: WebState, stack: str
) -> Response[Any]:
    """Apply exactly the plan the Deploy tab showed (its token), as a background job."""

    def action(form: FormMultiDict) -> str:
        token = _text(form, "token")
        saved = web.plans.get(stack, token)
        if saved is None:
            raise StalePlanError(stack, ["this page's plan is no longer known (plan again)"])
        return _job_url(web, "apply", stack, lambda d, holder: d.apply(stack, saved, holder=holder))

    return await _act(request, action, _stack_page(devarch, web, stack, "deploy"), "apply")


@post("/stacks/{stack:str}/down", include_in_schema=False)
async def down(
    request: Request[Any, Any, Any], devarch: Devarch, web: WebState, stack: str
) -> Response[Any]:
    """Remove the stack's containers (and volumes if asked) as a background job."""

    def action(form: FormMultiDict) -> str:
        volumes = form.get("volumes") == "1"
        devarch.get_stack(stack)
        return _job_url(
            web, "down", stack, lambda d, _holder: d.down_report(stack, volumes=volumes)
        )

    return await _act(request, action, _stack_page(devarch, web, stack, "deploy"), "down")


@post("/stacks/{stack:str}/lifecycle", include_in_schema=False)
async def lifecycle(
    request: Request[Any, Any, Any], devarch: Devarch, web: WebState, stack: str
) -> Response[Any]:
    """Start, stop or restart the stack's containers, or one instance's (``instance``)."""

    def action(form: FormMultiDict) -> str:
        verb = _text(form, "action")
        instance = _text(form, "instance", required=False)
        names = [instance] if instance else None
        if verb == "start":
            devarch.start(stack, names)
        elif verb == "stop":
            devarch.stop(stack, names)
        elif verb == "restart":
            devarch.restart(stack, names)
        else:
            raise ValidationError(f"unknown action {verb!r}", what="invalid form")
        done = {"start": "started", "stop": "stopped", "restart": "restarted"}[verb]
        if instance and form.get("back") == "instance":
            return _url("stacks", stack, "instances", instance, done=done)
        return _url("stacks", stack, done=done)

    return await _act(request, action, _stack_page(devarch, web, stack, "instances"), "lifecycle")


@get("/stacks/{stack:str}/jobs/{job_id:str}", include_in_schema=False)
async def job_page(devarch: Devarch, web: WebState, stack: str, job_id: str) -> Response[str]:
    """A running or finished apply/down: its progress, live while it runs."""
    job = web.jobs.get(job_id)
    if job is None or job.stack != stack:
        raise NotFoundError("job", job_id, hint="finished jobs are kept for a while only")
    st = await _thread(devarch.get_stack, stack)
    return _html(_render("job.html", stack=st, job=job, events=list(job.events)))


# -- pages: one instance -------------------------------------------------------------------------


def _instance_url(stack: str, name: str, done: str) -> str:
    return _url("stacks", stack, "instances", name, done=done)


@get("/stacks/{stack:str}/instances/{name:str}", include_in_schema=False)
async def instance_page(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str, name: str
) -> Response[str]:
    """One instance: override editor, secrets, wires, effective config, logs."""
    return _html(await _thread(_instance_view, devarch, stack, name, notice=_notice(request)))


@post("/stacks/{stack:str}/instances/{name:str}/set", include_in_schema=False)
async def override_set(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str, name: str
) -> Response[Any]:
    """Set one override: ``field`` (a field-table name), ``key`` for maps, ``value`` as text.

    The text is read exactly like the CLI's ``devarch instance set FIELD[.KEY]=VALUE``;
    config files take ``path`` and ``content`` instead.
    """
    form = await request.form()
    field_name = form.get("field") or ""

    def action(form: FormMultiDict) -> str:
        field = next((f for f in FIELDS if f.name == field_name), None)
        if field is None:
            raise ValidationError(f"unknown field {field_name!r}", what="invalid form")
        if field.name == "config_files":
            delta: dict[str, Any] = {
                "config_files": [
                    {"path": _text(form, "path"), "content": str(form.get("content") or "")}
                ]
            }
        else:
            cli = field.cli_names[0]
            value = str(form.get("value") or "")
            if field.kind in ("map", "per_field"):
                delta = parse_assignments([f"{cli}.{_text(form, 'key')}={value}"])
            else:
                delta = parse_assignments([f"{cli}={value}"])
        devarch.set_overrides(stack, name, delta)
        return _instance_url(stack, name, "override")

    return await _act(request, action, _instance_page(devarch, stack, name), f"field-{field_name}")


@post("/stacks/{stack:str}/instances/{name:str}/unset", include_in_schema=False)
async def override_unset(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str, name: str
) -> Response[Any]:
    """Remove one override (``path``: ``environment.FOO``, ``ports.5432/tcp``, ``image``)."""
    form = await request.form()
    path = str(form.get("path") or "")

    def action(form: FormMultiDict) -> str:
        devarch.unset_override(stack, name, _text(form, "path"))
        return _instance_url(stack, name, "unset")

    return await _act(
        request, action, _instance_page(devarch, stack, name), f"field-{path.split('.', 1)[0]}"
    )


@post("/stacks/{stack:str}/instances/{name:str}/secrets", include_in_schema=False)
async def secret_set(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str, name: str
) -> Response[Any]:
    """Seal a secret value (``var``, ``value``) or remove it (``unset=1``)."""

    def action(form: FormMultiDict) -> str:
        var = _text(form, "var")
        if form.get("unset") == "1":
            devarch.unset_secret(stack, name, var)
            return _instance_url(stack, name, "secret-unset")
        value = form.get("value")
        if not isinstance(value, str) or value == "":
            raise ValidationError(
                [Problem("value", "a secret needs a value")], what="invalid secret"
            )
        devarch.set_secret(stack, name, var, value)
        return _instance_url(stack, name, "secret")

    return await _act(request, action, _instance_page(devarch, stack, name), "secrets")


@post("/stacks/{stack:str}/instances/{name:str}/wire", include_in_schema=False)
async def wire_set(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str, name: str
) -> Response[Any]:
    """Pick the provider of an import: an instance, ``-`` (leave unwired) or ``auto``."""
    form = await request.form()
    import_name = str(form.get("import") or "")

    def action(form: FormMultiDict) -> str:
        imp = _text(form, "import")
        provider = _text(form, "provider")
        if provider == "auto":
            devarch.remove_wire(stack, name, imp)
            return _instance_url(stack, name, "unwired")
        devarch.add_wire(stack, name, imp, None if provider == "-" else provider)
        return _instance_url(stack, name, "wired")

    return await _act(request, action, _instance_page(devarch, stack, name), f"wire-{import_name}")


@post("/stacks/{stack:str}/instances/{name:str}/remove", include_in_schema=False)
async def instance_remove(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str, name: str
) -> Response[Any]:
    """Remove the instance from the stack (its container goes at the next apply)."""

    def action(form: FormMultiDict) -> str:
        if form.get("confirm") != "1":
            raise ValidationError(
                [Problem("confirm", "tick the box to confirm the removal")], what="not confirmed"
            )
        devarch.remove_instance(stack, name)
        return _url("stacks", stack, done="removed")

    return await _act(request, action, _instance_page(devarch, stack, name), "remove")


@post("/stacks/{stack:str}/instances/{name:str}/enabled", include_in_schema=False)
async def instance_enabled(
    request: Request[Any, Any, Any], devarch: Devarch, stack: str, name: str
) -> Response[Any]:
    """Enable or disable the instance (``enabled=1|0``)."""

    def action(form: FormMultiDict) -> str:
        enabled = _text(form, "enabled") == "1"
        devarch.update_instance(stack, name, enabled=enabled)
        return _instance_url(stack, name, "enabled" if enabled else "disabled")

    return await _act(request, action, _instance_page(devarch, stack, name), "enabled")


@get("/stacks/{stack:str}/instances/{name:str}/logs/stream", include_in_schema=False)
async def logs_stream(web: WebState, stack: str, name: str) -> ServerSentEvent:
    """The instance's new log lines as Server-Sent Events (``line``), until the client leaves."""
    logs = await _thread(web.devarch.logs, stack, name, follow=True, tail=0)
    return ServerSentEvent(log_events(logs, web.streams))


def build_router() -> Router:
    """Every dashboard route plus its static files (``/static``)."""
    static = create_static_files_router(
        path="/static", directories=[HERE / "static"], include_in_schema=False
    )
    return Router(
        path="/",
        route_handlers=[
            home,
            stacks_page,
            stack_create,
            stack_edit,
            stack_enabled,
            stack_clone,
            stack_delete_page,
            stack_delete,
            stack_page,
            status_fragment,
            compose_download,
            instance_add,
            apply,
            down,
            lifecycle,
            job_page,
            instance_page,
            override_set,
            override_unset,
            secret_set,
            wire_set,
            instance_remove,
            instance_enabled,
            logs_stream,
            static,
        ],
    )

"""The OpenAPI document as clients need it: the real error body, SSE answers, untyped bodies.

Litestar generates the document from the routes and their attrs bodies. Three things it cannot
know are filled in here, on the generated document (served at ``/api/v1/openapi.json``):

- every error answer is devarch's ``{error, message, problems: [{path, message}]}`` (see
  :mod:`devarch_adapters.web.errors`), not Litestar's ``{status_code, detail}``; a bad body or
  query is 422, never 400;
- the logs routes answer a JSON list of lines, or ``text/event-stream`` with ``follow=true``;
  an operation's events are ``text/event-stream`` too;
- bodies the routes validate themselves (a plan or a token for apply, a wire, an override delta)
  get their schema; an optional body (down, start, stop, restart) is not required.

See docs/web.md#api.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from litestar.openapi.plugins import JsonRenderPlugin

if TYPE_CHECKING:
    from litestar import Request

__all__ = ["ApiJsonPlugin", "refine"]

Schema = dict[str, Any]

_REF = "#/components/schemas/"

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "description": "Every error answer (docs/web.md#errors).",
        "required": ["error", "message", "problems"],
        "properties": {
            "error": {"type": "string", "description": "the error's class, e.g. ValidationError"},
            "message": {"type": "string"},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "message"],
                    "properties": {
                        "path": {"type": "string", "description": "e.g. overrides.ports[0].host"},
                        "message": {"type": "string"},
                    },
                },
            },
            "holder": {"type": "string", "description": "who holds the lock (423)"},
            "moved": {
                "type": "array",
                "items": {"type": "string"},
                "description": "what changed since the plan (409 stale plan)",
            },
            "step": {"type": "string"},
            "instance": {"type": "string"},
            "suggestion": {"type": "string"},
        },
    },
    "LogLine": {
        "type": "object",
        "required": ["instance", "stream", "text"],
        "properties": {
            "instance": {"type": "string"},
            "stream": {"type": "string", "enum": ["stdout", "stderr"]},
            "timestamp": {"type": ["string", "null"], "description": "RFC 3339, from the engine"},
            "text": {"type": "string"},
        },
    },
    "Operation": {
        "type": "object",
        "description": "A background operation (apply, down, init, start, stop, restart).",
        "required": ["id", "kind", "stack", "state"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": "string"},
            "stack": {"type": "string"},
            "state": {"type": "string", "enum": ["running", "succeeded", "failed"]},
            "events": {"type": "integer", "description": "how many events it sent so far"},
            "events_url": {"type": "string", "description": "its Server-Sent Events"},
            "result": {},
            "error": {"oneOf": [{"$ref": _REF + "Error"}, {"type": "null"}]},
        },
    },
    "ApplyRequest": {
        "description": (
            "A plan as `.../plan` returned it, or the `token` of one this server returned; "
            "`locked: true` refuses a divergence from the lockfile."
        ),
        "oneOf": [
            {
                "type": "object",
                "required": ["token"],
                "properties": {"token": {"type": "string"}, "locked": {"type": "boolean"}},
            },
            {
                "type": "object",
                "required": ["format", "stack", "token", "actions"],
                "properties": {"format": {"type": "integer"}, "locked": {"type": "boolean"}},
            },
        ],
    },
    "WireRequest": {
        "type": "object",
        "required": ["consumer", "import", "provider"],
        "additionalProperties": False,
        "properties": {
            "consumer": {"type": "string"},
            "import": {"type": "string"},
            "provider": {
                "type": ["string", "null"],
                "description": "null leaves an optional import unwired",
            },
            "export": {"type": ["string", "null"]},
        },
    },
    "InstanceDelta": {
        "type": "object",
        "description": (
            "An override delta in the manifest form (docs/manifest.md): image, command, "
            "environment, ports, volumes, resources, healthcheck...; a top-level null unsets an "
            "override, a null inside a map removes that entry; description and enabled change "
            "the instance."
        ),
        "properties": {"description": {"type": "string"}, "enabled": {"type": "boolean"}},
        "additionalProperties": True,
    },
}

#: Bodies that routes take as a plain mapping, by (path suffix, method).
_BODIES: dict[tuple[str, str], str] = {
    ("/stacks/{stack}/apply", "post"): "ApplyRequest",
    ("/stacks/{stack}/wires", "post"): "WireRequest",
    ("/stacks/{stack}/instances/{name}", "patch"): "InstanceDelta",
}

_ERRORS = {
    "401": "no valid token (Unauthorized)",
    "403": "a state-changing request from another origin (OriginNotAllowed)",
    "404": "no such stack, instance, template or operation",
    "409": "a conflict: a stale plan (with moved), a name in use, a wiring error",
    "421": "a Host header that does not name the server (HostNotAllowed)",
    "422": "invalid input: every problem with its path",
    "423": "the stack is locked by a running operation (with holder)",
    "500": "an internal error (no traceback; the server's log has it)",
    "503": "the engine or the store is unreachable",
}


def _error_response(description: str) -> Schema:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}},
    }


def _sse(description: str) -> Schema:
    return {"schema": {"type": "string"}, "x-devarch-events": description}


def _refine_operation(path: str, method: str, op: Schema) -> None:
    responses: Schema = op.setdefault("responses", {})
    responses.pop("400", None)  # Litestar's; a body or query that does not fit is a 422 here
    for status, text in _ERRORS.items():
        if method == "get" and status in ("403", "423"):
            continue  # the Origin check and the stack lock concern changes only
        responses.setdefault(status, _error_response(text))
    name = _BODIES.get((path.removeprefix("/api/v1"), method))
    if name is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF + name}}},
        }
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    variants = body.get("schema", {}).get("oneOf", [])
    if {"type": "null"} in variants:
        op["requestBody"]["required"] = False
    _refine_answers(path, op, responses)


def _refine_answers(path: str, op: Schema, responses: Schema) -> None:
    """The success answers: streams, and the Operation of a background job."""
    if path.endswith("/logs"):
        responses["200"] = {
            "description": "the log lines; with follow=true, Server-Sent Events of new lines",
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": _REF + "LogLine"}}
                },
                "text/event-stream": _sse(
                    "`line` with a LogLine as data, then `end` when the container stops"
                ),
            },
        }
        for param in op.get("parameters", []):
            if param.get("name") == "tail":
                param["schema"] = {"type": "integer", "minimum": 0, "maximum": 100_000}
                param["description"] = "only the last N lines (default: all)"
    elif path.endswith("/events"):
        responses["200"] = {
            "description": "the operation's progress as Server-Sent Events",
            "content": {
                "text/event-stream": _sse(
                    "`phase_started`, `step`, `phase_finished`, `warning` (the CLI's progress), "
                    "each with an id; last `done` with the Operation"
                )
            },
        }
    accepted = responses.get("202")
    if accepted is not None:
        operation = {"application/json": {"schema": {"$ref": _REF + "Operation"}}}
        accepted["content"] = operation
        if "200" not in responses:
            responses["200"] = {
                "description": "the operation ended before the answer (with its result)",
                "content": copy.deepcopy(operation),
            }


def refine(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of Litestar's document with devarch's error body, SSE answers and bodies."""
    doc = copy.deepcopy(document)
    doc.setdefault("components", {}).setdefault("schemas", {}).update(copy.deepcopy(SCHEMAS))
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                _refine_operation(path, method, op)
    return doc


class ApiJsonPlugin(JsonRenderPlugin):
    """Serves :func:`refine` of the generated document as ``openapi.json``."""

    def __init__(self) -> None:
        super().__init__()
        self._refined: dict[str, Any] | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The refined document as JSON (refined once; Litestar caches the generated one)."""
        if self._refined is None:
            self._refined = refine(openapi_schema)
        return self.render_json(request, self._refined)

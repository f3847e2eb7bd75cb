"""The ``DevarchError`` tree mapped to HTTP statuses, with one JSON body shape for every error.

Every error answer is ``{"error": NAME, "message": TEXT, "problems": [{"path", "message"}]}``
(plus ``holder`` for a locked stack, ``moved`` for a stale plan, ``step``/``instance`` for a failed
apply step). Validation problems are 422 with every problem and its path; a locked stack is 423
naming the holder; a stale plan is 409 saying what moved. Anything unexpected is a 500 whose body
says only "internal error": the traceback goes to the server's log, never to the client.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.exceptions import ValidationException as LitestarValidationError

from devarch_core.errors import (
    ApplyError,
    ConflictError,
    DevarchError,
    EngineError,
    InvalidNameError,
    NotFoundError,
    SecretError,
    StackLockedError,
    StalePlanError,
    StoreError,
    ValidationError,
    WiringError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["error_body", "exception_handlers", "name_field", "status_of"]

log = logging.getLogger("devarch.web")

#: Most specific first: the first class an error is an instance of decides its status.
STATUSES: tuple[tuple[type[DevarchError], int], ...] = (
    (ValidationError, 422),
    (NotFoundError, 404),
    (StackLockedError, 423),
    (StalePlanError, 409),
    (ConflictError, 409),
    (WiringError, 409),
    (EngineError, 503),
    (StoreError, 503),
    (SecretError, 500),
    (ApplyError, 500),
)


@contextmanager
def name_field(kind: str, field: str) -> Iterator[None]:
    """A refused ``kind`` name (``stack``, ``instance``) is reported at the request's ``field``.

    The core names no path for a bad name (it does not know where it came from); the API's
    body field or the dashboard's form field is that path.
    """
    try:
        yield
    except InvalidNameError as exc:
        if exc.kind == kind:
            exc.problems = tuple(attrs.evolve(p, path=p.path or field) for p in exc.problems)
        raise


def status_of(exc: DevarchError) -> int:
    """The HTTP status of a devarch error (400 for a subclass this table does not know)."""
    for kind, status in STATUSES:
        if isinstance(exc, kind):
            return status
    return 400


def error_body(exc: DevarchError) -> dict[str, Any]:
    """The JSON body of a devarch error: name, message, every problem with its path, details."""
    problems = getattr(exc, "problems", None) or ()
    body: dict[str, Any] = {
        "error": type(exc).__name__,
        "message": exc.message,
        "problems": [{"path": p.path, "message": p.message} for p in problems],
    }
    if isinstance(exc, StalePlanError):
        body["moved"] = list(exc.moved)
        body["problems"] = [{"path": "plan", "message": m} for m in exc.moved]
    if isinstance(exc, StackLockedError):
        body["holder"] = exc.holder
    for key in ("step", "instance", "suggestion"):
        value = getattr(exc, key, None)
        if isinstance(value, str):
            body[key] = value
    return body


def _json(body: dict[str, Any], status: int) -> Response[dict[str, Any]]:
    return Response(
        body, status_code=status, media_type=MediaType.JSON, headers={"cache-control": "no-store"}
    )


def _devarch_error(_request: Request[Any, Any, Any], exc: DevarchError) -> Response[Any]:
    return _json(error_body(exc), status_of(exc))


def _problem_path(item: dict[str, Any], message: str) -> str:
    """Where a request problem is: ``name``, ``query.explain``; ``body`` for the body as a whole."""
    key = str(item.get("key") or "")
    source = str(item.get("source") or "")
    if key == "data" or key.startswith("data."):  # litestar names the body parameter "data"
        key = key.removeprefix("data").lstrip(".")
    missing = re.search(r"missing required field `([^`]+)`", message)
    if missing:
        key = f"{key}.{missing.group(1)}" if key else missing.group(1)
    if source in ("", "body"):
        return key or "body"
    return f"{source}.{key}" if key else source


def _request_validation(
    _request: Request[Any, Any, Any], exc: LitestarValidationError
) -> Response[Any]:
    """A body, path or query parameter that does not fit the route: 422 with each path."""
    problems = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            message = str(item.get("message", ""))
            problems.append({"path": _problem_path(item, message), "message": message})
    if not problems:
        problems.append({"path": "", "message": str(exc.detail)})
    message = "invalid request: " + "; ".join(
        f"{p['path']}: {p['message']}" if p["path"] else p["message"] for p in problems
    )
    return _json({"error": "ValidationError", "message": message, "problems": problems}, 422)


def _http_error(_request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code == 400:  # noqa: PLR2004 - a body that is not JSON at all: still a 422
        problems = [{"path": "body", "message": str(exc.detail)}]
        message = f"invalid request: body: {exc.detail}"
        return _json({"error": "ValidationError", "message": message, "problems": problems}, 422)
    name = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}.get(
        exc.status_code, "HTTPError"
    )
    return _json({"error": name, "message": str(exc.detail), "problems": []}, exc.status_code)


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(
        {
            "error": "InternalError",
            "message": "internal error; the server's log has the details",
            "problems": [],
        },
        500,
    )


def exception_handlers() -> dict[type[Exception] | int, Callable[..., Response[Any]]]:
    """The handlers to give Litestar (most specific classes win)."""
    return {
        DevarchError: _devarch_error,
        LitestarValidationError: _request_validation,
        HTTPException: _http_error,
        Exception: _internal_error,
    }

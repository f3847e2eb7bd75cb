"""API routes for an applied stack's containers: logs, start, stop, restart (docs/web.md).

The same use cases as ``devarch logs|start|stop|restart``. Logs come as a JSON list of lines, or
as Server-Sent Events with ``follow=true`` (a client that goes away ends the stream and closes
the engine's log stream). Start, stop and restart take the stack's lock and wait for health, so
they run as background jobs like apply and down, and answer with the job.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import attrs
from litestar import get, post
from litestar.response import Response, ServerSentEvent, ServerSentEventMessage

from devarch_adapters.web.api import _job_answer
from devarch_core.errors import Problem, ValidationError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

    from devarch_adapters.web.state import OpenStreams, WebState
    from devarch_core.app import Devarch
    from devarch_core.engine import LogLine
    from devarch_core.ports import LogIterator

__all__ = ["LifecycleRequest", "lifecycle_handlers", "log_events"]

#: Lines a non-following request returns at most (``tail`` larger than this is refused).
MAX_TAIL = 100_000

Data = dict[str, Any]


@attrs.frozen(kw_only=True)
class LifecycleRequest:
    """Which instances to start, stop or restart (all of the stack's when empty)."""

    instances: list[str] = attrs.field(factory=list)


def _line(line: LogLine) -> Data:
    return {
        "instance": line.instance,
        "stream": line.stream,
        "timestamp": line.timestamp,
        "text": line.text,
    }


def _tail(tail: int | None) -> int | None:
    if tail is not None and not 0 <= tail <= MAX_TAIL:
        problem = Problem("tail", f"must be between 0 and {MAX_TAIL}, got {tail}")
        raise ValidationError([problem], what="invalid query")
    return tail


async def log_events(
    logs: LogIterator, streams: OpenStreams | None = None
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """Log lines as ``line`` events (then ``end``); closing the stream closes ``logs``.

    With ``streams`` (the server's), ``logs`` is closed as soon as the server stops: the stream
    then ends with ``end`` instead of holding the server up.
    """
    end = object()
    if streams is not None:
        streams.add(logs)
    try:
        while True:
            line: Any = await anyio.to_thread.run_sync(next, logs, end, abandon_on_cancel=True)
            if line is end:
                yield ServerSentEventMessage(data="{}", event="end")
                return
            yield ServerSentEventMessage(data=json.dumps(_line(line)), event="line")
    finally:
        # Shielded: server shutdown cancels the streaming task group, and an unshielded await
        # would be cancelled before close() ran, leaving next() blocked in a non-daemon worker
        # thread (a quiet container's live logs then kept ``devarch serve`` from exiting).
        if streams is not None:
            streams.discard(logs)
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(logs.close)


async def _logs(
    web: WebState, stack: str, instance: str | None, follow: bool, tail: int | None
) -> Response[list[Data]] | ServerSentEvent:
    tail = _tail(tail)
    devarch = web.devarch
    if follow:
        logs = await anyio.to_thread.run_sync(
            lambda: devarch.logs(stack, instance, follow=True, tail=tail)
        )
        return ServerSentEvent(log_events(logs, web.streams))

    def read() -> list[Data]:
        stream = devarch.logs(stack, instance, follow=False, tail=tail)
        try:
            return [_line(line) for line in stream]
        finally:
            stream.close()

    return Response(await anyio.to_thread.run_sync(read))


@get("/stacks/{stack:str}/logs", tags=["lifecycle"])
async def stack_logs(
    web: WebState, stack: str, follow: bool = False, tail: int | None = None
) -> Response[list[Data]] | ServerSentEvent:
    """Every instance's log lines, in time order (SSE of new lines with ``follow=true``)."""
    return await _logs(web, stack, None, follow, tail)


@get("/stacks/{stack:str}/instances/{name:str}/logs", tags=["lifecycle"])
async def instance_logs(
    web: WebState, stack: str, name: str, follow: bool = False, tail: int | None = None
) -> Response[list[Data]] | ServerSentEvent:
    """One instance's log lines (SSE of new lines with ``follow=true``)."""
    return await _logs(web, stack, name, follow, tail)


def _lifecycle(verb: str) -> Callable[..., Any]:
    @post(
        f"/stacks/{{stack:str}}/{verb}",
        sync_to_thread=True,
        tags=["lifecycle"],
        status_code=202,
        name=f"stack-{verb}",
        operation_id=f"{verb}Stack",
        summary=f"{verb.capitalize()} a stack's containers",
        description=(
            f"{verb.capitalize()} the stack's containers (or ``instances``) in the background; "
            "never creates or removes one (that is apply and down)."
        ),
    )
    def handler(web: WebState, stack: str, data: LifecycleRequest | None = None) -> Response[Data]:
        names = list(data.instances) if data is not None and data.instances else None
        web.devarch.get_stack(stack)  # 404 now, not in the job

        def work(d: Devarch, _holder: str) -> object:
            method = {"start": d.start, "stop": d.stop, "restart": d.restart}[verb]
            return method(stack, names)

        return _job_answer(web.jobs.start(verb, stack, work))

    return handler


def lifecycle_handlers() -> list[Callable[..., Any]]:
    """The routes of this module (mounted under ``/api/v1`` by the app)."""
    return [
        stack_logs,
        instance_logs,
        _lifecycle("start"),
        _lifecycle("stop"),
        _lifecycle("restart"),
    ]

"""The API's logs, start, stop and restart routes, in process on the fakes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import pytest

pytest.importorskip("litestar")

from litestar.testing import TestClient

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_adapters.web.api import _stream
from devarch_adapters.web.app import create_app
from devarch_adapters.web.lifecycle_api import log_events
from devarch_adapters.web.state import OpenStreams, WebConfig
from devarch_core.catalog import builtin_catalog
from devarch_core.testing import FakeRuntime, fake_devarch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devarch_core.app import Devarch

CATALOG = Path(__file__).resolve().parents[2] / "examples" / "catalog"
BASE = "http://127.0.0.1:8765"
AUTH = {"Authorization": "Bearer t0ken"}
API = "/api/v1"


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime(images={"devarch-test/busybox:latest": "sha256:b0"})


@pytest.fixture
def devarch(runtime: FakeRuntime) -> Devarch:
    catalog = builtin_catalog().merged(load_catalog_dirs([CATALOG]))
    d = fake_devarch(catalog, runtime=runtime)
    d.close = lambda: None  # type: ignore[method-assign]  # shared by the jobs in these tests
    d.create_stack("life")
    d.add_instance("life", "db", "bb-db")
    d.add_instance("life", "worker", "bb-worker")
    d.apply("life")
    return d


@pytest.fixture
def client(devarch: Devarch) -> Iterator[TestClient[Any]]:
    app = create_app(lambda _reporter: devarch, WebConfig(token="t0ken", port=8765))
    with TestClient(app, base_url=BASE) as c:
        yield c


def _finished(client: TestClient[Any], answer: Any) -> dict[str, Any]:
    assert answer.status_code in (200, 202), answer.text
    job = answer.json()
    deadline = time.monotonic() + 10
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"{API}/jobs/{job['id']}", headers=AUTH).json()
    return dict(job)


def test_logs_of_an_instance_and_of_the_stack(
    client: TestClient[Any], runtime: FakeRuntime
) -> None:
    runtime.write_log("devarch-life-db", "db one\ndb two")
    runtime.write_log("devarch-life-worker", "worker one", "stderr")
    lines = client.get(f"{API}/stacks/life/instances/db/logs", headers=AUTH).json()
    assert [line["text"] for line in lines] == ["db one", "db two"]
    assert {line["instance"] for line in lines} == {"db"}
    tail = client.get(f"{API}/stacks/life/instances/db/logs?tail=1", headers=AUTH).json()
    assert [line["text"] for line in tail] == ["db two"]
    both = client.get(f"{API}/stacks/life/logs", headers=AUTH).json()
    assert [(line["instance"], line["text"], line["stream"]) for line in both] == [
        ("db", "db one", "stdout"),
        ("db", "db two", "stdout"),
        ("worker", "worker one", "stderr"),
    ]


def test_following_logs_streams_new_lines_as_events_and_closes_the_source(
    devarch: Devarch, runtime: FakeRuntime
) -> None:
    # The SSE body generator itself (Litestar's in-process client buffers a streamed body).
    runtime.write_log("devarch-life-db", "before")
    logs = devarch.logs("life", "db", follow=True, tail=0)

    async def first_event() -> Any:
        events = log_events(logs)
        runtime.write_log("devarch-life-db", "after")
        try:
            return await events.__anext__()
        finally:
            await events.aclose()

    message = anyio.run(first_event)
    assert message.event == "line"
    line = json.loads(str(message.data))
    assert (line["instance"], line["text"]) == ("db", "after")
    with pytest.raises(StopIteration):
        next(logs)  # closing the stream closed the engine's log stream


def test_a_bad_tail_is_a_422_with_its_path(client: TestClient[Any]) -> None:
    response = client.get(f"{API}/stacks/life/instances/db/logs?tail=-1", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["problems"][0]["path"] == "tail"


def test_unknown_instance_logs_are_404(client: TestClient[Any]) -> None:
    response = client.get(f"{API}/stacks/life/instances/nope/logs", headers=AUTH)
    assert response.status_code == 404


def test_stop_start_and_restart_run_as_jobs(client: TestClient[Any], devarch: Devarch) -> None:
    post = {**AUTH, "Origin": BASE}
    stopped = _finished(
        client, client.post(f"{API}/stacks/life/stop", json={"instances": ["worker"]}, headers=post)
    )
    assert stopped["state"] == "succeeded", stopped
    assert stopped["result"]["changed"] == ["worker"]
    states = {row.instance: row.state for row in devarch.status("life")}
    assert states == {"db": "running", "worker": "exited"}

    started = _finished(client, client.post(f"{API}/stacks/life/start", headers=post))
    assert started["state"] == "succeeded", started
    assert started["result"]["changed"] == ["worker"]
    assert started["result"]["unchanged"] == ["db"]

    restarted = _finished(client, client.post(f"{API}/stacks/life/restart", headers=post))
    assert restarted["state"] == "succeeded", restarted
    assert sorted(restarted["result"]["changed"]) == ["db", "worker"]


def test_lifecycle_of_an_unknown_stack_is_404(client: TestClient[Any]) -> None:
    post = {**AUTH, "Origin": BASE}
    assert client.post(f"{API}/stacks/nope/stop", headers=post).status_code == 404


class _SilentLogs:
    """A follower of a container that writes nothing: ``next()`` blocks until ``close()``."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def __iter__(self) -> _SilentLogs:
        return self

    def __next__(self) -> Any:
        self.closed.wait(10)
        raise StopIteration

    def close(self) -> None:
        self.closed.set()


def test_a_cancelled_log_stream_closes_the_engine_stream() -> None:
    """Server shutdown cancels the SSE task: the engine's stream must close, not stay blocked.

    The blocked ``next()`` runs in a non-daemon worker thread: left waiting, it kept ``devarch
    serve`` from exiting on Ctrl-C while a browser showed live logs of a quiet container.
    """
    logs = _SilentLogs()

    async def cancel_while_waiting() -> None:
        # Litestar streams the body inside an anyio task group: cancelling it is a level
        # cancellation, so every later await in that scope is cancelled too.
        async with anyio.create_task_group() as group:

            async def send() -> None:
                async for _ in log_events(logs):
                    pass

            group.start_soon(send)
            await anyio.sleep(0.2)
            group.cancel_scope.cancel()  # what uvicorn's shutdown amounts to

    started = time.monotonic()
    anyio.run(cancel_while_waiting)
    assert logs.closed.is_set()
    assert time.monotonic() - started < 5


def test_stopping_the_server_ends_open_log_streams_at_once() -> None:
    """Ctrl-C (``OpenStreams.stop``) ends a live logs stream with ``end``; later ones close."""
    streams = OpenStreams()
    logs = _SilentLogs()
    seen: list[str | None] = []

    async def follow_then_stop() -> None:
        async with anyio.create_task_group() as group:

            async def send() -> None:
                seen.extend([m.event async for m in log_events(logs, streams)])

            group.start_soon(send)
            await anyio.sleep(0.2)
            streams.stop()

    started = time.monotonic()
    anyio.run(follow_then_stop)
    assert seen == ["end"]
    assert time.monotonic() - started < 5
    late = _SilentLogs()
    streams.add(late)  # a stream opened while stopping is closed at once
    assert late.closed.is_set()


class _RunningJob:
    """A job that runs on (never done), with one event so far."""

    done = False
    events: ClassVar[list[dict[str, Any]]] = [{"event": "phase_started", "phase": "containers"}]

    def to_data(self) -> dict[str, Any]:
        return {"state": "running"}


def test_stopping_the_server_ends_an_operation_stream_without_done() -> None:
    """An apply's event stream ends on Ctrl-C (the server waits for the job itself)."""
    stopping = threading.Event()
    seen: list[str | None] = []

    async def follow_then_stop() -> None:
        with anyio.fail_after(5):  # before the fix the stream polled on until the job ended
            async with anyio.create_task_group() as group:

                async def send() -> None:
                    job: Any = _RunningJob()
                    seen.extend([m.event async for m in _stream(job, 0, stopping)])

                group.start_soon(send)
                await anyio.sleep(0.3)
                stopping.set()

    started = time.monotonic()
    anyio.run(follow_then_stop)
    assert seen == ["phase_started"]  # no "done": the job did not end
    assert time.monotonic() - started < 2

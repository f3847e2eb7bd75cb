"""Logs and start/stop/restart over HTTP on a real ``devarch serve`` process and Docker.

The story test of tests/integration/test_web_api.py has no logs; this one goes create → add → plan
→ apply → status → logs (JSON and a live SSE stream) → stop → start → restart → down through HTTP
only, and checks that Ctrl-C stops the server promptly while a browser holds a live logs stream
open.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from tests.integration._serve import served_url, start_serve
from tests.integration.test_web_api import (
    API,
    Server,
    _containers,
    _create,
    _force_cleanup,
    _wait_job,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.docker


def _serve(home: Path) -> Server:
    proc = start_serve(home)
    return Server(proc, *served_url(proc), home)


def _finish(server: Server, answer: Any) -> dict[str, Any]:
    assert answer.status_code in (200, 202), answer.text
    done = _wait_job(server, answer.json()["id"])
    assert done["state"] == "succeeded", done
    return done


def _states(stack: str) -> dict[str, str]:
    return {c.labels["devarch.instance"]: c.status for c in _containers(stack)}


def _first_log_line(server: Server, path: str) -> dict[str, Any]:
    """Open a following logs stream and return its first ``line`` event."""
    with server.client.stream("GET", f"{API}{path}") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:") and event == "line":
                data: dict[str, Any] = json.loads(line.partition(":")[2])
                return data
    pytest.fail("the logs stream ended without a line")


def test_logs_and_start_stop_restart_over_http(docker_url: str, tmp_path: Path) -> None:
    del docker_url
    name = f"wl{int(time.time() * 1000) % 10**8}"
    server = _serve(tmp_path)
    try:
        _create(server, name, ("db", "bb-db"), pin=False)
        r = server.call(
            "POST", f"/stacks/{name}/instances", json={"name": "worker", "template": "bb-worker"}
        )
        assert r.status_code == 201, r.text
        token = server.call("POST", f"/stacks/{name}/plan").json()["token"]
        _finish(server, server.call("POST", f"/stacks/{name}/apply", json={"token": token}))
        assert _states(name) == {"db": "running", "worker": "running"}
        status = server.call("GET", f"/stacks/{name}/status").json()
        assert {row["instance"]: row["state"] for row in status} == {
            "db": "running",
            "worker": "running",
        }

        # Logs as JSON: the worker's first line names the database it was wired to.
        deadline = time.monotonic() + 30
        lines: list[dict[str, Any]] = []
        while not lines and time.monotonic() < deadline:
            lines = server.call("GET", f"/stacks/{name}/instances/worker/logs?tail=5").json()
            time.sleep(0.5)
        assert lines, "no log line from the worker"
        assert lines[-1]["instance"] == "worker"
        assert lines[-1]["text"].startswith("worker: database ")
        stack_lines = server.call("GET", f"/stacks/{name}/logs?tail=5").json()
        assert {row["instance"] for row in stack_lines} == {"worker"}  # db logs nothing
        # Live: a following stream gets a line as the worker writes it.
        live = _first_log_line(server, f"/stacks/{name}/instances/worker/logs?follow=true&tail=0")
        assert live["text"].startswith("worker: database ")
        bad = server.call("GET", f"/stacks/{name}/instances/worker/logs?tail=-1")
        assert bad.status_code == 422
        assert bad.json()["problems"][0]["path"] == "tail"
        assert server.call("GET", f"/stacks/{name}/instances/nope/logs").status_code == 404

        _finish(server, server.call("POST", f"/stacks/{name}/stop", json={"instances": ["worker"]}))
        assert _states(name) == {"db": "running", "worker": "exited"}
        _finish(server, server.call("POST", f"/stacks/{name}/start", json={}))
        assert _states(name) == {"db": "running", "worker": "running"}
        before = {
            c.labels["devarch.instance"]: c.attrs["State"]["StartedAt"] for c in _containers(name)
        }
        _finish(server, server.call("POST", f"/stacks/{name}/restart", json={"instances": ["db"]}))
        after = {
            c.labels["devarch.instance"]: c.attrs["State"]["StartedAt"] for c in _containers(name)
        }
        assert after["db"] != before["db"]
        assert after["worker"] == before["worker"]
        assert _states(name) == {"db": "running", "worker": "running"}

        _finish(server, server.call("POST", f"/stacks/{name}/down", json={}))
        assert _containers(name) == []
    finally:
        server.client.close()
        server.proc.send_signal(signal.SIGINT)
        try:
            server.proc.wait(timeout=30)
        finally:
            server.proc.kill()
        _force_cleanup([name])


def test_ctrl_c_stops_the_server_while_a_logs_stream_is_open(
    docker_url: str, tmp_path: Path
) -> None:
    """A browser tab with live logs of a silent container must not keep the server alive."""
    del docker_url
    name = f"wc{int(time.time() * 1000) % 10**8}"
    server = _serve(tmp_path)
    try:
        _create(server, name, ("db", "bb-db"), pin=False)
        token = server.call("POST", f"/stacks/{name}/plan").json()["token"]
        _finish(server, server.call("POST", f"/stacks/{name}/apply", json={"token": token}))

        opened = threading.Event()

        def hold_stream() -> None:
            # bb-db writes nothing: the engine's log stream blocks until the server ends it.
            path = f"{API}/stacks/{name}/instances/db/logs?follow=true"
            try:
                with server.client.stream("GET", path) as response:
                    assert response.status_code == 200
                    opened.set()
                    for _ in response.iter_lines():
                        pass
            except Exception:  # noqa: BLE001, S110 - the server going away is the point
                pass

        reader = threading.Thread(target=hold_stream, daemon=True)
        reader.start()
        assert opened.wait(30)
        time.sleep(0.5)
        began = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        code = server.proc.wait(timeout=60)
        took = time.monotonic() - began
        stderr = server.proc.stderr.read() if server.proc.stderr else ""
        assert code == 0, stderr
        assert "Traceback" not in stderr
        # The stream ends at once: no 5-s wait for uvicorn's grace time, nothing cancelled.
        assert "Cancel" not in stderr
        assert took < 4, f"serve took {took:.1f} s to stop: {stderr}"
    finally:
        server.client.close()
        if server.proc.poll() is None:
            server.proc.kill()
        _force_cleanup([name])

"""The HTTP API end to end: a real ``devarch serve`` process on a free port, SQLite, Docker.

Everything goes through HTTP (create → add → plan → apply → status → down), plus the refusals:
stale plans, concurrent applies, malformed bodies, missing/wrong tokens, foreign Host headers and
cross-origin requests. The docker SDK only checks the engine and cleans up.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from tests.integration._serve import served_url, start_serve
from tests.integration.conftest import EXAMPLES, port_range

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"


class Server:
    """A running ``devarch serve`` subprocess and an authenticated client for it."""

    def __init__(self, proc: subprocess.Popen[str], base: str, token: str, home: Path) -> None:
        self.proc = proc
        self.base = base
        self.token = token
        self.home = home
        self.host = base.removeprefix("http://")
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        self.bodies: list[str] = []  # every error body seen, checked for tracebacks at the end

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, API + path, **kwargs)
        if response.status_code >= 400:
            self.bodies.append(response.text)
        return response

    def events(self, job_id: str, *, first_only: bool = False) -> list[dict[str, Any]]:
        """Read a job's SSE stream (all of it, or only its first event then disconnect)."""
        out: list[dict[str, Any]] = []
        with self.client.stream("GET", f"{API}/operations/{job_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data = json.loads(line.partition(":")[2])
                    out.append({"sse": event, **data})
                    if first_only or event == "done":
                        break
        return out


@pytest.fixture(scope="module")
def server(docker_url: str, tmp_path_factory: pytest.TempPathFactory):
    del docker_url  # only for its skip/ping
    home = tmp_path_factory.mktemp("webhome")
    proc = start_serve(home)
    url = served_url(proc)
    srv = Server(proc, url[0], url[1], home)
    yield srv
    # Clean up every stack this module made, then stop the server with Ctrl-C (SIGINT).
    names = [row["name"] for row in srv.call("GET", "/stacks").json()]
    for stack in names:
        srv.call("DELETE", f"/stacks/{stack}")
    srv.client.close()
    _force_cleanup(names)
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert srv.token not in stderr  # no access log with ?token= lines
    for body in srv.bodies:
        assert "Traceback" not in body
        assert 'File "' not in body


@pytest.fixture
def name() -> str:
    return f"w{uuid.uuid4().hex[:8]}"


#: Host ports pinned by the tests that apply: from a random window, so servers of other test
#: processes (each with its own store) never plan the same free port at the same moment.
_WINDOW = port_range()
_PORTS = itertools.count(_WINDOW[0])
CONTAINER_PORT = {"bb-db": 5432, "bb-web": 8080}


def _pin(template: str) -> dict[str, Any]:
    return {"ports": [{"container": CONTAINER_PORT[template], "host": next(_PORTS)}]}


def _create(server: Server, stack: str, *instances: tuple[str, str], pin: bool = True) -> None:
    assert server.call("POST", "/stacks", json={"name": stack}).status_code == 201
    for inst, template in instances:
        body = {"name": inst, "template": template, "overrides": _pin(template) if pin else {}}
        r = server.call("POST", f"/stacks/{stack}/instances", json=body)
        assert r.status_code == 201, r.text


def _wait_job(server: Server, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        data: dict[str, Any] = server.call("GET", f"/operations/{job_id}").json()
        if data["state"] != "running":
            return data
        time.sleep(0.2)
    pytest.fail(f"job {job_id} did not end")


def _force_cleanup(stacks: list[str]) -> None:
    """Remove engine objects of these stacks that the API's delete left (a failed test)."""
    client = docker.from_env()
    try:
        for stack in stacks:
            stem = f"devarch-{stack}-"
            for container in client.containers.list(all=True, filters={"name": stem}):
                with contextlib.suppress(Exception):
                    container.remove(force=True)
            for network in client.networks.list(names=[stem]):
                with contextlib.suppress(Exception):
                    network.remove()
            for volume in client.volumes.list(filters={"name": stem}):
                with contextlib.suppress(Exception):
                    volume.remove(force=True)
    finally:
        client.close()


def _containers(stack: str) -> list[Any]:
    client = docker.from_env()
    try:
        return client.containers.list(all=True, filters={"label": f"devarch.stack={stack}"})
    finally:
        client.close()


def test_create_add_plan_apply_status_down_over_http(  # noqa: PLR0915 - one story, end to end
    server: Server, name: str
) -> None:
    _create(server, name, ("db", "bb-db"))
    # Overrides go with the instance (every kind goes through the same manifest form).
    r = server.call(
        "POST",
        f"/stacks/{name}/instances",
        json={
            "name": "web",
            "template": "bb-web",
            "overrides": {"environment": {"APP_TITLE": "from the API"}, **_pin("bb-web")},
        },
    )
    assert r.status_code == 201, r.text
    r = server.call(
        "PUT", f"/stacks/{name}/instances/db/secrets/POSTGRES_PASSWORD", json={"value": "s3cr3t-v"}
    )
    assert r.status_code == 200
    assert "s3cr3t-v" not in r.text
    secrets = server.call("GET", f"/stacks/{name}/secrets").json()
    assert {"instance": "db", "name": "POSTGRES_PASSWORD"} in secrets
    assert "s3cr3t-v" not in json.dumps(secrets)

    plan = server.call("POST", f"/stacks/{name}/plan").json()
    assert plan["stack"] == name
    assert sorted(a["instance"] for a in plan["actions"]) == ["db", "web"]
    assert all(a["action"] == "add" for a in plan["actions"])

    r = server.call("POST", f"/stacks/{name}/apply", json={"token": plan["token"]})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "running"
    # A client that reads one event and goes away does not stop the apply...
    first = server.events(job["id"], first_only=True)
    assert first[0]["event"] == "phase_started"
    # ...and a later reader gets every event from the start, then "done".
    events = server.events(job["id"])
    assert events[-1]["sse"] == "done"
    assert events[-1]["state"] == "succeeded", json.dumps(events[-1]["error"])
    steps = {(e["item"], e["status"]) for e in events if e.get("event") == "step"}
    assert ("db", "started") in steps
    assert ("web", "started") in steps
    assert {"network", "containers"} <= {e["phase"] for e in events if "phase" in e}

    deadline = time.monotonic() + 60
    while True:
        status = server.call("GET", f"/stacks/{name}/status").json()
        states = {row["instance"]: row for row in status}
        if all(row.get("health") in ("healthy", None) for row in status) or (
            time.monotonic() > deadline
        ):
            break
        time.sleep(1)
    assert set(states) == {"db", "web"}
    assert all(row["state"] == "running" for row in status), status
    assert len(_containers(name)) == 2

    compose = server.call("GET", f"/stacks/{name}/compose")
    assert compose.status_code == 200
    assert "s3cr3t-v" not in compose.text
    assert "from the API" in compose.text
    assert server.call("GET", f"/stacks/{name}/graph").text.lstrip().startswith("<svg")
    manifest = server.call("GET", f"/stacks/{name}/export")
    assert "${secret:POSTGRES_PASSWORD}" in manifest.text
    assert "s3cr3t-v" not in manifest.text
    lock = server.call("GET", f"/stacks/{name}/lock?yaml=true").text
    check = server.call("POST", f"/stacks/{name}/lock/check", json={"lockfile": lock}).json()
    assert check == {"stack": name, "matches": True, "divergence": []}
    effective = server.call("GET", f"/stacks/{name}/instances/web/effective?explain=true").json()
    assert effective["explain"]

    r = server.call("POST", f"/stacks/{name}/down", json={})
    assert r.status_code in (200, 202), r.text
    done = _wait_job(server, r.json()["id"])
    assert done["state"] == "succeeded", done
    assert _containers(name) == []
    assert server.call("GET", f"/stacks/{name}").status_code == 200  # the definition stays


def test_stale_plan_is_409_with_the_reason(server: Server, name: str) -> None:
    _create(server, name, ("db", "bb-db"))
    plan = server.call("GET", f"/stacks/{name}/plan").json()
    r = server.call(
        "PATCH",
        f"/stacks/{name}/instances/db",
        json={"environment": {"POSTGRES_DB": "other"}},
    )
    assert r.status_code == 200, r.text
    r = server.call("POST", f"/stacks/{name}/apply", json={"token": plan["token"]})
    assert r.status_code == 409, r.text
    # The plan itself as the body is checked the same way.
    assert server.call("POST", f"/stacks/{name}/apply", json=plan).json() == r.json()
    body = r.json()
    assert body["error"] == "StalePlanError"
    assert body["problems"]
    assert "db" in body["message"]
    # A token this server never gave out is refused the same way.
    r = server.call("POST", f"/stacks/{name}/apply", json={"token": "0" * 32})
    assert r.status_code == 409
    assert _containers(name) == []


def test_concurrent_applies_one_runs_the_others_are_locked(server: Server, name: str) -> None:
    _create(server, name, ("db", "bb-db"))
    token = server.call("GET", f"/stacks/{name}/plan").json()["token"]
    barrier = threading.Barrier(4)

    def apply() -> httpx.Response:
        barrier.wait()
        return server.call("POST", f"/stacks/{name}/apply", json={"token": token})

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: apply(), range(4)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(423) == 3, [a.text for a in answers]
    assert codes[0] in (200, 202)
    for answer in answers:
        if answer.status_code == 423:
            body = answer.json()
            assert body["error"] == "StackLockedError"
            assert "devarch serve" in body["holder"]
    winner = next(a for a in answers if a.status_code != 423).json()
    assert _wait_job(server, winner["id"])["state"] == "succeeded"
    assert len(_containers(name)) == 1


MALFORMED: list[tuple[str, str, Any, str]] = [
    # (method, path under /stacks/{s}, body, a problem path the answer must name)
    ("POST", "/instances", {"name": "x"}, "template"),
    ("POST", "/instances", {"template": "bb-db"}, "name"),
    ("POST", "/instances", {"name": 1, "template": "bb-db"}, "name"),
    ("POST", "/instances", {"name": "x", "template": "bb-db", "enabled": "yes"}, "enabled"),
    ("POST", "/instances", {"name": "x", "template": "bb-db", "overrides": []}, "overrides"),
    ("POST", "/instances", {"name": "x", "template": "bb-db", "secrets": {"A": 1}}, "secrets"),
    ("POST", "/instances", [], "body"),
    ("POST", "/instances", "text", "body"),
    ("POST", "/instances", b"{not json", "body"),
    (
        "POST",
        "/instances",
        {"name": "x", "template": "bb-db", "overrides": {"ports": [{"host": "high"}]}},
        "ports",
    ),
    (
        "POST",
        "/instances",
        {"name": "x", "template": "bb-db", "overrides": {"environment": "A=1"}},
        "environment",
    ),
    ("POST", "/instances", {"name": "x", "template": "bb-db", "overrides": {"nope": 1}}, "nope"),
    ("PATCH", "/instances/db", [], "body"),
    ("PATCH", "/instances/db", 5, "body"),
    ("PATCH", "/instances/db", {"image": ["x"]}, "image"),
    ("PATCH", "/instances/db", {"ports": "x"}, "ports"),
    ("PATCH", "/instances/db", {"memory": "lots"}, "memory"),
    ("PATCH", "/instances/db", {"environment": {"A": []}}, "A"),
    ("PATCH", "/instances/db", {"volumes": [7]}, "volumes"),
    ("PATCH", "/instances/db", {"healthcheck": "x"}, "healthcheck"),
    ("PATCH", "/instances/db", {"enabled": "no"}, "enabled"),
    ("PATCH", "/instances/db", {"description": 3}, "description"),
    ("PATCH", "", {"enabled": "maybe"}, "enabled"),
    ("PATCH", "", {"network": ["a"]}, "network"),
    ("POST", "/clone", {}, "name"),
    ("POST", "/instances/db/rename", {"new": "x"}, "new_name"),
    ("PUT", "/instances/db/secrets/POSTGRES_PASSWORD", {"value": None}, "value"),
    ("POST", "/wires", {"consumer": "db", "import": "x", "export": "y"}, "provider"),
    ("POST", "/apply", {"token": 5}, "token"),
    ("POST", "/lock/check", {"lockfile": "stack: [unclosed"}, ""),
]


def _snapshot(server: Server, stack: str) -> tuple[str, str, str]:
    return (
        server.call("GET", f"/stacks/{stack}").text,
        server.call("GET", f"/stacks/{stack}/export").text,
        server.call("GET", f"/stacks/{stack}/secrets").text,
    )


@pytest.mark.parametrize("method", ["all"])
def test_malformed_bodies_are_422_with_paths_and_change_nothing(
    server: Server, name: str, method: str
) -> None:
    del method
    assert len(MALFORMED) == 30
    _create(server, name, ("db", "bb-db"))
    before = _snapshot(server, name)
    failures = []
    for verb, path, body, where in MALFORMED:
        kwargs: dict[str, Any] = (
            {"content": body, "headers": {"content-type": "application/json"}}
            if isinstance(body, bytes)
            else {"json": body}
        )
        r = server.call(verb, f"/stacks/{name}{path}", **kwargs)
        data = r.json()
        paths = [p["path"] for p in data.get("problems", [])]
        if (
            r.status_code != 422
            or set(data) < {"error", "message", "problems"}
            or not data["problems"]
            or not all(p["message"] for p in data["problems"])
            or (where and not any(where in p for p in paths))
        ):
            failures.append((verb, path, body, r.status_code, data))
    assert failures == []
    assert _snapshot(server, name) == before


def test_requests_without_a_valid_token_or_from_elsewhere_are_refused(
    server: Server, name: str
) -> None:
    _create(server, name)
    before = _snapshot(server, name)
    bare = httpx.Client(base_url=server.base, timeout=30)
    good = {"Authorization": f"Bearer {server.token}"}
    with bare:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
            for path in (f"{API}/stacks", f"{API}/openapi.json", "/", f"{API}/docs"):
                r = bare.get(path, headers=headers)
                assert r.status_code == 401, (path, headers)
                assert server.token not in r.text
        r = bare.post(f"{API}/stacks", json={"name": name + "x"}, headers={"Cookie": "a=b"})
        assert r.status_code == 401
        assert r.json()["error"] == "Unauthorized"
        # DNS rebinding: the right token (a browser would send its cookie) but a foreign Host.
        for host in ("evil.example:80", f"evil.example:{server.host.rpartition(':')[2]}", ""):
            r = bare.get(f"{API}/stacks", headers={**good, "Host": host})
            assert r.status_code == 421, host
        # CSRF: a state-changing request from another origin, with a valid token.
        r = bare.post(
            f"{API}/stacks",
            json={"name": name + "y"},
            headers={**good, "Origin": "http://evil.example"},
        )
        assert r.status_code == 403
        assert r.json()["error"] == "OriginNotAllowed"
        r = bare.delete(f"{API}/stacks/{name}", headers={**good, "Origin": "null"})
        assert r.status_code == 403
        # The ?token= URL sets an HttpOnly, SameSite=Strict cookie and drops the token from the URL.
        r = bare.get(f"{API}/stacks?token={server.token}&x=1")
        assert r.status_code == 303
        assert r.headers["location"] == f"{API}/stacks?x=1"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        jar = {"Cookie": f"devarch_token={server.token}"}
        assert bare.get(f"{API}/stacks", headers=jar).status_code == 200
        # A cookie alone never authorises a state change without this server's own Origin.
        r = bare.post(f"{API}/stacks", json={"name": name + "z"}, headers=jar)
        assert r.status_code == 403
        r = bare.post(
            f"{API}/stacks",
            json={"name": name + "z"},
            headers={**jar, "Origin": server.base},
        )
        assert r.status_code == 201, r.text
        assert bare.delete(f"{API}/stacks/{name}z", headers=good).status_code == 200
    assert _snapshot(server, name) == before
    names = [row["name"] for row in server.call("GET", "/stacks").json()]
    assert name + "x" not in names
    assert name + "y" not in names
    token_file = server.home / "web.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text().strip() == server.token


def test_errors_map_to_statuses_without_tracebacks(server: Server, name: str) -> None:
    r = server.call("GET", f"/stacks/{name}")
    assert r.status_code == 404
    assert r.json()["error"] == "NotFoundError"
    _create(server, name)
    r = server.call("POST", "/stacks", json={"name": name})
    assert r.status_code == 409
    r = server.call("POST", "/stacks", json={"name": "Bad Name"})
    assert r.status_code == 422
    assert r.json()["problems"][0]["path"] == "name"
    r = server.call("GET", "/nowhere")
    assert r.status_code == 404
    r = server.call("GET", "/operations/nope")
    assert r.status_code == 404
    for body in server.bodies:
        assert "Traceback" not in body


def test_openapi_document_and_docs_page(server: Server) -> None:
    doc = server.call("GET", "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert f"{API}/stacks/{{stack}}/apply" in doc["paths"]
    assert "InstanceCreate" in doc["components"]["schemas"]
    page = server.call("GET", "/docs")
    assert page.status_code == 200
    assert "/api/v1/stacks" in page.text


def test_catalog_routes(server: Server) -> None:
    names = [t["name"] for t in server.call("GET", "/catalog").json()]
    assert "bb-db" in names
    assert server.call("GET", "/catalog/bb-db").json()["name"] == "bb-db"
    compose = "services:\n  cache:\n    image: redis:7\n    ports: ['6379']\n"
    r = server.call("POST", "/catalog/import-compose", json={"text": compose})
    assert r.status_code == 200, r.text
    assert r.json()["templates"][0]["name"] == "cache"


def test_serve_refuses_a_non_loopback_host_without_allow_remote(tmp_path: Path) -> None:
    proc = start_serve(tmp_path, "--host", "0.0.0.0")  # noqa: S104 - the point of the test
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "--allow-remote" in err
    assert "Traceback" not in err
    assert not (tmp_path / "web.token").exists()


def _errors(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in plan["diagnostics"] if d["severity"] == "error"]


def test_plan_errors_refuse_apply_and_an_explicit_wire_resolves_them(
    server: Server, name: str
) -> None:
    _create(server, name, ("web", "bb-web"), ("db1", "bb-db"), ("db2", "bb-db"))
    plan = server.call("GET", f"/stacks/{name}/plan").json()
    assert _errors(plan), plan  # web's db import is ambiguous: db1 or db2
    r = server.call("POST", f"/stacks/{name}/apply", json={"token": plan["token"]})
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "WiringError"
    assert _containers(name) == []
    wire = {"consumer": "web", "import": "db"}
    r = server.call("POST", f"/stacks/{name}/wires", json={**wire, "provider": "db2"})
    assert r.status_code == 200, r.text
    assert server.call("GET", f"/stacks/{name}/wires").json() == [r.json()]
    assert not _errors(server.call("GET", f"/stacks/{name}/plan").json())
    # A required import cannot be left unwired on purpose.
    r = server.call("POST", f"/stacks/{name}/wires", json={**wire, "provider": None})
    assert r.status_code == 422, r.text
    assert server.call("DELETE", f"/stacks/{name}/wires", params=wire).status_code == 200
    assert _errors(server.call("GET", f"/stacks/{name}/plan").json())


def test_manifest_export_import_round_trip(server: Server, name: str) -> None:
    _create(server, name, ("db", "bb-db"), pin=False)  # a pinned port cannot be copied
    text = server.call("GET", f"/stacks/{name}/export").text
    other = name + "b"
    copy = text.replace(f"  name: {name}\n", f"  name: {other}\n", 1)
    assert copy != text
    r = server.call("POST", "/import", json={"manifest": copy, "dry_run": True})
    assert r.status_code == 200, r.text
    assert server.call("GET", f"/stacks/{other}").status_code == 404  # dry run wrote nothing
    r = server.call("POST", "/import", json={"manifest": copy})
    assert r.status_code == 200, r.text
    assert [i["name"] for i in server.call("GET", f"/stacks/{other}/instances").json()] == ["db"]
    r = server.call("POST", "/import", json={"manifest": "stack: [oops"})
    assert r.status_code == 422
    assert r.json()["problems"]


def test_init_runs_in_the_background_and_doctor_answers(server: Server, name: str) -> None:
    manifest = (
        f"version: 1\nstack:\n  name: {name}\ninstances:\n  db:\n    template: bb-db\n"
        f"    overrides:\n      ports: [{{container: 5432, host: {next(_PORTS)}}}]\n"
        "      environment:\n"
        "        POSTGRES_PASSWORD: ${secret:POSTGRES_PASSWORD}\n"
    )
    body = {"manifest": manifest, "secrets": {"POSTGRES_PASSWORD": "init-s3cret"}}
    r = server.call("POST", "/init", json={**body, "dry_run": True})
    assert r.status_code == 200, r.text
    assert server.call("GET", f"/stacks/{name}").status_code == 404
    r = server.call("POST", "/init", json=body)
    assert r.status_code in (200, 202), r.text
    job = r.json()
    assert job["kind"] == "init"
    assert any(j["id"] == job["id"] for j in server.call("GET", f"/operations?stack={name}").json())
    # /jobs/... is the same route under its first name (the dashboard's pages use it).
    assert server.call("GET", f"/jobs/{job['id']}").json()["id"] == job["id"]
    done = _wait_job(server, job["id"])
    assert done["state"] == "succeeded", done["error"]
    assert "init-s3cret" not in json.dumps(done)
    assert len(_containers(name)) == 1
    doctor = server.call("GET", "/doctor").json()
    assert {c["name"] for c in doctor["checks"]} >= {"engine"}
    r = server.call("POST", f"/stacks/{name}/down", json={"volumes": True})
    assert _wait_job(server, r.json()["id"])["state"] == "succeeded"
    assert _containers(name) == []


def test_ctrl_c_during_an_apply_waits_for_it_and_exits_cleanly(
    docker_url: str, tmp_path: Path, name: str
) -> None:
    del docker_url
    proc = start_serve(tmp_path)
    srv = Server(proc, *served_url(proc), tmp_path)
    try:
        _create(srv, name, ("db", "bb-db"))
        token = srv.call("POST", f"/stacks/{name}/plan").json()["token"]
        r = srv.call("POST", f"/stacks/{name}/apply", json={"token": token})
        assert r.status_code == 202, r.text
        proc.send_signal(signal.SIGINT)  # while the apply runs
        code = proc.wait(timeout=120)
        stderr = proc.stderr.read() if proc.stderr else ""
        assert code == 0, stderr
        assert "waiting for the running jobs to finish: apply of " + name in stderr
        assert "Traceback" not in stderr
        # The apply ran to its end: the container runs and the store knows it was applied.
        containers = _containers(name)
        assert [c.status for c in containers] == ["running"]
        env = {**os.environ, "DEVARCH_HOME": str(tmp_path), "DEVARCH_RUNTIME": "docker"}
        env["DEVARCH_CATALOG_PATH"] = str(EXAMPLES)
        code_ = "import sys; from devarch_adapters.cli import main; sys.exit(main())"
        plan = subprocess.run(
            [sys.executable, "-c", code_, "plan", name, "--detailed-exitcode"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert plan.returncode == 0, plan.stdout + plan.stderr  # nothing left to do
    finally:
        srv.client.close()
        if proc.poll() is None:
            proc.kill()
        _force_cleanup([name])

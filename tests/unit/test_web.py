"""The web adapter in process (no engine): override routes, the guard, the error mapping, start-up.

The end-to-end tests against a real server process and Docker are in
tests/integration/test_web_api.py.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("litestar")

from litestar.testing import TestClient

from devarch_adapters import connect
from devarch_adapters.web.app import WebConfig, create_app
from devarch_adapters.web.errors import error_body, status_of
from devarch_adapters.web.security import GuardMiddleware, Origins, load_or_create_token
from devarch_core import errors
from devarch_core.app import Devarch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "catalog"
TOKEN = "unit-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(tmp_path: Path):
    home = tmp_path / "home"

    def factory(reporter: Any) -> Any:
        return connect(home=home, runtime="none", catalog=[str(EXAMPLES)], reporter=reporter)

    app = create_app(factory, WebConfig(token=TOKEN, port=8765))
    with TestClient(app, base_url="http://127.0.0.1:8765") as test_client:
        test_client.headers.update(AUTH)
        yield test_client


# Every override kind, in the manifest form the API takes, and the field that unsets it.
KINDS: list[tuple[dict[str, Any], str]] = [
    ({"image": "busybox:1"}, "image"),
    ({"command": ["sh", "-c", "sleep 1"]}, "command"),
    ({"entrypoint": ["sh"]}, "entrypoint"),
    ({"working_dir": "/srv"}, "working_dir"),
    ({"user": "1000"}, "user"),
    ({"restart": "always"}, "restart"),
    ({"stop_grace_period": "30s"}, "stop_grace_period"),
    ({"stop_signal": "SIGINT"}, "stop_signal"),
    ({"init": True}, "init"),
    ({"environment": {"FOO": "bar"}}, "environment.FOO"),
    ({"labels": {"k": "v"}}, "labels.k"),
    ({"ports": [{"container": 5432, "host": 15432}]}, "ports.5432/tcp"),
    ({"volumes": ["/srv/x:/data:ro"]}, "volumes./data"),
    ({"domains": ["db.local"]}, "domains.db.local"),
    ({"healthcheck": "disable"}, "healthcheck"),
    ({"resources": {"memory_limit": "256m"}}, "resources.memory_limit"),
]


@pytest.mark.parametrize(("delta", "field"), KINDS, ids=[f for _, f in KINDS])
def test_each_override_kind_is_set_then_unset(client, delta, field) -> None:
    assert client.post("/api/v1/stacks", json={"name": "s"}).status_code == 201
    r = client.post("/api/v1/stacks/s/instances", json={"name": "db", "template": "bb-db"})
    assert r.status_code == 201, r.text
    r = client.patch("/api/v1/stacks/s/instances/db", json=delta)
    assert r.status_code == 200, r.text
    key = next(iter(delta))
    assert key in r.json()["overrides"]
    r = client.delete(f"/api/v1/stacks/s/instances/db/overrides/{field}")
    assert r.status_code == 200, r.text
    assert key not in r.json()["overrides"]
    # The effective config shows the template's value again, with its source.
    eff = client.get("/api/v1/stacks/s/instances/db/effective?explain=true").json()
    assert eff["explain"]


def test_patch_null_unsets_and_description_enabled_change_the_instance(client) -> None:
    client.post("/api/v1/stacks", json={"name": "s"})
    client.post("/api/v1/stacks/s/instances", json={"name": "db", "template": "bb-db"})
    r = client.patch(
        "/api/v1/stacks/s/instances/db",
        json={"image": "busybox:2", "environment": {"A": "1"}, "description": "d"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["overrides"] == {"image": "busybox:2", "environment": {"A": "1"}}
    assert r.json()["description"] == "d"
    r = client.patch("/api/v1/stacks/s/instances/db", json={"image": None, "enabled": False})
    assert r.status_code == 200, r.text
    assert r.json()["overrides"] == {"environment": {"A": "1"}}
    assert r.json()["enabled"] is False
    # null for an override that is not set changes nothing; a bad flag is a 422 at its path.
    assert client.patch("/api/v1/stacks/s/instances/db", json={"user": None}).status_code == 200
    r = client.patch("/api/v1/stacks/s/instances/db", json={"enabled": "x"})
    assert r.status_code == 422
    assert r.json()["problems"] == [{"path": "enabled", "message": "expected true or false"}]
    assert client.patch("/api/v1/stacks/s/instances/nope", json={}).status_code == 404


def test_wires_and_stack_flags_follow_the_design_routes(client) -> None:
    client.post("/api/v1/stacks", json={"name": "s"})
    for name, template in (("web", "bb-web"), ("db1", "bb-db"), ("db2", "bb-db")):
        client.post("/api/v1/stacks/s/instances", json={"name": name, "template": template})
    wire = {"consumer": "web", "import": "db"}
    r = client.post("/api/v1/stacks/s/wires", json={**wire, "provider": "db2"})
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/stacks/s/wires").json() == [
        {**wire, "provider": "db2", "export": None}
    ]
    r = client.post("/api/v1/stacks/s/wires", json={"consumer": 1, "imports": "db"})
    assert r.status_code == 422
    assert {p["path"] for p in r.json()["problems"]} == {
        "consumer",
        "import",
        "provider",
        "imports",
    }
    assert client.delete("/api/v1/stacks/s/wires", params=wire).status_code == 200
    assert client.get("/api/v1/stacks/s/wires").json() == []
    assert client.post("/api/v1/stacks/s/disable").json()["enabled"] is False
    assert client.post("/api/v1/stacks/s/enable").json()["enabled"] is True
    assert client.get("/api/v1/stacks/s/graph?format=mermaid").text.startswith("graph")
    assert client.get("/api/v1/stacks/s/instances/db1/secrets").json() == []


def test_unsetting_an_override_that_is_not_there_is_a_clear_error(client) -> None:
    client.post("/api/v1/stacks", json={"name": "s"})
    client.post("/api/v1/stacks/s/instances", json={"name": "db", "template": "bb-db"})
    r = client.delete("/api/v1/stacks/s/instances/db/overrides/environment.NOPE")
    assert r.status_code in (404, 422), r.text
    assert r.json()["message"]


def test_unknown_paths_need_the_token_too(client) -> None:
    for path in ("/", "/nowhere", "/api/v1/nowhere", "/api/v1/openapi.json"):
        assert client.get(path, headers={"Authorization": ""}).status_code == 401, path
    assert client.get("/api/v1/nowhere").status_code == 404


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/stacks/a", "/stacks/a"),
        ("//evil.example/x", "/evil.example/x"),
        ("/a\r\nSet-Cookie: x=1", "/a%0D%0ASet-Cookie:%20x=1"),
    ],
)
def test_the_token_url_redirects_only_to_this_server(path, location) -> None:
    sent: list[dict[str, Any]] = []

    async def app(*_args: object) -> None:
        raise AssertionError  # the redirect answers before any route

    async def send(message) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    guard = GuardMiddleware(app, token=TOKEN, origins=Origins("127.0.0.1", 8765))
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": f"token={TOKEN}&a=1".encode(),
        "headers": [(b"host", b"127.0.0.1:8765")],
    }
    asyncio.run(guard(scope, receive, send))
    headers = dict(sent[0]["headers"])
    assert sent[0]["status"] == 303
    assert headers[b"location"].decode() == location + "?a=1"
    assert b"HttpOnly" in headers[b"set-cookie"]


def test_answers_carry_security_headers(client) -> None:
    r = client.get("/api/v1/stacks")
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("bound", "host", "ok"),
    [
        ("127.0.0.1", "127.0.0.1:8765", True),
        ("127.0.0.1", "localhost:8765", True),
        ("127.0.0.1", "[::1]:8765", True),
        ("127.0.0.1", "LOCALHOST:8765", True),
        ("127.0.0.1", "127.0.0.1:8766", False),
        ("127.0.0.1", "127.0.0.1", False),
        ("127.0.0.1", "evil.example:8765", False),
        ("127.0.0.1", "localhost.evil.example:8765", False),
        ("127.0.0.1", "", False),
        ("::1", "[::1]:8765", True),
        ("192.168.1.5", "192.168.1.5:8765", True),
        ("192.168.1.5", "localhost:8765", False),
        ("0.0.0.0", "10.0.0.7:8765", True),  # noqa: S104
        ("0.0.0.0", "rebind.evil.example:8765", False),  # noqa: S104
    ],
)
def test_host_header_check(bound, host, ok) -> None:
    assert Origins(bound, 8765).allows_host(host) is ok


@pytest.mark.parametrize(
    ("origin", "ok"),
    [
        ("http://127.0.0.1:8765", True),
        ("http://localhost:8765", True),
        ("https://127.0.0.1:8765", False),
        ("http://127.0.0.1:8765/x", False),
        ("null", False),
        ("http://evil.example", False),
        ("http://127.0.0.1:8765.evil.example", False),
    ],
)
def test_origin_check(origin, ok) -> None:
    assert Origins("127.0.0.1", 8765).allows_origin(origin) is ok


def test_token_file_is_created_private_once_and_reused(tmp_path: Path) -> None:
    token, created = load_or_create_token(tmp_path / "h")
    assert created
    path = tmp_path / "h" / "web.token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(token) >= 40
    path.chmod(0o644)
    again, created_again = load_or_create_token(tmp_path / "h")
    assert (again, created_again) == (token, False)
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("")
    with pytest.raises(OSError, match="empty"):
        load_or_create_token(tmp_path / "h")


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.ValidationError([errors.Problem("a.b", "bad")]), 422),
        (errors.ManifestError("bad"), 422),
        (errors.InvalidNameError("stack", "X", "is bad", None), 422),
        (errors.NotFoundError("stack", "x"), 404),
        (errors.ConflictError("taken"), 409),
        (errors.PortConflictError("port"), 409),
        (errors.StalePlanError("s", ["db moved"]), 409),
        (errors.StackLockedError("s", "pid 1"), 423),
        (errors.WiringError("ambiguous"), 409),
        (errors.EngineError("down"), 503),
        (errors.StoreError("down"), 503),
        (errors.SecretError("key"), 500),
        (errors.ApplyError("failed", step="containers", instance="db"), 500),
        (errors.DevarchError("other"), 400),
    ],
)
def test_error_statuses_and_bodies(exc, status) -> None:
    assert status_of(exc) == status
    body = error_body(exc)
    assert set(body) >= {"error", "message", "problems"}
    assert body["error"] == type(exc).__name__
    if isinstance(exc, errors.StackLockedError):
        assert body["holder"] == "pid 1"
    if isinstance(exc, errors.StalePlanError):
        assert body["problems"] == [{"path": "plan", "message": "db moved"}]
    if isinstance(exc, errors.ValidationError) and exc.problems[0].path:
        assert body["problems"] == [{"path": "a.b", "message": "bad"}]


def test_an_unexpected_error_is_a_500_without_a_traceback(client, monkeypatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        msg = "secret internals /etc/x line 3"
        raise RuntimeError(msg)

    monkeypatch.setattr(Devarch, "list_stacks", boom)
    r = client.get("/api/v1/stacks")
    assert r.status_code == 500
    assert r.json()["error"] == "InternalError"
    assert "secret internals" not in r.text
    assert "Traceback" not in r.text


def test_the_cli_does_not_load_the_web_stack_unless_serving() -> None:
    code = (
        "import sys\n"
        "from devarch_adapters.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "names = ('litestar', 'uvicorn', 'devarch_adapters.web.app')\n"
        "bad = [m for m in names if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"

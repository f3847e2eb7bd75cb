"""The OpenAPI document against the routes and the CLI: every capability, real shapes.

In process on the fakes: the document lists a route for each CLI command the issue names, its
error answers are devarch's error body (as a real error answer is), the logs and events routes
say they stream ``text/event-stream``, and start/stop/restart/down bodies are optional.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("litestar")

from litestar.testing import TestClient

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_adapters.web.app import create_app
from devarch_adapters.web.state import WebConfig
from devarch_core.catalog import builtin_catalog
from devarch_core.testing import FakeRuntime, fake_devarch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devarch_core.app import Devarch

CATALOG = Path(__file__).resolve().parents[2] / "examples" / "catalog"
BASE = "http://127.0.0.1:8765"
HEADERS = {"Authorization": "Bearer t0ken", "Origin": BASE}
API = "/api/v1"


@pytest.fixture
def devarch() -> Devarch:
    catalog = builtin_catalog().merged(load_catalog_dirs([CATALOG]))
    runtime = FakeRuntime(images={"devarch-test/busybox:latest": "sha256:b0"})
    d = fake_devarch(catalog, runtime=runtime)
    d.close = lambda: None  # type: ignore[method-assign]  # shared by the jobs in these tests
    d.create_stack("doc")
    d.add_instance("doc", "db", "bb-db")
    return d


@pytest.fixture
def client(devarch: Devarch) -> Iterator[TestClient[Any]]:
    app = create_app(lambda _reporter: devarch, WebConfig(token="t0ken", port=8765))
    with TestClient(app, base_url=BASE) as c:
        c.headers.update(HEADERS)
        yield c


@pytest.fixture
def document(client: TestClient[Any]) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


#: Each CLI command the issue names, and the API operation that does the same.
CLI_TO_API = [
    ("stack create", "post", "/stacks"),
    ("stack list", "get", "/stacks"),
    ("stack show", "get", "/stacks/{stack}"),
    ("stack update", "patch", "/stacks/{stack}"),
    ("stack delete", "delete", "/stacks/{stack}"),
    ("stack enable", "post", "/stacks/{stack}/enable"),
    ("stack disable", "post", "/stacks/{stack}/disable"),
    ("stack clone", "post", "/stacks/{stack}/clone"),
    ("instance add", "post", "/stacks/{stack}/instances"),
    ("instance list", "get", "/stacks/{stack}/instances"),
    ("instance show", "get", "/stacks/{stack}/instances/{name}"),
    ("instance set / update / enable / remove-env", "patch", "/stacks/{stack}/instances/{name}"),
    ("instance unset", "delete", "/stacks/{stack}/instances/{name}/overrides/{field}"),
    ("instance effective", "get", "/stacks/{stack}/instances/{name}/effective"),
    ("instance rm", "delete", "/stacks/{stack}/instances/{name}"),
    ("instance duplicate", "post", "/stacks/{stack}/instances/{name}/duplicate"),
    ("instance rename", "post", "/stacks/{stack}/instances/{name}/rename"),
    ("wire list", "get", "/stacks/{stack}/wires"),
    ("wire add", "post", "/stacks/{stack}/wires"),
    ("wire rm", "delete", "/stacks/{stack}/wires"),
    ("secret set", "put", "/stacks/{stack}/instances/{name}/secrets/{secret}"),
    ("secret unset", "delete", "/stacks/{stack}/instances/{name}/secrets/{secret}"),
    ("secret list", "get", "/stacks/{stack}/secrets"),
    ("catalog list", "get", "/catalog"),
    ("catalog show", "get", "/catalog/{name}"),
    ("catalog import-compose", "post", "/catalog/import-compose"),
    ("plan", "post", "/stacks/{stack}/plan"),
    ("apply", "post", "/stacks/{stack}/apply"),
    ("down", "post", "/stacks/{stack}/down"),
    ("status", "get", "/stacks/{stack}/status"),
    ("compose", "get", "/stacks/{stack}/compose"),
    ("graph", "get", "/stacks/{stack}/graph"),
    ("export", "get", "/stacks/{stack}/export"),
    ("import", "post", "/import"),
    ("init", "post", "/init"),
    ("lock", "get", "/stacks/{stack}/lock"),
    ("lock (check)", "post", "/stacks/{stack}/lock/check"),
    ("doctor", "get", "/doctor"),
    ("logs STACK", "get", "/stacks/{stack}/logs"),
    ("logs STACK INSTANCE", "get", "/stacks/{stack}/instances/{name}/logs"),
    ("start", "post", "/stacks/{stack}/start"),
    ("stop", "post", "/stacks/{stack}/stop"),
    ("restart", "post", "/stacks/{stack}/restart"),
]


@pytest.mark.parametrize(
    ("command", "method", "path"), CLI_TO_API, ids=[c for c, _, _ in CLI_TO_API]
)
def test_every_cli_command_has_a_documented_route(
    document: dict[str, Any], command: str, method: str, path: str
) -> None:
    del command
    assert method in document["paths"].get(API + path, {}), f"{method.upper()} {path}"


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref:
        resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return resolved
    return schema


def test_errors_are_documented_as_the_body_the_server_sends(
    document: dict[str, Any], client: TestClient[Any]
) -> None:
    error = document["components"]["schemas"]["Error"]
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert "400" not in op["responses"], f"{method} {path}: Litestar's 400 body"
            for status in ("401", "404", "422", "500"):
                content = op["responses"][status]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, path
    # A real error answer has the documented required keys, and problems with paths.
    answer = client.post(f"{API}/stacks", json={"name": "Bad Name"})
    assert answer.status_code == 422
    body = answer.json()
    assert set(error["required"]) <= set(body)
    assert body["problems"]
    assert all(set(p) == {"path", "message"} for p in body["problems"])
    assert document["paths"][f"{API}/stacks"]["post"]["responses"]["422"]


def test_logs_and_events_routes_document_their_streams(document: dict[str, Any]) -> None:
    for path in ("/stacks/{stack}/logs", "/stacks/{stack}/instances/{name}/logs"):
        op = document["paths"][API + path]["get"]
        content = op["responses"]["200"]["content"]
        assert "text/event-stream" in content
        lines = content["application/json"]["schema"]
        assert lines["type"] == "array"
        line = _resolve(document, lines["items"])
        assert {"instance", "stream", "text", "timestamp"} <= set(line["properties"])
        params = {p["name"]: p for p in op["parameters"]}
        assert params["follow"]["schema"]["type"] == "boolean"
        assert params["tail"]["schema"]["minimum"] == 0
    events = document["paths"][API + "/operations/{job_id}/events"]["get"]
    assert set(events["responses"]["200"]["content"]) == {"text/event-stream"}


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "down"])
def test_lifecycle_routes_take_an_optional_body_and_answer_an_operation(
    document: dict[str, Any], verb: str
) -> None:
    op = document["paths"][f"{API}/stacks/{{stack}}/{verb}"]["post"]
    assert op["requestBody"]["required"] is False
    for status in ("202", "200"):  # 200 when it ended before the answer (a quick stop)
        accepted = op["responses"][status]["content"]["application/json"]["schema"]
        assert {"id", "state", "events_url"} <= set(_resolve(document, accepted)["properties"])
    assert "423" in op["responses"]


def test_bodies_the_routes_check_themselves_have_a_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for path, method, name in (
        ("/stacks/{stack}/apply", "post", "ApplyRequest"),
        ("/stacks/{stack}/wires", "post", "WireRequest"),
        ("/stacks/{stack}/instances/{name}", "patch", "InstanceDelta"),
    ):
        body = document["paths"][API + path][method]["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": f"#/components/schemas/{name}"}
        assert name in schemas
    assert set(schemas["WireRequest"]["properties"]) == {"consumer", "import", "provider", "export"}


def test_plan_and_rename_answer_200_not_201(
    client: TestClient[Any], document: dict[str, Any]
) -> None:
    assert client.get(f"{API}/stacks/doc/plan").status_code == 200
    assert client.post(f"{API}/stacks/doc/plan").status_code == 200
    answer = client.post(f"{API}/stacks/doc/instances/db/rename", json={"new_name": "pg"})
    assert answer.status_code == 200, answer.text
    for method in ("get", "post"):
        assert "200" in document["paths"][f"{API}/stacks/{{stack}}/plan"][method]["responses"]


def test_down_takes_ordered_as_the_cli_does(client: TestClient[Any], devarch: Devarch) -> None:
    calls: list[dict[str, Any]] = []
    down_report = devarch.down_report

    def spy(stack: str, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return down_report(stack, **kwargs)

    devarch.down_report = spy  # type: ignore[method-assign]
    answer = client.post(f"{API}/stacks/doc/down", json={"volumes": True, "ordered": True})
    assert answer.status_code in (200, 202), answer.text
    job = answer.json()
    deadline = time.monotonic() + 10
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"{API}/operations/{job['id']}").json()
    assert job["state"] == "succeeded", job
    assert calls == [{"volumes": True, "ordered": True}]

"""The dashboard's pages in process (Litestar's test client, in-memory fakes): forms and errors.

The browser test (tests/integration/test_web_dashboard.py) walks the happy path in Chromium;
these cover what a person rarely clicks: every override kind set and removed through the form,
errors rendered next to the form that caused them with the API's status, secret values never
in any page, the guard in front of every page, and no traceback in an error page.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("litestar")

from litestar.testing import TestClient

from devarch_adapters.web.app import create_app
from devarch_adapters.web.state import WebConfig
from devarch_core.catalog import builtin_catalog
from devarch_core.testing import fake_devarch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devarch_core.app import Devarch

BASE = "http://127.0.0.1:8765"
AUTH = {"Authorization": "Bearer t0ken"}
POST = {**AUTH, "Origin": BASE}


@pytest.fixture
def devarch() -> Devarch:
    d = fake_devarch(builtin_catalog())
    d.close = lambda: None  # type: ignore[method-assign]  # shared by the jobs in these tests
    return d


@pytest.fixture
def client(devarch: Devarch) -> Iterator[TestClient[Any]]:
    app = create_app(lambda _reporter: devarch, WebConfig(token="t0ken", port=8765))
    with TestClient(app, base_url=BASE) as c:
        yield c


def _post(client: TestClient[Any], url: str, **form: str) -> Any:
    return client.post(url, data=form, headers=POST, follow_redirects=False)


def test_pages_need_the_token(client: TestClient[Any]) -> None:
    assert client.get("/stacks").status_code == 401
    assert client.get("/stacks", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/stacks", headers=AUTH).status_code == 200


def test_a_form_post_from_another_origin_is_refused(
    client: TestClient[Any], devarch: Devarch
) -> None:
    response = client.post(
        "/stacks", data={"name": "evil"}, headers={**AUTH, "Origin": "http://evil.test"}
    )
    assert response.status_code == 403
    assert devarch.list_stacks(with_runtime=False) == []


def test_an_invalid_name_is_shown_in_the_create_form_and_nothing_is_made(
    client: TestClient[Any], devarch: Devarch
) -> None:
    response = _post(client, "/stacks", name="Not Valid", description="x")
    assert response.status_code == 422
    form = response.text.split('id="create-h"', 1)[1]
    assert 'class="error"' in form
    assert '<code class="path">name</code>' in form
    assert "Traceback" not in response.text
    assert devarch.list_stacks(with_runtime=False) == []


@pytest.mark.parametrize(
    ("form", "path"),
    [
        ({"field": "image", "value": "devarch-test/busybox:1.36"}, "image"),
        ({"field": "command", "value": "sleep 3600"}, "command"),
        ({"field": "environment", "key": "GREETING", "value": "hi"}, "environment.GREETING"),
        ({"field": "labels", "key": "team", "value": "web"}, "labels.team"),
        ({"field": "ports", "value": "15432:5432"}, "ports.5432/tcp"),
        ({"field": "volumes", "value": "cache:/var/cache/app"}, "volumes./var/cache/app"),
        ({"field": "domains", "value": "db.example.test"}, "domains.db.example.test"),
        ({"field": "healthcheck", "value": "disable"}, "healthcheck"),
        ({"field": "resources", "key": "memory_limit", "value": "256m"}, "resources.memory_limit"),
        ({"field": "stop_grace_period", "value": "30s"}, "stop_grace_period"),
        ({"field": "init", "value": "true"}, "init"),
        ({"field": "config_files", "path": "/etc/app.conf", "content": "a = 1\n"}, None),
    ],
)
def test_every_override_kind_can_be_set_and_removed(
    client: TestClient[Any], devarch: Devarch, form: dict[str, str], path: str | None
) -> None:
    devarch.create_stack("kinds")
    devarch.add_instance("kinds", "db", "postgres")
    response = _post(client, "/stacks/kinds/instances/db/set", **form)
    assert response.status_code == 303, response.text
    overrides = devarch.show_instance("kinds", "db")["overrides"]
    assert form["field"] in overrides
    page = client.get("/stacks/kinds/instances/db", headers=AUTH).text
    unset = re.findall(r'name="path" value="([^"]+)"', page)
    assert unset, "the page offers no way to remove the override"
    if path is not None:
        assert path in unset
    for target in unset:
        assert _post(client, "/stacks/kinds/instances/db/unset", path=target).status_code == 303
    assert devarch.show_instance("kinds", "db")["overrides"] == {}


def test_a_bad_override_is_shown_next_to_its_field_with_the_path(
    client: TestClient[Any], devarch: Devarch
) -> None:
    devarch.create_stack("bad")
    devarch.add_instance("bad", "db", "postgres")
    response = _post(client, "/stacks/bad/instances/db/set", field="ports", value="x:y")
    assert response.status_code == 422
    section = response.text.split('id="field-ports"', 1)[1].split("</details>", 1)[0]
    assert 'class="error"' in section
    assert '<code class="path">port</code>' in section
    assert devarch.show_instance("bad", "db")["overrides"] == {}


def test_secret_values_never_reach_a_page(client: TestClient[Any], devarch: Devarch) -> None:
    devarch.create_stack("sec")
    devarch.add_instance("sec", "db", "postgres")
    value = "s3cret-value-9f2c"
    response = _post(
        client, "/stacks/sec/instances/db/secrets", var="POSTGRES_PASSWORD", value=value
    )
    assert response.status_code == 303
    assert devarch.show_instance("sec", "db")["secrets"] == ["POSTGRES_PASSWORD"]
    pages = [
        "/stacks",
        "/stacks/sec",
        "/stacks/sec?tab=compose",
        "/stacks/sec?tab=wiring",
        "/stacks/sec?tab=deploy",
        "/stacks/sec/instances/db",
        "/stacks/sec/compose.yml",
    ]
    for page in pages:
        text = client.get(page, headers=AUTH).text
        assert value not in text, page
    response = _post(client, "/stacks/sec/instances/db/secrets", var="POSTGRES_PASSWORD", unset="1")
    assert response.status_code == 303
    assert devarch.show_instance("sec", "db")["secrets"] == []


def test_the_wiring_picker_pins_and_releases_a_provider(
    client: TestClient[Any], devarch: Devarch
) -> None:
    devarch.create_stack("pick")
    for name, template in (("db", "postgres"), ("db2", "postgres"), ("web", "django")):
        devarch.add_instance("pick", name, template)
    page = client.get("/stacks/pick/instances/web", headers=AUTH).text
    assert "ambiguous" in page.split('id="wire-db"', 1)[1].split("</tr>", 1)[0]
    assert (
        _post(
            client, "/stacks/pick/instances/web/wire", provider="db2", **{"import": "db"}
        ).status_code
        == 303
    )
    assert [(w.import_name, w.provider) for w in devarch.list_wires("pick")] == [("db", "db2")]
    assert (
        _post(
            client, "/stacks/pick/instances/web/wire", provider="auto", **{"import": "db"}
        ).status_code
        == 303
    )
    assert devarch.list_wires("pick") == []
    # A required import cannot be left unwired: the core says so, next to the picker.
    response = _post(client, "/stacks/pick/instances/web/wire", provider="-", **{"import": "db"})
    assert response.status_code == 422
    assert "required" in response.text.split('id="wire-db"', 1)[1].split("</tr>", 1)[0]


def test_apply_of_an_unknown_plan_token_is_refused_as_stale(
    client: TestClient[Any], devarch: Devarch
) -> None:
    devarch.create_stack("stale")
    response = _post(client, "/stacks/stale/apply", token="0" * 32)
    assert response.status_code == 409
    assert "plan again" in response.text


def test_delete_needs_the_typed_name(client: TestClient[Any], devarch: Devarch) -> None:
    devarch.create_stack("gone")
    response = _post(client, "/stacks/gone/delete", confirm="other")
    assert response.status_code == 422
    assert [s.stack.name for s in devarch.list_stacks(with_runtime=False)] == ["gone"]
    assert _post(client, "/stacks/gone/delete", confirm="gone").status_code == 303
    assert devarch.list_stacks(with_runtime=False) == []


def test_an_unknown_stack_is_a_404_page_without_traceback(client: TestClient[Any]) -> None:
    response = client.get("/stacks/nope", headers=AUTH)
    assert response.status_code == 404
    assert "Traceback" not in response.text
    assert 'File "' not in response.text

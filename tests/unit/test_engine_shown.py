"""Which engine a stack is bound to shows in ``show_stack``, ``stack show``, the API and dashboard.

The CLI's stack commands name it on stderr (tests/integration/test_two_engines*.py); a person on
the web or reading ``stack show`` sees it too (docs/engines.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from devarch_adapters.cli._render import stack_text
from devarch_core.catalog import builtin_catalog
from devarch_core.model import Engine
from devarch_core.testing import fake_devarch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devarch_core.app import Devarch

BASE = "http://127.0.0.1:8765"
AUTH = {"Authorization": "Bearer t0ken"}


@pytest.fixture
def devarch() -> Devarch:
    d = fake_devarch(builtin_catalog())
    d.close = lambda: None  # type: ignore[method-assign]  # shared by the web app's requests
    d.add_engine(Engine(name="box", endpoint="tcp://box.example:2375"))
    d.create_stack("far", engine="box")
    d.create_stack("near")
    return d


def test_show_stack_and_stack_show_name_the_bound_engine(devarch: Devarch) -> None:
    assert devarch.show_stack("far")["engine"] == "box"
    assert devarch.show_stack("near")["engine"] is None
    assert "Engine:      box\n" in stack_text(devarch.show_stack("far"))
    assert "Engine:      - (bound at its first apply)" in stack_text(devarch.show_stack("near"))


@pytest.fixture
def client(devarch: Devarch) -> Iterator[Any]:
    pytest.importorskip("litestar")
    from litestar.testing import TestClient  # noqa: PLC0415

    from devarch_adapters.web.app import create_app  # noqa: PLC0415
    from devarch_adapters.web.state import WebConfig  # noqa: PLC0415

    app = create_app(lambda _reporter: devarch, WebConfig(token="t0ken", port=8765))
    with TestClient(app, base_url=BASE) as c:
        yield c


def test_the_api_and_the_dashboard_name_the_bound_engine(client: Any) -> None:
    response = client.get("/api/v1/stacks/far", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["engine"] == "box"
    page = client.get("/stacks/far", headers=AUTH)
    assert page.status_code == 200
    assert "Engine: box (tcp://box.example:2375)</p>" in page.text
    page = client.get("/stacks/near", headers=AUTH)
    assert "(bound at its first apply)" in page.text

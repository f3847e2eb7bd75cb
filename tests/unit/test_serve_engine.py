"""``devarch --engine NAME --context CTX serve``: the server's facades get both.

See docs/engines.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("litestar")

from devarch_adapters import bootstrap
from devarch_adapters.cli import main
from devarch_adapters.web import app as web_app
from devarch_core.errors import DevarchError

if TYPE_CHECKING:
    from pathlib import Path


class _StopError(DevarchError):
    """Raised by the patched create_app: the test has what it needs, no server runs."""


def test_serve_passes_the_global_engine_and_context_to_its_facades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found: dict[str, Any] = {}

    def create_app(factory: Any, config: Any) -> Any:  # noqa: ARG001 - create_app's signature
        found["factory"] = factory
        raise _StopError("stop before serving")

    def connect(**kwargs: Any) -> Any:
        found["connect"] = kwargs
        return None

    monkeypatch.setattr(web_app, "create_app", create_app)
    monkeypatch.setattr(bootstrap, "connect", connect)
    home = str(tmp_path / "home")
    args = ["--home", home, "--engine", "box", "--context", "ctx", "serve", "--port", "0"]
    assert main(args) == 1
    found["factory"](None)
    assert (found["connect"]["engine"], found["connect"]["context"]) == ("box", "ctx")

"""The ASGI application: the API under ``/api/v1``, the dashboard at ``/``, the guard around both.

:func:`create_app` is what ``devarch serve`` runs (with uvicorn) and what tests build. It takes a
factory of facades instead of a facade so a long operation can have one whose reporter streams
its progress (see :mod:`devarch_adapters.web.jobs`).
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from devarch_adapters.web.docs_page import DocsPagePlugin
from devarch_adapters.web.errors import exception_handlers
from devarch_adapters.web.openapi import ApiJsonPlugin
from devarch_adapters.web.security import GuardMiddleware, Origins
from devarch_adapters.web.state import WebConfig, WebState
from devarch_core.app import Devarch

if TYPE_CHECKING:
    from collections.abc import Callable

    from devarch_core.ports import Reporter

__all__ = ["API_PREFIX", "WebConfig", "create_app"]

log = logging.getLogger("devarch.web")

API_PREFIX = "/api/v1"
#: Largest request body accepted (manifests and compose files are far smaller).
MAX_BODY = 4 * 1024 * 1024


def _closer(state: WebState) -> Callable[[], None]:
    """The shutdown hook: wait for running jobs (never cut an apply short), close the facade."""

    def close() -> None:
        running = state.jobs.running()
        if running:
            names = ", ".join(f"{j.kind} of {j.stack}" for j in running)
            log.warning("waiting for the running jobs to finish: %s", names)
        state.close()

    return close


def create_app(
    devarch_factory: Callable[[Reporter | None], Devarch],
    config: WebConfig,
    *,
    debug: bool = False,
) -> Litestar:
    """Build the application.

    ``devarch_factory(reporter)`` builds a facade (``reporter=None``: no progress); it is called
    once for the shared facade and once per long operation. ``config`` says where the server
    listens (for the Host and Origin checks) and holds its token.
    """
    from devarch_adapters.web.api import api_handlers  # noqa: PLC0415 - after the web deps exist
    from devarch_adapters.web.lifecycle_api import lifecycle_handlers  # noqa: PLC0415

    state = WebState(config, devarch_factory)

    def provide_devarch() -> Devarch:
        return state.devarch

    def provide_web() -> WebState:
        return state

    api = Router(path=API_PREFIX, route_handlers=[*api_handlers(), *lifecycle_handlers()])
    handlers: list[Any] = [api]

    # -- dashboard ------------------------------------------------------------------------------
    # The dashboard (server-rendered pages) lives in ``devarch_adapters.web.dashboard`` and is
    # written separately; when present, its ``router()`` (a litestar Router with path "/") is
    # mounted here, behind the same guard (token, Host, Origin) and error mapping as the API.
    if importlib.util.find_spec("devarch_adapters.web.dashboard") is not None:
        from devarch_adapters.web import dashboard  # type: ignore[attr-defined,unused-ignore]  # noqa: PLC0415

        handlers.append(dashboard.router())
    # -------------------------------------------------------------------------------------------

    openapi = OpenAPIConfig(
        title="devarch",
        version="1",
        description=(
            "The devarch HTTP API: stacks, instances, wires, secrets, catalog, plan/apply, logs, "
            "start/stop/restart. "
            "Every request needs the server's token (docs/web.md#authentication)."
        ),
        path=API_PREFIX,
        components=Components(
            security_schemes={
                "token": SecurityScheme(type="http", scheme="bearer", description="web.token")
            }
        ),
        security=[{"token": []}],
        render_plugins=[ApiJsonPlugin(), DocsPagePlugin(path="/docs")],
        use_handler_docstrings=True,
    )
    with warnings.catch_warnings():
        # Litestar 2.2x deprecates inferred path/body/dependency parameters in favour of markers
        # (FromPath, JSONBody...) that older 2.x releases lack; the inferred style works in all.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="litestar")
        app = Litestar(
            route_handlers=handlers,
            dependencies={
                "devarch": Provide(provide_devarch, sync_to_thread=False),
                "web": Provide(provide_web, sync_to_thread=False),
            },
            signature_namespace={"Devarch": Devarch, "WebState": WebState},
            exception_handlers=exception_handlers(),
            openapi_config=openapi,
            request_max_body_size=MAX_BODY,
            on_shutdown=[_closer(state)],
            debug=debug,
        )
    app.state["web"] = state
    # The guard wraps litestar's whole request handler, not each route (route middleware would
    # not see a request for a path no route matches): every request passes it, 404s included.
    app.asgi_handler = GuardMiddleware(  # type: ignore[assignment]  # plain ASGI types
        app.asgi_handler,  # type: ignore[arg-type]
        token=config.token,
        origins=Origins(config.host, config.port),
    )
    return app

"""The dashboard: server-rendered pages over the same facade as the API (docs/web.md#dashboard).

Every page is plain HTML rendered with Jinja2 from what :class:`~devarch_core.app.Devarch`
returns; every change is an HTML form that posts to a page route, calls one facade method and
redirects back (post/redirect/get), so the pages work with the keyboard, a screen reader and
without JavaScript. A small script (``static/dashboard.js``, no framework) adds what needs it:
live status, apply/down progress from the API's Server-Sent Events, live logs and the
catalog search filter. No domain rule lives here: a form's text goes to the core as the CLI's
would (``devarch_core.assignments``) and the core's errors come back next to the form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["router"]

if TYPE_CHECKING:
    from litestar import Router


def router() -> Router:
    """The dashboard's routes (pages, fragments, static files), mounted at ``/``."""
    from devarch_adapters.web.dashboard._pages import build_router  # noqa: PLC0415

    return build_router()

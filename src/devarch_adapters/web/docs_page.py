"""The API's docs page: the OpenAPI document rendered as one plain HTML page, offline.

Litestar's own documentation UIs load their scripts from a CDN; this page needs no script and
no network, and fits the server's content security policy.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from litestar.openapi.plugins import OpenAPIRenderPlugin

if TYPE_CHECKING:
    from litestar import Request

__all__ = ["DocsPagePlugin"]

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code{background:#f3f3f3;padding:0 .2em}.m{display:inline-block;width:4.5em;font-weight:bold}"
    "li{margin:.3em 0}p.d{margin:.1em 0 .1em 5em;color:#444}"
)


class DocsPagePlugin(OpenAPIRenderPlugin):
    """Every operation (method, path, summary, parameters), grouped by tag."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:  # noqa: ARG002 - the plugin's signature
        """The page's HTML."""
        groups: dict[str, list[str]] = {}
        for path, item in openapi_schema.get("paths", {}).items():
            for method, op in item.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                params = ", ".join(
                    f"{p['name']} ({p.get('in', '')})" for p in op.get("parameters", [])
                )
                body = " — JSON body" if "requestBody" in op else ""
                text = escape(op.get("description") or op.get("summary") or "").split("\n\n")[0]
                row = (
                    f"<li><span class=m>{escape(method.upper())}</span>"
                    f"<code>{escape(path)}</code>{escape(body)}"
                    f"<p class=d>{text}</p>"
                    + (f"<p class=d>parameters: {escape(params)}</p>" if params else "")
                    + "</li>"
                )
                for tag in op.get("tags") or ["other"]:
                    groups.setdefault(tag, []).append(row)
        sections = "".join(
            f"<h2>{escape(tag)}</h2><ul>{''.join(rows)}</ul>" for tag, rows in groups.items()
        )
        info = openapi_schema.get("info", {})
        return (
            "<!doctype html><html lang=en><meta charset=utf-8>"
            f"<title>{escape(str(info.get('title', 'API')))} API</title><style>{_STYLE}</style>"
            f"<h1>{escape(str(info.get('title', '')))} API v{escape(str(info.get('version', '')))}"
            f"</h1><p>{escape(str(info.get('description', '')))}</p>"
            "<p>Machine-readable: <a href=openapi.json>openapi.json</a>.</p>"
            f"{sections}</html>"
        ).encode()

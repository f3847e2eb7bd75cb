"""The server's front door: the access token, the Host check and the Origin check.

Every request (API, pages, docs) passes :class:`GuardMiddleware`, a plain ASGI middleware wrapped
around the whole application, before any route runs:

1. ``Host`` must name the bound address (or, on a loopback bind, ``localhost``/``127.0.0.1``/
   ``[::1]``) with the bound port: a page of another site that rebinds its DNS name to 127.0.0.1
   cannot talk to the server (DNS rebinding).
2. The token must come as ``Authorization: Bearer TOKEN`` or in the ``devarch_token`` cookie. A
   ``GET`` with ``?token=TOKEN`` sets that cookie (``HttpOnly; SameSite=Strict``) and redirects
   to the same URL without the token, so it does not stay in the address bar or the history.
3. A state-changing request (anything but ``GET``/``HEAD``/``OPTIONS``) with an ``Origin`` header
   must come from the server's own origin (CSRF); one authenticated by the cookie must carry
   ``Origin`` (browsers always send it on such requests).

The token is generated on first start into ``DEVARCH_HOME/web.token`` (mode 0600) and compared in
constant time. See docs/web.md#threat-model.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
import socket
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

import attrs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping
    from pathlib import Path

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]
    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = [
    "COOKIE",
    "TOKEN_FILE",
    "GuardMiddleware",
    "Origins",
    "is_loopback",
    "load_or_create_token",
]

TOKEN_FILE = "web.token"  # noqa: S105 - a file name, not a secret
COOKIE = "devarch_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def load_or_create_token(home: Path) -> tuple[str, bool]:
    """The server's token from ``home/web.token``; created (0600) when missing.

    Returns ``(token, created)``. An existing file that is readable by others is tightened to
    0600; an empty or unreadable one is an ``OSError`` for the caller to report.
    """
    path = home / TOKEN_FILE
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        token = path.read_text(encoding="utf-8").strip()
        if not token:
            msg = f"{path} is empty; delete it and start again to generate a new token"
            raise OSError(msg) from None
        return token, False
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    return token, True


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only ever means this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _host_part(value: str) -> tuple[str, str]:
    """``example:80`` -> (``example``, ``80``); ``[::1]:80`` -> (``[::1]``, ``80``)."""
    if value.startswith("["):
        end = value.find("]")
        return value[: end + 1].lower(), value[end + 2 :] if end >= 0 else ""
    name, _, port = value.rpartition(":") if ":" in value else (value, "", "")
    return name.lower(), port


@attrs.frozen
class Origins:
    """Which ``Host`` values (and so which origins) the server answers to."""

    host: str
    port: int

    def allows_host(self, value: str) -> bool:  # noqa: PLR0911 - one answer per kind of bind
        """Whether a ``Host`` header names this server."""
        name, port = _host_part(value.strip())
        if port != str(self.port):
            return False
        bound = self.host.lower()
        if ":" in bound and not bound.startswith("["):
            bound = f"[{bound}]"
        if name == bound:
            return True
        if is_loopback(self.host):
            return name in LOOPBACK_NAMES
        if _is_wildcard(self.host):
            # Bound to every interface (--allow-remote): an IP literal or this machine's own
            # names; never a foreign DNS name, which is what a rebinding attack would send.
            if name in LOOPBACK_NAMES:
                return True
            try:
                ipaddress.ip_address(name.strip("[]"))
            except ValueError:
                return name in {socket.gethostname().lower(), socket.getfqdn().lower()}
            return True
        return False

    def allows_origin(self, origin: str) -> bool:
        """Whether an ``Origin`` header is this server's own origin."""
        scheme, sep, rest = origin.partition("://")
        return bool(sep) and scheme == "http" and "/" not in rest and self.allows_host(rest)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _cookie_token(header: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is the same as none
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


class GuardMiddleware:
    """ASGI middleware refusing requests with a foreign Host, no token, or a foreign Origin."""

    def __init__(self, app: ASGIApp, *, token: str, origins: Origins) -> None:
        self.app = app
        self._token = token.encode()
        self.origins = origins

    def _valid(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on or answer the refusal."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path: str = scope.get("path", "/")
        if scope["type"] == "websocket":
            # No route speaks WebSocket; refuse before looking further (policy violation).
            await send({"type": "websocket.close", "code": 1008})
            return
        if not self.origins.allows_host(headers.get("host", "")):
            await _refuse(
                send,
                path,
                421,
                "HostNotAllowed",
                "the Host header does not name this server (possible DNS rebinding); "
                f"use http://{self.origins.host}:{self.origins.port}/",
            )
            return
        method = scope.get("method", "GET")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        bearer = headers.get("authorization", "")
        by_header = bearer.lower().startswith("bearer ") and self._valid(bearer[7:].strip())
        by_cookie = self._valid(_cookie_token(headers.get("cookie", "")))
        if not (by_header or by_cookie) and method == "GET" and self._valid(query.get("token")):
            await _set_cookie_and_redirect(send, scope, query, self._token.decode())
            return
        if not (by_header or by_cookie):
            await _refuse(
                send,
                path,
                401,
                "Unauthorized",
                "a valid token is required: open the URL `devarch serve` printed, or send "
                "'Authorization: Bearer TOKEN' (the token is in DEVARCH_HOME/web.token)",
            )
            return
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if (origin is None and not by_header) or (
                origin is not None and not self.origins.allows_origin(origin)
            ):
                await _refuse(
                    send,
                    path,
                    403,
                    "OriginNotAllowed",
                    "a state-changing request must come from this server's own pages "
                    "(cross-origin request refused)",
                )
                return
        await self.app(scope, receive, _with_headers(send))


#: Sent with every answer: no sniffing, no framing, no referrer to other sites, only this
#: server's resources. ``same-origin`` rather than ``no-referrer``: under ``no-referrer`` Chromium
#: sends ``Origin: null`` on the dashboard's own form posts, which the Origin check must refuse.
#: (The answer to the ``?token=`` URL keeps ``no-referrer``: that URL holds the token.)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        (
            b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        ),
    ),
)


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return wrapped


async def _set_cookie_and_redirect(
    send: Send, scope: Scope, query: dict[str, str], token: str
) -> None:
    rest = {k: v for k, v in query.items() if k != "token"}
    # Re-quoted, and one leading slash: never "//host" (another site) nor a raw CR/LF.
    path = "/" + quote(str(scope.get("path", "/")).lstrip("/"), safe="/:@!$&'()*+,;=-._~")
    location = path + ("?" + urlencode(rest) if rest else "")
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", location.encode("latin-1", "replace")),
                (b"set-cookie", cookie.encode()),
                (b"cache-control", b"no-store"),
                (b"referrer-policy", b"no-referrer"),
                (b"content-length", b"0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, path: str, status: int, error: str, message: str) -> None:
    """Answer a refusal: the API's JSON error shape, or a short page for browsers."""
    if path.startswith("/api/"):
        body = json.dumps({"error": error, "message": message, "problems": []}).encode()
        kind = b"application/json"
    else:
        from html import escape  # noqa: PLC0415

        body = (
            "<!doctype html><meta charset=utf-8><title>devarch: refused</title>"
            f"<h1>Refused ({status})</h1><p>{escape(message)}</p>"
        ).encode()
        kind = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

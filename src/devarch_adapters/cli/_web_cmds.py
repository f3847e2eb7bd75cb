"""``devarch serve``: the web API (and dashboard) over the same facade, on 127.0.0.1 by default.

Nothing web-related is imported until the command runs: litestar and uvicorn (the ``web`` extra)
load inside :func:`_serve`, so every other command starts as fast as before. See docs/web.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devarch_core.errors import DevarchError, ValidationError

if TYPE_CHECKING:
    import argparse
    import socket
    from types import FrameType

    from devarch_adapters.cli._main import _Context

__all__ = ["add_web_commands"]

DEFAULT_PORT = 8765


def _port(text: str) -> int:
    import argparse  # noqa: PLC0415

    if not text.isdigit() or not 0 <= int(text) <= 65535:  # noqa: PLR2004 - the highest TCP port
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a TCP port (0-65535; 0 picks a free one)"
        )
    return int(text)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a ``DevarchError`` saying why not."""
    import socket  # noqa: PLC0415 - only serve needs it; the CLI's start-up time matters

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise ValidationError(
            f"cannot resolve --host {host!r}: {exc}", what="invalid --host"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        hint = "; pass another --port" if exc.errno == 98 else ""  # noqa: PLR2004 - EADDRINUSE
        raise DevarchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.set_inheritable(True)
    return sock


def _serve(ctx: _Context, a: argparse.Namespace) -> int:
    from devarch_adapters.web.security import is_loopback  # noqa: PLC0415 - stdlib only

    if not is_loopback(a.host) and not a.allow_remote:
        raise ValidationError(
            f"--host {a.host} would expose the server beyond this machine, and the server can "
            "start containers (root-equivalent on most setups); pass --allow-remote if you mean "
            "it (the token is still required; see docs/web.md#threat-model)",
            what="refusing a non-loopback --host",
        )
    try:
        import uvicorn  # noqa: PLC0415

        from devarch_adapters.web.app import WebConfig, create_app  # noqa: PLC0415
    except ImportError as exc:
        raise DevarchError(
            f"devarch serve needs the web extra ({exc.name} is missing): pip install 'devarch[web]'"
        ) from None
    from devarch_adapters.bootstrap import Settings  # noqa: PLC0415
    from devarch_adapters.web.security import load_or_create_token  # noqa: PLC0415

    args = ctx.args
    settings = Settings.from_env(home=args.home, store=args.store, runtime=args.runtime)
    try:
        token, created = load_or_create_token(settings.home)
    except OSError as exc:
        raise DevarchError(f"cannot read or create the web token: {exc}") from None

    sock = _bind(a.host, a.port)
    port = int(sock.getsockname()[1])
    config = WebConfig(
        host=a.host, port=port, token=token, home=settings.home, allow_remote=a.allow_remote
    )
    app = create_app(ctx.connect, config)  # a facade per request, from the global options
    url = f"{config.url}/?token={token}"
    if created:
        ctx.note(f"Generated the web token in {settings.home / 'web.token'} (mode 0600).")
    # One line on stdout, the URL with the token (scripts and tests read it); the rest on stderr.
    ctx.stdout.write(f"Open {url} in a browser for the devarch dashboard.\n")
    ctx.stdout.flush()
    ctx.note(f"Serving the API at {config.url}/api/v1 (docs: /api/v1/docs). Ctrl-C stops.")
    if a.open:
        import threading  # noqa: PLC0415
        import webbrowser  # noqa: PLC0415

        threading.Timer(0.5, webbrowser.open, [url]).start()
    streams = app.state["web"].streams

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # End the live streams first: uvicorn waits for open answers, and a browser tab
            # following a quiet container's logs would otherwise hold it for its 5 s grace
            # time and then be cancelled with a traceback (docs/web.md#start).
            streams.stop()
            super().handle_exit(sig, frame)

    server = Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,  # a request line may carry ?token=...: never log it
            lifespan="on",
            timeout_graceful_shutdown=5,
            server_header=False,
            proxy_headers=False,
        )
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        pass
    finally:
        sock.close()
    ctx.note("Stopped.")
    return 0 if server.started or not server.should_exit else 1


def add_web_commands(sub: Any, leaf: Any) -> None:  # noqa: ANN401 - argparse internals
    """Register ``serve``."""
    p = leaf(sub, "serve", _serve, "serve the HTTP API and dashboard (token-protected)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback)"
    )
    p.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    p.add_argument("--open", action="store_true", help="open the dashboard in a web browser")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (anyone who can reach it and has the token controls "
        "your containers)",
    )

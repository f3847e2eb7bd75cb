"""The composition root: build a ready :class:`~devarch_core.app.Devarch` from configuration.

Configuration comes from arguments, else environment variables, else defaults
(docs/architecture.md#ports):
``DEVARCH_HOME`` (``~/.devarch``), ``DEVARCH_STORE`` (``sqlite:///$DEVARCH_HOME/devarch.db`` or
``postgresql://...``), ``DEVARCH_RUNTIME`` (``auto``, ``docker``, ``podman``, ``swarm``,
``none``; ``swarm`` drives the Swarm manager at ``DEVARCH_SWARM_HOST``, else ``DOCKER_HOST``,
see docs/swarm.md) and
``DEVARCH_CATALOG_PATH`` (``:``-separated template directories, searched after the builtin catalog),
``DEVARCH_ENGINE`` (a named engine of the store for unbound stacks) and ``DOCKER_CONTEXT`` (a
Docker context as the environment's engine; see docs/engines.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import frozen

from devarch_core.app import Devarch
from devarch_core.catalog import Catalog, builtin_catalog
from devarch_core.errors import DevarchError, ValidationError
from devarch_core.model import Engine

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from devarch_adapters.filesystem.parsed_cache import ParsedCache
    from devarch_core.ports import Reporter, Runtime, StackLock, Store

__all__ = ["Settings", "connect", "open_runtime", "open_store"]

RUNTIMES = ("auto", "docker", "podman", "swarm", "none")


@frozen(kw_only=True)
class Settings:
    """Where devarch keeps its state and which engine it drives."""

    home: Path
    store_url: str
    runtime: str = "auto"
    catalog_paths: tuple[Path, ...] = ()
    #: A named engine of the store (``--engine``, ``DEVARCH_ENGINE``).
    engine: str | None = None
    #: A Docker context (``--context``, ``DOCKER_CONTEXT``, the docker CLI's current context).
    context: str | None = None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        store: str | None = None,
        runtime: str | None = None,
        catalog: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
        engine: str | None = None,
        context: str | None = None,
    ) -> Settings:
        """Arguments win over environment variables, which win over defaults."""
        env = os.environ if environ is None else environ
        home_path = (
            Path(home or env.get("DEVARCH_HOME") or Path.home() / ".devarch")
            .expanduser()
            .absolute()
        )
        store_url = store or env.get("DEVARCH_STORE") or f"sqlite:///{home_path / 'devarch.db'}"
        kind = (runtime or env.get("DEVARCH_RUNTIME") or "auto").lower()
        if kind not in RUNTIMES:
            raise ValidationError(
                f"runtime {kind!r} must be one of {', '.join(RUNTIMES)}",
                what="invalid DEVARCH_RUNTIME",
            )
        if catalog is None:
            raw = env.get("DEVARCH_CATALOG_PATH", "")
            catalog = [p for p in raw.split(":") if p]
        elif isinstance(catalog, (str, os.PathLike)):
            # One directory given alone, not a sequence of one-character paths.
            catalog = [catalog]
        return cls(
            home=home_path,
            store_url=store_url,
            runtime=kind,
            catalog_paths=tuple(Path(p) for p in catalog),
            engine=engine or env.get("DEVARCH_ENGINE") or None,
            context=context or env.get("DOCKER_CONTEXT") or None,
        )


def split_schema(url: str) -> tuple[str, str]:
    """``postgresql://host/db?schema=team_a`` -> (``postgresql://host/db``, ``team_a``).

    ``schema`` is devarch's own URL parameter (one database can hold several devarch stores);
    the other query parameters go to libpq unchanged.
    """
    base, sep, query = url.partition("?")
    if not sep:
        return url, "public"
    kept, schema = [], "public"
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == "schema" and value:
            schema = value
        elif part:
            kept.append(part)
    if not schema.replace("_", "").isalnum():
        msg = f"schema {schema!r} in the store URL must be letters, digits and '_'"
        raise ValidationError(msg, what="invalid DEVARCH_STORE")
    return base + ("?" + "&".join(kept) if kept else ""), schema


def open_store(url: str) -> tuple[Store, StackLock]:
    """The store and its matching stack lock for a store URL."""
    if url.startswith(("postgresql://", "postgres://")):
        from devarch_adapters.postgres import PostgresStackLock, PostgresStore  # noqa: PLC0415 - driver loaded on demand

        dsn, schema = split_schema(url)
        return PostgresStore(dsn, schema=schema), PostgresStackLock(dsn)
    if url.startswith("sqlite:///") or "://" not in url:
        from devarch_adapters.sqlite import FileStackLock, SqliteStore  # noqa: PLC0415

        store = SqliteStore(url)
        path = Path(url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url)
        if url.startswith("sqlite:///"):
            path = Path("/" + url.removeprefix("sqlite:///").lstrip("/"))
        return store, FileStackLock(path.parent / "locks")
    raise ValidationError(
        f"store URL {url!r} must start with sqlite:/// or postgresql://",
        what="invalid DEVARCH_STORE",
    )


def open_runtime(kind: str) -> tuple[Runtime | None, str | None]:  # noqa: C901 - a branch a kind
    """The runtime adapter for ``kind``; with ``auto`` the first engine that answers.

    Returns ``(runtime, None)`` or ``(None, why)`` when no engine answers (commands that need one
    then fail with that reason; the rest of devarch keeps working). With ``auto``, Docker is tried
    first; when it does not answer and Podman does, the Podman runtime's ``auto_note`` says so
    (``Docker did not answer at ... (...); using Podman at unix:///...``).
    """
    if kind == "none":
        return None, "the engine is turned off with DEVARCH_RUNTIME=none or --runtime none"
    if kind == "swarm":
        return _open_swarm(os.environ)
    tried = []
    docker_problem = "Docker did not answer"
    if kind in ("auto", "docker"):
        from devarch_adapters.docker import DockerRuntime  # noqa: PLC0415

        try:
            docker_rt = DockerRuntime()
            kind_found = docker_rt.probe()
        except DevarchError as exc:
            tried.append(f"docker: {exc}")
            reason = (
                str(exc)
                .removeprefix(f"cannot reach the container engine at {docker_rt.endpoint}: ")
                .removesuffix(" (is the engine running?)")
            )
            docker_problem = f"Docker did not answer at {docker_rt.endpoint} ({reason})"
        else:
            if kind_found == "podman":
                # DOCKER_HOST points at Podman's socket: Podman's adapter runs its healthchecks.
                from devarch_adapters.podman import PodmanRuntime  # noqa: PLC0415

                return PodmanRuntime(docker_rt.endpoint), None
            return docker_rt, None
    if kind in ("auto", "podman"):
        from devarch_adapters.podman import PodmanRuntime  # noqa: PLC0415

        try:
            podman_rt = PodmanRuntime()
            podman_rt.probe()
        except DevarchError as exc:
            tried.append(f"podman: {exc}")
        else:
            if kind == "auto":
                podman_rt.auto_note = f"{docker_problem}; using Podman at {podman_rt.endpoint}"
            return podman_rt, None
    return None, "no container engine reachable (" + "; ".join(tried) + ")"


def _open_swarm(env: Mapping[str, str]) -> tuple[Runtime | None, str | None]:
    """The Swarm manager at ``DEVARCH_SWARM_HOST`` (else ``DOCKER_HOST``), only selected by name.

    ``DEVARCH_SWARM_ENDPOINT_MODE`` (``auto``, ``vip``, ``dnsrr``) overrides the detection.
    """
    from devarch_adapters.swarm import SwarmRuntime  # noqa: PLC0415

    try:
        swarm_rt = SwarmRuntime(
            env.get("DEVARCH_SWARM_HOST") or None,
            endpoint_mode=(env.get("DEVARCH_SWARM_ENDPOINT_MODE") or "auto").lower(),
        )
        swarm_rt.info()
    except DevarchError as exc:
        return None, f"no swarm manager reachable (swarm: {exc})"
    return swarm_rt, None


def load_catalog(paths: Sequence[Path], *, cache: ParsedCache | None = None) -> Catalog:
    """The builtin catalog, overridden by the templates found in ``paths`` (in order).

    With ``cache``, template files whose text was parsed by an earlier run are read from it
    (docs/templates.md); it is saved once the whole catalog has loaded.
    """
    if cache is None:
        catalog = builtin_catalog()
    else:
        from devarch_core.catalog import load_builtin_catalog  # noqa: PLC0415

        catalog = load_builtin_catalog(parsed=cache)
    if paths:
        from devarch_adapters.filesystem import load_catalog_dirs  # noqa: PLC0415

        catalog = catalog.merged(load_catalog_dirs(list(paths), parsed=cache))
    if cache is not None:
        cache.save()
    return catalog


def connect(
    *,
    home: str | os.PathLike[str] | None = None,
    store: str | None = None,
    runtime: str | Runtime | None = None,
    catalog: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
    engine: str | None = None,
    context: str | None = None,
    **options: object,
) -> Devarch:
    """Open the store, engine and catalog named by arguments or the environment.

    ``catalog`` is one template directory (a ``str`` or path) or a sequence of them, searched
    after the builtin catalog; ``None`` reads ``DEVARCH_CATALOG_PATH``.
    ``runtime`` may also be a ready Runtime object (bring your own adapter). ``engine`` names an
    engine of the store for stacks not bound yet (``DEVARCH_ENGINE``); ``context`` a Docker
    context as the environment's engine (``DOCKER_CONTEXT``). Extra ``options``
    go to :class:`~devarch_core.app.Devarch` (``port_range``, ``health_timeout``, ``parallelism``).
    """
    from devarch_adapters.engines import (  # noqa: PLC0415
        DockerEngineConnector,
        context_engine,
        current_context,
        this_host,
    )
    from devarch_adapters.filesystem.config_files import LocalConfigFiles  # noqa: PLC0415
    from devarch_adapters.filesystem.keyfile import FileKeyProvider  # noqa: PLC0415
    from devarch_adapters.filesystem.parsed_cache import ParsedCache  # noqa: PLC0415
    from devarch_adapters.probe import SocketPortProbe  # noqa: PLC0415

    settings = Settings.from_env(
        environ,
        home=home,
        store=store,
        runtime=runtime if isinstance(runtime, str) else None,
        catalog=catalog,
        engine=engine,
        context=context,
    )
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    store_obj, lock = open_store(settings.store_url)
    env = os.environ if environ is None else environ
    runtime_obj: Runtime | None
    problem: str | None
    note: str | None = None
    connector = DockerEngineConnector()
    default_engine: Engine | None = None
    # Like the docker CLI: --context / DOCKER_CONTEXT, else DOCKER_HOST, else the current context.
    context_name = settings.context
    if (
        context_name is None
        and not env.get("DOCKER_HOST")
        and settings.runtime in ("auto", "docker")
    ):
        context_name = current_context(env)
    if runtime is not None and not isinstance(runtime, str):
        runtime_obj, problem = runtime, None
    elif context_name is not None and settings.runtime != "none":
        default_engine = context_engine(context_name)
        runtime_obj, problem = connector.open(default_engine), None
    else:
        runtime_obj, problem = open_runtime(settings.runtime)
        note = getattr(runtime_obj, "auto_note", None)
    if default_engine is None and runtime_obj is not None:
        endpoint = str(getattr(runtime_obj, "endpoint", "") or "")
        local = endpoint.startswith(("unix://", "npipe://"))
        default_engine = Engine(
            name=runtime_obj.name,
            kind=runtime_obj.name,
            endpoint=endpoint,
            host=this_host() if local else "",
        )
    paths = settings.catalog_paths
    cache = ParsedCache(settings.home / "cache" / "templates.json")
    devarch = Devarch(
        store=store_obj,
        # Parsed on first use: commands that read no template (status, down) skip it.
        catalog=Catalog.deferred(lambda: load_catalog(paths, cache=cache)),
        keys=FileKeyProvider(settings.home / "secret.key"),
        runtime=runtime_obj,
        lock=lock,
        config_files=LocalConfigFiles(settings.home / "stacks"),
        port_probe=SocketPortProbe(),
        reporter=reporter,
        runtime_problem=problem,
        runtime_auto=settings.runtime == "auto" and (runtime is None or isinstance(runtime, str)),
        runtime_note=note,
        connector=connector,
        engine=settings.engine,
        default_engine=default_engine,
        **options,  # type: ignore[arg-type]
    )
    devarch.settings = settings
    return devarch

"""A pytest plugin: one isolated devarch stack for a test session (``devarch_stack`` fixture).

Installed as the ``devarch`` entry point of ``pytest11``, so every pytest run in an environment
with devarch loads it. It stays inert until a test requests :func:`devarch_stack`: its module
imports only the standard library and pytest, its hooks read options and the environment, and
no store, engine or ``docker`` import is touched before the fixture is set up. Disable it with
``-p no:devarch``.

Options (command line, else ini, else default):

``--devarch-manifest PATH`` / ini ``devarch_manifest``
    The ``devarch.yml`` to bring up (default ``devarch.yml`` in the rootdir). Relative command
    line paths are relative to the current directory, ini paths to the rootdir.
``--devarch-scope session|worker`` / ini ``devarch_scope``
    ``session`` (default): one stack for the whole run, shared by every pytest-xdist worker.
    ``worker``: one stack per xdist worker (without xdist the two are the same).
``--devarch-reuse`` / ini ``devarch_reuse``
    Keep the stack after the run under a stable name (``{stack}-reuse``) and reuse it on the
    next run when its manifest hash matches (the plan is applied only if it is not empty); a
    changed manifest is re-imported and applied. Concurrent runs with one home share it.
``--devarch-home DIR`` / ini ``devarch_home`` / env ``DEVARCH_PYTEST_HOME``
    The plugin's own devarch home (store ``devarch.db``, key file, config files, locks). Default
    ``~/.devarch-pytest``. It is deliberately *not* ``DEVARCH_HOME``: test stacks never mix with
    a developer's own stacks, and it is *not* under pytest's basetemp: basetemps are per run
    (and pruned), while reaping leaked stacks and reusing stacks need a home that outlives runs.
    The store is always the SQLite database in that home (``DEVARCH_STORE`` is ignored).
``--devarch-ttl SECONDS`` / ini ``devarch_ttl``
    How long a stack may live before any later run may reap it (default 3600).
``--devarch-catalog DIR`` (repeatable) / ini ``devarch_catalog`` (paths)
    Template directories, searched after the builtin catalog (default: ``DEVARCH_CATALOG_PATH``).

The engine is chosen by ``DEVARCH_RUNTIME`` (``auto``, ``docker``, ``podman``).

**Names.** A stack is imported under ``{manifest stack}-{run}`` (``run`` = the first 8 hex digits
of the run id; xdist's ``PYTEST_XDIST_TESTRUNUID``, else a fresh uuid), plus ``-{worker}`` with
scope ``worker``, so parallel runs on one engine never collide. The manifest's stack name is
shortened when needed so every container name still fits 63 characters, and a custom network
name is dropped (each test stack gets its own ``devarch-{stack}-net``). The fixture returns once
every enabled instance runs and, when it has a healthcheck, is healthy (apply itself waits only
for the health of dependencies). Give path options as ``--devarch-home=DIR``: pytest takes a
separate path argument for a hint of the rootdir.

**Host ports** are allocated from a window of 200 ports in 30000-59799 derived from the home's
path (:func:`port_window`), so runs with different homes rarely race for one port.

**Coordination between xdist workers.** All work on the engine (reaping, creating, applying,
deleting) happens under one ``fcntl`` file lock, ``{home}/pytest/plugin.lock``; it also
serialises host port allocation between workers and runs that share the home. The run's state
file ``{home}/pytest/runs/{run id}.json`` records the stacks of the run (ready or failed, with
the error). With scope ``session`` the first worker to take the lock creates and applies the
stack; the others find it ready in the state file and reuse it (or fail with the same error).
Teardown is done by the process that outlives every worker: the xdist controller (or the only
process without xdist) deletes the run's stacks in ``pytest_sessionfinish``, so a worker that
finishes early never pulls the stack from under a slower one. (The controller learns the run id
in ``pytest_configure_node`` and hands its pid to the workers there.) With scope ``worker`` each
worker also deletes its own stack when its session ends.

**Reaping leaked stacks.** A run killed with SIGKILL cannot clean up. Every stack the plugin
creates carries its expiry and owner in its description —
``pytest run <id> expires <iso time>; pid <pid> on <host>; manifest <sha256>`` (pid ``-`` for a
reused stack) — and its containers carry the label ``devarch-pytest.expires=<unix time>`` (and
``devarch-pytest.run``). When the fixture is first set up, the plugin deletes (``delete_stack``:
containers, network, volumes, definition) every stack *of its own store* whose description marks
it as a plugin stack of another run and that has expired, or whose owning process is gone (pid
checked only on the same host; a zombie counts as gone). It never looks for or removes
resources of another store or owner on the engine, even ones carrying the plugin's labels:
devarch never touches what it does not own (docs/architecture.md#naming); a lost home's
leftovers are shown by ``devarch doctor`` as orphans. A reused stack's expiry is refreshed in
its description on every use; its container label keeps the first expiry (changing it would
recreate the containers).

A reused stack is removed with ``devarch --home ~/.devarch-pytest stack delete NAME``, or by
letting it expire.

**pytest-docker.** :func:`devarch_compose_file` renders the same ``devarch.yml`` as a Compose
file for pytest-docker, which then brings it up with its own compose command (Debian's
``docker-compose`` 1.29 works: the file has no top-level ``name:`` and pytest-docker passes the
project name with ``-p``)::

    @pytest.fixture(scope="session")
    def docker_compose_file(devarch_compose_file):
        return devarch_compose_file

With docker-compose 1.29 also override ``docker_compose_command`` (``"docker-compose"``) and
``docker_setup`` (``["up --build -d"]``): pytest-docker's default ``up --build --wait`` is
Compose v2's, and 1.29 answers ``--wait`` with its help text and exit status 0, starting nothing.

``docker_services.port_for("web", 8080)`` and ``wait_until_responsive`` then see the host
ports devarch allocated (from the home's window, recorded in its store so runs sharing the home
never pick the same ones). The stack is imported into the plugin's store under
``{stack}-{run}-compose`` (plus ``-{worker}`` under xdist, where each worker brings up its own
project) but not applied: pytest-docker's ``up``/``down -v`` create and remove the containers.
Its definition goes when the run ends, together with any container a skipped ``down`` left
behind. The file holds the secret values (the containers need them): it is written ``0600``
under pytest's temporary directory and deleted when the session ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator, Mapping  # noqa: TC003 - pytest resolves hook annotations
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.manifest import Manifest

__all__ = [
    "LABEL_EXPIRES",
    "LABEL_RUN",
    "DevarchStack",
    "StackMarker",
    "devarch_compose_file",
    "devarch_stack",
    "port_window",
    "stack_name",
]

#: Container label with the unix time after which the stack may be reaped (not ``devarch.*``:
#: that prefix is reserved for devarch's own identity labels).
LABEL_EXPIRES: Final = "devarch-pytest.expires"
#: Container label with the id of the pytest run that created the stack.
LABEL_RUN: Final = "devarch-pytest.run"
DEFAULT_TTL: Final = 3600.0
DEFAULT_HOME: Final = "~/.devarch-pytest"
LOCK_TIMEOUT: Final = 900.0
_MARKER = re.compile(r"^pytest run (\S+) expires (\S+); pid (\d+|-) on (\S+); manifest (\S+)$")
_RUN_ID = pytest.StashKey[str]()
_OWNER_PID = pytest.StashKey[int]()


# -- options ------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--devarch-*`` options and their ini keys."""
    group = parser.getgroup("devarch", "devarch stacks for tests (devarch_stack fixture)")
    group.addoption(
        "--devarch-manifest",
        metavar="PATH",
        help="devarch.yml to bring up (default: devarch.yml in the rootdir)",
    )
    group.addoption(
        "--devarch-scope",
        choices=("session", "worker"),
        default=None,
        help="one stack shared by all xdist workers (session, default) or one per worker",
    )
    group.addoption(
        "--devarch-reuse",
        action="store_true",
        default=None,
        help="keep the stack after the run and reuse it next time when its manifest is unchanged",
    )
    group.addoption(
        "--devarch-home",
        metavar="DIR",
        help=f"the plugin's devarch home (default: $DEVARCH_PYTEST_HOME or {DEFAULT_HOME})",
    )
    group.addoption(
        "--devarch-ttl",
        metavar="SECONDS",
        type=float,
        help=f"expiry of a stack, after which later runs reap it (default {DEFAULT_TTL:.0f})",
    )
    group.addoption(
        "--devarch-catalog", metavar="DIR", action="append", help="template directory (repeatable)"
    )
    parser.addini("devarch_manifest", "devarch.yml to bring up for devarch_stack", type="paths")
    parser.addini("devarch_scope", "session or worker", default="session")
    parser.addini(
        "devarch_reuse", "keep and reuse the stack between runs", type="bool", default=False
    )
    parser.addini("devarch_home", "the devarch home of the devarch pytest plugin", type="paths")
    parser.addini(
        "devarch_ttl",
        "seconds after which a leaked stack may be reaped",
        default=str(int(DEFAULT_TTL)),
    )
    parser.addini("devarch_catalog", "template directories for devarch_stack", type="paths")


def pytest_configure(config: pytest.Config) -> None:
    """Remember the run id and the pid of the run's longest-lived process (cheap: no I/O)."""
    workerinput: Mapping[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        config.stash[_RUN_ID] = str(
            workerinput.get("testrunuid")
            or os.environ.get("PYTEST_XDIST_TESTRUNUID")
            or uuid.uuid4().hex
        )
        config.stash[_OWNER_PID] = int(workerinput.get("devarch_owner_pid") or os.getppid())
    else:
        config.stash[_RUN_ID] = uuid.uuid4().hex
        config.stash[_OWNER_PID] = os.getpid()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:  # noqa: ANN401 - xdist's WorkerController
    """Xdist controller: adopt xdist's run id and tell the workers who owns the run."""
    config: pytest.Config = node.config
    config.stash[_RUN_ID] = str(node.workerinput["testrunuid"])
    node.workerinput["devarch_owner_pid"] = os.getpid()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In the main process: delete the run's stacks once every worker is done."""
    config = session.config
    if hasattr(config, "workerinput") or _RUN_ID not in config.stash:
        return
    if not _run_file(_home(config), config.stash[_RUN_ID]).exists():
        return  # the fixture was never set up: nothing to do, nothing imported
    _finish_run(_Options.from_config(config), config.stash[_RUN_ID])


# -- settings -----------------------------------------------------------------------------------
@dataclass(kw_only=True, eq=False)
class _Options:
    """The plugin's resolved options (a dataclass: attrs stays out of pytest's startup)."""

    home: Path
    manifest: Path
    scope: str
    reuse: bool
    ttl: float
    catalogs: list[str] | None

    @classmethod
    def from_config(cls, config: pytest.Config) -> _Options:
        manifest_opt = config.getoption("devarch_manifest")
        manifest = Path(manifest_opt) if manifest_opt else _ini_path(config, "devarch_manifest")
        if manifest is None:
            manifest = config.rootpath / "devarch.yml"
        scope = config.getoption("devarch_scope") or str(
            config.getini("devarch_scope") or "session"
        )
        if scope not in ("session", "worker"):
            raise pytest.UsageError(f"devarch_scope must be session or worker, not {scope!r}")
        reuse_opt = config.getoption("devarch_reuse")
        reuse = bool(reuse_opt) if reuse_opt is not None else bool(config.getini("devarch_reuse"))
        ttl_opt = config.getoption("devarch_ttl")
        try:
            ttl = float(ttl_opt if ttl_opt is not None else config.getini("devarch_ttl"))
        except ValueError:
            raise pytest.UsageError(
                f"devarch_ttl must be a number of seconds, not {config.getini('devarch_ttl')!r}"
            ) from None
        catalogs = (
            config.getoption("devarch_catalog")
            or [str(p) for p in config.getini("devarch_catalog")]
            or None
        )
        return cls(
            home=_home(config),
            manifest=manifest.expanduser().absolute(),
            scope=scope,
            reuse=reuse,
            ttl=ttl,
            catalogs=catalogs,
        )


def _ini_path(config: pytest.Config, name: str) -> Path | None:
    value = config.getini(name)
    return Path(value[0]) if value else None


def _home(config: pytest.Config) -> Path:
    """Return the plugin's home: option, ini, ``$DEVARCH_PYTEST_HOME``, ``~/.devarch-pytest``."""
    option = config.getoption("devarch_home")
    home = Path(option) if option else _ini_path(config, "devarch_home")
    if home is None:
        home = Path(os.environ.get("DEVARCH_PYTEST_HOME") or DEFAULT_HOME)
    return home.expanduser().absolute()


# -- coordination files -------------------------------------------------------------------------
def _plugin_dir(home: Path) -> Path:
    return home / "pytest"


def _run_file(home: Path, run_id: str) -> Path:
    return _plugin_dir(home) / "runs" / f"{run_id}.json"


@contextlib.contextmanager
def _home_lock(home: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the ``fcntl`` lock ``{home}/pytest/plugin.lock`` (the kernel drops it if we die)."""
    directory = _plugin_dir(home)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / "plugin.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"waited {timeout:.0f}s for {directory / 'plugin.lock'}"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(path: Path, data: Mapping[str, Any]) -> None:
    """Atomic write (call under the home lock)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)


# -- markers and reaping ------------------------------------------------------------------------
@dataclass(kw_only=True, eq=False)
class StackMarker:
    """What a plugin stack's description says about it: run, expiry, owner, manifest hash."""

    run: str
    expires: float
    pid: int | None
    host: str
    manifest_hash: str

    def describe(self) -> str:
        """Render the stack description.

        ``pytest run <id> expires <iso>; pid <pid> on <host>; manifest <hash>``.
        """
        iso = datetime.fromtimestamp(self.expires, UTC).isoformat(timespec="seconds")
        pid = "-" if self.pid is None else str(self.pid)
        owner = f"pid {pid} on {self.host}"
        return f"pytest run {self.run} expires {iso}; {owner}; manifest {self.manifest_hash}"

    @classmethod
    def parse(cls, description: str) -> StackMarker | None:
        """Read the marker of a plugin stack; None for any other description."""
        match = _MARKER.match(description)
        if match is None:
            return None
        run, iso, pid, host, digest = match.groups()
        try:
            expires = datetime.fromisoformat(iso).timestamp()
        except ValueError:
            return None
        return cls(
            run=run,
            expires=expires,
            pid=None if pid == "-" else int(pid),
            host=host,
            manifest_hash=digest,
        )

    def is_leaked(self, now: float, hostname: str) -> bool:
        """Expired, or owned by a process of this host that no longer runs."""
        if self.expires < now:
            return True
        return self.pid is not None and self.host == hostname and not _pid_alive(self.pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        # A killed process that nobody has waited for yet is a zombie: as good as gone.
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    return True


def _reap(devarch: Devarch, home: Path, run_id: str) -> list[str]:
    """Delete this store's plugin stacks leaked by other runs; drop dead runs' state files."""
    from devarch_core.errors import DevarchError  # noqa: PLC0415 - loaded once the fixture is used

    now, host = time.time(), socket.gethostname()
    reaped = []
    for summary in devarch.list_stacks(with_runtime=False):
        marker = StackMarker.parse(summary.stack.description)
        if marker is None or marker.run == run_id or not marker.is_leaked(now, host):
            continue
        try:
            devarch.delete_stack(summary.stack.name)
        except DevarchError as exc:
            _warn(f"could not reap leaked stack {summary.stack.name}: {exc}")
        else:
            reaped.append(summary.stack.name)
    for path in sorted((_plugin_dir(home) / "runs").glob("*.json")):
        if path.stem == run_id:
            continue
        state = _read_state(path)
        pid, owner_host = state.get("pid"), state.get("host")
        if (
            not isinstance(pid, int)
            or (owner_host == host and not _pid_alive(pid))
            or float(state.get("expires", 0)) < now
        ):
            path.unlink(missing_ok=True)
    return reaped


def _warn(message: str) -> None:
    import warnings  # noqa: PLC0415

    warnings.warn(f"devarch_stack: {message}", stacklevel=2)


# -- the fixture object -------------------------------------------------------------------------
class DevarchStack:
    """The stack a test session runs against.

    ``name`` is the stack's (unique per run) name and ``devarch`` the connected facade, for
    anything the helpers below do not cover.
    """

    def __init__(self, *, name: str, devarch: Devarch) -> None:
        self.name = name
        self.devarch = devarch
        self._ports: dict[tuple[str, int, str], int] = {}

    def __repr__(self) -> str:
        return f"<DevarchStack {self.name}>"

    def container(self, instance: str) -> str:
        """Return the engine name of an instance's container (``devarch-{stack}-{instance}``)."""
        from devarch_core import naming  # noqa: PLC0415

        return naming.container_name(self.name, instance)

    def host_port(self, instance: str, container_port: int, protocol: str = "tcp") -> int:
        """Return the host port (on 127.0.0.1) published for an instance's container port.

        Raises ``LookupError`` when the container does not run or does not publish that port.
        """
        key = (instance, int(container_port), protocol)
        if key not in self._ports:
            from devarch_core.ownership import owned_by  # noqa: PLC0415

            runtime = self.devarch._require_runtime()  # noqa: SLF001 - the facade's own guard
            stack = self.devarch.get_stack(self.name)
            labels = owned_by(self.devarch.owner, stack.id)
            wanted = self.container(instance)
            for info in runtime.list_containers(labels):
                if info.name != wanted:
                    continue
                for port in info.ports:
                    self._ports[(instance, port.container, port.protocol)] = port.host_port
            if key not in self._ports:
                raise LookupError(
                    f"{wanted} publishes no host port for {container_port}/{protocol}"
                    " (is it running?)"
                )
        return self._ports[key]

    def url(self, instance: str, container_port: int, scheme: str = "http", path: str = "") -> str:
        """``{scheme}://127.0.0.1:{host port}{path}`` for an instance's published port."""
        return f"{scheme}://127.0.0.1:{self.host_port(instance, container_port)}{path}"

    def env(self, instance: str) -> dict[str, str]:
        """Return an instance's effective environment (template + wires + overrides).

        Secret values are ``***``.
        """
        from devarch_core.secrets import REDACTED, Secret  # noqa: PLC0415

        service = self.devarch.effective(self.name, instance).service
        return {
            k: REDACTED if isinstance(v, Secret) else str(v) for k, v in service.environment.items()
        }


# -- bringing a stack up ------------------------------------------------------------------------
def _connect(options: _Options) -> Devarch:
    from devarch_adapters.bootstrap import connect  # noqa: PLC0415 - docker is imported only here

    return connect(
        home=options.home,
        store=f"sqlite:///{options.home / 'devarch.db'}",
        catalog=options.catalogs,
        port_range=port_window(options.home),
    )


def port_window(home: Path) -> tuple[int, int]:
    """Return the home's own window of 200 host ports in 30000-59799 (derived from its path).

    Runs that share a home allocate ports under one lock and store, so they never race; runs
    with different homes (different stores) would race for the first free port of a shared
    range between planning and starting, so each home gets its own window.
    """
    digest = int(hashlib.sha256(str(home).encode()).hexdigest(), 16)
    base = 30000 + (digest % 150) * 200
    return (base, base + 199)


def stack_name(base: str, suffixes: list[str], longest_instance: int) -> str:
    """Return ``{base}-{suffix...}``, ``base`` cut so every container name fits 63 characters."""
    tail = "".join(f"-{s}" for s in suffixes)
    room = 63 - len("devarch-") - 1 - longest_instance - len(tail)
    if room < 1:
        raise pytest.UsageError(
            f"instance names of {longest_instance} characters leave no room for a test stack name"
        )
    return base[:room].rstrip("-") + tail


def _prepared(manifest: Manifest, name: str, marker: StackMarker) -> Manifest:
    """Rename the manifest to the test stack and add its description and expiry labels."""
    import attrs  # noqa: PLC0415

    labels = {LABEL_EXPIRES: str(int(marker.expires)), LABEL_RUN: marker.run}
    instances = tuple(
        attrs.evolve(
            spec, overrides=attrs.evolve(spec.overrides, labels={**spec.overrides.labels, **labels})
        )
        for spec in manifest.instances
    )
    return attrs.evolve(
        manifest, stack=name, description=marker.describe(), instances=instances, network=None
    )


def _bring_up(
    devarch: Devarch, options: _Options, manifest: Manifest, name: str, marker: StackMarker
) -> None:
    """Create (or refresh a reused) stack and apply it until its plan is empty."""
    from devarch_core.errors import NotFoundError  # noqa: PLC0415

    try:
        existing = devarch.get_stack(name)
    except NotFoundError:
        existing = None
    if existing is not None and options.reuse:
        old = StackMarker.parse(existing.description)
        if old is not None and old.manifest_hash == marker.manifest_hash:
            devarch.update_stack(name, description=marker.describe())
            plan = devarch.plan(name)
            if plan.actions:
                devarch.apply(name)
            _wait_ready(devarch, name)
            return
    elif existing is not None:
        devarch.delete_stack(name)  # a leftover under this run's own name: start clean
    devarch.import_manifest(_prepared(manifest, name, marker), prune=True, environ=dict(os.environ))
    devarch.apply(name)
    _wait_ready(devarch, name)


def _wait_ready(devarch: Devarch, name: str) -> None:
    """Wait until every enabled instance runs and, when it has a healthcheck, is healthy.

    Apply waits only for dependencies' health; tests need the leaves (the web app) ready too.
    """
    from devarch_core.health import wait_ready  # noqa: PLC0415

    wait_ready(
        lambda: devarch.status(name), devarch.clock, stack=name, timeout=devarch.health_timeout
    )


def _finish_run(options: _Options, run_id: str) -> None:
    """Delete every stack of the run that is not kept for reuse, then its state file."""
    from devarch_core.errors import DevarchError, NotFoundError  # noqa: PLC0415

    path = _run_file(options.home, run_id)
    with _home_lock(options.home):
        state = _read_state(path)
        stacks: dict[str, Any] = state.get("stacks", {})
        doomed = [n for n, s in stacks.items() if not s.get("keep") and not s.get("deleted")]
        if doomed:
            devarch = _connect(options)
            try:
                for name in doomed:
                    try:
                        devarch.delete_stack(name)
                    except NotFoundError:
                        pass
                    except DevarchError as exc:
                        _warn(f"could not delete stack {name}: {exc}")
            finally:
                _close(devarch)
        path.unlink(missing_ok=True)


def _close(devarch: Devarch) -> None:
    devarch.close()


def _load_manifest(options: _Options) -> Manifest:
    from devarch_core.errors import DevarchError  # noqa: PLC0415
    from devarch_core.limits import MAX_FILE_BYTES  # noqa: PLC0415
    from devarch_core.manifest import Manifest  # noqa: PLC0415

    try:
        with options.manifest.open("rb") as fh:  # bounded; the parser refuses what is over
            data = fh.read(MAX_FILE_BYTES + 1)
        return Manifest.parse(data, str(options.manifest))
    except OSError as exc:
        pytest.fail(f"devarch_stack: cannot read {options.manifest}: {exc.strerror}", pytrace=False)
    except DevarchError as exc:
        pytest.fail(f"devarch_stack: {exc}", pytrace=False)


def _ensure_stack(
    devarch: Devarch,
    options: _Options,
    *,
    manifest: Manifest,
    name: str,
    marker: StackMarker,
    owner_pid: int,
) -> None:
    """Under the home lock: reuse the run's stack if a worker made it, else reap and bring it up."""
    state_path = _run_file(options.home, marker.run)
    state = _read_state(state_path) or {"pid": owner_pid, "host": marker.host, "stacks": {}}
    state["expires"] = marker.expires
    entry = state["stacks"].get(name)
    if entry is not None:
        if entry.get("state") != "ready":
            why = entry.get("error", entry.get("state"))
            pytest.fail(
                f"devarch_stack: stack {name} could not be brought up: {why}", pytrace=False
            )
        return
    _reap(devarch, options.home, marker.run)
    state["stacks"][name] = {"state": "creating", "keep": options.reuse}
    _write_state(state_path, state)
    try:
        _bring_up(devarch, options, manifest, name, marker)
    except BaseException as exc:
        state["stacks"][name] = {"state": "failed", "keep": False, "error": str(exc)}
        _write_state(state_path, state)
        raise
    state["stacks"][name] = {"state": "ready", "keep": options.reuse}
    _write_state(state_path, state)


def _release(devarch: Devarch, options: _Options, name: str, run_id: str) -> None:
    """Delete a worker's own stack and mark it deleted in the run's state."""
    from devarch_core.errors import DevarchError  # noqa: PLC0415

    state_path = _run_file(options.home, run_id)
    with _home_lock(options.home):
        try:
            devarch.delete_stack(name)
        except DevarchError as exc:
            _warn(f"could not delete stack {name}: {exc}")
        state = _read_state(state_path)
        if name in state.get("stacks", {}):
            state["stacks"][name]["deleted"] = True
            _write_state(state_path, state)


@pytest.fixture(scope="session")
def devarch_stack(request: pytest.FixtureRequest) -> Iterator[DevarchStack]:
    """Bring up the project's ``devarch.yml`` as a stack shared by the whole session.

    See the module documentation for options, xdist behaviour, reuse and reaping.
    """
    from devarch_core.errors import DevarchError  # noqa: PLC0415

    config = request.config
    options = _Options.from_config(config)
    run_id = config.stash[_RUN_ID]
    worker = os.environ.get("PYTEST_XDIST_WORKER") if hasattr(config, "workerinput") else None
    manifest = _load_manifest(options)
    per_worker = [worker] if options.scope == "worker" and worker else []
    longest = max((len(i.name) for i in manifest.instances), default=1)
    name = stack_name(
        manifest.stack, ["reuse" if options.reuse else run_id[:8], *per_worker], longest
    )
    marker = StackMarker(
        run=run_id,
        expires=time.time() + options.ttl,
        pid=None if options.reuse else config.stash[_OWNER_PID],
        host=socket.gethostname(),
        manifest_hash=manifest.content_hash,
    )
    with _home_lock(options.home):
        devarch = _connect(options)
        try:
            _ensure_stack(
                devarch,
                options,
                manifest=manifest,
                name=name,
                marker=marker,
                owner_pid=config.stash[_OWNER_PID],
            )
        except DevarchError as exc:
            _close(devarch)
            pytest.fail(f"devarch_stack: stack {name}: {exc}", pytrace=False)
        except BaseException:
            _close(devarch)
            raise
    yield DevarchStack(name=name, devarch=devarch)
    if per_worker and not options.reuse:
        _release(devarch, options, name, run_id)  # free it now, not when the whole run ends
    _close(devarch)


def _record(options: _Options, marker: StackMarker, name: str, owner_pid: int) -> None:
    """Under the home lock: list ``name`` in the run's state, so the run's end deletes it."""
    state_path = _run_file(options.home, marker.run)
    state = _read_state(state_path) or {"pid": owner_pid, "host": marker.host, "stacks": {}}
    state["expires"] = marker.expires
    state["stacks"][name] = {"state": "rendered", "keep": False}
    _write_state(state_path, state)


def _render_compose(options: _Options, manifest: Manifest, name: str, marker: StackMarker) -> str:
    """Import the test stack into the plugin's store (no engine) and render it with secrets."""
    from devarch_adapters.bootstrap import connect  # noqa: PLC0415
    from devarch_core.errors import NotFoundError  # noqa: PLC0415

    devarch = connect(
        home=options.home,
        store=f"sqlite:///{options.home / 'devarch.db'}",
        runtime="none",  # rendering needs no engine; pytest-docker's compose starts it
        catalog=options.catalogs,
        port_range=port_window(options.home),
    )
    try:
        with contextlib.suppress(NotFoundError):
            devarch.delete_stack(name)  # a leftover under this run's own name: start clean
        devarch.import_manifest(
            _prepared(manifest, name, marker), prune=True, environ=dict(os.environ)
        )
        return devarch.compose(name, reveal_secrets=True)
    finally:
        _close(devarch)


@pytest.fixture(scope="session")
def devarch_compose_file(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The project's ``devarch.yml`` rendered as a Compose file, for pytest-docker.

    Return it from pytest-docker's ``docker_compose_file`` fixture; see the module
    documentation ("pytest-docker") and docs/editors.md. The same options as
    :func:`devarch_stack` apply (manifest, home, catalog, ttl).
    """
    from devarch_core.errors import DevarchError  # noqa: PLC0415

    config = request.config
    options = _Options.from_config(config)
    run_id = config.stash[_RUN_ID]
    worker = os.environ.get("PYTEST_XDIST_WORKER") if hasattr(config, "workerinput") else None
    manifest = _load_manifest(options)
    longest = max((len(i.name) for i in manifest.instances), default=1)
    name = stack_name(
        manifest.stack, [run_id[:8], "compose", *([worker] if worker else [])], longest
    )
    marker = StackMarker(
        run=run_id,
        expires=time.time() + options.ttl,
        pid=config.stash[_OWNER_PID],
        host=socket.gethostname(),
        manifest_hash=manifest.content_hash,
    )
    with _home_lock(options.home):
        _record(options, marker, name, config.stash[_OWNER_PID])
        try:
            text = _render_compose(options, manifest, name, marker)
        except DevarchError as exc:
            pytest.fail(f"devarch_compose_file: stack {name}: {exc}", pytrace=False)
    path = tmp_path_factory.mktemp("devarch-compose") / "docker-compose.yml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    yield path
    path.unlink(missing_ok=True)  # it holds secret values

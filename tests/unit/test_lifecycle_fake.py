"""Logs, start, stop and restart on the in-memory fakes (docs/lifecycle.md).

Order, health waits, ownership, locks, errors and the plan of a stopped stack; the real engines
are exercised in tests/integration/test_lifecycle_cli.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.errors import (
    ApplyError,
    ConflictError,
    EngineError,
    NotFoundError,
    StackLockedError,
    ValidationError,
)
from devarch_core.reporting import RecordingReporter
from devarch_core.testing import FakeRuntime, InMemoryStackLock, fake_devarch

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"
SECRET = "s3cr3t-Pa55word"
NAMES = {"db": "devarch-shop-db", "cache": "devarch-shop-cache", "web": "devarch-shop-web"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """Load the example busybox catalog."""
    return load_catalog_dirs([EXAMPLES])


@pytest.fixture
def reporter() -> RecordingReporter:
    return RecordingReporter()


def make(catalog: Catalog, reporter: RecordingReporter, **options: Any) -> Devarch:
    return fake_devarch(catalog, images={IMAGE: "sha256:1"}, reporter=reporter, **options)


@pytest.fixture
def devarch(catalog: Catalog, reporter: RecordingReporter) -> Devarch:
    """Stack ``shop`` (web imports db; db has a secret), applied: three running containers."""
    d = make(catalog, reporter)
    d.create_stack("shop")
    d.add_instance("shop", "web", "bb-web")
    d.add_instance("shop", "db", "bb-db")
    d.add_instance("shop", "cache", "bb-cache")
    d.set_secret("shop", "db", "POSTGRES_PASSWORD", SECRET)
    d.apply("shop")
    return d


def fake(devarch: Devarch) -> FakeRuntime:
    assert isinstance(devarch.runtime, FakeRuntime)
    return devarch.runtime


def ids(devarch: Devarch) -> dict[str, str]:
    runtime = fake(devarch)
    found = {n: runtime.inspect_container(c) for n, c in NAMES.items()}
    return {n: info.id for n, info in found.items() if info is not None}


def states(devarch: Devarch) -> dict[str, str]:
    return {row.instance: row.state for row in devarch.status("shop")}


def since(runtime: FakeRuntime, mark: int) -> list[tuple[str, str]]:
    return runtime.calls[mark:]


# -- stop / start / restart ------------------------------------------------------------------------


def test_stop_keeps_the_containers_and_plan_only_starts_them(devarch):
    """Stop keeps each container (same id); plan says `start` for each, never a recreate."""
    before = ids(devarch)
    result = devarch.stop("shop")
    assert set(result.changed) == {"web", "db", "cache"}
    assert states(devarch) == {"web": "exited", "db": "exited", "cache": "exited"}
    assert ids(devarch) == before
    plan = devarch.plan("shop")
    assert sorted((a.action, a.instance) for a in plan.actions) == [
        ("start", "cache"),
        ("start", "db"),
        ("start", "web"),
    ]
    assert all(not a.changes for a in plan.actions)
    devarch.apply("shop")  # like `docker compose up`: the stopped containers start again
    assert set(states(devarch).values()) == {"running"}
    assert ids(devarch) == before


def test_stop_stops_dependents_first(devarch):
    """The web instance depends on db: it is stopped before db."""
    runtime = fake(devarch)
    mark = len(runtime.calls)
    devarch.stop("shop")
    stops = [t for op, t in since(runtime, mark) if op == "stop_container"]
    assert stops.index(NAMES["web"]) < stops.index(NAMES["db"])


def test_start_follows_dependencies_and_waits_for_health(devarch):
    """The db instance starts and is healthy before web starts; the ids stay."""
    before = ids(devarch)
    devarch.stop("shop")
    runtime = fake(devarch)
    mark = len(runtime.calls)
    result = devarch.start("shop")
    calls = since(runtime, mark)
    assert calls.index(("health", NAMES["db"])) < calls.index(("start_container", NAMES["web"]))
    assert calls.index(("start_container", NAMES["db"])) < calls.index(("health", NAMES["db"]))
    assert result.changed[-1] == "web"
    assert set(states(devarch).values()) == {"running"}
    assert ids(devarch) == before


def test_start_stops_at_an_unhealthy_dependency(devarch):
    """A dependency that turns unhealthy fails start; its dependents are not started."""
    devarch.stop("shop")
    runtime = fake(devarch)
    runtime.set_health(NAMES["db"], "unhealthy")
    with pytest.raises(ApplyError, match="db is unhealthy") as info:
        devarch.start("shop")
    assert info.value.step == "health"
    assert states(devarch)["web"] == "exited"


def test_start_of_running_instances_changes_nothing(devarch):
    """Running containers are reported unchanged and not started again."""
    runtime = fake(devarch)
    mark = len(runtime.calls)
    result = devarch.start("shop")
    assert result.changed == ()
    assert result.unchanged == ("cache", "db", "web")
    assert not [c for c in since(runtime, mark) if c[0] == "start_container"]
    assert "already running" in result.describe()


def test_start_of_one_instance_warns_about_a_stopped_dependency(devarch, reporter):
    """Starting only web while db is stopped starts web and says db is not running."""
    devarch.stop("shop")
    result = devarch.start("shop", ["web"])
    assert result.changed == ("web",)
    assert states(devarch) == {"web": "running", "db": "exited", "cache": "exited"}
    assert any("web depends on db, which is not running" in w for w in reporter.warnings)


def test_one_instance_may_be_named_by_a_plain_string(devarch):
    """stop("shop", "web") means the instance web, not the instances w, e and b."""
    assert devarch.stop("shop", "web").changed == ("web",)


def test_restart_keeps_ids_and_starts_stopped_ones(devarch):
    """Restart stops and starts every container, a stopped one included, keeping ids."""
    before = ids(devarch)
    devarch.stop("shop", ["cache"])
    runtime = fake(devarch)
    mark = len(runtime.calls)
    result = devarch.restart("shop")
    assert set(result.changed) == {"web", "db", "cache"}
    started = [t for op, t in since(runtime, mark) if op == "start_container"]
    assert sorted(started) == sorted(NAMES.values())
    assert set(states(devarch).values()) == {"running"}
    assert ids(devarch) == before


def test_a_stopped_stack_plan_token_moves(devarch):
    """A plan made before a stop is stale after it (the observed state moved)."""
    from devarch_core.errors import StalePlanError  # noqa: PLC0415

    plan = devarch.plan("shop")
    devarch.stop("shop", ["web"])
    with pytest.raises(StalePlanError, match="devarch-shop-web changed"):
        devarch.apply("shop", plan)


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["start", "stop", "restart"])
def test_unknown_stack_and_instance_are_not_found(devarch, verb):
    """An unknown stack or instance is NotFoundError naming it (and the instances there are)."""
    call = getattr(devarch, verb)
    with pytest.raises(NotFoundError, match="stack 'nope' not found"):
        call("nope")
    with pytest.raises(NotFoundError, match=r"shop/nope.*instances of shop: cache, db, web"):
        call("shop", ["nope"])


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "logs"])
def test_a_never_applied_stack_says_to_apply(catalog, reporter, verb):
    """Without containers, every lifecycle call says the stack was never applied."""
    d = make(catalog, reporter)
    d.create_stack("fresh")
    d.add_instance("fresh", "cache", "bb-cache")
    with pytest.raises(NotFoundError, match=r"never applied.*devarch apply fresh"):
        getattr(d, verb)("fresh")


def test_an_instance_added_after_apply_has_no_container_yet(devarch):
    """Naming an instance without a container says to apply; the whole stack skips it."""
    devarch.add_instance("shop", "cache2", "bb-cache")
    with pytest.raises(NotFoundError, match=r"shop/cache2.*devarch apply shop"):
        devarch.stop("shop", ["cache2"])
    assert "cache2" not in devarch.stop("shop").changed


def test_lifecycle_calls_take_the_stack_lock(devarch):
    """While another session holds the lock, start/stop/restart fail at once, touching nothing."""
    lock = devarch.lock
    assert isinstance(lock, InMemoryStackLock)
    runtime = fake(devarch)
    with lock.acquire("shop", holder="another apply"):
        mark = len(runtime.calls)
        for verb in ("start", "stop", "restart"):
            with pytest.raises(StackLockedError, match="another apply"):
                getattr(devarch, verb)("shop")
        assert since(runtime, mark) == []
    assert devarch.stop("shop", lock_timeout=1).changed


def test_inside_locked_the_facade_reuses_its_hold(devarch):
    """`with da.locked(stack)` then stop: the same thread's hold is reused."""
    with devarch.locked("shop"):
        assert devarch.stop("shop", ["web"]).changed == ("web",)


def test_disabled_instances_are_refused_when_named_and_skipped_otherwise(devarch):
    """A disabled instance is not started (its container goes at the next apply)."""
    devarch.stop("shop")
    devarch.update_instance("shop", "cache", enabled=False)
    with pytest.raises(ValidationError, match=r"instances\.cache: disabled"):
        devarch.start("shop", ["cache"])
    result = devarch.start("shop")
    assert "cache" not in result.changed
    assert states(devarch)["cache"] == "exited"
    devarch.stop("shop", ["cache"])  # stopping it stays possible


def test_a_container_of_another_store_is_never_touched(devarch, catalog, reporter):
    """Another store's same-named container is a ConflictError; it keeps running."""
    other = make(catalog, reporter, runtime=devarch.runtime, port_range=(30000, 30100))
    other.create_stack("shop", network="other-shop-net")
    other.add_instance("shop", "cache", "bb-cache")
    other.add_instance("shop", "mine", "bb-cache")
    fake(devarch).remove_container(NAMES["cache"])  # devarch's cache gone: other's cache applies
    plan = other.plan("shop")
    assert not plan.errors
    other.apply("shop")
    devarch.add_instance("shop", "mine", "bb-cache")
    with pytest.raises(ConflictError, match="another devarch store"):
        devarch.stop("shop", ["mine"])
    info = fake(devarch).inspect_container("devarch-shop-mine")
    assert info is not None
    assert info.running


def test_an_engine_error_never_shows_a_secret(devarch):
    """An engine message quoting a secret is scrubbed, and the chain does not keep it."""
    devarch.stop("shop")
    fake(devarch).fail_next(
        "start_container", f"invalid env POSTGRES_PASSWORD={SECRET}", target=NAMES["db"]
    )
    with pytest.raises(ApplyError) as info:
        devarch.start("shop")
    err = info.value
    assert SECRET not in str(err)
    assert "***" in str(err)
    assert err.__cause__ is None
    assert err.__context__ is None
    fake(devarch).fail_next("logs", f"cannot read: {SECRET}")
    with pytest.raises(EngineError) as logs_info:
        devarch.logs("shop", "db")
    assert SECRET not in str(logs_info.value)
    assert logs_info.value.__context__ is None


def test_running_container_is_the_exec_target(devarch):
    """running_container names the container; a stopped one is a ConflictError saying start."""
    assert devarch.running_container("shop", "web") == NAMES["web"]
    devarch.stop("shop", ["web"])
    with pytest.raises(ConflictError, match="devarch start shop web"):
        devarch.running_container("shop", "web")


# -- logs ------------------------------------------------------------------------------------------


def test_logs_of_the_stack_are_merged_in_time_order_with_instances(devarch):
    """Without an instance, every container's lines come in time order, each with its instance."""
    runtime = fake(devarch)
    runtime.write_log(NAMES["db"], "db one")
    runtime.write_log(NAMES["web"], "web one", "stderr")
    runtime.write_log(NAMES["db"], "db two")
    lines = list(devarch.logs("shop"))
    assert [(x.instance, x.stream, x.text) for x in lines] == [
        ("db", "stdout", "db one"),
        ("web", "stderr", "web one"),
        ("db", "stdout", "db two"),
    ]
    assert [x.text for x in devarch.logs("shop", tail=1)] == ["web one", "db two"]
    assert [x.text for x in devarch.logs("shop", "db", tail=1)] == ["db two"]
    assert lines[0].to_data()["instance"] == "db"


def test_logs_of_several_named_instances_are_theirs_only_in_time_order(devarch):
    """Several names read those instances only (merged in time order); a repeated one once."""
    runtime = fake(devarch)
    runtime.write_log(NAMES["web"], "web one")
    runtime.write_log(NAMES["cache"], "cache one")
    runtime.write_log(NAMES["db"], "db one")
    lines = list(devarch.logs("shop", ["db", "web", "db"]))
    assert [(x.instance, x.text) for x in lines] == [("web", "web one"), ("db", "db one")]
    with pytest.raises(NotFoundError, match="nope"):
        devarch.logs("shop", ["db", "nope"])


def test_logs_follow_interleaves_and_ends_when_every_container_stops(devarch):
    """Following the stack yields new lines of any instance, and ends once all have stopped."""
    runtime = fake(devarch)
    stream = devarch.logs("shop", follow=True, tail=0)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(f"{x.instance}:{x.text}" for x in stream))
    reader.start()
    runtime.write_log(NAMES["web"], "hello")
    runtime.write_log(NAMES["db"], "ready")
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(seen) == ["db:ready", "web:hello"]
    devarch.stop("shop")
    reader.join(5)
    assert not reader.is_alive()


def test_logs_close_ends_a_follower(devarch):
    """close() ends a follower of a quiet stack from another thread."""
    stream = devarch.logs("shop", follow=True)
    done = threading.Event()

    def read() -> None:
        list(stream)
        done.set()

    threading.Thread(target=read).start()
    time.sleep(0.05)
    assert not done.is_set()
    stream.close()
    assert done.wait(5)


@pytest.mark.parametrize("tail", [-1, True, 1.5, "3"])
def test_logs_refuse_a_bad_tail(devarch, tail):
    """A tail must be a whole number of lines, 0 or more."""
    with pytest.raises(ValidationError, match="tail: must be 0 or more"):
        devarch.logs("shop", tail=tail)


def test_logs_of_unknown_instances_are_not_found(devarch):
    """An unknown instance is NotFoundError listing the stack's instances."""
    with pytest.raises(NotFoundError, match="instances of shop: cache, db, web"):
        devarch.logs("shop", "nope")

"""The Store port's contract: one suite, subclassed once per implementation.

A subclass overrides the ``make_store`` fixture: it returns a callable that opens a store on the
same backing location each time it is called (so reopening can be tested), and cleans up after.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, ClassVar

import attrs
import pytest

from devarch_core import errors
from devarch_core.model import Instance, PortAllocation, Stack, Wire
from devarch_core.overrides import Overrides
from devarch_core.ports import AppliedRecord, SealedSecret, Store
from devarch_core.testing.contracts._threads import race

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from devarch_core.ports import StoreSession

ALL_OVERRIDES = {
    "image": "postgres:16",
    "command": ["postgres", "-c", "fsync=off"],
    "entrypoint": ["/bin/sh"],
    "working_dir": "/app",
    "user": "1000",
    "restart": "always",
    "environment": {"A": "1", "LEGACY": None},
    "secrets": ["DB_PASSWORD"],
    "labels": {"team": "shop", "old": None},
    "ports": [
        {"container": 5432, "host": 15432},
        {"container": 53, "protocol": "udp", "publish": False},
        {"container": 80, "remove": True},
        {"container": 8080, "host_ip": "0.0.0.0", "host": 18080},  # noqa: S104 - data only
    ],
    "volumes": [
        {"target": "/data", "source": "pgdata"},
        {"target": "/old", "remove": True},
        {"target": "/src", "source": "/home/u/src", "type": "bind", "read_only": True},
    ],
    "domains": ["shop.localhost", {"domain": "old.localhost", "remove": True}],
    "depends_on": ["db", {"instance": "cache", "remove": True}],
    "healthcheck": {"test": ["CMD", "pg_isready", "-U", "app"], "interval": "5s", "retries": 3},
    "config_files": [
        {"path": "/etc/app.conf", "content": "x = 1\nname = 'é'\n", "mode": "0640"},
        {"path": "/etc/old.conf", "remove": True},
    ],
    "resources": {"cpu_limit": "0.5", "memory_limit": "512m", "memory_reservation": "256m"},
}


def new_id() -> str:
    return uuid.uuid4().hex


def make_stack(name: str, **kw: object) -> Stack:
    return Stack(id=new_id(), name=name, created_at="2024-01-01T00:00:00Z", **kw)  # type: ignore[arg-type]


def make_instance(stack: Stack, name: str, **kw: object) -> Instance:
    values: dict[str, object] = {"template": "postgres", "template_version": "16.4"}
    values.update(kw)
    return Instance(id=new_id(), stack_id=stack.id, stack=stack.name, name=name, **values)  # type: ignore[arg-type]


def add_all(tx: StoreSession, stacks: Iterable[Stack], instances: Iterable[Instance] = ()) -> None:
    """Add ``stacks``, then ``instances``, in one session (test setup)."""
    for stack in stacks:
        tx.add_stack(stack)
    for inst in instances:
        tx.add_instance(inst)


def shop_and_blog() -> tuple[Stack, Stack, Instance, Instance, Instance]:
    """Stacks ``shop`` (instances ``db``, ``web``) and ``blog`` (``db``), not yet stored."""
    shop, blog = make_stack("shop"), make_stack("blog")
    return (
        shop,
        blog,
        make_instance(shop, "db"),
        make_instance(shop, "web"),
        make_instance(blog, "db"),
    )


def alloc(stack: Stack, inst: Instance, cport: int, hport: int, **kw: object) -> PortAllocation:
    return PortAllocation(
        stack=stack.name,
        instance=inst.name,
        container_port=cport,
        protocol=str(kw.get("protocol", "tcp")),
        host_port=hport,
        host_ip=str(kw.get("host_ip", "127.0.0.1")),
    )


class StoreContract:
    """Behaviour every ``Store`` implementation guarantees."""

    #: False for stores that keep nothing once closed (the in-memory fake).
    persistent: ClassVar[bool] = True

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        """Return a callable opening a store on one fresh backing location (override this)."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, make_store: Callable[[], Store]) -> Iterator[Store]:
        store = make_store()
        yield store
        store.close()

    def seed(self, store: Store) -> tuple[Stack, Instance]:
        """Stack ``shop`` with instance ``db``, a wire, a secret, an applied record and a port."""
        shop = make_stack("shop")
        db = make_instance(shop, "db")
        with store.transaction() as tx:
            tx.add_stack(shop)
            tx.add_instance(db)
            tx.put_wire(shop.id, Wire(consumer="web", import_name="db", provider="db"))
            tx.put_secret(
                SealedSecret(stack_id=shop.id, instance_id=db.id, name="PW", sealed=b"\x00DA1x")
            )
            tx.put_applied(
                AppliedRecord(instance_id=db.id, config_hash="h1", config={}, applied_at="t")
            )
            tx.put_port_allocation(db.id, alloc(shop, db, 5432, 15432))
        return shop, db

    # -- stacks ----------------------------------------------------------------------------------
    def test_store_satisfies_the_port_and_has_a_migrated_schema(self, store: Store) -> None:
        """A store is a runtime-checkable ``Store`` whose schema is migrated on open."""
        assert isinstance(store, Store)
        assert store.schema_version() >= 1
        assert isinstance(store.url, str)

    def test_added_stack_reads_back_equal(self, store: Store) -> None:
        """A stack added in one transaction is found by name in the next, field for field."""
        shop = make_stack("shop", description="Shop", network="custom-net", enabled=False)
        with store.transaction() as tx:
            tx.add_stack(shop)
        with store.transaction() as tx:
            assert tx.get_stack("shop") == shop
            assert tx.get_stack("nope") is None

    def test_stacks_are_listed_by_name(self, store: Store) -> None:
        """``list_stacks`` sorts by name in plain code-point order."""
        names = ["web", "a-b", "ab", "a", "a0", "b"]
        with store.transaction() as tx:
            for name in names:
                tx.add_stack(make_stack(name))
        with store.transaction() as tx:
            assert [s.name for s in tx.list_stacks()] == sorted(names)

    def test_update_stack_replaces_its_fields(self, store: Store) -> None:
        """``update_stack`` replaces description, network, enabled and timestamps."""
        shop = make_stack("shop")
        with store.transaction() as tx:
            tx.add_stack(shop)
        changed = attrs.evolve(shop, description="new", network="n", enabled=False, updated_at="u")
        with store.transaction() as tx:
            tx.update_stack(changed)
        with store.transaction() as tx:
            assert tx.get_stack("shop") == changed

    def test_update_stack_refuses_a_rename(self, store: Store) -> None:
        """A stack's name never changes: an update with another name is a ValidationError."""
        shop = make_stack("shop")
        with store.transaction() as tx:
            tx.add_stack(shop)
        with pytest.raises(errors.ValidationError, match="clone"), store.transaction() as tx:
            tx.update_stack(attrs.evolve(shop, name="other"))

    def test_update_of_a_missing_stack_is_not_found(self, store: Store) -> None:
        """Updating a stack that is not there raises NotFoundError."""
        with pytest.raises(errors.NotFoundError), store.transaction() as tx:
            tx.update_stack(make_stack("ghost"))

    def test_duplicate_stack_name_conflicts(self, store: Store) -> None:
        """Two stacks cannot share a name."""
        with store.transaction() as tx:
            tx.add_stack(make_stack("shop"))
        with (
            pytest.raises(errors.ConflictError, match="stack shop already exists"),
            store.transaction() as tx,
        ):
            tx.add_stack(make_stack("shop"))

    def test_delete_stack_cascades_to_everything_it_owns(self, store: Store) -> None:
        """Deleting a stack removes its instances, wires, secrets, applied records and ports."""
        shop, db = self.seed(store)
        with store.transaction() as tx:
            tx.delete_stack(shop.id)
            tx.delete_stack(shop.id)  # idempotent
        with store.transaction() as tx:
            assert tx.get_stack("shop") is None
            assert tx.list_instances(shop.id) == []
            assert tx.list_wires(shop.id) == []
            assert tx.list_secrets() == []
            assert tx.get_applied(db.id) is None
            assert tx.list_port_allocations() == []
            assert tx.find_container_name("devarch-shop-db") is None

    def test_deleted_stack_name_container_names_and_ports_are_reusable(self, store: Store) -> None:
        """After a delete the stack name, its container names and its host ports can be reused."""
        shop, _ = self.seed(store)
        with store.transaction() as tx:
            tx.delete_stack(shop.id)
        shop2, db2 = self.seed(store)
        with store.transaction() as tx:
            assert tx.get_stack("shop") == shop2
            assert tx.find_container_name("devarch-shop-db") == ("shop", "db")
            assert [a.host_port for a in tx.list_port_allocations()] == [15432]
            assert tx.get_instance(shop2.id, "db") == db2

    # -- instances -------------------------------------------------------------------------------
    def test_instance_crud(self, store: Store) -> None:
        """Instances are added, read back equal, listed by name, updated and deleted."""
        shop = make_stack("shop")
        web = make_instance(shop, "web", description="storefront", enabled=False)
        api = make_instance(shop, "api")
        with store.transaction() as tx:
            tx.add_stack(shop)
            tx.add_instance(web)
            tx.add_instance(api)
        with store.transaction() as tx:
            assert tx.get_instance(shop.id, "web") == web
            assert tx.get_instance(shop.id, "nope") is None
            assert tx.list_instances(shop.id) == [api, web]
            assert tx.list_instances("no-such-stack") == []
        changed = attrs.evolve(web, template_version="2", enabled=True, updated_at="later")
        with store.transaction() as tx:
            tx.update_instance(changed)
        with store.transaction() as tx:
            assert tx.get_instance(shop.id, "web") == changed
            tx.delete_instance(web.id)
            tx.delete_instance(web.id)
        with store.transaction() as tx:
            assert tx.list_instances(shop.id) == [api]

    def test_instance_in_a_missing_stack_is_not_found(self, store: Store) -> None:
        """Adding an instance to a stack that does not exist raises NotFoundError."""
        with pytest.raises(errors.NotFoundError), store.transaction() as tx:
            tx.add_instance(make_instance(make_stack("ghost"), "db"))

    def test_update_of_a_missing_instance_is_not_found(self, store: Store) -> None:
        """Updating an instance that is not there raises NotFoundError."""
        shop = make_stack("shop")
        with store.transaction() as tx:
            tx.add_stack(shop)
        with pytest.raises(errors.NotFoundError), store.transaction() as tx:
            tx.update_instance(make_instance(shop, "db"))

    def test_an_instance_cannot_move_to_another_stack(self, store: Store) -> None:
        """An update with another ``stack_id`` is a ValidationError and changes nothing."""
        shop, blog = make_stack("shop"), make_stack("blog")
        db = make_instance(shop, "db")
        with store.transaction() as tx:
            tx.add_stack(shop)
            tx.add_stack(blog)
            tx.add_instance(db)
        moved = attrs.evolve(db, stack_id=blog.id, stack=blog.name)
        with pytest.raises(errors.ValidationError), store.transaction() as tx:
            tx.update_instance(moved)
        with store.transaction() as tx:
            assert tx.get_instance(shop.id, "db") == db

    def test_instance_names_are_unique_within_a_stack_only(self, store: Store) -> None:
        """Two stacks may each have a ``db``; one stack may not have two."""
        shop, blog = make_stack("shop"), make_stack("blog")
        with store.transaction() as tx:
            tx.add_stack(shop)
            tx.add_stack(blog)
            tx.add_instance(make_instance(shop, "db"))
            tx.add_instance(make_instance(blog, "db"))
        with (
            pytest.raises(errors.ConflictError, match="instance db already exists in stack shop"),
            store.transaction() as tx,
        ):
            tx.add_instance(make_instance(shop, "db"))

    @pytest.mark.parametrize("first_is_long_stack", [True, False])
    def test_container_names_are_unique_across_stacks(
        self, store: Store, first_is_long_stack: bool
    ) -> None:
        """Stack ``a-b`` + ``c`` and stack ``a`` + ``b-c`` collide; the error names the other."""
        ab, a = make_stack("a-b"), make_stack("a")
        first, second = (
            (make_instance(ab, "c"), make_instance(a, "b-c"))
            if first_is_long_stack
            else (make_instance(a, "b-c"), make_instance(ab, "c"))
        )
        with store.transaction() as tx:
            tx.add_stack(ab)
            tx.add_stack(a)
            tx.add_instance(first)
        with pytest.raises(errors.ConflictError) as err, store.transaction() as tx:
            tx.add_instance(second)
        message = str(err.value)
        assert "devarch-a-b-c" in message
        assert f"instance {first.name} of stack {first.stack}" in message
        with store.transaction() as tx:
            assert tx.find_container_name("devarch-a-b-c") == (first.stack, first.name)

    def test_rename_keeps_the_id_and_everything_attached(self, store: Store) -> None:
        """A rename keeps the id, secrets, applied record and ports; the container follows."""
        shop, db = self.seed(store)
        renamed = attrs.evolve(db, name="pg")
        with store.transaction() as tx:
            tx.update_instance(renamed)
        with store.transaction() as tx:
            assert tx.get_instance(shop.id, "db") is None
            got = tx.get_instance(shop.id, "pg")
            assert got == renamed
            assert got is not None
            assert got.id == db.id
            assert tx.find_container_name("devarch-shop-pg") == ("shop", "pg")
            assert tx.find_container_name("devarch-shop-db") is None
            assert [s.name for s in tx.list_secrets(shop.id)] == ["PW"]
            assert tx.get_applied(db.id) is not None
            assert [(a.instance, a.host_port) for a in tx.list_port_allocations()] == [
                ("pg", 15432)
            ]

    def test_rename_into_a_taken_name_conflicts(self, store: Store) -> None:
        """A rename obeys the same uniqueness as an add: in the stack and across the store."""
        ab, a = make_stack("a-b"), make_stack("a")
        c, x, y = make_instance(ab, "c"), make_instance(a, "x"), make_instance(a, "y")
        with store.transaction() as tx:
            add_all(tx, (ab, a), (c, x, y))
        with (
            pytest.raises(errors.ConflictError, match="instance y already exists in stack a"),
            store.transaction() as tx,
        ):
            tx.update_instance(attrs.evolve(x, name="y"))
        with (
            pytest.raises(errors.ConflictError, match="instance c of stack a-b"),
            store.transaction() as tx,
        ):
            tx.update_instance(attrs.evolve(x, name="b-c"))
        with store.transaction() as tx:
            assert [i.name for i in tx.list_instances(a.id)] == ["x", "y"]

    def test_overrides_of_every_kind_round_trip(self, store: Store) -> None:
        """Overrides of every kind (ports, volumes, env removals, files...) read back equal."""
        shop = make_stack("shop")
        full = make_instance(shop, "full", overrides=Overrides.from_data(ALL_OVERRIDES))
        off = make_instance(shop, "off", overrides=Overrides.from_data({"healthcheck": "disable"}))
        empty = make_instance(shop, "empty")
        with store.transaction() as tx:
            tx.add_stack(shop)
            for i in (full, off, empty):
                tx.add_instance(i)
        with store.transaction() as tx:
            got = {i.name: i for i in tx.list_instances(shop.id)}
        assert got["full"].overrides == full.overrides
        assert got["full"].overrides.environment == {"A": "1", "LEGACY": None}
        assert got["off"].overrides.healthcheck_disabled
        assert got["empty"].overrides.is_empty()

    def test_find_container_name(self, store: Store) -> None:
        """``find_container_name`` tells which stack and instance own a container name."""
        self.seed(store)
        with store.transaction() as tx:
            assert tx.find_container_name("devarch-shop-db") == ("shop", "db")
            assert tx.find_container_name("devarch-shop-web") is None

    # -- wires -----------------------------------------------------------------------------------
    def test_wires_are_put_replaced_listed_and_deleted(self, store: Store) -> None:
        """Wires are keyed by (consumer, import), listed in that order, and deleted with a flag."""
        shop, blog = make_stack("shop"), make_stack("blog")
        with store.transaction() as tx:
            tx.add_stack(shop)
            tx.add_stack(blog)
            tx.put_wire(shop.id, Wire(consumer="web", import_name="db", provider="pg1"))
            tx.put_wire(shop.id, Wire(consumer="api", import_name="db", provider="pg1"))
            tx.put_wire(shop.id, Wire(consumer="web", import_name="cache", provider="redis"))
            tx.put_wire(blog.id, Wire(consumer="web", import_name="db", provider="pg9"))
            tx.put_wire(
                shop.id,
                Wire(consumer="web", import_name="db", provider="pg2", export_name="primary"),
            )
        with store.transaction() as tx:
            assert tx.list_wires(shop.id) == [
                Wire(consumer="api", import_name="db", provider="pg1"),
                Wire(consumer="web", import_name="cache", provider="redis"),
                Wire(consumer="web", import_name="db", provider="pg2", export_name="primary"),
            ]
            assert tx.delete_wire(shop.id, "web", "cache") is True
            assert tx.delete_wire(shop.id, "web", "cache") is False
            assert tx.delete_wire(shop.id, "web", "nope") is False
        with store.transaction() as tx:
            assert [w.consumer for w in tx.list_wires(shop.id)] == ["api", "web"]
            assert [w.provider for w in tx.list_wires(blog.id)] == ["pg9"]

    def test_a_wire_that_leaves_an_import_unwired_round_trips(self, store: Store) -> None:
        """A wire with ``provider=None`` (leave unwired) is stored and listed as such."""
        shop = make_stack("shop")
        with store.transaction() as tx:
            tx.add_stack(shop)
            tx.put_wire(shop.id, Wire(consumer="web", import_name="cache", provider="redis"))
            tx.put_wire(shop.id, Wire(consumer="web", import_name="cache", provider=None))
        with store.transaction() as tx:
            assert tx.list_wires(shop.id) == [
                Wire(consumer="web", import_name="cache", provider=None)
            ]

    def test_wire_in_a_missing_stack_is_not_found(self, store: Store) -> None:
        """A wire needs its stack."""
        with pytest.raises(errors.NotFoundError), store.transaction() as tx:
            tx.put_wire("no-such-stack", Wire(consumer="a", import_name="b", provider="c"))

    # -- secrets ---------------------------------------------------------------------------------
    def test_secrets_are_put_replaced_listed_and_deleted(self, store: Store) -> None:
        """Sealed bytes round-trip exactly; lists are per stack or store-wide, by instance, name."""
        shop, blog, db, web, bdb = shop_and_blog()
        raw = bytes(range(256))
        with store.transaction() as tx:
            add_all(tx, (shop, blog), (db, web, bdb))
            tx.put_secret(SealedSecret(stack_id=shop.id, instance_id=db.id, name="B", sealed=b"1"))
            tx.put_secret(SealedSecret(stack_id=shop.id, instance_id=db.id, name="A", sealed=raw))
            tx.put_secret(SealedSecret(stack_id=shop.id, instance_id=web.id, name="A", sealed=b"w"))
            tx.put_secret(SealedSecret(stack_id=blog.id, instance_id=bdb.id, name="A", sealed=b"b"))
            tx.put_secret(SealedSecret(stack_id=shop.id, instance_id=db.id, name="B", sealed=b"2"))
        with store.transaction() as tx:
            shop_secrets = tx.list_secrets(shop.id)
            assert [(s.instance_id, s.name) for s in shop_secrets] == sorted(
                [(db.id, "A"), (db.id, "B"), (web.id, "A")]
            )
            by_key = {(s.instance_id, s.name): s.sealed for s in shop_secrets}
            assert by_key[(db.id, "A")] == raw
            assert by_key[(db.id, "B")] == b"2"
            assert len(tx.list_secrets()) == 4
            assert tx.delete_secret(shop.id, db.id, "A") is True
            assert tx.delete_secret(shop.id, db.id, "A") is False
            assert tx.delete_secret(blog.id, db.id, "B") is False  # wrong stack
        with store.transaction() as tx:
            assert len(tx.list_secrets()) == 3

    def test_secret_of_a_missing_instance_is_not_found(self, store: Store) -> None:
        """A secret needs its stack and instance."""
        shop = make_stack("shop")
        with store.transaction() as tx:
            tx.add_stack(shop)
        with pytest.raises(errors.NotFoundError), store.transaction() as tx:
            tx.put_secret(SealedSecret(stack_id=shop.id, instance_id="nope", name="A", sealed=b"x"))

    def test_delete_instance_removes_its_secrets_applied_record_and_ports(
        self, store: Store
    ) -> None:
        """Deleting an instance takes its secrets, applied record and port allocations with it."""
        shop, db = self.seed(store)
        with store.transaction() as tx:
            tx.delete_instance(db.id)
        with store.transaction() as tx:
            assert tx.list_secrets() == []
            assert tx.get_applied(db.id) is None
            assert tx.list_port_allocations() == []
            assert len(tx.list_wires(shop.id)) == 1  # wires are the stack's, named by instance

    # -- applied ---------------------------------------------------------------------------------
    def test_applied_records_are_put_replaced_and_deleted(self, store: Store) -> None:
        """A nested JSON config reads back equal; put replaces; delete is idempotent."""
        shop = make_stack("shop")
        db = make_instance(shop, "db")
        config = {
            "image": {"value": "postgres:16", "source": "template"},
            "environment.PW": {"value": "hmac:abc", "source": "user", "secret": True},
            "ports": {"value": [{"container": 5432, "host": None}], "source": "template"},
            "cpu": {"value": 0.5, "source": "user"},
        }
        with store.transaction() as tx:
            tx.add_stack(shop)
            tx.add_instance(db)
            assert tx.get_applied(db.id) is None
            tx.put_applied(
                AppliedRecord(instance_id=db.id, config_hash="h1", config={}, applied_at="t1")
            )
            tx.put_applied(
                AppliedRecord(instance_id=db.id, config_hash="h2", config=config, applied_at="t2")
            )
        with store.transaction() as tx:
            assert tx.get_applied(db.id) == AppliedRecord(
                instance_id=db.id, config_hash="h2", config=config, applied_at="t2"
            )
            tx.delete_applied(db.id)
            tx.delete_applied(db.id)
        with store.transaction() as tx:
            assert tx.get_applied(db.id) is None

    def test_applied_records_are_listed_per_stack(self, store: Store) -> None:
        """``list_applied`` gives the stack's records (only its), by instance id, as get does."""
        shop, blog = make_stack("shop"), make_stack("blog")
        db, web, idle = (
            make_instance(shop, "db"),
            make_instance(shop, "web"),
            make_instance(shop, "x"),
        )
        other = make_instance(blog, "db")
        with store.transaction() as tx:
            add_all(tx, (shop, blog), (db, web, idle, other))
            assert tx.list_applied(shop.id) == []
            for inst, config in ((web, {"a": [1, {"b": None}]}), (db, {}), (other, {"c": 1})):
                tx.put_applied(
                    AppliedRecord(
                        instance_id=inst.id, config_hash="h", config=config, applied_at="t"
                    )
                )
        with store.transaction() as tx:
            listed = tx.list_applied(shop.id)
            assert [r.instance_id for r in listed] == sorted([db.id, web.id])
            assert listed == [tx.get_applied(r.instance_id) for r in listed]
            assert tx.list_applied(blog.id) == [tx.get_applied(other.id)]
            assert tx.list_applied("no-such-stack") == []
            tx.delete_instance(web.id)
        with store.transaction() as tx:
            assert [r.instance_id for r in tx.list_applied(shop.id)] == [db.id]

    def test_applied_config_must_be_json_data(self, store: Store) -> None:
        """A config that is not plain JSON data is refused with StoreError."""
        shop = make_stack("shop")
        db = make_instance(shop, "db")
        with store.transaction() as tx:
            tx.add_stack(shop)
            tx.add_instance(db)
        with pytest.raises(errors.StoreError), store.transaction() as tx:
            tx.put_applied(
                AppliedRecord(
                    instance_id=db.id, config_hash="h", config={"x": object()}, applied_at="t"
                )
            )

    def test_applied_record_of_a_missing_instance_is_not_found(self, store: Store) -> None:
        """An applied record needs its instance."""
        with pytest.raises(errors.NotFoundError), store.transaction() as tx:
            tx.put_applied(
                AppliedRecord(instance_id="nope", config_hash="h", config={}, applied_at="t")
            )

    # -- ports -----------------------------------------------------------------------------------
    def test_port_allocations_are_put_replaced_listed_and_deleted(self, store: Store) -> None:
        """Allocations are keyed by (instance, port, protocol), listed by stack, instance, port."""
        shop, blog, db, web, bdb = shop_and_blog()
        with store.transaction() as tx:
            add_all(tx, (shop, blog), (db, web, bdb))
            tx.put_port_allocation(web.id, alloc(shop, web, 8080, 18080))
            tx.put_port_allocation(web.id, alloc(shop, web, 80, 18081))
            tx.put_port_allocation(db.id, alloc(shop, db, 5432, 15432))
            tx.put_port_allocation(db.id, alloc(shop, db, 5432, 15499, protocol="udp"))
            tx.put_port_allocation(bdb.id, alloc(blog, bdb, 5432, 25432))
            tx.put_port_allocation(db.id, alloc(shop, db, 5432, 15433))  # replaces
        with store.transaction() as tx:
            assert tx.list_port_allocations(shop.id) == [
                alloc(shop, db, 5432, 15433),
                alloc(shop, db, 5432, 15499, protocol="udp"),
                alloc(shop, web, 80, 18081),
                alloc(shop, web, 8080, 18080),
            ]
            assert [(a.stack, a.host_port) for a in tx.list_port_allocations()] == [
                ("blog", 25432),
                ("shop", 15433),
                ("shop", 15499),
                ("shop", 18081),
                ("shop", 18080),
            ]
            tx.delete_port_allocation(db.id, 5432, "udp")
            tx.delete_port_allocation(db.id, 5432, "udp")
        with store.transaction() as tx:
            assert len(tx.list_port_allocations(shop.id)) == 3
            # the freed port is free for anyone
            tx.put_port_allocation(bdb.id, alloc(blog, bdb, 53, 15499, protocol="udp"))

    def test_host_port_is_unique_across_the_store(self, store: Store) -> None:
        """A host port held by another instance conflicts, naming that stack and instance."""
        shop, db = self.seed(store)
        blog = make_stack("blog")
        web = make_instance(blog, "web")
        with store.transaction() as tx:
            tx.add_stack(blog)
            tx.add_instance(web)
        with pytest.raises(errors.PortConflictError) as err, store.transaction() as tx:
            tx.put_port_allocation(web.id, alloc(blog, web, 80, 15432))
        assert "127.0.0.1:15432/tcp" in str(err.value)
        assert "instance db of stack shop" in str(err.value)
        # same instance, another container port: still taken
        with pytest.raises(errors.PortConflictError), store.transaction() as tx:
            tx.put_port_allocation(db.id, alloc(shop, db, 9999, 15432))
        # another protocol or another host ip is a different host port
        with store.transaction() as tx:
            tx.put_port_allocation(web.id, alloc(blog, web, 80, 15432, protocol="udp"))
            tx.put_port_allocation(web.id, alloc(blog, web, 81, 15432, host_ip="127.0.0.2"))
        with store.transaction() as tx:
            assert len(tx.list_port_allocations()) == 3

    def test_port_allocation_of_a_missing_instance_is_not_found(self, store: Store) -> None:
        """An allocation needs its instance."""
        shop = make_stack("shop")
        with pytest.raises(errors.NotFoundError), store.transaction() as tx:
            tx.put_port_allocation("nope", alloc(shop, make_instance(shop, "x"), 80, 8080))

    # -- meta ------------------------------------------------------------------------------------
    def test_meta_values_are_set_replaced_and_read(self, store: Store) -> None:
        """Metadata is a string map with insert-or-replace."""
        with store.transaction() as tx:
            assert tx.get_meta("owner") is None
            tx.set_meta("owner", "a")
            tx.set_meta("owner", "b")
            tx.set_meta("other", "")
        with store.transaction() as tx:
            assert tx.get_meta("owner") == "b"
            assert tx.get_meta("other") == ""

    # -- transactions ----------------------------------------------------------------------------
    def test_exception_rolls_back_the_whole_transaction(self, store: Store) -> None:
        """An exception in the block leaves the store exactly as it was."""
        shop, db = self.seed(store)
        blog = make_stack("blog")

        class BoomError(Exception):
            pass

        with pytest.raises(BoomError), store.transaction() as tx:  # noqa: PT012 - a whole block
            tx.add_stack(blog)
            tx.add_instance(make_instance(blog, "web"))
            tx.update_stack(attrs.evolve(shop, description="changed"))
            tx.delete_instance(db.id)
            tx.set_meta("k", "v")
            raise BoomError
        with store.transaction() as tx:
            assert [s.name for s in tx.list_stacks()] == ["shop"]
            assert tx.get_stack("shop") == shop
            assert tx.get_instance(shop.id, "db") == db
            assert len(tx.list_secrets()) == 1
            assert tx.get_meta("k") is None

    def test_conflict_mid_transaction_rolls_back_earlier_writes(self, store: Store) -> None:
        """A ConflictError escaping the block undoes the writes made before it."""
        self.seed(store)
        with pytest.raises(errors.ConflictError), store.transaction() as tx:  # noqa: PT012 - a whole block
            tx.add_stack(make_stack("blog"))
            tx.set_meta("k", "v")
            tx.add_stack(make_stack("shop"))
        with store.transaction() as tx:
            assert [s.name for s in tx.list_stacks()] == ["shop"]
            assert tx.get_meta("k") is None

    def test_a_caught_conflict_leaves_the_transaction_usable(self, store: Store) -> None:
        """A refused write changes nothing; the rest of the transaction still commits."""
        self.seed(store)
        with store.transaction() as tx:
            tx.add_stack(make_stack("blog"))
            with pytest.raises(errors.ConflictError):
                tx.add_stack(make_stack("shop"))
            tx.set_meta("k", "v")
        with store.transaction() as tx:
            assert [s.name for s in tx.list_stacks()] == ["blog", "shop"]
            assert tx.get_meta("k") == "v"

    def test_session_is_unusable_after_its_transaction(self, store: Store) -> None:
        """Using a session after its block ended raises StoreError instead of writing nowhere."""
        with store.transaction() as tx:
            pass
        with pytest.raises(errors.StoreError):
            tx.list_stacks()

    def test_transactions_do_not_nest(self, store: Store) -> None:
        """Opening a transaction inside another on the same thread raises StoreError at once."""
        with store.transaction(), pytest.raises(errors.StoreError, match="nest"):
            store.transaction().__enter__()
        with store.transaction() as tx:
            assert tx.list_stacks() == []

    def test_racing_sessions_cannot_both_take_a_name(self, store: Store) -> None:
        """Eight threads add the same stack name at once: exactly one wins, the rest conflict."""
        results: list[str] = []

        def attempt(_: int) -> None:
            try:
                with store.transaction() as tx:
                    tx.add_stack(make_stack("race"))
                results.append("won")
            except errors.ConflictError:
                results.append("conflict")

        race(8, attempt)
        assert sorted(results) == ["conflict"] * 7 + ["won"]

    def test_lock_secrets_holds_off_other_secret_writers_until_commit(
        self, store: Store, make_store: Callable[[], Store]
    ) -> None:
        """A secret writer waits for the transaction holding lock_secrets to end.

        The writer (another store handle, as another process would be) then reads the key id
        that transaction committed.
        """
        shop, db = self.seed(store)
        other = make_store() if self.persistent else store
        events: list[str] = []
        seen: list[str | None] = []
        locked = threading.Event()

        def writer() -> None:
            locked.wait(30)
            with other.transaction() as tx:
                tx.lock_secrets()
                seen.append(tx.get_meta("secret_key_id"))
                tx.put_secret(
                    SealedSecret(stack_id=shop.id, instance_id=db.id, name="PW", sealed=b"new")
                )
                events.append("writer")

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            with store.transaction() as tx:
                tx.lock_secrets()
                locked.set()
                thread.join(0.5)  # the writer must still be waiting
                tx.put_secret(
                    SealedSecret(stack_id=shop.id, instance_id=db.id, name="PW", sealed=b"first")
                )
                tx.set_meta("secret_key_id", "k2")
                events.append("locker")
        finally:
            thread.join(60)
            if other is not store:
                other.close()
        assert events == ["locker", "writer"]
        assert seen == ["k2"]
        with store.transaction() as tx:
            assert tx.list_secrets()[0].sealed == b"new"

    def test_closed_store_refuses_transactions(self, make_store: Callable[[], Store]) -> None:
        """After ``close()`` (idempotent) a transaction raises StoreError."""
        store = make_store()
        store.close()
        store.close()
        with pytest.raises(errors.StoreError), store.transaction():
            pass

    def test_data_survives_reopening_the_store(self, make_store: Callable[[], Store]) -> None:
        """What one store object committed, a newly opened one on the same location reads back."""
        if not self.persistent:
            pytest.skip("this store keeps nothing once closed")
        first = make_store()
        shop, db = self.seed(first)
        full = make_instance(shop, "full", overrides=Overrides.from_data(ALL_OVERRIDES))
        with first.transaction() as tx:
            tx.add_instance(full)
            tx.set_meta("owner", "me")
        first.close()
        second = make_store()
        try:
            assert second.schema_version() >= 1
            with second.transaction() as tx:
                assert tx.get_stack("shop") == shop
                assert tx.get_instance(shop.id, "db") == db
                assert tx.get_instance(shop.id, "full") == full
                assert tx.list_secrets()[0].sealed == b"\x00DA1x"
                assert tx.get_applied(db.id) is not None
                assert len(tx.list_port_allocations()) == 1
                assert tx.get_meta("owner") == "me"
        finally:
            second.close()

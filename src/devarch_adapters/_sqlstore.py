"""The ``StoreSession`` shared by the SQLite and PostgreSQL stores.

Both schemas have the same tables, keys and UNIQUE constraints, so one session class speaks to
both through a small :class:`Driver` (placeholders, JSON columns, error classification). The
database enforces uniqueness (two racing sessions cannot both win); when it refuses a write, the
session looks up the other owner and raises ``ConflictError`` naming it. Each write runs in a
savepoint, so a refused write leaves the transaction usable (PostgreSQL would otherwise abort it).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from devarch_core._convert import row as to_row
from devarch_core._convert import structure_row
from devarch_core.errors import (
    ConflictError,
    NotFoundError,
    PortConflictError,
    StoreError,
    ValidationError,
)
from devarch_core.model import Engine, Instance, PortAllocation, Stack, Wire
from devarch_core.naming import container_name
from devarch_core.ports import AppliedRecord, SealedSecret

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from contextlib import AbstractContextManager

    from devarch_core.overrides import Overrides

__all__ = ["Driver", "SqlSession", "dump_json", "open_session", "pending_migrations"]

Row = tuple[Any, ...]
Conn = TypeVar("Conn")


class Driver(Protocol):
    """What :class:`SqlSession` needs from one open connection inside a transaction."""

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Run a statement written with ``?`` placeholders; return its rows."""
        ...

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run a statement written with ``?`` placeholders; return the affected row count."""
        ...

    def json_param(self, value: object) -> object:
        """Adapt plain data for a JSON column."""
        ...

    def json_value(self, raw: object) -> Any:  # noqa: ANN401 - JSON is any plain data
        """Read a JSON column back into plain data."""
        ...

    def violation(self, exc: Exception) -> str | None:
        """Classify ``exc``: ``"unique"``, ``"foreign_key"`` or None (another error)."""
        ...

    def lock_table(self, table: str) -> None:
        """Keep other transactions from writing ``table`` until this one ends.

        See ``StoreSession.lock_secrets``; a no-op where write transactions are serialized.
        """
        ...

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """The driver's exception classes."""
        ...


def dump_json(value: object) -> str:
    """Canonical JSON text; ``StoreError`` if ``value`` is not plain data."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot store a value that is not JSON data: {exc}") from exc


_STACK_COLUMNS = "id, name, description, network, enabled, created_at, updated_at, engine"
_ENGINE_COLUMNS = "name, kind, endpoint, context, host, options, created_at"
_INSTANCE_SELECT = (
    "SELECT i.id, i.stack_id, s.name, i.name, i.template, i.template_version, i.description,"
    " i.enabled, i.overrides, i.created_at, i.updated_at"
    " FROM instances i JOIN stacks s ON s.id = i.stack_id"
)
#: Attribute names of the selected columns, in order: a row becomes its value through the
#: converter (``devarch_core._convert.structure_row``).
_STACK_FIELDS = tuple(_STACK_COLUMNS.split(", "))
_INSTANCE_FIELDS = (
    "id",
    "stack_id",
    "stack",
    "name",
    "template",
    "template_version",
    "description",
    "enabled",
    "overrides",
    "created_at",
    "updated_at",
)
_PORT_FIELDS = ("stack", "instance", "container_port", "protocol", "host_port", "host_ip")
_PORT_SELECT = (
    "SELECT s.name, i.name, p.container_port, p.protocol, p.host_port, p.host_ip"
    " FROM port_allocations p JOIN instances i ON i.id = p.instance_id"
    " JOIN stacks s ON s.id = i.stack_id"
)


#: Overrides already parsed, by their stored JSON text: reading a stack parses each distinct
#: value once, not once per row and transaction (a parse is most of the cost of reading an
#: instance). ``Overrides`` values are immutable, so rows may share one. Emptied when full.
_PARSED_OVERRIDES: dict[str, Overrides] = {}
_PARSED_OVERRIDES_MAX = 4096


def pending_migrations(
    migrations: Sequence[tuple[int, str]], current: int, url: str
) -> list[tuple[int, str]]:
    """The ``(version, script)`` pairs above ``current``, in order.

    ``StoreError`` when the store's schema is newer than this devarch knows (a downgrade).
    """
    latest = migrations[-1][0]
    if current > latest:
        raise StoreError(
            f"store {url} has schema version {current}, newer than this devarch "
            f"supports ({latest}); upgrade devarch"
        )
    return [(version, script) for version, script in migrations if version > current]


@contextmanager
def open_session(
    transaction: AbstractContextManager[Conn], driver: Callable[[Conn], Driver]
) -> Iterator[SqlSession]:
    """One transaction's session over ``driver(connection)``; unusable once the transaction ends."""
    with transaction as conn:
        session = SqlSession(driver(conn))
        try:
            yield session
        finally:
            session.end()


class SqlSession:
    """One transaction of a SQL store (see ``StoreSession`` for the contract)."""

    def __init__(self, driver: Driver) -> None:
        self._driver: Driver | None = driver

    def end(self) -> None:
        """Make the session unusable once its transaction is over."""
        self._driver = None

    @property
    def _d(self) -> Driver:
        if self._driver is None:
            raise StoreError("the transaction is over; open a new one with store.transaction()")
        return self._driver

    def _write(
        self,
        sql: str,
        params: Sequence[object],
        conflict: Callable[[], str],
        error: Callable[[str], ConflictError] = ConflictError,
    ) -> int:
        d = self._d
        d.run("SAVEPOINT devarch_write")
        try:
            count = d.run(sql, params)
        except d.errors as exc:
            kind = d.violation(exc)
            d.run("ROLLBACK TO SAVEPOINT devarch_write")
            d.run("RELEASE SAVEPOINT devarch_write")
            if kind == "unique":
                raise error(conflict()) from exc
            if kind == "foreign_key":
                raise NotFoundError(
                    "stack or instance", str(params[0]), hint="it was deleted"
                ) from exc
            raise
        d.run("RELEASE SAVEPOINT devarch_write")
        return count

    def _one(self, sql: str, params: Sequence[object]) -> Row | None:
        rows = self._d.query(sql, params)
        return rows[0] if rows else None

    # -- stacks ----------------------------------------------------------------------------------
    @staticmethod
    def _stack(row: Row) -> Stack:
        return structure_row(dict(zip(_STACK_FIELDS, row, strict=True)), Stack)

    def get_stack(self, name: str) -> Stack | None:
        """Return the stack called ``name``, or None."""
        row = self._one(f"SELECT {_STACK_COLUMNS} FROM stacks WHERE name = ?", (name,))  # noqa: S608
        return None if row is None else self._stack(row)

    def list_stacks(self) -> list[Stack]:
        """Every stack, by name."""
        rows = self._d.query(f"SELECT {_STACK_COLUMNS} FROM stacks ORDER BY name")  # noqa: S608
        return [self._stack(r) for r in rows]

    def _stack_name(self, stack_id: str) -> str | None:
        row = self._one("SELECT name FROM stacks WHERE id = ?", (stack_id,))
        return None if row is None else str(row[0])

    def add_stack(self, stack: Stack) -> None:
        """Insert a stack; ``ConflictError`` if the name (or id) is taken."""

        def conflict() -> str:
            if self.get_stack(stack.name) is not None:
                return f"stack {stack.name} already exists"
            return f"stack id {stack.id} already exists"

        columns = to_row(stack)
        self._write(
            f"INSERT INTO stacks ({_STACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            tuple(columns[name] for name in _STACK_FIELDS),
            conflict,
        )

    def update_stack(self, stack: Stack) -> None:
        """Replace the stack with the same id; its name never changes.

        A new engine takes the stack's host port allocations along, in the same transaction.
        """
        row = self._one("SELECT name, engine FROM stacks WHERE id = ?", (stack.id,))
        if row is None:
            raise NotFoundError("stack", stack.name)
        old = str(row[0])
        if old != stack.name:
            raise ValidationError(
                f"stack {old} cannot be renamed to {stack.name}; clone it and delete the original",
                what="invalid stack update",
            )
        if stack.engine is not None and self.get_engine(stack.engine) is None:
            raise NotFoundError("engine", stack.engine)
        if row[1] != stack.engine:

            def conflict() -> str:
                return (
                    f"a host port of stack {stack.name} is already allocated on engine "
                    f"{stack.engine}; pin another host port for it"
                )

            self._write(
                "UPDATE port_allocations SET engine = ?"
                " WHERE instance_id IN (SELECT id FROM instances WHERE stack_id = ?)",
                (stack.engine or "", stack.id),
                conflict,
                PortConflictError,
            )
        self._d.run(
            "UPDATE stacks SET description = ?, network = ?, enabled = ?, created_at = ?,"
            " updated_at = ?, engine = ? WHERE id = ?",
            (
                stack.description,
                stack.network,
                stack.enabled,
                stack.created_at,
                stack.updated_at,
                stack.engine,
                stack.id,
            ),
        )

    def delete_stack(self, stack_id: str) -> None:
        """Delete the stack; the schema cascades to everything it owns."""
        self._d.run("DELETE FROM stacks WHERE id = ?", (stack_id,))

    # -- instances -------------------------------------------------------------------------------
    def _instance(self, row: Row) -> Instance:
        columns = dict(zip(_INSTANCE_FIELDS, row, strict=True))
        raw = columns["overrides"]
        key = raw if isinstance(raw, str) else dump_json(raw)
        parsed = _PARSED_OVERRIDES.get(key)
        if parsed is not None:
            columns["overrides"] = parsed
            return structure_row(columns, Instance)
        columns["overrides"] = self._d.json_value(raw)
        instance = structure_row(columns, Instance)
        if len(_PARSED_OVERRIDES) >= _PARSED_OVERRIDES_MAX:
            _PARSED_OVERRIDES.clear()
        _PARSED_OVERRIDES[key] = instance.overrides
        return instance

    def list_instances(self, stack_id: str) -> list[Instance]:
        """Return the stack's instances, by name."""
        rows = self._d.query(
            f"{_INSTANCE_SELECT} WHERE i.stack_id = ? ORDER BY i.name", (stack_id,)
        )
        return [self._instance(r) for r in rows]

    def get_instance(self, stack_id: str, name: str) -> Instance | None:
        """Return the instance called ``name`` in the stack, or None."""
        row = self._one(f"{_INSTANCE_SELECT} WHERE i.stack_id = ? AND i.name = ?", (stack_id, name))
        return None if row is None else self._instance(row)

    def _instance_conflict(self, instance: Instance, stack: str) -> Callable[[], str]:
        def conflict() -> str:
            same = self._one(
                "SELECT id FROM instances WHERE stack_id = ? AND name = ? AND id <> ?",
                (instance.stack_id, instance.name, instance.id),
            )
            if same is not None:
                return f"instance {instance.name} already exists in stack {stack}"
            cname = container_name(stack, instance.name)
            other = self._one(
                "SELECT s.name, i.name FROM instances i JOIN stacks s ON s.id = i.stack_id"
                " WHERE i.container_name = ? AND i.id <> ?",
                (cname, instance.id),
            )
            if other is not None:
                return (
                    f"container name {cname} is already used by "
                    f"instance {other[1]} of stack {other[0]}"
                )
            return f"instance id {instance.id} already exists"

        return conflict

    def _instance_params(self, instance: Instance, stack: str) -> tuple[object, ...]:
        columns = to_row(instance)
        return (
            columns["name"],
            container_name(stack, instance.name),
            columns["template"],
            columns["template_version"],
            columns["description"],
            columns["enabled"],
            self._d.json_param(columns["overrides"]),
            columns["created_at"],
            columns["updated_at"],
        )

    def add_instance(self, instance: Instance) -> None:
        """Insert an instance; ``ConflictError`` naming the other owner of its name."""
        stack = self._stack_name(instance.stack_id)
        if stack is None:
            raise NotFoundError("stack", instance.stack or instance.stack_id)
        self._write(
            "INSERT INTO instances (id, stack_id, name, container_name, template, template_version,"
            " description, enabled, overrides, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (instance.id, instance.stack_id, *self._instance_params(instance, stack)),
            self._instance_conflict(instance, stack),
        )

    def update_instance(self, instance: Instance) -> None:
        """Replace the instance with the same id (a rename is allowed)."""
        row = self._one(
            "SELECT i.stack_id, s.name, i.name FROM instances i JOIN stacks s ON s.id = i.stack_id"
            " WHERE i.id = ?",
            (instance.id,),
        )
        if row is None:
            raise NotFoundError("instance", instance.name)
        if row[0] != instance.stack_id:
            raise ValidationError(
                f"instance {row[2]} cannot move to another stack", what="invalid instance update"
            )
        stack = str(row[1])
        self._write(
            "UPDATE instances SET name = ?, container_name = ?, template = ?, template_version = ?,"
            " description = ?, enabled = ?, overrides = ?, created_at = ?, updated_at = ?"
            " WHERE id = ?",
            (*self._instance_params(instance, stack), instance.id),
            self._instance_conflict(instance, stack),
        )

    def delete_instance(self, instance_id: str) -> None:
        """Delete the instance; the schema cascades to its secrets, applied record and ports."""
        self._d.run("DELETE FROM instances WHERE id = ?", (instance_id,))

    def find_container_name(self, container_name: str) -> tuple[str, str] | None:
        """``(stack, instance)`` owning the container name, or None."""
        row = self._one(
            "SELECT s.name, i.name FROM instances i JOIN stacks s ON s.id = i.stack_id"
            " WHERE i.container_name = ?",
            (container_name,),
        )
        return None if row is None else (str(row[0]), str(row[1]))

    # -- wires -----------------------------------------------------------------------------------
    def list_wires(self, stack_id: str) -> list[Wire]:
        """Return the stack's explicit wires, by (consumer, import)."""
        rows = self._d.query(
            "SELECT consumer, import_name, provider, export_name FROM wires WHERE stack_id = ?"
            " ORDER BY consumer, import_name",
            (stack_id,),
        )
        # An empty provider is a wire that leaves its import unwired (Wire.provider None); no
        # instance can be called "", so the column keeps its NOT NULL and needs no migration.
        names = ("consumer", "import_name", "provider", "export_name")
        return [
            structure_row({**dict(zip(names, r, strict=True)), "provider": r[2] or None}, Wire)
            for r in rows
        ]

    def put_wire(self, stack_id: str, wire: Wire) -> None:
        """Insert or replace the wire for (consumer, import_name)."""
        if self._stack_name(stack_id) is None:
            raise NotFoundError("stack", stack_id)
        self._d.run(
            "INSERT INTO wires (stack_id, consumer, import_name, provider, export_name)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (stack_id, consumer, import_name)"
            " DO UPDATE SET provider = excluded.provider, export_name = excluded.export_name",
            (stack_id, wire.consumer, wire.import_name, wire.provider or "", wire.export_name),
        )

    def delete_wire(self, stack_id: str, consumer: str, import_name: str) -> bool:
        """Delete one wire; False if there was none."""
        count = self._d.run(
            "DELETE FROM wires WHERE stack_id = ? AND consumer = ? AND import_name = ?",
            (stack_id, consumer, import_name),
        )
        return count > 0

    # -- secrets ---------------------------------------------------------------------------------
    def list_secrets(self, stack_id: str | None = None) -> list[SealedSecret]:
        """Sealed secrets of a stack (or of the store), by (instance_id, name)."""
        sql = "SELECT stack_id, instance_id, name, sealed FROM secrets"
        params: tuple[object, ...] = ()
        if stack_id is not None:
            sql += " WHERE stack_id = ?"
            params = (stack_id,)
        rows = self._d.query(sql + " ORDER BY instance_id, name", params)
        names = ("stack_id", "instance_id", "name", "sealed")
        return [structure_row(dict(zip(names, r, strict=True)), SealedSecret) for r in rows]

    def put_secret(self, secret: SealedSecret) -> None:
        """Insert or replace one sealed secret."""
        if self._stack_name(secret.stack_id) is None:
            raise NotFoundError("stack", secret.stack_id)
        if self._one("SELECT id FROM instances WHERE id = ?", (secret.instance_id,)) is None:
            raise NotFoundError("instance", secret.instance_id)
        self._d.run(
            "INSERT INTO secrets (stack_id, instance_id, name, sealed) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (instance_id, name)"
            " DO UPDATE SET stack_id = excluded.stack_id, sealed = excluded.sealed",
            (secret.stack_id, secret.instance_id, secret.name, bytes(secret.sealed)),
        )

    def delete_secret(self, stack_id: str, instance_id: str, name: str) -> bool:
        """Delete one secret; False if there was none."""
        count = self._d.run(
            "DELETE FROM secrets WHERE stack_id = ? AND instance_id = ? AND name = ?",
            (stack_id, instance_id, name),
        )
        return count > 0

    def lock_secrets(self) -> None:
        """Hold the secret lock until the transaction ends (see ``StoreSession.lock_secrets``)."""
        self._d.lock_table("secrets")

    # -- applied ---------------------------------------------------------------------------------
    def get_applied(self, instance_id: str) -> AppliedRecord | None:
        """Return the last applied record of an instance, or None."""
        row = self._one(
            "SELECT config_hash, config, applied_at FROM applied WHERE instance_id = ?",
            (instance_id,),
        )
        if row is None:
            return None
        columns = {
            "instance_id": instance_id,
            "config_hash": row[0],
            "config": self._d.json_value(row[1]),
            "applied_at": row[2],
        }
        return structure_row(columns, AppliedRecord)

    def list_applied(self, stack_id: str) -> list[AppliedRecord]:
        """The applied records of a stack's instances, by instance id."""
        rows = self._d.query(
            "SELECT a.instance_id, a.config_hash, a.config, a.applied_at FROM applied a"
            " JOIN instances i ON i.id = a.instance_id WHERE i.stack_id = ?"
            " ORDER BY a.instance_id",
            (stack_id,),
        )
        return [
            structure_row(
                {
                    "instance_id": r[0],
                    "config_hash": r[1],
                    "config": self._d.json_value(r[2]),
                    "applied_at": r[3],
                },
                AppliedRecord,
            )
            for r in rows
        ]

    def put_applied(self, record: AppliedRecord) -> None:
        """Insert or replace the applied record of ``record.instance_id``."""
        if self._one("SELECT id FROM instances WHERE id = ?", (record.instance_id,)) is None:
            raise NotFoundError("instance", record.instance_id)
        dump_json(dict(record.config))  # refuse what is not plain data, as every store does
        self._d.run(
            "INSERT INTO applied (instance_id, config_hash, config, applied_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (instance_id) DO UPDATE SET config_hash = excluded.config_hash,"
            " config = excluded.config, applied_at = excluded.applied_at",
            (
                record.instance_id,
                record.config_hash,
                self._d.json_param(dict(record.config)),
                record.applied_at,
            ),
        )

    def delete_applied(self, instance_id: str) -> None:
        """Forget what was applied for an instance. Idempotent."""
        self._d.run("DELETE FROM applied WHERE instance_id = ?", (instance_id,))

    # -- ports -----------------------------------------------------------------------------------
    def list_port_allocations(self, stack_id: str | None = None) -> list[PortAllocation]:
        """Allocations of a stack (or of the store), by (stack, instance, port)."""
        sql = _PORT_SELECT
        params: tuple[object, ...] = ()
        if stack_id is not None:
            sql += " WHERE i.stack_id = ?"
            params = (stack_id,)
        rows = self._d.query(sql + " ORDER BY s.name, i.name, p.container_port, p.protocol", params)
        return [
            structure_row(dict(zip(_PORT_FIELDS, r, strict=True)), PortAllocation) for r in rows
        ]

    def put_port_allocation(self, instance_id: str, allocation: PortAllocation) -> None:
        """Insert or replace one allocation; ``PortConflictError`` naming the host port's owner."""
        if self._one("SELECT id FROM instances WHERE id = ?", (instance_id,)) is None:
            raise NotFoundError("instance", instance_id)
        a = allocation
        row = self._one(
            "SELECT s.engine FROM instances i JOIN stacks s ON s.id = i.stack_id WHERE i.id = ?",
            (instance_id,),
        )
        engine = str(row[0] or "") if row else ""

        def conflict() -> str:
            other = self._one(
                f"{_PORT_SELECT} WHERE p.host_ip = ? AND p.host_port = ? AND p.protocol = ?"
                " AND p.engine = ?",
                (a.host_ip, a.host_port, a.protocol, engine),
            )
            where = f"{a.host_ip}:{a.host_port}/{a.protocol}"
            if other is None:  # pragma: no cover - only if the owner vanished in between
                return f"host port {where} is already allocated"
            return (
                f"host port {where} is already allocated to instance {other[1]} of stack "
                f"{other[0]} (container port {other[2]}/{other[3]})"
            )

        self._write(
            "INSERT INTO port_allocations"
            " (instance_id, container_port, protocol, host_ip, host_port, engine)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (instance_id, container_port, protocol)"
            " DO UPDATE SET host_ip = excluded.host_ip, host_port = excluded.host_port,"
            " engine = excluded.engine",
            (instance_id, a.container_port, a.protocol, a.host_ip, a.host_port, engine),
            conflict,
            PortConflictError,
        )

    def delete_port_allocation(self, instance_id: str, container_port: int, protocol: str) -> None:
        """Forget one allocation. Idempotent."""
        self._d.run(
            "DELETE FROM port_allocations WHERE instance_id = ? AND container_port = ?"
            " AND protocol = ?",
            (instance_id, container_port, protocol),
        )

    # -- engines ---------------------------------------------------------------------------------
    def _engine(self, row: Row) -> Engine:
        columns = dict(zip(_ENGINE_COLUMNS.split(", "), row, strict=True))
        columns["options"] = self._d.json_value(columns["options"])
        return structure_row(columns, Engine)

    def list_engines(self) -> list[Engine]:
        """Every engine record, by name."""
        rows = self._d.query(f"SELECT {_ENGINE_COLUMNS} FROM engines ORDER BY name")  # noqa: S608
        return [self._engine(r) for r in rows]

    def get_engine(self, name: str) -> Engine | None:
        """The engine called ``name``, or None."""
        row = self._one(f"SELECT {_ENGINE_COLUMNS} FROM engines WHERE name = ?", (name,))  # noqa: S608
        return None if row is None else self._engine(row)

    def put_engine(self, engine: Engine) -> None:
        """Insert or replace an engine record."""
        columns = to_row(engine)
        params = [columns[name] for name in _ENGINE_COLUMNS.split(", ")]
        params[5] = self._d.json_param(dict(engine.options))
        self._d.run(
            f"INSERT INTO engines ({_ENGINE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,"
            " endpoint = excluded.endpoint, context = excluded.context, host = excluded.host,"
            " options = excluded.options, created_at = excluded.created_at",
            params,
        )

    def delete_engine(self, name: str) -> None:
        """Forget an engine; ``ConflictError`` while a stack is bound to it."""
        users = [
            str(r[0])
            for r in self._d.query(
                "SELECT name FROM stacks WHERE engine = ? ORDER BY name", (name,)
            )
        ]
        if users:
            raise ConflictError(
                f"engine {name} still has stacks bound to it ({', '.join(users)}); "
                "move them first (`devarch stack move STACK --engine OTHER`)"
            )
        self._d.run("DELETE FROM engines WHERE name = ?", (name,))

    # -- meta ------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """Return a metadata value, or None."""
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace a metadata value."""
        self._d.run(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

"""Every rule plan or apply enforces is checked when a value is written (issue 11: 11, 18, 19).

Import, ``instance add``/``set``/``unset``, enabling, ``stack create/update/clone``: each refuses
what the next plan would refuse, names the path of the value and the other owner, and leaves the
store as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import pytest

from devarch_core.desired import config_file_relpath
from devarch_core.errors import (
    ConflictError,
    ManifestError,
    PortConflictError,
    ValidationError,
    WiringError,
)

if TYPE_CHECKING:
    from devarch_core.app import Devarch


def snapshot(devarch: Devarch) -> tuple[Any, ...]:
    """Everything a refused write must leave as it was."""
    with devarch.store.transaction() as tx:
        stacks = tx.list_stacks()
        return (
            stacks,
            [tx.list_instances(s.id) for s in stacks],
            [tx.list_wires(s.id) for s in stacks],
            tx.list_port_allocations(None),
        )


def manifest(overrides: str = "", pins: str = "", stack: str = "s") -> str:
    """A one-instance manifest (``db`` of bb-db) with override and pin lines (YAML flow text)."""
    text = f"version: 1\nstack: {stack}\ninstances:\n  db:\n    template: bb-db\n"
    if overrides:
        text += f"    overrides: {overrides}\n"
    if pins:
        text += f"    pins: {pins}\n"
    return text


LONG = "/" + "a" * 4097

REFUSED_IMPORTS = [
    # (manifest, path of the problem, words of the message)
    (
        manifest('{config_files: [{path: "/etc/a\\0b", content: x}]}'),
        "instances.db.overrides.config_files[0].path",
        "NUL",
    ),
    (
        manifest(f'{{config_files: [{{path: "{LONG}", content: x}}]}}'),
        "instances.db.overrides.config_files[0].path",
        "4096",
    ),
    (
        manifest('{config_files: [{path: "/", content: x}]}'),
        "instances.db.overrides.config_files[0].path",
        "root",
    ),
    (
        manifest('{config_files: [{path: "etc/x", content: x}]}'),
        "instances.db.overrides.config_files[0].path",
        "absolute",
    ),
    (
        manifest("{config_files: [{path: /etc/a, content: x}, {path: /etc/a/b, content: y}]}"),
        "instances.db.overrides.config_files",
        "/etc/a is a parent directory of config file /etc/a/b",
    ),
    (
        manifest("{depends_on: [nope]}"),
        "instances.db.overrides.depends_on",
        "'nope', which is not an instance",
    ),
    (manifest("{depends_on: [db]}"), "instances.db.overrides.depends_on", "depends on itself"),
    (
        manifest("{ports: [{container: 5432, host: 25001}, {container: 5433, host: 25001}]}"),
        "instances.db.overrides.ports[1].host",
        "pinned twice by s/db",
    ),
    (
        manifest(pins="{ports: {5432/tcp: 25002, 5433/tcp: 25002}}"),
        "instances.db.pins.ports.5433/tcp",
        "pinned twice",
    ),
    (
        manifest(pins="{ports: {0/tcp: 25005}}"),
        "instances.db.pins.ports.0/tcp",
        "container port 0 is out of range",
    ),
    (
        manifest(pins="{ports: {99999/tcp: 25006}}"),
        "instances.db.pins.ports.99999/tcp",
        "container port 99999",
    ),
]


@pytest.mark.parametrize(("text", "path", "words"), REFUSED_IMPORTS)
def test_import_refuses_what_plan_or_apply_would_refuse(
    devarch: Devarch, text: str, path: str, words: str
) -> None:
    """Each case imported before this fix and failed (or crashed) only at plan or apply."""
    before = snapshot(devarch)
    with pytest.raises((ManifestError, PortConflictError)) as caught:
        devarch.import_yaml(text)
    assert isinstance(caught.value, (ManifestError, PortConflictError))
    problems = caught.value.problems
    assert problems[0].path == path
    assert words in problems[0].message
    assert snapshot(devarch) == before


def test_import_names_the_path_and_the_other_owner_of_a_host_port(devarch: Devarch) -> None:
    """Two instances of one manifest pinning one port: the second one's path, both owners."""
    text = (
        "version: 1\nstack: s\ninstances:\n"
        "  db: {template: bb-db, overrides: {ports: [{container: 5432, host: 25003}]}}\n"
        "  db2: {template: bb-db, overrides: {ports: [{container: 5432, host: 25003}]}}\n"
    )
    with pytest.raises(PortConflictError) as caught:
        devarch.import_yaml(text)
    (problem,) = caught.value.problems
    assert problem.path == "instances.db2.overrides.ports[0].host"
    assert "s/db and s/db2" in problem.message
    assert devarch.list_stacks(with_runtime=False) == []


def test_import_refuses_a_pin_another_stack_pins_naming_it(devarch: Devarch) -> None:
    """A pin of another (not yet applied) stack counts, as it does at plan."""
    devarch.import_yaml(manifest("{ports: [{container: 5432, host: 25004}]}", stack="o"))
    before = snapshot(devarch)
    with pytest.raises(PortConflictError) as caught:
        devarch.import_yaml(manifest("{ports: [{container: 5432, host: 25004}]}"))
    (problem,) = caught.value.problems
    assert problem.path == "instances.db.overrides.ports[0].host"
    assert "o/db" in problem.message
    assert isinstance(caught.value, ConflictError)
    assert snapshot(devarch) == before


def test_a_disabled_stack_may_share_a_pin_until_it_is_enabled(devarch: Devarch) -> None:
    """Pins count as the plan counts them; enabling the stack checks them again."""
    pin = {"ports": [{"container": 5432, "host": 25010}]}
    devarch.create_stack("a")
    devarch.add_instance("a", "db", "bb-db", overrides=pin)
    devarch.create_stack("b")
    devarch.set_stack_enabled("b", enabled=False)
    devarch.add_instance("b", "db", "bb-db", overrides=pin)
    with pytest.raises(PortConflictError, match="a/db"):
        devarch.set_stack_enabled("b", enabled=True)
    assert not devarch.get_stack("b").enabled


def test_instance_add_and_set_refuse_the_same_rules(devarch: Devarch) -> None:
    """add/set/unset check config files, depends_on and pins; the store is unchanged."""
    devarch.create_stack("s")
    devarch.add_instance(
        "s", "db", "bb-db", overrides={"ports": [{"container": 5432, "host": 25020}]}
    )
    before = snapshot(devarch)
    with pytest.raises(PortConflictError) as caught:
        devarch.add_instance(
            "s", "db2", "bb-db", overrides={"ports": [{"container": 5432, "host": 25020}]}
        )
    assert caught.value.problems[0].path == "instances.db2.overrides.ports[0].host"
    with pytest.raises(ValidationError, match="depends on itself"):
        devarch.set_overrides("s", "db", {"depends_on": ["db"]})
    with pytest.raises(ValidationError, match="'ghost', which is not an instance of stack s"):
        devarch.add_instance("s", "web", "bb-web", overrides={"depends_on": ["ghost"]})
    files = [{"path": "/etc/app", "content": "x"}, {"path": "/etc/app/x.conf", "content": "y"}]
    with pytest.raises(ValidationError, match="parent directory"):
        devarch.set_overrides("s", "db", {"config_files": files})
    with pytest.raises(ValidationError, match="NUL"):
        devarch.set_overrides("s", "db", {"config_files": [{"path": "/etc/a\0", "content": "x"}]})
    with pytest.raises(PortConflictError, match="pinned twice"):
        devarch.set_overrides("s", "db", {"ports": [{"container": 6000, "host": 25020}]})
    assert snapshot(devarch) == before


def test_the_plan_uses_the_same_rules(devarch: Devarch) -> None:
    """The plan runs the same rules.

    A self dependency is a plan error too (it was silently dropped); the plan's config path
    check refuses what the write check refuses.
    """
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    with devarch.store.transaction() as tx:
        st = tx.get_stack("s")
        assert st is not None
        inst = tx.get_instance(st.id, "db")
        assert inst is not None
        tx.update_instance(
            attrs.evolve(inst, overrides=attrs.evolve(inst.overrides, depends_on={"db": True}))
        )
    messages = [d.message for d in devarch.plan("s").errors]
    assert any("depends on itself" in m for m in messages)
    for bad in ("/a\0b", LONG, "/", "etc/x"):
        with pytest.raises(ValidationError):
            config_file_relpath(bad)
    assert config_file_relpath("/etc/app/x.conf") == "etc/app/x.conf"
    with pytest.raises(WiringError):
        devarch.apply("s")


# -- item 18: network names are unique across the store ------------------------------------------


def test_a_custom_network_equal_to_another_stacks_default_is_refused(devarch: Devarch) -> None:
    """``stack create p --network devarch-q-net`` then ``stack create q`` cannot share a network."""
    devarch.create_stack("p", network="devarch-q-net")
    with pytest.raises(ConflictError, match="custom network of stack 'p'") as caught:
        devarch.create_stack("q")
    assert "--network" in str(caught.value)
    assert [s.stack.name for s in devarch.list_stacks(with_runtime=False)] == ["p"]
    devarch.create_stack("r")
    with pytest.raises(ConflictError, match="default network of stack 'r'"):
        devarch.create_stack("s", network="devarch-r-net")
    with pytest.raises(ConflictError, match="custom network of stack 'p'"):
        devarch.update_stack("r", network="devarch-q-net")
    assert devarch.get_stack("r").network is None
    with pytest.raises(ConflictError, match="custom network of stack 'p'"):
        devarch.clone_stack("r", "q")
    before = snapshot(devarch)
    text = "version: 1\nstack: {name: t, network: devarch-r-net}\ninstances: {}\n"
    with pytest.raises(ManifestError) as refused:
        devarch.import_yaml(text)
    assert refused.value.problems[0].path == "stack.network"
    assert "stack 'r'" in refused.value.problems[0].message
    assert snapshot(devarch) == before


# -- item 19: a clone gets its own host ports ----------------------------------------------------


def test_a_cloned_stack_gets_its_own_host_ports_and_can_be_applied(devarch: Devarch) -> None:
    """Pinned host ports are dropped in the clone (as ``instance duplicate`` does): both apply."""
    devarch.create_stack("a")
    devarch.add_instance(
        "a", "db", "bb-db", overrides={"ports": [{"container": 5432, "host": 25432}]}
    )
    devarch.add_instance(
        "a",
        "cache",
        "bb-cache",
        overrides={"ports": [{"container": 6379, "host": 26379, "host_ip": "127.0.0.2"}]},
    )
    devarch.apply("a")
    devarch.clone_stack("a", "b")
    assert devarch.show_instance("b", "db")["overrides"] == {}
    assert devarch.show_instance("b", "cache")["overrides"] == {
        "ports": [{"container": 6379, "host_ip": "127.0.0.2"}]
    }
    devarch.apply("b")
    with devarch.store.transaction() as tx:
        allocations = tx.list_port_allocations(None)
    ports = {(a.stack, a.instance): a.host_port for a in allocations}
    assert ports[("a", "db")] == 25432
    assert ports[("b", "db")] != 25432
    assert devarch.show_instance("a", "db")["overrides"] == {
        "ports": [{"container": 5432, "host": 25432}]
    }


def test_port_clashes_are_port_conflict_errors_not_wiring_errors(devarch: Devarch) -> None:
    """Apply and compose refuse a plan whose errors are port clashes as ``PortConflictError``."""
    devarch.create_stack("a")
    devarch.add_instance(
        "a", "db", "bb-db", overrides={"ports": [{"container": 5432, "host": 25432}]}
    )
    devarch.create_stack("b")
    devarch.add_instance("b", "db", "bb-db")
    with devarch.store.transaction() as tx:
        a, b = tx.get_stack("a"), tx.get_stack("b")
        assert a is not None
        assert b is not None
        pinned, inst = tx.get_instance(a.id, "db"), tx.get_instance(b.id, "db")
        assert pinned is not None
        assert inst is not None
        # As an older devarch could have stored it (the write check refuses it now).
        tx.update_instance(attrs.evolve(inst, overrides=pinned.overrides))
    for call in (lambda: devarch.apply("b"), lambda: devarch.compose("b")):
        with pytest.raises(PortConflictError, match="25432") as caught:
            call()
        assert not isinstance(caught.value, WiringError)
        assert isinstance(caught.value, ConflictError)


def test_removing_or_renaming_a_depended_on_instance_keeps_depends_on_valid(
    devarch: Devarch,
) -> None:
    """Remove is refused while another instance's depends_on names it; rename follows."""
    devarch.create_stack("s")
    devarch.add_instance("s", "db", "bb-db")
    devarch.add_instance("s", "worker", "bb-cache", overrides={"depends_on": ["db"]})
    before = snapshot(devarch)
    with pytest.raises(ValidationError, match=r"depends_on\.db") as caught:
        devarch.remove_instance("s", "db")
    assert caught.value.problems[0].path == "instances.worker.overrides.depends_on"
    assert snapshot(devarch) == before
    devarch.rename_instance("s", "db", "pg")
    assert devarch.show_instance("s", "worker")["overrides"]["depends_on"] == ["pg"]
    assert not devarch.plan("s").errors

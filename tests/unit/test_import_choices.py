"""Devarch.import_choices: what the dashboard's wiring picker offers for each import."""

from __future__ import annotations

import pytest

from devarch_core.catalog import builtin_catalog
from devarch_core.errors import NotFoundError
from devarch_core.testing import fake_devarch


def test_candidates_and_state_follow_the_stack() -> None:
    d = fake_devarch(builtin_catalog())
    d.create_stack("pick")
    d.add_instance("pick", "db", "postgres")
    d.add_instance("pick", "web", "django")
    by_name = {c.name: c for c in d.import_choices("pick", "web")}
    assert by_name["db"].state == "auto"
    assert by_name["db"].candidates == ("db",)
    assert by_name["db"].required is True
    assert by_name["cache"].state == "missing"

    d.add_instance("pick", "db2", "postgres")
    db = {c.name: c for c in d.import_choices("pick", "web")}["db"]
    assert (db.state, db.candidates) == ("ambiguous", ("db", "db2"))

    d.add_wire("pick", "web", "db", "db2")
    db = {c.name: c for c in d.import_choices("pick", "web")}["db"]
    assert db.state == "explicit"
    assert db.wire is not None
    assert db.wire.provider == "db2"


def test_disabled_instances_are_not_candidates() -> None:
    d = fake_devarch(builtin_catalog())
    d.create_stack("pick2")
    d.add_instance("pick2", "db", "postgres")
    d.add_instance("pick2", "db2", "postgres")
    d.add_instance("pick2", "web", "django")
    d.update_instance("pick2", "db2", enabled=False)
    db = {c.name: c for c in d.import_choices("pick2", "web")}["db"]
    assert db.candidates == ("db",)


def test_unknown_consumer_is_not_found() -> None:
    d = fake_devarch(builtin_catalog())
    d.create_stack("pick3")
    with pytest.raises(NotFoundError, match="nope"):
        d.import_choices("pick3", "nope")

"""A template's content hash is made from hand-written data equal to its ``to_data()``.

The hash is on the path of every plan; it no longer goes through the cattrs converter (whose
import and set-up were a good part of a no-op ``apply``), so the hand-written data is held equal
to the converter's here, for every template the project ships and for every field set or not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs
import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.catalog import load_builtin_catalog
from devarch_core.template import Export, Import, Template, hash_data

ROOT = Path(__file__).resolve().parents[2]


def _shipped() -> list[Template]:
    dirs = [ROOT / "benchmarks" / "catalog", ROOT / "examples" / "catalog"]
    return [*load_builtin_catalog(), *load_catalog_dirs([d for d in dirs if d.is_dir()])]


def _full() -> Template:
    """A template with every optional part set to something other than its default."""
    return Template.from_data(
        {
            "name": "full",
            "version": "2.0",
            "description": "every field set",
            "service": {
                "image": "busybox:1",
                "environment": {"TOKEN": "x", "PLAIN": "y"},
                "ports": [{"container": 80}],
            },
            "secrets": ["TOKEN"],
            "exports": [
                {
                    "name": "web",
                    "type": "http",
                    "port": 80,
                    "protocol": "udp",
                    "env": {"U": "${host}"},
                },
                {"name": "bare", "type": "raw"},
            ],
            "imports": [
                {
                    "name": "db",
                    "type": "pg",
                    "required": False,
                    "prefix": "DB_",
                    "rename": {"A": "B"},
                },
                {"name": "cache", "type": "redis"},
            ],
        },
        origin="test",
    )


def _canonical_hash(data: object) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_hash_data_equals_to_data_for_every_shipped_template() -> None:
    """Builtin, benchmark and example templates: the same data, so the same hash as before."""
    templates = _shipped()
    assert len(templates) > 10
    for template in templates:
        assert hash_data(template) == template.to_data(), template.ref
        assert template.content_hash == _canonical_hash(template.to_data()), template.ref


def test_hash_data_equals_to_data_with_every_field_set() -> None:
    """Non-default description, secrets, export port/protocol/env, import prefix/rename."""
    template = _full()
    data = hash_data(template)
    assert data == template.to_data()
    assert data["exports"][0]["protocol"] == "udp"
    assert "port" not in data["exports"][1]
    assert data["imports"][0]["rename"] == {"A": "B"}
    assert "prefix" not in data["imports"][1]
    assert template.content_hash == _canonical_hash(template.to_data())


@pytest.mark.parametrize(
    ("cls", "known"),
    [
        (Template, {"name", "version", "description", "service", "secrets", "exports", "imports"}),
        (Export, {"name", "type", "port", "protocol", "env"}),
        (Import, {"name", "type", "required", "prefix", "rename"}),
    ],
)
def test_hash_data_knows_every_field(cls: type, known: set[str]) -> None:
    """A new field must be added to ``hash_data`` too (this fails until it is)."""
    data_fields = {a.name for a in attrs.fields(cls) if a.name not in {"origin", "_memo"}}
    assert data_fields == known

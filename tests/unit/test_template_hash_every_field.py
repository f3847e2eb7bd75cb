"""The template content hash is the one cattrs' ``to_data()`` gave, for every service field.

The hash is on the path of every plan; it no longer goes through the cattrs converter (whose
import and set-up were a good part of a no-op ``apply``), so the hand-written data is held equal
to the converter's here, for every template the project ships and every field set or not.

Review of the hand-written :func:`devarch_core.template.hash_data` and of
:mod:`devarch_core._digest`: a lockfile's template hashes and a plan's staleness token keep their
meaning. ``GOLDEN`` was computed by the code before either existed (``to_data()`` through the
cattrs converter and ``hashlib``) for the template below, which sets every row of the field table
and every optional template part.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core import _convert
from devarch_core._digest import sha256
from devarch_core.catalog import load_builtin_catalog
from devarch_core.fields import FIELDS
from devarch_core.template import Export, Import, Template, hash_data

ROOT = Path(__file__).resolve().parents[2]

SERVICE: dict[str, Any] = {
    "image": "devarch-test/busybox:latest",
    "command": ["sleep", "60"],
    "entrypoint": ["/bin/sh", "-c"],
    "working_dir": "/srv",
    "user": "1000:1000",
    "restart": "always",
    "stop_grace_period": "5s",
    "stop_signal": "SIGTERM",
    "init": True,
    "environment": {"GREETING": "hi", "KEEP": "1", "TOKEN": "s3cret", "UNI": "caf\u00e9 \u2603"},
    "labels": {"team": "core"},
    "ports": ["8080", "9000/udp"],
    "volumes": ["data:/var/lib/app"],
    "domains": ["web.example.test"],
    "depends_on": ["db"],
    "healthcheck": {"test": ["CMD", "false"], "retries": 1},
    "config_files": [{"path": "/etc/app/app.conf", "content": "debug = false\n"}],
    "resources": {"cpu_limit": "1", "memory_limit": "512m"},
}
FULL: dict[str, Any] = {
    "name": "full",
    "version": "2.0",
    "description": "every field",
    "service": SERVICE,
    "secrets": ["TOKEN"],
    "exports": [
        {
            "name": "web",
            "type": "http",
            "port": 8080,
            "protocol": "udp",
            "env": {"U": "${host}:${port}"},
        },
        {"name": "bare", "type": "raw"},
    ],
    "imports": [
        {"name": "db", "type": "pg", "required": False, "prefix": "DB_", "rename": {"A": "B"}},
        {"name": "cache", "type": "redis"},
    ],
}
#: ``Template.from_data(FULL).content_hash`` before hash_data and _digest (cattrs + hashlib).
GOLDEN = "sha256:8efe76c045773a1a347f3a0f441925892788573398f98b7eb394ab6d5f70311f"


def _converter_hash(template: Template) -> str:
    """The content hash as it was made before: the converter's data, ``hashlib``."""
    data = _convert.unstructure(template)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_the_template_sets_every_row_of_the_field_table() -> None:
    """So the comparisons below cover every field (a new row must be added to SERVICE)."""
    assert set(SERVICE) == {f.name for f in FIELDS}
    data = Template.from_data(FULL).service.to_data()
    assert set(data) == {f.name for f in FIELDS}


def test_every_field_set_hashes_as_the_converter_did() -> None:
    template = Template.from_data(FULL)
    assert hash_data(template) == _convert.unstructure(template)
    assert template.content_hash == _converter_hash(template) == GOLDEN


@pytest.mark.parametrize("name", [f.name for f in FIELDS if f.name != "image"])
def test_each_field_alone_hashes_as_the_converter_did(name: str) -> None:
    service = {"image": SERVICE["image"], name: SERVICE[name]}
    if name == "environment":
        service[name] = {k: v for k, v in SERVICE[name].items() if k != "TOKEN"}
    template = Template.from_data({"name": "one", "version": "1", "service": service})
    assert hash_data(template) == _convert.unstructure(template)
    assert template.content_hash == _converter_hash(template)


def test_every_shipped_template_hashes_as_the_converter_did() -> None:
    """Builtin, benchmark and example templates: the same data, so the same hash as before."""
    dirs = [ROOT / "benchmarks" / "catalog", ROOT / "examples" / "catalog"]
    templates = [*load_builtin_catalog(), *load_catalog_dirs(dirs)]
    assert len(templates) > 10
    for template in templates:
        assert hash_data(template) == _convert.unstructure(template), template.ref
        assert template.content_hash == _converter_hash(template), template.ref


def test_every_optional_template_part_is_in_the_hashed_data() -> None:
    """Non-default description, secrets, export port/protocol/env, import prefix/rename."""
    data = hash_data(Template.from_data(FULL))
    assert data["description"] == "every field"
    assert data["secrets"] == ["TOKEN"]
    assert data["exports"][0]["protocol"] == "udp"
    assert data["exports"][0]["env"] == {"U": "${host}:${port}"}
    assert "port" not in data["exports"][1]
    assert data["imports"][0]["rename"] == {"A": "B"}
    assert "prefix" not in data["imports"][1]


@pytest.mark.parametrize(
    ("cls", "known"),
    [
        (Template, {"name", "version", "description", "service", "secrets", "exports", "imports"}),
        (Export, {"name", "type", "port", "protocol", "env"}),
        (Import, {"name", "type", "required", "prefix", "rename"}),
    ],
)
def test_hash_data_knows_every_field(cls: type, known: set[str]) -> None:
    """A new template, export or import field must be added to ``hash_data`` too."""
    data_fields = {a.name for a in attrs.fields(cls) if a.name not in {"origin", "_memo"}}
    assert data_fields == known


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 1 << 20])
def test_digest_is_sha256(size: int) -> None:
    """CPython's own SHA-256 module gives hashlib's digests (one call and in pieces)."""
    data = bytes(i * 7 % 251 for i in range(size))
    assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    pieces = sha256(b"")
    for start in range(0, size, 37):
        pieces.update(data[start : start + 37])
    assert pieces.digest() == hashlib.sha256(data).digest()
    assert sha256(data).copy().hexdigest() == hashlib.sha256(data).hexdigest()

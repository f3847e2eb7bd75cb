"""docs/templates.md shows every service key with an example, and every example is valid."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from devarch_core.fields import FIELDS
from devarch_core.schema import json_schema
from devarch_core.spec import ServiceSpec

DOC = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text(encoding="utf-8")
SECTION = DOC.split("## Every service key, with an example", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```yaml\n(.*?)```", SECTION, flags=re.DOTALL)
HEADINGS = re.findall(r"^### (.*)$", SECTION, flags=re.MULTILINE)


def test_every_service_key_has_a_heading_and_an_example() -> None:
    named = {key for heading in HEADINGS for key in re.findall(r"`(\w+)`", heading)}
    assert named == {field.name for field in FIELDS}
    used = set()
    for block in BLOCKS:
        used |= set(yaml.safe_load(block)["service"])
    assert used == {field.name for field in FIELDS}


def test_every_example_parses_and_matches_the_schema() -> None:
    schema = Draft202012Validator(json_schema("template")["properties"]["service"])
    assert len(BLOCKS) == len(HEADINGS)
    for block in BLOCKS:
        service = yaml.safe_load(block)["service"]
        ServiceSpec.from_compose(service)
        assert list(schema.iter_errors(service)) == [], block

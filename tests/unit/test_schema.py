"""The editor schemas agree with the parsers (docs/editors.md).

Every example, builtin template and corpus fixture the parsers accept is valid under the JSON
Schemas; every invalid manifest or template of the corpus the parsers refuse is refused by the
schema too, or is listed with the semantic rule the schema cannot express; and every mutation of
the adversarial seeds that the parsers accept, the schemas accept (an editor must never flag a
file devarch reads).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from tests.adversarial.hostile import HOSTILE_VALUES, SEEDS, paths, replaced, seed_data

from devarch_core import schema as schemas
from devarch_core.catalog import BUILTIN_DIR, load_yaml, parse_template_text
from devarch_core.errors import ValidationError
from devarch_core.manifest import Lockfile, Manifest
from devarch_core.overrides import Overrides
from devarch_core.spec import ServiceSpec
from devarch_core.template import Template

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = sorted((ROOT / "src" / "devarch_core" / BUILTIN_DIR).glob("*.yaml"))
EXAMPLE_TEMPLATES = sorted((ROOT / "examples" / "catalog").glob("*.yaml"))
MANIFESTS = sorted((ROOT / "tests" / "data" / "manifests").glob("*.yml"))
MERGE_CASES = sorted((ROOT / "tests" / "data" / "merge").glob("*.yaml"))
WIRING_CASES = sorted((ROOT / "tests" / "data" / "wiring").glob("*.yaml"))
HAND_WRITTEN = yaml.safe_load(
    (ROOT / "tests" / "adversarial" / "cases.yaml").read_text(encoding="utf-8")
)

VALIDATORS = {
    kind: Draft202012Validator(schemas.json_schema(kind)) for kind in schemas.SCHEMA_KINDS
}
SERVICE = Draft202012Validator(schemas.json_schema("template")["properties"]["service"])
OVERRIDES = Draft202012Validator(schemas._service(override=True))

#: Invalid corpus files the parsers refuse for a reason the schema cannot express.
SEMANTIC: dict[str, str] = {
    # (file name or ``cases.yaml#N``) -> a key of schemas.SEMANTIC_RULES
    "bad-yaml.yml": "yaml",
    "bad-wires.yml": "wire-endpoints",
    "resources-reservation-above-merged-limit.yaml": "reservation-limit",
    "cases.yaml#3": "quantity-syntax",
    "cases.yaml#4": "quantity-syntax",
    "cases.yaml#5": "quantity-syntax",
    "cases.yaml#6": "duration-syntax",
    "cases.yaml#15": "quantity-syntax",
}


def errors(validator: Draft202012Validator, data: object) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(data)
    ]


def refused(parse: Any, *args: object) -> bool:
    try:
        parse(*args)
    except ValidationError:
        return True
    return False


def test_the_schemas_are_valid_draft_2020_12_and_plain_json():
    for kind in schemas.SCHEMA_KINDS:
        document = schemas.json_schema(kind)
        Draft202012Validator.check_schema(document)
        assert json.loads(json.dumps(document)) == document
        assert document["$schema"] == schemas.DIALECT


def test_every_semantic_rule_named_here_is_documented():
    assert set(SEMANTIC.values()) <= set(schemas.SEMANTIC_RULES)


def test_every_service_field_and_override_key_has_a_schema():
    from devarch_core.fields import FIELDS  # noqa: PLC0415
    from devarch_core.overrides import OVERRIDE_KEYS  # noqa: PLC0415

    assert set(SERVICE.schema["properties"]) >= {f.name for f in FIELDS}
    assert set(OVERRIDES.schema["properties"]) == set(OVERRIDE_KEYS)
    assert SERVICE.schema["required"] == ["image"]


def test_a_parser_key_without_a_schema_fails_the_build():
    from devarch_core._schemaparts import closed  # noqa: PLC0415

    with pytest.raises(AssertionError, match="schema and parser keys differ: extra"):
        closed(("a", "extra"), {"a": {}})


@pytest.mark.parametrize("path", BUILTINS + EXAMPLE_TEMPLATES, ids=lambda p: p.name)
def test_builtin_and_example_templates_are_valid(path: Path):
    text = path.read_text(encoding="utf-8")
    parse_template_text(text, str(path))
    assert errors(VALIDATORS["template"], load_yaml(text, str(path))) == []


@pytest.mark.parametrize(
    "path",
    [
        ROOT / "examples" / "shop" / "devarch.yml",
        ROOT / "tests" / "data" / "plugin" / "devarch.yml",
        *MANIFESTS,
    ],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_manifests_agree_with_the_parser(path: Path):
    text = path.read_text(encoding="utf-8")
    if path.name in SEMANTIC:
        assert refused(Manifest.parse, text, str(path))
        return
    try:
        data = load_yaml(text, str(path), what="manifest")
    except ValidationError:
        pytest.fail(f"{path.name} is not YAML: list it in SEMANTIC as 'yaml'")
    found = errors(VALIDATORS["manifest"], data)
    if refused(Manifest.parse, text, str(path)):
        assert found, f"{path.name}: refused by the parser, accepted by the schema"
    else:
        assert found == []


@pytest.mark.parametrize("path", MERGE_CASES, ids=lambda p: p.name)
def test_merge_corpus_services_and_overrides_agree_with_the_parsers(path: Path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    service = case["template"]["service"]
    overrides = case.get("overrides") or {}
    bad_service = refused(ServiceSpec.from_compose, service)
    bad_overrides = refused(Overrides.from_data, overrides)
    if path.name in SEMANTIC:
        return
    assert bool(errors(SERVICE, service)) == bad_service, errors(SERVICE, service)
    assert bool(errors(OVERRIDES, overrides)) == bad_overrides, errors(OVERRIDES, overrides)


@pytest.mark.parametrize("path", WIRING_CASES, ids=lambda p: p.name)
def test_wiring_corpus_templates_are_valid(path: Path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    for template in case.get("templates", []):
        Template.from_data(template)
        assert errors(VALIDATORS["template"], template) == []


@pytest.mark.parametrize(
    "index",
    [i for i, row in enumerate(HAND_WRITTEN) if row["kind"] in ("manifest", "template")],
)
def test_hand_written_hostile_cases_are_refused_by_the_schema_or_are_semantic(index: int):
    row = HAND_WRITTEN[index]
    kind, text = row["kind"], row["text"]
    try:
        data = load_yaml(text, "case", what="manifest" if kind == "manifest" else "template file")
    except ValidationError:
        return  # the loader refuses it at its line: SEMANTIC_RULES["yaml"]
    if kind == "manifest":
        assert refused(Manifest.parse, text)
    else:
        assert refused(parse_template_text, text, "case")
    if SEMANTIC.get(f"cases.yaml#{index}"):
        return
    assert errors(VALIDATORS[kind], data), f"case {index} accepted by the {kind} schema"


def _mutations() -> list[tuple[schemas.SchemaKind, Any]]:
    out: list[tuple[schemas.SchemaKind, Any]] = []
    for seed_kind, seed in SEEDS:
        if seed_kind not in ("manifest", "template"):
            continue
        kind: schemas.SchemaKind = "manifest" if seed_kind == "manifest" else "template"
        data = seed_data(seed_kind, seed)
        out.extend(
            (kind, replaced(data, where, value))
            for where in paths(data)
            for value in HOSTILE_VALUES
        )
    return out


def test_every_mutation_the_parsers_accept_the_schemas_accept():
    parse = {
        "manifest": Manifest.from_data,
        "template": Template.from_data,
    }
    accepted = refused_by_parser = refused_by_both = 0
    for kind, data in _mutations():
        found = errors(VALIDATORS[kind], data)
        if refused(parse[kind], data):
            refused_by_parser += 1
            refused_by_both += bool(found)
            continue
        accepted += 1
        assert found == [], f"{kind} accepted by the parser, refused by the schema: {found}"
    assert accepted > 1000
    # The rest are semantic (durations, quantities, ranges in text...): SEMANTIC_RULES.
    assert refused_by_both >= 0.9 * refused_by_parser


def test_an_exported_lockfile_is_valid_and_parses_with_its_modeline():
    lock = Lockfile.parse(
        "format: 1\nstack: shop\nmanifest_hash: sha256:x\ninstances:\n"
        "  db: {template: postgres, template_version: '16.4', template_hash: sha256:y,\n"
        "       image: postgres:16, ports: {5432/tcp: 20001}}\n"
    )
    text = lock.to_yaml()
    assert text.splitlines()[0] == schemas.modeline("lock").rstrip("\n")
    assert Lockfile.parse(text) == lock
    assert errors(VALIDATORS["lock"], load_yaml(text, "devarch.lock")) == []

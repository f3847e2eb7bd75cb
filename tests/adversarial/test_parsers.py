"""Hundreds of malformed manifests, templates and compose files, each refused cleanly.

Every case must be refused with a ``DevarchError`` whose problems name where (a path such as
``instances.web.ports[0]`` or a line), within 2 s and 200 MB; mutations that may be valid must
be accepted or refused the same way, never with another exception. See ``hostile.py`` for the
generators and ``cases.yaml`` for hand-written cases.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.adversarial.hostile import (
    BOMB,
    HERE,
    HOSTILE_VALUES,
    ODD_KEYS,
    ROOT,
    SEEDS,
    Case,
    check_handled,
    check_refused,
    deep,
    dump,
    paths,
    replaced,
    seed_data,
    spell,
    with_key,
    with_text_at,
)

from devarch_core.errors import ValidationError

HAND_WRITTEN = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))
#: Every (kind, seed, path) the mutations can aim at.
TARGETS = [(kind, seed, path) for kind, seed in SEEDS for path in paths(seed_data(kind, seed))]
#: Hypothesis runs several hundred examples per test here; keep the whole suite near a minute.
FUZZ = settings(
    max_examples=100,
    deadline=None,  # each case asserts its own 2 s budget; the machine may be loaded
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same cases on every run; a failure is reproducible
)


@pytest.mark.parametrize(
    "row", HAND_WRITTEN, ids=[f"{i}-{row['kind']}" for i, row in enumerate(HAND_WRITTEN)]
)
def test_hand_written_cases_are_refused_naming_the_path(row):
    check_refused(Case(row["kind"], row["text"], row["text"][:40], row["path"]))


@pytest.mark.parametrize(
    "target", TARGETS, ids=[f"{Path(s).name}:{spell(p)}" for _, s, p in TARGETS]
)
def test_an_alias_bomb_anywhere_is_refused_at_its_line(target):
    kind, seed, path = target
    error = check_refused(
        Case(kind, with_text_at(kind, seed, path, BOMB), f"bomb at {spell(path)}")
    )
    assert isinstance(error, ValidationError)
    assert "aliases expand to more than" in str(error)
    assert error.problems[0].path.startswith("line ")


@FUZZ
@given(target=st.sampled_from(TARGETS), depth=st.integers(101, 3000))
def test_deep_nesting_anywhere_is_refused(target, depth):
    kind, seed, path = target
    error = check_refused(Case(kind, with_text_at(kind, seed, path, deep(depth)), f"deep {depth}"))
    assert error.problems[0].path.startswith("line ")


@FUZZ
@given(target=st.sampled_from(TARGETS), key=st.sampled_from(ODD_KEYS))
def test_keys_that_are_not_strings_are_refused_anywhere(target, key):
    kind, seed, path = target
    text = with_key(kind, seed, path, key)
    if text is None:  # the target is not a mapping
        return
    error = check_refused(Case(kind, text, f"key {key} at {spell(path)}"))
    assert "keys must be strings" in str(error)


@FUZZ
@given(
    seed=st.sampled_from(SEEDS), position=st.floats(0, 1), byte=st.sampled_from(b"\x80\xc3\xff\xfe")
)
def test_bytes_that_are_not_utf8_are_refused_naming_the_offset(seed, position, byte):
    kind, path = seed
    data = (ROOT / path).read_bytes()
    offset = int(position * len(data))
    # A continuation byte after a lead byte could complete a character: put it after ASCII.
    while offset > 0 and data[offset - 1] >= 0x80:
        offset -= 1
    hostile = data[:offset] + bytes([byte]) + b"\n" + data[offset:]
    error = check_refused(Case(kind, hostile, f"byte {byte:#x} at {offset}"))
    assert f"not UTF-8 text at byte {offset}" in str(error)


@FUZZ
@given(
    target=st.sampled_from(TARGETS),
    value=st.sampled_from(HOSTILE_VALUES)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    ),
)
def test_any_value_anywhere_is_accepted_or_refused_cleanly(target, value):
    kind, seed, path = target
    text = dump(replaced(seed_data(kind, seed), path, value))
    check_handled(Case(kind, text, f"{spell(path)}={value!r:.30}"))


@pytest.mark.parametrize(
    ("kind", "seed", "path", "size"),
    [
        ("manifest", "tests/data/manifests/good.yml", ("stack", "description"), 1001),
        ("manifest", "tests/data/manifests/good.yml", ("instances", "web", "description"), 1001),
        (
            "manifest",
            "tests/data/manifests/good.yml",
            ("instances", "db", "overrides", "environment", "POSTGRES_DB"),
            128 * 1024 + 1,
        ),
        ("template", "examples/catalog/bb-db.yaml", ("description",), 1001),
        ("template", "examples/catalog/bb-db.yaml", ("service", "image"), 2 * 1024 * 1024 + 1),
        (
            "compose",
            "tests/data/compose/shop.yml",
            ("services", "web", "command"),
            2 * 1024 * 1024 + 1,
        ),
    ],
)
def test_huge_values_are_refused(kind, seed, path, size):
    text = dump(replaced(seed_data(kind, seed), path, "v" * size))
    expected = spell(path) if size < 2 * 1024 * 1024 else "line "
    error = check_refused(Case(kind, text, f"{size} at {spell(path)}"))
    paths_named = [p.path for p in error.problems]
    assert any(expected in p for p in paths_named), paths_named


@pytest.mark.parametrize("kind", ["manifest", "template", "compose"])
def test_a_file_over_the_limit_is_refused(kind):
    error = check_refused(Case(kind, b"#" * (4 * 1024 * 1024 + 1), "4 MiB + 1"))
    assert "larger than 4 MiB" in str(error)

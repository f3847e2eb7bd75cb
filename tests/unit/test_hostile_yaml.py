"""Hostile YAML and oversized input are refused fast, with a clear error naming where.

Regression tests for issue 11, items 7 (alias bombs, unbounded values in messages), 10 (internal
errors instead of refusals) and 15 (size limits; docs/manifest.md, "Limits").
"""

from __future__ import annotations

import time
import tracemalloc
from typing import TYPE_CHECKING

import pytest

from devarch_core._parsing import short_repr
from devarch_core.catalog import Catalog, load_yaml, parse_template_text
from devarch_core.compose_import import templates_from_compose
from devarch_core.errors import (
    DevarchError,
    ManifestError,
    Problem,
    TemplateError,
    ValidationError,
)
from devarch_core.limits import (
    MAX_CONFIG_CONTENT,
    MAX_DESCRIPTION,
    MAX_ENV_VALUE,
    MAX_FILE_BYTES,
    MAX_INSTANCES,
    MAX_PROBLEMS,
)
from devarch_core.manifest import Manifest
from devarch_core.testing import fake_devarch

if TYPE_CHECKING:
    from collections.abc import Callable

ANCHORS = "[&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol], " + ", ".join(
    f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)
)
#: A ~600-byte alias bomb: nine anchors, each a list of ten aliases of the one before.
BOMB = ANCHORS + ", *a8]"


def manifest(overrides: str = "{}", *, extra: str = "") -> str:
    return (
        "version: 1\nstack: {name: s}\ninstances:\n  web:\n    template: t\n"
        f"    overrides: {overrides}\n{extra}"
    )


def template(service: str = "", *, extra: str = "") -> str:
    return f"name: t\nversion: '1'\nservice: {{image: x{service}}}\n{extra}"


def compose(service: str = "", *, extra: str = "") -> str:
    return f"{extra}services:\n  web: {{image: x{service}}}\n"


PARSE: dict[str, Callable[[str | bytes], object]] = {
    "manifest": lambda text: Manifest.parse(text, "m.yml"),
    "template": lambda text: parse_template_text(text, "t.yaml"),
    "compose": lambda text: templates_from_compose(text, origin="c.yml"),
}


def refused(kind: str, text: str | bytes) -> ValidationError:
    """Parse ``text``; assert a ValidationError within 2 s and 200 MB, and return it.

    Time and memory are measured in two runs: tracemalloc slows Python down severalfold.
    """
    start = time.perf_counter()
    with pytest.raises(ValidationError) as info:
        PARSE[kind](text)
    seconds = time.perf_counter() - start
    assert seconds < 2, f"took {seconds:.1f}s"
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError):
            PARSE[kind](text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 1024 * 1024, f"peaked at {peak / 1e6:.0f} MB"
    assert len(str(info.value)) < 20_000
    return info.value


# -- item 7: alias bombs ---------------------------------------------------------------------------

BOMB_SITES = [
    ("manifest", manifest(f"{{ports: [{{container: 80, protocol: {BOMB}}}]}}")),
    ("manifest", manifest(f"{{volumes: [{{type: {BOMB}, source: d, target: /d}}]}}")),
    ("manifest", manifest(f"{{domains: {BOMB}}}")),
    ("manifest", manifest(f"{{depends_on: {BOMB}}}")),
    ("manifest", manifest(f"{{environment: {{A: {BOMB}}}}}")),
    ("template", template(f", depends_on: {BOMB}")),
    ("template", template(f", domains: {BOMB}")),
    ("template", template(extra=f"exports: [{{name: e, type: t, port: 1, protocol: {BOMB}}}]\n")),
    ("compose", compose(extra=f"x-bomb: {BOMB}\n")),
    ("compose", compose(f", ports: {BOMB}")),
]


@pytest.mark.parametrize(("kind", "text"), BOMB_SITES)
def test_alias_bombs_are_refused_fast_at_their_line(kind, text):
    assert len(text) < 800
    error = refused(kind, text)
    assert "aliases expand to more than 100,000 values" in str(error)
    assert error.problems[0].path.startswith("line ")


def test_an_alias_to_the_collection_that_holds_it_is_refused():
    error = refused("manifest", "a: &a [1, *a]\n")
    assert "alias *a refers to a collection that contains it" in str(error)


def test_compose_anchors_and_merge_keys_keep_working():
    text = """
x-env: &env {TZ: UTC, LOG_LEVEL: info}
x-base: &base
  image: nginx
  restart: unless-stopped
services:
  a: {<<: *base, environment: *env}
  b:
    <<: *base
    environment: {<<: *env, EXTRA: "1"}
"""
    result = templates_from_compose(text, origin="c.yml")
    env = {t.name: dict(t.service.environment) for t in result.templates}
    assert env["a"] == {"LOG_LEVEL": "info", "TZ": "UTC"}
    assert env["b"] == {"EXTRA": "1", "LOG_LEVEL": "info", "TZ": "UTC"}


def test_short_repr_is_bounded_whatever_the_value():
    assert short_repr("tcp") == "'tcp'"
    assert len(short_repr("x" * 10_000_000)) <= 60
    shared: list[object] = ["lol"] * 10
    for _ in range(8):  # what an alias bomb constructs: 10**9 items reached, shared
        shared = [shared] * 10
    start = time.perf_counter()
    assert len(short_repr(shared)) <= 60
    assert len(short_repr(10**5000)) <= 60  # over Python's digit limit for str()
    assert time.perf_counter() - start < 0.1


def test_messages_never_render_a_whole_long_value():
    long = "a" * 100_000
    cases = [
        ("manifest", manifest(f"{{ports: [{{container: 80, protocol: {long}}}]}}")),
        ("manifest", manifest(f"{{restart: {long}}}")),
        ("template", template(f", volumes: [{long}]")),
        ("manifest", f"version: 1\nstack: {{name: {long}}}\n"),
    ]
    for kind, text in cases:
        error = refused(kind, text)
        assert long[:200] not in str(error)


def test_an_error_lists_at_most_max_problems():
    error = ValidationError([Problem(f"p{i}", "bad") for i in range(5000)])
    assert len(error.problems) == MAX_PROBLEMS + 1
    assert error.problems[-1].message == f"... and {5000 - MAX_PROBLEMS} more problems"
    text = "version: 1\nstack: {name: s}\ninstances:\n" + "".join(
        f"  i{i}: {{template: t, bogus: 1}}\n" for i in range(1000)
    )
    assert "and 900 more problems" in str(refused("manifest", text))


# -- item 10: refusals instead of internal errors -------------------------------------------------


@pytest.mark.parametrize("kind", ["manifest", "template", "compose"])
def test_text_that_is_not_utf8_is_refused_naming_the_byte(kind):
    text = {"manifest": manifest(), "template": template(), "compose": compose()}[kind]
    data = text.encode() + "# café\n".encode("latin-1")  # Latin-1 is not UTF-8
    error = refused(kind, data)
    offset = len(text) + 5
    assert f"not UTF-8 text at byte {offset}" in str(error)
    assert isinstance(error, ManifestError if kind == "manifest" else TemplateError)


def test_override_files_and_lone_surrogates_are_refused_too():
    with pytest.raises(
        TemplateError, match=r"invalid override file o.yml: not UTF-8 text at byte 3"
    ):
        load_yaml(b"a: \x80", "o.yml", what="override file")
    error = refused("manifest", "version: 1\nstack: '\ud800'\n")
    assert "unpaired surrogate at character 19" in str(error)
    # A byte-order mark is not content.
    assert load_yaml("\ufeffa: 1".encode(), "bom.yml") == {"a": 1}


@pytest.mark.parametrize(
    ("kind", "text", "found"),
    [
        ("manifest", "? [a, b]\n: c\n", "keys must be strings, found a list as a key"),
        ("manifest", manifest("{environment: {1: x}}"), "found an integer 1; quote it ('1')"),
        ("manifest", manifest("{labels: {1: x}}"), "found an integer 1"),
        ("manifest", manifest("{environment: {on: x}}"), "found a boolean True; quote it ('on')"),
        ("template", template(extra="exports: [{name: e, type: t, env: {1: x}}]\n"), "integer 1"),
        ("compose", compose(", healthcheck: {1: x, test: y}"), "found an integer 1"),
        ("compose", compose(", volumes: [{1: x, type: volume}]"), "found an integer 1"),
        ("template", template(", healthcheck: {test: [CMD, x], 2: y}"), "found an integer 2"),
        ("manifest", manifest("{environment: {? {a: 1} : x}}"), "found a mapping as a key"),
    ],
)
def test_keys_that_are_not_strings_are_refused_at_their_line(kind, text, found):
    error = refused(kind, text)
    assert "keys must be strings" in str(error)
    assert found in str(error)
    assert error.problems[0].path.startswith("line ")


@pytest.mark.parametrize("depth", [101, 2000, 5000])
def test_deep_nesting_is_refused_with_the_line(depth):
    block = "".join("  " * i + f"k{i}:\n" for i in range(min(depth, 2000)))  # 5,000: over 4 MiB
    error = refused("manifest", block)
    assert "nested deeper than 100 levels" in str(error)
    assert error.problems[0].path == "line 101, column 201"
    flow = refused("manifest", "a: " + "[" * depth + "]" * depth)
    assert flow.problems[0].path.startswith("line 1, column ")


def test_nesting_up_to_the_limit_is_accepted():
    assert load_yaml("a: " + "[" * 99 + "]" * 99, "ok.yml") is not None


@pytest.mark.parametrize("value", ["'1e30'", "1e30", "'1E+40'", ".inf", ".nan", "'nan'", "'-inf'"])
def test_cpu_counts_that_are_not_finite_numbers_are_refused(value):
    error = refused("manifest", manifest(f"{{resources: {{cpu_limit: {value}}}}}"))
    assert error.problems[0].path == "instances.web.overrides.resources.cpu_limit"
    error = refused("template", template(f", resources: {{cpu_limit: {value}}}"))
    assert error.problems[0].path == "service.resources.cpu_limit"


@pytest.mark.parametrize(
    ("service", "path"),
    [
        (", depends_on: 5", "services.web.depends_on"),
        (", deploy: [x]", "services.web.deploy"),
        (", deploy: {resources: [x]}", "services.web.deploy.resources"),
        (", deploy: {resources: {limits: [x]}}", "services.web.deploy.resources.limits"),
        (", deploy: {resources: {reservations: 5}}", "services.web.deploy.resources.reservations"),
    ],
)
def test_compose_values_of_the_wrong_shape_are_refused_with_a_path(service, path):
    error = refused("compose", compose(service))
    assert path in [p.path for p in error.problems]


def test_numbers_with_more_digits_than_anyone_means_are_refused():
    error = refused("manifest", "version: 1" + "0" * 5000 + "\n")
    assert "a number with more than 40 digits" in str(error)
    error = refused("manifest", manifest("{resources: {memory_limit: '" + "9" * 5000 + "m'}}"))
    assert error.problems[0].path == "instances.web.overrides.resources.memory_limit"


# -- item 15: size limits ---------------------------------------------------------------------


def test_a_file_over_4_mib_is_refused_before_parsing():
    body = "#" * MAX_FILE_BYTES + "\n"
    for text in (body, body.encode()):
        start = time.perf_counter()
        with pytest.raises(ManifestError, match="larger than 4 MiB"):
            Manifest.parse(text, "big.yml")
        assert time.perf_counter() - start < 0.5
    # Counted in bytes: 2 MiB of two-byte characters is over the limit.
    with pytest.raises(TemplateError, match="larger than 4 MiB"):
        load_yaml("é" * (MAX_FILE_BYTES // 2 + 1), "wide.yml")


def test_descriptions_env_values_and_config_files_have_limits():
    cases = [
        (
            "manifest",
            f"version: 1\nstack: {{name: s, description: {'d' * (MAX_DESCRIPTION + 1)}}}\n",
            "stack.description",
        ),
        (
            "manifest",
            manifest(extra=f"    description: {'d' * (MAX_DESCRIPTION + 1)}\n"),
            "instances.web.description",
        ),
        (
            "template",
            template(extra=f"description: {'d' * (MAX_DESCRIPTION + 1)}\n"),
            "description",
        ),
        (
            "manifest",
            manifest(f"{{environment: {{A: {'v' * (MAX_ENV_VALUE + 1)}}}}}"),
            "instances.web.overrides.environment.A",
        ),
        (
            "template",
            template(f", environment: ['A={'v' * (MAX_ENV_VALUE + 1)}']"),
            "service.environment[0]",
        ),
        (
            "template",
            template(f", config_files: [{{path: /c, content: {'c' * (MAX_CONFIG_CONTENT + 1)}}}]"),
            "service.config_files[0].content",
        ),
        (
            "manifest",
            manifest(
                f"{{config_files: [{{path: /c, content: {'c' * (MAX_CONFIG_CONTENT + 1)}}}]}}"
            ),
            "instances.web.overrides.config_files[0].content",
        ),
    ]
    for kind, text, path in cases:
        error = refused(kind, text)
        assert [p.path for p in error.problems] == [path], error
        assert "characters long; at most" in str(error)
    # At the limit they are accepted.
    Manifest.parse(manifest(f"{{environment: {{A: {'v' * MAX_ENV_VALUE}}}}}"))
    parse_template_text(template(extra=f"description: {'d' * MAX_DESCRIPTION}\n"), "t.yaml")


def test_a_scalar_over_2_mib_is_refused_wherever_it_is():
    error = refused("compose", compose(extra=f"x-note: {'n' * (2 * 1024 * 1024 + 1)}\n"))
    assert "a value longer than 2 MiB characters" in str(error)
    assert error.problems[0].path == "line 1, column 9"


def test_at_most_max_instances_per_manifest():
    text = "version: 1\nstack: {name: s}\ninstances:\n" + "".join(
        f"  i{i}: {{template: t}}\n" for i in range(MAX_INSTANCES + 1)
    )
    error = refused("manifest", text)
    assert [p.path for p in error.problems] == ["instances"]
    assert "5,001 instances; at most 5,000" in str(error)


def test_descriptions_given_through_the_api_have_the_same_limit():
    devarch = fake_devarch(Catalog.empty())
    too_long = "d" * (MAX_DESCRIPTION + 1)
    with pytest.raises(ValidationError, match="description: is 1,001 characters long"):
        devarch.create_stack("s1", description=too_long)
    assert devarch.list_stacks(with_runtime=False) == []
    devarch.create_stack("s1", description="ok")
    with pytest.raises(ValidationError, match="at most 1000 allowed"):
        devarch.update_stack("s1", description=too_long)
    with pytest.raises(ValidationError):
        devarch.clone_stack("s1", "s2", description=too_long)
    assert devarch.show_stack("s1")["description"] == "ok"
    with pytest.raises(DevarchError):
        devarch.create_stack("s3", description=["not", "text"])  # type: ignore[arg-type]


def test_lockfiles_and_control_characters_are_refused_naming_where():
    from devarch_core.manifest import Lockfile  # noqa: PLC0415

    with pytest.raises(ManifestError, match=r"invalid lockfile l.lock: not UTF-8 text at byte 0"):
        Lockfile.parse(b"\xfeformat: 1\n", "l.lock")
    error = refused("manifest", "version: 1\x00\n")
    assert error.problems[0].path == "character 10"
    assert "control characters are not allowed" in str(error)


def test_import_messages_never_render_a_whole_long_name():
    from tests.adversarial.hostile import ROOT  # noqa: PLC0415

    from devarch_adapters.filesystem import load_catalog_dirs  # noqa: PLC0415

    devarch = fake_devarch(load_catalog_dirs([ROOT / "examples" / "catalog"]))
    long = "a" * 5000
    text = (
        f"version: 1\nstack: {{name: {long}}}\ninstances:\n  web: {{template: bb-web}}\n"
        f"  db: {{template: bb-db}}\nwires: [{{consumer: web, import: {long}, provider: db}}]\n"
    )
    with pytest.raises(ManifestError) as info:
        devarch.import_yaml(text, dry_run=True, environ={})
    assert long[:100] not in str(info.value)
    assert len(str(info.value)) < 2000


def test_a_long_template_name_is_not_repeated_whole_in_the_error():
    long = "a" * 5000
    error = refused("template", f"name: {long}\nversion: '1'\nservice: {{image: x}}\n")
    assert long[:100] not in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"format": 1, "stack": "s", "token": "t", "actions": [5]}', "malformed plan"),
        ('{"format": 1, "stack": "s", "token": "t", "basis": [1]}', "malformed plan"),
    ],
)
def test_a_hostile_plan_file_is_refused_cleanly(text, message):
    from devarch_core.planning import Plan  # noqa: PLC0415

    with pytest.raises(ManifestError, match=message):
        Plan.from_json(text)


def test_compose_warnings_and_hints_list_a_bounded_number_of_names():
    services = "".join(f"  s{i}: {{image: x}}\n" for i in range(500))
    with pytest.raises(DevarchError) as info:
        templates_from_compose(f"services:\n{services}", origin="c.yml", service="nope")
    assert "s0, s1," in str(info.value)
    assert "and 480 more" in str(info.value)
    keys = ", ".join(f"k{i}: 1" for i in range(500))
    deps = ", ".join(f"d{i}" for i in range(500))
    result = templates_from_compose(
        f"services:\n  web: {{image: x, {keys}, depends_on: [{deps}]}}\n", origin="c.yml"
    )
    assert all(len(w) < 1000 for w in result.warnings), [len(w) for w in result.warnings]


def test_the_limits_hold_with_pyyaml_built_without_libyaml():
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    script = f"""
import sys
sys.modules["yaml._yaml"] = None  # as if PyYAML had no libyaml
from devarch_core._yamlload import _CParser
from devarch_core.catalog import load_yaml
from devarch_core.errors import TemplateError
assert _CParser is None
for text, message in [
    ({BOMB_SITES[-2][1]!r}, "aliases expand to more than"),
    ("a: " + "[" * 3000 + "]" * 3000, "nested deeper than 100 levels"),
    ("version: 1\\x00", "character 10: not valid YAML"),
    ("a: {{1: x}}", "keys must be strings"),
    ("a: &a [*a]", "refers to a collection that contains it"),
]:
    try:
        load_yaml(text, "x.yml")
    except TemplateError as exc:
        assert message in str(exc), (message, str(exc))
    else:
        raise AssertionError(message)
merged = load_yaml("x: &x {{a: 1}}\\ny: {{<<: *x, b: 2}}", "x.yml")
assert merged == {{"x": {{"a": 1}}, "y": {{"a": 1, "b": 2}}}}, merged
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr

"""Property: a stack exported, then imported into a fresh devarch, exports the same bytes.

Stacks are generated on the in-memory fakes from the example busybox catalog: instances with
generated overrides (environment with ``null`` removals, pinned and unpublished ports, resources,
labels, healthcheck disable, depends_on, config files), explicit wires between valid
consumer/provider pairs, secrets set through ``set_secret``, enabled flags and descriptions, and
host port pins allocated by a plan + apply on the fake runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tests.strategies import overrides_data

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core.errors import DevarchError, ManifestError
from devarch_core.testing import fake_devarch, reveal_secret

if TYPE_CHECKING:
    from devarch_core.app import Devarch
    from devarch_core.catalog import Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"
#: Every image a generated override may name, so applies on the fake engine never need a pull.
IMAGES = {
    IMAGE: "sha256:1",
    "app:1": "sha256:a1",
    "app:2": "sha256:a2",
    "busybox:1.36": "sha256:b1",
    "registry.local/team/api:dev": "sha256:r1",
}
CATALOG: Catalog = load_catalog_dirs([EXAMPLES])

TEMPLATES = ("bb-db", "bb-cache", "bb-web", "bb-worker")
INSTANCE_NAMES = ("db", "cache", "web", "worker", "api", "db2")
#: Container ports of the example templates, plus one they do not have.
PORTS = {"bb-db": 5432, "bb-cache": 6379, "bb-web": 8080, "bb-worker": 9000}
ENV = ("APP_TITLE", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "DEBUG", "EXTRA")
SECRET_NAMES = ("POSTGRES_PASSWORD", "API_TOKEN", "SESSION_KEY")
TEXT = st.text(alphabet="abcXYZ019 _-=:/.'\"#\n", max_size=12)


def _example_overrides(
    template: str, index: int, others: list[str]
) -> st.SearchStrategy[dict[str, Any]]:
    """Overrides aimed at an example template: the fields a user of these templates touches."""
    port = PORTS[template]
    port_rows = st.sampled_from(
        (
            {"container": port, "host": 41000 + index * 10},  # pinned, unique per instance
            {"container": port, "publish": False},
            {"container": port, "host_ip": "0.0.0.0"},  # noqa: S104 - data only
            {"container": port, "remove": True},
            {"container": 7000 + index, "host": 42000 + index * 10},
            {"container": 7100 + index, "protocol": "udp"},
        )
    )
    optional: dict[str, st.SearchStrategy[Any]] = {
        "environment": st.dictionaries(st.sampled_from(ENV), st.none() | TEXT, min_size=1),
        "labels": st.dictionaries(
            st.sampled_from(("com.example.team", "owner")), st.none() | TEXT, min_size=1
        ),
        "ports": st.lists(port_rows, min_size=1, max_size=2, unique_by=lambda p: p["container"]),
        "resources": st.fixed_dictionaries(
            {"memory_limit": st.sampled_from(("64m", "512m", "1g"))},
            optional={
                "cpu_limit": st.sampled_from(("0.5", "1", "2")),
                "cpu_reservation": st.sampled_from(("0.1", "0.25")),
                "memory_reservation": st.sampled_from(("16m", "32m")),
            },
        ),
        "healthcheck": st.sampled_from(("disable", {"disable": True})),
        "config_files": st.lists(
            st.fixed_dictionaries(
                {
                    "path": st.sampled_from(("/etc/app/app.conf", "/etc/app/b.conf")),
                    "content": TEXT,
                },
                optional={"mode": st.sampled_from(("0644", "0600"))},
            ),
            min_size=1,
            max_size=2,
            unique_by=lambda f: f["path"],
        ),
        "image": st.sampled_from(sorted(IMAGES)),
    }
    if others:
        optional["depends_on"] = st.lists(
            st.sampled_from(others).flatmap(
                lambda n: st.sampled_from((n, {"instance": n}, {"instance": n, "remove": True}))
            ),
            min_size=1,
            max_size=2,
            unique_by=lambda d: d if isinstance(d, str) else d["instance"],
        )
    return st.fixed_dictionaries({}, optional=optional)


@st.composite
def stack_recipes(draw: st.DrawFn) -> dict[str, Any]:
    """Generate what a user does to build a stack: create, add, wire, set secrets, toggle, apply."""
    names = draw(st.lists(st.sampled_from(INSTANCE_NAMES), min_size=1, max_size=5, unique=True))
    instances = []
    # Most stacks hold a database, so the consumers' required import resolves and apply runs.
    with_db = draw(st.integers(0, 3)) != 0
    for index, name in enumerate(names):
        template = "bb-db" if with_db and index == 0 else draw(st.sampled_from(TEMPLATES))
        others = [n for n in names if n != name]
        generic = draw(st.integers(0, 5)) == 0
        overrides = draw(
            overrides_data() if generic else _example_overrides(template, index, others)
        )
        instances.append(
            {
                "name": name,
                "template": template,
                "overrides": overrides,
                "description": draw(st.sampled_from(("", "storefront", "the 'main' one: yes"))),
                "enabled": draw(st.booleans()) if draw(st.integers(0, 3)) == 0 else True,
            }
        )
    secret_values = {
        n: f"SECRETVALUE-{draw(st.text(alphabet='abcdef0123456789', min_size=6, max_size=10))}"
        for n in SECRET_NAMES
    }
    secrets = draw(
        st.lists(
            st.tuples(st.sampled_from(names), st.sampled_from(SECRET_NAMES)),
            unique=True,
            max_size=4,
        )
    )
    return {
        "stack": draw(st.sampled_from(("shop", "blog", "a1"))),
        "description": draw(st.sampled_from(("", "Shop dev environment", "multi\nline"))),
        "network": draw(st.sampled_from((None, "custom-net"))),
        "instances": instances,
        "wire_choices": draw(st.lists(st.integers(0, 9), min_size=12, max_size=12)),
        "secrets": secrets,
        "secret_values": secret_values,
        "apply": draw(st.integers(0, 4)) != 0,
    }


def _wire_candidates(devarch: Devarch, stack: str) -> list[tuple[str, str, list[str]]]:
    """(consumer, import, [providers]) for every import some other instance can satisfy."""
    instances = devarch.list_instances(stack)
    templates = {i.name: CATALOG.get(i.template, i.template_version) for i in instances}
    rows = []
    for consumer, tmpl in sorted(templates.items()):
        for imp in tmpl.imports:
            providers = sorted(
                name
                for name, prov in templates.items()
                if name != consumer and any(e.type == imp.type for e in prov.exports)
            )
            if providers:
                rows.append((consumer, imp.name, providers))
    return rows


#: Plan error codes of the wiring solver (an import refuses them too).
WIRING_CODES = ("missing", "ambiguous", "invalid-wire", "cycle")


def build(recipe: dict[str, Any]) -> Devarch:
    """Carry out a recipe on a fresh fake devarch; steps the facade refuses are skipped."""
    devarch = fake_devarch(CATALOG, images=IMAGES)
    stack = recipe["stack"]
    devarch.create_stack(stack, description=recipe["description"], network=recipe["network"])
    for inst in recipe["instances"]:
        try:
            devarch.add_instance(
                stack,
                inst["name"],
                inst["template"],
                description=inst["description"],
                overrides=inst["overrides"],
            )
        except DevarchError:
            event("add_instance refused generated overrides")
            continue
        if not inst["enabled"]:
            devarch.update_instance(stack, inst["name"], enabled=False)
    choices = iter(recipe["wire_choices"])
    for consumer, import_name, providers in _wire_candidates(devarch, stack):
        choice = next(choices, 0)
        if choice == 0:
            continue  # leave it to auto-wiring
        provider = providers[choice % len(providers)]
        devarch.add_wire(stack, consumer, import_name, provider)
        event("explicit wire")
    present = {i.name for i in devarch.list_instances(stack)}
    for instance, name in recipe["secrets"]:
        if instance in present:
            devarch.set_secret(stack, instance, name, recipe["secret_values"][name])
    if recipe["apply"]:
        try:
            devarch.apply(stack)
            event("applied")
        except DevarchError as exc:
            event(f"apply refused: {type(exc).__name__} {str(exc)[:50]}")
    return devarch


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(recipe=stack_recipes())
def test_export_import_export_gives_the_same_bytes_and_reimport_changes_nothing(
    recipe: dict[str, Any],
) -> None:
    """Export → import into a fresh devarch → export is byte-identical; re-imports change nothing.

    Secrets stay placeholders; importing the same text again (into the copy or the original)
    reports no changes.
    """
    original = build(recipe)
    stack = recipe["stack"]
    text = original.export_yaml(stack)
    if "pins:" in text:
        event("has host port pins")
    secrets = original.list_secrets(stack)
    for row in secrets:
        assert f"${{secret:{row['name']}}}" in text
    for value in recipe["secret_values"].values():
        assert value not in text

    copy = fake_devarch(CATALOG, images=IMAGES)
    if any(d.code in WIRING_CODES for d in original.plan(stack).errors):
        # A manifest is a whole stack: import refuses wiring the plan would refuse.
        event("unsolvable wiring: import refuses")
        with pytest.raises(ManifestError, match="cannot import stack"):
            copy.import_yaml(text, secret_values=recipe["secret_values"])
        assert copy.list_stacks(with_runtime=False) == []
        return
    result = copy.import_yaml(text, secret_values=recipe["secret_values"])
    assert result.created
    assert copy.export_yaml(stack) == text
    for row in secrets:
        assert (
            reveal_secret(copy, stack, row["instance"], row["name"])
            == recipe["secret_values"][row["name"]]
        )
    assert sorted(copy.list_secrets(stack), key=str) == sorted(secrets, key=str)

    again = copy.import_yaml(text)
    assert not again.has_changes, again.render_text()
    same = original.import_yaml(text)
    assert not same.has_changes, same.render_text()
    assert original.export_yaml(stack) == text


def test_reimport_with_a_different_secret_value_keeps_the_existing_secret() -> None:
    """A placeholder keeps an existing secret: a re-import with another flag value is a no-op."""
    devarch = fake_devarch(CATALOG, images=IMAGES)
    devarch.create_stack("shop")
    devarch.add_instance("shop", "db", "bb-db")
    devarch.set_secret("shop", "db", "POSTGRES_PASSWORD", "first-value")
    text = devarch.export_yaml("shop")
    result = devarch.import_yaml(text, secret_values={"POSTGRES_PASSWORD": "second-value"})
    assert not result.has_changes
    assert reveal_secret(devarch, "shop", "db", "POSTGRES_PASSWORD") == "first-value"


@pytest.mark.parametrize("digests", [False, True])
def test_export_is_deterministic_across_calls(digests: bool) -> None:
    """Two exports of the same stack (with or without image digests) are the same bytes."""
    devarch = fake_devarch(CATALOG, images=IMAGES)
    devarch.create_stack("shop")
    for name, template in (("web", "bb-web"), ("db", "bb-db"), ("cache", "bb-cache")):
        devarch.add_instance("shop", name, template)
    devarch.apply("shop")
    first = devarch.export_yaml("shop", digests=digests)
    assert first == devarch.export_yaml("shop", digests=digests)
    assert ("image: sha256:1" in first) is digests

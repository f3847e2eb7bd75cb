"""Every row of the service field table round-trips (docs/architecture.md#service-fields).

The tests are parametrized by :data:`devarch_core.fields.FIELDS` itself, so a new row is tested
as soon as it is added: its example override merges with source ``user``, renders to Compose,
imports back to the same value, survives the manifest form, and unsetting it restores the
template's value.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import yaml

from devarch_core.compose import compose_items, render_compose
from devarch_core.compose_import import templates_from_compose
from devarch_core.desired import container_spec, spec_data
from devarch_core.engine import ContainerSpec
from devarch_core.errors import ValidationError
from devarch_core.fields import (
    FIELDS,
    Field,
    cli_field,
    merge_override_data,
    unset_override_data,
)
from devarch_core.merge import EffectiveConfig, resolve
from devarch_core.model import Instance, PortAllocation, Stack
from devarch_core.overrides import Overrides
from devarch_core.spec import ServiceSpec
from devarch_core.template import Template

STACK = Stack(id="stk-ft", name="shop")
OWNER = "owner-ft"
#: The template's own value of every field; a row without one here inherits the default.
TEMPLATE_VALUES: dict[str, Any] = {
    "image": "devarch-test/busybox:latest",
    "command": ["sleep", "60"],
    "working_dir": "/srv",
    "restart": "always",
    "stop_grace_period": "5s",
    "stop_signal": "SIGTERM",
    "init": False,
    "environment": {"GREETING": "hi", "KEEP": "1"},
    "labels": {"team": "core"},
    "ports": ["8080", "9000"],
    "volumes": ["data:/var/lib/app"],
    "domains": ["web.example.test"],
    "healthcheck": {"test": ["CMD", "false"], "retries": 1},
    "config_files": [{"path": "/etc/app/app.conf", "content": "debug = false\n"}],
    "resources": {"cpu_limit": "1", "memory_limit": "512m"},
}

ids = [f.name for f in FIELDS]


def _template(service: dict[str, Any]) -> Template:
    return Template.from_data({"name": "web", "version": "1.0", "service": service})


def _effective(template: Template, overrides: Overrides) -> EffectiveConfig:
    instance = Instance(
        id="ins-web",
        stack_id=STACK.id,
        stack=STACK.name,
        name="web",
        template=template.name,
        template_version=template.version,
        overrides=overrides,
    )
    return resolve(template, overrides, stack=STACK, instance=instance)


def _value(service: ServiceSpec, field: Field) -> Any:
    return getattr(service, field.name)


def _rendered(effective: EffectiveConfig) -> str:
    allocations = {
        port.key: PortAllocation(
            stack=STACK.name,
            instance="web",
            container_port=port.container,
            protocol=port.protocol,
            host_port=20000 + i,
        )
        for i, port in enumerate(effective.service.ports)
    }
    spec = container_spec(
        effective, owner=OWNER, allocations=allocations, config_dir="/devarch/shop/web"
    )
    # the instances it depends on, so the renderer has them to point at
    others = [
        (dep, ContainerSpec(name=f"devarch-shop-{dep}", image="x", network=spec.network), ())
        for dep in effective.service.depends_on
    ]
    items = compose_items([("web", spec, effective.service.depends_on), *others])
    return render_compose(STACK.name, effective.network, items)


def test_the_table_names_each_field_once_and_covers_the_service_spec():
    """One row per ServiceSpec attribute, in a fixed order, each with an example override."""
    import attrs  # noqa: PLC0415

    names = [f.name for f in FIELDS]
    assert len(names) == len(set(names))
    assert set(names) == {a.name for a in attrs.fields(ServiceSpec)}
    assert all(f.example is not None for f in FIELDS)


@pytest.mark.parametrize("field", FIELDS, ids=ids)
def test_override_merges_renders_and_imports_back(field: Field):
    """Override -> merge (source user) -> compose -> import -> the same value."""
    template = _template({"image": TEMPLATE_VALUES["image"]})
    overrides = Overrides.from_data({field.name: field.example})
    effective = _effective(template, overrides)
    value = _value(effective.service, field)
    paths = field.flatten(value)
    assert paths, f"{field.name}: the example changed nothing"
    for path in paths:
        assert effective.sources[path] == "user", path

    text = _rendered(effective)
    templates = templates_from_compose(text, origin="rendered.yml").templates
    imported = next(t for t in templates if t.name == "web").service
    if field.portable is not None:
        assert field.portable(_value(imported, field)) == field.portable(value)
    else:
        # Not a Compose key of its own: domains are network aliases, config files read-only
        # bind mounts, depends_on names other services (the import drops it with a warning).
        service = yaml.safe_load(text)["services"]["web"]
        shown = yaml.safe_dump(service)
        for path in paths:
            assert path.split(".", 1)[1] in shown, path


@pytest.mark.parametrize("field", FIELDS, ids=ids)
def test_unset_restores_the_template_value(field: Field):
    """Unsetting the override gives back the template's value and its source."""
    template = _template(TEMPLATE_VALUES)
    data = Overrides.from_data({field.name: field.example}).to_data()
    changed = _effective(template, Overrides.from_data(data))
    plain = _effective(template, Overrides())
    assert _value(changed.service, field) != _value(plain.service, field)

    restored = _effective(template, Overrides.from_data(unset_override_data(data, field.name)))
    assert _value(restored.service, field) == _value(plain.service, field)
    assert restored.sources == plain.sources


@pytest.mark.parametrize("field", FIELDS, ids=ids)
def test_override_data_round_trips_and_merges_idempotently(field: Field):
    """The manifest form reads back equal; merging the same delta twice changes nothing."""
    overrides = Overrides.from_data({field.name: field.example})
    assert Overrides.from_data(overrides.to_data()) == overrides
    once = merge_override_data({}, overrides.to_data())
    assert merge_override_data(once, overrides.to_data()) == once


#: Fields that order the containers rather than shape one: no recreate when they change.
NOT_IN_THE_CONTAINER = {"depends_on"}


@pytest.mark.parametrize(
    "field", [f for f in FIELDS if f.name not in NOT_IN_THE_CONTAINER], ids=lambda f: f.name
)
def test_every_field_changes_the_config_hash(field: Field):
    """A change of any field is a change of the container spec (and so of its hash)."""
    template = _template({"image": TEMPLATE_VALUES["image"]})
    before = _effective(template, Overrides())
    after = _effective(template, Overrides.from_data({field.name: field.example}))

    def data(effective: EffectiveConfig) -> dict[str, Any]:
        allocations = {
            p.key: PortAllocation(
                stack=STACK.name,
                instance="web",
                container_port=p.container,
                protocol=p.protocol,
                host_port=20000,
            )
            for p in effective.service.ports
        }
        spec = container_spec(effective, owner=OWNER, allocations=allocations, config_dir="/d")
        # config file contents reach the hash as its ``extra`` (see usecases.apply)
        extra = [f.to_data() for f in effective.service.config_files]
        return {"spec": spec_data(spec, str), "extra": extra}

    assert data(before) != data(after)


# -- the three stop fields ---------------------------------------------------------------------


def test_stop_fields_parse_in_a_template_and_reach_the_engine_spec():
    """stop_grace_period (duration), stop_signal (normalized) and init reach ContainerSpec."""
    template = _template(
        {"image": "x", "stop_grace_period": "1m30s", "stop_signal": "sigquit", "init": True}
    )
    assert template.service.stop_grace_period == Decimal(90)
    assert template.service.stop_signal == "SIGQUIT"
    assert template.service.init is True
    effective = _effective(template, Overrides.from_data({"stop_signal": 2}))
    spec = container_spec(effective, owner=OWNER, allocations={}, config_dir=None)
    assert (spec.stop_grace_period, spec.stop_signal, spec.init) == (Decimal(90), "2", True)
    assert effective.sources["stop_signal"] == "user"
    assert effective.sources["stop_grace_period"] == "template"


@pytest.mark.parametrize(
    ("service", "path", "message"),
    [
        ({"stop_signal": "SIGNOPE"}, "service.stop_signal", "is not a signal name"),
        ({"stop_signal": 99}, "service.stop_signal", "out of range 1-64"),
        ({"stop_signal": True}, "service.stop_signal", "expected a signal name"),
        ({"stop_grace_period": "soon"}, "service.stop_grace_period", "is not a duration"),
        ({"stop_grace_period": "48h"}, "service.stop_grace_period", ""),
        ({"init": "yes"}, "service.init", "expected true or false"),
    ],
)
def test_bad_stop_fields_are_refused_with_their_path(service, path, message):
    """Each new field is validated in templates (and, by the same row, in overrides)."""
    with pytest.raises(ValidationError) as caught:
        ServiceSpec.from_compose({"image": "x", **service})
    assert [p.path for p in caught.value.problems] == [path]
    assert message in caught.value.problems[0].message
    override = dict(service)
    with pytest.raises(ValidationError) as caught:
        Overrides.from_data(override)
    assert [p.path for p in caught.value.problems] == [path.replace("service", "overrides")]


def test_cli_set_reads_the_stop_fields():
    """``--set stop_grace_period=30s stop_signal=SIGINT init=true`` gives typed overrides."""
    from devarch_adapters.cli._main import parse_assignments  # noqa: PLC0415

    delta = parse_assignments(["stop_grace_period=30s", "stop_signal=SIGINT", "init=true"])
    assert delta == {"stop_grace_period": "30s", "stop_signal": "SIGINT", "init": True}
    overrides = Overrides.from_data(delta)
    assert (overrides.stop_grace_period, overrides.stop_signal, overrides.init) == (
        Decimal(30),
        "SIGINT",
        True,
    )
    with pytest.raises(ValidationError, match="expected true or false"):
        parse_assignments(["init=maybe"])
    assert cli_field("init") is not None


def test_compose_import_reads_the_stop_fields():
    """A compose file's stop_grace_period, stop_signal and init become template fields."""
    text = (
        "services:\n  app:\n    image: x\n    stop_grace_period: 20s\n"
        "    stop_signal: SIGINT\n    init: true\n"
    )
    result = templates_from_compose(text, origin="c.yml")
    service = result.templates[0].service
    assert (service.stop_grace_period, service.stop_signal, service.init) == (
        Decimal(20),
        "SIGINT",
        True,
    )
    assert not result.warnings


def test_devarch_stops_a_container_with_its_own_grace_period():
    """Removing an instance stops its container with the instance's stop_grace_period (fake)."""
    from pathlib import Path  # noqa: PLC0415

    from devarch_adapters.filesystem import load_catalog_dirs  # noqa: PLC0415
    from devarch_core.testing import FakeRuntime, fake_devarch  # noqa: PLC0415

    examples = Path(__file__).resolve().parents[2] / "examples" / "catalog"
    devarch = fake_devarch(
        load_catalog_dirs([examples]), images={"devarch-test/busybox:latest": "sha256:1"}
    )
    devarch.create_stack("shop")
    devarch.add_instance("shop", "db", "bb-db")
    devarch.add_instance("shop", "other", "bb-db")
    devarch.set_overrides("shop", "db", {"stop_grace_period": "3s"})
    devarch.apply("shop")
    runtime = devarch.runtime
    assert isinstance(runtime, FakeRuntime)
    assert runtime.spec("devarch-shop-db").stop_grace_period == Decimal(3)
    devarch.remove_instance("shop", "db")
    devarch.remove_instance("shop", "other")
    devarch.apply("shop")
    assert runtime.stop_timeouts == {"devarch-shop-db": 3.0, "devarch-shop-other": 10.0}


@pytest.mark.parametrize("service", [{}, {"image": None}, {"image": ""}])
def test_a_missing_or_null_image_is_one_clear_problem(service):
    """``image: null`` was an AssertionError; now, like a missing image, a ValidationError."""
    with pytest.raises(ValidationError) as caught:
        ServiceSpec.from_compose(service)
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("service.image", "an image is required")
    ]

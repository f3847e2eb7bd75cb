"""Properties of the merge resolver over generated templates, overrides and wires.

Strategies come from ``tests/strategies.py`` (imported as ``tests.strategies``; see its docstring
for why that works under ``--import-mode=importlib``).

See docs/architecture.md#merge-rules.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import (
    absent_removals_data,
    injections,
    instance_for,
    overrides,
    overrides_data,
    stacks,
    templates,
)

from devarch_core.merge import EffectiveConfig, WireInjection, resolve
from devarch_core.model import Stack
from devarch_core.overrides import Overrides
from devarch_core.secrets import Secret
from devarch_core.spec import DEFAULT_HOST_IP

if TYPE_CHECKING:
    import random

    from devarch_core.template import Template

#: Default example counts; no per-example deadline, because these tests share two cores with
#: engine-backed suites and a loaded machine must not turn a timing hiccup into a failure.
NO_DEADLINE = settings(deadline=None)
STACK = Stack(id="stack-1", name="shop")
KEYED_LISTS = ("ports", "volumes", "domains", "depends_on", "config_files")
KEYED = ("environment", "labels", "ports", "volumes", "domains", "depends_on", "config_files")


def merge(
    template: Template,
    override: Overrides,
    wires: list[WireInjection] | None = None,
    stack: Stack = STACK,
) -> EffectiveConfig:
    """Resolve ``template`` as the generated instance of ``stack`` with ``override``."""
    return resolve(
        template,
        override,
        stack=stack,
        instance=instance_for(stack, template, override),
        injections=wires or (),
    )


def plain(value: object) -> object:
    """Return an environment value as the engine sees it."""
    return value.reveal() if isinstance(value, Secret) else value


def named_keys(override: Overrides) -> set[str]:
    """Every keyed field path (``ports.80/tcp``, ``environment.A``...) the override names."""
    names = {f"environment.{k}" for k in override.environment}
    names |= {f"labels.{k}" for k in override.labels}
    names |= {f"ports.{p.key}" for p in override.ports}
    names |= {f"volumes.{v.target}" for v in override.volumes}
    names |= {f"domains.{d}" for d in override.domains}
    names |= {f"depends_on.{d}" for d in override.depends_on}
    names |= {f"config_files.{f.path}" for f in override.config_files}
    return names


@NO_DEADLINE
@given(templates(), stacks())
def test_empty_override_changes_nothing(template: Template, stack: Stack) -> None:
    """Without overrides or wires the effective service is the template's, every source template."""
    result = merge(template, Overrides(), stack=stack)
    assert result.service.to_data(reveal=True) == template.service.to_data(reveal=True)
    if not template.secrets:
        assert result.service == template.service
    assert set(result.sources.values()) <= {"template"}
    assert set(result.sources) == set(result.fields())
    assert result.secret_env == frozenset(template.secrets)
    assert result.enabled is stack.enabled
    assert result.network == stack.network_name


def check_user_scalars_and_maps(override: Overrides, result: EffectiveConfig) -> None:
    """Assert that scalars, environment and labels set by the override won, with source user."""
    service, sources = result.service, result.sources
    for key in ("image", "command", "entrypoint", "working_dir", "user", "restart"):
        if getattr(override, key) is not None:
            assert getattr(service, key) == getattr(override, key)
            assert sources[key] == "user"
    for name, value in override.environment.items():
        assert plain(service.environment.get(name)) == value
        if value is not None:
            assert sources[f"environment.{name}"] == "user"
    for name, label in override.labels.items():
        assert service.labels.get(name) == label
        if label is not None:
            assert sources[f"labels.{name}"] == "user"
    for field in override.resources.FIELDS:
        if getattr(override.resources, field) is not None:
            assert getattr(service.resources, field) == getattr(override.resources, field)
            assert sources[f"resources.{field}"] == "user"


def check_user_list_entries(override: Overrides, result: EffectiveConfig) -> None:  # noqa: C901
    """Assert that keyed entries the override sets won (source user) and removed ones are gone."""
    service, sources = result.service, result.sources
    ports = {p.key: p for p in service.ports}
    volumes = {v.target: v for v in service.volumes}
    files = {f.path: f for f in service.config_files}
    changes: list[tuple[str, Any, dict[str, Any], tuple[str, ...]]] = [
        ("ports", override.ports, ports, ("host", "host_ip", "publish")),
        ("volumes", override.volumes, volumes, ("source", "type", "read_only")),
        ("config_files", override.config_files, files, ("content", "mode")),
    ]
    for field, entries, merged, attributes in changes:
        for entry in entries:
            key = getattr(entry, "key", None) or getattr(entry, "target", None) or entry.path
            if entry.remove:
                assert key not in merged
                continue
            assert sources[f"{field}.{key}"] == "user"
            for attribute in attributes:
                if getattr(entry, attribute) is not None:
                    assert getattr(merged[key], attribute) == getattr(entry, attribute)
    for field, values in (("domains", service.domains), ("depends_on", service.depends_on)):
        for name, keep in getattr(override, field).items():
            assert (name in values) is keep
            if keep:
                assert sources[f"{field}.{name}"] == "user"
    if override.healthcheck_disabled:
        assert service.healthcheck is None
    elif override.healthcheck is not None:
        assert service.healthcheck == override.healthcheck
        assert sources["healthcheck"] == "user"


@NO_DEADLINE
@given(templates(), overrides(), injections())
def test_user_values_always_win(
    template: Template, override: Overrides, wires: list[WireInjection]
) -> None:
    """Everything the override sets is in the result with source user, whatever the wires inject."""
    result = merge(template, override, wires)
    check_user_scalars_and_maps(override, result)
    check_user_list_entries(override, result)


@NO_DEADLINE
@given(templates(), overrides_data(), injections(), st.randoms(use_true_random=False))
def test_resolve_is_deterministic(
    template: Template, data: dict[str, Any], wires: list[WireInjection], rnd: random.Random
) -> None:
    """Equal inputs give equal results and identical JSON, however the keyed lists are ordered."""
    shuffled = {k: rnd.sample(v, len(v)) if k in KEYED_LISTS else v for k, v in data.items()}
    first = merge(template, Overrides.from_data(data), wires)
    second = merge(template, Overrides.from_data(shuffled), wires)
    assert first == second
    assert json.dumps(first.to_data()) == json.dumps(second.to_data())
    assert first.explain() == second.explain()


@NO_DEADLINE
@given(overrides_data())
def test_overrides_manifest_form_round_trips(data: dict[str, Any]) -> None:
    """Whatever spelling a user wrote, parsed overrides export to data that parses back equal."""
    parsed = Overrides.from_data(data)
    assert Overrides.from_data(parsed.to_data()) == parsed
    assert Overrides.from_data(parsed.to_data()).to_data() == parsed.to_data()
    assert json.loads(json.dumps(parsed.to_data())) == parsed.to_data()


@NO_DEADLINE
@given(templates(), overrides_data(), absent_removals_data(), injections())
def test_removing_what_the_template_lacks_is_harmless(
    template: Template, data: dict[str, Any], removals: dict[str, Any], wires: list[WireInjection]
) -> None:
    """Removal markers for entries nobody has change nothing, next to any other override."""
    combined = dict(data)
    for key, value in removals.items():
        if isinstance(value, dict):
            combined[key] = {**data.get(key, {}), **value}
        else:
            combined[key] = [*data.get(key, []), *value]
    assert merge(template, Overrides.from_data(combined), wires) == merge(
        template, Overrides.from_data(data), wires
    )
    assert merge(template, Overrides.from_data(removals), wires) == merge(
        template, Overrides(), wires
    )


@NO_DEADLINE
@given(templates(), overrides(), injections())
def test_merge_never_drops_an_inherited_entry_the_override_does_not_name(
    template: Template, override: Overrides, wires: list[WireInjection]
) -> None:
    """Every inherited keyed entry (template or wire) the override does not name survives as is."""
    inherited = merge(template, Overrides(), wires)
    result = merge(template, override, wires)
    named = named_keys(override)
    fields = result.fields()
    for field, value in inherited.fields().items():
        if field.split(".", 1)[0] not in KEYED or field in named:
            continue
        assert fields.get(field) == value, f"{field} was dropped or changed"
        assert result.sources[field] == inherited.sources[field]
    env = result.service.environment
    for name, value in inherited.service.environment.items():
        if f"environment.{name}" not in named:
            assert plain(env[name]) == plain(value)
    for field in override.resources.FIELDS:
        if getattr(override.resources, field) is None:
            assert getattr(result.service.resources, field) == getattr(
                template.service.resources, field
            )


@NO_DEADLINE
@given(templates(), overrides(), injections())
def test_ports_keep_their_defaults_unless_overridden(
    template: Template, override: Overrides, wires: list[WireInjection]
) -> None:
    """An added port is published on 127.0.0.1 on an allocated host port unless overridden."""
    template_keys = {p.key for p in template.service.ports}
    ports = {p.key: p for p in merge(template, override, wires).service.ports}
    for change in override.ports:
        if change.remove or change.key in template_keys:
            continue
        port = ports[change.key]
        assert port.host == change.host
        assert port.host_ip == (change.host_ip or DEFAULT_HOST_IP)
        assert port.publish is (change.publish is not False)


@NO_DEADLINE
@given(templates(), overrides(), injections())
def test_secrets_stay_secret_through_every_layer(
    template: Template, override: Overrides, wires: list[WireInjection]
) -> None:
    """A variable declared secret by the template, the override or a wire stays a Secret."""
    result = merge(template, override, wires)
    declared = set(template.secrets) | set(override.secrets)
    for wire in wires:
        declared |= {k for k, v in wire.environment.items() if isinstance(v, Secret)}
    for name, value in result.service.environment.items():
        if name in declared and override.environment.get(name, "") is not None:
            assert isinstance(value, Secret), name
            assert result.to_data()["service"]["environment"][name] == "***"
    assert result.secret_env == {
        n for n, v in result.service.environment.items() if isinstance(v, Secret)
    }

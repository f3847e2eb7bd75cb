"""Compose rendering of a stack and of one instance (docs/architecture.md#data-path)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import unavailable

from devarch_core import naming
from devarch_core.compose import (
    ComposeItem,
    compose_document,
    compose_items,
    render_compose,
    render_instance,
)
from devarch_core.desired import container_spec, network_labels
from devarch_core.errors import ValidationError
from devarch_core.merge import resolve
from devarch_core.model import Instance, PortAllocation, Stack
from devarch_core.overrides import Overrides
from devarch_core.secrets import Secret
from devarch_core.template import Template

OWNER = "owner-1234"
STACK = Stack(id="stk-1", name="shop")
NETWORK = "devarch-shop-net"
DB_PASSWORD = "s3cr3t-pa$$word"

DB = Template.from_data(
    {
        "name": "postgres",
        "version": "16.4",
        "service": {
            "image": "postgres:16",
            "environment": {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "devarch"},
            "ports": ["5432"],
            "volumes": ["data:/var/lib/postgresql/data"],
            "healthcheck": {
                "test": ["CMD-SHELL", "pg_isready -U $POSTGRES_USER"],
                "interval": "5s",
                "timeout": "3s",
                "retries": 10,
                "start_period": "1m30s",
            },
            "resources": {"memory_limit": "512m", "cpu_limit": "0.5", "cpu_reservation": "0.25"},
        },
        "secrets": ["POSTGRES_PASSWORD"],
    }
)
API = Template.from_data(
    {
        "name": "api",
        "version": "1.0",
        "service": {
            "image": "example/api:1",
            "command": ["sh", "-c", "echo $HOME && exec api --port 8080"],
            "entrypoint": ["/entry.sh"],
            "working_dir": "/srv",
            "user": "1000:1000",
            "restart": "unless-stopped",
            "environment": {"GREETING": "hello $USER", "PLAIN": "x"},
            "labels": {"com.example.team": "shop", "price": "$5"},
            "ports": ["8080", "9090/udp"],
            "volumes": ["/etc/ssl/certs:/certs:ro"],
            "depends_on": ["db"],
            "resources": {"memory_limit": "1g", "memory_reservation": "256m"},
        },
    }
)
WORKER = Template.from_data(
    {
        "name": "worker",
        "version": "2.0",
        "service": {"image": "example/worker:2", "depends_on": ["api", "db"]},
    }
)


def _effective(template: Template, name: str, overrides: Overrides | None = None, **kw: Any):
    instance = Instance(
        id=f"ins-{name}",
        stack_id=STACK.id,
        stack=STACK.name,
        name=name,
        template=template.name,
        template_version=template.version,
        overrides=overrides or Overrides(),
    )
    return resolve(template, instance.overrides, stack=STACK, instance=instance, **kw)


def _allocations(name: str, keys: dict[str, int]) -> dict[str, PortAllocation]:
    return {
        key: PortAllocation(
            stack=STACK.name,
            instance=name,
            container_port=int(key.split("/")[0]),
            protocol=key.split("/")[1],
            host_port=port,
        )
        for key, port in keys.items()
    }


def _items() -> tuple[ComposeItem, ...]:
    db = _effective(
        DB,
        "db",
        Overrides.from_data({"environment": {"POSTGRES_DB": "shop"}}),
        secrets={"POSTGRES_PASSWORD": Secret(DB_PASSWORD)},
    )
    api = _effective(API, "api", Overrides.from_data({"domains": ["api.shop.test"]}))
    worker = _effective(WORKER, "worker")
    specs = {
        "db": container_spec(
            db, owner=OWNER, allocations=_allocations("db", {"5432/tcp": 15432}), config_dir=None
        ),
        "api": container_spec(
            api,
            owner=OWNER,
            allocations=_allocations("api", {"8080/tcp": 18080, "9090/udp": 19090}),
            config_dir=None,
        ),
        "worker": container_spec(worker, owner=OWNER, allocations={}, config_dir=None),
    }
    effectives = {"db": db, "api": api, "worker": worker}
    return compose_items(
        (name, spec, effectives[name].service.depends_on) for name, spec in specs.items()
    )


def _render(**kw: Any) -> str:
    return render_compose(STACK.name, NETWORK, _items(), **kw)


def _loaded(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(_render(**kw))
    return data


def test_services_are_keyed_by_instance_and_named_like_devarch_containers():
    """Each instance is a service whose container_name is the devarch container name."""
    services = _loaded()["services"]
    assert list(services) == ["api", "db", "worker"]
    for name, service in services.items():
        assert service["container_name"] == naming.container_name("shop", name)


def test_every_service_carries_all_identity_labels_and_its_own_labels():
    """All identity labels (owner, stack, instance, template...) and template labels are set."""
    api = _loaded()["services"]["api"]
    labels = api["labels"]
    assert labels[naming.LABEL_MANAGED_BY] == "devarch"
    assert labels[naming.LABEL_OWNER] == OWNER
    assert labels[naming.LABEL_STACK_ID] == "stk-1"
    assert labels[naming.LABEL_STACK_NAME] == "shop"
    assert labels[naming.LABEL_INSTANCE_ID] == "ins-api"
    assert labels[naming.LABEL_INSTANCE_NAME] == "api"
    assert labels[naming.LABEL_TEMPLATE_SERVICE_ID] == "api@1.0"
    assert labels["com.example.team"] == "shop"
    assert list(labels) == sorted(labels)


def test_depends_on_waits_for_health_only_where_a_healthcheck_exists():
    """A dependency with a healthcheck gets service_healthy, one without gets service_started."""
    services = _loaded()["services"]
    assert services["api"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["worker"]["depends_on"] == {
        "api": {"condition": "service_started"},
        "db": {"condition": "service_healthy"},
    }
    assert "depends_on" not in services["db"]


def test_dollar_signs_are_escaped_so_compose_passes_them_through_literally():
    """Every `$` in env, command, labels and healthcheck test is doubled in the file."""
    services = _loaded()["services"]
    api, db = services["api"], services["db"]
    assert api["command"] == ["sh", "-c", "echo $$HOME && exec api --port 8080"]
    assert api["environment"]["GREETING"] == "hello $$USER"
    assert api["labels"]["price"] == "$$5"
    assert db["healthcheck"]["test"] == ["CMD-SHELL", "pg_isready -U $$POSTGRES_USER"]


def test_scalars_and_lists_keep_their_compose_shape():
    """command/entrypoint are lists; working_dir, user and restart are copied as is."""
    api = _loaded()["services"]["api"]
    assert api["image"] == "example/api:1"
    assert api["entrypoint"] == ["/entry.sh"]
    assert api["working_dir"] == "/srv"
    assert api["user"] == "1000:1000"
    assert api["restart"] == "unless-stopped"


def test_healthcheck_keeps_its_test_list_and_compose_durations():
    """The test stays a list and durations are written as Compose duration strings."""
    healthcheck = _loaded()["services"]["db"]["healthcheck"]
    assert healthcheck == {
        "test": ["CMD-SHELL", "pg_isready -U $$POSTGRES_USER"],
        "interval": "5s",
        "timeout": "3s",
        "start_period": "1m30s",
        "retries": 10,
    }


def test_resources_map_to_deploy_resources_as_strings():
    """CPU and memory limits and reservations become deploy.resources text values."""
    services = _loaded()["services"]
    assert services["db"]["deploy"] == {
        "resources": {"limits": {"cpus": "0.5", "memory": "512m"}, "reservations": {"cpus": "0.25"}}
    }
    assert services["api"]["deploy"] == {
        "resources": {"limits": {"memory": "1g"}, "reservations": {"memory": "256m"}}
    }
    assert "deploy" not in services["worker"]


def test_secrets_are_redacted_and_absent_from_the_text_by_default():
    """A secret env value is `***` and its plaintext appears nowhere in the preview."""
    text = _render()
    assert DB_PASSWORD not in text
    assert DB_PASSWORD.replace("$", "$$") not in text
    assert yaml.safe_load(text)["services"]["db"]["environment"]["POSTGRES_PASSWORD"] == "***"


def test_secrets_are_revealed_escaped_only_when_asked():
    """With reveal_secrets the value is written, `$` doubled so compose passes it literally."""
    env = _loaded(reveal_secrets=True)["services"]["db"]["environment"]
    assert env["POSTGRES_PASSWORD"] == "s3cr3t-pa$$$$word"
    assert env["POSTGRES_DB"] == "shop"


def test_ports_publish_on_the_allocated_host_address():
    """Ports keep 127.0.0.1, the allocated host port, the container port and the protocol."""
    services = _loaded()["services"]
    assert services["db"]["ports"] == ["127.0.0.1:15432:5432/tcp"]
    assert services["api"]["ports"] == ["127.0.0.1:18080:8080/tcp", "127.0.0.1:19090:9090/udp"]
    assert "ports" not in services["worker"]


def test_volumes_use_per_instance_engine_names_and_binds_keep_read_only():
    """Named volumes are declared top-level under their engine name, labelled; binds stay ro."""
    data = _loaded()
    volume = naming.volume_name("shop", "db", "data")
    assert data["services"]["db"]["volumes"] == [
        {
            "type": "volume",
            "source": volume,
            "target": "/var/lib/postgresql/data",
            "read_only": False,
        }
    ]
    assert data["services"]["api"]["volumes"] == [
        {"type": "bind", "source": "/etc/ssl/certs", "target": "/certs", "read_only": True}
    ]
    assert data["volumes"] == {
        volume: {
            "name": volume,
            "labels": {
                naming.LABEL_INSTANCE_ID: "ins-db",
                naming.LABEL_INSTANCE_NAME: "db",
                naming.LABEL_MANAGED_BY: "devarch",
                naming.LABEL_OWNER: OWNER,
                naming.LABEL_STACK_NAME: "shop",
                naming.LABEL_STACK_ID: "stk-1",
            },
        }
    }


def test_every_service_joins_the_stack_network_with_its_aliases():
    """The network is declared by name with the stack labels; services join it with aliases."""
    data = _loaded()
    assert data["networks"] == {
        NETWORK: {"name": NETWORK, "labels": network_labels("shop", "stk-1", OWNER)}
    }
    assert data["services"]["api"]["networks"] == {NETWORK: {"aliases": ["api", "api.shop.test"]}}
    assert data["services"]["db"]["networks"] == {NETWORK: {"aliases": ["db"]}}


def test_rendering_is_deterministic_block_style_yaml():
    """The same stack renders to the same bytes, whatever the item order, in block style."""
    first = _render()
    again = render_compose(STACK.name, NETWORK, tuple(reversed(_items())))
    assert first == again
    assert "{" not in first
    assert first.startswith("services:\n")


def test_project_name_is_written_only_when_given():
    """Top-level `name:` appears only with a project (old clients refuse it)."""
    assert "name" not in _loaded()
    assert next(iter(_loaded(project="shop-preview").items())) == ("name", "shop-preview")


def test_one_instance_renders_with_only_its_network_and_volumes():
    """A single instance keeps its service, network and volumes, without depends_on."""
    items = {item.name: item for item in _items()}
    data = yaml.safe_load(render_instance(items["api"]))
    assert list(data["services"]) == ["api"]
    assert "depends_on" not in data["services"]["api"]
    assert list(data["networks"]) == [NETWORK]
    assert "volumes" not in data
    db = yaml.safe_load(render_instance(items["db"]))
    assert list(db["volumes"]) == [naming.volume_name("shop", "db", "data")]
    assert db["networks"][NETWORK]["labels"] == network_labels("shop", "stk-1", OWNER)


def test_a_dependency_outside_the_file_is_refused_with_its_path():
    """Rendering refuses items that depend on a service the file does not define."""
    items = {item.name: item for item in _items()}
    with pytest.raises(ValidationError) as caught:
        render_compose(STACK.name, NETWORK, [items["api"]])
    assert [p.path for p in caught.value.problems] == ["services.api.depends_on.db"]


def test_an_item_on_another_network_is_refused():
    """Every service must join the stack network the file declares."""
    with pytest.raises(ValidationError, match="not the stack network"):
        render_compose(STACK.name, "other-net", [next(iter(_items()))])


def test_compose_items_drop_dependencies_that_are_not_rendered():
    """A dependency missing from the rendered set (a disabled instance) is left out."""
    items = {item.name: item for item in _items()}
    (worker,) = compose_items([("worker", items["worker"].spec, ["api", "db"])])
    assert worker.depends_on == {}


DEBIAN_SCHEMA = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")


def _compose_schema() -> dict[str, Any]:
    """Load the Compose Specification schema shipped with Debian's docker-compose."""
    path = DEBIAN_SCHEMA
    if not path.is_file():
        try:
            out = subprocess.run(
                ["/usr/bin/python3", "-c", "import compose; print(compose.__file__)"],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            unavailable("Debian's docker-compose (compose_spec.json)", exc)
        path = Path(out).parent / "config" / "compose_spec.json"
    if not path.is_file():
        unavailable("Debian's docker-compose (compose_spec.json)", f"{path} does not exist")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.compose
@pytest.mark.parametrize("reveal", [False, True])
def test_rendered_stack_is_valid_for_the_compose_specification(reveal):
    """The stack file validates against the Compose Specification schema of docker-compose."""
    import jsonschema  # type: ignore[import-untyped]  # noqa: PLC0415 - dev dependency, this test only

    validator = jsonschema.Draft201909Validator(_compose_schema())
    validator.validate(_loaded(reveal_secrets=reveal))
    for item in _items():
        validator.validate(yaml.safe_load(render_instance(item)))


@pytest.mark.compose
def test_schema_check_catches_what_old_compose_clients_refuse():
    """The schema in use rejects a top-level name and long-form ports with host_ip."""
    import jsonschema  # noqa: PLC0415

    validator = jsonschema.Draft201909Validator(_compose_schema())
    assert not validator.is_valid(_loaded(project="p"))
    data = _loaded()
    data["services"]["db"]["ports"] = [{"target": 5432, "published": 15432, "host_ip": "127.0.0.1"}]
    assert not validator.is_valid(data)


@pytest.mark.compose
def test_document_data_is_what_the_yaml_holds():
    """compose_document returns exactly the data the YAML text encodes."""
    assert compose_document(STACK.name, NETWORK, _items()) == _loaded()

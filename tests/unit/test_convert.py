"""The machine formats through the one converter (devarch_core._convert).

Each format round-trips (structure(unstructure(x)) == x), one golden example of each pins the
exact bytes, a structuring error names the path of the bad value, and a secret never leaves as
its value.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from devarch_core import _convert
from devarch_core.errors import ManifestError
from devarch_core.manifest import InstanceSpec, LockedInstance, Lockfile, Manifest
from devarch_core.model import Instance, PortAllocation, Stack, Wire
from devarch_core.overrides import Overrides
from devarch_core.planning import Action, FieldChange, Plan, PlanDiagnostic
from devarch_core.ports import AppliedRecord, SealedSecret
from devarch_core.secrets import Secret
from devarch_core.usecases.apply import DownResult, InstanceStatus
from devarch_core.wiring import Diagnostic, ResolvedWire

PLAN = Plan(
    stack="shop",
    token="abc123",
    actions=(
        Action(
            action="add",
            instance="db",
            container="devarch-shop-db",
            changes=(
                FieldChange(field="image", new="postgres:16"),
                FieldChange(
                    field="environment.POSTGRES_DB",
                    old="a",
                    new="b",
                    source="user",
                    forces_recreate=False,
                ),
            ),
            reason="new container",
        ),
        Action(action="start", instance="web", container="devarch-shop-web"),
    ),
    diagnostics=(
        PlanDiagnostic(severity="warning", code="port-busy", message="busy"),
        PlanDiagnostic(severity="error", code="x", message="bad", instance="web"),
    ),
    wiring=(
        {"consumer": "web", "import": "db", "provider": "db", "export": "db", "explicit": True},
    ),
    basis={"observed": {"b": "2", "a": "1"}, "desired": {"db": "h"}},
)

PLAN_JSON = """\
{
  "format": 1,
  "stack": "shop",
  "token": "abc123",
  "actions": [
    {
      "action": "add",
      "instance": "db",
      "container": "devarch-shop-db",
      "changes": [
        {
          "field": "image",
          "old": null,
          "new": "postgres:16",
          "source": "template",
          "forces_recreate": true
        },
        {
          "field": "environment.POSTGRES_DB",
          "old": "a",
          "new": "b",
          "source": "user",
          "forces_recreate": false
        }
      ],
      "reason": "new container"
    },
    {
      "action": "start",
      "instance": "web",
      "container": "devarch-shop-web",
      "changes": []
    }
  ],
  "diagnostics": [
    {
      "severity": "warning",
      "code": "port-busy",
      "message": "busy"
    },
    {
      "severity": "error",
      "code": "x",
      "message": "bad",
      "instance": "web"
    }
  ],
  "wiring": [
    {
      "consumer": "web",
      "import": "db",
      "provider": "db",
      "export": "db",
      "explicit": true
    }
  ],
  "basis": {
    "desired": {
      "db": "h"
    },
    "observed": {
      "b": "2",
      "a": "1"
    }
  }
}
"""


def test_plan_json_golden_bytes_and_round_trip():
    assert PLAN.to_json() == PLAN_JSON
    assert Plan.from_json(PLAN.to_json()) == PLAN
    assert _convert.structure(_convert.unstructure(PLAN), Plan, what="plan") == PLAN


def test_a_plan_field_of_the_wrong_type_is_named_by_its_path():
    data = json.loads(PLAN_JSON)
    data["actions"][0]["changes"][1]["field"] = 5
    with pytest.raises(ManifestError) as info:
        Plan.from_data(data)
    assert "actions[0].changes[1].field: expected str, got int" in str(info.value)
    assert info.value.problems[0].path == "actions[0].changes[1].field"


def test_every_bad_value_of_a_plan_file_is_listed_with_its_path():
    data = json.loads(PLAN_JSON)
    del data["stack"]
    data["actions"][1]["action"] = "explode"
    data["diagnostics"][0] = 7
    data["extra"] = True
    data["basis"] = [1]
    with pytest.raises(ManifestError) as info:
        Plan.from_data(data)
    found = {(p.path, p.message) for p in info.value.problems}
    assert ("stack", "required") in found
    assert ("actions[1].action", "expected one of 'add', 'modify', 'remove', 'start'") in found
    assert ("diagnostics[0]", "expected a mapping") in found
    assert ("basis", "expected a mapping") in found
    assert ("extra", "unknown key") in found
    assert str(info.value).startswith("invalid plan file: malformed plan")


def test_a_bool_is_not_an_int_and_a_number_is_not_text():
    with pytest.raises(ManifestError, match=r"forces_recreate: expected bool, got int"):
        _convert.structure({"field": "f", "forces_recreate": 1}, FieldChange, what="invalid change")
    with pytest.raises(ManifestError, match=r"host_port: expected int, got bool"):
        _convert.structure(
            {
                "stack": "s",
                "instance": "i",
                "container_port": 1,
                "protocol": "tcp",
                "host_port": True,
            },
            PortAllocation,
            what="x",
        )


def test_a_secret_never_leaves_as_its_value():
    change = FieldChange(field="environment.PASSWORD", old=Secret("old-pw"), new=Secret("hunter2"))
    data = change.to_data()
    assert data["old"] == data["new"] == "***"
    assert "hunter2" not in json.dumps(_convert.unstructure({"nested": [Secret("hunter2")]}))
    assert _convert.unstructure(Decimal("0.50")) == "0.50"


LOCKFILE = Lockfile(
    stack="shop",
    manifest_hash="sha256:00ff",
    instances={
        "web": LockedInstance(
            template="bb-web",
            template_version="1.0",
            template_hash="sha256:11",
            image="busybox:latest",
            ports={"8080/tcp": 20002, "53/udp": 20003, "443/tcp": 20004},
        ),
        "db": LockedInstance(
            template="bb-db",
            template_version="1.0",
            template_hash="sha256:22",
            image="busybox:latest",
            image_digest="sha256:aa",
        ),
    },
)

LOCKFILE_YAML = """\
# yaml-language-server: $schema=.devarch/schemas/lock.schema.json
# devarch.lock: generated by devarch; commit it, do not edit it.
format: 1
stack: shop
manifest_hash: sha256:00ff
instances:
  db:
    template: bb-db
    template_version: '1.0'
    template_hash: sha256:22
    image: busybox:latest
    image_digest: sha256:aa
  web:
    template: bb-web
    template_version: '1.0'
    template_hash: sha256:11
    image: busybox:latest
    ports:
      53/udp: 20003
      443/tcp: 20004
      8080/tcp: 20002
"""


def test_lockfile_golden_bytes_and_round_trip():
    assert LOCKFILE.to_yaml() == LOCKFILE_YAML
    assert Lockfile.parse(LOCKFILE_YAML) == LOCKFILE
    assert _convert.structure(_convert.unstructure(LOCKFILE), Lockfile, what="lock") == LOCKFILE


def test_a_lockfile_keeps_its_own_messages_with_paths():
    text = LOCKFILE_YAML.replace(
        "image: busybox:latest\n    image_digest", "image: [1]\n    image_digest"
    )
    with pytest.raises(ManifestError, match=r"instances\.db\.image: expected text"):
        Lockfile.parse(text)


MANIFEST = Manifest(
    stack="shop",
    description="Shop",
    instances=(
        InstanceSpec(
            name="web",
            template="bb-web",
            template_version="1.0",
            description="storefront",
            overrides=Overrides.from_data({"environment": {"APP_TITLE": "Shop"}}),
            port_pins={"8080/tcp": 20002},
        ),
        InstanceSpec(
            name="db",
            template="bb-db",
            enabled=False,
            secret_refs={"POSTGRES_PASSWORD": "db-password"},
            image_digest="sha256:bb",
        ),
    ),
    wires=(
        Wire(consumer="web", import_name="db", provider="db", export_name="db"),
        Wire(consumer="web", import_name="cache", provider=None),
    ),
)

MANIFEST_YAML = """\
version: 1
stack:
  name: shop
  description: Shop
instances:
  db:
    template: bb-db
    enabled: false
    overrides:
      environment:
        POSTGRES_PASSWORD: ${secret:db-password}
    pins:
      image: sha256:bb
  web:
    template: bb-web
    template_version: '1.0'
    description: storefront
    overrides:
      environment:
        APP_TITLE: Shop
    pins:
      ports:
        8080/tcp: 20002
wires:
- consumer: web
  import: cache
  provider: null
- consumer: web
  import: db
  provider: db
  export: db
"""


def test_manifest_export_golden_bytes_and_round_trip():
    assert MANIFEST.to_yaml() == MANIFEST_YAML
    again = Manifest.parse(MANIFEST_YAML)
    assert again.to_yaml() == MANIFEST_YAML
    assert {i.name: i for i in again.instances} == {i.name: i for i in MANIFEST.instances}
    assert set(again.wires) == set(MANIFEST.wires)


def test_manifest_validation_keeps_its_paths_and_messages():
    text = MANIFEST_YAML.replace("8080/tcp: 20002", "8080/tcp: 70000")
    with pytest.raises(ManifestError, match=r"instances\.web\.pins\.ports\.8080/tcp: host port"):
        Manifest.parse(text)


def test_json_outputs_keep_their_shapes():
    status = InstanceStatus(
        instance="web", container="c", enabled=True, state="running", ports=("1/tcp",)
    )
    assert status.to_data() == {
        "instance": "web",
        "container": "c",
        "enabled": True,
        "state": "running",
        "health": "none",
        "ports": ["1/tcp"],
        "host_ports": [],
    }
    down = DownResult(stack="s", containers=("a",), left_alone=("b",))
    assert list(down.to_data()) == ["stack", "containers", "networks", "volumes", "left_alone"]
    wire = ResolvedWire(
        consumer="w", import_name="db", provider="p", export_name="e", explicit=False
    )
    assert list(wire.to_data()) == ["consumer", "import", "provider", "export", "explicit"]
    diag = Diagnostic(severity="error", code="missing", consumer="w", import_name="db", message="m")
    assert diag.to_data() == {
        "severity": "error",
        "code": "missing",
        "consumer": "w",
        "import": "db",
        "message": "m",
        "candidates": [],
    }


@pytest.mark.parametrize(
    "value",
    [
        Stack(id="s1", name="shop", network="net", enabled=False, created_at="t"),
        Instance(
            id="i1",
            stack_id="s1",
            stack="shop",
            name="web",
            template="bb-web",
            template_version="1.0",
            overrides=Overrides.from_data(
                {"environment": {"A": "1"}, "ports": [{"container": 80}]}
            ),
        ),
        Wire(consumer="web", import_name="db", provider=None),
        PortAllocation(
            stack="shop", instance="web", container_port=80, protocol="tcp", host_port=1
        ),
        AppliedRecord(
            instance_id="i1", config_hash="h", config={"image": {"value": "x"}}, applied_at="t"
        ),
        SealedSecret(stack_id="s1", instance_id="i1", name="PW", sealed=b"DA2\x00"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_store_rows_round_trip(value):
    columns = _convert.row(value)
    json.dumps({k: v for k, v in columns.items() if not isinstance(v, bytes)})  # plain data
    assert _convert.structure_row(columns, type(value)) == value


def test_store_rows_accept_what_drivers_return():
    stack = _convert.structure_row(
        {
            "id": "s",
            "name": "n",
            "description": "",
            "network": None,
            "enabled": 1,
            "created_at": "",
            "updated_at": "",
        },
        Stack,
    )
    assert stack.enabled is True
    secret = _convert.structure_row(
        {"stack_id": "s", "instance_id": "i", "name": "N", "sealed": memoryview(b"xy")},
        SealedSecret,
    )
    assert secret.sealed == b"xy"


def test_importing_the_core_does_not_import_cattrs():
    code = "import sys, devarch_core; print('cattrs' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_mapping_key_is_a_dotted_path_step():
    data = _convert.unstructure(LOCKFILE)
    data["instances"]["web"]["image"] = 5
    data["instances"]["web"]["ports"]["8080/tcp"] = "x"
    with pytest.raises(ManifestError) as info:
        _convert.structure(data, Lockfile, what="invalid lockfile")
    paths = {p.path for p in info.value.problems}
    assert paths == {"instances.web.image", "instances.web.ports.8080/tcp"}


def test_use_case_results_keep_their_json_shapes():
    from devarch_core.usecases.apply import ApplyResult  # noqa: PLC0415
    from devarch_core.usecases.manifests import ImportResult, InitPreview, InitResult  # noqa: PLC0415
    from devarch_core.usecases.stacks import StackSummary  # noqa: PLC0415

    imported = ImportResult(stack="shop", created=True, actions=PLAN.actions[1:], warnings=("w",))
    assert imported.to_data() == {
        "stack": "shop",
        "created": True,
        "applied": True,
        "actions": [
            {"action": "start", "instance": "web", "container": "devarch-shop-web", "changes": []}
        ],
        "warnings": ["w"],
    }
    assert list(imported.to_data()) == ["stack", "created", "applied", "actions", "warnings"]
    applied = ApplyResult(stack="shop", plan=PLAN, timings={"total": 1.23456})
    assert applied.to_data() == {
        "stack": "shop",
        "plan": PLAN.to_data(),
        "timings": {"total": 1.235},
    }
    init = InitResult(imported=imported, applied=applied, lockfile=LOCKFILE)
    assert init.to_data() == {
        "import": imported.to_data(),
        "apply": applied.to_data(),
        "lockfile": LOCKFILE.to_data(),
        "warnings": [],
        "changed": True,
    }
    preview = InitPreview(imported=imported)
    assert preview.to_data() == {
        "import": imported.to_data(),
        "plan": None,
        "warnings": [],
        "changed": True,
        "dry_run": True,
    }
    summary = StackSummary(stack=Stack(id="1", name="shop"), instances=2, enabled_instances=1)
    assert summary.to_data() == {
        "name": "shop",
        "description": "",
        "network": "devarch-shop-net",
        "enabled": True,
        "instances": 2,
        "enabled_instances": 1,
        "running": None,
    }

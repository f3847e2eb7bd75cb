"""The ``devarch`` CLI, run in-process through ``main(argv)`` against a temporary home.

Store-only commands run with ``--runtime none`` (a real SQLite store in ``tmp_path``). Plan and
apply flows use the public :class:`~devarch_core.testing.FakeRuntime` in place of an engine, by
handing it to the composition root (``open_runtime``); the real Docker path is covered in
``tests/integration/test_cli_docker.py``.
"""

from __future__ import annotations

import io
import json
from importlib.metadata import version
from pathlib import Path

import pytest

from devarch_adapters import bootstrap
from devarch_adapters.cli import RichReporter, main, parse_assignments
from devarch_core.errors import ValidationError
from devarch_core.testing import FakeRuntime

CATALOG = str(Path(__file__).resolve().parents[2] / "examples" / "catalog")
IMAGE = "devarch-test/busybox:latest"
SECRET = "s3cr3t-value-never-shown"


class _Tty(io.StringIO):
    """A stdin that claims to be a terminal, with a prepared answer."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def home(tmp_path):
    return str(tmp_path / "home")


@pytest.fixture
def cli(home, capsys, monkeypatch):
    """Run ``devarch --home HOME --runtime R --catalog examples/catalog ARGS`` in-process."""
    monkeypatch.delenv("DEVARCH_STORE", raising=False)
    monkeypatch.delenv("DEVARCH_CATALOG_PATH", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    def run(*args: str, runtime: str = "none"):
        capsys.readouterr()
        code = main(["--home", home, "--runtime", runtime, "--catalog", CATALOG, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def fake(monkeypatch):
    """Hand out one FakeRuntime from the composition root for ``--runtime docker``."""
    runtime = FakeRuntime(images={IMAGE: "sha256:busybox"})

    def open_runtime(kind: str):
        return (None, "DEVARCH_RUNTIME=none") if kind == "none" else (runtime, None)

    monkeypatch.setattr(bootstrap, "open_runtime", open_runtime)
    return runtime


def _json(out: str):
    return json.loads(out)


def _shop(cli) -> None:
    assert cli("stack", "create", "shop", "--description", "Shop")[0] == 0
    assert cli("instance", "add", "shop", "db", "bb-db")[0] == 0
    assert cli("instance", "add", "shop", "web", "bb-web")[0] == 0


# -- usage and errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["stack"],
        ["stack", "create"],
        ["--runtime", "kubernetes", "stack", "list"],
        ["apply", "shop", "--lock-timeout", "soon"],
        ["stack", "update", "shop"],
    ],
)
def test_usage_errors_exit_2_with_usage_on_stderr(cli, argv):
    """Bad command lines exit 2 and print argparse usage and the problem on stderr."""
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    assert "devarch: error:" in err


def test_usage_error_with_json_prints_an_error_document(cli):
    """A usage error under --json still prints one valid JSON error document on stdout."""
    code, out, _ = cli("stack", "create", "--json")
    assert code == 2
    assert _json(out)["error"]["type"] == "UsageError"


def test_help_exits_0(cli):
    """``--help`` prints help and exits 0, also for a nested command."""
    code, out, _ = cli("instance", "set", "--help")
    assert code == 0
    assert "port=CONTAINER" in out


def test_invalid_name_exits_1_with_suggestion_and_no_traceback(cli):
    """An invalid stack name exits 1 with the suggested slug on stderr and no traceback."""
    code, out, err = cli("stack", "create", "My App")
    assert code == 1
    assert out == ""
    assert err.startswith("error: invalid stack name")
    assert "'my-app'" in err
    assert "Traceback" not in err


def test_missing_stack_exits_1_with_not_found(cli):
    """Naming a stack that does not exist exits 1 with "not found" on stderr."""
    code, out, err = cli("stack", "show", "nope")
    assert code == 1
    assert out == ""
    assert "stack 'nope' not found" in err


def test_errors_under_json_are_documents_on_stdout(cli):
    """With --json after the command, an error is an {"error": {...}} document on stdout."""
    code, out, _ = cli("instance", "list", "nope", "--json")
    assert code == 1
    error = _json(out)["error"]
    assert error["type"] == "NotFoundError"
    assert "not found" in error["message"]
    assert error["exit_code"] == 1


def test_validation_errors_under_json_carry_their_problems(cli):
    """A ValidationError's problems appear with their paths in the JSON error document."""
    _shop(cli)
    code, out, _ = cli("--json", "instance", "set", "shop", "web", "port=abc", "bogus=1")
    assert code == 1
    problems = _json(out)["error"]["problems"]
    assert [p["path"] for p in problems] == ["port", "bogus"]


def test_unexpected_exception_is_one_line_without_traceback(cli, monkeypatch):
    """A bug prints `internal error: ...`, exits 1, with a traceback only under DEVARCH_DEBUG=1."""

    def boom(*_a, **_k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr("devarch_core.app.Devarch.show_stack", boom)
    code, _, err = cli("stack", "show", "shop")
    assert code == 1
    assert err.startswith("error: internal error: kaboom")
    assert "Traceback" not in err
    monkeypatch.setenv("DEVARCH_DEBUG", "1")
    code, _, err = cli("stack", "show", "shop")
    assert code == 1
    assert "Traceback" in err


def test_keyboard_interrupt_exits_130(cli, monkeypatch):
    """Ctrl-C during a command exits 130 without a traceback."""

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr("devarch_core.app.Devarch.list_stacks", interrupted)
    code, _, err = cli("stack", "list")
    assert code == 130
    assert "Traceback" not in err


# -- stacks --------------------------------------------------------------------------------------


def test_stack_create_list_show_update_clone_delete_round_trip_in_json(cli):
    """Every stack command works end to end and its --json output reflects the store."""
    code, out, _ = cli("--json", "stack", "create", "shop", "--description", "Shop")
    assert code == 0
    assert _json(out) | {"created_at": "", "updated_at": ""} == {
        "name": "shop",
        "description": "Shop",
        "network": "devarch-shop-net",
        "enabled": True,
        "created_at": "",
        "updated_at": "",
        "engine": None,
    }
    assert cli("instance", "add", "shop", "db", "bb-db")[0] == 0
    code, out, _ = cli("stack", "list", "--json")
    assert [(s["name"], s["instances"], s["running"]) for s in _json(out)] == [("shop", 1, None)]
    code, out, _ = cli("stack", "update", "shop", "--description", "Shop v2", "--json")
    assert _json(out)["description"] == "Shop v2"
    code, out, _ = cli("stack", "clone", "shop", "shop2", "--json")
    assert code == 0
    assert _json(out)["name"] == "shop2"
    code, out, _ = cli("stack", "show", "shop2", "--json")
    shown = _json(out)
    assert shown["description"] == "Shop v2"
    assert [i["name"] for i in shown["instances"]] == ["db"]
    assert shown["instances"][0]["container"] == "devarch-shop2-db"
    code, out, _ = cli("stack", "disable", "shop2", "--json")
    assert _json(out)["enabled"] is False
    code, out, _err = cli("stack", "delete", "shop2", "--yes", "--json")
    assert code == 0
    assert _json(out) == {"deleted": "shop2", "engine": False}
    code, out, _ = cli("stack", "list", "--json")
    assert [s["name"] for s in _json(out)] == ["shop"]


def test_stack_text_output_is_a_readable_table(cli):
    """``stack list`` and ``stack show`` print aligned tables with the instances."""
    _shop(cli)
    code, out, _ = cli("stack", "list")
    assert code == 0
    assert out.splitlines()[0].split() == [
        "NAME",
        "ENABLED",
        "INSTANCES",
        "RUNNING",
        "NETWORK",
        "DESCRIPTION",
    ]
    assert out.splitlines()[1].split() == ["shop", "yes", "2/2", "-", "devarch-shop-net", "Shop"]
    code, out, _ = cli("stack", "show", "shop")
    assert "bb-web@1.0" in out
    assert "devarch-shop-db" in out


def test_stack_delete_without_tty_and_without_yes_refuses(cli):
    """Deleting a stack with no terminal to ask on and no --yes is refused and deletes nothing."""
    _shop(cli)
    code, _out, err = cli("stack", "delete", "shop")
    assert code == 1
    assert "--yes" in err
    assert cli("stack", "show", "shop")[0] == 0


def test_stack_delete_asks_on_a_terminal(cli, monkeypatch):
    """On a terminal, delete asks; "n" keeps the stack and "y" deletes it."""
    _shop(cli)
    monkeypatch.setattr("sys.stdin", _Tty("n\n"))
    code, _, err = cli("stack", "delete", "shop")
    assert code == 1
    assert "Delete stack shop" in err
    assert cli("stack", "show", "shop")[0] == 0
    monkeypatch.setattr("sys.stdin", _Tty("y\n"))
    assert cli("stack", "delete", "shop")[0] == 0
    assert cli("stack", "show", "shop")[0] == 1


# -- instances -----------------------------------------------------------------------------------


def test_instance_add_with_set_and_show_in_json(cli):
    """``instance add --set`` stores the overrides in manifest form, shown by ``instance show``."""
    assert cli("stack", "create", "shop")[0] == 0
    code, out, _ = cli(
        "--json", "instance", "add", "shop", "db", "bb-db", "--description", "main db",
        "--set", "env.POSTGRES_DB=shop", "--set", "port=15432:5432",
    )  # fmt: skip
    assert code == 0
    shown = _json(out)
    assert shown["template"] == "bb-db"
    assert shown["description"] == "main db"
    assert shown["overrides"] == {
        "environment": {"POSTGRES_DB": "shop"},
        "ports": [{"container": 5432, "host": 15432}],
    }
    code, out, _ = cli("instance", "list", "shop", "--json")
    assert [(i["name"], i["enabled"]) for i in _json(out)] == [("db", True)]


def test_instance_set_builds_every_kind_of_override(cli):
    """Each assignment kind of ``instance set`` lands in the overrides as the manifest form."""
    _shop(cli)
    code, out, err = cli(
        "--json", "instance", "set", "shop", "web",
        "env.FOO=bar", "env.EMPTY=", "label.team=shop", "image=busybox:2",
        "command=sh -c 'echo hi; sleep 1'", "port=8080:off", "volume=data:/var/lib/x",
        "healthcheck=disable", "resources.memory_limit=512m", "depends_on=db", "domain=shop.test",
    )  # fmt: skip
    assert code == 0, err
    overrides = _json(out)["overrides"]
    assert overrides["environment"] == {"EMPTY": "", "FOO": "bar"}
    assert overrides["labels"] == {"team": "shop"}
    assert overrides["image"] == "busybox:2"
    assert overrides["command"] == ["sh", "-c", "echo hi; sleep 1"]
    assert overrides["ports"] == [{"container": 8080, "publish": False}]
    assert overrides["volumes"] == [{"target": "/var/lib/x", "source": "data", "type": "volume"}]
    assert overrides["healthcheck"] == "disable"
    assert overrides["resources"] == {"memory_limit": "512m"}
    assert overrides["depends_on"] == ["db"]
    assert overrides["domains"] == ["shop.test"]


def test_instance_set_from_yaml_and_assignments_together(cli, tmp_path):
    """``--from-yaml`` supplies a manifest-form delta and assignments add to it in one change."""
    _shop(cli)
    delta = tmp_path / "delta.yml"
    delta.write_text("environment: {A: '1'}\nports: [{container: 8080, host: 18080}]\n")
    code, out, err = cli(
        "--json", "instance", "set", "shop", "web", "--from-yaml", str(delta), "env.B=2"
    )
    assert code == 0, err
    overrides = _json(out)["overrides"]
    assert overrides["environment"] == {"A": "1", "B": "2"}
    assert overrides["ports"] == [{"container": 8080, "host": 18080}]


def test_instance_set_without_assignments_is_a_usage_error(cli):
    """``instance set`` with nothing to set exits 2."""
    _shop(cli)
    assert cli("instance", "set", "shop", "web")[0] == 2


def test_instance_unset_makes_fields_inherit_again(cli):
    """``instance unset`` drops overrides (env.FOO, ports.8080/tcp, image) so they inherit."""
    _shop(cli)
    cli(
        "instance",
        "set",
        "shop",
        "web",
        "env.FOO=bar",
        "env.KEEP=1",
        "port=18080:8080",
        "image=x:1",
    )
    code, out, err = cli(
        "--json", "instance", "unset", "shop", "web", "env.FOO", "ports.8080/tcp", "image"
    )
    assert code == 0, err
    assert _json(out)["overrides"] == {"environment": {"KEEP": "1"}}
    code, _, err = cli("instance", "unset", "shop", "web", "env.KEEP", "env.NOPE")
    assert code == 1
    assert "already unset: env.KEEP" in err


def test_instance_remove_env_removes_an_inherited_variable(cli):
    """``instance remove-env`` stores a null for the variable, so the effective config drops it."""
    _shop(cli)
    code, out, _ = cli("--json", "instance", "remove-env", "shop", "web", "APP_TITLE")
    assert code == 0
    assert _json(out)["overrides"] == {"environment": {"APP_TITLE": None}}
    code, out, _ = cli("--json", "instance", "effective", "shop", "web")
    assert "APP_TITLE" not in _json(out)["service"].get("environment", {})


def test_instance_effective_explain_shows_each_source(cli):
    """``effective --explain`` lists field, value and source: template, wire:<provider>, user."""
    _shop(cli)
    cli("instance", "set", "shop", "web", "env.FOO=bar")
    code, out, _ = cli("instance", "effective", "shop", "web", "--explain")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert rows["environment.FOO"][1:] == ["bar", "user"]
    assert rows["environment.DB_HOST"][1:] == ["devarch-shop-db", "wire:db"]
    assert rows["image"][1:] == [IMAGE, "template"]
    assert rows["environment.DB_PASSWORD"][1:] == ["***", "wire:db"]
    code, out, _ = cli("--json", "instance", "effective", "shop", "web", "--explain")
    explain = {r["field"]: r["source"] for r in _json(out)["explain"]}
    assert explain["environment.FOO"] == "user"
    assert explain["environment.DB_HOST"] == "wire:db"


def test_instance_duplicate_rename_disable_and_rm(cli):
    """Duplicate, rename, disable and remove each change the instance list as promised."""
    _shop(cli)
    assert cli("instance", "duplicate", "shop", "db", "db2")[0] == 0
    assert cli("instance", "rename", "shop", "db2", "replica")[0] == 0
    _, out, _ = cli("--json", "instance", "disable", "shop", "replica")
    assert _json(out)["enabled"] is False
    assert cli("instance", "rm", "shop", "web")[0] == 0
    _code, out, _ = cli("instance", "list", "shop", "--json")
    assert [(i["name"], i["enabled"]) for i in _json(out)] == [("db", True), ("replica", False)]


def test_wire_add_list_rm(cli):
    """Explicit wires are added, listed and removed by consumer and import."""
    _shop(cli)
    code, out, err = cli("--json", "wire", "add", "shop", "web", "db", "db")
    assert code == 0, err
    assert _json(out) == {"consumer": "web", "import": "db", "provider": "db", "export": None}
    code, out, _ = cli("wire", "list", "shop")
    assert out.splitlines()[1].split() == ["web", "db", "db", "-"]
    assert cli("wire", "rm", "shop", "web", "db")[0] == 0
    assert cli("wire", "rm", "shop", "web", "db")[0] == 1


# -- secrets -------------------------------------------------------------------------------------


def test_secret_set_never_prints_the_value_and_list_shows_names_only(cli, monkeypatch):
    """Secrets set by --value, environment or stdin are never echoed; list shows names only."""
    _shop(cli)
    code, out, err = cli("secret", "set", "shop", "db", "POSTGRES_PASSWORD", "--value", SECRET)
    assert code == 0
    assert SECRET not in out + err
    monkeypatch.setenv("DEVARCH_SECRET_API_TOKEN", SECRET)
    code, out, err = cli("--json", "secret", "set", "shop", "web", "API_TOKEN")
    assert code == 0
    assert SECRET not in out + err
    monkeypatch.delenv("DEVARCH_SECRET_API_TOKEN")
    monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
    code, out, err = cli("secret", "set", "shop", "web", "OTHER")
    assert code == 0
    assert SECRET not in out + err
    code, out, err = cli("secret", "list", "shop", "--json")
    assert sorted((r["instance"], r["name"]) for r in _json(out)) == [
        ("db", "POSTGRES_PASSWORD"), ("web", "API_TOKEN"), ("web", "OTHER"),
    ]  # fmt: skip
    for args in (
        ["secret", "list", "shop"],
        ["instance", "show", "shop", "db"],
        ["instance", "effective", "shop", "web", "--explain"],
    ):
        code, out, err = cli(*args)
        assert code == 0
        assert SECRET not in out + err
    assert cli("secret", "unset", "shop", "web", "OTHER")[0] == 0
    assert cli("secret", "unset", "shop", "web", "OTHER")[0] == 1


def test_secret_set_reads_a_bounded_stdin(cli, monkeypatch):
    """A huge stdin (a file piped by mistake) is refused after 128 KiB, not read whole."""
    _shop(cli)
    endless = io.StringIO("z" * (4 * 1024 * 1024))
    monkeypatch.setattr("sys.stdin", endless)
    code, out, err = cli("secret", "set", "shop", "db", "POSTGRES_PASSWORD")
    assert code == 1
    assert "longer than 131072 characters" in err
    assert endless.tell() < 200 * 1024
    assert "zzzz" not in out + err
    assert _json(cli("secret", "list", "shop", "--json")[1]) == []


def test_secret_set_without_any_value_fails(cli):
    """With no --value, DEVARCH_SECRET_<NAME> or stdin, ``secret set`` exits 1 saying how."""
    _shop(cli)
    code, _, err = cli("secret", "set", "shop", "db", "POSTGRES_PASSWORD")
    assert code == 1
    assert "DEVARCH_SECRET_POSTGRES_PASSWORD" in err


# -- catalog, compose, graph ----------------------------------------------------------------------


def test_catalog_list_and_show(cli):
    """The catalog lists builtin and --catalog templates; ``show`` prints a template's YAML."""
    code, out, _ = cli("--json", "catalog", "list")
    names = {t["name"] for t in _json(out)}
    assert {"postgres", "bb-db", "bb-web"} <= names
    code, out, _ = cli("catalog", "show", "bb-db")
    assert code == 0
    # The first line points editors at the template schema (docs/editors.md).
    assert out.startswith("# yaml-language-server: $schema=.devarch/schemas/template.schema.json\n")
    assert "\nname: bb-db\n" in out
    assert cli("catalog", "show", "bb-db", "--version", "9.9")[0] == 1


def test_catalog_import_compose_writes_template_files(cli, tmp_path):
    """``catalog import-compose --out DIR`` writes one template file per compose service."""
    compose = tmp_path / "compose.yml"
    compose.write_text("services:\n  api:\n    image: busybox\n    ports: ['8080:80']\n")
    out_dir = tmp_path / "templates"
    code, _out, err = cli("catalog", "import-compose", str(compose), "--out", str(out_dir))
    assert code == 0, err
    assert (out_dir / "api.yaml").read_text().splitlines()[1] == "name: api"
    assert cli("catalog", "import-compose", str(compose), "--out", str(out_dir))[0] == 1


def test_compose_and_graph_render_the_stack(cli):
    """``compose`` prints Compose YAML with secrets redacted; ``graph`` prints the wiring."""
    _shop(cli)
    cli("secret", "set", "shop", "db", "POSTGRES_PASSWORD", "--value", SECRET)
    code, out, _ = cli("compose", "shop")
    assert code == 0
    assert "devarch-shop-web" in out
    assert SECRET not in out
    code, out, _ = cli("graph", "shop", "--format", "dot")
    assert code == 0
    assert "digraph" in out


def test_graph_draws_svg(cli):
    """``graph --format svg`` prints a well-formed SVG document with a node per instance."""
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    _shop(cli)
    code, out, _ = cli("graph", "shop", "--format", "svg")
    assert code == 0
    root = ET.fromstring(out)  # noqa: S314 - devarch's own output
    nodes = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert len(nodes) == len(_json(cli("--json", "instance", "list", "shop")[1]))


# -- plan and apply (FakeRuntime) ------------------------------------------------------------------


@pytest.mark.usefixtures("fake")
def test_plan_detailed_exitcode_apply_and_converge(cli):
    """Plan exits 2 with changes, ``apply --yes`` runs it, then plan exits 0 with no changes."""
    _shop(cli)
    code, out, _ = cli("plan", "shop", "--detailed-exitcode", runtime="docker")
    assert code == 2
    assert "+ db" in out
    assert cli("plan", "shop", runtime="docker")[0] == 0
    code, out, err = cli("apply", "shop", "--yes", runtime="docker")
    assert code == 0, err
    assert "Apply complete for stack shop: 2 added" in out
    assert "Timings: plan" in err
    code, out, _ = cli("plan", "shop", "--detailed-exitcode", runtime="docker")
    assert code == 0
    assert "no changes" in out
    code, out, _ = cli("--json", "status", "shop", runtime="docker")
    assert {(s["instance"], s["state"]) for s in _json(out)} == {
        ("db", "running"),
        ("web", "running"),
    }
    code, out, _ = cli("apply", "shop", runtime="docker")
    assert code == 0
    assert "no changes" in out


def test_apply_without_tty_and_without_yes_refuses(cli, fake):
    """Apply shows the plan but refuses to act without a terminal or --yes (exit 1, says --yes)."""
    _shop(cli)
    code, out, err = cli("apply", "shop", runtime="docker")
    assert code == 1
    assert "+ web" in out
    assert "--yes" in err
    assert not any(op == "create_container" for op, _ in fake.calls)


def test_apply_asks_on_a_terminal(cli, fake, monkeypatch):
    """On a terminal apply asks; "no" cancels with exit 1 and creates nothing."""
    _shop(cli)
    monkeypatch.setattr("sys.stdin", _Tty("no\n"))
    code, _, err = cli("apply", "shop", runtime="docker")
    assert code == 1
    assert "Apply these changes to stack shop?" in err
    assert not any(op == "create_container" for op, _ in fake.calls)


@pytest.mark.usefixtures("fake")
def test_plan_json_and_saved_plan_apply(cli, tmp_path):
    """``plan --json`` prints the Plan JSON, ``--out`` saves it, ``apply --plan`` applies it."""
    _shop(cli)
    saved = tmp_path / "plan.json"
    code, out, _ = cli("--json", "plan", "shop", "--out", str(saved), runtime="docker")
    assert code == 0
    data = _json(out)
    assert data["format"] == 1
    assert {a["instance"]: a["action"] for a in data["actions"]} == {"db": "add", "web": "add"}
    assert json.loads(saved.read_text()) == data
    code, out, err = cli("--json", "apply", "shop", "--plan", str(saved), runtime="docker")
    assert code == 0, err
    assert _json(out)["stack"] == "shop"


@pytest.mark.usefixtures("fake")
def test_stale_saved_plan_exits_4(cli, tmp_path):
    """A saved plan whose stack changed since is refused with exit 4 and what moved."""
    _shop(cli)
    saved = tmp_path / "plan.json"
    cli("plan", "shop", "--out", str(saved), runtime="docker")
    cli("instance", "set", "shop", "web", "env.FOO=bar")
    code, _, err = cli("apply", "shop", "--plan", str(saved), runtime="docker")
    assert code == 4
    assert "stale" in err
    assert "web" in err


@pytest.mark.usefixtures("fake")
def test_locked_stack_exits_3(cli, home):
    """Apply exits 3 naming the holder while another session holds the stack's lock."""
    _shop(cli)
    devarch = bootstrap.connect(home=home, runtime="none")
    assert devarch.lock is not None
    with devarch.lock.acquire("shop", holder="the other test session"):
        code, _, err = cli("apply", "shop", "--yes", runtime="docker")
    assert code == 3
    assert "being applied by another session" in err
    assert "the other test session" in err


def test_plan_with_missing_engine_exits_1(cli):
    """Commands that need an engine fail with exit 1 and a message when there is none."""
    _shop(cli)
    code, _, err = cli("plan", "shop")
    assert code == 1
    assert err.startswith("error:")


# -- parsing and reporting units -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "delta"),
    [
        ("port=15432:5432", {"ports": [{"container": 5432, "host": 15432}]}),
        (
            "port=127.0.0.2:15432:5432",
            {"ports": [{"container": 5432, "host": 15432, "host_ip": "127.0.0.2"}]},
        ),
        (
            "port=[::1]:15432:5432/udp",
            {"ports": [{"container": 5432, "protocol": "udp", "host": 15432, "host_ip": "::1"}]},
        ),
        ("port=5432", {"ports": [{"container": 5432}]}),
        ("port=53/udp", {"ports": [{"container": 53, "protocol": "udp"}]}),
        ("port=53/udp:off", {"ports": [{"container": 53, "protocol": "udp", "publish": False}]}),
        ("port=5432:remove", {"ports": [{"container": 5432, "remove": True}]}),
        ("volume=-/data", {"volumes": [{"target": "/data", "remove": True}]}),
        ("depends_on=-db", {"depends_on": [{"instance": "db", "remove": True}]}),
        (
            "healthcheck={test: [CMD, 'true'], interval: 2s}",
            {"healthcheck": {"test": ["CMD", "true"], "interval": "2s"}},
        ),
        ("entrypoint=/bin/sh -c", {"entrypoint": ["/bin/sh", "-c"]}),
        ("secret=API_KEY", {"secrets": ["API_KEY"]}),
    ],
)
def test_parse_assignments_reshapes_cli_forms_into_manifest_form(assignment, delta):
    """Each CLI assignment form becomes the documented manifest-form override delta."""
    assert parse_assignments([assignment]) == delta


def test_parse_assignments_reports_every_bad_assignment():
    """Unreadable assignments are all reported at once, each with its field."""
    with pytest.raises(ValidationError) as info:
        parse_assignments(["noequals", "port=x:1", "command='unclosed", "what.ever=1"])
    assert len(info.value.problems) == 4


def test_cli_port_assignment_reads_like_the_manifest_short_form(cli):
    """``port=15432:5432`` is HOST:CONTAINER, the same as ``ports: ["15432:5432"]`` in YAML."""
    _shop(cli)
    code, out, err = cli("--json", "instance", "set", "shop", "web", "port=18080:8080")
    assert code == 0, err
    assert _json(out)["overrides"]["ports"] == [{"container": 8080, "host": 18080}]
    code, out, err = cli("--json", "instance", "effective", "shop", "web")
    assert code == 0, err
    ports = _json(out)["service"]["ports"]
    assert [(p["container"], p.get("host")) for p in ports] == [(8080, 18080)]
    code, _, err = cli("instance", "set", "shop", "web", "port=99999:8080")
    assert code == 1
    assert "port" in err
    assert "HOST" in err


def test_reporter_prints_plain_steps_and_timings_off_a_terminal():
    """Off a terminal the reporter prints one line per step and the per-phase timings at the end."""
    stream = io.StringIO()
    reporter = RichReporter(stream)
    assert reporter.live is False
    reporter.phase_started("containers", 1)
    reporter.step("containers", "db", "creating")
    reporter.step("containers", "db", "started")
    reporter.phase_finished("containers", 1.5)
    reporter.warning("careful")
    reporter.print_timings({"plan": 0.25, "containers": 1.5})
    text = stream.getvalue()
    assert "containers: db started" in text
    assert "warning: careful" in text
    assert "Timings: plan 0.25s · containers 1.50s · total 1.75s" in text


def test_reporter_draws_bars_on_a_terminal():
    """On a terminal the reporter draws per-phase bars, also for phases never announced."""
    stream = io.StringIO()
    with RichReporter(stream, live=True, colour=False) as reporter:
        reporter.phase_started("images", 1)
        reporter.step("images", IMAGE, "present")
        reporter.phase_finished("images", 0.1)
        reporter.step("health", "db", "healthy")
        reporter.print_timings()
    text = stream.getvalue()
    assert "images" in text
    assert "Timings: images 0.10s" in text


# -- hostile text never reaches the terminal raw (issue 11 item 14) -----------------------------

EVIL = "evil\x1b[31mred\x1b]0;pwned\x07\rover\x9b2J\u202erev\nnext"
RAW = ("\x1b", "\r", "\x07", "\x9b", "\u202e")


def _no_raw_controls(text: str, what: str) -> None:
    leaked = [repr(ch) for ch in RAW if ch in text]
    assert not leaked, f"{what} printed {', '.join(leaked)} raw"


@pytest.mark.usefixtures("fake")
def test_control_characters_are_escaped_in_every_human_output(cli, tmp_path):
    """Escapes, CR, BEL, C1 and bidi controls in descriptions and values never reach stdout raw."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "evil.yaml").write_text(
        'name: evil\nversion: "1.0"\n'
        'description: "evil\\e[31mred\\e]0;pwned\\a\\rover\\x9b2J\\u202erev"\n'
        f"service:\n  image: {IMAGE}\n  command: [sleep, '60']\n"
    )
    assert cli("stack", "create", "shop", "--description", EVIL)[0] == 0
    code, _, err = cli(
        "instance", "add", "shop", "web", "bb-web", "--description", EVIL, "--set", f"env.X={EVIL}"
    )
    assert code == 0, err
    assert cli("instance", "add", "shop", "db", "bb-db", "--description", EVIL)[0] == 0
    assert cli("secret", "set", "shop", "db", "POSTGRES_PASSWORD", "--value", "pw")[0] == 0
    commands = [
        ("stack", "list"),
        ("stack", "show", "shop"),
        ("instance", "list", "shop"),
        ("instance", "show", "shop", "web"),
        ("instance", "effective", "shop", "web", "--explain"),
        ("instance", "effective", "shop", "web"),
        ("wire", "list", "shop"),
        ("secret", "list", "shop"),
        ("--catalog", str(catalog), "catalog", "list"),
        ("--catalog", str(catalog), "catalog", "show", "evil"),
        ("compose", "shop"),
        ("export", "shop"),
        ("instance", "set", "shop", "web", "--from-yaml", str(tmp_path / EVIL)),  # an error
    ]
    for args in commands:
        for json_flag in ((), ("--json",)):
            code, out, err = cli(*json_flag, *args)
            assert code in (0, 1), (args, err)
            _no_raw_controls(out + err, " ".join(args[:2]))
            if json_flag and out:
                json.loads(out)
    assert "evil\\x1b[31mred" in cli("stack", "list")[1]  # shown, escaped
    for args in (("plan", "shop"), ("apply", "shop", "--yes"), ("status", "shop"), ("doctor",)):
        code, out, err = cli(*args, runtime="docker")
        _no_raw_controls(out + err, args[0])
    # the table keeps its shape: the newline of the description is escaped, not a new row
    rows = cli("instance", "list", "shop")[1].splitlines()
    assert len(rows) == 3
    assert all("evil\\x1b[31mred" in row and "\\nnext" in row for row in rows[1:])


# -- optional imports left unwired; no auto-wired cycles (issue 11 item 26) ---------------------

PEER_TEMPLATE = f"""\
name: peer
version: "1.0"
service:
  image: {IMAGE}
  command: [sleep, "600"]
exports:
  - {{name: api, type: peer-http, port: 8080, env: {{PEER_HOST: "${{host}}"}}}}
imports:
  - {{name: peer, type: peer-http, required: false}}
"""


@pytest.mark.usefixtures("fake")
def test_two_peers_plan_without_a_cycle_and_an_import_can_be_left_unwired(cli, tmp_path):
    """Auto-wiring skips the wire that would close a cycle; ``wire add --none`` is kept."""
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    (catalog / "peer.yaml").write_text(PEER_TEMPLATE)
    extra = ("--catalog", str(catalog))
    assert cli(*extra, "stack", "create", "mesh")[0] == 0
    assert cli(*extra, "instance", "add", "mesh", "a", "peer")[0] == 0
    assert cli(*extra, "instance", "add", "mesh", "b", "peer")[0] == 0
    code, out, err = cli(*extra, "--json", "plan", "mesh", runtime="docker")
    assert code == 0, out + err
    plan = _json(out)
    assert [(w["consumer"], w["provider"]) for w in plan["wiring"]] == [("a", "b")]
    (info,) = plan["diagnostics"]
    assert info["severity"] == "info"
    assert "devarch wire add mesh b peer --none" in info["message"]
    # follow the advice: b's import stays unwired on purpose, and the plan says nothing more
    code, out, err = cli(*extra, "wire", "add", "mesh", "b", "peer", "--none")
    assert code == 0, err
    assert "unwired" in out
    code, out, _ = cli(*extra, "--json", "plan", "mesh", runtime="docker")
    assert _json(out)["diagnostics"] == []
    assert "(left unwired)" in cli(*extra, "wire", "list", "mesh")[1]
    # exported as provider: null and re-imported under another name with the same meaning
    code, text, err = cli(*extra, "export", "mesh")
    assert code == 0, err
    assert "provider: null" in text
    manifest = tmp_path / "mesh2.yml"
    manifest.write_text(text.replace("name: mesh", "name: mesh2"))
    code, _, err = cli(*extra, "import", str(manifest))
    assert code == 0, err
    code, out, _ = cli(*extra, "--json", "wire", "list", "mesh2")
    assert _json(out) == [{"consumer": "b", "import": "peer", "provider": None, "export": None}]
    # usage: PROVIDER or --none, not both and not neither
    assert cli(*extra, "wire", "add", "mesh", "b", "peer")[0] == 2
    assert cli(*extra, "wire", "add", "mesh", "b", "peer", "a", "--none")[0] == 2


def test_a_required_import_cannot_be_left_unwired(cli, tmp_path):
    """``wire add --none`` and ``provider: null`` refuse a required import, saying why."""
    _shop(cli)
    code, _, err = cli("wire", "add", "shop", "web", "db", "--none")
    assert code == 1
    assert "required import" in err
    assert "devarch wire add shop web db PROVIDER" in err
    manifest = tmp_path / "m.yml"
    manifest.write_text(
        "version: 1\nstack: {name: m}\ninstances:\n  db: {template: bb-db}\n"
        "  web: {template: bb-web}\nwires:\n  - {consumer: web, import: db, provider: null}\n"
    )
    code, _, err = cli("import", str(manifest))
    assert code == 1
    assert "wires[0].provider" in err
    assert cli("stack", "show", "m")[0] == 1


# -- newcomer papercuts (issue 11 item 29) ------------------------------------------------------


def test_version_prints_the_package_version_and_exits_0(capsys):
    """``devarch --version`` prints ``devarch X.Y.Z`` from the package metadata, exit 0."""
    capsys.readouterr()
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out == f"devarch {version('devarch')}\n"


def test_every_error_line_starts_with_lowercase_error(cli, monkeypatch):
    """Devarch errors, internal errors and usage errors all print a lowercase ``error:``."""
    lines = [cli("stack", "show", "nope")[2], cli("instance", "set", "x", "y", "port=abc")[2]]
    lines.append(cli("stack", "frobnicate")[2].splitlines()[-1])
    monkeypatch.setattr("devarch_core.app.Devarch.list_stacks", lambda *_a: 1 / 0)
    lines.append(cli("stack", "list")[2])
    for err in lines:
        assert err.startswith(("error: ", "devarch: error: ")), err
        assert "Error:" not in err.split(":", 2)[0], err


def test_explain_rows_fit_the_terminal_width(cli, monkeypatch):
    """``effective --explain`` cuts long values so rows fit 100 columns off a terminal."""
    monkeypatch.delenv("COLUMNS", raising=False)
    _shop(cli)
    long_value = "x" * 300
    assert cli("instance", "set", "shop", "web", f"env.LONG={long_value}")[0] == 0
    code, out, err = cli("instance", "effective", "shop", "web", "--explain")
    assert code == 0, err
    assert max(len(row) for row in out.splitlines()) <= 100
    assert "x" * 40 + "…" in out
    monkeypatch.setenv("COLUMNS", "160")
    out = cli("instance", "effective", "shop", "web", "--explain")[1]
    widths = [len(row) for row in out.splitlines()]
    assert max(widths) <= 160
    assert max(widths) > 100
    # the whole value is still in the JSON and the YAML forms
    out = cli("--json", "instance", "effective", "shop", "web", "--explain")[1]
    assert long_value in out


@pytest.mark.usefixtures("fake")
def test_reimporting_an_export_under_a_new_name_explains_the_pins(cli, tmp_path):
    """An exported manifest renamed and imported while the old stack holds its ports says why."""
    _shop(cli)
    code, _, err = cli("apply", "shop", "--yes", runtime="docker")
    assert code == 0, err
    code, text, err = cli("export", "shop")
    assert code == 0, err
    assert "pins:" in text
    manifest = tmp_path / "copy.yml"
    manifest.write_text(text.replace("name: shop", "name: copy"))
    code, _, err = cli("import", str(manifest))
    assert code == 1
    assert ".pins.ports." in err
    assert "delete the block, or import with --no-pins" in err
    assert cli("stack", "show", "copy")[0] == 1

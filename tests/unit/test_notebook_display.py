"""Notebook display: plan, status and effective config as escaped tables, the graph as SVG.

Built on the in-memory fakes and the example busybox catalog (``examples/catalog``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from devarch_adapters.filesystem import load_catalog_dirs
from devarch_core import Devarch, InstanceStatus, PublishedPort
from devarch_core._svg import SvgGraph, wiring_svg
from devarch_core.status import StatusReport
from devarch_core.testing import fake_devarch
from devarch_core.wiring import WiringNode, WiringPlan

if TYPE_CHECKING:
    from devarch_core.catalog import Catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "catalog"
IMAGE = "devarch-test/busybox:latest"
SECRET = "s3cr3t-Pa55word"
SCRIPT = "<script>alert(1)</script>"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_dirs([EXAMPLES])


@pytest.fixture
def devarch(catalog: Catalog) -> Devarch:
    """Stack ``shop``: web wired to db and cache; a hostile value and a secret on db."""
    d = fake_devarch(catalog, images={IMAGE: "sha256:1"})
    d.create_stack("shop")
    d.add_instance("shop", "db", "bb-db", secrets={"POSTGRES_PASSWORD": SECRET})
    d.add_instance("shop", "cache", "bb-cache")
    d.add_instance(
        "shop", "web", "bb-web", overrides={"environment": {"APP_TITLE": SCRIPT + " | a|b"}}
    )
    return d


# -- plan --------------------------------------------------------------------------------------
def test_plan_html_is_a_table_of_actions_fields_and_sources(devarch):
    """The plan's HTML names each action, instance, field and source, with a summary caption."""
    page = devarch.plan("shop")._repr_html_()
    assert page.count("<table") == 2  # actions and wiring
    assert "Plan for stack shop: 3 to add" in page
    for text in ("<th>action</th>", "<th>field</th>", "<th>source</th>", "web", "image", "user"):
        assert text in page
    assert "Wiring" in page
    assert "wire:db" in page or "db" in page


def test_plan_html_and_markdown_escape_hostile_values(devarch):
    """A ``<script>`` value is escaped in HTML and Markdown; ``|`` cannot break a Markdown row."""
    plan = devarch.plan("shop")
    page = plan._repr_html_()
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    markdown = plan._repr_markdown_()
    assert SCRIPT not in markdown
    assert "&lt;script&gt;" in markdown
    assert "a\\|b" in markdown
    row = next(line for line in markdown.splitlines() if "APP_TITLE" in line)
    assert row.count(" | ") == markdown.splitlines()[2].count(" | ")  # same columns as header


def test_plan_display_never_shows_a_secret(devarch):
    """The plan's tables show a secret's value as ``***``."""
    plan = devarch.plan("shop")
    for text in (plan._repr_html_(), plan._repr_markdown_()):
        assert SECRET not in text
        assert "***" in text


def test_an_empty_plan_says_no_changes(devarch):
    """After apply, the plan's table says there is nothing to do."""
    devarch.apply("shop")
    page = devarch.plan("shop")._repr_html_()
    assert "Stack shop: no changes" in page
    assert "(none)" in page


# -- effective config -------------------------------------------------------------------------
def test_effective_config_html_lists_fields_values_and_sources(devarch):
    """Every field path appears with its value and source; the caption names the template."""
    eff = devarch.effective("shop", "web")
    page = eff._repr_html_()
    assert "shop/web (bb-web@1.0)" in page
    assert "<td>environment.DB_HOST</td>" in page
    assert "<td>wire:db</td>" in page
    assert f"<td>{IMAGE}</td>" in page
    assert "&lt;script&gt;" in page
    assert SCRIPT not in page
    assert "environment.APP_TITLE" in eff._repr_markdown_()


def test_effective_config_display_redacts_secrets(devarch):
    """A secret environment variable shows as ``***`` in HTML and Markdown, never its value."""
    eff = devarch.effective("shop", "db")
    for text in (eff._repr_html_(), eff._repr_markdown_()):
        assert SECRET not in text
        assert "POSTGRES_PASSWORD" in text
    assert "<td>environment.POSTGRES_PASSWORD</td><td>***</td>" in eff._repr_html_()


# -- status -----------------------------------------------------------------------------------
def test_status_is_still_a_list_of_instance_status(devarch):
    """status() indexes, iterates, counts and compares like the list it used to return."""
    devarch.apply("shop")
    rows = devarch.status("shop")
    assert isinstance(rows, list)
    assert isinstance(rows, StatusReport)
    assert len(rows) == 3
    assert [r.instance for r in rows] == ["cache", "db", "web"]
    assert rows[0] == next(iter(rows))
    assert rows == list(rows)
    assert rows.stack == "shop"
    assert rows.instance("web").state == "running"
    with pytest.raises(KeyError):
        rows.instance("nope")


def test_status_exposes_host_ports_as_numbers(devarch):
    """Each published port is also a PublishedPort with int host and container ports."""
    devarch.apply("shop")
    web = devarch.status("shop").instance("web")
    assert len(web.host_ports) == 1
    port = web.host_ports[0]
    assert isinstance(port, PublishedPort)
    assert port.container == 8080
    assert isinstance(port.host_port, int)
    assert port.protocol == "tcp"
    assert web.host_port(8080) == port.host_port
    assert web.host_port(9999) is None
    assert web.ports == (f"{port.host_ip}:{port.host_port}->8080/tcp",)
    data = web.to_data()
    assert data["host_ports"] == [
        {"container": 8080, "protocol": "tcp", "host_ip": port.host_ip, "host_port": port.host_port}
    ]


def test_status_html_and_markdown_show_every_row(devarch):
    """The status table has one row per instance, with state and ports, escaped."""
    devarch.apply("shop")
    rows = devarch.status("shop")
    page = rows._repr_html_()
    assert "Status of stack shop" in page
    assert page.count("<tr>") == 1 + 3
    assert "<td>running</td>" in page
    web = rows.instance("web")
    assert str(web.host_port(8080)) in page
    assert "| web |" in rows._repr_markdown_()


def test_status_report_escapes_names():
    """Text in a hand-built report is escaped too."""
    report = StatusReport(
        [InstanceStatus(instance=SCRIPT, container="c", enabled=True, state="running")]
    )
    assert SCRIPT not in report._repr_html_()
    assert "&lt;script&gt;" in report._repr_html_()


# -- graph ------------------------------------------------------------------------------------
def parse_svg(text: str) -> ET.Element:
    """Parse our own drawing: well-formed XML or a ParseError."""
    return ET.fromstring(text)  # noqa: S314 - devarch's own output, not untrusted input


def test_graph_svg_is_well_formed_with_one_node_per_instance(devarch):
    """``graph(fmt="svg")`` parses as XML: one node group per instance, one arrow per wire."""
    graph = devarch.graph("shop", fmt="svg")
    assert isinstance(graph, SvgGraph)
    assert graph._repr_svg_() == graph.svg == str(graph)
    root = parse_svg(graph.svg)
    assert root.tag == f"{SVG}svg"
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert sorted(g.get("id", "") for g in nodes) == ["node-cache", "node-db", "node-web"]
    wires = [g for g in root.iter(f"{SVG}g") if g.get("class") == "wire"]
    assert sorted(w.findtext(f"{SVG}text", "") for w in wires) == ["cache", "db"]


def test_graph_svg_draws_consumers_left_of_providers(devarch):
    """Arrows run left to right: web's box is left of db's and cache's."""
    root = parse_svg(devarch.graph("shop", fmt="svg").svg)
    x = {
        g.get("id"): float(g.find(f"{SVG}rect").get("x"))  # type: ignore[union-attr,arg-type]
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "node"
    }
    assert x["node-web"] < x["node-db"]
    assert x["node-web"] < x["node-cache"]


def test_graph_svg_escapes_text(catalog):
    """Markup in a name is escaped, so the drawing stays well-formed and shows the text."""
    node = WiringNode(name=SCRIPT + "&", template=catalog.get("bb-db"))
    svg = wiring_svg([node], WiringPlan(), stack="a<b").svg
    assert SCRIPT not in svg
    texts = [t.text for t in parse_svg(svg).iter(f"{SVG}text")]
    assert SCRIPT + "&" in texts
    assert "stack a<b" in texts


def test_graph_svg_marks_unwired_imports(catalog):
    """An import left unwired is written under its consumer."""
    d = fake_devarch(catalog, images={IMAGE: "sha256:1"})
    d.create_stack("lonely")
    d.add_instance("lonely", "web", "bb-web")
    svg = d.graph("lonely", fmt="svg").svg
    root = parse_svg(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert any(t and t.startswith("db: ") for t in texts)


def test_graph_text_formats_are_unchanged(devarch):
    """Mermaid and DOT are still text."""
    assert devarch.graph("shop").startswith("graph LR")
    assert devarch.graph("shop", fmt="dot").startswith("digraph")


def test_an_empty_stack_draws_a_valid_svg(catalog):
    """A stack without instances still gives a well-formed drawing that says so."""
    d = fake_devarch(catalog, images={IMAGE: "sha256:1"})
    d.create_stack("empty")
    root = parse_svg(d.graph("empty", fmt="svg").svg)
    assert "(no instances)" in [t.text for t in root.iter(f"{SVG}text")]


def test_status_table_marks_a_disabled_instance_like_the_cli(devarch):
    """A disabled instance's state reads ``... (disabled)`` in the notebook table, as in the CLI."""
    devarch.apply("shop")
    devarch.update_instance("shop", "cache", enabled=False)
    devarch.apply("shop")
    rows = devarch.status("shop")
    assert "(disabled)" in rows._repr_html_()
    assert "| cache | devarch-shop-cache | absent (disabled) |" in rows._repr_markdown_()

"""The status rows the CLI's ``status`` table and the notebook's tables share."""

from __future__ import annotations

from devarch_adapters.cli._render import status_rows as cli_status_table
from devarch_core import InstanceStatus
from devarch_core._notebook import status_markdown
from devarch_core.rendering import STATUS_HEADERS, status_rows


def _statuses() -> list[InstanceStatus]:
    return [
        InstanceStatus(instance="db", container="c-db", enabled=True, state="running"),
        InstanceStatus(instance="web", container="c-web", enabled=False, state="exited"),
        InstanceStatus(instance="old", container="c-old", enabled=False, state="orphan (exited)"),
        InstanceStatus(
            instance="api", container="c-api", enabled=True, state="running", ports=("a", "b")
        ),
    ]


def test_rows_mark_disabled_instances_but_not_orphans_and_show_missing_ports_as_dash():
    assert status_rows(_statuses()) == [
        ("db", "c-db", "running", "none", "-"),
        ("web", "c-web", "exited (disabled)", "none", "-"),
        ("old", "c-old", "orphan (exited)", "none", "-"),
        ("api", "c-api", "running", "none", "a, b"),
    ]
    assert len(STATUS_HEADERS) == len(status_rows(_statuses())[0])


def test_cli_table_and_notebook_table_show_the_same_cells():
    text, markdown = cli_status_table(_statuses()), status_markdown(_statuses())
    for row in status_rows(_statuses()):
        for cell in row:
            assert cell in text
            assert cell in markdown
    assert text.split()[: len(STATUS_HEADERS)] == [h.upper() for h in STATUS_HEADERS]

"""Hostile imports through the facade leave the store byte-identical; the CLI exits 1 cleanly.

The store is SQLite (devarch_adapters.connect on a temporary DEVARCH_HOME, no engine); each
hostile manifest is imported with and without ``--prune`` and must be refused with a
DevarchError, after which the database file and its logical dump are what they were.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.adversarial.hostile import (
    BOMB,
    HOSTILE_VALUES,
    ROOT,
    deep,
    dump,
    paths,
    replaced,
    seed_data,
    with_text_at,
)

import devarch_adapters
from devarch_core.errors import DevarchError

if TYPE_CHECKING:
    from pathlib import Path

SEED = "tests/data/manifests/good.yml"
CATALOG = ROOT / "examples" / "catalog"


def snapshot(home: Path) -> tuple[bytes, list[str]]:
    """The store's bytes on disk (database and any WAL) and its logical dump.

    Not the ``-shm`` file: SQLite's shared-memory index of the WAL, which every read updates
    (read marks) while a connection is open, and which is rebuilt from the WAL on open.
    """
    files = sorted(p for p in home.glob("devarch.db*") if not p.name.endswith("-shm"))
    raw = b"".join(p.name.encode() + p.read_bytes() for p in files)
    with sqlite3.connect(home / "devarch.db") as db:
        dump_lines = list(db.iterdump())
    db.close()
    return raw, dump_lines


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    home = tmp_path_factory.mktemp("adversarial-home")
    devarch = devarch_adapters.connect(home=home, runtime="none", catalog=[str(CATALOG)])
    good = (ROOT / SEED).read_text(encoding="utf-8")
    devarch.import_yaml(good, origin=SEED, secret_values={"POSTGRES_PASSWORD": "s3cret-pw"})
    yield devarch, home
    devarch.store.close()


def hostile_manifests() -> list[tuple[str, str | bytes]]:
    """Manifests for stack ``shop`` (the stored one) that must be refused."""
    data = seed_data("manifest", SEED)
    targets = list(paths(data))
    cases: list[tuple[str, str | bytes]] = [
        (
            "bomb in ports",
            with_text_at("manifest", SEED, ("instances", "db", "overrides", "ports"), BOMB),
        ),
        ("deep", with_text_at("manifest", SEED, ("instances", "web", "overrides"), deep(3000))),
        ("not utf-8", dump(data).encode() + b"# \xff\n"),
        ("too large", b"#" * (4 * 1024 * 1024 + 1)),
        ("int key", dump(data).replace("APP_TITLE:", "1:")),
        ("huge description", dump(replaced(data, ("stack", "description"), "d" * 1001))),
        (
            "huge env",
            dump(
                replaced(
                    data,
                    ("instances", "web", "overrides", "environment", "APP_TITLE"),
                    "v" * 200_000,
                )
            ),
        ),
        (
            "cpu 1e30",
            dump(
                replaced(data, ("instances", "db", "overrides", "resources", "cpu_limit"), "1e30")
            ),
        ),
    ]
    # Every path but `version` gets a wrong type.
    cases.extend((f"{path}=[[1, 2]]", dump(replaced(data, path, [[1, 2]]))) for path in targets[1:])
    return cases


CASES = hostile_manifests()


@pytest.mark.parametrize(("label", "text"), CASES, ids=[label for label, _ in CASES])
def test_a_refused_import_leaves_the_store_byte_identical(store, label, text):
    devarch, home = store
    before = snapshot(home)
    for prune in (False, True):
        try:
            devarch.import_yaml(text, origin="hostile.yml", prune=prune, environ={})
        except DevarchError:
            pass
        else:  # pragma: no cover - a case that is accepted is a wrong case
            pytest.fail(f"{label}: import accepted")
        assert snapshot(home) == before, label


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(data=st.data())
def test_any_refused_mutation_leaves_the_store_byte_identical(store, data):
    devarch, home = store
    seed = seed_data("manifest", SEED)
    path = data.draw(st.sampled_from(list(paths(seed))))
    value = data.draw(st.sampled_from(HOSTILE_VALUES))
    before = snapshot(home)
    with contextlib.suppress(DevarchError):
        devarch.import_yaml(
            dump(replaced(seed, path, value)), origin="m.yml", environ={}, dry_run=True
        )
    assert snapshot(home) == before


# -- the CLI -------------------------------------------------------------------------------------

CLI = "import sys; from devarch_adapters.cli import main; sys.exit(main())"


def devarch_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DEVARCH_HOME": str(home), "DEVARCH_RUNTIME": "none", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("command", "name", "content", "expected"),
    [
        (
            ["import"],
            "bomb.yml",
            with_text_at("manifest", SEED, ("instances", "db", "overrides", "ports"), BOMB),
            "aliases expand",
        ),
        (
            ["import"],
            "latin1.yml",
            "version: 1\nstack: {name: caf\xe9}\n".encode("latin-1"),
            "not UTF-8 text at byte 28",
        ),
        (["init"], "deep.yml", "a: " + deep(5000), "line 1, column"),
        (
            ["catalog", "import-compose"],
            "compose.yml",
            "x-bomb: " + BOMB + "\nservices: {web: {image: x}}\n",
            "aliases expand",
        ),
        (
            ["catalog", "import-compose"],
            "compose.yml",
            "services:\n  web: {image: x, depends_on: 5}\n",
            "services.web.depends_on",
        ),
        (["apply", "shop", "--plan"], "plan.json", b"\xff{}", "not UTF-8 text at byte 0"),
    ],
    ids=[
        "import-bomb",
        "import-latin1",
        "init-deep",
        "compose-bomb",
        "compose-depends-on",
        "plan-latin1",
    ],
)
def test_the_cli_refuses_hostile_files_in_one_line(tmp_path, command, name, content, expected):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    result = devarch_cli(tmp_path / "home", *command, str(path))
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert expected in lines[0]


def test_the_cli_reads_no_more_than_the_limit(tmp_path):
    result = devarch_cli(tmp_path / "home", "import", "/dev/zero")
    assert result.returncode == 1
    assert result.stderr.strip() == textwrap.dedent(
        "error: invalid manifest /dev/zero: the file is larger than 4 MiB"
    )

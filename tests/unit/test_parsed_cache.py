"""Parsed template files are cached by the hash of their text between CLI runs.

The catalog read from the cache is the catalog parsed from YAML; a changed file is parsed
again; data that JSON would not give back equal (a date) is never cached; a broken cache file
is ignored.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from devarch_adapters.bootstrap import load_catalog
from devarch_adapters.filesystem.parsed_cache import ParsedCache
from devarch_core import catalog as catalog_module
from devarch_core.catalog import builtin_catalog, parse_template_text
from devarch_core.errors import TemplateError

if TYPE_CHECKING:
    from pathlib import Path

TEMPLATE = """\
name: cached
version: "1.0"
service:
  image: busybox:latest
  environment:
    GREETING: hello
"""


def _no_yaml(*_args: object, **_kwargs: object) -> object:
    raise AssertionError("parsed the YAML again")


def test_a_cached_document_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Second parse of the same text comes from the cache and gives an equal template."""
    parsed: dict[str, Any] = {}
    first = parse_template_text(TEMPLATE, "a.yaml", parsed=parsed)
    assert len(parsed) == 1
    monkeypatch.setattr(catalog_module, "load_yaml", _no_yaml)
    again = parse_template_text(TEMPLATE.encode(), "a.yaml", parsed=parsed)
    assert again == first
    with pytest.raises(AssertionError, match="parsed the YAML again"):
        parse_template_text(TEMPLATE.replace("hello", "bye"), "a.yaml", parsed=parsed)


def test_data_json_would_change_is_not_cached() -> None:
    """A YAML date (or any value JSON reads back differently) is parsed every time."""
    parsed: dict[str, Any] = {}
    text = TEMPLATE.replace("GREETING: hello", "GREETING: 2024-01-02")
    with pytest.raises(TemplateError):
        parse_template_text(text, "a.yaml", parsed=parsed)
    assert parsed == {}


def test_an_invalid_template_from_the_cache_fails_the_same_way() -> None:
    """The template is validated from cached data too: the same error, naming the file."""
    parsed: dict[str, Any] = {}
    text = "name: Bad_Name\nversion: '1'\nservice: {image: x}\n"
    with pytest.raises(TemplateError) as first:
        parse_template_text(text, "a.yaml", parsed=parsed)
    with pytest.raises(TemplateError) as second:
        parse_template_text(text, "a.yaml", parsed=parsed)
    assert str(first.value) == str(second.value)
    assert "a.yaml" in str(second.value)


def test_the_catalog_from_the_cache_equals_the_parsed_one(tmp_path: Path) -> None:
    """Builtin and user templates read back from the file give the same catalog; mode 0600."""
    user = tmp_path / "templates"
    user.mkdir()
    (user / "cached.yaml").write_text(TEMPLATE, encoding="utf-8")
    path = tmp_path / "home" / "cache" / "templates.json"
    first = load_catalog([user], cache=ParsedCache(path))
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert len(saved["documents"]) == len(builtin_catalog()) + 1
    again = load_catalog([user], cache=ParsedCache(path))
    assert again.list() == first.list()
    assert first.list() == builtin_catalog().merged(load_catalog([user])).list()


def test_entries_of_changed_files_are_dropped(tmp_path: Path) -> None:
    """After a file changes, the next save keeps only the documents the catalog still has."""
    user = tmp_path / "templates"
    user.mkdir()
    file = user / "cached.yaml"
    file.write_text(TEMPLATE, encoding="utf-8")
    path = tmp_path / "templates.json"
    load_catalog([user], cache=ParsedCache(path))
    count = len(json.loads(path.read_text(encoding="utf-8"))["documents"])
    file.write_text(TEMPLATE.replace("hello", "bye"), encoding="utf-8")
    catalog = load_catalog([user], cache=ParsedCache(path))
    assert catalog.get("cached").service.environment["GREETING"] == "bye"
    assert len(json.loads(path.read_text(encoding="utf-8"))["documents"]) == count


@pytest.mark.parametrize("content", ["{not json", '{"format": 99, "documents": {}}', "[]"])
def test_a_broken_cache_file_is_ignored_and_rewritten(tmp_path: Path, content: str) -> None:
    """An unreadable or foreign cache is as good as none; the next save replaces it."""
    path = tmp_path / "templates.json"
    path.write_text(content, encoding="utf-8")
    catalog = load_catalog([], cache=ParsedCache(path))
    assert catalog.list() == builtin_catalog().list()
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == 1


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path: Path) -> None:
    """A cache path under a file (not a directory) is ignored: the catalog loads all the same."""
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    catalog = load_catalog([], cache=ParsedCache(blocker / "cache" / "templates.json"))
    assert catalog.list() == builtin_catalog().list()


def test_a_second_run_does_not_import_pyyaml(tmp_path: Path) -> None:
    """With the cache written, loading the catalog in a new process needs no PyYAML."""
    code = (
        "import sys; from pathlib import Path; "
        "from devarch_adapters.bootstrap import load_catalog; "
        "from devarch_adapters.filesystem.parsed_cache import ParsedCache; "
        "c = load_catalog([], cache=ParsedCache(Path(sys.argv[1]))); "
        "print(len(c), 'yaml' in sys.modules)"
    )
    path = str(tmp_path / "templates.json")
    runs = [
        subprocess.run(
            [sys.executable, "-c", code, path],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        for _ in range(2)
    ]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    count = str(len(builtin_catalog()))
    assert runs[0].stdout.split() == [count, "True"]
    assert runs[1].stdout.split() == [count, "False"]

"""``devarch schema``: prints the editor schemas, writes them where exported files point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devarch_adapters.cli import main
from devarch_core.catalog import parse_template_text
from devarch_core.compose_import import template_to_yaml
from devarch_core.manifest import Manifest
from devarch_core.schema import SCHEMA_KINDS, SCHEMA_PATHS, json_schema, modeline

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_schema_prints_the_json_schema_without_a_store(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    code, out, err = run(capsys, "--home", str(home), "schema", kind)
    assert code == 0, err
    assert json.loads(out) == json_schema(kind)  # type: ignore[arg-type]
    assert not home.exists()  # no store was opened


def test_schema_write_fills_the_directory_exported_files_point_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "--home", str(tmp_path / "home"), "schema", "--write")
    assert code == 0, err
    for kind in SCHEMA_KINDS:
        # The modeline's path is relative to the exported file, here in the project directory.
        target = modeline(kind).split("$schema=", 1)[1].strip()
        assert target == SCHEMA_PATHS[kind]
        assert json.loads((tmp_path / target).read_text()) == json_schema(kind)
        assert f"Wrote {target}." in out


def test_schema_write_one_kind_into_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "schema", "lock", "--write", str(tmp_path / "s"))
    assert code == 0, err
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["lock.schema.json"]


def test_schema_needs_a_kind_or_write(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "schema")
    assert code == 2
    assert "name a schema" in err
    assert run(capsys, "schema", "compose")[0] == 2


def test_schema_write_onto_a_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "f").write_text("x")
    code, _, err = run(capsys, "schema", "--write", str(tmp_path / "f"))
    assert code == 1
    assert "is not a directory" in err


def test_files_with_and_without_the_modeline_parse_the_same() -> None:
    text = (ROOT / "tests" / "data" / "manifests" / "good.yml").read_text(encoding="utf-8")
    with_line = modeline("manifest") + text
    assert Manifest.parse(with_line) == Manifest.parse(text)
    assert Manifest.parse(with_line).content_hash == Manifest.parse(text).content_hash
    template_text = (ROOT / "examples" / "catalog" / "bb-db.yaml").read_text(encoding="utf-8")
    template = parse_template_text(template_text, "bb-db.yaml")
    exported = template_to_yaml(template)
    assert exported.startswith(modeline("template"))
    again = parse_template_text(exported, "exported.yaml")
    assert again == template
    assert again.content_hash == template.content_hash

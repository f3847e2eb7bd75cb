"""``devarch catalog validate``: every problem of the user's templates with file, line and path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from devarch_adapters.cli import main
from devarch_core.catalog import yaml_lines
from devarch_core.catalog_check import line_of

if TYPE_CHECKING:
    import pytest

ROOT = Path(__file__).resolve().parents[2]

BAD = """\
name: Bad_Name
version: "1"
service:
  image: "UPPER/Case"
  ports:
    - 70000
    - {container: 80, colour: red}
  environment:
    1BAD: x
  config_files:
    - {path: etc/app.conf, content: hi}
"""

GOOD = """\
# yaml-language-server: $schema=.devarch/schemas/template.schema.json
name: api
version: "1"
service:
  image: busybox:1.36
  ports: ["8080"]
exports:
  - {name: http, type: http, port: 8080}
"""


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--home", str(tmp_path / "home"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_problem_is_printed_with_its_file_line_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "t", "bad.yaml", BAD)
    write(tmp_path / "t", "good.yaml", GOOD)
    code, out, _ = run(capsys, tmp_path, "catalog", "validate", str(tmp_path / "t"))
    assert code == 1
    lines = out.splitlines()
    for expected in (
        f"{bad}:1: name: 'Bad_Name' must be a lowercase DNS label",
        f"{bad}:4: service.image: 'UPPER/Case' is not a valid image reference",
        f"{bad}:6: service.ports[0]: port 70000 is out of range 1-65535",
        f"{bad}:7: service.ports[1].colour: unknown key",
        f"{bad}:9: service.environment.1BAD: '1BAD' is not a valid environment variable name",
        f"{bad}:11: service.config_files[0].path: 'etc/app.conf' must be an absolute path",
    ):
        assert any(line.startswith(expected) for line in lines), (expected, out)
    assert lines[-1] == "6 problems in 1 of 2 files."
    assert not (tmp_path / "home").exists()  # no store, no engine


def test_a_yaml_error_names_its_line_and_the_other_files_are_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dup = write(tmp_path / "t", "dup.yml", 'name: x\nversion: "1"\nservice: {image: a, image: b}\n')
    write(tmp_path / "t", "empty.yaml", "# nothing\n")
    write(tmp_path / "t", "good.yaml", GOOD)
    code, out, _ = run(capsys, tmp_path, "catalog", "validate", str(tmp_path / "t"))
    assert code == 1
    assert f"{dup}:3: not valid YAML: while constructing a mapping, found duplicate key" in out
    assert "empty.yaml: the file is empty" in out
    assert out.splitlines()[-1] == "2 problems in 2 of 3 files."


def test_valid_templates_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for directory in (ROOT / "examples" / "catalog", ROOT / "src/devarch_core/builtin_templates"):
        code, out, err = run(capsys, tmp_path, "catalog", "validate", str(directory))
        assert code == 0, out + err
        assert out.rstrip().endswith("no problems.")


def test_one_file_can_be_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "api.yml.txt", GOOD)  # a named file need not end in .yaml
    code, out, _ = run(capsys, tmp_path, "catalog", "validate", str(good))
    assert (code, out) == (0, "1 template in 1 file: no problems.\n")


def test_contracts_across_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "t"
    write(directory, "api.yaml", GOOD)
    other = write(directory, "api2.yaml", GOOD.replace("busybox:1.36", "busybox:1.37"))
    needs = write(
        directory,
        "needs.yaml",
        'name: needs\nversion: "1"\nservice: {image: busybox}\nimports:\n'
        "  - {name: q, type: queue}\n  - {name: m, type: metrics, required: false}\n",
    )
    portless = write(
        directory,
        "portless.yaml",
        'name: portless\nversion: "1"\nservice: {image: busybox}\n'
        "exports:\n  - {name: http, type: http, port: 80}\n",
    )
    code, out, _ = run(capsys, tmp_path, "catalog", "validate", str(directory))
    assert code == 1
    api = directory / "api.yaml"
    assert f"{other}:2: name: template api@1 is also defined, differently, in {api}" in out
    assert (
        f"{needs}:5: imports[0].type: a required import of type 'queue' that no template in "
        "the catalog exports" in out
    )
    assert f"{needs}:6: warning: imports[1].type: an optional import of type 'metrics'" in out
    assert f"{portless}:5: warning: exports[0].port: 80/tcp is not among the service's ports" in out
    assert out.splitlines()[-1] == "2 problems in 2 of 4 files (2 warnings)."


def test_replacing_a_builtin_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "src/devarch_core/builtin_templates/redis.yaml").read_text(encoding="utf-8")
    path = write(tmp_path, "redis.yaml", text.replace("description:", "description: mine"))
    code, out, _ = run(capsys, tmp_path, "catalog", "validate", str(path))
    assert code == 0, out
    assert "warning: version: replaces the builtin template redis@" in out


def test_without_a_path_the_catalog_directories_are_checked_even_when_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "t", "bad.yaml", BAD)
    code, out, _ = run(capsys, tmp_path, "--catalog", str(tmp_path / "t"), "catalog", "validate")
    assert code == 1
    assert f"{bad}:6: service.ports[0]" in out


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "t", "bad.yaml", BAD)
    code, out, _ = run(capsys, tmp_path, "catalog", "validate", "--json", str(bad))
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False
    assert data["files"] == [str(bad)]
    assert {
        "file": str(bad),
        "line": 6,
        "path": "service.ports[0]",
        "message": "port 70000 is out of range 1-65535",
        "severity": "error",
    } in data["problems"]


def test_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVARCH_CATALOG_PATH", raising=False)
    code, _, err = run(capsys, tmp_path, "catalog", "validate")
    assert code == 2
    assert "name a template file or directory" in err
    code, _, err = run(capsys, tmp_path, "catalog", "validate", str(tmp_path / "nope"))
    assert code == 2
    assert "no such file or directory" in err


def test_line_of_falls_back_to_the_nearest_parent() -> None:
    lines = yaml_lines("a:\n  b:\n    - x\n    - {c: 1}\n")
    assert line_of("a.b[1].c", lines) == 4
    assert line_of("a.b[1].missing", lines) == 4
    assert line_of("a.b[7]", lines) == 2
    assert line_of("zzz", lines) == 1
    assert yaml_lines("a: [") == {}

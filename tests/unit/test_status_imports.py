"""What ``devarch status`` (and a no-op ``apply``) import stays light: no PyYAML, no driver SDK.

PyYAML is imported by the commands that read or write YAML, cryptography when a secret is
sealed or opened, rich when progress is drawn, the docker SDK only for a named Docker context or
a remote engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_PROBE = textwrap.dedent(
    """
    import json, sys
    import devarch_adapters.bootstrap
    import devarch_adapters.cli._main
    import devarch_adapters.docker
    import devarch_adapters.sqlite
    from devarch_core.testing import fake_devarch
    from devarch_core.catalog import Catalog

    da = fake_devarch(Catalog.deferred(lambda: Catalog([])))
    da.create_stack("shop")
    rows = da.status("shop")
    heavy = ("yaml", "docker", "requests", "cryptography", "rich", "paramiko")
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))))
    """
)


def test_status_imports_no_yaml_nor_driver_sdk(tmp_path: Path) -> None:
    """The modules a ``status`` run imports, and the call itself, leave the heavy ones out."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


_READ = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from devarch_adapters.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--home", sys.argv[1], "--runtime", "none", *sys.argv[2:]])
    heavy = ("cattrs", "yaml", "docker", "cryptography", "rich")
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
    print(json.dumps({"code": code, "loaded": loaded, "out": out.getvalue()}))
    """
)


def _read(home: Path, *argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _READ, str(home), *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_read_command_with_text_output_imports_no_cattrs(tmp_path: Path) -> None:
    """Rows are built without cattrs, and JSON data is made only for ``--json``."""
    assert _read(tmp_path, "stack", "create", "shop")["code"] == 0
    text = _read(tmp_path, "stack", "list")
    assert text["code"] == 0
    assert "shop" in str(text["out"])
    assert text["loaded"] == []
    as_json = _read(tmp_path, "--json", "stack", "list")
    assert json.loads(str(as_json["out"]))[0]["name"] == "shop"
    assert "cattrs" in as_json["loaded"]  # type: ignore[operator]

"""The pure core loads no driver: importing any part of ``devarch_core`` stays light.

See docs/architecture.md#layers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: Modules the core must never load at import time. ``cryptography`` is loaded lazily, on the
#: first secret that is sealed or opened, never by an import.
FORBIDDEN = ("docker", "psycopg", "sqlite3", "requests", "cryptography")

_PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys

    forbidden = set(sys.argv[1:])

    def loaded():
        return {name.split(".")[0] for name in sys.modules} & forbidden

    culprits = {}
    imported = []
    import devarch_core
    for name in sorted(loaded()):
        culprits.setdefault(name, "devarch_core")
    failures = []

    def walk(package):
        for info in pkgutil.walk_packages(
            package.__path__, package.__name__ + ".", onerror=failures.append
        ):
            before = loaded()
            importlib.import_module(info.name)
            imported.append(info.name)
            for name in sorted(loaded() - before):
                culprits.setdefault(name, info.name)

    walk(devarch_core)
    # The public fakes are covered even while devarch_core.testing is a namespace package,
    # which walk_packages does not descend into.
    if "devarch_core.testing" not in imported:
        testing = importlib.import_module("devarch_core.testing")
        imported.append(testing.__name__)
        walk(testing)
    print(json.dumps({"imported": imported, "culprits": culprits, "failures": failures}))
    """
)


def _probe() -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *FORBIDDEN],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_importing_every_core_module_loads_no_driver_or_crypto_library():
    """Importing devarch_core and every submodule loads no driver and no cryptography."""
    report = _probe()
    assert report["failures"] == []
    assert report["culprits"] == {}, (
        f"the core imported drivers (driver: first module): {report['culprits']}"
    )


def test_the_probe_walks_the_core_submodules():
    """The purity probe really imports the core's submodules, so an empty result means something."""
    imported = _probe()["imported"]
    assert isinstance(imported, list)
    expected = ("errors", "naming", "ports", "secrets", "testing")
    for module in expected:
        assert f"devarch_core.{module}" in imported

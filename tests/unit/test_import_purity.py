"""The pure core loads no driver: importing any part of ``devarch_core`` stays light.

See docs/architecture.md#layers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

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


#: What ``import devarch_core`` alone may not load: the drivers, and the heavier libraries the
#: core uses only once a name is looked up (PEP 562 lazy exports in ``devarch_core/__init__``).
NOT_AT_PACKAGE_IMPORT = (*FORBIDDEN, "cattrs", "yaml", "attrs", "devarch_core.app")

_PACKAGE_ONLY = textwrap.dedent(
    """
    import json, sys
    import devarch_core
    print(json.dumps(sorted(sys.modules)))
    """
)


def test_importing_the_package_alone_loads_no_heavy_module():
    """``import devarch_core`` loads neither drivers nor cattrs/yaml/attrs nor the facade."""
    result = subprocess.run(
        [sys.executable, "-c", _PACKAGE_ONLY],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    modules = set(json.loads(result.stdout))
    loaded = sorted(
        name
        for name in NOT_AT_PACKAGE_IMPORT
        if name in modules or any(m.startswith(name + ".") for m in modules)
    )
    assert loaded == []


def _fastest_seconds(code: str, runs: int) -> float:
    """The fastest of ``runs`` fresh runs: other jobs on a shared machine only ever add time."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code], check=True, timeout=60, stdout=subprocess.DEVNULL
        )
        timings.append(time.perf_counter() - start)
    return min(timings)


def test_import_time_budget():
    """``import devarch_core`` costs well under 150 ms over a bare interpreter (target: 50 ms).

    The budget is loose because the suite runs on a shared, loaded machine; the 50 ms target is
    measured by ``benchmarks/import_time.py``.
    """
    baseline = _fastest_seconds("pass", 5)
    package = _fastest_seconds("import devarch_core", 5)
    assert package - baseline < 0.150, f"import devarch_core took {package - baseline:.3f} s"


_CLI_HELP = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from devarch_adapters.cli import main
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(["--help"])
    print(json.dumps(sorted(sys.modules)))
    """
)


def test_cli_help_loads_no_driver_and_not_the_facade():
    """``devarch --help`` imports neither drivers nor yaml/cattrs/rich nor the core's facade."""
    result = subprocess.run(
        [sys.executable, "-c", _CLI_HELP], capture_output=True, text=True, check=True, timeout=60
    )
    modules = set(json.loads(result.stdout.strip().splitlines()[-1]))
    heavy = (*FORBIDDEN, "cattrs", "yaml", "rich", "devarch_core.app", "devarch_adapters.bootstrap")
    loaded = sorted(
        name for name in heavy if name in modules or any(m.startswith(name + ".") for m in modules)
    )
    assert loaded == []


def test_cli_help_time_budget():
    """``devarch --help`` costs well under 400 ms over a bare interpreter (target: 150 ms).

    Loose for the same reason as the import budget; ``benchmarks/import_time.py`` measures it.
    """
    baseline = _fastest_seconds("pass", 5)
    code = "from devarch_adapters.cli import main; main(['--help'])"
    help_time = _fastest_seconds(
        f"import contextlib\nwith contextlib.suppress(SystemExit): {code}", 5
    )
    assert help_time - baseline < 0.400, f"devarch --help took {help_time - baseline:.3f} s"

"""Developer sessions: ``nox -s tests|unit|lint|typecheck|docs|bench|demo``.

Every session installs the project in editable mode with its dev extra into a plain ``venv``
that nox reuses between runs (``nox -R`` skips even the install).
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests", "docs"]

PYTHON = "3.11"
#: What mypy checks strictly, beyond the packages configured in pyproject.toml.
TYPED_PATHS = ("src", "tests", "noxfile.py", "examples", "benchmarks")


def _install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite except benchmarks; extra arguments go to pytest."""
    _install(session)
    session.run(
        "python", "-m", "pytest", "-p", "no:cacheprovider", "-m", "not bench", *session.posargs
    )


@nox.session(python=PYTHON)
def unit(session: nox.Session) -> None:
    """Run the fast unit tests only (core and fakes, no engine)."""
    _install(session)
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "tests/unit", *session.posargs)


@nox.session(python=PYTHON)
def adversarial(session: nox.Session) -> None:
    """Run the hostile-input suite (malformed manifests, templates and compose files; ~1 min)."""
    _install(session)
    session.run(
        "python", "-m", "pytest", "-p", "no:cacheprovider", "tests/adversarial", *session.posargs
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check lint rules and formatting with ruff (no files are changed)."""
    _install(session)
    session.run("ruff", "check", *session.posargs)
    session.run("ruff", "format", "--check", *session.posargs)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """Type-check the sources, tests, examples, benchmarks and this file with mypy --strict."""
    _install(session)
    # mypy refuses a directory without Python files (examples/ may hold only YAML).
    paths = [p for p in TYPED_PATHS if Path(p).is_file() or any(Path(p).rglob("*.py"))]
    session.run("mypy", "--strict", *(session.posargs or paths))


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the HTML documentation; any Sphinx warning fails the build."""
    _install(session)
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks: core scale, the CLI vs docker-compose, the API vs docker-compose,
    and the cold-apply parallelism on Docker and Podman.

    Extra arguments go to benchmarks/run.py.
    """
    _install(session)
    session.run("python", "benchmarks/scale.py")
    session.run("python", "benchmarks/cli.py")
    session.run("python", "benchmarks/run.py", *session.posargs)
    session.run("python", "benchmarks/parallel.py", "--depends")


@nox.session(python=False)
def demo(session: nox.Session) -> None:
    """Run the example stack with scripts/demo.sh (it manages .venv itself)."""
    session.run("bash", "scripts/demo.sh", *session.posargs, external=True)

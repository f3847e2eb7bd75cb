"""Hostile inputs for the adversarial suite: seeds, mutations, bombs, and the checks they must pass.

Every generator yields :class:`Case` objects: a kind (``manifest``, ``template`` or ``compose``),
the input (text or bytes), a label saying how it was made, and optionally the path the error must
name. :func:`check_refused` is the one assertion every case goes through: the parse raises a
``DevarchError`` (never another exception) whose problems name where, within the time and
memory budget.

To add cases, add a seed file to ``SEEDS``, a value to ``HOSTILE_VALUES``, or a row to
``cases.yaml`` (hand-written inputs with the path their error must name).
"""

from __future__ import annotations

import contextlib
import copy
import re
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from devarch_core.catalog import parse_template_text
from devarch_core.compose_import import templates_from_compose
from devarch_core.errors import DevarchError, ValidationError
from devarch_core.manifest import Manifest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

#: Valid inputs the mutations start from (kind, path relative to the repository).
SEEDS: tuple[tuple[str, str], ...] = (
    ("manifest", "tests/data/manifests/good.yml"),
    ("manifest", "examples/shop/devarch.yml"),
    ("template", "examples/catalog/bb-db.yaml"),
    ("template", "examples/catalog/bb-web.yaml"),
    ("template", "src/devarch_core/builtin_templates/postgres.yaml"),
    ("compose", "tests/data/compose/shop.yml"),
)

#: Time and memory one parse may take, whatever the input.
MAX_SECONDS = 2.0
MAX_PEAK_BYTES = 200 * 1024 * 1024

#: Problems about a whole file, which name the file (and the byte) rather than a path.
WHOLE_FILE = re.compile(r"larger than \d+ MiB|not UTF-8 text at byte \d+|unpaired surrogate")

PARSERS: dict[str, Callable[[str | bytes], object]] = {
    "manifest": lambda text: Manifest.parse(text, "adversarial.yml"),
    "template": lambda text: parse_template_text(text, "adversarial.yaml"),
    "compose": lambda text: templates_from_compose(text, origin="adversarial-compose.yml"),
}


@dataclass(frozen=True)
class Case:
    """One input and what its refusal must name."""

    kind: str
    text: str | bytes
    label: str
    #: A substring the error's problem paths must contain (None: any non-empty location).
    path: str | None = None

    def __repr__(self) -> str:  # pytest ids and failure messages: short
        return f"Case({self.kind}, {self.label})"


@dataclass(frozen=True)
class Outcome:
    """What one parse did: the error (None when accepted), seconds and peak bytes."""

    error: BaseException | None
    seconds: float
    peak: int


def seed_data(_kind: str, path: str) -> Any:
    """The YAML data of a seed file (aliases expanded, as the mutations rewrite it)."""
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def run(case: Case) -> Outcome:
    """Parse ``case`` twice: timed, then under tracemalloc (which slows Python severalfold)."""
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        PARSERS[case.kind](case.text)
    except Exception as exc:  # noqa: BLE001 - the caller decides what was acceptable
        error = exc
    seconds = time.perf_counter() - start
    tracemalloc.start()
    with contextlib.suppress(Exception):  # the same outcome as above
        PARSERS[case.kind](case.text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Outcome(error, seconds, peak)


def check_refused(case: Case) -> ValidationError:
    """Assert ``case`` is refused with a DevarchError naming where, in time and memory.

    Parsers refuse input with a ``ValidationError`` (``ManifestError``, ``TemplateError``),
    whose problems carry the paths.
    """
    outcome = run(case)
    assert outcome.seconds < MAX_SECONDS, f"{case!r} took {outcome.seconds:.2f}s"
    assert outcome.peak < MAX_PEAK_BYTES, f"{case!r} peaked at {outcome.peak / 1e6:.0f} MB"
    error = outcome.error
    assert error is not None, f"{case!r} was accepted"
    assert isinstance(error, ValidationError), f"{case!r}: {type(error).__name__}: {error}"
    assert "Traceback" not in str(error)
    assert len(str(error)) < 20_000, f"{case!r}: a {len(str(error))}-character message"
    paths = [p.path for p in error.problems]
    whole_file = WHOLE_FILE.search(str(error))  # about the file, not a place in it
    assert any(paths) or whole_file, f"{case!r}: no problem names where: {error}"
    if case.path is not None:
        assert any(case.path in p for p in paths), f"{case!r}: {case.path} not in {paths}"
    return error


def check_handled(case: Case) -> BaseException | None:
    """Assert ``case`` is accepted or refused with a DevarchError, in time and memory.

    For mutations that may well be valid (a number where a string was, a dropped key).
    """
    outcome = run(case)
    assert outcome.seconds < MAX_SECONDS, f"{case!r} took {outcome.seconds:.2f}s"
    assert outcome.peak < MAX_PEAK_BYTES, f"{case!r} peaked at {outcome.peak / 1e6:.0f} MB"
    error = outcome.error
    if error is not None:
        assert isinstance(error, DevarchError), f"{case!r}: {type(error).__name__}: {error}"
        assert len(str(error)) < 20_000, f"{case!r}: a {len(str(error))}-character message"
    return error


# -- mutations of valid data ---------------------------------------------------------------------

#: Values put at every path of a seed. Most are wrong somewhere; some are valid somewhere.
HOSTILE_VALUES: tuple[object, ...] = (
    None,
    True,
    0,
    -1,
    65536,
    10**30,
    1.5,
    float("inf"),
    float("nan"),
    "",
    "1e30",
    "nan",
    " ",
    "\x1b[31mred",
    "${secret:}",
    "a" * 5000,
    [],
    [None],
    [[1, 2]],
    [{"a": 1}],
    {},
    {"unknown": 1},
    {"a": [1, {"b": None}]},
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into ``data`` (keys and list indexes), parents first."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield (*prefix, i)
            yield from paths(value, (*prefix, i))


def replaced(data: Any, path: tuple[Any, ...], value: object) -> Any:
    """A deep copy of ``data`` with the value at ``path`` replaced."""
    out = copy.deepcopy(data)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = copy.deepcopy(value)
    return out


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1_000_000)


def spell(path: tuple[Any, ...]) -> str:
    """``('instances', 'db', 'overrides', 'ports', 0)`` -> ``instances.db.overrides.ports[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def mutations(kind: str, seed: str) -> Iterator[Case]:
    """Every path of the seed with every hostile value (the whole cross product)."""
    data = seed_data(kind, seed)
    for path in paths(data):
        for value in HOSTILE_VALUES:
            label = f"{Path(seed).name}:{spell(path)}={value!r:.20}"
            yield Case(kind, dump(replaced(data, path, value)), label)


# -- structural attacks --------------------------------------------------------------------------

#: A ~450-byte alias bomb as one flow list: nine anchors, each a list of ten aliases of the one
#: before, then the last alias (10**9 strings when expanded).
BOMB = (
    "[&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol], "
    + ", ".join(f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9))
    + ", *a8]"
)
MARK = "HOSTILE-VALUE-HERE"


def with_text_at(kind: str, seed: str, path: tuple[Any, ...], text: str) -> str:
    """The seed dumped with the YAML ``text`` (flow style, one line) as the value at ``path``."""
    dumped = dump(replaced(seed_data(kind, seed), path, MARK))
    return dumped.replace(MARK, text, 1)


def deep(depth: int) -> str:
    """A flow list nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


#: Mapping keys that are not strings (YAML 1.1 reads ``on`` as a boolean, ``~`` as null).
ODD_KEYS: tuple[str, ...] = ("1", "on", "~", "1.5", "2020-01-01", "[a, b]", "{a: 1}")


def with_key(kind: str, seed: str, path: tuple[Any, ...], key: str) -> str | None:
    """The seed with an extra ``key: x`` in the mapping at ``path`` (None if it is no mapping)."""
    data = seed_data(kind, seed)
    target = data
    for part in path:
        target = target[part]
    if not isinstance(target, dict):
        return None
    target[MARK] = "x"
    return dump(data).replace(f"{MARK}: x", f"{key}: x", 1)

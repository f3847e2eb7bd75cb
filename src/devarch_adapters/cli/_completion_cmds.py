"""Shell completion: ``devarch completion bash|zsh`` prints the script (docs/editors.md).

The scripts are small: on TAB they run ``devarch __complete -- WORDS...`` (the words typed after
``devarch``, the last one being completed) and offer what it prints, one candidate per line.
The candidates come from the argument parser itself (commands, options, choices) and, for
stacks, instances, engines and templates, from the store and the catalog: never from an engine, and
without creating a store that does not exist yet. ``::files`` asks the shell for file names.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from devarch_adapters.cli._main import _Context

__all__ = ["add_completion_commands", "candidates"]

FILES = "::files"
HIDDEN = "__complete"

#: What a positional argument names, by its ``dest`` (``name`` depends on the command group).
_KIND_BY_DEST = {
    "stack": "stacks",
    "source": "stacks",
    "template": "templates",
    "instance": "instances",
    "instances": "instances",  # start/stop/restart STACK [INSTANCE...]
    "consumer": "instances",
    "provider": "instances",
    "manifest": FILES,
    "file": FILES,
    "paths": FILES,
}
_NAME_BY_GROUP = {
    "stack": "stacks",
    "instance": "instances",
    "catalog": "templates",
    "engine": "engines",
}
#: Options whose value names something of the store, by ``dest`` (``--engine``, ``--to``).
_KIND_BY_OPTION = {"engine": "engines", "target": "engines"}
#: Global options whose values say where the store and the catalog are.
_WHERE = {"--home": "home", "--store": "store", "--catalog": "catalog"}

BASH = r"""# devarch completion for bash. Load it with:  eval "$(devarch completion bash)"
_devarch_complete() {
    local IFS=$'\n' out
    out=$("${COMP_WORDS[0]}" __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
    if [[ "$out" == "::files" ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
    else
        COMPREPLY=($out)
    fi
}
complete -F _devarch_complete devarch
"""

ZSH = r"""#compdef devarch
# devarch completion for zsh. Load it with:  eval "$(devarch completion zsh)"  (after compinit),
# or save it as _devarch in a directory of your $fpath.
_devarch() {
    local out
    out=$(${words[1]} __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    if [[ "$out" == "::files" ]]; then
        _files
        return
    fi
    local -a candidates
    candidates=("${(@f)out}")
    (( ${#candidates} )) && compadd -- "${candidates[@]}"
}
if [[ "${zsh_eval_context[-1]}" == loadautofunc ]]; then
    _devarch "$@"
else
    compdef _devarch devarch
fi
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its tree here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return {k: v for k, v in action.choices.items() if k != HIDDEN}
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}  # noqa: SLF001


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions  # noqa: SLF001
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)  # noqa: SLF001
    ]


class _Position:
    """Where the words typed so far leave the command line.

    (A plain class: ``dataclasses`` would add tens of milliseconds to every ``devarch`` start.)
    """

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser
        self.group = ""  # the first command (``instance``)
        self.leaf = ""  # the last command word (``show``)
        self.position = 0  # the index of the next positional argument
        self.pending: argparse.Action | None = None  # an option waiting for its value
        self.given: dict[str, str] = {}  # positionals by dest
        self.where: dict[str, Any] = {}  # --home, --store, --catalog


def _option(at: _Position, word: str) -> None:
    option, _, value = word.partition("=")
    action = _options(at.parser).get(option)
    if action is None or action.nargs == 0:
        return
    if not value:
        at.pending = action
    elif option in _WHERE:
        _where(at, option, value)


def _where(at: _Position, option: str, value: str) -> None:
    key = _WHERE[option]
    at.where[key] = [*at.where.get(key, []), value] if key == "catalog" else value


def _walk(words: Sequence[str], root: argparse.ArgumentParser) -> _Position:
    at = _Position(parser=root)
    for word in words:
        if at.pending is not None and word == "=":
            continue  # bash splits ``--home=DIR`` into ``--home``, ``=``, ``DIR``
        if at.pending is not None:
            if at.pending.option_strings[-1] in _WHERE:
                _where(at, at.pending.option_strings[-1], word)
            at.pending = None
        elif word.startswith("-") and word != "-":
            _option(at, word)
        elif word in (sub := _subcommands(at.parser)):
            at.group = word if at.parser is root else at.group
            at.leaf, at.parser, at.position = word, sub[word], 0
        elif at.position < len(positionals := _positionals(at.parser)):
            at.given[positionals[at.position].dest] = word
            if positionals[at.position].nargs not in ("*", "+"):
                at.position += 1
    return at


def candidates(words: Sequence[str], root: argparse.ArgumentParser) -> list[str]:
    """What may come at the last of ``words`` (the words after ``devarch``)."""
    *done, current = list(words) or [""]
    at = _walk(done, root)
    if at.pending is not None:
        return _option_value(at, at.pending, current)
    if current.startswith("-"):
        return _filter(sorted(_options(at.parser)), current)
    if sub := _subcommands(at.parser):
        return _filter(sorted(sub), current)
    positionals = _positionals(at.parser)
    if at.position >= len(positionals):
        return []
    action = positionals[at.position]
    kind = _KIND_BY_DEST.get(action.dest)
    if action.dest == "name":
        # ``stack create NAME``, ``instance add STACK NAME``, ``engine add NAME``: a new name.
        kind = None if at.leaf in ("create", "add") else _NAME_BY_GROUP.get(at.group)
    if action.choices:
        found = [str(c) for c in action.choices]
    elif kind in (None, FILES):
        return [] if kind is None else [FILES]
    else:
        found = _names(kind, at.given.get("stack") or at.given.get("source"), at.where)
    return _filter(found, current)


def _option_value(at: _Position, option: argparse.Action, current: str) -> list[str]:
    """An option's value: its choices, a name from the store (``--engine``), else a file name."""
    if option.choices:
        return _filter([str(c) for c in option.choices], current)
    named = _KIND_BY_OPTION.get(option.dest)
    return _filter(_names(named, None, at.where), current) if named else [FILES]


def _filter(names: list[str], prefix: str) -> list[str]:
    return [name for name in names if name.startswith(prefix)]


def store_url(where: dict[str, Any]) -> str:
    """The store URL of ``--home``/``--store`` and the environment, as ``Settings.from_env``.

    Computed here rather than by importing the composition root, which loads all of devarch: a
    TAB should cost little more than starting Python (the tests check both agree).
    """
    home = Path(
        where.get("home") or os.environ.get("DEVARCH_HOME") or Path.home() / ".devarch"
    ).expanduser()
    default = f"sqlite:///{home.absolute() / 'devarch.db'}"
    return str(where.get("store") or os.environ.get("DEVARCH_STORE") or default)


def _sqlite_path(url: str) -> Path | None:
    if url.startswith("sqlite:///"):
        return Path("/" + url.removeprefix("sqlite:///").lstrip("/"))
    return None if "://" in url else Path(url)


def _names(kind: str, stack: str | None, where: dict[str, Any]) -> list[str]:
    """Stack, instance, engine or template names from the store and the catalog; [] if unknown."""
    if kind == "templates":
        catalog = where.get("catalog")
        if catalog is None:
            catalog = [p for p in os.environ.get("DEVARCH_CATALOG_PATH", "").split(":") if p]
        return _template_names([Path(p) for p in catalog])
    url = store_url(where)
    path = _sqlite_path(url)
    if path is not None:
        return sqlite_names(path, kind, stack)
    from devarch_adapters.bootstrap import open_store  # noqa: PLC0415 - PostgreSQL: the driver

    store, _lock = open_store(url)
    try:
        with store.transaction() as session:
            if kind == "stacks":
                return [s.name for s in session.list_stacks()]
            if kind == "engines":
                return [e.name for e in session.list_engines()]
            found = session.get_stack(stack) if stack else None
            return [] if found is None else [i.name for i in session.list_instances(found.id)]
    finally:
        store.close()


def sqlite_names(path: Path, kind: str, stack: str | None) -> list[str]:
    """Stack, instance or engine names read from a SQLite store file, read-only.

    Never creates or migrates the store (a store is created on first use, not by pressing TAB),
    and gives up at once when the file is missing or locked.
    """
    import sqlite3  # noqa: PLC0415

    if not path.is_file():
        return []
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=0.2)
    except sqlite3.Error:
        return []
    try:
        if kind == "stacks":
            rows = conn.execute("SELECT name FROM stacks ORDER BY name").fetchall()
        elif kind == "engines":  # a store from before engines has no table: no names
            rows = conn.execute("SELECT name FROM engines ORDER BY name").fetchall()
        elif stack:
            rows = conn.execute(
                "SELECT i.name FROM instances i JOIN stacks s ON s.id = i.stack_id "
                "WHERE s.name = ? ORDER BY i.name",
                (stack,),
            ).fetchall()
        else:
            rows = []
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    return [str(row[0]) for row in rows]


def _template_names(paths: Sequence[Path]) -> list[str]:
    from devarch_core.catalog import builtin_catalog  # noqa: PLC0415

    names = set(builtin_catalog().names())
    from devarch_adapters.filesystem.catalog_dirs import load_catalog_dirs  # noqa: PLC0415
    from devarch_core.errors import DevarchError  # noqa: PLC0415

    for path in paths:
        try:
            names.update(load_catalog_dirs([path]).names())
        except DevarchError:
            continue  # a broken directory: `devarch catalog validate` says why
    return sorted(names)


def _complete(ctx: _Context, a: argparse.Namespace) -> int:
    from devarch_adapters.cli._main import build_parser  # noqa: PLC0415 - the one parser

    try:
        words = a.words[1:] if a.words[:1] == ["--"] else a.words
        found = candidates(words, build_parser())
    except Exception:  # noqa: BLE001 - a TAB must never print a traceback
        found = []
    if found:
        ctx.stdout.write("\n".join(found) + "\n")
    return 0


def _completion(ctx: _Context, a: argparse.Namespace) -> int:
    ctx.stdout.write(BASH if a.shell == "bash" else ZSH)
    return 0


def add_completion_commands(sub: Any, leaf: Any) -> None:  # noqa: ANN401 - argparse internals
    """Register ``devarch completion`` and the hidden ``devarch __complete``."""
    p = leaf(sub, "completion", _completion, "print the bash or zsh completion script")
    p.add_argument("shell", choices=("bash", "zsh"), metavar="SHELL", help="bash or zsh")
    hidden = sub.add_parser(HIDDEN, add_help=False)  # no help text: not listed
    hidden.add_argument("words", nargs=argparse.REMAINDER)
    hidden.set_defaults(handler=_complete, needs_runtime=False, json=False)

"""The bounded, duplicate-refusing YAML loader behind :func:`devarch_core.catalog.load_yaml`.

A module of its own so that importing the catalog (every command does) does not import PyYAML:
only a command that reads YAML pays for it. See docs/manifest.md for the limits.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from devarch_core._parsing import short_repr, type_name
from devarch_core.errors import Problem
from devarch_core.limits import MAX_ALIAS_NODES, MAX_DEPTH, MAX_KEY, MAX_SCALAR, human_size

_CParser: Any
try:  # libyaml's parser when PyYAML was built with it
    _CParser = importlib.import_module("yaml._yaml").CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None


def _yaml_problem(exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow: no line
        return Problem(f"character {exc.position}", f"not valid YAML: {str(exc).splitlines()[0]}")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    reason = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}, {reason}" if context else str(reason)
    if mark is not None:
        return Problem(f"line {mark.line + 1}, column {mark.column + 1}", f"not valid YAML: {text}")
    return Problem("", f"not valid YAML: {text}")


def _refuse(message: str, mark: Any) -> NoReturn:  # noqa: ANN401 - PyYAML's or libyaml's Mark
    raise yaml.composer.ComposerError(None, None, message, mark)


class _Bounded(yaml.composer.Composer):
    """A composer that bounds what a document can cost before anything is constructed.

    It refuses nesting deeper than ``MAX_DEPTH``, a scalar longer than ``MAX_SCALAR``, an alias
    to a collection that contains it, and aliases that expand to more than ``MAX_ALIAS_NODES``
    nodes in all (an alias bomb is a few hundred bytes that expand to millions of nodes). Sizes
    are counted on the node graph, where an alias is one shared node, so counting is linear in
    the text. Limits: docs/manifest.md ("Limits").
    """

    if TYPE_CHECKING:  # provided by the parser it is mixed with

        def peek_event(self) -> yaml.Event: ...

    def _reset_budget(self) -> None:
        self._depth = 0
        self._aliased = 0
        #: id(node) -> the node's size expanded (every node stays alive until the document ends).
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                message = f"alias *{event.anchor} refers to a collection that contains it"
                _refuse(message, event.start_mark)
            self._aliased += size
            if self._aliased > MAX_ALIAS_NODES:
                _refuse(
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} values in all "
                    f"(at *{event.anchor}); write the values out or share less",
                    event.start_mark,
                )
            return node
        nested = isinstance(event, yaml.CollectionStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                _refuse(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1
        if node is not None:
            self._sizes[id(node)] = self._size(node, event.start_mark)
        return node

    def _size(self, node: yaml.Node, mark: Any) -> int:  # noqa: ANN401 - a Mark
        sizes = self._sizes
        if isinstance(node, yaml.SequenceNode):
            return 1 + sum(sizes[id(item)] for item in node.value)
        if isinstance(node, yaml.MappingNode):
            return 1 + sum(sizes[id(key)] + sizes[id(value)] for key, value in node.value)
        if len(node.value) > MAX_SCALAR:
            _refuse(f"a value longer than {human_size(MAX_SCALAR)} characters", mark)
        return 1

    def compose_document(self) -> yaml.Node | None:
        self._reset_budget()
        try:
            return super().compose_document()
        finally:
            self._sizes = {}


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """Refuse a key given twice (PyYAML silently keeps the last) and a key that is not a string.

    Every mapping devarch reads is keyed by names, so ``1: x``, ``on: x`` (a boolean in YAML 1.1)
    and ``? [a, b]`` are mistakes; they are refused at their line instead of failing later.
    """
    loader.flatten_mapping(node)
    seen: set[str] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
            raise yaml.constructor.ConstructorError(
                None, None, f"keys must be strings, found {kind} as a key", key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"keys must be strings, found {type_name(key)} {short_repr(key)}; "
                f"quote it ('{key_node.value}') to use it as a name",
                key_node.start_mark,
            )
        if len(key) > MAX_KEY:
            raise yaml.constructor.ConstructorError(
                None, None, f"a key longer than {MAX_KEY} characters", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {short_repr(key)}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


if _CParser is not None:

    class _UniqueKeyLoader(
        _Bounded,
        _CParser,  # type: ignore[misc]  # libyaml's parser is untyped
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        """libyaml scans and parses (several times faster); composing stays in Python, bounded."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Bounded.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self._reset_budget()

else:  # pragma: no cover - PyYAML built without libyaml

    class _UniqueKeyLoader(_Bounded, yaml.SafeLoader):  # type: ignore[no-redef]
        """Pure-Python PyYAML, composing bounded."""

        def __init__(self, stream: str) -> None:
            yaml.SafeLoader.__init__(self, stream)
            self._reset_budget()


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

#: Digits of an integer in YAML; longer ones are refused (Python refuses over 4,300 anyway).
_MAX_INT_DIGITS = 40


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    if len(node.value) > _MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"a number with more than {_MAX_INT_DIGITS} digits", node.start_mark
        )
    return loader.construct_yaml_int(node)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)

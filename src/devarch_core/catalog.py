"""The template catalog: templates by name and version, the builtin catalog, template files.

A :class:`Catalog` is an immutable value. Catalogs combine with :meth:`Catalog.merged`, later ones
winning on the same ``name@version``, so a user directory can override a builtin template::

    catalog = builtin_catalog().merged(user_catalog)
    postgres = catalog.get("postgres")            # the highest version
    pinned = catalog.get("postgres", "16.4")

Reading directories is an adapter's job (``devarch_adapters.filesystem.load_catalog_dirs``); the
builtin templates are package data, read through :mod:`importlib.resources`.
"""

from __future__ import annotations

import difflib
import functools
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

import attrs
import yaml
from attrs import frozen

from devarch_core.errors import ConflictError, NotFoundError, Problem, TemplateError
from devarch_core.template import Template

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

__all__ = [
    "BUILTIN_DIR",
    "BUILTIN_PACKAGE",
    "Catalog",
    "builtin_catalog",
    "load_yaml",
    "parse_template_text",
    "version_key",
]

#: The package directory whose ``*.yaml`` files make up the builtin catalog.
BUILTIN_PACKAGE = "devarch_core"
BUILTIN_DIR = "builtin_templates"

_CHUNK = re.compile(r"(\d+)")


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Return a natural sort key: digit runs compare as numbers, so ``"16.4" > "9.1"``."""
    key: list[tuple[int, int, str]] = []
    for i, chunk in enumerate(_CHUNK.split(version)):
        if not chunk:
            continue
        # Odd chunks are the digit runs captured by the split.
        key.append((1, int(chunk), "") if i % 2 else (0, 0, chunk))
    return tuple(key)


def _index(templates: Iterable[Template]) -> dict[str, dict[str, Template]]:
    index: dict[str, dict[str, Template]] = {}
    for template in templates:
        index.setdefault(template.name, {})[template.version] = template
    return index


@frozen(kw_only=True)
class Catalog:
    """An immutable set of templates, at most one per ``name@version``.

    Build one with :meth:`from_templates` or :meth:`empty`; combine with :meth:`merged`.
    """

    #: name -> version -> template.
    _templates: Mapping[str, Mapping[str, Template]] = attrs.field(
        factory=dict, alias="templates", repr=False
    )

    @classmethod
    def empty(cls) -> Catalog:
        """Return a catalog with no templates."""
        return cls(templates={})

    @classmethod
    def from_templates(cls, templates: Iterable[Template]) -> Catalog:
        """Return a catalog of ``templates``.

        Two templates with the same ``name@version`` and the same content are one entry; with
        different content they are a ``ConflictError`` naming both origins (use :meth:`merged`
        when one source should override another).
        """
        seen: dict[tuple[str, str], Template] = {}
        for template in templates:
            key = (template.name, template.version)
            other = seen.get(key)
            if other is not None and other.content_hash != template.content_hash:
                raise ConflictError(
                    f"template {template.ref} is defined twice with different content: "
                    f"{other.origin or '?'} and {template.origin or '?'}"
                )
            seen.setdefault(key, template)
        return cls(templates=_index(seen.values()))

    def merged(self, other: Catalog) -> Catalog:
        """Return both catalogs together; ``other`` wins on the same ``name@version``."""
        return Catalog(templates=_index([*self, *other]))

    def get(self, name: str, version: str | None = None) -> Template:
        """Return template ``name`` at ``version``, or at its highest version when it is None.

        Raises ``NotFoundError`` suggesting close names, or listing the available versions.
        """
        versions = self._templates.get(name)
        if not versions:
            close = difflib.get_close_matches(name, list(self._templates), n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}?" if close else ""
            if not close and self._templates:
                hint = f"available: {', '.join(sorted(self._templates))}"
            raise NotFoundError("template", name, hint=hint)
        if version is None:
            return versions[max(versions, key=version_key)]
        template = versions.get(version)
        if template is None:
            available = ", ".join(sorted(versions, key=version_key))
            raise NotFoundError(
                "template", f"{name}@{version}", hint=f"available versions: {available}"
            )
        return template

    def versions(self, name: str) -> list[str]:
        """Return the versions of ``name``, lowest first (empty when there is no such template)."""
        return sorted(self._templates.get(name, {}), key=version_key)

    def names(self) -> list[str]:
        """Return every template name, sorted."""
        return sorted(self._templates)

    def list(self) -> list[Template]:
        """Return every template, sorted by name then version (natural order)."""
        return [
            self._templates[name][version]
            for name in self.names()
            for version in self.versions(name)
        ]

    def __iter__(self) -> Iterator[Template]:
        return iter(self.list())

    def __len__(self) -> int:
        return sum(len(v) for v in self._templates.values())

    def __contains__(self, item: object) -> bool:
        """``"postgres" in catalog`` or ``("postgres", "16.4") in catalog``."""
        if isinstance(item, str):
            return item in self._templates
        if isinstance(item, tuple) and len(item) == 2:  # noqa: PLR2004 - (name, version)
            return item[1] in self._templates.get(item[0], {})
        return False


def _yaml_problem(exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    reason = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    text = f"{context}, {reason}" if context else str(reason)
    if mark is not None:
        return Problem(f"line {mark.line + 1}, column {mark.column + 1}", f"not valid YAML: {text}")
    return Problem("", f"not valid YAML: {text}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping key given twice (PyYAML silently keeps the last)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, origin: str, *, what: str = "template file") -> object:
    """Parse YAML text safely; raise ``TemplateError`` naming ``origin`` and the line if invalid.

    Duplicate mapping keys are refused rather than silently collapsed.
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError([_yaml_problem(exc)], what=f"invalid {what} {origin}") from None


def parse_template_text(text: str, origin: str) -> Template:
    """Parse one template file's YAML text; every error names ``origin`` (and the line)."""
    data = load_yaml(text, origin)
    if data is None:
        raise TemplateError(
            [Problem("", "the file is empty")], what=f"invalid template file {origin}"
        )
    return Template.from_data(data, origin=origin)


@functools.cache
def builtin_catalog() -> Catalog:
    """Return the catalog shipped in the package (``devarch_core/builtin_templates/*.yaml``)."""
    root = resources.files(BUILTIN_PACKAGE) / BUILTIN_DIR
    return Catalog.from_templates(
        parse_template_text(entry.read_text(encoding="utf-8"), f"builtin:{entry.name}")
        for entry in sorted(root.iterdir(), key=lambda e: e.name)
        if entry.name.endswith((".yaml", ".yml")) and entry.is_file()
    )

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

import functools
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import attrs
from attrs import frozen

from devarch_core._digest import sha256
from devarch_core.errors import (
    ConflictError,
    ManifestError,
    NotFoundError,
    Problem,
    TemplateError,
    ValidationError,
)
from devarch_core.limits import (
    MAX_FILE_BYTES,
    human_size,
)
from devarch_core.template import Template

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "BUILTIN_DIR",
    "BUILTIN_PACKAGE",
    "Catalog",
    "builtin_catalog",
    "decode_text",
    "load_builtin_catalog",
    "load_yaml",
    "parse_template_text",
    "version_key",
    "yaml_lines",
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


class _Deferred(Mapping[str, Mapping[str, Template]]):
    """A catalog's index, built by ``load`` on first use (once, also across threads)."""

    def __init__(self, load: Callable[[], Catalog]) -> None:
        self._load: Callable[[], Catalog] | None = load
        self._index: Mapping[str, Mapping[str, Template]] | None = None
        self._lock = threading.Lock()

    def _loaded(self) -> Mapping[str, Mapping[str, Template]]:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    assert self._load is not None  # noqa: S101 - set until the index is built
                    self._index = self._load()._templates  # noqa: SLF001 - the catalog's own index
                    self._load = None
        return self._index

    def __getitem__(self, name: str) -> Mapping[str, Template]:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


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
    def deferred(cls, load: Callable[[], Catalog]) -> Catalog:
        """Return a catalog that calls ``load`` on first use and is then its result.

        For start-up: a command that never looks at a template (``status``, ``down``) does not
        read or parse one. ``load``'s errors are raised at that first use.
        """
        return cls(templates=_Deferred(load))

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
            import difflib  # noqa: PLC0415 - only for a name not found

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


def _error_class(what: str) -> type[ValidationError]:
    if what in {"manifest", "lockfile"}:
        return ManifestError
    if what in {"template file", "compose file", "override file"}:
        return TemplateError
    return ValidationError


def decode_text(
    data: bytes, origin: str, *, what: str = "template file", limit: int = MAX_FILE_BYTES
) -> str:
    """The UTF-8 text of a file's bytes, refusing a file over ``limit`` bytes or not UTF-8.

    Raises ``ManifestError`` (for a manifest or lockfile) or ``TemplateError`` naming ``origin``
    and the first byte that is not UTF-8. A leading byte-order mark is dropped.
    """
    error = _error_class(what)
    if len(data) > limit:
        problem = Problem("", f"the file is larger than {human_size(limit)}")
        raise error([problem], what=f"invalid {what} {origin}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = Problem("", f"not UTF-8 text at byte {exc.start}")
        raise error([problem], what=f"invalid {what} {origin}") from None


def load_yaml(text: str | bytes, origin: str, *, what: str = "template file") -> object:
    """Parse YAML text safely; raise ``TemplateError`` naming ``origin`` and the line if invalid.

    ``text`` may be the file's bytes (see :func:`decode_text`). Duplicate mapping keys and keys
    that are not strings are refused rather than silently collapsed; so are documents beyond the
    limits of docs/manifest.md (size, nesting, alias expansion), before they cost time or memory.
    """
    if isinstance(text, bytes):
        text = decode_text(text, origin, what=what)
    invalid = f"invalid {what} {origin}"
    too_large = Problem("", f"larger than {human_size(MAX_FILE_BYTES)}")
    # Characters first: a str over the limit in characters is over it in bytes too.
    if len(text) > MAX_FILE_BYTES:
        raise TemplateError([too_large], what=invalid)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        problem = Problem("", f"not text: an unpaired surrogate at character {exc.start}")
        raise TemplateError([problem], what=invalid) from None
    if size > MAX_FILE_BYTES:
        raise TemplateError([too_large], what=invalid)
    import yaml  # noqa: PLC0415 - PyYAML is imported by the commands that read YAML

    from devarch_core._yamlload import _UniqueKeyLoader, _yaml_problem  # noqa: PLC0415

    try:
        loader = _UniqueKeyLoader(text)  # what yaml.load does, with our safe loader
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:  # the pure-Python reader checks characters on creation
        raise TemplateError([_yaml_problem(exc)], what=invalid) from None


def yaml_lines(text: str) -> dict[str, int]:
    """The line (1-based) of every value of a YAML document, by problem path.

    Paths are spelled as the parsers spell problem paths: ``service.ports[0].host``; a mapping
    entry's line is its key's. Composed with the bounded loader of :func:`load_yaml` (nothing is
    constructed, aliases are walked once), so call it on text that :func:`load_yaml` accepted;
    on text it refuses the result is empty.
    """
    import yaml  # noqa: PLC0415 - see load_yaml

    from devarch_core._yamlload import _UniqueKeyLoader  # noqa: PLC0415

    lines: dict[str, int] = {}
    try:
        loader = _UniqueKeyLoader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError:
        return lines
    seen: set[int] = set()

    def walk(node: yaml.Node, path: str) -> None:
        if id(node) in seen:  # an alias: its values have the lines of their anchor's
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    where = f"{path}.{key.value}" if path else str(key.value)
                    lines.setdefault(where, key.start_mark.line + 1)
                    walk(value, where)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault(f"{path}[{i}]", item.start_mark.line + 1)
                walk(item, f"{path}[{i}]")

    if root is not None:
        lines[""] = root.start_mark.line + 1
        walk(root, "")
    return lines


def parse_template_text(
    text: str | bytes, origin: str, *, parsed: MutableMapping[str, Any] | None = None
) -> Template:
    """Parse one template file's YAML text (or bytes); errors name ``origin`` (and the line).

    ``parsed`` is a cache of parsed YAML documents by the SHA-256 of their text (an adapter keeps
    one on disk, so the CLI does not import PyYAML and parse every template on each run): a
    document found there is not parsed again, and a new one is added when it is plain JSON data
    (strings, numbers, booleans, null, lists, string-keyed mappings), so it reads back the same.
    The template is validated from the data either way.
    """
    key = None
    if parsed is not None:
        try:
            raw = text if isinstance(text, bytes) else text.encode("utf-8")
        except UnicodeEncodeError:  # load_yaml says what is wrong with it
            raw = None
        key = None if raw is None else sha256(raw).hexdigest()
    cached = None if parsed is None or key is None else parsed.get(key)
    if cached is not None:
        data = cached
    else:
        data = load_yaml(text, origin)
        if parsed is not None and key is not None and data is not None and _plain(data):
            parsed[key] = data
    if data is None:
        raise TemplateError(
            [Problem("", "the file is empty")], what=f"invalid template file {origin}"
        )
    return Template.from_data(data, origin=origin)


def _plain(data: object) -> bool:
    """Whether ``data`` is JSON data that reads back equal (no dates, bytes, sets or pairs)."""
    if data is None or isinstance(data, str | bool | int):
        return True
    if isinstance(data, float):
        return math.isfinite(data)
    if isinstance(data, list):
        return all(_plain(item) for item in data)
    if isinstance(data, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in data.items())
    return False


@functools.cache
def builtin_catalog() -> Catalog:
    """Return the catalog shipped in the package (``devarch_core/builtin_templates/*.yaml``)."""
    return load_builtin_catalog()


def load_builtin_catalog(*, parsed: MutableMapping[str, Any] | None = None) -> Catalog:
    """The builtin catalog, read now (``parsed``: see :func:`parse_template_text`)."""
    return Catalog.from_templates(
        parse_template_text(entry.read_text(encoding="utf-8"), f"builtin:{name}", parsed=parsed)
        for name, entry in _builtin_files()
    )


def _builtin_files() -> list[tuple[str, Any]]:
    """The builtin template files as (name, traversable), sorted by name.

    Package data: from the package's directory when it is one (the usual install), else through
    :mod:`importlib.resources` (a zip), whose import (zipfile, tempfile...) costs a CLI run more
    than reading the files.
    """
    import sys  # noqa: PLC0415

    package = sys.modules.get(BUILTIN_PACKAGE)
    locations = list(getattr(getattr(package, "__spec__", None), "submodule_search_locations", []))
    if len(locations) == 1:
        from pathlib import Path  # noqa: PLC0415

        directory = Path(locations[0]) / BUILTIN_DIR
        if directory.is_dir():
            return sorted(
                (
                    (p.name, p)
                    for p in directory.iterdir()
                    if p.name.endswith((".yaml", ".yml")) and p.is_file()
                ),
                key=lambda item: item[0],
            )
    from importlib import resources  # noqa: PLC0415

    root = resources.files(BUILTIN_PACKAGE) / BUILTIN_DIR
    return sorted(
        (
            (entry.name, entry)
            for entry in root.iterdir()
            if entry.name.endswith((".yaml", ".yml")) and entry.is_file()
        ),
        key=lambda item: item[0],
    )

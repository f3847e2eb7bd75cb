"""Check a user's template files: every problem with its file, line and path (docs/templates.md).

:func:`check_template_text` checks one file as the catalog would read it (YAML, keys, types,
names, images, ports, environment names, secrets, exports and imports) and says where each
problem is; :func:`check_templates` adds what needs every file at once: a ``name@version``
defined twice with different content, an import whose contract type no template exports, an
export whose port the service does not list. Reading the files is the caller's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from attrs import frozen

from devarch_core.catalog import load_yaml, yaml_lines
from devarch_core.errors import ValidationError
from devarch_core.template import Template

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from devarch_core.catalog import Catalog

__all__ = ["CheckedFile", "Finding", "check_template_text", "check_templates", "line_of"]

_LINE = re.compile(r"^line (\d+)(?:, column \d+)?$")
_PARENT = re.compile(r"(?:\.[^.\[]*|\[\d+\])$")


@frozen(kw_only=True)
class Finding:
    """One problem (or warning) in a template file."""

    file: str
    line: int | None
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        kind = "warning: " if self.severity == "warning" else ""
        return f"{where}: {kind}{self.path + ': ' if self.path else ''}{self.message}"

    def to_data(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
        }


@frozen(kw_only=True)
class CheckedFile:
    """A file that was checked: its template when valid, its findings, its lines by path."""

    file: str
    template: Template | None
    findings: tuple[Finding, ...]
    lines: Mapping[str, int]


def line_of(path: str, lines: Mapping[str, int]) -> int | None:
    """The line of ``path`` or of its nearest parent that has one (a missing key: its mapping)."""
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        parent = _PARENT.sub("", path)
        path = "" if parent == path else parent


def check_template_text(text: str, origin: str) -> CheckedFile:
    """Check one template file's text; never raises for bad input."""
    try:
        data = load_yaml(text, origin)
    except ValidationError as exc:
        findings = []
        for problem in exc.problems:
            match = _LINE.match(problem.path)
            line = int(match.group(1)) if match else None
            path = "" if match else problem.path
            findings.append(Finding(file=origin, line=line, path=path, message=problem.message))
        return CheckedFile(file=origin, template=None, findings=tuple(findings), lines={})
    lines = yaml_lines(text)
    if data is None:
        empty = Finding(file=origin, line=None, path="", message="the file is empty")
        return CheckedFile(file=origin, template=None, findings=(empty,), lines=lines)
    try:
        template = Template.from_data(data, origin=origin)
    except ValidationError as exc:
        refused = tuple(
            Finding(file=origin, line=line_of(p.path, lines), path=p.path, message=p.message)
            for p in exc.problems
        )
        return CheckedFile(file=origin, template=None, findings=refused, lines=lines)
    return CheckedFile(file=origin, template=template, findings=(), lines=lines)


def check_templates(files: Sequence[CheckedFile], base: Catalog) -> list[Finding]:
    """Findings across ``files`` (with the ``base`` catalog, usually the builtin one)."""
    valid = [f for f in files if f.template is not None]
    findings: list[Finding] = []
    first: dict[tuple[str, str], CheckedFile] = {}
    for checked in valid:
        template = checked.template
        assert template is not None  # noqa: S101 - filtered above
        key = (template.name, template.version)
        other = first.setdefault(key, checked)
        if other is not checked and other.template != template:
            findings.append(
                _at(
                    checked,
                    "name",
                    f"template {template.ref} is also defined, differently, in {other.file}",
                )
            )
        if key in base and base.get(*key).content_hash != template.content_hash:
            findings.append(
                _at(
                    checked,
                    "version",
                    f"replaces the builtin template {template.ref} (bump the version to keep both)",
                    "warning",
                )
            )
    exported = {e.type for t in [*base, *(f.template for f in valid)] if t for e in t.exports}
    for checked in valid:
        template = checked.template
        assert template is not None  # noqa: S101
        findings.extend(_contract_findings(checked, template, exported))
    return findings


def _contract_findings(
    checked: CheckedFile, template: Template, exported: Iterable[str]
) -> list[Finding]:
    found: list[Finding] = []
    known = set(exported)
    for i, imp in enumerate(template.imports):
        if imp.type not in known:
            need = "a required" if imp.required else "an optional"
            found.append(
                _at(
                    checked,
                    f"imports[{i}].type",
                    f"{need} import of type {imp.type!r} that no template in the catalog exports",
                    "error" if imp.required else "warning",
                )
            )
    ports = {(p.container, p.protocol) for p in template.service.ports}
    for i, export in enumerate(template.exports):
        if export.port is not None and (export.port, export.protocol) not in ports:
            found.append(
                _at(
                    checked,
                    f"exports[{i}].port",
                    f"{export.port}/{export.protocol} is not among the service's ports",
                    "warning",
                )
            )
    return found


def _at(
    checked: CheckedFile,
    path: str,
    message: str,
    severity: Literal["error", "warning"] = "error",
) -> Finding:
    return Finding(
        file=checked.file,
        line=line_of(path, checked.lines),
        path=path,
        message=message,
        severity=severity,
    )

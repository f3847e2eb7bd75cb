"""The one YAML writer behind devarch.yml, devarch.lock, Compose files and template files.

Every file devarch writes is block-style YAML with keys in the order given and unicode kept;
the formats differ only in how sequences are indented, whether multi-line strings are literal
blocks (``|``) and the line width. PyYAML is imported on first use, not with this module (the
counterpart of :mod:`devarch_core._yamlload`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import yaml

__all__ = ["dump"]


def _literal_block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


@functools.cache
def _dumper(*, indent_sequences: bool, literal_blocks: bool) -> type[yaml.SafeDumper]:
    import yaml  # noqa: PLC0415 - only the commands that write YAML pay for PyYAML

    class _Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            # ``- x`` indented under its key (as Compose files are), or PyYAML's flush style.
            super().increase_indent(flow, indentless=indentless and not indent_sequences)

    if literal_blocks:
        _Dumper.add_representer(str, _literal_block)
    return _Dumper


def dump(
    data: object,
    *,
    width: int,
    indent_sequences: bool = False,
    literal_blocks: bool = False,
) -> str:
    """``data`` as block-style YAML: keys in the given order, unicode kept, lines up to ``width``.

    ``indent_sequences`` indents a list under its key; ``literal_blocks`` writes multi-line
    strings as ``|`` blocks.
    """
    import yaml  # noqa: PLC0415 - see _dumper

    dumper = _dumper(indent_sequences=indent_sequences, literal_blocks=literal_blocks)
    return yaml.dump(
        data,
        Dumper=dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=width,
    )

"""Size limits on what devarch reads: files, YAML structure and single values.

Every limit is documented in docs/manifest.md ("Limits"). They keep hostile or mistaken input
(a 20 MB config file, a YAML alias bomb, 5,000 levels of nesting) from costing minutes or
gigabytes: input beyond a limit is refused, naming where, before the work that would be costly.
"""

from __future__ import annotations

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_CONFIG_CONTENT",
    "MAX_DEPTH",
    "MAX_DESCRIPTION",
    "MAX_ENV_VALUE",
    "MAX_FILE_BYTES",
    "MAX_INSTANCES",
    "MAX_KEY",
    "MAX_PLAN_BYTES",
    "MAX_PROBLEMS",
    "MAX_SCALAR",
    "human_size",
]

KIB = 1024
MIB = 1024 * KIB

#: A whole manifest, lockfile, template, compose or override file, in bytes (UTF-8).
MAX_FILE_BYTES = 4 * MIB
#: A saved plan (``plan -o``), in bytes: devarch writes it, and a big stack's plan is big.
MAX_PLAN_BYTES = 64 * MIB
#: Nesting of YAML collections (a mapping in a list in a mapping... counts one level each).
MAX_DEPTH = 100
#: Nodes reached through YAML aliases (``*name``), counted expanded: a ``<<: *defaults`` merge
#: of a 20-node mapping costs 20. Compose files' ``x-`` anchors stay far below; alias bombs
#: (each anchor repeating the previous one ten times) reach it within a few levels.
MAX_ALIAS_NODES = 100_000
#: A mapping key, in characters (keys are names: instances, variables, labels, services).
MAX_KEY = 1000
#: Any single YAML scalar, in characters (above the per-field limits below, so those are
#: reported at their path).
MAX_SCALAR = 2 * MIB
#: Descriptions of stacks, instances and templates, in characters.
MAX_DESCRIPTION = 1000
#: One environment variable's value, in characters (Linux refuses longer exec arguments and
#: environment strings: MAX_ARG_STRLEN is 128 KiB).
MAX_ENV_VALUE = 128 * KIB
#: The content of one config file, in characters.
MAX_CONFIG_CONTENT = 1 * MIB
#: Instances in one manifest.
MAX_INSTANCES = 5000
#: Problems listed in one error; the rest are counted ("... and 12 more").
MAX_PROBLEMS = 100


def human_size(size: int) -> str:
    """``4 MiB``, ``128 KiB`` or ``1000`` (a count): how the limits are spelled in messages."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KiB"
    return str(size)

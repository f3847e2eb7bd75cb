"""The ``devarch`` command line: the composition root's only user-facing edge (docs/cli.md).

``main(argv)`` parses, builds adapters with :func:`devarch_adapters.connect`, calls one
:class:`~devarch_core.app.Devarch` method, renders text or ``--json`` and returns the exit status.
"""

from devarch_adapters.cli._main import main, parse_assignments
from devarch_adapters.cli._progress import RichReporter

__all__ = ["RichReporter", "main", "parse_assignments"]

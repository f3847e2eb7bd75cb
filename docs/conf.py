"""Sphinx configuration for the devarch documentation (MyST markdown pages, autodoc API)."""

# ruff: noqa: INP001 - Sphinx loads this file by path; it is not part of a package.
from __future__ import annotations

import sys
from pathlib import Path

# Import the packages from this checkout even when devarch is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

project = "devarch"
author = "devarch developers"
copyright = "devarch developers"  # noqa: A001 - the name Sphinx reads
release = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
# Cross-references that cannot resolve (e.g. to third-party types) are not warnings.
nitpicky = False

html_theme = "furo"
html_title = "devarch"

"""The CLI builds only the command it runs; parsing is the same as with the whole tree."""

from __future__ import annotations

import pytest

from devarch_adapters.cli._main import UsageError, _command_word, _parse, build_parser

ARGVS = [
    ["apply", "shop", "--yes"],
    ["--home", "home-dir", "--runtime", "docker", "status", "shop"],
    ["--home=home-dir", "--json", "down", "shop", "--ordered", "--volumes"],
    ["--ho", "apply", "plan", "shop"],  # an abbreviated --home whose value is a command name
    ["--cat", "status", "--catalog", "x", "instance", "set", "s", "i", "image=busybox"],
    ["instance", "set", "s", "i", "--from-yaml", "f.yaml", "env.X=1"],
    ["stack", "create", "shop", "--description", "d"],
    ["--no-color", "compose", "shop", "-o", "f.yml"],
]


@pytest.mark.parametrize("argv", ARGVS)
def test_parsing_with_only_the_named_command_equals_the_whole_tree(argv: list[str]) -> None:
    """Same namespace (values, handler, needs_runtime) from the partial and the whole parser."""
    whole = vars(_parse(build_parser(), list(argv)))
    partial = vars(_parse(build_parser(only=_command_word(argv)), list(argv)))
    assert partial == whole


def test_the_command_word_skips_global_options_and_their_values() -> None:
    """Values of --home/--store/--runtime/--catalog (also abbreviated) are not the command."""
    assert _command_word(["--home", "apply", "status"]) == "status"
    assert _command_word(["--ho", "apply", "status"]) == "status"
    assert _command_word(["--json", "apply", "s"]) == "apply"
    assert _command_word(["--store=sqlite:///x", "plan", "s"]) == "plan"
    assert _command_word(["--json"]) is None
    assert _command_word(["--", "apply"]) is None


def test_only_one_command_is_built_but_an_unknown_word_builds_them_all() -> None:
    """``only`` leaves the other commands out; an unknown word's usage error lists every one."""
    partial = build_parser(only="status").format_help()
    whole = build_parser().format_help()
    assert "status" in partial
    assert "compose" not in partial
    assert "compose" in whole
    assert build_parser(only="no-such-command").format_help() == whole
    with pytest.raises(UsageError, match=r"invalid choice: 'bogus'.*'apply'"):
        _parse(build_parser(only="bogus"), ["bogus"])

"""Name validation, slug suggestions and the engine names derived from stack and instance names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devarch_core.errors import InvalidNameError, ValidationError
from devarch_core.naming import (
    MAX_NAME_LENGTH,
    RESERVED_NAMES,
    container_name,
    network_name,
    slugify,
    validate_name,
    volume_name,
)


@pytest.mark.parametrize(
    "name",
    ["web", "a", "0", "db-1", "my-app", "a1b2", "x" * MAX_NAME_LENGTH, "a-b-c", "shop2", "9lives"],
)
def test_valid_names_are_returned_unchanged(name):
    """A lowercase DNS label of at most 63 characters that is not reserved passes as it is."""
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "why", "suggestion"),
    [
        ("My App", "uppercase", "my-app"),
        ("Web", "uppercase", "web"),
        ("my app", "not allowed", "my-app"),
        ("web_1", "not allowed", "web-1"),
        ("web.api", "not allowed", "web-api"),
        ("café", "non-ASCII", "cafe"),
        ("-web", "starts or ends with '-'", "web"),
        ("web-", "starts or ends with '-'", "web"),
        ("a" * 64, "64 characters long; at most 63", "a" * 63),
        ("default", "reserved", "my-default"),
    ],
)
def test_invalid_names_are_refused_saying_why_and_suggesting_a_valid_slug(name, why, suggestion):
    """Each kind of bad name raises InvalidNameError saying why and offering a valid slug."""
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)
    error = info.value
    assert why in str(error)
    assert error.reason in str(error)
    assert error.name == name
    assert error.suggestion == suggestion
    assert repr(suggestion) in str(error)
    assert validate_name(suggestion) == suggestion


def test_my_app_suggests_my_app_slug():
    """The example from the design holds: "My App" is refused with the suggestion `my-app`."""
    with pytest.raises(InvalidNameError, match=r"try 'my-app'"):
        validate_name("My App")


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_every_reserved_word_is_refused(name):
    """default, devarch, system, none and all are reserved and cannot name a stack or instance."""
    with pytest.raises(InvalidNameError, match="reserved"):
        validate_name(name)


def test_the_reserved_words_are_exactly_those_of_the_design():
    """The reserved set is the one docs/architecture.md#naming promises, no more and no less."""
    assert frozenset({"default", "devarch", "system", "none", "all"}) == RESERVED_NAMES


def test_an_empty_name_is_refused_without_a_suggestion():
    """An empty name says it is empty and has nothing to suggest."""
    with pytest.raises(InvalidNameError, match="is empty") as info:
        validate_name("")
    assert info.value.suggestion is None


def test_a_name_with_no_usable_characters_gets_no_suggestion():
    """When no slug can be derived ("---", "***"), the error suggests nothing rather than junk."""
    for name in ("---", "***"):
        with pytest.raises(InvalidNameError) as info:
            validate_name(name)
        assert info.value.suggestion is None
        assert "try" not in str(info.value)


def test_a_non_string_is_refused():
    """A name that is not a string is refused with InvalidNameError, not a TypeError."""
    with pytest.raises(InvalidNameError, match="not a string"):
        validate_name(42)  # type: ignore[arg-type]


def test_the_error_names_the_kind_of_thing_being_named():
    """The message says whether a stack or an instance name was wrong."""
    with pytest.raises(InvalidNameError, match="invalid instance name") as info:
        validate_name("Bad Name", kind="instance")
    assert info.value.kind == "instance"


def test_invalid_name_errors_are_validation_errors_and_value_errors():
    """Callers can catch a bad name as a ValidationError (with one problem) or as a ValueError."""
    with pytest.raises(ValueError, match="uppercase") as info:
        validate_name("UPPER")
    assert isinstance(info.value, ValidationError)
    assert len(info.value.problems) == 1


def test_a_custom_maximum_length_is_enforced_and_respected_by_the_suggestion():
    """A caller may demand shorter names; the suggestion then fits that limit too."""
    with pytest.raises(InvalidNameError, match="at most 10") as info:
        validate_name("abcdefghij-klm", max_length=10)
    assert info.value.suggestion == "abcdefghij"


def test_container_network_and_volume_names_follow_the_design():
    """Containers, networks and volumes are named as docs/architecture.md#naming says."""
    assert container_name("shop", "web") == "devarch-shop-web"
    assert network_name("shop") == "devarch-shop-net"
    assert network_name("shop", "shared-net") == "shared-net"
    assert volume_name("shop", "db", "data") == "devarch-shop-db-data"


def test_two_stacks_with_the_same_instances_get_different_engine_names():
    """The same instance name in two stacks yields distinct container, network and volume names."""
    assert container_name("a", "db") != container_name("b", "db")
    assert network_name("a") != network_name("b")
    assert volume_name("a", "db", "data") != volume_name("b", "db", "data")


def test_two_instances_of_one_stack_never_share_a_volume():
    """Every named volume includes the instance name, so two instances never share one."""
    assert volume_name("shop", "db1", "data") != volume_name("shop", "db2", "data")


@given(st.text())
def test_slugify_output_is_always_a_valid_name_or_empty(text):
    """Whatever the input, slugify returns a name validate_name accepts, or ''."""
    slug = slugify(text)
    assert slug == "" or validate_name(slug) == slug


@given(st.text())
def test_slugify_is_idempotent(text):
    """Slugifying a slug changes nothing."""
    assert slugify(slugify(text)) == slugify(text)


@given(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True))
def test_slugify_keeps_valid_names_unchanged_except_for_doubled_hyphens(name):
    """A valid, unreserved name is its own slug, except that runs of '-' collapse to one."""
    if name not in RESERVED_NAMES:
        expected = name
        while "--" in expected:
            expected = expected.replace("--", "-")
        assert slugify(name) == expected


def test_slugify_turns_display_names_into_names():
    """Typical display names become the slug a user would pick by hand."""
    assert slugify("My App") == "my-app"
    assert slugify("  Shop / Staging (EU) ") == "shop-staging-eu"
    assert slugify("Crème brûlée") == "creme-brulee"
    assert slugify("All") == "my-all"
    assert slugify("!!!") == ""

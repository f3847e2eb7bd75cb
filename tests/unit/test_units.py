"""Parsing and canonical formatting of memory sizes, CPU counts and durations."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devarch_core.units import (
    format_cpus,
    format_duration,
    format_memory,
    parse_cpus,
    parse_duration,
    parse_memory,
)

KIB = 1024
MIB = 1024**2
GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * MIB),
        ("1g", GIB),
        ("1G", GIB),
        ("1.5GiB", 3 * GIB // 2),
        ("512MB", 512 * MIB),
        (" 2 g ", 2 * GIB),
        ("6m", 6 * MIB),
        ("8192k", 8 * MIB),
        ("1t", 1024 * GIB),
        ("10485760", 10 * MIB),
        (10 * MIB, 10 * MIB),
    ],
)
def test_memory_sizes_parse_to_bytes_in_binary_units(text, size):
    """Memory sizes take Compose's suffixes (k, m, g, t, optional iB/B) as powers of 1024."""
    assert parse_memory(text) == size


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (512 * MIB, "512m"),
        (GIB, "1g"),
        (3 * GIB // 2, "1536m"),
        (8 * MIB + KIB, "8193k"),
        (6 * MIB + 1, "6291457"),
    ],
)
def test_memory_sizes_format_with_the_largest_exact_unit(size, text):
    """Formatting picks the largest binary unit that divides the size exactly."""
    assert format_memory(size) == text


@pytest.mark.parametrize("value", ["abc", "", "1x", "-1g", "m", "1.2.3g", True])
def test_malformed_memory_sizes_are_refused_with_an_example(value):
    """Text that is not a memory size raises ValueError naming the value."""
    with pytest.raises(ValueError, match="not a memory size"):
        parse_memory(value)


@pytest.mark.parametrize("value", ["5m", "1k", "1048576", 0, 6 * MIB - 1])
def test_memory_below_six_mebibytes_is_refused(value):
    """Docker cannot start a container with under 6 MiB, so smaller limits are refused."""
    with pytest.raises(ValueError, match="below the minimum of 6m"):
        parse_memory(value)


@given(st.integers(min_value=6 * MIB, max_value=2**50))
def test_memory_sizes_round_trip_through_their_canonical_text(size):
    """Any allowed size formats to text that parses back to the same number of bytes."""
    assert parse_memory(format_memory(size)) == size


@pytest.mark.parametrize(
    ("value", "cpus"),
    [
        ("0.5", Decimal("0.5")),
        ("0.50", Decimal("0.5")),
        (2, Decimal(2)),
        ("2", Decimal(2)),
        (0.25, Decimal("0.25")),
        ("0.01", Decimal("0.01")),
        (" 1.5 ", Decimal("1.5")),
    ],
)
def test_cpu_counts_parse_to_decimals(value, cpus):
    """CPU counts accept numbers or text with at most two decimals."""
    assert parse_cpus(value) == cpus


@pytest.mark.parametrize(
    ("cpus", "text"),
    [(Decimal("0.50"), "0.5"), (Decimal(2), "2"), (Decimal(10), "10"), (Decimal("1.25"), "1.25")],
)
def test_cpu_counts_format_canonically(cpus, text):
    """Formatting drops trailing zeros and never uses exponent notation."""
    assert format_cpus(cpus) == text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "not a CPU count"),
        ("", "not a CPU count"),
        (True, "not a CPU count"),
        ("0", "below the minimum"),
        ("0.001", "below the minimum"),
        ("-1", "below the minimum"),
        ("1.234", "more than two decimals"),
    ],
)
def test_bad_cpu_counts_are_refused_saying_why(value, message):
    """Malformed, too small or too precise CPU counts raise ValueError with the reason."""
    with pytest.raises(ValueError, match=message):
        parse_cpus(value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_cpu_counts_are_refused(value):
    """NaN and infinity are not CPU counts."""
    with pytest.raises(ValueError, match="CPU"):
        parse_cpus(value)


@given(st.integers(min_value=1, max_value=1024 * 100))
def test_cpu_counts_round_trip_through_their_canonical_text(hundredths):
    """Any allowed CPU count formats to text that parses back to the same value."""
    cpus = Decimal(hundredths) / 100
    assert parse_cpus(format_cpus(cpus)) == cpus


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5s", Decimal(5)),
        ("1m30s", Decimal(90)),
        ("500ms", Decimal("0.5")),
        ("1h", Decimal(3600)),
        ("1h2m3s", Decimal(3723)),
        ("1500us", Decimal("0.0015")),
        ("1.5s", Decimal("1.5")),
        (5, Decimal(5)),
        (1.5, Decimal("1.5")),
    ],
)
def test_durations_parse_to_seconds(value, seconds):
    """Compose durations (h, m, s, ms, us, combined) and plain numbers parse to seconds."""
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (Decimal(0), "0s"),
        (Decimal(5), "5s"),
        (Decimal(90), "1m30s"),
        (Decimal(3723), "1h2m3s"),
        (Decimal("0.5"), "500ms"),
        (Decimal("0.00001"), "10us"),
    ],
)
def test_durations_format_as_compose_text(seconds, text):
    """Whole seconds format as h/m/s, fractions as ms or us."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", ["", "5", "abc", "5 s", "s", "5x", "1m 30s", True])
def test_malformed_durations_are_refused_with_an_example(value):
    """Text that is not a Compose duration (a unit is required in text) raises ValueError."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)


def test_negative_durations_are_refused():
    """A negative number of seconds is refused."""
    with pytest.raises(ValueError, match="negative"):
        parse_duration(-1)


@given(st.one_of(st.just(0), st.integers(min_value=1000, max_value=86_400 * 10**6)))
def test_durations_round_trip_through_their_canonical_text(microseconds):
    """Any allowed duration in whole microseconds formats to text that parses back to itself."""
    seconds = Decimal(microseconds) / 1_000_000
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1025", "above the maximum of 1024"),
        ("1e30", "above the maximum"),
        (1e30, "above the maximum"),
        ("99999999999999999999999999999999", "above the maximum"),
    ],
)
def test_cpu_counts_above_the_maximum_are_refused(value, message):
    """CPU counts are bounded (the engine multiplies them into an int64); "1e30" is refused."""
    with pytest.raises(ValueError, match=message):
        parse_cpus(value)


@pytest.mark.parametrize("value", ["1025t", "1048577g", 2**70, "9" * 40])
def test_memory_sizes_above_the_maximum_are_refused(value):
    """Memory sizes are bounded above (1 PiB), so a typo cannot overflow the engine's int64."""
    with pytest.raises(ValueError, match="above the maximum of 1024t"):
        parse_memory(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10us", "below the minimum of 1ms"),
        ("999us", "below the minimum of 1ms"),
        (0.0001, "below the minimum of 1ms"),
        ("25h", "above the maximum of 24h"),
        ("9" * 30 + "h", "above the maximum of 24h"),
        (86401, "above the maximum of 24h"),
    ],
)
def test_durations_outside_what_the_engine_accepts_are_refused(value, message):
    """A non-zero duration is 1ms to 24h (the engine refuses under 1ms; longer is a typo)."""
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def test_zero_duration_means_the_default_and_is_kept():
    """0 is the engine's 'use the default' and stays accepted."""
    assert parse_duration("0s") == 0
    assert parse_duration(0) == 0

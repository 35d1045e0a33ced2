"""Duration flags: one syntax (90s, 30m, 2h) everywhere; a bare number keeps each flag's unit."""

from __future__ import annotations

import argparse

import pytest

from scripts.cli import build_parser, main
from scripts.cliutil import duration


@pytest.mark.parametrize(
    ("bare", "text", "expected"),
    [
        ("s", "90", 90.0),
        ("s", "90s", 90.0),
        ("s", "2m", 120.0),
        ("s", "1.5h", 5400.0),
        ("s", "250ms", 0.25),
        ("m", "30", 30.0),
        ("m", "90s", 1.5),
        ("m", "2h", 120.0),
        ("m", "1d", 1440.0),
    ],
)
def test_a_duration_is_returned_in_the_flags_bare_unit(bare, text, expected):
    assert duration(bare)(text) == expected


@pytest.mark.parametrize("text", ["nan", "inf", "5x", "", "1e3", "m", "1 h 2 m"])
def test_anything_but_a_number_with_one_unit_is_refused_naming_what_is_allowed(text):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        duration("m")(text)
    assert str(info.value) == f"invalid duration {text!r}: a duration such as 90s, 30m or 2h (a bare number is minutes)"


def test_an_integer_flag_refuses_a_fraction_of_its_unit():
    assert duration("s", integer=True)("2m") == 120
    with pytest.raises(argparse.ArgumentTypeError) as info:
        duration("s", integer=True)("1.5")
    assert str(info.value) == "invalid duration '1.5': a whole number of seconds"


@pytest.mark.parametrize(
    ("argv", "dest", "expected"),
    [
        (["restore", "rds", "--source", "a", "--target", "b", "--latest", "--timeout", "2h"], "timeout", 120.0),
        (["restore", "rds", "--source", "a", "--target", "b", "--latest", "--timeout", "120"], "timeout", 120.0),
        (["restore", "wal", "--archive", "s3://b/p", "--server-name", "s", "--pgdata", "/x", "--latest",
          "--timeout", "1h"], "timeout", 3600.0),
        (["failover", "--stack-outputs", "o.json", "--timeout", "90m", "--dns-wait", "5m"], "dns_wait", 300.0),
        (["failover", "--stack-outputs", "o.json", "--timeout", "90m"], "timeout", 90.0),
        (["failback", "--stack-outputs", "o.json", "--dns-wait", "1m"], "dns_wait", 60.0),
        (["drill", "--local", "--archive-timeout", "1m"], "archive_timeout", 60),
    ],
)  # fmt: skip
def test_commands_take_suffixed_durations_in_their_historical_units(argv, dest, expected):
    assert getattr(build_parser().parse_args(argv), dest) == expected


def test_a_bad_duration_is_bad_input_exit_2(capsys):
    assert main(["restore", "rds", "--source", "a", "--target", "b", "--latest", "--timeout", "nan"]) == 2
    assert (
        "invalid duration 'nan': a duration such as 90s, 30m or 2h (a bare number is minutes)"
        in capsys.readouterr().err
    )

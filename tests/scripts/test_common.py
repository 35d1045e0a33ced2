"""The conventions every command shares: messages, time parsing, reports, exit codes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from scripts.cli import main
from scripts.errors import ExitCode, InputError
from scripts.report import MASK, Report
from scripts.timeutil import format_duration, iso, parse_time


def test_input_error_names_field_value_and_allowed():
    err = InputError("--retention", 36, "an integer from 1 to 35")
    assert err.message == "invalid --retention 36: an integer from 1 to 35"
    assert err.exit_code == ExitCode.BAD_INPUT
    assert err.to_dict()["field"] == "--retention"


def test_parse_time_accepts_zulu_and_offsets_and_normalises_to_utc():
    assert parse_time("--time", "2026-11-23T10:15:00Z") == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    assert parse_time("--time", "2026-11-23T12:15:00+02:00") == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    assert parse_time("--time", "2026-11-23 10:15:00.250Z").microsecond == 250000


def test_parse_time_refuses_a_time_without_timezone_with_a_hint():
    with pytest.raises(InputError) as info:
        parse_time("--time", "2026-11-23T10:15:00")
    assert info.value.message == (
        "invalid --time '2026-11-23T10:15:00': expected an ISO-8601 time with a timezone, e.g. 2026-11-23T10:15:00Z"
    )
    assert (
        info.value.hint == "add a timezone: '2026-11-23T10:15:00Z' for UTC, or an offset such as "
        "'2026-11-23T10:15:00+02:00'"
    )


@pytest.mark.parametrize("bad", ["yesterday", "", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z"])
def test_parse_time_refuses_malformed_or_impossible_times(bad):
    with pytest.raises(InputError) as info:
        parse_time("--time", bad)
    assert info.value.field == "--time"
    assert repr(bad) in info.value.message


def test_iso_and_durations_render_stably():
    assert iso(datetime(2026, 11, 23, 10, 15, tzinfo=UTC)) == "2026-11-23T10:15:00Z"
    assert iso(datetime(2026, 11, 23, 10, 15, 0, 123456, tzinfo=UTC)) == "2026-11-23T10:15:00.123Z"


@pytest.mark.parametrize("microsecond", [0, 512, 999, 1000, 123456, 999999])
def test_iso_survives_a_round_trip_through_parse_time(microsecond):
    """A baseline stores iso(t) and messages print iso(parse_time(...)): both must read the same
    (an event 0.5 ms after the second once printed '.000Z' in one and no fraction in the other)."""
    text = iso(datetime(2026, 11, 23, 10, 15, 0, microsecond, tzinfo=UTC))
    assert iso(parse_time("t", text)) == text
    assert format_duration(0.25) == "250 ms"
    assert format_duration(12.44) == "12.4 s"
    assert format_duration(185) == "3m05s"
    assert format_duration(3720) == "1h02m"


def test_report_step_failure_marks_report_failed_and_keeps_timing():
    report = Report("demo")
    with report.step("first"):
        pass
    with pytest.raises(RuntimeError), report.step("second"):
        raise RuntimeError("boom")
    doc = report.to_dict()
    assert [s["status"] for s in doc["steps"]] == ["ok", "failed"]
    assert doc["steps"][1]["error"] == "boom"
    assert doc["steps"][0]["duration_s"] is not None
    assert doc["ok"] is False


def test_report_ok_only_when_every_check_passes_and_skips_do_not_fail():
    report = Report("demo")
    report.check("a", True, "fine")
    report.check("b", None, "not applicable")
    assert report.ok
    report.check("c", False, "broken")
    assert not report.ok


def test_report_masks_registered_secrets_everywhere():
    report = Report("demo")
    report.register_secret("s3cr3t-value")
    report.check("dsn", True, "connected with postgresql://u:s3cr3t-value@h/db", dsn="x s3cr3t-value y")
    report.result["nested"] = {"list": ["s3cr3t-value"]}
    text = report.to_json() + report.render_text()
    assert "s3cr3t-value" not in text
    assert MASK in text


def test_cli_help_lists_exit_codes_and_returns_zero(capsys):
    assert main(["--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 ok, 1 a check failed, 2 bad input, 3 refused for safety" in help_text


def test_cli_unknown_command_is_bad_input():
    err = io.StringIO()
    assert main(["no-such-command"], stderr=err) == ExitCode.BAD_INPUT


def test_cli_json_error_document_for_bad_input(monkeypatch, capsys):
    from scripts import cli

    def handler(args, report):
        raise InputError("--thing", "x", "one of a, b")

    monkeypatch.setattr(cli, "build_parser", _parser_with(handler))
    out, err = io.StringIO(), io.StringIO()
    code = main(["fake", "--json"], stdout=out, stderr=err)
    assert code == ExitCode.BAD_INPUT
    doc = json.loads(out.getvalue())
    assert doc["ok"] is False
    assert doc["error"] == {
        "type": "InputError",
        "message": "invalid --thing 'x': one of a, b",
        "field": "--thing",
        "value": "x",
        "allowed": "one of a, b",
    }
    assert err.getvalue() == "error: invalid --thing 'x': one of a, b\n"


def _parser_with(handler):
    import argparse

    from scripts.cli import _common_options

    def build():
        parser = argparse.ArgumentParser(prog="t")
        sub = parser.add_subparsers(dest="command")
        p = sub.add_parser("fake", parents=[_common_options()])
        p.set_defaults(handler=handler)
        return parser

    return build


def test_an_unwritable_report_file_is_refused_before_the_command_runs(tmp_path, capsys):
    target = tmp_path / "a-directory"
    target.mkdir()
    code = main(["plan", "--report-file", str(target)])
    assert code == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert f"error: invalid --report-file {str(target)!r}: a writable file path (Is a directory)" in err
    assert list(target.iterdir()) == []

"""Every flag of the commands that act on AWS, driven with generated hostile values (hypothesis): each run either
goes on or is refused with the error format, never a traceback; and a refusal as bad input (exit 2) has changed
nothing (moto's call recorder: no mutating call, no runbook object written).

The values are the classes the security review tried by hand: text of any shape, numbers at the edges (negative,
huge, not-a-number, infinity), times at the ends of the calendar with offsets, URLs with credentials and ``..``,
paths to devices, ``/proc`` and directories, files that are empty, huge, binary, or JSON nested 100,000 deep.
None is run with ``--yes``: a run that gets past its inputs stops at the confirmation (exit 3). The budget is bounded
(``max_examples`` per command) so it fits ``.ci/run``.
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts import cli
from tests.scripts.world import invoke

CLOSED = "127.0.0.1:9"  # the discard port: nothing listens, a connection is refused at once

#: The commands under test, with the flags each needs to get past its parser (``{outputs}``: the stack outputs;
#: ``{tmp}``: the test's directory, holding a secret file).
COMMANDS: dict[str, list[str]] = {
    "failover": ["failover", "--stack-outputs", "{outputs}", "--probe-scheme", "http"],
    "failback": ["failback", "--stack-outputs", "{outputs}", "--probe-scheme", "http"],
    "reprotect": ["reprotect", "--stack-outputs", "{outputs}"],
    "recover": ["recover", "--stack-outputs", "{outputs}", "--latest"],
    "restore rds": ["restore", "rds", "--source", "sso-db", "--target", "fuzz-target", "--latest"],
    "drill": ["drill", "--aws", "--stack-outputs", "{outputs}"],
    "check dr-paths": ["check", "dr-paths", "--stack-outputs", "{outputs}"],
    # The backup and verification side: databases and IdPs at a closed port (a run that gets past its inputs
    # fails to connect, exit 4), S3 is moto's; restores only as dry runs.
    "backup dump": ["backup", "dump", "--idp", "keycloak", "--db-dsn", f"postgresql://u:p@{CLOSED}/keycloak",
                    "--archive", "s3://fuzz-archive"],
    "restore dump": ["restore", "dump", "--archive", "s3://fuzz-archive", "--db-dsn",
                     f"postgresql://u:p@{CLOSED}/postgres", "--dbname", "keycloak", "--dry-run"],
    "restore wal": ["restore", "wal", "--archive", "s3://fuzz-archive", "--server-name", "sso", "--pgdata",
                    "{tmp}/pgdata", "--latest", "--dry-run"],
    "baseline": ["baseline", "--idp", "keycloak", "--base-url", f"http://{CLOSED}"],
    "verify": ["verify", "--idp", "keycloak", "--base-url", f"http://{CLOSED}"],
    "audit realm-config": ["audit", "realm-config", "--base-url", f"http://{CLOSED}", "--realm", "company",
                           "--client-id", "auditor", "--client-secret-file", "{tmp}/secret",
                           "--against", "{tmp}/reference.json"],
    "bootstrap verifier": ["bootstrap", "verifier", "--admin-url", f"http://{CLOSED}", "--admin-password-file",
                           "{tmp}/secret", "--dry-run"],
}  # fmt: skip

_EDGE_TIMES = [
    "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00", "0001-01-01", "9999-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z", "2026-12-07T25:00:00Z", "1970-01-01T00:00:00Z", "now", "-1h", "99999999d",
]  # fmt: skip
_EDGE_NUMBERS = ["-1", "0", "inf", "-inf", "nan", "1e309", "99999999999999999999", "0x10", "1_000", "", " "]
_EDGE_TEXT = [
    "s3://b/../../x", "s3://", "ssm://user:pw@x/y", "https://user:secret@example.com/", "../master", "a/../b",
    "--yes", "-", "\x00", "é" * 300, "x" * 5000, "fake:", "fake:/dev/null", "kubectl", "$(id)", "'; DROP TABLE x;--",
]  # fmt: skip


def _files(tmp: Path) -> list[str]:
    (tmp / "empty.json").write_text("")
    (tmp / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp / "binary.json").write_bytes(bytes(range(256)) * 64)
    (tmp / "big.json").write_text("{" + '"k": "' + "v" * 3_000_000 + '"}')
    (tmp / "list.json").write_text("[1, 2]")
    return [str(tmp / n) for n in ("empty.json", "deep.json", "binary.json", "big.json", "list.json")] + [
        "/dev/zero", "/dev/null", "/proc/self", "/proc/self/environ", str(tmp), str(tmp / "missing" / "x.json"),
    ]  # fmt: skip


def _value_flags(argv: list[str]) -> list[str]:
    """The flags of the command that take a value (from its parser: a new flag is fuzzed without a change here)."""
    parser = cli.build_parser()
    sub: argparse.ArgumentParser = parser
    for word in argv:
        if word.startswith("-"):
            break
        choices = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction)).choices
        sub = choices[word]
    flags = []
    for action in sub._actions:
        takes_value = action.nargs != 0 and action.option_strings and not isinstance(action, argparse._HelpAction)
        if takes_value and action.help != argparse.SUPPRESS:
            flags.append(max(action.option_strings, key=len))
    return sorted(set(flags) - {"--report-file"})  # written by the CLI after the run: tested in test_common


def _hostile(tmp: Path) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(_EDGE_TIMES + _EDGE_NUMBERS + _EDGE_TEXT + _files(tmp)),
        st.text(max_size=40),
        st.integers().map(str),
        st.floats().map(str),
    )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_flag_takes_hostile_values_without_a_traceback_or_a_change(command, world, standby, tmp_path):
    (tmp_path / "secret").write_text("s3cret")
    base = [a.format(outputs=world.outputs_path, tmp=tmp_path) for a in COMMANDS[command]]
    flags = _value_flags(base)
    assert flags, command
    values = tmp_path / "values"
    values.mkdir()

    accepts = inspect.signature(cli.build_parser().parse_args([*base]).handler).parameters
    # the clusters: the fake DR cluster (its state in memory) for both sites
    inject = {k: v for k, v in {"aws": world.aws(), "clock": world.clock, "kube": standby}.items() if k in accepts}

    # derandomize: the same examples every run, so .ci/run is repeatable; explore more with --hypothesis-seed=N
    # and a larger max_examples (how the deep --stack-outputs below was found).
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    @given(flag=st.sampled_from(flags), value=_hostile(values))
    def one(flag: str, value: str) -> None:
        world.recorder.calls.clear()
        argv = [*base, f"{flag}={value}", "--json"]
        result = invoke(argv, **inject)  # a traceback fails here, naming the argv
        if result.code == 2 and result.report is not None:
            assert result.stderr.startswith("error: invalid ") or result.stderr.startswith("error: "), result.stderr
            assert world.recorder.mutating() == [], (argv, world.recorder.mutating())

    one()

"""docs/reference/cli.md cannot drift from the CLI: its flag tables are generated from the parsers, and every flag
its hand-written part names is one some command has."""

from __future__ import annotations

import re

from scripts.cli import build_parser
from scripts.cli_reference import END, PAGE, START, flags_of, hand_written, markdown


def test_the_flag_tables_are_the_parsers():
    text = PAGE.read_text()
    match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    assert match, f"{PAGE} lacks the cli-flags markers"
    assert match.group(1) == markdown(build_parser()), "regenerate with: python -m scripts.cli_reference"


#: Flags of other tools the page shows beside ours, each with its tool.
FOREIGN = {
    "--context": "kubectl",
    "--db-instance-identifier": "aws rds",
    "--source-db-instance-arn": "aws rds",
    "--no-deletion-protection": "aws rds",
    "--expect-no-changes": "pulumi preview",
    "--show-urns": "pulumi preview",
    "--target-replace": "pulumi up",
    "--list": "pg_restore",
    "--no-owner": "pg_restore",
    "--no-privileges": "pg_restore",
}


def test_every_flag_the_prose_names_exists():
    """The health-hostname error (a default the guide stated and the code did not have) is what drift looks like:
    a flag renamed or removed in code is caught here, not by a user during an incident."""
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", hand_written(PAGE.read_text())))
    assert named - flags_of(build_parser()) - set(FOREIGN) == set()


def test_every_foreign_flag_is_still_named():
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", hand_written(PAGE.read_text())))
    assert set(FOREIGN) <= named


def test_a_flag_only_the_prose_names_is_caught():
    assert "--no-such-flag" not in flags_of(build_parser())
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", hand_written("use `--no-such-flag`")))
    assert named - flags_of(build_parser()) == {"--no-such-flag"}

"""Every runbook command shown in the README and docs/ parses with the real CLI parser, so a renamed
or removed flag fails here and not in front of an on-call engineer (as the restoreCommand contract
test does for the stack output)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from scripts.cli import build_parser
from scripts.offline import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", REPO_ROOT / "CONTRIBUTING.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
ENTRY = re.compile(r"^(?:\$ )?(?:\S+=\S+ )*(?:\.venv/bin/)?(?:python -m scripts|idp-dr)\s+(?P<argv>.*)$")


def commands(path: Path) -> list[tuple[int, str]]:
    """(line, command) of each command in a fenced block, continuation lines joined."""
    found, in_block, pending, start = [], False, "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        if raw.strip().startswith("```"):
            in_block, pending = not in_block, ""
            continue
        if not in_block:
            continue
        line = raw.strip()
        if pending:
            pending += " " + line.rstrip("\\").strip()
        elif ENTRY.match(line):
            pending, start = line.rstrip("\\").strip(), number
        if pending and not line.endswith("\\"):
            found.append((start, pending))
            pending = ""
    return found


ALL = [(path, line, command) for path in DOCS for line, command in commands(path)]


def test_the_docs_show_commands():
    assert len(ALL) > 40


@pytest.mark.parametrize(("path", "line", "command"), ALL, ids=[f"{p.relative_to(REPO_ROOT)}:{n}" for p, n, _ in ALL])
def test_the_command_parses_with_the_real_cli(path, line, command):
    match = ENTRY.match(command)
    assert match
    text = match.group("argv").split(" #")[0].split(" | ")[0].split(" > ")[0].split(" 2>")[0].split(" && ")[0]
    argv = shlex.split(text)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            assert exc.code == 0, f"{path.name}:{line}: {command}\n{err.getvalue()}"

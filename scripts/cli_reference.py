"""Every command's flags, generated from the parsers the CLI runs (``docs/reference/cli.md``, "Every flag").

``python -m scripts.cli_reference`` rewrites that section; ``tests/unit/test_cli_reference.py`` fails when the
file and the parsers differ, and when the hand-written part of the page names a flag no command has.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

START, END = "<!-- cli-flags:start -->", "<!-- cli-flags:end -->"
PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cli.md"
#: Flags every command has (described once, above the tables).
COMMON = {"--help", "--json", "--quiet", "--report-file"}


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(``"restore rds"``, its parser) for every command that runs, in the order ``--help`` lists them."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix.strip(), parser
        return
    for name, sub in subs[0].choices.items():
        yield from commands(sub, f"{prefix} {name}")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _row(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    flags = ", ".join(f"`{o}`" for o in action.option_strings)
    if action.nargs == 0:
        takes = ""
    elif action.choices:
        takes = " \\| ".join(str(c) for c in action.choices)
    else:
        takes = str(action.metavar or action.dest.upper())
    default = action.default
    shown = "" if default in (None, False, argparse.SUPPRESS) or action.nargs == 0 else f"`{default}`"
    helptext = (action.help or "") % {"default": default, "prog": parser.prog} if action.help else ""
    required = " (required)" if action.required else ""
    return f"| {flags}{required} | {_cell(takes)} | {_cell(shown)} | {_cell(helptext)} |"


def markdown(parser: argparse.ArgumentParser) -> str:
    lines = []
    for name, sub in commands(parser):
        lines += [f"### `{name}`", "", "| flag | takes | default | meaning |", "| --- | --- | --- | --- |"]
        for action in sub._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            if set(action.option_strings) & COMMON:
                continue
            lines.append(_row(action, sub))
        lines.append("")
    return "\n".join(lines).rstrip()


def flags_of(parser: argparse.ArgumentParser) -> set[str]:
    return {o for _, sub in commands(parser) for a in sub._actions for o in a.option_strings}


def hand_written(text: str) -> str:
    """The page without the generated section."""
    return re.sub(re.escape(START) + r".*?" + re.escape(END), "", text, flags=re.S)


def rewrite(text: str, table: str) -> str:
    pattern = re.escape(START) + r"\n(?:.*?\n)?" + re.escape(END)
    return re.sub(pattern, lambda _: f"{START}\n{table}\n{END}", text, flags=re.S)


def main() -> int:
    from scripts.cli import build_parser

    PAGE.write_text(rewrite(PAGE.read_text(), markdown(build_parser())))
    print(f"wrote {PAGE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

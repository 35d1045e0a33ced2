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
    """(line, command) of each command in a fenced block, continuation lines joined. Blocks fenced as
    ```text are synopses (brackets for optional flags), not commands: they are skipped."""
    found, fence, pending, start = [], None, "", 0  # fence: None outside a block, else its info string
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if line.startswith("```"):
            fence, pending = (line[3:] if fence is None else None), ""
            continue
        if fence is None or fence == "text":
            continue
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


LINKED = [*DOCS, REPO_ROOT / "policy" / "README.md", REPO_ROOT / "tests" / "schemas" / "external-secrets" / "SOURCE.md"]
LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", LINKED, ids=[str(p.relative_to(REPO_ROOT)) for p in LINKED])
def test_every_relative_link_resolves(path):
    broken = [
        m.group("target")
        for m in LINK.finditer(path.read_text())
        if not m.group("target").startswith(("http://", "https://", "mailto:"))
        and not (path.parent / m.group("target")).exists()
    ]
    assert broken == []


def test_the_getting_started_config_uses_only_keys_of_the_model():
    import yaml

    from components.config.reference import settings

    known = {s.key for s in settings()}
    text = (REPO_ROOT / "docs" / "getting-started-aws.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    keys: list[str] = []

    def walk(value, prefix: str) -> None:
        keys.append(prefix)
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, f"{prefix}.{key}")

    for block in blocks:
        for full, value in block["config"].items():
            walk(value, full.removeprefix("idp-dr:"))
    assert len(keys) > 20
    assert [k for k in keys if k not in known] == []

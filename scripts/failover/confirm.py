"""The one confirmation before a command changes traffic: ``--yes``, or the record name typed."""

from __future__ import annotations

import sys
from collections.abc import Callable

from scripts.errors import RefusedError


def ask_on_terminal(question: str, record: str) -> bool:
    """Ask on stderr; True only when the operator typed the record name (trailing dot optional)."""
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip().rstrip(".") == record.rstrip(".")


def require_confirmation(
    record: str,
    *,
    yes: bool,
    question: str,
    what: str,
    hint: str,
    confirm: Callable[[str], bool] | None = None,
) -> None:
    """Pass with ``--yes`` or a typed confirmation; otherwise refuse (exit 3) with nothing changed.

    ``confirm`` replaces the terminal prompt (tests inject it); without one and without a terminal
    on stdin the command is refused rather than left waiting.
    """
    if yes:
        return
    if confirm is None and sys.stdin.isatty():

        def confirm(name: str) -> bool:
            return ask_on_terminal(question, name)

    if confirm is None:
        raise RefusedError(
            "refusing to change anything without --yes (stdin is not a terminal to confirm on)", hint=hint
        )
    if not confirm(record):
        raise RefusedError(f"{what} not confirmed; nothing was changed")

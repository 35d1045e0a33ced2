"""argparse helpers: help that shows a default only where there is one worth showing; durations."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from pathlib import Path

from contract.messages import describe_invalid
from scripts.errors import InputError


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends '(default: X)' unless the default is None/False (nothing to say) or already mentioned."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        boring = action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0  # flags
        if "%(default)" in text or boring or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


#: Seconds per duration suffix.
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_UNIT_WORDS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DURATION_RE = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|m|h|d)?\s*")


def duration(bare: str = "s", *, integer: bool = False) -> Callable[[str], float]:
    """An argparse ``type`` for a duration flag: ``90s``, ``30m``, ``2h``, ``1d`` or ``250ms``.

    A bare number keeps the flag's historical unit ``bare`` (what its ``--help`` says). The value
    is returned in that unit, so each command's range check and message stay as they are. NaN,
    infinity and anything else are refused by argparse (exit 2) with what is allowed; with
    ``integer`` the value must be a whole number of ``bare`` units.
    """
    unit_words = _UNIT_WORDS[bare]
    allowed = f"a duration such as 90s, 30m or 2h (a bare number is {unit_words})"

    def parse(text: str) -> float:
        match = _DURATION_RE.fullmatch(text or "")
        if not match:
            raise argparse.ArgumentTypeError(describe_invalid("duration", text, allowed))
        value = float(match.group(1)) * DURATION_UNITS[match.group(2) or bare] / DURATION_UNITS[bare]
        if integer:
            if value != int(value):
                raise argparse.ArgumentTypeError(describe_invalid("duration", text, f"a whole number of {unit_words}"))
            return int(value)
        return value

    parse.__name__ = "duration"
    return parse


def duration_help(text: str, bare: str = "s") -> str:
    """``text`` plus how the flag's durations are written (a trailing "(default: ...)" stays last)."""
    marker = " (default: "
    head, default = (text.rsplit(marker, 1)[0], marker + text.rsplit(marker, 1)[1]) if marker in text else (text, "")
    return f"{head}; a duration such as 90s, 30m or 2h, a bare number is {_UNIT_WORDS[bare]}{default}"


def report_dir(flag: str, path: Path) -> Path:
    """A directory the run can write its report into, created when missing; refused (before anything runs) when
    it is a file, under /proc, or not writable. A run that only found out at its end would lose its report."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".idp-dr-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(flag, str(path), f"a directory this run can write its report into ({reason})") from None
    return path

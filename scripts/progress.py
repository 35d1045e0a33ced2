"""Progress lines on stderr while something slow happens.

stdout is reserved for the report (and stays valid JSON under --json), so
progress always goes to stderr. On a terminal the line is rewritten in place;
elsewhere (CI logs, pipes) a line is printed at most every ``min_interval``
seconds and whenever the message changes, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from scripts.timeutil import format_duration


class Progress:
    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        min_interval: float = 10.0,
    ):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.min_interval = min_interval
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._t0 = time.monotonic()
        self._last_print = 0.0
        self._last_message: str | None = None
        self._dirty_line = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def update(self, message: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        changed = message != self._last_message
        if not self._tty and not changed and now - self._last_print < self.min_interval:
            return
        line = f"[{self.label}] {message} ({format_duration(self.elapsed)} elapsed)"
        if self._tty:
            self.stream.write("\r\033[K" + line)
            self._dirty_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._last_print = now
        self._last_message = message

    def done(self, message: str) -> None:
        if not self.enabled:
            return
        if self._dirty_line:
            self.stream.write("\r\033[K")
        self.stream.write(f"[{self.label}] {message} ({format_duration(self.elapsed)})\n")
        self.stream.flush()
        self._dirty_line = False


def say(message: str, *, enabled: bool = True, stream: TextIO | None = None) -> None:
    """A one-off status line on stderr (never on stdout)."""
    if enabled:
        out = stream if stream is not None else sys.stderr
        out.write(message + "\n")
        out.flush()

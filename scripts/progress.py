"""Progress on stderr while something slow happens (stdout is the report, valid JSON under --json).

On a terminal a task is a live line drawn by ``rich``: its message, a bar with the rate and the time
left when the amount of work is known (``update(..., completed=, total=)``), and the time elapsed.
In logs and CI (no terminal) a task prints at most one line per ``min_interval`` seconds, however
often it is updated, plus its final line: a 177 MB download is two lines, not one per megabyte.
"""

from __future__ import annotations

import atexit
import sys
import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress

from scripts.timeutil import format_duration


class Progress:
    """One task's progress. ``unit="bytes"`` shows amounts and rates as bytes (MB, MB/s)."""

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        min_interval: float = 10.0,
        unit: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        terminal: bool | None = None,
    ):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.min_interval = min_interval
        self.unit = unit
        self._clock = clock
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)()) if terminal is None else terminal
        self._t0 = clock()
        self._last_print: float | None = None
        self._live: RichProgress | None = None
        self._task: TaskID | None = None

    @property
    def elapsed(self) -> float:
        return self._clock() - self._t0

    def update(self, message: str, *, completed: float | None = None, total: float | None = None) -> None:
        if not self.enabled:
            return
        if self._tty:
            self._draw(message, completed, total)
            return
        now = self._clock()
        if self._last_print is not None and now - self._last_print < self.min_interval:
            return
        self._last_print = now
        self._line(
            f"[{self.label}] {self._with_amount(message, completed, total)} ({format_duration(self.elapsed)} elapsed)"
        )

    def done(self, message: str) -> None:
        if not self.enabled:
            return
        self._stop()
        self._line(f"[{self.label}] {message} ({format_duration(self.elapsed)})")

    # -- the two renderings -----------------------------------------------------------------------
    def _with_amount(self, message: str, completed: float | None, total: float | None) -> str:
        if completed is None:
            return message
        if self.unit == "bytes":
            amount = f"{completed / 1e6:.0f} of {total / 1e6:.0f} MB" if total else f"{completed / 1e6:.0f} MB"
        else:
            amount = f"{completed:g} of {total:g}" if total else f"{completed:g}"
        return f"{message}: {amount}"

    def _draw(self, message: str, completed: float | None, total: float | None) -> None:
        if self._live is None:
            columns = [TextColumn(f"[{self.label}]"), TextColumn("{task.description}")]
            if total:
                columns += [BarColumn(), *self._amount_columns(), TimeRemainingColumn()]
            columns.append(TimeElapsedColumn())
            console = Console(file=self.stream, force_terminal=True, stderr=self.stream is sys.stderr)
            self._live = RichProgress(*columns, console=console, transient=True, auto_refresh=False)
            self._live.start()
            self._task = self._live.add_task(message, total=total)
            atexit.register(self._stop)  # a command that raised never reaches done()
        assert self._task is not None
        self._live.update(self._task, description=message, completed=completed, total=total)
        self._live.refresh()

    def _amount_columns(self) -> list:
        if self.unit == "bytes":
            return [DownloadColumn(), TransferSpeedColumn()]
        return [TextColumn("{task.completed:g}/{task.total:g}")]

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def say(message: str, *, enabled: bool = True, stream: TextIO | None = None) -> None:
    """A one-off status line on stderr (never on stdout)."""
    if enabled:
        out = stream if stream is not None else sys.stderr
        out.write(message + "\n")
        out.flush()

"""Progress: a live bar on a terminal; in logs at most one line per task per interval."""

from __future__ import annotations

import io

from scripts.progress import Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _download(progress: Progress, clock: _Clock, *, size: int, seconds: float) -> None:
    chunks = size // 10**6
    for i in range(1, chunks + 1):
        clock.now = seconds * i / chunks
        progress.update("downloading", completed=i * 10**6, total=size)
    progress.done("downloaded")


def test_a_fast_download_in_a_log_is_two_lines_not_one_per_chunk():
    out, clock = io.StringIO(), _Clock()
    _download(Progress("dl", stream=out, unit="bytes", clock=clock), clock, size=177 * 10**6, seconds=0.9)
    lines = out.getvalue().splitlines()
    assert lines == ["[dl] downloading: 1 of 177 MB (5 ms elapsed)", "[dl] downloaded (900 ms)"]


def test_a_slow_task_in_a_log_prints_at_most_one_line_per_interval():
    out, clock = io.StringIO(), _Clock()
    progress = Progress("wait", stream=out, min_interval=10, clock=clock)
    for second in range(0, 61):
        clock.now = float(second)
        progress.update(f"still waiting ({second})")
    assert [line.split(" (")[0] for line in out.getvalue().splitlines()] == ["[wait] still waiting" for _ in range(7)]
    assert "still waiting (60)" in out.getvalue().splitlines()[-1]


def test_on_a_terminal_the_task_is_a_live_bar_with_amount_rate_and_time_left():
    out = io.StringIO()
    progress = Progress("dl", stream=out, unit="bytes", terminal=True)
    progress.update("downloading", completed=50 * 10**6, total=100 * 10**6)
    drawn = out.getvalue()
    assert "downloading" in drawn
    assert "50.0/100.0 MB" in drawn
    assert "━" in drawn  # the bar
    progress.done("downloaded")
    assert out.getvalue().rstrip().endswith(")") and "[dl] downloaded" in out.getvalue()


def test_a_disabled_progress_writes_nothing():
    out, clock = io.StringIO(), _Clock()
    _download(Progress("dl", stream=out, enabled=False, clock=clock), clock, size=5 * 10**6, seconds=1)
    assert out.getvalue() == ""

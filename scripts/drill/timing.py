"""The drill's clock: named marks and timed phases (the bars of the timeline chart)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from scripts.drill.chart import Span
from scripts.report import Report


@dataclass
class _Clock:
    t0: float = field(default_factory=time.monotonic)
    spans: list[Span] = field(default_factory=list)
    instants: dict[str, float] = field(default_factory=dict)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def mark(self, name: str) -> float:
        self.instants[name] = self.now()
        return self.instants[name]


class _Phase:
    """A report step that also becomes a bar on the timeline chart."""

    def __init__(self, report: Report, clock: _Clock, name: str, group: str):
        self.report, self.clock, self.name, self.group = report, clock, name, group

    def __enter__(self):
        self.start = self.clock.now()
        self._step = self.report.step(self.name)
        return self._step.__enter__()

    def __exit__(self, *exc):
        try:
            return self._step.__exit__(*exc)
        finally:
            self.clock.spans.append(Span(self.name, self.start, self.clock.now(), self.group))

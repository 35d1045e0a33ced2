"""A clock that tests and benches can replace, and the bounded poll loop every wait uses.

AWS's own ``db_instance_available`` waiter sleeps 30 s between polls and gives up after
30 minutes, shorter than real point-in-time restores (22–32 min observed in terraform-provider-aws
PR #32928 and openFEC #4643). Our waits poll
every few seconds (bounded to 1..60 s), have an explicit, generous timeout, and raise
:class:`scripts.errors.WaitTimeout` (exit code 4) so the same command can be re-run to resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from scripts.errors import InputError, WaitTimeout
from scripts.timeutil import format_duration

T = TypeVar("T")

POLL_MIN_S = 1.0
POLL_MAX_S = 60.0


class Clock:
    """Wall clock (UTC), monotonic clock and sleep, in one replaceable object."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock(Clock):
    """A clock where ``sleep`` advances time instantly. For tests and simulations."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime.now(UTC)
        self._mono = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


def check_poll_interval(field: str, value: float) -> float:
    if not POLL_MIN_S <= value <= POLL_MAX_S:
        raise InputError(field, value, f"seconds between polls, from {POLL_MIN_S:g} to {POLL_MAX_S:g}")
    return value


@dataclass
class Verdict(Generic[T]):
    """What one poll saw: ``done``; ``failed`` (with a message); or keep waiting."""

    state: str  # "done" | "wait" | "failed"
    message: str
    value: T | None = None


def poll_until(
    fetch: Callable[[], T],
    judge: Callable[[T], Verdict[T]],
    *,
    interval: float,
    timeout: float,
    clock: Clock,
    what: str,
    on_update: Callable[[str], None] | None = None,
    timeout_hint: str | None = None,
    on_failed: Callable[[Verdict[T]], Exception] | None = None,
    on_timeout: Callable[[Verdict[T]], Exception] | None = None,
) -> tuple[T, int]:
    """Poll until ``judge`` says done. Returns (last value, number of polls).

    The first poll is immediate; then one every ``interval`` seconds. Never sleeps past the
    deadline: the last poll happens at the deadline, then :class:`WaitTimeout` is raised (or what
    ``on_timeout`` builds from the last verdict, for a caller with its own wording).
    """
    start = clock.monotonic()
    deadline = start + timeout
    polls = 0
    while True:
        value = fetch()
        polls += 1
        verdict = judge(value)
        if on_update:
            on_update(verdict.message)
        if verdict.state == "done":
            return value, polls
        if verdict.state == "failed":
            if on_failed is not None:
                raise on_failed(verdict)
            raise WaitTimeout(verdict.message)  # pragma: no cover - callers pass on_failed
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            if on_timeout is not None:
                raise on_timeout(verdict)
            raise WaitTimeout(
                f"{what} not done after {format_duration(clock.monotonic() - start)} "
                f"(timeout {format_duration(timeout)}); last state: {verdict.message}",
                hint=timeout_hint,
            )
        clock.sleep(min(interval, remaining))

"""The drill's workload: marker rows committed while the clock runs.

A background thread inserts one marker row at a time (autocommit) into
``idp_dr_drill.markers``; each row carries the server's commit-time clock.
:meth:`MarkerWorkload.mark_target` pauses the writer, waits a quiet gap,
records the target time, waits again and resumes, so every marker is
unambiguously before or after the target: the pgBackRest lesson that equal
timestamps make PITR tests flaky. After the restore, :func:`classify` checks
that every marker committed before the target is present and none after.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from scripts.timeutil import utcnow

SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS idp_dr_drill;
CREATE TABLE IF NOT EXISTS idp_dr_drill.markers (
    id          bigserial PRIMARY KEY,
    label       text NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""


@dataclass
class Marker:
    id: int
    label: str
    committed_at: datetime  # client clock right after COMMIT returned


@dataclass
class MarkerWorkload:
    """Write markers through ``connect()`` every ``interval`` seconds until stopped."""

    connect: Callable[[], psycopg.Connection]
    interval: float = 0.1
    quiet_gap: float = 1.0
    on_tick: Callable[[int], None] | None = None
    markers: list[Marker] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _paused: threading.Event = field(default_factory=threading.Event)
    _idle: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(self) -> None:
        with self.connect() as conn:
            conn.execute(SCHEMA_SQL)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="drill-markers", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tick = 0
        conn: psycopg.Connection | None = None
        try:
            conn = self.connect()
            while not self._stop.is_set():
                if self._paused.is_set():
                    self._idle.set()
                    time.sleep(0.02)
                    continue
                self._idle.clear()
                tick += 1
                label = f"marker-{tick}"
                row = conn.execute(
                    "INSERT INTO idp_dr_drill.markers (label) VALUES (%s) RETURNING id", (label,)
                ).fetchone()
                with self._lock:
                    self.markers.append(Marker(row[0], label, utcnow()))
                if self.on_tick is not None:
                    try:
                        self.on_tick(tick)
                    except Exception as exc:  # noqa: BLE001 - side work must never stop the markers
                        self.errors.append(f"tick {tick}: {exc}")
                time.sleep(self.interval)
        except psycopg.Error as exc:
            # The disaster (SIGKILL of the primary) ends the workload this way, by design.
            if not self._stop.is_set():
                self.errors.append(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        finally:
            self._idle.set()
            if conn is not None:
                try:
                    conn.close()
                except psycopg.Error:
                    pass

    def mark_target(self, during: Callable[[], None] | None = None) -> datetime:
        """Pause, let a quiet gap pass, take the target time, run ``during`` (the dump drill takes its
        dump here, so its snapshot falls in the gap), wait again, resume."""
        self._paused.set()
        self._idle.wait(timeout=10)
        time.sleep(self.quiet_gap)
        target = utcnow()
        try:
            if during is not None:
                during()
            time.sleep(self.quiet_gap)
        finally:
            self._paused.clear()
        return target

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def snapshot(self) -> list[Marker]:
        with self._lock:
            return list(self.markers)


@dataclass(frozen=True)
class MarkerVerdict:
    expected_present: int
    expected_absent: int
    missing: list[str]
    revived: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.revived


def classify(written: list[Marker], restored_labels: set[str], target: datetime) -> MarkerVerdict:
    """Markers committed before ``target`` must be restored; none committed after it may be."""
    before = [m for m in written if m.committed_at < target]
    after = [m for m in written if m.committed_at > target]
    return MarkerVerdict(
        expected_present=len(before),
        expected_absent=len(after),
        missing=[m.label for m in before if m.label not in restored_labels],
        revived=[m.label for m in after if m.label in restored_labels],
    )

"""The report every command produces: timed steps, named checks, a result.

A command builds one :class:`Report`, records each runbook step with
``with report.step("restore"):`` and each verification with
``report.check(...)``, puts its facts in ``report.result`` and hands it to
``scripts.cli``. The CLI prints it as a readable table, or as one JSON
document under ``--json``, and derives the exit code from ``report.ok``.

Values registered with :meth:`Report.register_secret` are masked in every
rendering: defence in depth for "no secret ever printed".
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scripts import __version__
from scripts.errors import DrError
from scripts.timeutil import format_duration, iso, utcnow

MASK = "********"


@dataclass
class StepRecord:
    """One runbook step. ``status`` is ok | failed | skipped | resumed | running."""

    name: str
    started_at: datetime
    ended_at: datetime | None = None
    duration_s: float | None = None
    status: str = "running"
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "detail": self.detail,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class Check:
    """One named verification with its evidence. ``ok`` is None when skipped. An *advisory* check
    that does not hold is a ``warn``: shown, but the command still succeeds."""

    name: str
    ok: bool | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    advisory: bool = False

    @property
    def status(self) -> str:
        if self.ok is None:
            return "skipped"
        if self.ok:
            return "pass"
        return "warn" if self.advisory else "FAIL"

    @property
    def blocking(self) -> bool:
        return self.ok is False and not self.advisory

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, "evidence": self.evidence}


class Report:
    def __init__(self, command: str):
        self.command = command
        self.started_at = utcnow()
        self.ended_at: datetime | None = None
        self.steps: list[StepRecord] = []
        self.checks: list[Check] = []
        self.result: dict[str, Any] = {}
        self.notes: list[str] = []
        #: Lines printed before the steps in the text view only (e.g. the plan's resource tree);
        #: the same facts belong in ``result`` for --json.
        self.preamble: list[str] = []
        #: False when ``result`` is too large for a terminal and the preamble already shows it.
        self.show_result_in_text = True
        self.error: DrError | None = None
        self._secrets: set[str] = set()

    # -- recording ---------------------------------------------------------
    @contextmanager
    def step(self, name: str, **detail: Any) -> Iterator[StepRecord]:
        """Time a step. An exception marks it failed (and propagates)."""
        record = StepRecord(name=name, started_at=utcnow(), detail=dict(detail))
        self.steps.append(record)
        t0 = time.monotonic()
        try:
            yield record
        except BaseException as exc:
            record.status = "failed"
            record.error = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise
        finally:
            record.ended_at = utcnow()
            record.duration_s = time.monotonic() - t0
        if record.status == "running":
            record.status = "ok"

    def skip_step(self, name: str, reason: str) -> StepRecord:
        now = utcnow()
        record = StepRecord(name=name, started_at=now, ended_at=now, duration_s=0.0, status="skipped")
        record.detail["reason"] = reason
        self.steps.append(record)
        return record

    def check(self, name: str, ok: bool | None, message: str, *, advisory: bool = False, **evidence: Any) -> Check:
        result = Check(name=name, ok=ok, message=message, evidence=evidence, advisory=advisory)
        self.checks.append(result)
        return result

    def register_secret(self, value: str | None) -> None:
        """Mask this value wherever it would appear in output (ignored if short)."""
        if value and len(value) >= 4:
            self._secrets.add(value)

    # -- outcome -----------------------------------------------------------
    @property
    def ok(self) -> bool:
        if self.error is not None:
            return False
        if any(s.status == "failed" for s in self.steps):
            return False
        return not any(c.blocking for c in self.checks)

    def finish(self) -> None:
        if self.ended_at is None:
            self.ended_at = utcnow()

    def to_dict(self) -> dict[str, Any]:
        self.finish()
        doc: dict[str, Any] = {
            "command": self.command,
            "tool_version": __version__,
            "ok": self.ok,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration_s": round((self.ended_at - self.started_at).total_seconds(), 3),
            "steps": [s.to_dict() for s in self.steps],
            "checks": [c.to_dict() for c in self.checks],
            "result": self.result,
            "notes": self.notes,
        }
        if self.error is not None:
            doc["error"] = self.error.to_dict()
        return self._scrub(doc)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=_json_default)

    def render_text(self) -> str:
        doc = self.to_dict()
        lines: list[str] = [self._scrub(line) for line in self.preamble]
        if lines:
            lines.append("")
        lines.append(f"{self.command}: {'OK' if doc['ok'] else 'FAILED'}")
        if doc["steps"]:
            lines.append("")
            lines.append("steps:")
            width = max(len(s["name"]) for s in doc["steps"])
            for s in doc["steps"]:
                extra = f"  {s['error']}" if s.get("error") else ""
                if s["status"] == "skipped" and s["detail"].get("reason"):
                    extra = f"  ({s['detail']['reason']})"
                lines.append(f"  {s['name']:<{width}}  {s['status']:<8} {format_duration(s['duration_s']):>9}{extra}")
        if doc["checks"]:
            lines.append("")
            lines.append("checks:")
            width = max(len(c["name"]) for c in doc["checks"])
            for c in doc["checks"]:
                lines.append(f"  {c['status']:<7} {c['name']:<{width}}  {c['message']}")
        if doc["result"] and self.show_result_in_text:
            lines.append("")
            lines.append("result:")
            lines.extend(_render_mapping(doc["result"], indent=2))
        for note in doc["notes"]:
            lines.append(f"note: {note}")
        # The error itself is printed on stderr by scripts.cli, once.
        return "\n".join(lines)

    def _scrub(self, value: Any) -> Any:
        if not self._secrets:
            return value
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(v) for v in value]
        return value


def _render_mapping(mapping: dict[str, Any], indent: int) -> list[str]:
    lines = []
    pad = " " * indent
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{key}:")
            lines.extend(_render_mapping(value, indent + 2))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{pad}{key}:")
            for item in value:
                lines.append(f"{pad}  - " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            lines.append(f"{pad}{key}: {value}")
    return lines


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return str(value)

"""A command's steps kept in a journal on a :class:`~scripts.runstate.store.StateStore`, so an
interrupted run resumes at the step it was in, and its timeline and post-mortem written from it.

The journal records, per step, when it first started, when it ended, its status, how many attempts it
took and its error; and *pins* what the first run decided (the dump it restores, the owner it found,
the instance it restored), so a re-run does the same thing even when the world has moved on (a newer
dump written in the meantime, the database already dropped). A completed journal is kept as
``state-<completed>.json`` when a new run starts. Writes are conditional: a run that lost a race with
another run on the same store is refused instead of overwriting it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from scripts import __version__
from scripts.errors import DrError, InputError, RefusedError, WaitTimeout
from scripts.report import Report
from scripts.runstate.store import STATE, StateStore
from scripts.timeutil import format_duration, iso, parse_iso, utcnow

JOURNAL_VERSION = 1
T = TypeVar("T")


@dataclass
class Journal:
    #: None: kept in memory only (a caller that needs no resume, like the local drill).
    store: StateStore | None
    data: dict[str, Any]
    #: A finished run's stamp: its state is archived (``state-<stamp>.json``) before this run's first save.
    archive_first: str | None = None
    #: True: nothing is written yet (a failover before it is confirmed: no incident declared, no clock started).
    held: bool = False
    #: The time steps and runs are stamped with (the command's clock, so that a timeline and an RTO agree).
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def in_memory(cls, command: str = "", subject: str = "") -> Journal:
        return cls(None, _new(command, subject))

    @classmethod
    def fresh(cls, store: StateStore, *, command: str, subject: str, archive_first: str) -> Journal:
        """A new run that replaces the store's current one, which is kept as ``state-<archive_first>.json``
        at this run's first save."""
        return cls(store, _new(command, subject), archive_first=archive_first)

    @classmethod
    def open(
        cls,
        store: StateStore,
        *,
        command: str,
        subject: str,
        upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        as_run: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> Journal:
        """The unfinished run of ``command`` on ``subject`` in ``store``, or a new one. ``upgrade`` turns an
        older format this command wrote into this one (an incident left open across an upgrade);
        ``as_run=False`` opens it without counting a run (failback reads and closes failover's journal); ``clock``
        stamps its steps and runs."""
        found = store.read_state()
        if found is not None:
            data = _read(found[0], store.location + STATE, command, upgrade)
            if data["subject"] != subject:
                raise InputError(
                    "--state-dir", store.location,
                    f"a directory for {data['subject']!r}'s runs (this run is for {subject!r})",
                    hint="use another --state-dir for another database",
                )  # fmt: skip
            if data.get("completed_at") is None:
                if as_run:
                    data["runs"].append({"started_at": iso(clock()), "ended_at": None, "result": None})
                return cls(store, data, clock=clock)
            # The finished run is kept for the record, but only once this one writes: a dry run writes nothing.
            stamp = data["completed_at"].replace(":", "")
            return cls(store, _new(command, subject, clock()), archive_first=stamp, clock=clock)
        return cls(store, _new(command, subject, clock()), clock=clock)

    @property
    def location(self) -> str:
        return self.store.location + STATE if self.store else "(memory)"

    @property
    def resumed(self) -> bool:
        return len(self.data["runs"]) > 1

    @property
    def pinned(self) -> dict[str, Any]:
        return self.data["pinned"]

    def done(self, name: str) -> bool:
        return self.data["steps"].get(name, {}).get("status") == "ok"

    def invalidate(self, name: str) -> None:
        """A later step's failure can undo an earlier one (a half-done restore needs a fresh database)."""
        if name in self.data["steps"]:
            self.data["steps"][name]["status"] = "redo"

    def run(
        self, report: Report, name: str, action: Callable[[], T], *, always: bool = False, **detail: Any
    ) -> T | None:
        """``action`` as the timed step ``name``, unless an earlier run finished it (then skipped; ``always``: a
        read-only step done again every run). A step that returns ``{"_deferred": True, ...}`` did not do its work
        (it waits for something, like a region that is down): it is kept ``deferred`` and tried by the next run.
        A step resumed after an interruption or a failure is reported ``resumed``."""
        step = self.data["steps"].setdefault(name, {"first_started_at": None, "attempts": 0})
        previous = step.get("status")
        if previous == "ok" and not always:
            report.skip_step(name, f"done in an earlier run ({step['ended_at']})")
            return None
        now = iso(self.clock())
        step.update(first_started_at=now if always else step["first_started_at"] or now, status="running",
                    attempts=step["attempts"] + 1, error=None, ended_at=None)  # fmt: skip
        self.save()
        try:
            with report.step(name, **detail) as record:
                result = action()
                if isinstance(result, dict):  # what the step found, as its evidence
                    record.detail.update(result)
                    step["detail"] = {k: v for k, v in result.items() if not k.startswith("_")}
                deferred = isinstance(result, dict) and bool(result.get("_deferred"))
                if deferred:
                    record.status = "skipped"
                elif previous in RESUMABLE and not always:
                    record.status = "resumed"
                    record.detail["resumed_after"] = previous
        except BaseException as exc:
            step.update(status=status_after(exc), ended_at=iso(self.clock()), error=_message(exc))
            self.save()
            raise
        step.update(status="deferred" if deferred else "ok", ended_at=iso(self.clock()))
        self.save()
        return result

    def run_all(self, report: Report, steps: list[tuple[str, Callable[[], Any]]], *, done: str) -> None:
        """Every step in order (a finished one skipped), then the run finished as ``done``; a step that raises
        finishes the run as stopped, with why, and the exception goes on."""
        try:
            for name, action in steps:
                self.run(report, name, action)
            self.finish(done, completed=True)
        except BaseException as exc:
            self.finish(f"stopped: {_message(exc)}", completed=False)
            raise

    def finish(self, result: str, *, completed: bool) -> None:
        self.data["runs"][-1].update(ended_at=iso(self.clock()), result=result)
        if completed:
            self.data["completed_at"] = iso(self.clock())
        self.save()

    def save(self) -> None:
        if self.store is None or self.held:
            return
        if self.archive_first:
            self.store.archive_state(self.archive_first)
            self.archive_first = None
        self.store.write_state(self.data)  # the store replaces the file whole: never a half-written journal


#: Statuses of a step that an earlier run began and did not finish: the next run resumes it.
RESUMABLE = ("running", "interrupted", "failed", "timed-out", "deferred")


def status_after(exc: BaseException) -> str:
    """A step's status after it raised ``exc`` (a refused step changed nothing: it is simply tried again)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, WaitTimeout):
        return "timed-out"
    if isinstance(exc, RefusedError):
        return "refused"
    return "failed"


def _new(command: str, subject: str, at: datetime | None = None) -> dict[str, Any]:
    now = iso(at or utcnow())
    return {
        "version": JOURNAL_VERSION, "command": command, "subject": subject, "tool_version": __version__,
        "started_at": now, "completed_at": None, "pinned": {}, "steps": {},
        "runs": [{"started_at": now, "ended_at": None, "result": None}],
    }  # fmt: skip


def write_timeline(
    journal: Journal, out_dir: Path, *, title: str, facts: list[str], impact: list[str], actions: list[str]
) -> tuple[Path, Path]:
    """``timeline.json`` (the journal) and ``postmortem.md`` (a blameless skeleton with it filled in)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "timeline.json", out_dir / "postmortem.md"
    json_path.write_text(json.dumps(journal.data, indent=2, default=str) + "\n")
    md_path.write_text(render_postmortem(journal.data, title=title, facts=facts, impact=impact, actions=actions))
    return json_path, md_path


def render_postmortem(
    data: dict[str, Any], *, title: str, facts: list[str], impact: list[str], actions: list[str]
) -> str:
    started, completed = parse_iso(data.get("started_at")), parse_iso(data.get("completed_at"))
    took = format_duration((completed - started).total_seconds()) if started and completed else "not finished"
    lines = [
        f"# Post-mortem: {title}",
        "",
        f"_Skeleton written by `idp-dr {data['command']}`. Fill in every TODO; keep it blameless._",
        "",
        "## Summary",
        "",
        f"- Started {data['started_at']}; completed {data.get('completed_at') or 'not yet'} "
        f"(**{took}** in {len(data['runs'])} run(s))",
        *(f"- {fact}" for fact in facts),
        "",
        "## What users notice",
        "",
        *(f"- {line}" for line in impact),
        "- TODO: who noticed, and when",
        "",
        "## Timeline (UTC)",
        "",
        "| step | started | ended | result | attempts |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, step in data["steps"].items():
        result = step.get("status", "") + (f": {str(step['error'])[:120]}" if step.get("error") else "")
        started_at, ended_at = step.get("first_started_at") or "", step.get("ended_at") or ""
        lines.append(f"| {name} | {started_at} | {ended_at} | {result} | {step.get('attempts', 1)} |")
    lines += ["", "Runs of the command:", ""]
    for run in data["runs"]:
        lines.append(f"- {run['started_at']} → {run.get('ended_at') or '…'}: {run.get('result') or 'interrupted'}")
    lines += ["", "## Root cause", "", "TODO", "", "## What went well / what went badly", "", "TODO", ""]
    lines += ["## Action items", "", *(f"- [ ] {action}" for action in actions), "- [ ] TODO", ""]
    return "\n".join(lines)


def _message(exc: BaseException) -> str:
    if isinstance(exc, DrError):
        return exc.message
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


#: What a journal must hold to be resumed: key -> type.
_SHAPE: dict[str, type] = {
    "version": int,
    "command": str,
    "subject": str,
    "started_at": str,
    "pinned": dict,
    "steps": dict,
    "runs": list,
}


def _read(
    body: bytes, path: str, command: str, upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> dict[str, Any]:
    hint = f"move {path} aside to start over (it stays there for the record)"
    allowed = f"a journal written by {command} (version {JOURNAL_VERSION})"
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputError("--state-dir", path, f"{allowed}; this one is not JSON", hint=hint) from None
    if not isinstance(data, dict):
        raise InputError("--state-dir", path, f"{allowed}; it holds {type(data).__name__}", hint=hint)
    if upgrade is not None and "command" not in data:
        data = upgrade(data)
    wrong = [
        key for key, kind in _SHAPE.items() if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool)
    ]
    if wrong:
        raise InputError("--state-dir", path, f"{allowed}; missing or mistyped: {', '.join(wrong)}", hint=hint)
    if data["command"] != command or data["version"] != JOURNAL_VERSION:
        written = f"written by {data['command']} version {data['version']}"
        raise InputError("--state-dir", path, f"{allowed}; this one was {written}", hint=hint)
    return data

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
from pathlib import Path
from typing import Any, TypeVar

from scripts import __version__
from scripts.errors import DrError, InputError
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

    @classmethod
    def in_memory(cls, command: str = "", subject: str = "") -> Journal:
        return cls(None, _new(command, subject))

    @classmethod
    def fresh(cls, store: StateStore, *, command: str, subject: str, archive_first: str) -> Journal:
        """A new run that replaces the store's current one, which is kept as ``state-<archive_first>.json``
        at this run's first save."""
        return cls(store, _new(command, subject), archive_first=archive_first)

    @classmethod
    def open(cls, store: StateStore, *, command: str, subject: str) -> Journal:
        """The unfinished run of ``command`` on ``subject`` in ``store``, or a new one."""
        found = store.read_state()
        if found is not None:
            data = _read(found[0], store.location + STATE, command)
            if data["subject"] != subject:
                raise InputError(
                    "--state-dir", store.location,
                    f"a directory for {data['subject']!r}'s runs (this run is for {subject!r})",
                    hint="use another --state-dir for another database",
                )  # fmt: skip
            if data.get("completed_at") is None:
                data["runs"].append({"started_at": iso(utcnow()), "ended_at": None, "result": None})
                return cls(store, data)
            # The finished run is kept for the record, but only once this one writes: a dry run writes nothing.
            return cls(store, _new(command, subject), archive_first=data["completed_at"].replace(":", ""))
        return cls(store, _new(command, subject))

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

    def run(self, report: Report, name: str, action: Callable[[], T], **detail: Any) -> T | None:
        """``action`` as the timed step ``name``, unless an earlier run finished it (then skipped)."""
        step = self.data["steps"].setdefault(name, {"first_started_at": None, "attempts": 0})
        if step.get("status") == "ok":
            report.skip_step(name, f"done in an earlier run ({step['ended_at']})")
            return None
        step.update(first_started_at=step["first_started_at"] or iso(utcnow()), status="running",
                    attempts=step["attempts"] + 1, error=None)  # fmt: skip
        self.save()
        try:
            with report.step(name, **detail) as record:
                result = action()
                if isinstance(result, dict):  # what the step found, as its evidence
                    record.detail.update(result)
        except BaseException as exc:
            step.update(status="failed", ended_at=iso(utcnow()), error=_message(exc))
            self.save()
            raise
        step.update(status="ok", ended_at=iso(utcnow()))
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
        self.data["runs"][-1].update(ended_at=iso(utcnow()), result=result)
        if completed:
            self.data["completed_at"] = iso(utcnow())
        self.save()

    def save(self) -> None:
        if self.store is None:
            return
        if self.archive_first:
            self.store.archive_state(self.archive_first)
            self.archive_first = None
        self.store.write_state(self.data)  # the store replaces the file whole: never a half-written journal


def _new(command: str, subject: str) -> dict[str, Any]:
    now = iso(utcnow())
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


def _read(body: bytes, path: str, command: str) -> dict[str, Any]:
    hint = f"move {path} aside to start over (it stays there for the record)"
    allowed = f"a journal written by {command} (version {JOURNAL_VERSION})"
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InputError("--state-dir", path, f"{allowed}; this one is not JSON", hint=hint) from None
    if not isinstance(data, dict):
        raise InputError("--state-dir", path, f"{allowed}; it holds {type(data).__name__}", hint=hint)
    wrong = [key for key, kind in _SHAPE.items() if not isinstance(data.get(key), kind)]
    if wrong:
        raise InputError("--state-dir", path, f"{allowed}; missing or mistyped: {', '.join(wrong)}", hint=hint)
    if data["command"] != command or data["version"] != JOURNAL_VERSION:
        written = f"written by {data['command']} version {data['version']}"
        raise InputError("--state-dir", path, f"{allowed}; this one was {written}", hint=hint)
    return data
